"""ResNet v1 building blocks: slim padding, stride placement, atrous plan, batch norm."""

from __future__ import annotations

import numpy as np
import pytest
import tensorflow as tf

from object_detection.models import resnet_v1
from object_detection.models.resnet_v1 import UnitPlan
from tests.models import resnet_reference as ref


def test_conv2d_same_pads_symmetrically_for_stride_2():
    x = tf.reshape(tf.range(1.0, 17.0), [1, 4, 4, 1])
    kernel = tf.ones([3, 3, 1, 1])
    out = resnet_v1.conv2d_same(x, kernel, stride=2)
    # Padded by 1 on every side: windows centred on (0,0), (0,2), (2,0), (2,2).
    np.testing.assert_allclose(out[0, :, :, 0], [[1 + 2 + 5 + 6, 2 + 3 + 4 + 6 + 7 + 8],
                                                 [5 + 6 + 9 + 10 + 13 + 14, 99]])
    # TF's SAME would pad 0 before / 1 after and centre the windows on (1,1), ... instead.
    tf_same = tf.nn.conv2d(x, kernel, 2, "SAME")
    assert not np.allclose(out, tf_same)


def test_conv2d_same_stride_1_and_atrous_padding():
    x = tf.reshape(tf.range(1.0, 26.0), [1, 5, 5, 1])
    kernel = tf.ones([3, 3, 1, 1])
    out = resnet_v1.conv2d_same(x, kernel, stride=1, rate=2)
    # Dilation 2: taps at offsets -2, 0, 2; at the centre (2,2) all 9 taps are inside.
    assert out.shape == (1, 5, 5, 1)
    xs = np.arange(1, 26).reshape(5, 5)
    assert out[0, 2, 2, 0] == xs[::2, ::2].sum()
    assert out[0, 0, 0, 0] == xs[0:3:2, 0:3:2].sum()
    # Strided and atrous: k_eff = 5 -> 2 padded before and after.
    out = resnet_v1.conv2d_same(x, kernel, stride=2, rate=2)
    np.testing.assert_allclose(out[0, :, :, 0], ref.conv(
        xs[None, :, :, None].astype(float), np.ones((3, 3, 1, 1)), 2, 2, (2, 2))[0, :, :, 0])


@pytest.mark.parametrize("size", [(7, 9), (8, 8)])
def test_dilated_stride_1_conv_equals_tf_same_and_has_explicit_pads(size):
    """The dilated stride-1 conv pads explicitly (for ONNX Runtime, which refuses
    auto_pad=SAME with dilations): same values and kernel gradient as TF's SAME dilated conv,
    on odd and even sizes, and no dilated SAME Conv2D left in the graph."""
    rng = np.random.default_rng(0)
    x = tf.constant(rng.normal(size=(2, *size, 3)), tf.float32)
    kernel = tf.Variable(rng.normal(size=(3, 3, 3, 4)), dtype=tf.float32)

    @tf.function
    def run(same: bool):
        with tf.GradientTape() as tape:
            out = (tf.nn.conv2d(x, kernel, 1, "SAME", dilations=2) if same
                   else resnet_v1.conv2d_same(x, kernel, stride=1, rate=2))
            loss = tf.reduce_sum(out * out)
        return out, tape.gradient(loss, kernel)

    (got, got_grad), (want, want_grad) = run(False), run(True)
    np.testing.assert_allclose(got, want, atol=1e-5)
    np.testing.assert_allclose(got_grad, want_grad, rtol=1e-5, atol=1e-3)
    graph = run.get_concrete_function(False).graph.as_graph_def()
    convs = [node for node in graph.node if node.op == "Conv2D"]
    assert convs and all(node.attr["padding"].s == b"VALID" for node in convs)


def test_plan_units_resnet_v1_101_output_stride_16_and_8():
    blocks = resnet_v1.get_spec("resnet_v1_101").blocks
    s, one = UnitPlan(2, 1), UnitPlan(1, 1)
    plan16 = resnet_v1.plan_units(blocks, 16, input_stride=4)
    assert plan16[0] == [one, one, s]
    assert plan16[1] == [one] * 3 + [s]
    assert plan16[2] == [one] * 23  # stride 16 reached: block3's stride becomes rate 2 ...
    assert plan16[3] == [UnitPlan(1, 2)] * 3  # ... for the units after it
    plan8 = resnet_v1.plan_units(blocks, 8, input_stride=4)
    assert plan8[0] == [one, one, s]
    assert plan8[1] == [one] * 4
    assert plan8[2] == [UnitPlan(1, 2)] * 23
    assert plan8[3] == [UnitPlan(1, 4)] * 3
    nominal = resnet_v1.plan_units(blocks, None, input_stride=4)
    assert [p[-1].stride for p in nominal] == [2, 2, 2, 1]


@pytest.mark.parametrize("output_stride", [2, 12, 64])
def test_plan_units_rejects_unreachable_output_stride(output_stride):
    with pytest.raises(ValueError, match="output_stride"):
        resnet_v1.plan_units(resnet_v1.get_spec("resnet_v1_50").blocks[:3], output_stride, 4)


