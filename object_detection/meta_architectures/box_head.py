"""The second stage's box classifier: average pool, then fully connected class and box layers.

As the OD API's ``MaskRCNNBoxPredictor`` (``mask_rcnn_box_predictor``): spatial mean of the ROI
features, optional dropout, then ``SecondStageBoxPredictor/ClassPredictor`` (``num_classes + 1``
logits, background first) and ``SecondStageBoxPredictor/BoxEncodingPredictor`` (one box code per
class, or one shared box when ``share_box_across_classes``), both linear.
"""

from __future__ import annotations

import keras
import tensorflow as tf

from object_detection.core.hyperparams import LayerHyperparams

BOX_CODE_SIZE = 4


class BoxClassifierHead(keras.layers.Layer):
    """features [P, h, w, C] -> (box_encodings [P, K, 4], class_logits [P, num_classes + 1]).

    K is ``num_classes``, or 1 with ``share_box_across_classes``.
    """

    def __init__(self, num_classes: int, hyperparams: LayerHyperparams, *,
                 use_dropout: bool = False, dropout_keep_probability: float = 0.5,
                 share_box_across_classes: bool = False, name: str = "box_classifier_head",
                 **kwargs) -> None:
        super().__init__(name=name, **kwargs)
        self.num_classes = num_classes
        self.num_boxes = 1 if share_box_across_classes else num_classes
        rate = 1.0 - dropout_keep_probability
        dropout = use_dropout and rate > 0
        self.box_dropout = keras.layers.Dropout(rate, dtype=self.dtype_policy) if dropout else None
        self.class_dropout = (keras.layers.Dropout(rate, dtype=self.dtype_policy) if dropout
                              else None)
        self.box_fc = keras.layers.Dense(self.num_boxes * BOX_CODE_SIZE,
                                         name="BoxEncodingPredictor",
                                         dtype=self.dtype_policy,
                                         **hyperparams.layer_kwargs())
        self.class_fc = keras.layers.Dense(num_classes + 1, name="ClassPredictor",
                                           dtype=self.dtype_policy,
                                         **hyperparams.layer_kwargs())

    def call(self, features: tf.Tensor, training: bool = False) -> tuple[tf.Tensor, tf.Tensor]:
        pooled = tf.reduce_mean(tf.cast(features, tf.float32), axis=[1, 2])
        box_in, class_in = pooled, pooled
        if self.box_dropout is not None:
            box_in = self.box_dropout(pooled, training=training)
            class_in = self.class_dropout(pooled, training=training)
        boxes = tf.reshape(self.box_fc(box_in), [-1, self.num_boxes, BOX_CODE_SIZE])
        return boxes, self.class_fc(class_in)

    def slim_variable_names(self) -> dict[str, keras.Variable]:
        """TF1 OD API checkpoint names (no scope prefix) -> this head's variables."""
        names = {}
        for prefix, layer in (("SecondStageBoxPredictor/BoxEncodingPredictor", self.box_fc),
                              ("SecondStageBoxPredictor/ClassPredictor", self.class_fc)):
            names[f"{prefix}/weights"] = layer.kernel
            names[f"{prefix}/biases"] = layer.bias
        return names
