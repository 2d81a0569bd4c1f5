"""ImageDetections: checks, filtering, thresholds, pixel boxes, model outputs."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest

from object_detection.core.detections import ImageDetections
from tests.apps.handmade import (BOX_A, HEIGHT, PIXEL_BOX_A, PIXEL_BOX_B, WIDTH,
                                    mask_a, two_figures)


def test_filter_keeps_scores_strictly_above_threshold():
    dets = ImageDetections(np.tile([[0.1, 0.1, 0.5, 0.5]], (4, 1)), [0.9, 0.3, 0.31, 0.1],
                           [1, 2, 1, 1], np.stack([np.full((5, 6), v) for v in (0.1, 0.2, 0.3, 0.4)]))
    kept = dets.filter(0.3)
    np.testing.assert_allclose(kept.scores, [0.9, 0.31])
    np.testing.assert_array_equal(kept.classes, [1, 1])
    np.testing.assert_allclose(kept.masks[:, 0, 0], [0.1, 0.3])
    assert len(dets.filter()) == 2                     # the default threshold is 0.3


def test_binary_masks_are_strictly_above_threshold():
    masks = two_figures().binary_masks()
    assert masks.dtype == bool and masks.shape == (2, HEIGHT, WIDTH)
    assert not masks[0, 12, 9]                          # exactly 0.5
    assert masks[0, 12, 10] and not masks[0, 0, 0]      # 0.9 and 0.2
    assert masks[0].sum() == 17 * 12 - 1
    assert two_figures().binary_masks(0.95).sum() == 0


def test_pixel_boxes_floor_the_minimum_and_ceil_the_maximum():
    np.testing.assert_array_equal(two_figures().pixel_boxes(HEIGHT, WIDTH), [PIXEL_BOX_A, PIXEL_BOX_B])


def test_pixel_boxes_are_clipped_to_the_image():
    dets = ImageDetections([[-0.2, 0.0, 1.0, 1.0], [1.0, 1.0, 1.0, 1.0]], [0.5, 0.5], [1, 1])
    # a full box ends at ceil(40 * 1) = 40; a box on the far corner keeps its last pixel
    np.testing.assert_array_equal(dets.pixel_boxes(40, 60), [[0, 0, 60, 40], [59, 39, 60, 40]])


def test_classes_become_ints_and_empty_detections_work():
    dets = ImageDetections(np.zeros((0,), np.float32), [], [])
    assert len(dets) == 0 and dets.boxes.shape == (0, 4)
    assert dets.pixel_boxes(5, 5).shape == (0, 4)
    assert ImageDetections([BOX_A], [0.5], np.array([2.0], np.float32)).classes.dtype == np.int64


@pytest.mark.parametrize("kwargs, message", [
    (dict(boxes=[[0, 0, 1]], scores=[1], classes=[1]), "boxes must be"),
    (dict(boxes=[BOX_A], scores=[1, 2], classes=[1]), "scores"),
    (dict(boxes=[[0.5, 0, 0.2, 1]], scores=[1], classes=[1]), "ymax < ymin"),
    (dict(boxes=[[0, np.nan, 1, 1]], scores=[1], classes=[1]), "NaN"),
    (dict(boxes=[BOX_A], scores=[1], classes=[0]), "1-based"),
    (dict(boxes=[BOX_A], scores=[1], classes=[1], masks=np.zeros((2, 4, 4))), "masks must be"),
])
def test_bad_detections_are_refused(kwargs, message):
    with pytest.raises(ValueError, match=message):
        ImageDetections(**kwargs)


def test_masks_missing_or_of_wrong_size_are_refused():
    with pytest.raises(ValueError, match="no masks"):
        ImageDetections([BOX_A], [1], [1]).binary_masks()
    dets = ImageDetections([BOX_A], [1], [1], mask_a()[np.newaxis])
    with pytest.raises(ValueError, match="masks are 60x40 .* image is 61x40"):
        dets.check_masks_fit(40, 61, "map.png")


def test_from_model_output_slices_and_reframes():
    # Batch of 2, 3 rows, of which image 1 has 2 valid. An all-ones 3 x 3 box mask reframed into
    # a 9 x 13 image at [0.25, 0.5, 0.75, 1.0] covers rows 2..6 and columns 6..12 (pixel i sits
    # at i / 8, column j at j / 12, the crop_and_resize grid).
    boxes = np.zeros((2, 3, 4), np.float32)
    boxes[1, 0] = [0.25, 0.5, 0.75, 1.0]
    boxes[1, 1] = [0.0, 0.0, 0.5, 0.5]
    box_masks = np.zeros((2, 3, 3, 3), np.float32)
    box_masks[1, 0] = 1.0
    output = {"num_detections": np.array([0.0, 2.0]), "detection_boxes": boxes,
              "detection_scores": np.array([[0, 0, 0], [0.9, 0.4, 0.0]]),
              "detection_classes": np.array([[1, 1, 1], [1.0, 2.0, 1.0]]),
              "detection_masks": box_masks}
    dets = ImageDetections.from_model_output(output, 1, 9, 13)
    assert len(dets) == 2
    np.testing.assert_array_equal(dets.classes, [1, 2])
    expected = np.zeros((9, 13), np.float32)
    expected[2:7, 6:13] = 1.0
    np.testing.assert_allclose(dets.masks[0], expected, atol=1e-6)
    assert dets.masks[1].max() == 0.0
    above = ImageDetections.from_model_output(output, 1, 9, 13, score_threshold=0.5)
    np.testing.assert_array_equal(above.classes, [1])  # the 0.4 row is dropped before reframing
    np.testing.assert_allclose(above.masks, dets.filter(0.5).masks)
    empty = ImageDetections.from_model_output(output, 0, 9, 13)
    assert len(empty) == 0 and empty.masks.shape == (0, 9, 13)
    with pytest.raises(ValueError, match="image index 2"):
        ImageDetections.from_model_output(output, 2, 9, 13)
    with pytest.raises(ValueError, match="no 'detection_scores'"):
        ImageDetections.from_model_output({"detection_boxes": boxes}, 0, 9, 13)


def test_figures_package_does_not_import_tensorflow():
    code = ("import sys; import object_detection.apps.extraction, object_detection.apps.drawing; "
            "sys.exit(1 if 'tensorflow' in sys.modules else 0)")
    assert subprocess.run([sys.executable, "-c", code]).returncode == 0
