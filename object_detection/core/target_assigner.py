"""Anchor (or proposal) to ground-truth assignment: IoU similarity, argmax matching and box
encoding, batched (TF OD API ``TargetAssigner`` semantics for box targets)."""

from __future__ import annotations

import tensorflow as tf

from object_detection.core import box_ops
from object_detection.core.box_coder import FasterRcnnBoxCoder
from object_detection.core.matcher import UNMATCHED, argmax_match


def assign_box_targets(anchors: tf.Tensor, gt_boxes: tf.Tensor, gt_valid: tf.Tensor,
                       matched_threshold: float, unmatched_threshold: float | None,
                       box_coder: FasterRcnnBoxCoder,
                       force_match: bool = True) -> dict[str, tf.Tensor]:
    """Matches anchors to ground truth and encodes the regression targets.

    Args:
        anchors: ``[B, M, 4]`` (or ``[M, 4]``, shared by the batch), same frame as gt_boxes.
        gt_boxes: ``[B, N, 4]``, padded; gt_valid: bool ``[B, N]``, False for padding.
        matched_threshold, unmatched_threshold, force_match: see ``matcher.argmax_match``.
        box_coder: encodes a matched gt box relative to its anchor.

    Returns:
        dict with ``match`` int32 ``[B, M]`` (gt index, -1 negative, -2 ignored),
        ``box_targets`` ``[B, M, 4]`` (encoded; zeros where not positive), ``positive`` and
        ``negative`` bool ``[B, M]``, ``matched_gt_index`` int32 ``[B, M]`` (0 where none).
    """
    gt_boxes = tf.convert_to_tensor(gt_boxes, tf.float32)
    anchors = tf.convert_to_tensor(anchors, tf.float32)
    if anchors.shape.rank == 2:
        anchors = tf.broadcast_to(anchors[tf.newaxis],
                                  tf.concat([tf.shape(gt_boxes)[:1], tf.shape(anchors)], 0))
    similarity = box_ops.iou(gt_boxes, anchors)                           # [B, N, M]
    match = argmax_match(similarity, matched_threshold, unmatched_threshold,
                         force_match_for_each_row=force_match, valid_rows=gt_valid)
    positive = match >= 0
    matched_gt_index = tf.maximum(match, 0)
    # One zero row appended so that gathering stays valid when there is no ground truth.
    gt_padded = tf.pad(gt_boxes, [[0, 0], [0, 1], [0, 0]])
    matched_boxes = tf.gather(gt_padded, matched_gt_index, axis=1, batch_dims=1)  # [B, M, 4]
    targets = box_coder.encode(matched_boxes, anchors)
    targets = tf.where(positive[..., tf.newaxis], targets, tf.zeros_like(targets))
    return {
        "match": match,
        "box_targets": targets,
        "positive": positive,
        "negative": tf.equal(match, UNMATCHED),
        "matched_gt_index": matched_gt_index,
    }
