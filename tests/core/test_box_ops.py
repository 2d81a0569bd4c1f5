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
