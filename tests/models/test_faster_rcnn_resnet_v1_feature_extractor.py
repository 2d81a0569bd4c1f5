"""The Faster R-CNN ResNet v1 feature extractor: shapes, values against NumPy, slim names."""

from __future__ import annotations

import numpy as np
import pytest
import tensorflow as tf

from object_detection.models.faster_rcnn_resnet_v1_feature_extractor import (
    FasterRcnnResnetV1FeatureExtractor as Extractor,
)
from tests.models import resnet_reference as ref


@pytest.mark.parametrize("stride", [8, 16])
def test_tiny_output_shapes(stride):
    extractor = Extractor("resnet_tiny", stride)
    features = extractor.first_stage(tf.zeros([2, 65, 64, 3]))
    assert features.shape == (2, -(-65 // stride), 64 // stride, 128)
    assert extractor.first_stage_depth == 128 and extractor.second_stage_depth == 256
    assert extractor.second_stage(tf.zeros([5, 7, 7, 128])).shape == (5, 7, 7, 256)


# The tiny network's (stride, rate) per block, derived by hand from slim's stack_blocks_dense:
# stride 4 after the root; block1 halves it (8); at output stride 8, block2's stride turns into
# a rate of 2 for block3; at 16, block2 halves again and block3's stride is dropped.
HAND_PLANS = {8: [(2, 1), (1, 1), (1, 2)], 16: [(2, 1), (2, 1), (1, 1)]}


@pytest.mark.parametrize("stride", [8, 16])
def test_tiny_first_stage_matches_numpy_reference(stride):
    extractor = Extractor("resnet_tiny", stride)
    values = ref.randomize(extractor.slim_variables(), seed=stride)
    images = np.random.default_rng(0).uniform(0, 255, (1, 40, 36, 3)).astype(np.float32)
    net = ref.root(images - [123.68, 116.779, 103.939], values, "resnet_tiny")
    for block, (s, rate) in enumerate(HAND_PLANS[stride], start=1):
        net = ref.bottleneck(net, values, f"resnet_tiny/block{block}/unit_1/bottleneck_v1",
                             s, rate)
    features = extractor.first_stage(extractor.preprocess(tf.constant(images)))
    np.testing.assert_allclose(features.numpy(), net, rtol=1e-3, atol=1e-3)


def test_tiny_second_stage_matches_numpy_reference():
    extractor = Extractor("resnet_tiny", 16)
    values = ref.randomize(extractor.slim_variables("second"), seed=3)
    crops = np.random.default_rng(1).normal(size=(3, 7, 7, 128)).astype(np.float32)
    expected = ref.bottleneck(crops, values, "resnet_tiny/block4/unit_1/bottleneck_v1", 1, 1)
    np.testing.assert_allclose(extractor.second_stage(tf.constant(crops)).numpy(), expected,
                               rtol=1e-4, atol=1e-4)


def test_preprocess_subtracts_rgb_means():
    extractor = Extractor("resnet_tiny", 16)
    images = tf.fill([1, 2, 2, 3], 200.0)
    np.testing.assert_allclose(extractor.preprocess(images)[0, 1, 1],
                               [200 - 123.68, 200 - 116.779, 200 - 103.939], rtol=1e-6)
    gray = tf.fill([1, 2, 2, 1], 7.0)
    np.testing.assert_array_equal(extractor.preprocess(gray), gray)


def test_resnet_v1_101_variables_and_names():
    extractor = Extractor("resnet_v1_101", 16)
    names = extractor.slim_variables()
    # 104 convs (conv1, 33 units x 3, 4 projection shortcuts) x (weights + 4 batch norm).
    assert len(names) == 520 == len(extractor.weights)
    assert len(extractor.trainable_weights) == 104  # frozen batch norm
    for name in ["resnet_v1_101/conv1/weights", "resnet_v1_101/conv1/BatchNorm/moving_variance",
                 "resnet_v1_101/block1/unit_1/bottleneck_v1/shortcut/weights",
                 "resnet_v1_101/block3/unit_23/bottleneck_v1/conv3/BatchNorm/gamma",
                 "resnet_v1_101/block4/unit_3/bottleneck_v1/conv2/weights"]:
        assert name in names
    assert "resnet_v1_101/block1/unit_2/bottleneck_v1/shortcut/weights" not in names
    assert tuple(names["resnet_v1_101/block4/unit_1/bottleneck_v1/shortcut/weights"].shape) == (
        1, 1, 1024, 2048)
    detection = extractor.checkpoint_variable_map("detection")
    first = [n for n in detection if n.startswith("FirstStageFeatureExtractor/resnet_v1_101/")]
    second = [n for n in detection
              if n.startswith("SecondStageFeatureExtractor/resnet_v1_101/block4/")]
    assert (len(first), len(second)) == (470, 50)
    assert not any("/block4/" in n for n in first)
    assert extractor.first_stage(tf.zeros([1, 64, 64, 3])).shape == (1, 4, 4, 1024)


def test_trainable_batch_norm_and_weight_decay():
    extractor = Extractor("resnet_tiny", 8, batch_norm_trainable=True, weight_decay=0.01)
    assert len(extractor.trainable_weights) == 3 * 17
    weights = [v for n, v in extractor.slim_variables().items() if n.endswith("weights")]
    expected = 0.01 * sum(float(np.sum(np.square(w.numpy()))) / 2 for w in weights)
    np.testing.assert_allclose(float(tf.add_n(extractor.losses)), expected, rtol=1e-5)
    assert not Extractor("resnet_tiny", 8).losses


def test_runs_in_tf_function_with_unknown_sizes():
    extractor = Extractor("resnet_tiny", 16)
    fn = tf.function(extractor.first_stage,
                     input_signature=[tf.TensorSpec([None, None, None, 3], tf.float32)])
    assert fn(tf.zeros([1, 48, 80, 3])).shape == (1, 3, 5, 128)
    with pytest.raises(tf.errors.InvalidArgumentError, match="at least 33"):
        fn(tf.zeros([1, 32, 80, 3]))


def test_bad_arguments():
    with pytest.raises(ValueError, match="8 or 16"):
        Extractor("resnet_tiny", 32)
    with pytest.raises(ValueError, match="resnet_v1_101"):
        Extractor("resnet_v1_18", 16)
    with pytest.raises(ValueError, match="at least 33"):
        Extractor("resnet_tiny", 16).first_stage(tf.zeros([1, 32, 64, 3]))
    with pytest.raises(ValueError, match="layout"):
        Extractor("resnet_tiny", 16).checkpoint_variable_map("slim")


@pytest.mark.parametrize("batch_norm_trainable", [False, True])
def test_gradients_reach_every_trainable_weight(batch_norm_trainable):
    extractor = Extractor("resnet_tiny", 8, batch_norm_trainable=batch_norm_trainable)
    images = tf.random.uniform([2, 40, 40, 3], -100, 100, seed=2)
    with tf.GradientTape() as tape:
        features = extractor.first_stage(images, training=True)
        crops = tf.image.resize(features, [7, 7])
        loss = tf.reduce_sum(tf.square(extractor.second_stage(crops, training=True)))
    grads = tape.gradient(loss, extractor.trainable_weights)
    assert len(grads) == (3 if batch_norm_trainable else 1) * 17
    assert all(g is not None and float(tf.reduce_sum(tf.abs(g))) > 0 for g in grads)


def test_object_based_checkpoint_round_trip(tmp_path):
    source, target = Extractor("resnet_tiny", 8), Extractor("resnet_tiny", 8)
    values = ref.randomize(source.slim_variables(), seed=4)
    path = tf.train.Checkpoint(extractor=source).write(str(tmp_path / "ckpt"))
    tf.train.Checkpoint(extractor=target).read(path).assert_consumed()
    for name, variable in target.slim_variables().items():
        np.testing.assert_array_equal(variable.numpy(), values[name])
