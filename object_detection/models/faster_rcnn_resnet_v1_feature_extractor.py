"""Faster / Mask R-CNN ResNet v1 feature extractor (the OD API's, with slim variable names).

First stage (RPN features): root + block1..block3 at ``first_stage_features_stride`` (8 or 16,
atrous beyond it). Second stage (box classifier features): block4, three units of depth 2048
(scaled for "resnet_tiny"), stride 1, no dilation, on the cropped and max-pooled proposals.

Variable names, as in the OD API's checkpoints: ``FirstStageFeatureExtractor/<arch>/conv1/...``,
``FirstStageFeatureExtractor/<arch>/block{1,2,3}/...`` and
``SecondStageFeatureExtractor/<arch>/block4/...``; ImageNet classification checkpoints hold the
same names without the stage prefix. See ``object_detection.models.slim_checkpoint``.

Built from a config by ``builders.model_builder.build_feature_extractor`` (the one builder; the
supported types and strides are in ``config.supported``).
"""

from __future__ import annotations

import keras
import tensorflow as tf

from object_detection.config.supported import FEATURES_STRIDES
from object_detection.models import resnet_v1

CHANNEL_MEANS = (123.68, 116.779, 103.939)  # RGB, VGG-style
MIN_IMAGE_SIZE = 33
FIRST_STAGE_SCOPE = "FirstStageFeatureExtractor"
SECOND_STAGE_SCOPE = "SecondStageFeatureExtractor"
STAGES = ("first", "second")


class FasterRcnnResnetV1FeatureExtractor(keras.layers.Layer):
    """ResNet v1 feature extractor for two-stage detectors.

    Args:
      depth: "resnet_v1_50", "resnet_v1_101" or "resnet_tiny" (1 unit per block, 1/8 width).
      first_stage_features_stride: 8 or 16.
      batch_norm_trainable: batch norm uses batch statistics when called with training=True and
        its gamma/beta train; otherwise frozen (moving statistics, gamma/beta not trainable).
      dtype: a Keras dtype policy (``core.precision.dtype_policy``; None: float32); features
        come out in its compute dtype.
      weight_decay: L2 on conv weights, ``weight_decay * sum(w**2) / 2`` each (slim's
        l2_regularizer); the terms are in ``self.losses`` (and the enclosing model's).
    """

    def __init__(self, depth: str = "resnet_v1_101", first_stage_features_stride: int = 16,
                 batch_norm_trainable: bool = False, weight_decay: float = 0.0,
                 name: str | None = None, dtype=None):
        super().__init__(name=name or depth, dtype=dtype)
        if first_stage_features_stride not in FEATURES_STRIDES:
            raise ValueError("first_stage_features_stride must be 8 or 16, got "
                             f"{first_stage_features_stride}")
        spec = resnet_v1.get_spec(depth)
        self.architecture = spec.name
        self.first_stage_features_stride = first_stage_features_stride
        self.batch_norm_trainable = batch_norm_trainable
        common = {"batch_norm_trainable": batch_norm_trainable, "weight_decay": weight_decay,
                  "dtype": self.dtype_policy}
        self.first_stage_network = resnet_v1.ResnetV1Blocks(
            spec.blocks[:3], in_depth=3, root_depth=spec.root_depth,
            output_stride=first_stage_features_stride, name="first_stage", **common)
        block4 = spec.blocks[3]
        block4 = resnet_v1.BlockSpec(block4.name, tuple(
            resnet_v1.UnitSpec(u.depth, u.depth_bottleneck, 1) for u in block4.units))
        self.second_stage_network = resnet_v1.ResnetV1Blocks(
            (block4,), in_depth=self.first_stage_network.out_depth, name="second_stage",
            **common)
        self.built = True

    @property
    def first_stage_depth(self) -> int:
        """Channels of the first-stage features (1024 for resnet_v1_50/101)."""
        return self.first_stage_network.out_depth

    @property
    def second_stage_depth(self) -> int:
        """Channels of the second-stage features (2048 for resnet_v1_50/101)."""
        return self.second_stage_network.out_depth

    def preprocess(self, images: tf.Tensor) -> tf.Tensor:
        """float32 [B, H, W, 3] RGB 0..255 -> minus the channel means (other channel counts are
        returned unchanged, as in the OD API)."""
        if images.shape[-1] != 3:
            return images
        return images - tf.constant(CHANNEL_MEANS, images.dtype)

    def first_stage(self, preprocessed: tf.Tensor, training: bool = False) -> tf.Tensor:
        """[B, H, W, 3] -> [B, ceil(H/stride), ceil(W/stride), first_stage_depth] (block3)."""
        return self.first_stage_network(self._checked(preprocessed), training=training)

    def first_stage_endpoints(self, preprocessed: tf.Tensor,
                              training: bool = False) -> dict[str, tf.Tensor]:
        """All first-stage activations keyed "conv1", "pool1", "block1/unit_1", ..., "block3"."""
        return self.first_stage_network.endpoints(self._checked(preprocessed), training)

    def second_stage(self, cropped: tf.Tensor, training: bool = False) -> tf.Tensor:
        """[P, h, w, first_stage_depth] proposal crops -> [P, h, w, second_stage_depth]."""
        return self.second_stage_network(cropped, training=training)

    def call(self, preprocessed: tf.Tensor, training: bool = False) -> tf.Tensor:
        """Same as :meth:`first_stage`."""
        return self.first_stage(preprocessed, training=training)

    def slim_variables(self, stage: str | None = None) -> dict[str, keras.Variable]:
        """Slim names without the stage prefix ("resnet_v1_101/block1/unit_1/bottleneck_v1/
        conv1/weights") -> variables; ``stage`` "first" or "second" selects one stage."""
        if stage is not None and stage not in STAGES:
            raise ValueError(f"stage must be one of {STAGES} or None, got {stage!r}")
        networks = {"first": self.first_stage_network, "second": self.second_stage_network}
        return {f"{self.architecture}/{name}": var
                for key, network in networks.items() if stage in (None, key)
                for name, var in network.slim_variables().items()}

    def checkpoint_variable_map(self, layout: str = "detection") -> dict[str, keras.Variable]:
        """Checkpoint names -> variables. ``layout`` "detection" (OD API checkpoints: names
        under FirstStageFeatureExtractor/ and SecondStageFeatureExtractor/) or "classification"
        (slim ImageNet checkpoints: the bare slim names)."""
        if layout == "classification":
            return self.slim_variables()
        if layout != "detection":
            raise ValueError(f"layout must be 'detection' or 'classification', got {layout!r}")
        return {f"{scope}/{name}": var
                for stage, scope in zip(STAGES, (FIRST_STAGE_SCOPE, SECOND_STAGE_SCOPE))
                for name, var in self.slim_variables(stage).items()}

    @staticmethod
    def _checked(images: tf.Tensor) -> tf.Tensor:
        """``images`` [B, H, W, C], after checking H, W >= 33 (statically where known)."""
        if images.shape.rank != 4:
            raise ValueError(f"images must be [batch, height, width, channels], got shape "
                             f"{images.shape}")
        static = images.shape[1:3]
        if all(d is not None for d in static):
            if min(static) < MIN_IMAGE_SIZE:
                raise ValueError(f"image size must be at least {MIN_IMAGE_SIZE} in height and "
                                 f"width, got {tuple(static)}")
            return images
        size = tf.shape(images)[1:3]
        with tf.control_dependencies([tf.debugging.assert_greater_equal(
                size, MIN_IMAGE_SIZE, message="image size must be at least 33")]):
            return tf.identity(images)
