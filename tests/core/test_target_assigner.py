"""Target assignment end to end on 2 ground-truth boxes (plus one padded row)."""

from __future__ import annotations

import numpy as np

from object_detection.core.box_coder import FasterRcnnBoxCoder
from object_detection.core.target_assigner import assign_box_targets

GT = np.array([[[0, 0, 10, 10], [20, 20, 30, 30], [0, 0, 10, 10]]], np.float32)
GT_VALID = np.array([[True, True, False]])
ANCHORS = np.array([[
    [0, 0, 10, 10],     # IoU 1 with gt 0
    [0, 0, 10, 20],     # IoU 0.5 with gt 0: ignored between 0.3 and 0.7
    [20, 20, 30, 32],   # IoU 100 / 120 with gt 1
    [50, 50, 60, 60],   # nothing: negative
    [0, 8, 10, 28],     # IoU 20 / 280 with gt 0: negative
]], np.float32)


def test_assign_two_gt_boxes():
    coder = FasterRcnnBoxCoder()
    out = assign_box_targets(ANCHORS, GT, GT_VALID, 0.7, 0.3, coder)
    out = {k: v.numpy() for k, v in out.items()}
    assert out["match"].tolist() == [[0, -2, 1, -1, -1]]
    assert out["positive"].tolist() == [[True, False, True, False, False]]
    assert out["negative"].tolist() == [[False, False, False, True, True]]
    assert out["matched_gt_index"].tolist() == [[0, 0, 1, 0, 0]]
    expected = np.zeros((1, 5, 4), np.float32)
    # Anchor 2: centre (25, 26), 10 x 12; gt 1: centre (25, 25), 10 x 10.
    expected[0, 2] = [0.0, (25 - 26) / 12 * 10, 0.0, 5 * np.log(10 / 12)]
    np.testing.assert_allclose(out["box_targets"], expected, rtol=1e-5, atol=1e-5)


def test_shared_anchors_and_forced_match():
    gt = np.array([[[0, 0, 10, 10], [0, 0, 0, 0]],
                   [[0, 0, 10, 14], [0, 0, 0, 0]]], np.float32)
    valid = np.array([[True, False], [True, False]])
    anchors = np.array([[0, 0, 10, 10], [0, 0, 10, 28]], np.float32)  # shared [M, 4]
    # Image 1: best IoU is 100 / 140 < 0.8, still forced onto anchor 0.
    out = assign_box_targets(anchors, gt, valid, 0.8, 0.3, FasterRcnnBoxCoder())
    assert out["match"].numpy().tolist() == [[0, -2], [0, -2]]
    no_force = assign_box_targets(anchors, gt, valid, 0.8, 0.3, FasterRcnnBoxCoder(),
                                  force_match=False)
    assert no_force["match"].numpy().tolist() == [[0, -2], [-2, -2]]


def test_no_ground_truth_rows():
    out = assign_box_targets(ANCHORS, np.zeros((1, 0, 4), np.float32), np.zeros((1, 0), bool),
                             0.7, 0.3, FasterRcnnBoxCoder())
    assert out["match"].numpy().tolist() == [[-1] * 5]
    assert not out["box_targets"].numpy().any()
