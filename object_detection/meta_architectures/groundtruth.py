"""Padded ground truth of a batch, as the model consumes it.

The input pipeline pads every per-instance field to ``max_instances`` rows and records the real
count in ``num_groundtruth_boxes``; boxes are normalized to the unpadded image
(``true_image_shape``), masks are image-sized (the padded image) and class ids 1-based.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import tensorflow as tf

from object_detection.fields import InputFields


@dataclass(frozen=True)
class Groundtruth:
    """boxes float32 [B, N, 4] normalized to the true image; classes int32 [B, N] 1-based
    (0 for padding); valid bool [B, N]; masks [B, N, H, W] (uint8 or float) or None;
    mask_weights float32 [B, N] (0: the instance has no mask)."""

    boxes: tf.Tensor
    classes: tf.Tensor
    valid: tf.Tensor
    masks: tf.Tensor | None = None
    mask_weights: tf.Tensor | None = None


def from_inputs(inputs: Mapping[str, tf.Tensor]) -> Groundtruth:
    """``Groundtruth`` from a batched ``InputFields`` dictionary.

    Rows at or beyond ``num_groundtruth_boxes`` (or with class 0 when the count is absent) are
    padding. Raises KeyError naming the missing field when boxes or classes are absent.
    """
    for key in (InputFields.groundtruth_boxes, InputFields.groundtruth_classes):
        if key not in inputs:
            raise KeyError(f"ground truth needs '{key}' in the batch (got {sorted(inputs)})")
    boxes = tf.cast(inputs[InputFields.groundtruth_boxes], tf.float32)
    classes = tf.cast(inputs[InputFields.groundtruth_classes], tf.int32)
    valid = classes > 0
    if InputFields.num_groundtruth_boxes in inputs:
        count = tf.cast(inputs[InputFields.num_groundtruth_boxes], tf.int32)
        rows = tf.range(tf.shape(classes)[1])[tf.newaxis, :]
        valid &= rows < count[:, tf.newaxis]
    masks = inputs.get(InputFields.groundtruth_instance_masks)
    weights = inputs.get(InputFields.groundtruth_instance_mask_weights)
    if masks is not None and weights is None:
        weights = tf.ones_like(boxes[..., 0])
    if weights is not None:
        weights = tf.cast(weights, tf.float32)
    return Groundtruth(boxes, tf.where(valid, classes, 0), valid, masks, weights)
