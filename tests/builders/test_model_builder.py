"""Config -> model: settings carried over from the faster_rcnn section, and refusals."""

from __future__ import annotations

from pathlib import Path

import keras
import pytest

from object_detection import config as config_lib
from object_detection.builders import model_builder
from object_detection.meta_architectures.mask_rcnn import MaskRCNN
from tests.odapi_reference import REFERENCE_CONFIGS

CONFIGS = Path(__file__).resolve().parents[2] / "configs"
QUICKSTART = CONFIGS / "quickstart.config"
PUBLISHED = CONFIGS / "mask_rcnn_resnet101_atrous_pictorial_maps.config"


def _build(path: Path = QUICKSTART, *overrides: str) -> MaskRCNN:
    config = config_lib.load_pipeline_config(path, overrides)
    return model_builder.build(config.model, is_training=True)


def test_published_config_settings():
    model = _build(PUBLISHED)
    assert model.num_classes == 1 and model.mask_head is not None
    fe = model.feature_extractor
    assert (fe.architecture, fe.first_stage_features_stride, fe.batch_norm_trainable) == \
        ("resnet_v1_101", 8, False)
    anchors = model.anchor_generator
    assert anchors.scales == [0.25, 0.5, 1.0, 2.0] and anchors.aspect_ratios == [0.5, 1.0, 2.0]
    assert anchors.anchor_stride == [8.0, 8.0] and anchors.base_anchor_size == [256.0, 256.0]
    assert model.rpn_head.conv.dilation_rate == (2, 2)
    assert model.rpn_head.conv.kernel_size == (3, 3) and model.rpn_head.conv.filters == 512
    f = model.first_stage_settings
    assert (f.minibatch_size, f.positive_balance_fraction, f.max_proposals) == (256, 0.5, 300)
    assert (f.nms_score_threshold, f.localization_loss_weight, f.objectness_loss_weight) == \
        (0.0, 2.0, 1.0)
    assert f.nms_iou_threshold == pytest.approx(0.7)
    s = model.second_stage_settings
    assert (s.initial_crop_size, s.maxpool_kernel_size, s.maxpool_stride) == (14, 2, 2)
    assert (s.batch_size, s.balance_fraction, s.score_converter) == (64, 0.25, "softmax")
    assert (s.localization_loss_weight, s.classification_loss_weight, s.mask_loss_weight) == \
        (2.0, 1.0, 4.0)
    assert s.score_threshold == pytest.approx(0.3) and s.iou_threshold == pytest.approx(0.6)
    assert (s.max_detections_per_class, s.max_total_detections) == (100, 300)
    mask = model.mask_head
    assert (mask.mask_height, mask.mask_width, mask.num_conv_layers, mask.conv_depth) == \
        (33, 33, 4, 0)
    assert model.box_head.num_boxes == 1 and model.box_head.box_dropout is None


def test_quickstart_settings_and_initializers():
    model = _build(QUICKSTART)
    assert model.feature_extractor.architecture == "resnet_tiny"
    assert model.feature_extractor.batch_norm_trainable
    assert model.rpn_head.conv.filters == 128
    assert model.first_stage_settings.minibatch_size == 128
    assert model.first_stage_settings.max_proposals == 100
    assert model.second_stage_settings.batch_size == 32
    assert model.second_stage_settings.max_total_detections == 50
    assert (model.mask_head.mask_height, model.mask_head.num_conv_layers) == (15, 4)
    init = model.rpn_head.conv.kernel_initializer
    assert isinstance(init, keras.initializers.TruncatedNormal) and init.stddev == \
        pytest.approx(0.01)
    fc = model.box_head.class_fc.kernel_initializer
    assert isinstance(fc, keras.initializers.VarianceScaling)
    assert (fc.scale, fc.mode, fc.distribution) == (1.0, "fan_avg", "uniform")


def test_optional_predictor_settings():
    p = "model.faster_rcnn.second_stage_box_predictor.mask_rcnn_box_predictor"
    model = _build(QUICKSTART, f"{p}.share_box_across_classes=true", f"{p}.use_dropout=true",
                   f"{p}.dropout_keep_probability=0.6", f"{p}.masks_are_class_agnostic=true",
                   "model.faster_rcnn.clip_anchors_to_image=true",
                   "model.faster_rcnn.second_stage_post_processing.score_converter=SIGMOID",
                   "model.faster_rcnn.second_stage_post_processing.logit_scale=2.0")
    assert model.box_head.num_boxes == 1
    assert model.box_head.box_dropout.rate == pytest.approx(0.4)
    assert model.mask_head.num_masks == 1
    assert model.first_stage_settings.clip_anchors_to_image
    assert model.second_stage_settings.score_converter == "sigmoid"
    assert model.second_stage_settings.logit_scale == 2.0


def test_number_of_stages_2_builds_boxes_only(caplog):
    model = _build(QUICKSTART, "model.faster_rcnn.number_of_stages=2")
    assert model.mask_head is None and not model.predicts_masks
    assert "predict_instance_masks is true but number_of_stages is 2" in caplog.text


