"""Box operations against hand-computed areas, intersections and IoUs."""

from __future__ import annotations

import numpy as np
import tensorflow as tf

from object_detection.core import box_ops

BOXES1 = np.array([[0, 0, 10, 10], [5, 5, 15, 25]], np.float32)
BOXES2 = np.array([[0, 0, 10, 10], [0, 5, 10, 15], [20, 20, 30, 30]], np.float32)


def test_area():
    np.testing.assert_allclose(box_ops.area(BOXES1).numpy(), [100, 200])


def test_intersection_and_iou_by_hand():
    inter = box_ops.intersection(BOXES1, BOXES2).numpy()
    # [5,5,15,25] & [0,0,10,10] = 5x5; & [0,5,10,15] = 5x10; disjoint from the third.
    np.testing.assert_allclose(inter, [[100, 50, 0], [25, 50, 0]])
    got = box_ops.iou(BOXES1, BOXES2).numpy()
    expected = [[1.0, 50 / 150, 0.0], [25 / 275, 50 / 250, 0.0]]
    np.testing.assert_allclose(got, expected, rtol=1e-6)


def test_batched_iou_equals_per_image_iou():
    rng = np.random.default_rng(0)
    corners = rng.uniform(0, 1, size=(2, 2, 7, 2)).astype(np.float32)
    boxes = np.concatenate([corners.min(axis=1), corners.max(axis=1)], axis=-1)  # [2, 7, 4]
    b1, b2 = boxes[:, :3], boxes[:, 3:]
    batched = box_ops.iou(b1, b2).numpy()
    assert batched.shape == (2, 3, 4)
    for i in range(2):
        np.testing.assert_allclose(batched[i], box_ops.iou(b1[i], b2[i]).numpy(), rtol=1e-6)


def test_iou_of_degenerate_boxes_is_zero_and_finite():
    zero = np.zeros((1, 4), np.float32)
    out = box_ops.iou(zero, zero).numpy()
    assert out.tolist() == [[0.0]]


def test_clip_to_window():
    boxes = np.array([[-5, 2, 8, 20], [12, 12, 14, 14]], np.float32)
    clipped = box_ops.clip_to_window(boxes, [0, 0, 10, 10]).numpy()
    np.testing.assert_allclose(clipped, [[0, 2, 8, 10], [10, 10, 10, 10]])
    batched = box_ops.clip_to_window(np.stack([boxes, boxes]),
                                     np.array([[[0, 0, 10, 10]], [[0, 0, 13, 13]]], np.float32))
    np.testing.assert_allclose(batched[1].numpy(), [[0, 2, 8, 13], [12, 12, 13, 13]])


def test_absolute_and_normalized_round_trip():
    boxes = np.array([[0.1, 0.2, 0.5, 1.0]], np.float32)
    absolute = box_ops.to_absolute(boxes, 200, 400).numpy()
    np.testing.assert_allclose(absolute, [[20, 80, 100, 400]], rtol=1e-6)
    np.testing.assert_allclose(box_ops.to_normalized(absolute, 200, 400).numpy(), boxes, rtol=1e-6)
    batched = box_ops.to_absolute(tf.constant([boxes[0:1], boxes[0:1]]),
                                  tf.constant([[10.0], [20.0]]), tf.constant([[10.0], [40.0]]))
    np.testing.assert_allclose(batched.numpy()[:, 0], [[1, 2, 5, 10], [2, 8, 10, 40]], rtol=1e-6)


# The one conversion between normalized boxes and pixels, by hand.


def test_coco_boxes():
    """(Moved from the evaluator's copy, which did not round.)"""
    np.testing.assert_allclose(box_ops.to_coco(np.array([[0.1, 0.2, 0.5, 1.0]]), 100, 50),
                               [[10.0, 10.0, 40.0, 40.0]])
    # x = 0.125 * 60 = 7.5, y = 0.25 * 40 = 10, w = 22.5 - 7.5 = 15, h = 30 - 10 = 20
    assert box_ops.to_coco([0.25, 0.125, 0.75, 0.375], 40, 60).tolist() == [[7.5, 10.0, 15.0, 20.0]]
    # rounded to 1/1000 pixel: 1/3 of 100 px is 33.333
    assert box_ops.to_coco([0, 0, 1 / 3, 1 / 3], 100, 100).tolist() == [[0.0, 0.0, 33.333, 33.333]]


def test_float32_boxes_of_whole_pixels_come_back_exactly():
    """Pixel edges 4 .. 14.5 x 2 .. 8 of a 48 x 37 image, stored as float32 as in the records."""
    normalized = box_ops.normalized_from_pixels([2.0, 4.0, 8.0, 14.5], 37, 48).astype(np.float32)
    np.testing.assert_allclose(normalized, [[2 / 37, 4 / 48, 8 / 37, 14.5 / 48]], rtol=1e-7)
    assert box_ops.absolute_pixels(normalized, 37, 48).tolist() == [[2.0, 4.0, 8.0, 14.5]]
    assert box_ops.to_coco(normalized, 37, 48).tolist() == [[4.0, 2.0, 10.5, 6.0]]
    assert box_ops.to_pixel_crops(normalized, 37, 48).tolist() == [[4, 2, 15, 8]]
    np.testing.assert_allclose(box_ops.from_coco([4.0, 2.0, 10.5, 6.0], 37, 48), normalized,
                               rtol=1e-7)


def test_pixel_crops_floor_the_minimum_and_ceil_the_maximum():
    boxes = [[0.25, 0.125, 0.75, 0.375],   # rows 10 .. 30 (an edge), columns 7.5 .. 22.5
             [0.5, 0.5, 0.875, 0.9375],    # rows 20 .. 35, columns 30 .. 56.25
             [0.2501, 0.1, 0.2502, 0.1]]   # thinner than a pixel: keeps one (row 10, col 6)
    assert box_ops.to_pixel_crops(boxes, 40, 60).tolist() == [
        [7, 10, 23, 30], [30, 20, 57, 35], [6, 10, 7, 11]]


def test_pixel_crops_are_clipped_to_the_image():
    boxes = [[-0.2, 0.0, 1.0, 1.0], [1.0, 1.0, 1.0, 1.0], [0.0, 0.0, 1.5, 1.5]]
    assert box_ops.to_pixel_crops(boxes, 40, 60).tolist() == [
        [0, 0, 60, 40], [59, 39, 60, 40], [0, 0, 60, 40]]
    assert box_ops.to_pixel_crops(np.zeros((0, 4), np.float32), 5, 5).shape == (0, 4)


def test_the_numpy_conversions_do_not_import_tensorflow():
    import subprocess
    import sys

    code = ("import sys; from object_detection.core import box_ops; "
            "box_ops.to_pixel_crops([[0, 0, 1, 1]], 4, 4); box_ops.to_coco([0, 0, 1, 1], 4, 4); "
            "sys.exit(1 if 'tensorflow' in sys.modules else 0)")
    assert subprocess.run([sys.executable, "-c", code]).returncode == 0
