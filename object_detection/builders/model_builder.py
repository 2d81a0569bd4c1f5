"""Config -> model: a ``DetectionModel`` proto's ``faster_rcnn`` section turned into ``MaskRCNN``.

``number_of_stages: 2`` builds Faster R-CNN (boxes only), ``3`` Mask R-CNN (boxes and masks of
the final detections). Every field that the configs of the ResNet kind use is honoured; fields
that only choose an implementation in the OD API (``use_static_shapes``,
``use_matmul_crop_and_resize``, ``use_matmul_gather_in_matcher``, ``use_static_balanced_label_
sampler``, ``use_partitioned_nms_in_first_stage``, ``use_combined_nms_in_first_stage``,
``inplace_batchnorm_update``, NMS ``use_static_shapes`` / ``use_partitioned_nms`` /
``use_combined_nms`` / ``use_hard_nms`` / ``use_cpu_nms``) change nothing here: this model
always uses static shapes. Anything else that would change the model but is not implemented is
refused with ``ValueError("<field>: not supported: X (supported: ...)")``.
"""

from __future__ import annotations

import logging

from object_detection.builders import hyperparams_builder
from object_detection.core import anchor_generator as anchor_lib
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

# feature_extractor.type -> ResNet of object_detection.models ("_keras": the OD API's TF2 names
# of the same architecture).
FEATURE_EXTRACTORS = {
    "faster_rcnn_resnet50": "resnet_v1_50",
    "faster_rcnn_resnet101": "resnet_v1_101",
    "faster_rcnn_resnet_tiny": "resnet_tiny",
    "faster_rcnn_resnet50_keras": "resnet_v1_50",
    "faster_rcnn_resnet101_keras": "resnet_v1_101",
}
SUPPORTED_STAGES = (2, 3)
_P = "model.faster_rcnn"
_SCORE_CONVERTERS = {
    post_processing_pb2.PostProcessing.SOFTMAX: "softmax",
    post_processing_pb2.PostProcessing.SIGMOID: "sigmoid",
    post_processing_pb2.PostProcessing.IDENTITY: "identity",
}


def _unsupported(field: str, value: object, supported: str) -> ValueError:
    return ValueError(f"{field}: not supported: {value} (supported: {supported})")


def build(model_config: model_pb2.DetectionModel, is_training: bool, *,
          seed: int | None = None, add_groundtruth_to_proposals: bool = False) -> MaskRCNN:
    """Builds the model of ``model_config`` (the pipeline's ``model`` message).

    ``is_training`` is kept on the model (``model.is_training``); training itself is chosen
    per call. ``seed`` seeds the samplers. Raises ValueError for what cannot be built.
    """
    kind = model_config.WhichOneof("model")
    if kind != "faster_rcnn":
        raise _unsupported("model", kind or "no model", "faster_rcnn")
    model = _build_faster_rcnn(model_config.faster_rcnn, seed, add_groundtruth_to_proposals)
    model.is_training = is_training
    return model


def _build_faster_rcnn(config: faster_rcnn_pb2.FasterRcnn, seed: int | None,
                       add_groundtruth_to_proposals: bool) -> MaskRCNN:
    _refuse_unsupported_fields(config)
    if config.num_classes < 1:
        raise ValueError(f"{_P}.num_classes must be >= 1, got {config.num_classes}")
    feature_extractor = _build_feature_extractor(config.feature_extractor)
    anchors = _build_anchor_generator(config)
    rpn_head = RPNHead(
        anchors.num_anchors_per_location(),
        _hyperparams(config, "first_stage_box_predictor_conv_hyperparams"),
        kernel_size=config.first_stage_box_predictor_kernel_size,
        depth=config.first_stage_box_predictor_depth,
        atrous_rate=config.first_stage_atrous_rate)
    predictor = _mask_rcnn_box_predictor(config)
    box_head = BoxClassifierHead(
        config.num_classes, _hyperparams(predictor, "fc_hyperparams",
                                         f"{_P}.second_stage_box_predictor.mask_rcnn_box_predictor"),
        use_dropout=predictor.use_dropout,
        dropout_keep_probability=predictor.dropout_keep_probability,
        share_box_across_classes=predictor.share_box_across_classes)
    mask_head = _build_mask_head(config, predictor)
    return MaskRCNN(config.num_classes, feature_extractor, anchors, rpn_head, box_head,
                    mask_head, _first_stage_settings(config), _second_stage_settings(config),
                    add_groundtruth_to_proposals=add_groundtruth_to_proposals, seed=seed)


