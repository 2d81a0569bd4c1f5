"""RPN, box classifier and mask heads: output layouts, OD API variable names and shapes."""

from __future__ import annotations

import numpy as np
import pytest
import tensorflow as tf

from object_detection.core.hyperparams import default_hyperparams
from object_detection.meta_architectures.box_head import BoxClassifierHead
from object_detection.meta_architectures.mask_head import MaskHead, automatic_conv_depth
from object_detection.meta_architectures.rpn_head import RPNHead

HP = default_hyperparams()


def test_rpn_head_layout_is_location_major_then_anchor():
    head = RPNHead(num_anchors_per_location=3, hyperparams=HP, depth=8, atrous_rate=2)
    features = tf.random.normal([2, 4, 5, 6], seed=1)
    boxes, logits = head(features)
    assert boxes.shape == (2, 4 * 5 * 3, 4) and logits.shape == (2, 4 * 5 * 3, 2)
    net = head.conv(features)
    raw_boxes = head.box_conv(net).numpy()            # [B, h, w, A * 4]
    raw_logits = head.class_conv(net).numpy()         # [B, h, w, A * 2]
    b, row, col, a = 1, 2, 3, 2
    index = (row * 5 + col) * 3 + a
    np.testing.assert_allclose(boxes[b, index], raw_boxes[b, row, col, 4 * a:4 * a + 4], rtol=1e-6)
    np.testing.assert_allclose(logits[b, index], raw_logits[b, row, col, 2 * a:2 * a + 2],
                               rtol=1e-6)


def test_rpn_head_conv_is_dilated_relu6():
    head = RPNHead(1, HP, kernel_size=3, depth=4, atrous_rate=2)
    head(tf.zeros([1, 6, 6, 2]))
    assert head.conv.dilation_rate == (2, 2)
    # ReLU6 caps the shared features at 6.
    head.conv.kernel.assign(tf.ones_like(head.conv.kernel))
    assert float(tf.reduce_max(head.conv(tf.fill([1, 6, 6, 2], 10.0)))) == 6.0


def test_rpn_head_slim_names_and_shapes():
    head = RPNHead(12, HP, depth=512)
    head(tf.zeros([1, 3, 3, 1024]))
    shapes = {name: tuple(v.shape) for name, v in head.slim_variable_names().items()}
    assert shapes == {
        "Conv/weights": (3, 3, 1024, 512), "Conv/biases": (512,),
        "FirstStageBoxPredictor/BoxEncodingPredictor/weights": (1, 1, 512, 48),
        "FirstStageBoxPredictor/BoxEncodingPredictor/biases": (48,),
        "FirstStageBoxPredictor/ClassPredictor/weights": (1, 1, 512, 24),
        "FirstStageBoxPredictor/ClassPredictor/biases": (24,),
    }


def test_box_head_pools_spatially_and_names_match_od_api():
    head = BoxClassifierHead(num_classes=90, hyperparams=HP)
    features = tf.random.normal([5, 7, 7, 16], seed=2)
    boxes, logits = head(features)
    assert boxes.shape == (5, 90, 4) and logits.shape == (5, 91)
    mean = tf.reduce_mean(features, axis=[1, 2])
    np.testing.assert_allclose(logits, head.class_fc(mean), rtol=1e-5, atol=1e-6)
    shapes = {name: tuple(v.shape) for name, v in head.slim_variable_names().items()}
    assert shapes == {
        "SecondStageBoxPredictor/BoxEncodingPredictor/weights": (16, 360),
        "SecondStageBoxPredictor/BoxEncodingPredictor/biases": (360,),
        "SecondStageBoxPredictor/ClassPredictor/weights": (16, 91),
        "SecondStageBoxPredictor/ClassPredictor/biases": (91,),
    }


def test_box_head_shared_box():
    head = BoxClassifierHead(num_classes=3, hyperparams=HP, share_box_across_classes=True)
    boxes, logits = head(tf.zeros([2, 7, 7, 4]))
    assert boxes.shape == (2, 1, 4) and logits.shape == (2, 4)


def test_box_head_dropout_only_in_training():
    head = BoxClassifierHead(num_classes=1, hyperparams=HP, use_dropout=True,
                             dropout_keep_probability=0.5)
    features = tf.ones([64, 1, 1, 32])
    _, eval_logits = head(features, training=False)
    _, train_logits = head(features, training=True)
    np.testing.assert_allclose(eval_logits[0], eval_logits[1])
    assert not np.allclose(train_logits[0], train_logits[1])


@pytest.mark.parametrize("channels, classes, depth", [
    (2048, 90, 256),   # 2^round((2*11 + 3*6.49) / 5) = 2^8 (the OD API COCO model)
    (2048, 1, 16),     # 2^round(22 / 5) = 2^4
    (1024, 1, 16),     # 2^round(20 / 5) = 2^4
    (256, 1, 8),       # 2^round(16 / 5) = 2^3
    (2048, 37, 256),   # 2^round((22 + 15.63) / 5) = 2^8
])
def test_automatic_mask_conv_depth(channels, classes, depth):
    assert automatic_conv_depth(channels, classes) == depth


def test_mask_head_names_shapes_and_automatic_depth():
    head = MaskHead(num_classes=90, hyperparams=HP, mask_height=33, mask_width=33,
                    num_conv_layers=4, conv_depth=0)
    masks = head(tf.zeros([3, 7, 7, 2048]))
    assert masks.shape == (3, 90, 33, 33)
    shapes = {name: tuple(v.shape) for name, v in head.slim_variable_names().items()}
    assert shapes == {
        "SecondStageBoxPredictor/Conv/weights": (3, 3, 2048, 256),
        "SecondStageBoxPredictor/Conv/biases": (256,),
        "SecondStageBoxPredictor/Conv_1/weights": (3, 3, 256, 256),
        "SecondStageBoxPredictor/Conv_1/biases": (256,),
        "SecondStageBoxPredictor/Conv_2/weights": (3, 3, 256, 256),
        "SecondStageBoxPredictor/Conv_2/biases": (256,),
        "SecondStageBoxPredictor/Conv_3/weights": (3, 3, 256, 90),
        "SecondStageBoxPredictor/Conv_3/biases": (90,),
    }


def test_mask_head_upsamples_bilinearly_with_aligned_corners():
    head = MaskHead(num_classes=1, hyperparams=HP, mask_height=3, mask_width=3,
                    num_conv_layers=1, conv_depth=4)
    features = tf.constant([[[[0.0], [2.0]], [[4.0], [6.0]]]])          # [1, 2, 2, 1]
    head(features)
    centre_tap = np.zeros([3, 3, 1, 1], np.float32)
    centre_tap[1, 1] = 1.0
    head.convs[-1].kernel.assign(centre_tap)
    head.convs[-1].bias.assign([0.0])
    # Corners keep their values, the rest interpolates: a plane through 0, 2, 4, 6.
    np.testing.assert_allclose(head(features)[0, 0], [[0, 1, 2], [2, 3, 4], [4, 5, 6]],
                               atol=1e-6)


def test_mask_head_class_agnostic_and_convolve_then_upsample():
    head = MaskHead(num_classes=5, hyperparams=HP, mask_height=14, mask_width=14,
                    num_conv_layers=2, conv_depth=8, masks_are_class_agnostic=True,
                    convolve_then_upsample=True)
    assert head(tf.zeros([2, 7, 7, 16])).shape == (2, 1, 14, 14)
    assert sorted(head.slim_variable_names()) == sorted(
        f"SecondStageBoxPredictor/{n}/{v}" for n in ("Conv", "Conv_1", "Conv_2")
        for v in ("weights", "biases"))
