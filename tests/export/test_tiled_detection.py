"""Tiled inference through ExportedModel.detect with a stand-in model: shifts, merging across
tile borders, batches, folders."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from object_detection.core.tiling import TileOptions
from object_detection.export.detection_module import IMAGE_TENSOR
from object_detection.export.inference import ExportedModel
from object_detection.export.tiled_detection import TILE_MIN_SCORE
from object_detection.fields import DetectionResultFields as Fields

MASK_SIDE = 8


class ColourModel:
    """Stands in for an exported model: every colour (200, 10 * id, 50) in an image is a
    figure of class 1 with score id / 25 plus a millionth per pixel seen (so a whole figure
    outscores its part in a tile, as with a real model), its box the bounding box of its pixels
    (pixel edges, normalized) and its box mask all ones. Records the batches it is given."""

    def __init__(self) -> None:
        self.batches: list[list[tuple[int, ...]]] = []

    def __call__(self, images):
        self.batches.append([image.shape for image in images])
        found = [self._figures(image) for image in images]
        slots = max(1, max(len(f) for f in found))
        out = {Fields.detection_boxes: np.zeros((len(images), slots, 4), np.float32),
               Fields.detection_scores: np.zeros((len(images), slots), np.float32),
               Fields.detection_classes: np.ones((len(images), slots), np.float32),
               Fields.num_detections: np.array([len(f) for f in found], np.float32),
               Fields.detection_masks: np.zeros((len(images), slots, MASK_SIDE, MASK_SIDE),
                                                np.float32)}
        for b, figures in enumerate(found):
            for k, (box, score) in enumerate(figures):
                out[Fields.detection_boxes][b, k] = box
                out[Fields.detection_scores][b, k] = score
                out[Fields.detection_masks][b, k] = 1.0
        return out

    @staticmethod
    def _figures(image):
        height, width = image.shape[:2]
        figures = []
        for figure_id in range(1, 25):
            ys, xs = np.nonzero(np.all(image == (200, 10 * figure_id, 50), axis=-1))
            if len(ys):
                box = [ys.min() / height, xs.min() / width, (ys.max() + 1) / height,
                       (xs.max() + 1) / width]
                figures.append((box, figure_id / 25 + 1e-6 * len(ys)))
        return sorted(figures, key=lambda f: -f[1])


def _model(runner=None) -> ExportedModel:
    return ExportedModel(runner or ColourModel(), IMAGE_TENSOR, Path("stand-in"), "saved_model")


def _scores(detections) -> list[float]:
    return sorted(round(float(s), 2) for s in detections.scores)


def _paint(image, figure_id, left, top, right, bottom):
    image[top:bottom, left:right] = (200, 10 * figure_id, 50)


def test_tiles_shifted_to_the_map_equal_each_tile_run_on_its_own():
    """A 128 x 192 map made of six 64 px tiles, each figure inside one tile: tiled detection
    without overlap and full pass gives every tile's own detections, shifted."""
    tiles = [np.full((64, 64, 3), 255, np.uint8) for _ in range(6)]
    for index, tile in enumerate(tiles):
        _paint(tile, index + 2, 5 + 3 * index, 10 + index, 30 + 4 * index, 40 + 2 * index)
    mosaic = np.concatenate([np.concatenate(tiles[:3], axis=1),
                             np.concatenate(tiles[3:], axis=1)], axis=0)
    model = _model()
    tiled = model.detect(mosaic, tile_size=64, tile_overlap=0.0, tile_full_pass=False)
    assert len(tiled) == 6
    for index, tile in enumerate(tiles):
        top, left = 64 * (index // 3), 64 * (index % 3)
        own = model.detect(tile)
        k = int(np.flatnonzero(np.isclose(tiled.scores, own.scores[0]))[0])
        expected_box = (own.boxes[0] * [64, 64, 64, 64] + [top, left, top, left]) / [128, 192, 128, 192]
        np.testing.assert_allclose(tiled.boxes[k], expected_box, atol=1e-6)
        expected_mask = np.zeros((128, 192), bool)
        expected_mask[top:top + 64, left:left + 64] = own.image_mask(0)
        np.testing.assert_array_equal(tiled.image_mask(k), expected_mask)


def test_a_figure_cut_by_a_tile_border_comes_out_once_with_its_whole_mask():
    image = np.full((100, 160, 3), 255, np.uint8)
    _paint(image, 3, 50, 20, 110, 70)      # tiles are x 0..100 and 60..160
    _paint(image, 5, 10, 10, 30, 40)       # only in the first tile
    _paint(image, 6, 130, 60, 150, 90)     # only in the second
    model = _model()
    for full_pass in (False, True):
        result = model.detect(image, tile_size=100, tile_overlap=0.4, tile_full_pass=full_pass)
        assert _scores(result) == [0.12, 0.2, 0.24]
        k = int(np.flatnonzero(np.round(result.scores, 2) == np.float32(0.12))[0])
        np.testing.assert_array_equal(result.pixel_boxes()[k], [50, 20, 110, 70])
        mask = result.image_mask(k)
        figure = np.all(image == (200, 30, 50), axis=-1)
        assert mask[figure].all(), "the merged mask misses pixels of the figure"
        assert not mask[~figure].any(), "the merged mask has pixels off the figure"


def test_two_figures_side_by_side_across_a_border_stay_two():
    image = np.full((100, 160, 3), 255, np.uint8)
    _paint(image, 7, 52, 20, 78, 70)
    _paint(image, 8, 82, 20, 108, 70)
    result = _model().detect(image, tile_size=100, tile_overlap=0.4, tile_full_pass=False)
    assert _scores(result) == [0.28, 0.32]


def test_batches_of_tiles_give_the_same_detections():
    rng = np.random.default_rng(3)
    image = np.full((150, 230, 3), 255, np.uint8)
    for figure_id in range(2, 10):
        x, y = rng.integers(0, 200), rng.integers(0, 120)
        _paint(image, figure_id, x, y, x + 25, y + 28)
    one, three = ColourModel(), ColourModel()
    single = _model(one).detect(image, tiles=TileOptions(64, 0.25, batch_size=1))
    batched = _model(three).detect(image, tiles=TileOptions(64, 0.25, batch_size=3))
    np.testing.assert_array_equal(single.boxes, batched.boxes)
    np.testing.assert_array_equal(single.scores, batched.scores)
    for k in range(len(single)):
        np.testing.assert_array_equal(single.masks[k], batched.masks[k])
    tile_calls = [shapes for shapes in three.batches if shapes[0] == (64, 64, 3)]
    assert max(len(shapes) for shapes in tile_calls) == 3
    assert sum(len(shapes) for shapes in tile_calls) == sum(len(s) for s in one.batches) - 1
    assert three.batches[-1] == [image.shape]         # the full pass, last


def test_scores_are_thresholded_per_tile_and_low_ones_dropped_without_a_threshold():
    image = np.full((64, 64, 3), 255, np.uint8)
    _paint(image, 1, 5, 5, 20, 20)     # score 0.04 < TILE_MIN_SCORE
    _paint(image, 9, 30, 30, 50, 50)   # 0.36
    assert TILE_MIN_SCORE == pytest.approx(0.05)
    assert _scores(_model().detect(image, tile_size=32)) == [0.36]
    assert len(_model().detect(image, 0.4, tile_size=32)) == 0
    assert len(_model().detect(image)) == 2            # untiled: every detection


def test_detect_folder_runs_every_map_in_tiles_even_smaller_ones(tmp_path):
    big = np.full((90, 140, 3), 255, np.uint8)
    _paint(big, 4, 60, 30, 85, 60)
    small = np.full((40, 50, 3), 255, np.uint8)
    _paint(small, 6, 10, 10, 20, 30)
    Image.fromarray(big).save(tmp_path / "a.png")
    Image.fromarray(small).save(tmp_path / "b.png")
    results = list(_model().detect_folder(tmp_path, tiles=TileOptions(64, 0.2)))
    assert [path.name for path, _, _ in results] == ["a.png", "b.png"]
    (_, _, a), (_, _, b) = results
    assert a.image_size == (90, 140) and b.image_size == (40, 50)
    np.testing.assert_array_equal(a.pixel_boxes(), [[60, 30, 85, 60]])
    np.testing.assert_array_equal(b.pixel_boxes(), [[10, 10, 20, 30]])
