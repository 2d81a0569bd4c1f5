"""Second-stage proposal sampling: static-shape gathering and targets on hand-made cases."""

from __future__ import annotations

import numpy as np
import tensorflow as tf

from object_detection.core.box_coder import FasterRcnnBoxCoder
from object_detection.meta_architectures.sampling import (
    gather_rows,
    sample_proposals,
    selected_indices,
)

SEED = tf.constant([1, 2], tf.int64)


def test_selected_indices_keep_order_and_pad():
    selected = tf.constant([[False, True, False, True, True],
                            [False, False, False, False, False],
                            [True, True, True, True, True]])
    indices, count = selected_indices(selected, 4)
    np.testing.assert_array_equal(count, [3, 0, 4])
    np.testing.assert_array_equal(indices, [[1, 3, 4, 0], [0, 0, 0, 0], [0, 1, 2, 3]])


def test_selected_indices_when_fewer_entries_than_size():
    indices, count = selected_indices(tf.constant([[True, False, True]]), 5)
    np.testing.assert_array_equal(count, [2])
    np.testing.assert_array_equal(indices, [[0, 2, 0, 0, 0]])


def test_gather_rows_zeroes_padding():
    values = tf.reshape(tf.range(12, dtype=tf.float32), [1, 3, 4]) + 1.0
    out = gather_rows(values, tf.constant([[2, 0]]), tf.constant([[True, False]]))
    np.testing.assert_array_equal(out, [[[9, 10, 11, 12], [0, 0, 0, 0]]])


def _case():
    gt_boxes = tf.constant([[[0.0, 0.0, 0.4, 0.4], [0.5, 0.5, 1.0, 1.0]]])
    gt_classes = tf.constant([[1, 2]])
    proposals = tf.constant([[
        [0.0, 0.0, 0.4, 0.36],    # IoU 0.9 with gt 0
        [0.5, 0.5, 1.0, 0.95],    # IoU 0.9 with gt 1
        [0.6, 0.0, 0.9, 0.3],     # background
        [0.0, 0.6, 0.3, 0.9],     # background
        [0.45, 0.0, 0.55, 0.1],   # background
        [0.0, 0.0, 0.0, 0.0],     # padding (num_proposals = 5)
    ]])
    return proposals, tf.constant([5]), gt_boxes, gt_classes, tf.constant([[True, True]])


def test_sample_proposals_balances_and_assigns_targets():
    proposals, num, gt_boxes, gt_classes, gt_valid = _case()
    coder = FasterRcnnBoxCoder()
    out = sample_proposals(proposals, num, gt_boxes, gt_classes, gt_valid, batch_size=4,
                           balance_fraction=0.25, box_coder=coder, seed=SEED)
    np.testing.assert_array_equal(out["target_count"], [4])
    assert out["target_valid"].numpy().all()
    positive = out["target_positive"].numpy()[0]
    assert positive.sum() == 1                               # int(0.25 * 4) positives
    boxes = out["target_boxes"].numpy()[0]
    assert not any(np.allclose(b, 0.0) for b in boxes)       # padding never sampled
    # The positive carries its gt class and the encoding of its gt box.
    row = int(np.argmax(positive))
    gt = 0 if np.allclose(boxes[row], proposals[0, 0]) else 1
    assert out["target_classes"][0, row] == gt + 1
    assert out["target_gt_index"][0, row] == gt
    np.testing.assert_allclose(out["target_box_encodings"][0, row],
                               coder.encode(gt_boxes[0, gt], boxes[row]), atol=1e-5)
    negatives = ~positive
    np.testing.assert_array_equal(out["target_classes"].numpy()[0][negatives], 0)
    np.testing.assert_array_equal(out["target_box_encodings"].numpy()[0][negatives], 0.0)


def test_sample_proposals_pads_when_too_few_candidates():
    proposals, _, gt_boxes, gt_classes, gt_valid = _case()
    out = sample_proposals(proposals, tf.constant([2]), gt_boxes, gt_classes, gt_valid,
                           batch_size=4, balance_fraction=0.5,
                           box_coder=FasterRcnnBoxCoder(), seed=SEED)
    np.testing.assert_array_equal(out["target_count"], [2])
    np.testing.assert_array_equal(out["target_valid"], [[True, True, False, False]])
    np.testing.assert_array_equal(out["target_classes"], [[1, 2, 0, 0]])
    np.testing.assert_allclose(out["target_boxes"][0, 2:], 0.0)


def test_sample_proposals_can_offer_groundtruth_boxes():
    proposals, _, gt_boxes, gt_classes, gt_valid = _case()
    # No valid proposal at all: only the ground truth itself can be positive.
    out = sample_proposals(proposals, tf.constant([0]), gt_boxes, gt_classes, gt_valid,
                           batch_size=4, balance_fraction=1.0,
                           box_coder=FasterRcnnBoxCoder(), seed=SEED, add_groundtruth=True)
    np.testing.assert_array_equal(out["target_count"], [2])
    np.testing.assert_allclose(out["target_boxes"][0, :2], gt_boxes[0])
    np.testing.assert_allclose(out["target_box_encodings"][0, :2], 0.0, atol=1e-5)