def test_stride_lands_on_last_unit_of_block():
    blocks = (resnet_v1.resnet_v1_block("block1", 2, 2, 2),
              resnet_v1.resnet_v1_block("block2", 4, 3, 2))
    net = resnet_v1.ResnetV1Blocks(blocks, in_depth=3, root_depth=4)
    shapes = {k: tuple(v.shape) for k, v in net.endpoints(tf.zeros([1, 64, 48, 3])).items()}
    assert shapes == {"conv1": (1, 32, 24, 4), "pool1": (1, 16, 12, 4),
                      "block1/unit_1": (1, 16, 12, 8), "block1/unit_2": (1, 8, 6, 8),
                      "block1": (1, 8, 6, 8),
                      "block2/unit_1": (1, 8, 6, 16), "block2/unit_2": (1, 8, 6, 16),
                      "block2/unit_3": (1, 4, 3, 16), "block2": (1, 4, 3, 16)}
    assert [u.conv2.stride for u in net.units[1]] == [1, 1, 2]
    # Depth changes only in the first unit: only it has a projection shortcut.
    assert [u.shortcut is not None for u in net.units[1]] == [True, False, False]


def test_atrous_rates_are_built_into_the_3x3_convs():
    blocks = resnet_v1.get_spec("resnet_tiny").blocks[:3]
    net = resnet_v1.ResnetV1Blocks(blocks, in_depth=3, root_depth=8, output_stride=8)
    assert [(u[0].conv2.stride, u[0].conv2.rate) for u in net.units] == [(2, 1), (1, 1), (1, 2)]
    assert net(tf.zeros([1, 64, 64, 3])).shape == (1, 8, 8, 128)


def _conv_bn(trainable: bool) -> resnet_v1.ConvBatchNorm:
    layer = resnet_v1.ConvBatchNorm(2, 2, 1, relu=False, batch_norm_trainable=trainable)
    layer.kernel.assign(np.eye(2, dtype=np.float32)[None, None])
    layer.gamma.assign([2.0, 0.5])
    layer.beta.assign([1.0, -1.0])
    layer.moving_mean.assign([10.0, 20.0])
    layer.moving_variance.assign([4.0, 9.0])
    return layer


def test_frozen_batch_norm_uses_moving_statistics_even_when_training():
    layer = _conv_bn(trainable=False)
    x = tf.constant([[[[12.0, 26.0]], [[8.0, 20.0]]]])  # [1, 2, 1, 2]
    for training in (False, True):
        out = layer(x, training=training).numpy()
        expected = (x.numpy() - [10, 20]) / np.sqrt(np.array([4, 9]) + 1e-5) * [2, 0.5] + [1, -1]
        np.testing.assert_allclose(out, expected, rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(layer.moving_mean.numpy(), [10, 20])
    assert not layer.trainable_weights[1:]  # only the conv weights train
    assert [v.name for v in layer.trainable_weights] == ["weights"]


def test_trainable_batch_norm_uses_batch_statistics_and_updates_moving_ones():
    layer = _conv_bn(trainable=True)
    x = tf.constant([[[[12.0, 26.0]], [[8.0, 20.0]]]])
    out = layer(x, training=True).numpy()
    batch_mean, batch_var = np.array([10.0, 23.0]), np.array([4.0, 9.0])
    expected = (x.numpy() - batch_mean) / np.sqrt(batch_var + 1e-5) * [2, 0.5] + [1, -1]
    np.testing.assert_allclose(out, expected, rtol=1e-5)
    np.testing.assert_allclose(layer.moving_mean.numpy(),
                               0.997 * np.array([10, 20]) + 0.003 * batch_mean, rtol=1e-6)
    # Moving variance is updated with the unbiased batch variance (n / (n - 1), n = 2).
    np.testing.assert_allclose(layer.moving_variance.numpy(),
                               0.997 * np.array([4, 9]) + 0.003 * 2 * batch_var, rtol=1e-6)
    assert len(layer.trainable_weights) == 3


@pytest.mark.parametrize("plan", [UnitPlan(2, 1), UnitPlan(1, 2)])
@pytest.mark.parametrize("in_depth", [6, 16])
def test_bottleneck_matches_numpy_reference(plan, in_depth):
    unit = resnet_v1.Bottleneck(in_depth, resnet_v1.UnitSpec(16, 4, 2), plan)
    values = ref.randomize(unit.slim_variables(), seed=in_depth)
    assert ("shortcut/weights" in values) == (in_depth != 16)
    x = np.random.default_rng(1).normal(size=(2, 7, 6, in_depth)).astype(np.float32)
    scoped = {f"u/{k}": v for k, v in values.items()}
    expected = ref.bottleneck(x, scoped, "u", plan.stride, plan.rate)
    np.testing.assert_allclose(unit(tf.constant(x)).numpy(), expected, rtol=1e-4, atol=1e-4)
