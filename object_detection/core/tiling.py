"""Tiles of a large map: where they lie, and the options of a tiled run.

Tiles are SAHI's (``sahi.slicing.get_slice_bboxes``, slicing aided hyper inference): squares of
``tile_size`` pixels of the original map, each starting ``tile_size - int(overlap *
tile_size)`` pixels after the previous one, row by row; the last tile of a row (column) is
shifted inward to end at the map's edge rather than padded, so that every tile is a full
``tile_size`` square unless the map itself is smaller (then the tile is the whole map along
that side). A tile is ``(left, top, right, bottom)`` in map pixels, right and bottom exclusive,
as ``core.box_ops.to_pixel_crops``.

``TileOptions`` is what a tiled run takes (``export.inference.ExportedModel.detect``, the
``--tile_*`` flags of the figure tools); merging the detections of the tiles is
``core.tile_merging``'s.
"""

from __future__ import annotations

import dataclasses

import numpy as np

DEFAULT_TILE_OVERLAP = 0.2
MERGE_METHODS = ("GREEDYNMM", "NMM", "NMS")
MATCH_METRICS = ("IOS", "IOU")
DEFAULT_MERGE_METHOD = "GREEDYNMM"   # SAHI's defaults for sliced prediction
DEFAULT_MATCH_METRIC = "IOS"
DEFAULT_MATCH_THRESHOLD = 0.5


def check_tile_size(tile_size: int, overlap: float) -> None:
    """ValueError unless ``tile_size`` is a positive int and ``0 <= overlap < 1``."""
    if isinstance(tile_size, bool) or int(tile_size) != tile_size or tile_size < 1:
        raise ValueError(f"tile size must be a positive number of pixels, got {tile_size!r}")
    if not 0.0 <= float(overlap) < 1.0:
        raise ValueError(f"tile overlap must be a fraction at least 0 and below 1, got {overlap!r}")


def tile_boxes(height: int, width: int, tile_size: int,
               overlap: float = DEFAULT_TILE_OVERLAP) -> np.ndarray:
    """int64 [N, 4] ``(left, top, right, bottom)`` tiles covering a ``height x width`` map
    (SAHI's slicing, see the module doc), row by row from the top left.

    ValueError for a bad ``tile_size`` / ``overlap`` (``check_tile_size``) or an empty map.
    """
    from sahi.slicing import get_slice_bboxes

    check_tile_size(tile_size, overlap)
    if height < 1 or width < 1:
        raise ValueError(f"cannot tile an empty map of {width}x{height} pixels")
    boxes = get_slice_bboxes(int(height), int(width), slice_height=int(tile_size),
                             slice_width=int(tile_size), auto_slice_resolution=False,
                             overlap_height_ratio=float(overlap),
                             overlap_width_ratio=float(overlap))
    return np.asarray(boxes, np.int64).reshape(-1, 4)


@dataclasses.dataclass(frozen=True)
class TileOptions:
    """How to run a model over a large map in tiles.

    Attributes:
      tile_size: tile side in pixels of the original map; 0 = no tiling (the whole map, as
        the model resizes it).
      overlap: fraction of a tile shared with its neighbour (SAHI's overlap ratio).
      full_pass: also run the whole map (resized by the model) and merge its detections with
        the tiles' (SAHI's ``perform_standard_pred``), for figures larger than a tile.
      merge: SAHI's post-processing: "GREEDYNMM" (greedy non-maximum merging), "NMM"
        (transitive merging) or "NMS" (suppression, nothing merged).
      match_metric: "IOS" (intersection over the smaller box) or "IOU".
      match_threshold: boxes overlapping at least this much (by ``match_metric``) match.
      class_agnostic: match detections of different classes too.
      batch_size: tiles per model call.
    """

    tile_size: int = 0
    overlap: float = DEFAULT_TILE_OVERLAP
    full_pass: bool = True
    merge: str = DEFAULT_MERGE_METHOD
    match_metric: str = DEFAULT_MATCH_METRIC
    match_threshold: float = DEFAULT_MATCH_THRESHOLD
    class_agnostic: bool = False
    batch_size: int = 1

    def __post_init__(self) -> None:
        if self.tile_size != 0:
            check_tile_size(self.tile_size, self.overlap)
        elif not 0.0 <= float(self.overlap) < 1.0:
            check_tile_size(1, self.overlap)
        if self.merge not in MERGE_METHODS:
            raise ValueError(f"tile merge must be one of {', '.join(MERGE_METHODS)}, "
                             f"got {self.merge!r}")
        if self.match_metric not in MATCH_METRICS:
            raise ValueError(f"tile match metric must be one of {', '.join(MATCH_METRICS)}, "
                             f"got {self.match_metric!r}")
        if not 0.0 <= float(self.match_threshold) <= 1.0:
            raise ValueError(f"tile match threshold must be between 0 and 1, got "
                             f"{self.match_threshold!r}")
        if int(self.batch_size) != self.batch_size or self.batch_size < 1:
            raise ValueError(f"tile batch size must be at least 1, got {self.batch_size!r}")

    @property
    def enabled(self) -> bool:
        return self.tile_size > 0
