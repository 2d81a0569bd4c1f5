"""The one table of what the model supports (config.supported): the config checks, the model
builder and the evaluation agree on every row."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from object_detection import config as config_lib
from object_detection.builders import model_builder
from object_detection.config import ConfigError, supported
from object_detection.evaluation import model_evaluator

QUICKSTART = Path(__file__).resolve().parents[1] / "configs" / "quickstart.config"
P = supported.P
MASK = supported.MASK_PREDICTOR

# One override per row of supported.MODEL_RULES that breaks that row (and no other).
BREAKING = {
    "model": "model={experimental_model {name: 'mine'}}",
    f"{P}.num_classes": f"{P}.num_classes=0",
    f"{P}.number_of_stages": f"{P}.number_of_stages=1",
    f"{P}.hard_example_miner": f"{P}.hard_example_miner={{}}",
    f"{P}.context_config": f"{P}.context_config={{}}",
    f"{P}.return_raw_detections_during_predict": f"{P}.return_raw_detections_during_predict=true",
    f"{P}.output_final_box_features": f"{P}.output_final_box_features=true",
    f"{P}.output_final_box_rpn_features": f"{P}.output_final_box_rpn_features=true",
    f"{P}.second_stage_classification_loss":
        f"{P}.second_stage_classification_loss={{weighted_sigmoid {{}}}}",
    f"{P}.second_stage_post_processing.calibration_config":
        f"{P}.second_stage_post_processing.calibration_config={{}}",
    f"{supported.NMS}.use_class_agnostic_nms": f"{supported.NMS}.use_class_agnostic_nms=true",
    f"{supported.NMS}.soft_nms_sigma": f"{supported.NMS}.soft_nms_sigma=0.5",
    f"{P}.initial_crop_size": f"{P}.initial_crop_size=0",
    f"{P}.maxpool_kernel_size": f"{P}.maxpool_kernel_size=0",
    f"{P}.maxpool_stride": f"{P}.maxpool_stride=0",
    f"{P}.feature_extractor.type": f"{P}.feature_extractor.type=faster_rcnn_inception_v2",
    f"{P}.feature_extractor.fpn": f"{P}.feature_extractor.fpn={{}}",
    f"{P}.feature_extractor.override_base_feature_extractor_hyperparams":
        f"{P}.feature_extractor.override_base_feature_extractor_hyperparams=true",
    f"{P}.feature_extractor.first_stage_features_stride":
        f"{P}.feature_extractor.first_stage_features_stride=32",
    f"{P}.first_stage_anchor_generator":
        f"{P}.first_stage_anchor_generator={{multiscale_anchor_generator {{}}}}",
    f"{P}.first_stage_box_predictor_conv_hyperparams":
        f"{P}.first_stage_box_predictor_conv_hyperparams.batch_norm={{}}",
    supported.PREDICTOR: f"{supported.PREDICTOR}={{rfcn_box_predictor {{}}}}",
    f"{MASK}.box_code_size": f"{MASK}.box_code_size=5",
    f"{MASK}.predict_keypoints": f"{MASK}.predict_keypoints=true",
    f"{MASK}.fc_hyperparams": f"{MASK}.fc_hyperparams.batch_norm={{}}",
    f"{MASK}.conv_hyperparams": f"{MASK}.conv_hyperparams.batch_norm={{}}",
    f"{MASK}.mask_height": f"{MASK}.mask_height=0",
    f"{MASK}.mask_width": f"{MASK}.mask_width=0",
}


def _config(*overrides: str):
    return config_lib.load_pipeline_config(QUICKSTART, overrides)


def test_every_row_has_a_breaking_example():
    assert sorted(BREAKING) == sorted(rule.field for rule in supported.MODEL_RULES)


def test_a_config_the_checks_accept_builds():
    config = _config()
    config_lib.validate(config)
    model = model_builder.build(config.model, is_training=True)
    assert model.predicts_masks == config_lib.predicts_masks(config)


@pytest.mark.parametrize("rule", supported.MODEL_RULES, ids=lambda rule: rule.field)
def test_checks_and_builder_refuse_each_row_for_the_same_reason(rule):
    config = _config(BREAKING[rule.field])
    problems = supported.model_problems(config.model)
    assert [field for field, _ in problems] == [rule.field]
    with pytest.raises(ConfigError) as checked:
        config_lib.validate(config)
    assert problems[0] in checked.value.problems
    with pytest.raises(ValueError) as built:
        model_builder.build(config.model, is_training=True)
    assert str(built.value) == f"{problems[0][0]}: {problems[0][1]}"


@pytest.mark.parametrize("overrides, warning", [
    ([f"{P}.number_of_stages=2"], "predict_instance_masks is true but number_of_stages is 2"),
    ([f"{MASK}.predict_instance_masks=false"], "number_of_stages is 3 but"),
])
def test_one_mask_switch_alone_gives_a_boxes_only_model_everywhere(overrides, warning, caplog):
    """Checks, input and builder all read ``supported.predicts_masks`` (the checks accepted
    stages 3 without masks and refused masks with stages 2, the builder the other way round)."""
    config = _config(*overrides, "eval_config.metrics_set=[coco_detection_metrics]")
    config_lib.validate(config)
    assert not config_lib.predicts_masks(config)
    with caplog.at_level(logging.WARNING):
        model = model_builder.build(config.model, is_training=True)
    assert model.mask_head is None and warning in caplog.text
    assert not model_evaluator.include_masks(config.eval_config, model.predicts_masks)


@pytest.mark.parametrize("overrides, field", [
    (["eval_config.metrics_set=[pascal_voc_detection_metrics]"], "eval_config.metrics_set"),
    ([f"{P}.number_of_stages=2"], "eval_config"),      # coco_mask_metrics, boxes-only model
    ([f"{P}.number_of_stages=2", "eval_config.metrics_set=[coco_detection_metrics]",
      "eval_config.eval_instance_masks=true"], "eval_config"),
])
def test_checks_and_evaluation_refuse_each_eval_row_for_the_same_reason(overrides, field):
    config = _config(*overrides)
    problems = supported.eval_problems(config.eval_config, config_lib.predicts_masks(config))
    assert [f for f, _ in problems] == [field]
    with pytest.raises(ConfigError) as checked:
        config_lib.validate(config)
    assert problems[0] in checked.value.problems
    with pytest.raises(ValueError) as evaluated:
        model_evaluator.include_masks(config.eval_config, config_lib.predicts_masks(config))
    assert str(evaluated.value) == f"{problems[0][0]}: {problems[0][1]}"


def test_every_eval_row_is_exercised():
    assert {"eval_config.metrics_set", "eval_config"} == {r.field for r in supported.EVAL_RULES}


def test_eval_instance_masks_asks_for_mask_metrics():
    """Honoured by the checks and (now) by the evaluation, which ignored it."""
    config = _config("eval_config.metrics_set=[coco_detection_metrics]",
                     "eval_config.eval_instance_masks=true")
    config_lib.validate(config)
    assert model_evaluator.include_masks(config.eval_config, True)
    assert not model_evaluator.include_masks(
        _config("eval_config.metrics_set=[coco_detection_metrics]").eval_config, True)
