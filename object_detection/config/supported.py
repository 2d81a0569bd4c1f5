"""What the model supports: the one table that the config checks, the model builder and the
evaluation read.

Each row of ``MODEL_RULES`` names one field of the pipeline config (its path from the root),
what the model supports there, and what is wrong with a config that breaks it;
``model_problems`` lists every row a ``model`` message breaks as ``(field path, what is
wrong)``, ``eval_problems`` likewise for ``eval_config`` (``EVAL_RULES``). The users:

* ``config.checks.validate`` reports them all, with its other checks;
* ``builders.model_builder.build`` raises the first as ``ValueError("<field path>: <what is
  wrong>")``, so the checks and the builder refuse a config for the same reason;
* ``evaluation.model_evaluator.include_masks`` raises the first eval problem and decides mask
  metrics with ``mask_metrics``.

Masks: the model predicts instance masks when ``model.faster_rcnn.number_of_stages`` is 3 and
the ``mask_rcnn_box_predictor``'s ``predict_instance_masks`` is true (``predicts_masks``). Either
switch alone gives a boxes-only Faster R-CNN (as in the OD API), with a warning
(``mask_warnings``). Mask metrics (``mask_metrics``) are computed when ``eval_config.metrics_set``
has ``coco_mask_metrics``, when ``eval_config.eval_instance_masks`` is true, or when no metrics
set is given and the model predicts masks; asking for them from a model without masks is a
problem.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from object_detection.protos import eval_pb2, faster_rcnn_pb2, hyperparams_pb2, model_pb2

MODEL = "model"
P = "model.faster_rcnn"
FEATURE_EXTRACTOR = f"{P}.feature_extractor"
NMS = f"{P}.second_stage_post_processing.batch_non_max_suppression"
PREDICTOR = f"{P}.second_stage_box_predictor"
MASK_PREDICTOR = f"{PREDICTOR}.mask_rcnn_box_predictor"

# feature_extractor.type -> ResNet of object_detection.models ("_keras": the OD API's TF2 names
# of the same architecture).
FEATURE_EXTRACTORS = {
    "faster_rcnn_resnet50": "resnet_v1_50",
    "faster_rcnn_resnet101": "resnet_v1_101",
    "faster_rcnn_resnet_tiny": "resnet_tiny",
    "faster_rcnn_resnet50_keras": "resnet_v1_50",
    "faster_rcnn_resnet101_keras": "resnet_v1_101",
}
FEATURES_STRIDES = (8, 16)
BOXES_ONLY_STAGES = 2  # Faster R-CNN
MASK_STAGES = 3        # Mask R-CNN: masks of the final detections
SUPPORTED_STAGES = (BOXES_ONLY_STAGES, MASK_STAGES)

# eval_config.metrics_set
BOX_METRICS = "coco_detection_metrics"
MASK_METRICS = "coco_mask_metrics"
SUPPORTED_METRICS_SETS = (BOX_METRICS, MASK_METRICS)

Problem = tuple[str, str]  # (field path, what is wrong)


def not_supported(value: object, supported: str) -> str:
    """The one wording of a refusal: ``not supported: X (supported: ...)``."""
    return f"not supported: {value} (supported: {supported})"


@dataclass(frozen=True)
class Rule:
    """One row: ``field`` (path from the pipeline config's root), what the model supports
    there, and ``problem(message)``: what is wrong with ``message`` (the ``model`` message for
    ``MODEL_RULES``, ``eval_config`` plus whether the model predicts masks for
    ``EVAL_RULES``), or None when it keeps the rule."""

    field: str
    supported: str
    problem: Callable[..., str | None]


def _frcnn(model: model_pb2.DetectionModel):
    return model.faster_rcnn


def _mask_predictor(model: model_pb2.DetectionModel):
    """The mask_rcnn_box_predictor message, or None for another box predictor."""
    predictor = model.faster_rcnn.second_stage_box_predictor
    if predictor.WhichOneof("box_predictor_oneof") != "mask_rcnn_box_predictor":
        return None
    return predictor.mask_rcnn_box_predictor


def _choice(field: str, value_of: Callable, allowed, supported: str | None = None) -> Rule:
    """``value_of(model)`` must be one of ``allowed``."""
    supported = supported or ", ".join(map(str, allowed))

    def problem(model):
        value = value_of(model)
        return None if value in allowed else not_supported(value, supported)

    return Rule(field, supported, problem)


def _unset(parent: str, name: str, message_of: Callable = _frcnn) -> Rule:
    """A sub-message the model does not implement: it must stay unset."""
    def problem(model):
        return not_supported(name, "leave it unset") if message_of(model).HasField(name) else None

    return Rule(f"{parent}.{name}", "leave it unset", problem)


def _false(parent: str, name: str, message_of: Callable = _frcnn,
           supported: str = "false") -> Rule:
    def problem(model):
        message = message_of(model)
        if message is None or not getattr(message, name):
            return None
        return not_supported("true", supported)

    return Rule(f"{parent}.{name}", supported, problem)


def _at_least_one(parent: str, name: str, message_of: Callable = _frcnn) -> Rule:
    def problem(model):
        message = message_of(model)
        if message is None:
            return None
        value = getattr(message, name)
        return None if value >= 1 else f"must be >= 1, got {value}"

    return Rule(f"{parent}.{name}", ">= 1", problem)


def hyperparams_problem(hyperparams: hyperparams_pb2.Hyperparams) -> str | None:
    """What is wrong with the hyperparams of a group of box predictor layers, or None: the
    heads take no normalizer (no config of the ResNet kind uses one)."""
    normalizer = hyperparams.WhichOneof("normalizer_oneof")
    if normalizer is None:
        return None
    return not_supported(normalizer, "no normalizer on the box predictor layers")


def _hyperparams(parent: str, name: str, message_of: Callable = _frcnn,
                 when: Callable = lambda model: True) -> Rule:
    def problem(model):
        message = message_of(model)
        if message is None or not when(model) or not message.HasField(name):
            return None
        return hyperparams_problem(getattr(message, name))

    return Rule(f"{parent}.{name}", "no normalizer", problem)


def _classification_loss(model) -> str | None:
    frcnn = model.faster_rcnn
    if not frcnn.HasField("second_stage_classification_loss"):
        return None
    loss = frcnn.second_stage_classification_loss.WhichOneof("classification_loss")
    return None if loss == "weighted_softmax" else not_supported(loss, "weighted_softmax")


def _soft_nms(model) -> str | None:
    sigma = model.faster_rcnn.second_stage_post_processing.batch_non_max_suppression.soft_nms_sigma
    return None if sigma == 0.0 else not_supported(f"{sigma:g}", "0 (hard NMS)")


def _oneof(name: str, what: str):
    def value_of(message):
        return message.WhichOneof(name) or f"no {what}"
    return value_of


def predicts_masks(model: model_pb2.DetectionModel) -> bool:
    """Whether the model of a ``model`` message predicts instance masks: a faster_rcnn with
    ``number_of_stages: 3`` and a mask_rcnn_box_predictor with ``predict_instance_masks``."""
    if model.WhichOneof("model") != "faster_rcnn":
        return False
    predictor = _mask_predictor(model)
    return (model.faster_rcnn.number_of_stages == MASK_STAGES and predictor is not None
            and predictor.predict_instance_masks)


_EXTRACTOR = lambda model: model.faster_rcnn.feature_extractor  # noqa: E731

# The rows, in the order the builder meets them. The first (the model kind) decides whether
# the others apply.
MODEL_RULES: tuple[Rule, ...] = (
    _choice(MODEL, _oneof("model", "model given"), ("faster_rcnn",)),
    _at_least_one(P, "num_classes"),
    _choice(f"{P}.number_of_stages", lambda m: m.faster_rcnn.number_of_stages, SUPPORTED_STAGES),
    _unset(P, "hard_example_miner"),
    _unset(P, "context_config"),
    _false(P, "return_raw_detections_during_predict"),
    _false(P, "output_final_box_features"),
    _false(P, "output_final_box_rpn_features"),
    Rule(f"{P}.second_stage_classification_loss", "weighted_softmax", _classification_loss),
    _unset(f"{P}.second_stage_post_processing", "calibration_config",
           lambda m: m.faster_rcnn.second_stage_post_processing),
    _false(NMS, "use_class_agnostic_nms",
           lambda m: m.faster_rcnn.second_stage_post_processing.batch_non_max_suppression,
           "false (per-class NMS)"),
    Rule(f"{NMS}.soft_nms_sigma", "0 (hard NMS)", _soft_nms),
    _at_least_one(P, "initial_crop_size"),
    _at_least_one(P, "maxpool_kernel_size"),
    _at_least_one(P, "maxpool_stride"),
    _choice(f"{FEATURE_EXTRACTOR}.type", lambda m: m.faster_rcnn.feature_extractor.type or "no type",
            tuple(FEATURE_EXTRACTORS)),
    Rule(f"{FEATURE_EXTRACTOR}.fpn", "leave it unset",
         lambda m: (not_supported("feature pyramid", "leave it unset")
                    if m.faster_rcnn.feature_extractor.HasField("fpn") else None)),
    _false(FEATURE_EXTRACTOR, "override_base_feature_extractor_hyperparams", _EXTRACTOR,
           "false (the ResNet keeps its own hyperparameters)"),
    _choice(f"{FEATURE_EXTRACTOR}.first_stage_features_stride",
            lambda m: m.faster_rcnn.feature_extractor.first_stage_features_stride,
            FEATURES_STRIDES),
    _choice(f"{P}.first_stage_anchor_generator",
            lambda m: _oneof("anchor_generator_oneof", "anchor generator")(
                m.faster_rcnn.first_stage_anchor_generator), ("grid_anchor_generator",)),
    _hyperparams(P, "first_stage_box_predictor_conv_hyperparams"),
    _choice(PREDICTOR, lambda m: _oneof("box_predictor_oneof", "box predictor")(
        m.faster_rcnn.second_stage_box_predictor), ("mask_rcnn_box_predictor",)),
    _choice(f"{MASK_PREDICTOR}.box_code_size",
            lambda m: _mask_predictor(m).box_code_size if _mask_predictor(m) else 4, (4,)),
    _false(MASK_PREDICTOR, "predict_keypoints", _mask_predictor),
    _hyperparams(MASK_PREDICTOR, "fc_hyperparams", _mask_predictor),
    _hyperparams(MASK_PREDICTOR, "conv_hyperparams", _mask_predictor, predicts_masks),
    _at_least_one(MASK_PREDICTOR, "mask_height",
                  lambda m: _mask_predictor(m) if predicts_masks(m) else None),
    _at_least_one(MASK_PREDICTOR, "mask_width",
                  lambda m: _mask_predictor(m) if predicts_masks(m) else None),
)


def model_problems(model: model_pb2.DetectionModel) -> list[Problem]:
    """Every row of ``MODEL_RULES`` that ``model`` (the pipeline's ``model`` message) breaks,
    as ``(field path, what is wrong)``; only the first when the model is no faster_rcnn."""
    kind, *rows = MODEL_RULES
    text = kind.problem(model)
    if text is not None:
        return [(kind.field, text)]
    return [(rule.field, text) for rule in rows if (text := rule.problem(model)) is not None]


def feature_extractor_problems(extractor: faster_rcnn_pb2.FasterRcnnFeatureExtractor
                               ) -> list[Problem]:
    """The rows of ``MODEL_RULES`` under ``model.faster_rcnn.feature_extractor`` that a
    ``feature_extractor`` message breaks."""
    model = model_pb2.DetectionModel()
    model.faster_rcnn.feature_extractor.CopyFrom(extractor)
    return [(rule.field, text) for rule in MODEL_RULES
            if rule.field.startswith(FEATURE_EXTRACTOR + ".")
            and (text := rule.problem(model)) is not None]


def mask_warnings(model: model_pb2.DetectionModel) -> list[str]:
    """Why a model of ``model`` has no masks although one mask switch is on (empty when both
    are on or both off)."""
    if model.WhichOneof("model") != "faster_rcnn":
        return []
    predictor = _mask_predictor(model)
    asked = predictor is not None and predictor.predict_instance_masks
    stages = model.faster_rcnn.number_of_stages
    if asked and stages != MASK_STAGES:
        return [f"{MASK_PREDICTOR}.predict_instance_masks is true but number_of_stages is "
                f"{stages}: building a boxes-only model (masks need number_of_stages: "
                f"{MASK_STAGES})"]
    if not asked and stages == MASK_STAGES:
        return [f"{P}.number_of_stages is {MASK_STAGES} but {MASK_PREDICTOR}."
                "predict_instance_masks is not true: building a boxes-only model (masks need "
                "predict_instance_masks: true)"]
    return []


def _asks_for_masks(config: eval_pb2.EvalConfig) -> str | None:
    """What in ``config`` asks for mask metrics explicitly, or None."""
    if MASK_METRICS in config.metrics_set:
        return "metrics_set"
    if config.eval_instance_masks:
        return "eval_instance_masks"
    return None


def mask_metrics(config: eval_pb2.EvalConfig, model_predicts_masks: bool) -> bool:
    """Whether an evaluation with ``config`` computes mask metrics (see the module docstring;
    ``eval_problems`` says when that cannot be)."""
    return _asks_for_masks(config) is not None or (not config.metrics_set
                                                   and model_predicts_masks)


def _unknown_metrics_sets(config: eval_pb2.EvalConfig, model_predicts_masks: bool) -> str | None:
    unknown = [s for s in config.metrics_set if s not in SUPPORTED_METRICS_SETS]
    return not_supported(", ".join(unknown), ", ".join(SUPPORTED_METRICS_SETS)) if unknown else None


def _masks_without_model_masks(config: eval_pb2.EvalConfig,
                               model_predicts_masks: bool | None) -> str | None:
    which = _asks_for_masks(config)
    if which is None or model_predicts_masks is None or model_predicts_masks:
        return None
    return (f"{which} asks for {MASK_METRICS} but the model predicts no masks (masks need "
            f"{P}.number_of_stages: {MASK_STAGES} and {MASK_PREDICTOR}.predict_instance_masks: "
            "true)")


EVAL_RULES: tuple[Rule, ...] = (
    Rule("eval_config.metrics_set", ", ".join(SUPPORTED_METRICS_SETS), _unknown_metrics_sets),
    Rule("eval_config", "mask metrics only from a model that predicts masks",
         _masks_without_model_masks),
)


def eval_problems(config: eval_pb2.EvalConfig,
                  model_predicts_masks: bool | None) -> list[Problem]:
    """Every row of ``EVAL_RULES`` that ``config`` breaks for a model that does (or does not)
    predict masks, as ``(field path, what is wrong)``; ``None``: not known (a model that cannot
    be built), the rows about masks are left out."""
    return [(rule.field, text) for rule in EVAL_RULES
            if (text := rule.problem(config, model_predicts_masks)) is not None]


def error(problem: Problem) -> ValueError:
    """The ValueError of one problem: ``"<field path>: <what is wrong>"``."""
    field, text = problem
    return ValueError(f"{field}: {text}")
