"""Config -> model: a ``DetectionModel`` proto's ``faster_rcnn`` section turned into ``MaskRCNN``.

``number_of_stages: 2`` builds Faster R-CNN (boxes only), ``3`` Mask R-CNN (boxes and masks of
the final detections). Every field that the configs of the ResNet kind use is honoured; fields
that only choose an implementation in the OD API (``use_static_shapes``,
``use_matmul_crop_and_resize``, ``use_matmul_gather_in_matcher``, ``use_static_balanced_label_
sampler``, ``use_partitioned_nms_in_first_stage``, ``use_combined_nms_in_first_stage``,
``inplace_batchnorm_update``, NMS ``use_static_shapes`` / ``use_partitioned_nms`` /
``use_combined_nms`` / ``use_hard_nms`` / ``use_cpu_nms``) change nothing here: this model
always uses static shapes. Anything else that would change the model but is not implemented is
refused with ``ValueError("<field>: not supported: X (supported: ...)")``: what the model
supports is decided in ``config.supported``, the table that the config checks read too, so both
refuse a config for the same reason. Masks need ``number_of_stages: 3`` and
``predict_instance_masks: true``; either alone builds a boxes-only model, with a warning.
"""

from __future__ import annotations

import logging

from object_detection.builders import hyperparams_builder
from object_detection.config import supported
from object_detection.core import anchor_generator as anchor_lib
from object_detection.core import precision as precision_lib
from object_detection.core.hyperparams import LayerHyperparams, default_hyperparams
from object_detection.meta_architectures.box_head import BoxClassifierHead
from object_detection.meta_architectures.mask_head import MaskHead
from object_detection.meta_architectures.mask_rcnn import (
    FirstStageSettings,
    MaskRCNN,
    SecondStageSettings,
)
from object_detection.meta_architectures.rpn_head import RPNHead
from object_detection.models.faster_rcnn_resnet_v1_feature_extractor import (
    FasterRcnnResnetV1FeatureExtractor,
)
from object_detection.protos import faster_rcnn_pb2, model_pb2, post_processing_pb2

logger = logging.getLogger(__name__)

_P = supported.P
_SCORE_CONVERTERS = {
    post_processing_pb2.PostProcessing.SOFTMAX: "softmax",
    post_processing_pb2.PostProcessing.SIGMOID: "sigmoid",
    post_processing_pb2.PostProcessing.IDENTITY: "identity",
}


def build(model_config: model_pb2.DetectionModel, is_training: bool, *,
          seed: int | None = None, add_groundtruth_to_proposals: bool = False,
          precision: str = precision_lib.FLOAT32) -> MaskRCNN:
    """Builds the model of ``model_config`` (the pipeline's ``model`` message).

    ``is_training`` is kept on the model (``model.is_training``); training itself is chosen
    per call. ``seed`` seeds the samplers. ``precision`` "float32" or "bfloat16" (mixed:
    every layer under Keras' "mixed_bfloat16" policy, float32 variables and outputs; a warning
    where this machine has no fast bfloat16), kept as ``model.precision``. Raises ValueError
    for what cannot be built.
    """
    policy = precision_lib.dtype_policy(precision)
    precision_lib.warn_if_slow(precision)
    problems = supported.model_problems(model_config)
    if problems:
        raise supported.error(problems[0])
    for warning in supported.mask_warnings(model_config):
        logger.warning("%s", warning)
    model = _build_faster_rcnn(model_config.faster_rcnn, supported.predicts_masks(model_config),
                               seed, add_groundtruth_to_proposals, policy)
    model.is_training = is_training
    model.precision = precision
    return model


def _build_faster_rcnn(config: faster_rcnn_pb2.FasterRcnn, masks: bool, seed: int | None,
                       add_groundtruth_to_proposals: bool, policy) -> MaskRCNN:
    feature_extractor = build_feature_extractor(config.feature_extractor, policy)
    anchors = anchor_lib.from_config(config.first_stage_anchor_generator.grid_anchor_generator)
    rpn_head = RPNHead(
        anchors.num_anchors_per_location(),
        _hyperparams(config, "first_stage_box_predictor_conv_hyperparams"),
        kernel_size=config.first_stage_box_predictor_kernel_size,
        depth=config.first_stage_box_predictor_depth,
        atrous_rate=config.first_stage_atrous_rate, dtype=policy)
    predictor = config.second_stage_box_predictor.mask_rcnn_box_predictor
    box_head = BoxClassifierHead(
        config.num_classes, _hyperparams(predictor, "fc_hyperparams", supported.MASK_PREDICTOR),
        use_dropout=predictor.use_dropout,
        dropout_keep_probability=predictor.dropout_keep_probability,
        share_box_across_classes=predictor.share_box_across_classes, dtype=policy)
    mask_head = _build_mask_head(config, predictor, policy) if masks else None
    return MaskRCNN(config.num_classes, feature_extractor, anchors, rpn_head, box_head,
                    mask_head, _first_stage_settings(config), _second_stage_settings(config),
                    add_groundtruth_to_proposals=add_groundtruth_to_proposals, seed=seed)


