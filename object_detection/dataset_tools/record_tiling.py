"""Cutting the ``AnnotatedImage`` of a large map into overlapping tiles, one example each.

Training on tiles shows the model figures at the scale that tiled inference shows them (SAHI's
sliced fine-tuning). The tiles are ``core.tiling.tile_boxes``'s: ``tile_size`` squares of map
pixels overlapping by ``overlap``, the last row and column shifted inward; a map smaller than a
tile is one tile, the whole map. For each tile ``(left, top, right, bottom)`` (map pixels,
right and bottom exclusive):

* image: the map's pixels inside the tile, as TensorFlow decodes the map's record, encoded as
  PNG (lossless: no second JPEG generation); a tile that is the whole map keeps the map's bytes;
* filename and source id: the map's with ``#tile-LEFT-TOP`` appended (``m.png#tile-384-0``),
  unique per map since a run has one tile size;
* an instance is kept when at least ``min_visible`` of its mask's pixels lie inside the tile
  (box-only images: of its box's area). Its mask is cropped to the tile and its box is the
  tight box of the cropped mask (box-only: the box clipped to the tile); its area is scaled by
  the visible fraction (the cropped mask's pixel count where the area was the mask's);
* keypoints inside the tile (its edges included) are shifted to the tile; those outside become
  not labelled (NaN, visibility 0), as the OD API prunes keypoints outside a crop;
* a tile without instances is left out unless ``keep_empty``.

Counted into the ``ConversionStats``: tiles cut, empty tiles left out, instance pieces under
``min_visible`` left out of a tile, and, as skipped instances, those kept in no tile at all.
"""

from __future__ import annotations

import dataclasses
import io
import logging
from collections.abc import Iterable, Iterator

import numpy as np
from PIL import Image

from object_detection.core import box_ops, tiling
from object_detection.dataset_tools.annotated_image import (
    NOT_LABELLED,
    AnnotatedImage,
    mask_box,
)
from object_detection.dataset_tools.conversion_stats import ConversionStats, skip
from object_detection.dataset_tools.image_io import EncodedImage

_LOG = logging.getLogger(__name__)

DEFAULT_MIN_VISIBLE = 0.5
IN_NO_TILE = "visible below the minimum fraction in every tile"


@dataclasses.dataclass(frozen=True)
class RecordTiling:
    """How a conversion cuts its maps into tiles.

    Attributes:
      tile_size: tile side in pixels of the original map; 0 = no tiling (one example per map).
      overlap: fraction of a tile shared with its neighbour, 0 <= overlap < 1.
      min_visible: fraction of an instance (mask pixels, or box area) that must lie inside a
        tile for the tile to keep it, 0 < min_visible <= 1.
      keep_empty: write tiles without instances too (default: left out and counted).
    """

    tile_size: int = 0
    overlap: float = tiling.DEFAULT_TILE_OVERLAP
    min_visible: float = DEFAULT_MIN_VISIBLE
    keep_empty: bool = False

    def __post_init__(self) -> None:
        tiling.check_tile_size(self.tile_size if self.tile_size != 0 else 1, self.overlap)
        if not 0.0 < float(self.min_visible) <= 1.0:
            raise ValueError("minimum visible fraction of a tiled instance must be above 0 and "
                             f"at most 1, got {self.min_visible!r}")

    @property
    def enabled(self) -> bool:
        return self.tile_size > 0

    def describe(self) -> str:
        return (f"size {self.tile_size}, overlap {self.overlap:g}, "
                f"min visible {self.min_visible:g}")


def tile_name(name: str, tile: np.ndarray) -> str:
    """``name`` of the map with the tile's ``#tile-LEFT-TOP``."""
    return f"{name}#tile-{int(tile[0])}-{int(tile[1])}"


def decode_pixels(image: EncodedImage) -> np.ndarray:
    """uint8 [H, W, 3] of an encoded 8-bit RGB image, decoded as the record decoder does."""
    import tensorflow as tf

    return tf.io.decode_image(image.encoded, channels=3, expand_animations=False).numpy()


