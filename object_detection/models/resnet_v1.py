"""ResNet v1 (bottleneck, batch norm after every conv) in the TF-slim layout, as Keras layers.

Same network, padding and variable names as TF-slim's ``nets/resnet_v1.py`` so that TF1
checkpoints (ImageNet classification or OD API detection) load name by name:

* a unit ("bottleneck_v1") is ``conv1`` 1x1 -> ``conv2`` 3x3 (carries the unit's stride and
  atrous rate) -> ``conv3`` 1x1 (no ReLU), plus a shortcut (1x1 conv ``shortcut`` with BN when
  the depth changes, otherwise the input subsampled by the stride); ReLU after the sum;
* a block's stride sits on its LAST unit;
* strided convolutions with kernel > 1 pad explicitly (slim ``conv2d_same``: pad
  ``(k_eff - 1) // 2`` before, the rest after, then VALID); everything else is SAME;
* the root is ``conv1`` 7x7/2 (conv2d_same) + max pool 3x3/2 SAME;
* batch norm: epsilon 1e-5, decay 0.997, with gamma; convs followed by BN have no bias;
* atrous (output_stride): once the running stride reaches the target, later units run with
  stride 1 and their stride multiplies the dilation rate of the units after them (slim
  ``stack_blocks_dense``); see :func:`plan_units`.

Variables are created eagerly in the constructors, so ``slim_variables()`` (slim name relative
to the network scope -> variable) is complete before the first call. Tensors are NHWC; a layer
built with a ``dtype`` policy (``core.precision``) computes in its compute dtype (bfloat16
under "mixed_bfloat16") with float32 variables.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import keras
import tensorflow as tf

BATCH_NORM_EPSILON = 1e-5
BATCH_NORM_DECAY = 0.997
UNIT_SCOPE = "bottleneck_v1"


@dataclass(frozen=True)
class UnitSpec:
    """One bottleneck unit: output depth, bottleneck depth, stride (on its 3x3 conv)."""

    depth: int
    depth_bottleneck: int
    stride: int


@dataclass(frozen=True)
class BlockSpec:
    """A named block ("block1".."block4") of bottleneck units."""

    name: str
    units: tuple[UnitSpec, ...]

    @property
    def depth(self) -> int:
        return self.units[-1].depth


@dataclass(frozen=True)
class ResnetV1Spec:
    """A ResNet v1: its slim scope name, the root conv depth and its blocks."""

    name: str
    root_depth: int
    blocks: tuple[BlockSpec, ...]


def resnet_v1_block(name: str, base_depth: int, num_units: int, stride: int) -> BlockSpec:
    """A block of ``num_units`` units of depth ``4 * base_depth``; the stride on the last unit."""
    units = [UnitSpec(4 * base_depth, base_depth, 1) for _ in range(num_units - 1)]
    units.append(UnitSpec(4 * base_depth, base_depth, stride))
    return BlockSpec(name, tuple(units))


def _standard_spec(name: str, units: tuple[int, int, int, int], width: int = 64) -> ResnetV1Spec:
    """ResNet v1 with root depth ``width``, blocks of base depth width * (1, 2, 4, 8)."""
    strides = (2, 2, 2, 1)  # slim: block4 keeps the resolution
    blocks = tuple(resnet_v1_block(f"block{i + 1}", width * 2 ** i, n, s)
                   for i, (n, s) in enumerate(zip(units, strides)))
    return ResnetV1Spec(name, width, blocks)


# "resnet_tiny" is this project's CPU network (quickstart, tests): the same layout with one unit
# per block and 1/8 of the width (root 8, block outputs 32, 64, 128, 256 channels).
RESNET_SPECS: dict[str, ResnetV1Spec] = {
    "resnet_v1_50": _standard_spec("resnet_v1_50", (3, 4, 6, 3)),
    "resnet_v1_101": _standard_spec("resnet_v1_101", (3, 4, 23, 3)),
    "resnet_tiny": _standard_spec("resnet_tiny", (1, 1, 1, 1), width=8),
}


def get_spec(name: str) -> ResnetV1Spec:
    """The spec called ``name``; ValueError listing the known ones otherwise."""
    if name not in RESNET_SPECS:
        raise ValueError(f"unknown ResNet {name!r} (supported: {', '.join(RESNET_SPECS)})")
    return RESNET_SPECS[name]


@dataclass(frozen=True)
class UnitPlan:
    """How one unit runs: the stride and atrous rate of its 3x3 conv."""

    stride: int
    rate: int


def plan_units(blocks: tuple[BlockSpec, ...], output_stride: int | None,
               input_stride: int = 1) -> list[list[UnitPlan]]:
    """Per block, per unit, the (stride, rate) slim's ``stack_blocks_dense`` would use.

    ``input_stride`` is the stride of the blocks' input relative to the image (4 after the
    root). ``output_stride`` None keeps every nominal stride. Raises ValueError when the target
    cannot be reached exactly.
    """
    if output_stride is not None and output_stride % input_stride:
        raise ValueError(f"output_stride {output_stride} is not a multiple of the input "
                         f"stride {input_stride}")
    current, rate, plans = input_stride, 1, []
    for block in blocks:
        plan = []
        for unit in block.units:
            if output_stride is not None and current == output_stride:
                plan.append(UnitPlan(1, rate))
                rate *= unit.stride
            else:
                plan.append(UnitPlan(unit.stride, 1))
                current *= unit.stride
                if output_stride is not None and current > output_stride:
                    raise ValueError(f"output_stride {output_stride} cannot be reached")
        plans.append(plan)
    if output_stride is not None and current != output_stride:
        raise ValueError(f"output_stride {output_stride} cannot be reached (nominal stride "
                         f"of these blocks is {current})")
    return plans


def conv2d_same(inputs: tf.Tensor, kernel: tf.Tensor, stride: int, rate: int = 1) -> tf.Tensor:
    """Slim's ``conv2d_same`` with a given kernel [k, k, C_in, C_out] on NHWC ``inputs``.

    Pads ``(k_eff - 1) // 2`` before and the rest after (k_eff = k + (k - 1)(rate - 1)), then
    convolves VALID: at stride 1 that is TF's SAME, and at stride > 1 the padding does not
    depend on the input size (unlike TF's SAME). Output size ceil(size / stride). Undilated
    stride-1 convolutions are plain SAME ones. The padding is written out for dilated kernels
    so that exported graphs carry explicit pads, which every runtime takes (ONNX Runtime's CPU
    Conv refuses ``auto_pad=SAME_UPPER`` with dilations); explicit padding inside
    ``tf.nn.conv2d`` would do the same, but TF has no CPU gradient for it with dilations.
    """
    k = int(kernel.shape[0])
    if stride == 1 and (rate == 1 or k == 1):
        return tf.nn.conv2d(inputs, kernel, 1, "SAME")
    k_eff = k + (k - 1) * (rate - 1)
    pad_begin = (k_eff - 1) // 2
    pad_end = k_eff - 1 - pad_begin
    padded = tf.pad(inputs, [[0, 0], [pad_begin, pad_end], [pad_begin, pad_end], [0, 0]])
    return tf.nn.conv2d(padded, kernel, stride, "VALID", dilations=rate)


def subsample(inputs: tf.Tensor, factor: int) -> tf.Tensor:
    """Every ``factor``-th row and column from the first (slim's 1x1 max pool with stride)."""
    return inputs if factor == 1 else inputs[:, ::factor, ::factor, :]


class ConvBatchNorm(keras.layers.Layer):
    """A bias-free conv (slim ``conv2d`` with ``normalizer_fn=batch_norm``), BN, optional ReLU.

    Variables (slim names relative to the conv's scope): ``weights`` [k, k, C_in, C_out],
    ``BatchNorm/{gamma,beta,moving_mean,moving_variance}`` [C_out].
    Batch norm uses batch statistics (and updates the moving ones with decay 0.997) only when
    ``batch_norm_trainable`` and ``training``; otherwise the moving statistics. gamma and beta
    are trainable only when ``batch_norm_trainable``.
    """

    def __init__(self, in_depth: int, out_depth: int, kernel_size: int, stride: int = 1,
                 rate: int = 1, relu: bool = True, same_padding: bool = False,
                 batch_norm_trainable: bool = False, weight_decay: float = 0.0,
                 name: str | None = None, dtype=None):
        # autocast off: the kernel is folded with the batch norm in float32, then cast.
        super().__init__(name=name, dtype=dtype, autocast=False)
        self.stride, self.rate, self.relu = stride, rate, relu
        self.same_padding = same_padding
        self.batch_norm_trainable = batch_norm_trainable
        regularizer = keras.regularizers.L2(weight_decay / 2.0) if weight_decay else None
        self.kernel = self.add_weight(
            shape=(kernel_size, kernel_size, in_depth, out_depth), name="weights",
            initializer=keras.initializers.VarianceScaling(2.0, "fan_in", "truncated_normal"),
            regularizer=regularizer)
        self.gamma = self.add_weight(shape=(out_depth,), name="gamma", initializer="ones",
                                     trainable=batch_norm_trainable)
        self.beta = self.add_weight(shape=(out_depth,), name="beta", initializer="zeros",
                                    trainable=batch_norm_trainable)
        self.moving_mean = self.add_weight(shape=(out_depth,), name="moving_mean",
                                           initializer="zeros", trainable=False,
                                           aggregation="mean")
        self.moving_variance = self.add_weight(shape=(out_depth,), name="moving_variance",
                                               initializer="ones", trainable=False,
                                               aggregation="mean")
        self.built = True

    def slim_variables(self) -> dict[str, keras.Variable]:
        """Slim names relative to this conv's scope -> variables."""
        return {"weights": self.kernel, "BatchNorm/gamma": self.gamma,
                "BatchNorm/beta": self.beta, "BatchNorm/moving_mean": self.moving_mean,
                "BatchNorm/moving_variance": self.moving_variance}

    def _convolve(self, inputs: tf.Tensor, kernel: tf.Tensor) -> tf.Tensor:
        if self.same_padding:
            return conv2d_same(inputs, kernel, self.stride, self.rate)
        if self.stride > 1 and self.rate > 1:
            raise ValueError("a strided convolution cannot also be atrous")
        if self.stride > 1 and kernel.shape[0] == kernel.shape[1] == 1:
            # A 1x1 "SAME" convolution of stride s reads pixels 0, s, 2s, ...: subsample, then
            # convolve with stride 1. Same maths; it also avoids a oneDNN CPU bug that corrupts
            # the heap in the kernel gradient of strided 1x1 convolutions with few channels.
            return tf.nn.conv2d(inputs[:, ::self.stride, ::self.stride], kernel, 1, "SAME")
        if self.stride == 1:
            return conv2d_same(inputs, kernel, 1, self.rate)
        return tf.nn.conv2d(inputs, kernel, self.stride, "SAME")

    def _batch_norm_train(self, x: tf.Tensor) -> tf.Tensor:
        """Batch statistics (in float32); updates the moving ones (variance unbiased, as
        fused BN)."""
        x = tf.cast(x, tf.float32)
        mean, variance = tf.nn.moments(x, axes=[0, 1, 2])
        count = tf.cast(tf.reduce_prod(tf.shape(x)[:3]), x.dtype)
        unbiased = variance * count / tf.maximum(count - 1.0, 1.0)
        self.moving_mean.assign(self.moving_mean * BATCH_NORM_DECAY
                                + mean * (1.0 - BATCH_NORM_DECAY))
        self.moving_variance.assign(self.moving_variance * BATCH_NORM_DECAY
                                    + unbiased * (1.0 - BATCH_NORM_DECAY))
        return tf.nn.batch_normalization(x, mean, variance, self.beta, self.gamma,
                                         BATCH_NORM_EPSILON)

    def call(self, inputs: tf.Tensor, training: bool | None = False) -> tf.Tensor:
        dtype = self.compute_dtype
        inputs = tf.cast(inputs, dtype)
        if self.batch_norm_trainable and bool(training):
            x = self._convolve(inputs, tf.cast(self.kernel, dtype))
            x = tf.cast(self._batch_norm_train(x), dtype)
        else:
            # Moving statistics folded into the kernel and a bias (in float32): conv + bias
            # (+ ReLU) is one fused op on oneDNN / cuDNN.
            scale = self.gamma * tf.math.rsqrt(self.moving_variance + BATCH_NORM_EPSILON)
            x = self._convolve(inputs, tf.cast(self.kernel * scale, dtype))
            x = tf.nn.bias_add(x, tf.cast(self.beta - self.moving_mean * scale, dtype))
        return tf.nn.relu(x) if self.relu else x


class Bottleneck(keras.layers.Layer):
    """Slim ``bottleneck_v1``: [B, H, W, C_in] -> [B, ceil(H/s), ceil(W/s), depth]."""

    def __init__(self, in_depth: int, unit: UnitSpec, plan: UnitPlan,
                 batch_norm_trainable: bool = False, weight_decay: float = 0.0,
                 name: str | None = None, dtype=None):
        super().__init__(name=name, dtype=dtype)
        self.stride = plan.stride
        common = {"batch_norm_trainable": batch_norm_trainable, "weight_decay": weight_decay,
                  "dtype": self.dtype_policy}
        self.shortcut = None
        if unit.depth != in_depth:
            self.shortcut = ConvBatchNorm(in_depth, unit.depth, 1, stride=plan.stride,
                                          relu=False, name="shortcut", **common)
        self.conv1 = ConvBatchNorm(in_depth, unit.depth_bottleneck, 1, name="conv1", **common)
        self.conv2 = ConvBatchNorm(unit.depth_bottleneck, unit.depth_bottleneck, 3,
                                   stride=plan.stride, rate=plan.rate, same_padding=True,
                                   name="conv2", **common)
        self.conv3 = ConvBatchNorm(unit.depth_bottleneck, unit.depth, 1, relu=False,
                                   name="conv3", **common)
        self.built = True

    def slim_variables(self) -> dict[str, keras.Variable]:
        """Names relative to the unit's ``bottleneck_v1`` scope -> variables."""
        convs = {"conv1": self.conv1, "conv2": self.conv2, "conv3": self.conv3}
        if self.shortcut is not None:
            convs["shortcut"] = self.shortcut
        return {f"{scope}/{key}": var for scope, conv in convs.items()
                for key, var in conv.slim_variables().items()}

    def call(self, inputs: tf.Tensor, training: bool = False) -> tf.Tensor:
        if self.shortcut is None:
            shortcut = subsample(inputs, self.stride)
        else:
            shortcut = self.shortcut(inputs, training=training)
        residual = self.conv1(inputs, training=training)
        residual = self.conv2(residual, training=training)
        residual = self.conv3(residual, training=training)
        return tf.nn.relu(shortcut + residual)


class ResnetV1Blocks(keras.layers.Layer):
    """A stack of ResNet v1 blocks, optionally preceded by the root (conv1 + pool1).

    ``call`` maps [B, H, W, C_in] to [B, H', W', blocks[-1].depth]; ``endpoints`` gives every
    intermediate output keyed by slim-style names relative to the network scope: "conv1",
    "pool1", "block1/unit_1", ..., "block1", ... (a block's key is its last unit's output).
    """

    def __init__(self, blocks: tuple[BlockSpec, ...], in_depth: int,
                 root_depth: int | None = None, output_stride: int | None = None,
                 batch_norm_trainable: bool = False, weight_decay: float = 0.0,
                 name: str | None = None, dtype=None):
        super().__init__(name=name, dtype=dtype)
        common = {"batch_norm_trainable": batch_norm_trainable, "weight_decay": weight_decay,
                  "dtype": self.dtype_policy}
        self.root = None
        input_stride = 1
        if root_depth is not None:
            if output_stride is not None and output_stride % 4:
                raise ValueError(f"output_stride must be a multiple of 4, got {output_stride}")
            self.root = ConvBatchNorm(in_depth, root_depth, 7, stride=2, same_padding=True,
                                      name="conv1", **common)
            in_depth, input_stride = root_depth, 4
        self.block_specs = blocks
        self.plans = plan_units(blocks, output_stride, input_stride)
        # Units are direct attributes ("block1_unit_1", ...): tf.train.Checkpoint does not
        # follow Keras 3's tracked lists, so layers kept in a list would not be saved.
        unit_names = []
        for block, plan in zip(blocks, self.plans):
            names = []
            for i, (unit, unit_plan) in enumerate(zip(block.units, plan)):
                names.append(f"{block.name}_unit_{i + 1}")
                setattr(self, names[-1], Bottleneck(in_depth, unit, unit_plan,
                                                    name=f"unit_{i + 1}", **common))
                in_depth = unit.depth
            unit_names.append(tuple(names))
        self._unit_names = tuple(unit_names)
        self.out_depth = in_depth
        self.built = True

    @property
    def units(self) -> list[list[Bottleneck]]:
        """The units, per block."""
        return [[getattr(self, name) for name in names] for names in self._unit_names]

    def slim_variables(self) -> dict[str, keras.Variable]:
        """Names relative to the network scope (e.g. "block1/unit_1/bottleneck_v1/conv1/
        weights", "conv1/BatchNorm/gamma") -> variables."""
        names = {}
        if self.root is not None:
            names.update({f"conv1/{k}": v for k, v in self.root.slim_variables().items()})
        for block, units in zip(self.block_specs, self.units):
            for i, unit in enumerate(units):
                prefix = f"{block.name}/unit_{i + 1}/{UNIT_SCOPE}"
                names.update({f"{prefix}/{k}": v for k, v in unit.slim_variables().items()})
        return names

    def _outputs(self, inputs: tf.Tensor, training: bool) -> Iterator[tuple[str, tf.Tensor]]:
        net = inputs
        if self.root is not None:
            net = self.root(net, training=training)
            yield "conv1", net
            net = tf.nn.max_pool2d(net, 3, 2, "SAME")
            yield "pool1", net
        for block, units in zip(self.block_specs, self.units):
            for i, unit in enumerate(units):
                net = unit(net, training=training)
                yield f"{block.name}/unit_{i + 1}", net
            yield block.name, net

    def endpoints(self, inputs: tf.Tensor, training: bool = False) -> dict[str, tf.Tensor]:
        """Every intermediate output, keyed as described in the class docstring."""
        return dict(self._outputs(inputs, training))

    def call(self, inputs: tf.Tensor, training: bool = False) -> tf.Tensor:
        net = inputs
        for _, net in self._outputs(inputs, training):
            pass
        return net