def build_feature_extractor(config: faster_rcnn_pb2.FasterRcnnFeatureExtractor, policy=None,
                            ) -> FasterRcnnResnetV1FeatureExtractor:
    """The ResNet v1 feature extractor of a ``feature_extractor`` message (the one builder of
    it). Refuses what ``config.supported`` refuses there (type, FPN, overridden hyperparams,
    stride) with ``ValueError("model.faster_rcnn.feature_extractor.<field>: not supported:
    ...")``. Batch norm trains as ``batch_norm_trainable`` says whenever the model is called
    with ``training=True`` (the model is built alike for training and for inference; an
    inference call uses the moving statistics); no weight decay on the backbone, as the OD API
    builder passes none. ``policy``: the Keras dtype policy (None: float32)."""
    problems = supported.feature_extractor_problems(config)
    if problems:
        raise supported.error(problems[0])
    return FasterRcnnResnetV1FeatureExtractor(
        depth=supported.FEATURE_EXTRACTORS[config.type],
        first_stage_features_stride=config.first_stage_features_stride,
        batch_norm_trainable=config.batch_norm_trainable, dtype=policy)


def _build_mask_head(config: faster_rcnn_pb2.FasterRcnn, predictor, policy) -> MaskHead:
    return MaskHead(
        config.num_classes, _hyperparams(predictor, "conv_hyperparams", supported.MASK_PREDICTOR),
        mask_height=predictor.mask_height, mask_width=predictor.mask_width,
        num_conv_layers=predictor.mask_prediction_num_conv_layers,
        conv_depth=predictor.mask_prediction_conv_depth,
        masks_are_class_agnostic=predictor.masks_are_class_agnostic,
        convolve_then_upsample=predictor.convolve_then_upsample_masks, dtype=policy)


def _hyperparams(message, field: str, where: str = _P) -> LayerHyperparams:
    if not message.HasField(field):
        logger.warning("%s.%s is not set: using Glorot uniform initialization, no "
                       "regularization", where, field)
        return default_hyperparams()
    return hyperparams_builder.build(getattr(message, field), f"{where}.{field}")


def _first_stage_settings(config: faster_rcnn_pb2.FasterRcnn) -> FirstStageSettings:
    return FirstStageSettings(
        minibatch_size=config.first_stage_minibatch_size,
        positive_balance_fraction=config.first_stage_positive_balance_fraction,
        nms_score_threshold=config.first_stage_nms_score_threshold,
        nms_iou_threshold=config.first_stage_nms_iou_threshold,
        max_proposals=config.first_stage_max_proposals,
        localization_loss_weight=config.first_stage_localization_loss_weight,
        objectness_loss_weight=config.first_stage_objectness_loss_weight,
        clip_anchors_to_image=config.clip_anchors_to_image)


def _second_stage_settings(config: faster_rcnn_pb2.FasterRcnn) -> SecondStageSettings:
    post = config.second_stage_post_processing
    nms = post.batch_non_max_suppression
    loss_scale = 1.0
    if config.HasField("second_stage_classification_loss"):
        loss_scale = config.second_stage_classification_loss.weighted_softmax.logit_scale
    return SecondStageSettings(
        initial_crop_size=config.initial_crop_size,
        maxpool_kernel_size=config.maxpool_kernel_size,
        maxpool_stride=config.maxpool_stride,
        batch_size=config.second_stage_batch_size,
        balance_fraction=config.second_stage_balance_fraction,
        localization_loss_weight=config.second_stage_localization_loss_weight,
        classification_loss_weight=config.second_stage_classification_loss_weight,
        mask_loss_weight=config.second_stage_mask_prediction_loss_weight,
        classification_loss_logit_scale=loss_scale,
        score_converter=_SCORE_CONVERTERS[post.score_converter],
        logit_scale=post.logit_scale,
        score_threshold=nms.score_threshold,
        iou_threshold=nms.iou_threshold,
        max_detections_per_class=nms.max_detections_per_class,
        max_total_detections=nms.max_total_detections)