def encode_png(pixels: np.ndarray) -> EncodedImage:
    """The PNG ``EncodedImage`` of uint8 [H, W, 3] pixels."""
    buffer = io.BytesIO()
    Image.fromarray(np.ascontiguousarray(pixels), mode="RGB").save(buffer, format="PNG")
    return EncodedImage(buffer.getvalue(), "png", pixels.shape[0], pixels.shape[1])


def _pixels(normalized: np.ndarray, size: int) -> np.ndarray:
    """Normalized coordinates as float64 pixels of a side of ``size``, rounded to
    ``box_ops.PIXEL_DECIMALS`` (float32 normalization error removed from integer coordinates),
    as ``box_ops.absolute_pixels`` rounds boxes."""
    return np.round(normalized.astype(np.float64) * size, box_ops.PIXEL_DECIMALS)


def _pixel_boxes(image: AnnotatedImage) -> np.ndarray:
    """float64 [N, 4] (ymin, xmin, ymax, xmax) map pixels of the image's boxes."""
    return box_ops.absolute_pixels(image.boxes, image.height, image.width)


def _clip_to_tile(boxes: np.ndarray, tile: np.ndarray) -> np.ndarray:
    """[N, 4] (ymin, xmin, ymax, xmax) map-pixel boxes clipped to the tile, in map pixels."""
    left, top, right, bottom = (float(v) for v in tile)
    lower = np.array([top, left, top, left])
    upper = np.array([bottom, right, bottom, right])
    return np.clip(boxes, lower, upper)


def _box_area(boxes: np.ndarray) -> np.ndarray:
    return np.maximum(boxes[:, 2] - boxes[:, 0], 0.0) * np.maximum(boxes[:, 3] - boxes[:, 1], 0.0)


def _mask_pixels(masks: np.ndarray) -> np.ndarray:
    """int64 [N]: pixel counts of {0, 1} masks [N, H, W]."""
    return masks.sum(axis=(1, 2), dtype=np.int64)


def visible_fractions(image: AnnotatedImage, tile: np.ndarray,
                      mask_pixels: np.ndarray | None = None) -> np.ndarray:
    """float64 [N]: the fraction of each instance inside ``tile`` (left, top, right, bottom):
    of its mask's pixels, or of its box's area in a box-only image. ``mask_pixels`` [N] are the
    masks' pixel counts, when already counted."""
    left, top, right, bottom = (int(v) for v in tile)
    if image.masks is None:
        boxes = _pixel_boxes(image)
        full = _box_area(boxes)
        inside = _box_area(_clip_to_tile(boxes, tile))
    else:
        full = mask_pixels if mask_pixels is not None else _mask_pixels(image.masks)
        inside = _mask_pixels(image.masks[:, top:bottom, left:right])
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(full > 0, inside / np.maximum(full, 1), 0.0)


def _tile_keypoints(image: AnnotatedImage, keep: np.ndarray, tile: np.ndarray
                    ) -> tuple[np.ndarray | None, np.ndarray | None]:
    """The kept instances' keypoints shifted into the tile ([n, K, 2] normalized (y, x)) and
    their visibilities; those outside the tile not labelled (NaN, 0)."""
    if image.keypoints is None:
        return None, None
    left, top, right, bottom = (float(v) for v in tile)
    ys = _pixels(image.keypoints[keep, :, 0], image.height)
    xs = _pixels(image.keypoints[keep, :, 1], image.width)
    visibilities = image.keypoint_visibilities[keep].copy()
    inside = ((visibilities > 0) & (xs >= left) & (xs <= right) & (ys >= top) & (ys <= bottom))
    points = np.stack([(ys - top) / (bottom - top), (xs - left) / (right - left)], axis=-1)
    points[~inside] = np.nan
    visibilities[~inside] = NOT_LABELLED
    return points.astype(np.float32), visibilities.astype(np.int32)


