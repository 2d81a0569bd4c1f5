"""Padded input-pipeline batches -> the model's ground truth."""

from __future__ import annotations

import numpy as np
import pytest
import tensorflow as tf

from object_detection.fields import InputFields
from object_detection.meta_architectures import groundtruth as gt_lib


def test_rows_past_the_count_are_padding():
    gt = gt_lib.from_inputs({
        InputFields.groundtruth_boxes: tf.zeros([2, 3, 4]),
        InputFields.groundtruth_classes: tf.constant([[1, 2, 1], [3, 0, 0]]),
        InputFields.num_groundtruth_boxes: tf.constant([2, 1]),
        InputFields.groundtruth_instance_masks: tf.zeros([2, 3, 5, 5], tf.uint8),
    })
    np.testing.assert_array_equal(gt.valid, [[True, True, False], [True, False, False]])
    np.testing.assert_array_equal(gt.classes, [[1, 2, 0], [3, 0, 0]])
    np.testing.assert_array_equal(gt.mask_weights, np.ones([2, 3]))   # masks given: weight 1


def test_without_a_count_class_zero_is_padding_and_mask_weights_are_kept():
    gt = gt_lib.from_inputs({
        InputFields.groundtruth_boxes: tf.zeros([1, 3, 4]),
        InputFields.groundtruth_classes: tf.constant([[1, 1, 0]]),
        InputFields.groundtruth_instance_masks: tf.zeros([1, 3, 5, 5], tf.uint8),
        InputFields.groundtruth_instance_mask_weights: tf.constant([[1.0, 0.0, 0.0]]),
    })
    np.testing.assert_array_equal(gt.valid, [[True, True, False]])
    np.testing.assert_array_equal(gt.mask_weights, [[1.0, 0.0, 0.0]])


def test_boxes_only_batches_have_no_masks():
    gt = gt_lib.from_inputs({InputFields.groundtruth_boxes: tf.zeros([1, 1, 4]),
                             InputFields.groundtruth_classes: tf.constant([[1]])})
    assert gt.masks is None and gt.mask_weights is None


def test_missing_boxes_are_named():
    with pytest.raises(KeyError, match="groundtruth_boxes"):
        gt_lib.from_inputs({InputFields.groundtruth_classes: tf.constant([[1]])})
