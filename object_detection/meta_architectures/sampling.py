"""The second stage's training sample: which proposals the box classifier sees, with targets.

As the OD API: proposals are matched to the ground truth at IoU 0.5 (no ignored band, no forced
match), a balanced sample of ``batch_size`` is drawn (at most ``balance_fraction`` positives),
and the chosen proposals are gathered into ``[B, batch_size]`` rows so that every batch has the
same shape: chosen entries first, in their original order; rows after ``count`` are padding.
"""

from __future__ import annotations

import tensorflow as tf

from object_detection.core.box_coder import FasterRcnnBoxCoder
from object_detection.core.sampler import balanced_sample
from object_detection.core.target_assigner import assign_box_targets

MATCHED_THRESHOLD = 0.5


def sample_proposals(proposals: tf.Tensor, num_proposals: tf.Tensor, gt_boxes: tf.Tensor,
                     gt_classes: tf.Tensor, gt_valid: tf.Tensor, batch_size: int,
                     balance_fraction: float, box_coder: FasterRcnnBoxCoder, seed: tf.Tensor,
                     add_groundtruth: bool = False) -> dict[str, tf.Tensor]:
    """A balanced sample of proposals per image and its second-stage targets.

    Args:
      proposals: [B, P, 4], the first ``num_proposals`` [B] of each row valid; gt_boxes
        [B, N, 4] in the same frame, gt_classes int32 [B, N] 1-based, gt_valid bool [B, N].
      batch_size, balance_fraction: S and the largest fraction of positives.
      seed: [2] seed of the sampler; add_groundtruth: also offer the ground-truth boxes as
        proposals (not the OD API's behaviour).

    Returns:
      ``target_boxes`` [B, S, 4], ``target_count`` int32 [B], ``target_valid`` and
      ``target_positive`` bool [B, S], ``target_classes`` int32 [B, S] (0 background),
      ``target_box_encodings`` [B, S, 4] (zero unless positive), ``target_gt_index`` int32
      [B, S] (matched ground-truth row, 0 unless positive).
    """
    valid = tf.range(tf.shape(proposals)[1])[tf.newaxis, :] < num_proposals[:, tf.newaxis]
    if add_groundtruth:
        proposals = tf.concat([proposals, gt_boxes], axis=1)
        valid = tf.concat([valid, gt_valid], axis=1)
    assigned = assign_box_targets(proposals, gt_boxes, gt_valid, MATCHED_THRESHOLD,
                                  MATCHED_THRESHOLD, box_coder, force_match=False)
    positive = assigned["positive"] & valid
    candidates = valid & (assigned["positive"] | assigned["negative"])
    sampled = balanced_sample(candidates, positive, batch_size, balance_fraction, seed)
    indices, count = selected_indices(sampled, batch_size)
    row_valid = tf.range(batch_size)[tf.newaxis, :] < count[:, tf.newaxis]
    sampled_positive = gather_rows(positive, indices, row_valid)
    gt_index = tf.where(sampled_positive,
                        gather_rows(assigned["matched_gt_index"], indices, row_valid), 0)
    classes = tf.gather(gt_classes, gt_index, axis=1, batch_dims=1)
    return {
        "target_boxes": gather_rows(proposals, indices, row_valid),
        "target_count": count,
        "target_valid": row_valid,
        "target_positive": sampled_positive,
        "target_classes": tf.where(sampled_positive, classes, 0),
        "target_box_encodings": gather_rows(assigned["box_targets"], indices, row_valid),
        "target_gt_index": gt_index,
    }


def selected_indices(selected: tf.Tensor, size: int) -> tuple[tf.Tensor, tf.Tensor]:
    """selected bool [B, M] -> (indices int32 [B, size] of the True entries in order, padded
    with 0; count int32 [B] = min(#True, size))."""
    padded = tf.pad(selected, [[0, 0], [0, size]], constant_values=False)
    order = tf.argsort(tf.cast(tf.logical_not(padded), tf.int32), axis=1, stable=True)
    indices = order[:, :size]
    count = tf.minimum(tf.reduce_sum(tf.cast(selected, tf.int32), axis=1), size)
    valid = tf.range(size)[tf.newaxis, :] < count[:, tf.newaxis]
    return tf.where(valid, indices, 0), count


def gather_rows(values: tf.Tensor, indices: tf.Tensor, valid: tf.Tensor) -> tf.Tensor:
    """values [B, M, ...] at indices [B, S] -> [B, S, ...], zero where ``valid`` [B, S] is
    False."""
    gathered = tf.gather(values, indices, axis=1, batch_dims=1)
    mask = tf.reshape(valid, tf.concat([tf.shape(valid), tf.ones([gathered.shape.rank - 2],
                                                                  tf.int32)], 0))
    return tf.where(mask, gathered, tf.zeros_like(gathered))