def cut_tile(image: AnnotatedImage, pixels: np.ndarray | None, tile: np.ndarray, keep: np.ndarray,
             mask_pixels: np.ndarray | None = None) -> AnnotatedImage:
    """The ``AnnotatedImage`` of one tile of ``image``.

    Args:
      image: the map; pixels: its uint8 [H, W, 3] decoded pixels (None for a tile that is the
        whole map: the map's encoded image is kept).
      tile: int (left, top, right, bottom) in map pixels, right and bottom exclusive.
      keep: bool [N], the instances the tile keeps (see ``visible_fractions``).
      mask_pixels: int [N], the pixel counts of the map's masks, when already counted.
    """
    left, top, right, bottom = (int(v) for v in tile)
    th, tw = bottom - top, right - left
    whole = (left, top, right, bottom) == (0, 0, image.width, image.height)
    encoded = image.image if whole else encode_png(pixels[top:bottom, left:right])
    indices = np.flatnonzero(keep)
    boxes = np.zeros((len(indices), 4), np.float64)
    areas = np.zeros((len(indices),), np.float32)
    masks = None
    if image.masks is not None:
        masks = np.ascontiguousarray(image.masks[indices, top:bottom, left:right])
        if mask_pixels is None:
            mask_pixels = _mask_pixels(image.masks)
        for j, i in enumerate(indices):
            xmin, ymin, xmax, ymax = mask_box(masks[j])
            boxes[j] = (ymin, xmin, ymax, xmax)
            full = int(mask_pixels[i])
            # exact for integers: the pixel count of the cropped mask where area == pixel count
            areas[j] = float(image.areas[i]) * int(np.count_nonzero(masks[j])) / full
    else:
        full_boxes = _pixel_boxes(image)[indices]
        clipped = _clip_to_tile(full_boxes, tile)
        boxes = clipped - np.array([top, left, top, left], np.float64)
        areas[:] = image.areas[indices] * (_box_area(clipped) / _box_area(full_boxes))
    keypoints, visibilities = _tile_keypoints(image, indices, tile)
    return AnnotatedImage(
        filename=tile_name(image.filename, tile), source_id=tile_name(image.source_id, tile),
        image=encoded, class_ids=image.class_ids[indices],
        class_names=[image.class_names[i] for i in indices],
        boxes=box_ops.normalized_from_pixels(boxes, th, tw).astype(np.float32).reshape(-1, 4),
        masks=masks, is_crowd=image.is_crowd[indices], areas=areas, keypoints=keypoints,
        keypoint_visibilities=visibilities, keypoint_names=image.keypoint_names)


def tile_image(image: AnnotatedImage, options: RecordTiling, stats: ConversionStats
               ) -> Iterator[AnnotatedImage]:
    """The tiles of one map, row by row from the top left (see the module doc); counts into
    ``stats`` and skips (as requested) the instances that no tile keeps."""
    tiles = tiling.tile_boxes(image.height, image.width, options.tile_size, options.overlap)
    whole_map = len(tiles) == 1 and tuple(tiles[0]) == (0, 0, image.width, image.height)
    pixels = None if whole_map else decode_pixels(image.image)
    mask_pixels = _mask_pixels(image.masks) if image.masks is not None else None
    kept_somewhere = np.zeros((image.num_instances,), bool)
    for tile in tiles:
        fractions = visible_fractions(image, tile, mask_pixels)
        keep = fractions >= options.min_visible      # min_visible > 0: no empty pieces
        stats.tiles_cut += 1
        stats.tile_pieces_dropped += int(np.count_nonzero((fractions > 0) & ~keep))
        kept_somewhere |= keep
        if not keep.any() and not options.keep_empty:
            stats.empty_tiles_dropped += 1
            continue
        yield cut_tile(image, pixels, tile, keep, mask_pixels)
    for i in np.flatnonzero(~kept_somewhere):
        skip(stats, image.filename, IN_NO_TILE,
             f"instance {i + 1} (min visible {options.min_visible:g})", logger=_LOG,
             requested=True)


def tile_images(images: Iterable[AnnotatedImage], options: RecordTiling,
                stats: ConversionStats) -> Iterator[AnnotatedImage]:
    """Every tile of every map of ``images`` (``tile_image``), in order."""
    stats.tiling = options.describe()
    for image in images:
        yield from tile_image(image, options, stats)