def _refuse_unsupported_fields(config: faster_rcnn_pb2.FasterRcnn) -> None:
    if config.number_of_stages not in SUPPORTED_STAGES:
        raise _unsupported(f"{_P}.number_of_stages", config.number_of_stages,
                           ", ".join(map(str, SUPPORTED_STAGES)))
    for field in ("hard_example_miner", "context_config"):
        if config.HasField(field):
            raise _unsupported(f"{_P}.{field}", field, "leave it unset")
    for field in ("return_raw_detections_during_predict", "output_final_box_features",
                  "output_final_box_rpn_features"):
        if getattr(config, field):
            raise _unsupported(f"{_P}.{field}", "true", "false")
    if config.HasField("second_stage_classification_loss"):
        loss = config.second_stage_classification_loss.WhichOneof("classification_loss")
        if loss != "weighted_softmax":
            raise _unsupported(f"{_P}.second_stage_classification_loss", loss,
                               "weighted_softmax")
    post = config.second_stage_post_processing
    if post.HasField("calibration_config"):
        raise _unsupported(f"{_P}.second_stage_post_processing.calibration_config",
                           "calibration", "leave it unset")
    nms = post.batch_non_max_suppression
    where = f"{_P}.second_stage_post_processing.batch_non_max_suppression"
    if nms.use_class_agnostic_nms:
        raise _unsupported(f"{where}.use_class_agnostic_nms", "true", "false (per-class NMS)")
    if nms.soft_nms_sigma != 0.0:
        raise _unsupported(f"{where}.soft_nms_sigma", nms.soft_nms_sigma, "0 (hard NMS)")
    for field in ("initial_crop_size", "maxpool_kernel_size", "maxpool_stride"):
        if getattr(config, field) < 1:
            raise ValueError(f"{_P}.{field} must be >= 1, got {getattr(config, field)}")


def _build_feature_extractor(config: faster_rcnn_pb2.FasterRcnnFeatureExtractor
                             ) -> FasterRcnnResnetV1FeatureExtractor:
    where = f"{_P}.feature_extractor"
    if config.type not in FEATURE_EXTRACTORS:
        raise _unsupported(f"{where}.type", config.type or "no type",
                           ", ".join(FEATURE_EXTRACTORS))
    if config.HasField("fpn"):
        raise _unsupported(f"{where}.fpn", "feature pyramid", "leave it unset")
    if config.override_base_feature_extractor_hyperparams:
        raise _unsupported(f"{where}.override_base_feature_extractor_hyperparams", "true",
                           "false (the ResNet keeps its own hyperparameters)")
    if config.first_stage_features_stride not in (8, 16):
        raise _unsupported(f"{where}.first_stage_features_stride",
                           config.first_stage_features_stride, "8, 16")
    return FasterRcnnResnetV1FeatureExtractor(
        depth=FEATURE_EXTRACTORS[config.type],
        first_stage_features_stride=config.first_stage_features_stride,
        batch_norm_trainable=config.batch_norm_trainable)


def _build_anchor_generator(config: faster_rcnn_pb2.FasterRcnn) -> anchor_lib.GridAnchorGenerator:
    kind = config.first_stage_anchor_generator.WhichOneof("anchor_generator_oneof")
    if kind != "grid_anchor_generator":
        raise _unsupported(f"{_P}.first_stage_anchor_generator", kind or "no anchor generator",
                           "grid_anchor_generator")
    return anchor_lib.from_config(config.first_stage_anchor_generator.grid_anchor_generator)


def _mask_rcnn_box_predictor(config: faster_rcnn_pb2.FasterRcnn):
    where = f"{_P}.second_stage_box_predictor"
    kind = config.second_stage_box_predictor.WhichOneof("box_predictor_oneof")
    if kind != "mask_rcnn_box_predictor":
        raise _unsupported(where, kind or "no box predictor", "mask_rcnn_box_predictor")
    predictor = config.second_stage_box_predictor.mask_rcnn_box_predictor
    if predictor.box_code_size != 4:
        raise _unsupported(f"{where}.{kind}.box_code_size", predictor.box_code_size, "4")
    if predictor.predict_keypoints:
        raise _unsupported(f"{where}.{kind}.predict_keypoints", "true", "false")
    return predictor


def _build_mask_head(config: faster_rcnn_pb2.FasterRcnn, predictor) -> MaskHead | None:
    where = f"{_P}.second_stage_box_predictor.mask_rcnn_box_predictor"
    if config.number_of_stages == 3 and not predictor.predict_instance_masks:
        raise ValueError(f"{_P}.number_of_stages is 3 (masks) but {where}.predict_instance_masks "
                         "is false")
    if config.number_of_stages < 3:
        if predictor.predict_instance_masks:
            logger.warning("%s.predict_instance_masks is true but number_of_stages is %d: "
                           "building a boxes-only model (masks need number_of_stages: 3)",
                           where, config.number_of_stages)
        return None
    return MaskHead(
        config.num_classes, _hyperparams(predictor, "conv_hyperparams", where),
        mask_height=predictor.mask_height, mask_width=predictor.mask_width,
        num_conv_layers=predictor.mask_prediction_num_conv_layers,
        conv_depth=predictor.mask_prediction_conv_depth,
        masks_are_class_agnostic=predictor.masks_are_class_agnostic,
        convolve_then_upsample=predictor.convolve_then_upsample_masks)


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