def test_number_of_stages_3_without_mask_prediction_builds_boxes_only(caplog):
    """The checks accepted this config and the builder refused it; now both accept it: masks
    need both switches, either alone gives a boxes-only model (with a warning)."""
    model = _build(QUICKSTART, "model.faster_rcnn.second_stage_box_predictor."
                               "mask_rcnn_box_predictor.predict_instance_masks=false")
    assert model.mask_head is None and not model.predicts_masks
    assert "number_of_stages is 3 but" in caplog.text and "predict_instance_masks" in caplog.text


def test_build_feature_extractor():
    """The one feature-extractor builder (moved here from models/, whose copy made batch norm
    frozen for is_training=False; the model is built alike for training and inference)."""
    from object_detection.protos import faster_rcnn_pb2

    config = faster_rcnn_pb2.FasterRcnnFeatureExtractor(
        type="faster_rcnn_resnet_tiny", first_stage_features_stride=8, batch_norm_trainable=True)
    extractor = model_builder.build_feature_extractor(config)
    assert (extractor.architecture, extractor.first_stage_features_stride) == ("resnet_tiny", 8)
    assert extractor.batch_norm_trainable
    with_fpn = faster_rcnn_pb2.FasterRcnnFeatureExtractor(type="faster_rcnn_resnet_tiny",
                                                           fpn={})
    with pytest.raises(ValueError, match=r"feature_extractor.fpn: not supported"):
        model_builder.build_feature_extractor(with_fpn)
    with pytest.raises(ValueError, match="not supported: .*faster_rcnn_inception_v2"):
        model_builder.build_feature_extractor(
            faster_rcnn_pb2.FasterRcnnFeatureExtractor(type="faster_rcnn_inception_v2"))
    with pytest.raises(ValueError, match=r"first_stage_features_stride: not supported: 32"):
        model_builder.build_feature_extractor(faster_rcnn_pb2.FasterRcnnFeatureExtractor(
            type="faster_rcnn_resnet50", first_stage_features_stride=32))


@pytest.mark.parametrize("override, message", [
    ("model.faster_rcnn.feature_extractor.type=faster_rcnn_inception_v2",
     (r"feature_extractor.type: not supported: faster_rcnn_inception_v2 \(supported: "
      r"faster_rcnn_resnet50, faster_rcnn_resnet101, faster_rcnn_resnet_tiny")),
    ("model.faster_rcnn.number_of_stages=1",
     r"number_of_stages: not supported: 1 \(supported: 2, 3\)"),
    ("model.faster_rcnn.first_stage_anchor_generator={multiscale_anchor_generator {}}",
     "not supported: multiscale_anchor_generator"),
    ("model.faster_rcnn.second_stage_box_predictor={rfcn_box_predictor {}}",
     r"not supported: rfcn_box_predictor \(supported: mask_rcnn_box_predictor\)"),
    ("model.faster_rcnn.hard_example_miner={}", "hard_example_miner: not supported"),
    ("model.faster_rcnn.feature_extractor.fpn={}", "fpn: not supported"),
    (("model.faster_rcnn.second_stage_post_processing.batch_non_max_suppression."
      "use_class_agnostic_nms=true"), "use_class_agnostic_nms: not supported"),
    ("model.faster_rcnn.second_stage_classification_loss={weighted_sigmoid {}}",
     r"not supported: weighted_sigmoid \(supported: weighted_softmax\)"),
    ("model.faster_rcnn.feature_extractor.first_stage_features_stride=32",
     r"first_stage_features_stride: not supported: 32 \(supported: 8, 16\)"),
])
def test_unsupported_settings_are_refused(override, message):
    with pytest.raises(ValueError, match=message):
        _build(QUICKSTART, override)


def test_non_faster_rcnn_models_are_refused():
    config = config_lib.load_pipeline_config(QUICKSTART)
    config.model.experimental_model.name = "my_model"
    with pytest.raises(ValueError, match=r"not supported: experimental_model \(supported: "
                                         r"faster_rcnn\)"):
        model_builder.build(config.model, is_training=False)


# ResNet v1 backbones ("inception_resnet" is Inception-ResNet v2, another network).
RESNET_REFERENCES = [p for p in REFERENCE_CONFIGS
                     if "resnet" in p.name and "inception" not in p.name]
OTHER_REFERENCES = [p for p in REFERENCE_CONFIGS if p not in RESNET_REFERENCES]


@pytest.mark.skipif(not RESNET_REFERENCES, reason="OD API reference configs not available")
@pytest.mark.parametrize("path", RESNET_REFERENCES, ids=lambda p: p.name)
def test_od_api_resnet_configs_build(path):
    config = config_lib.load_pipeline_config(path)
    model = model_builder.build(config.model, is_training=True)
    frcnn = config.model.faster_rcnn
    assert model.num_classes == frcnn.num_classes
    assert (model.mask_head is not None) == (frcnn.number_of_stages == 3)
    assert model.feature_extractor.first_stage_features_stride == \
        frcnn.feature_extractor.first_stage_features_stride


@pytest.mark.skipif(not OTHER_REFERENCES, reason="OD API reference configs not available")
@pytest.mark.parametrize("path", OTHER_REFERENCES, ids=lambda p: p.name)
def test_od_api_configs_of_other_backbones_are_refused(path):
    config = config_lib.load_pipeline_config(path)
    with pytest.raises(ValueError, match="feature_extractor.type: not supported"):
        model_builder.build(config.model, is_training=True)
