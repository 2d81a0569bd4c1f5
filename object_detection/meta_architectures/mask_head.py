"""The mask head of ``mask_rcnn_box_predictor``: upsample the ROI features, convs, mask logits.

As the OD API's ``MaskRCNNMaskHead``: the ROI features are resized bilinearly (corners aligned)
to ``mask_height`` x ``mask_width``, then ``num_conv_layers - 1`` 3x3 convs with the
hyperparams' activation, then a linear 3x3 conv to one mask per class (or one when
``masks_are_class_agnostic``). With ``convolve_then_upsample`` the convs run first and a
nearest-neighbour upsampling plus one more conv follows. The convs are named ``Conv``,
``Conv_1``, ... under ``SecondStageBoxPredictor`` in TF1 checkpoints.

A conv depth of 0 is chosen from the feature channels F and the classes K as the OD API does:
``2 ** round((2 log2 F + 3 log2 K) / 5)``.
"""

from __future__ import annotations

import math

import keras
import tensorflow as tf

from object_detection.core.hyperparams import LayerHyperparams


def automatic_conv_depth(num_feature_channels: int, num_classes: int) -> int:
    """The mask conv depth for ``mask_prediction_conv_depth: 0`` (weighted log average)."""
    log_depth = (2.0 * math.log2(num_feature_channels) + 3.0 * math.log2(num_classes)) / 5.0
    return int(2.0 ** round(log_depth))


class MaskHead(keras.layers.Layer):
    """features [P, h, w, C] -> mask logits [P, M, mask_height, mask_width] (M classes or 1)."""

    def __init__(self, num_classes: int, hyperparams: LayerHyperparams, *,
                 mask_height: int = 15, mask_width: int = 15, num_conv_layers: int = 2,
                 conv_depth: int = 256, masks_are_class_agnostic: bool = False,
                 convolve_then_upsample: bool = False, name: str = "mask_head",
                 **kwargs) -> None:
        super().__init__(name=name, **kwargs)
        if num_conv_layers < 1:
            raise ValueError(f"mask_prediction_num_conv_layers must be >= 1, got {num_conv_layers}")
        self.num_classes = num_classes
        self.mask_height = mask_height
        self.mask_width = mask_width
        self.num_conv_layers = num_conv_layers
        self.conv_depth = conv_depth
        self.num_masks = 1 if masks_are_class_agnostic else num_classes
        self.convolve_then_upsample = convolve_then_upsample
        self._hyperparams = hyperparams
        self.convs: list[keras.layers.Conv2D] = []

    def build(self, input_shape) -> None:
        depth = self.conv_depth or automatic_conv_depth(int(input_shape[-1]), self.num_classes)
        num_hidden = self.num_conv_layers - 1 + int(self.convolve_then_upsample)
        hp = self._hyperparams
        self.convs = [keras.layers.Conv2D(depth, 3, padding="same", activation=hp.activation,
                                          name=_slim_conv_name(i), dtype=self.dtype_policy,
                                          **hp.layer_kwargs())
                      for i in range(num_hidden)]
        self.convs.append(keras.layers.Conv2D(self.num_masks, 3, padding="same",
                                              name=_slim_conv_name(num_hidden),
                                              dtype=self.dtype_policy, **hp.layer_kwargs()))
        self.built = True

    @property
    def resolved_conv_depth(self) -> int:
        """Channels of the hidden convs (after the automatic choice); needs a built head."""
        return self.convs[0].filters if len(self.convs) > 1 else self.conv_depth

    def call(self, features: tf.Tensor) -> tf.Tensor:
        size = [self.mask_height, self.mask_width]
        net = features
        if not self.convolve_then_upsample:
            net = tf.compat.v1.image.resize_bilinear(net, size, align_corners=True)
        hidden = self.convs[:-1]
        if self.convolve_then_upsample:
            for conv in hidden[:-1]:
                net = conv(net)
            net = _nearest_upsample(net, self.mask_height, self.mask_width)
            net = hidden[-1](net)
        else:
            for conv in hidden:
                net = conv(net)
        logits = self.convs[-1](net)
        return tf.transpose(logits, [0, 3, 1, 2])

    def slim_variable_names(self) -> dict[str, keras.Variable]:
        """TF1 OD API checkpoint names (no scope prefix) -> this head's variables."""
        names = {}
        for conv in self.convs:
            names[f"SecondStageBoxPredictor/{conv.name}/weights"] = conv.kernel
            names[f"SecondStageBoxPredictor/{conv.name}/biases"] = conv.bias
        return names


def _slim_conv_name(index: int) -> str:
    return "Conv" if index == 0 else f"Conv_{index}"


def _nearest_upsample(net: tf.Tensor, height: int, width: int) -> tf.Tensor:
    """Repeats each cell by the integer factors mask size // feature size (OD API)."""
    h, w = net.shape[1], net.shape[2]
    if height % h or width % w:
        raise ValueError(f"convolve_then_upsample_masks needs the mask size {height}x{width} to "
                         f"be a multiple of the ROI feature size {h}x{w}")
    net = tf.repeat(net, height // h, axis=1)
    return tf.repeat(net, width // w, axis=2)
