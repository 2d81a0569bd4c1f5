"""Merging the detections of overlapping tiles: SAHI's groups and box/score/class rules,
masks united at full resolution."""

from __future__ import annotations

import numpy as np
import pytest

from object_detection.core.detections import ImageDetections
from object_detection.core.tile_merging import merge_detections
from object_detection.core.tiling import TileOptions

HEIGHT, WIDTH = 60, 100


def _detections(pixel_boxes, scores, classes, image_masks=None):
    """ImageDetections of a HEIGHT x WIDTH map from (left, top, right, bottom) pixel boxes."""
    boxes = np.array([[t / HEIGHT, l / WIDTH, b / HEIGHT, r / WIDTH]
                      for l, t, r, b in pixel_boxes], np.float32).reshape(-1, 4)
    if image_masks is None:
        return ImageDetections(boxes, scores, classes)
    return ImageDetections.from_image_masks(boxes, scores, classes, np.asarray(image_masks))


def _ellipse(cx, cy, rx, ry):
    y, x = np.mgrid[:HEIGHT, :WIDTH]
    return ((x + 0.5 - cx) / rx) ** 2 + ((y + 0.5 - cy) / ry) ** 2 <= 1.0


def test_a_figure_split_over_two_tiles_comes_out_once_with_the_union_of_its_masks():
    figure = _ellipse(50, 30, 14, 20)                       # spans x 36..64, y 10..50
    left_tile = figure & (np.arange(WIDTH) < 56)[None, :]    # a tile ending at x = 56
    right_tile = figure & (np.arange(WIDTH) >= 44)[None, :]  # the next, starting at x = 44
    parts = [_detections([(36, 10, 56, 50)], [0.8], [1], [left_tile]),
             _detections([(44, 10, 64, 50)], [0.9], [1], [right_tile])]
    merged = merge_detections(parts, (HEIGHT, WIDTH))
    assert len(merged) == 1
    np.testing.assert_array_equal(merged.pixel_boxes(), [[36, 10, 64, 50]])
    np.testing.assert_array_equal(merged.image_mask(0), figure)
    assert merged.scores[0] == pytest.approx(0.9) and merged.classes[0] == 1


def test_mask_union_is_the_maximum_of_the_probabilities():
    a, b = np.zeros((HEIGHT, WIDTH), np.float32), np.zeros((HEIGHT, WIDTH), np.float32)
    a[10:30, 10:30], b[12:32, 12:32] = 0.45, 0.7
    a[10, 10] = 0.9                                          # outside b
    merged = merge_detections([_detections([(10, 10, 30, 30)], [0.5], [1], [a]),
                               _detections([(12, 12, 32, 32)], [0.6], [1], [b])],
                              (HEIGHT, WIDTH))
    left, top, right, bottom = merged.pixel_boxes()[0]
    expected = np.maximum(a, b)[top:bottom, left:right]
    np.testing.assert_array_equal(merged.masks[0], expected)
    assert merged.image_mask(0, 0.5).sum() == (b > 0.5).sum() + 1   # b's square and a's peak


def test_two_figures_side_by_side_stay_two():
    one, two = _ellipse(30, 30, 10, 15), _ellipse(52, 30, 10, 15)
    merged = merge_detections([_detections([(20, 15, 40, 45), (42, 15, 62, 45)], [0.7, 0.9],
                                           [1, 1], [one, two])], (HEIGHT, WIDTH))
    assert len(merged) == 2
    np.testing.assert_array_equal(merged.scores, np.float32([0.9, 0.7]))  # by score
    np.testing.assert_array_equal(merged.image_mask(0), two)
    np.testing.assert_array_equal(merged.image_mask(1), one)


def test_nms_keeps_the_best_and_merges_nothing():
    merged = merge_detections([_detections([(10, 10, 30, 30), (12, 12, 30, 30)], [0.6, 0.8],
                                           [1, 1])], (HEIGHT, WIDTH), TileOptions(merge="NMS"))
    assert len(merged) == 1
    np.testing.assert_array_equal(merged.pixel_boxes(), [[12, 12, 30, 30]])


def test_classes_merge_only_when_class_agnostic():
    parts = [_detections([(10, 10, 30, 30), (11, 11, 30, 30)], [0.6, 0.8], [1, 2])]
    assert len(merge_detections(parts, (HEIGHT, WIDTH))) == 2
    merged = merge_detections(parts, (HEIGHT, WIDTH), TileOptions(class_agnostic=True))
    assert len(merged) == 1 and merged.classes[0] == 2   # the higher-scoring one's class


def test_no_detections_merge_to_none():
    merged = merge_detections([_detections([], [], [], np.zeros((0, HEIGHT, WIDTH)))],
                              (HEIGHT, WIDTH))
    assert len(merged) == 0 and merged.image_size == (HEIGHT, WIDTH)


@pytest.mark.parametrize("merge,metric,agnostic", [
    ("GREEDYNMM", "IOS", False), ("GREEDYNMM", "IOU", True), ("NMM", "IOS", False),
    ("NMS", "IOU", False)])
def test_boxes_scores_and_classes_equal_sahis_own_postprocessing(merge, metric, agnostic):
    """SAHI's ObjectPrediction post-processing (boxes only) is the reference."""
    from sahi.postprocess.combine import (GreedyNMMPostprocess, NMMPostprocess,
                                          NMSPostprocess)
    from sahi.prediction import ObjectPrediction

    rng = np.random.default_rng(7)
    corners = rng.integers(0, 80, (60, 2))
    sizes = rng.integers(5, 25, (60, 2))
    pixel_boxes = [(int(x), int(y), int(min(x + w, WIDTH)), int(min(y + h, HEIGHT)))
                   for (x, y), (w, h) in zip(corners % [WIDTH - 5, HEIGHT - 5], sizes)]
    scores = rng.random(60).round(3)
    classes = rng.integers(1, 3, 60)
    options = TileOptions(merge=merge, match_metric=metric, class_agnostic=agnostic)
    ours = merge_detections([_detections(pixel_boxes, scores, classes)], (HEIGHT, WIDTH), options)

    postprocess = {"GREEDYNMM": GreedyNMMPostprocess, "NMM": NMMPostprocess,
                   "NMS": NMSPostprocess}[merge](match_threshold=0.5, match_metric=metric,
                                                 class_agnostic=agnostic)
    predictions = [ObjectPrediction(bbox=list(box), category_id=int(c), category_name=str(c),
                                    score=float(s))
                   for box, s, c in zip(pixel_boxes, scores, classes)]
    theirs = sorted((tuple(round(float(v), 3) for v in p.bbox.to_xyxy()), round(p.score.value, 6),
                     int(p.category.id)) for p in postprocess(predictions))
    pixels = ours.boxes.astype(np.float64) * [HEIGHT, WIDTH, HEIGHT, WIDTH]
    mine = sorted((tuple(round(float(v), 3) for v in (b[1], b[0], b[3], b[2])), round(float(s), 6),
                   int(c)) for b, s, c in zip(pixels, ours.scores, ours.classes))
    assert len(mine) < len(pixel_boxes)          # something was merged or suppressed
    assert mine == theirs
