"""Running a model over a large map tile by tile (SAHI's sliced inference, our model).

The map is cut into ``core.tiling.tile_boxes`` squares; the tiles go to the model
``options.batch_size`` at a time, each tile's detections come out shifted to map coordinates
(``ImageDetections.from_model_output`` with the tile's offset: boxes normalized to the map,
masks sampled at the map's pixels), and with ``options.full_pass`` the whole map is run too (as
the model resizes it). All of them are merged by ``core.tile_merging.merge_detections``, so a
figure cut by a tile border comes out once, with the union of its masks.

Detections scoring at most ``score_threshold`` are dropped in every tile before merging (as
SAHI applies its confidence threshold per slice); without a threshold, ``min_score``
(``TILE_MIN_SCORE``) is applied instead, since every tile gives up to the model's maximum
number of detections and most of the low-scoring ones are background.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Sequence

import numpy as np

from object_detection.core.detections import ImageDetections
from object_detection.core.tile_merging import merge_detections
from object_detection.core.tiling import TileOptions, tile_boxes

TILE_MIN_SCORE = 0.05

BatchRunner = Callable[[Sequence[np.ndarray]], dict[str, np.ndarray]]


def _progress_bar(total: int, description: str, show: bool):
    from tqdm import tqdm

    return tqdm(total=total, desc=description, unit="tile", file=sys.stderr,
                disable=not show, leave=False, dynamic_ncols=True)


def detect_tiled(run: BatchRunner, image: np.ndarray, options: TileOptions,
                 score_threshold: float | None = None, *, description: str = "tiles",
                 show_progress: bool = False) -> ImageDetections:
    """The merged detections of uint8 [H, W, 3] ``image`` run in tiles by ``run`` (a batch of
    uint8 images of one size -> the model's batched outputs, ``DetectionResultFields``).

    ``show_progress`` draws a progress bar over the map's tiles on stderr, labelled
    ``description`` (the map's name).
    """
    if not options.enabled:
        raise ValueError("detect_tiled: tiling is off (tile_size 0)")
    height, width = image.shape[:2]
    threshold = TILE_MIN_SCORE if score_threshold is None else float(score_threshold)
    tiles = tile_boxes(height, width, options.tile_size, options.overlap)
    parts: list[ImageDetections] = []
    with _progress_bar(len(tiles) + int(options.full_pass), description, show_progress) as bar:
        for start in range(0, len(tiles), options.batch_size):
            batch = tiles[start:start + options.batch_size]
            crops = [image[top:bottom, left:right] for left, top, right, bottom in batch]
            outputs = run(crops)
            for index, (left, top, right, bottom) in enumerate(batch):
                parts.append(ImageDetections.from_model_output(
                    outputs, index, int(bottom - top), int(right - left), threshold,
                    offset=(int(top), int(left)), map_size=(height, width)))
            bar.update(len(batch))
        if options.full_pass:
            parts.append(ImageDetections.from_model_output(run([image]), 0, height, width,
                                                           threshold))
            bar.update(1)
    return merge_detections(parts, (height, width), options)
