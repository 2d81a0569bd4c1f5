"""The region proposal network's head: a shared conv, then objectness and box-code convs.

Layout as in the OD API's Faster R-CNN (and so its TF1 checkpoints):

* ``Conv``: ``kernel_size`` x ``kernel_size`` conv, ``depth`` channels, dilation
  ``atrous_rate``, "same" padding, ReLU6 (the OD API fixes ReLU6 here);
* ``FirstStageBoxPredictor/BoxEncodingPredictor``: 1x1 conv to ``A * 4`` box codes;
* ``FirstStageBoxPredictor/ClassPredictor``: 1x1 conv to ``A * 2`` logits (background, object).

Outputs are flattened location-major (row, column), then anchor, matching the anchor order of
``GridAnchorGenerator.generate``.
"""

from __future__ import annotations

import keras
import tensorflow as tf

from object_detection.core.hyperparams import LayerHyperparams

BOX_CODE_SIZE = 4


class RPNHead(keras.layers.Layer):
    """features [B, h, w, C] -> (box_encodings [B, h*w*A, 4], objectness [B, h*w*A, 2])."""

    def __init__(self, num_anchors_per_location: int, hyperparams: LayerHyperparams, *,
                 kernel_size: int = 3, depth: int = 512, atrous_rate: int = 1,
                 name: str = "rpn_head", **kwargs) -> None:
        super().__init__(name=name, **kwargs)
        self.num_anchors_per_location = num_anchors_per_location
        self.conv = keras.layers.Conv2D(
            depth, kernel_size, padding="same", dilation_rate=atrous_rate,
            activation=tf.nn.relu6, name="Conv", dtype=self.dtype_policy,
            **hyperparams.layer_kwargs())
        self.box_conv = keras.layers.Conv2D(
            num_anchors_per_location * BOX_CODE_SIZE, 1, name="BoxEncodingPredictor",
            dtype=self.dtype_policy, **hyperparams.layer_kwargs())
        self.class_conv = keras.layers.Conv2D(
            num_anchors_per_location * 2, 1, name="ClassPredictor",
            dtype=self.dtype_policy, **hyperparams.layer_kwargs())

    def call(self, features: tf.Tensor) -> tuple[tf.Tensor, tf.Tensor]:
        net = self.conv(features)
        batch = tf.shape(features)[0]
        boxes = tf.reshape(self.box_conv(net), [batch, -1, BOX_CODE_SIZE])
        logits = tf.reshape(self.class_conv(net), [batch, -1, 2])
        return boxes, logits

    def slim_variable_names(self) -> dict[str, keras.Variable]:
        """TF1 OD API checkpoint names (no scope prefix) -> this head's variables."""
        names = {}
        for prefix, layer in (("Conv", self.conv),
                              ("FirstStageBoxPredictor/BoxEncodingPredictor", self.box_conv),
                              ("FirstStageBoxPredictor/ClassPredictor", self.class_conv)):
            names[f"{prefix}/weights"] = layer.kernel
            names[f"{prefix}/biases"] = layer.bias
        return names
