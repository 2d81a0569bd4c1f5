"""Meaning checks of a pipeline config: what the schema cannot say (counts, masks, inputs).

What the model supports (kinds, stages, masks, feature extractors, metrics sets) is decided in
``config.supported``, the table that the model builder and the evaluation read too; this
module reports its problems together with the other checks."""

from __future__ import annotations

import glob
import logging
import os

from object_detection.config import supported
from object_detection.config.errors import ConfigError
from object_detection.protos import pipeline_pb2

logger = logging.getLogger(__name__)

_Problems = list[tuple[str, str]]  # (field path, what is wrong)


def validate(
    config: pipeline_pb2.TrainEvalPipelineConfig,
    *,
    for_training: bool = False,
    for_eval: bool = False,
) -> None:
    """Checks what the schema cannot: counts, thresholds, mask settings, inputs on disk.

    Model and config checks always run; ``for_training`` also checks ``train_config`` and
    ``train_input_reader`` (input files, label map and fine-tune checkpoint exist);
    ``for_eval`` checks ``eval_input_reader`` likewise. Paths are relative to the working
    directory; glob patterns must match a file; ``scheme://`` paths are not checked. Raises one
    ``ConfigError`` listing every problem as ``field.path: what is wrong``.
    """
    problems = _check_model(config) + _check_configs(config)
    if for_training:
        problems += _check_training(config)
    if for_eval:
        problems += _check_eval(config)
    if problems:
        lines = "\n".join(f"  {path}: {text}" for path, text in problems)
        raise ConfigError(
            f"invalid pipeline config ({len(problems)} problem(s)):\n{lines}",
            field=problems[0][0],
            problems=problems,
        )


def predicts_masks(config: pipeline_pb2.TrainEvalPipelineConfig) -> bool:
    """Whether the model of ``config`` predicts instance masks (``supported.predicts_masks``:
    ``number_of_stages: 3`` and ``predict_instance_masks: true``)."""
    return supported.predicts_masks(config.model)


def _check_model(config: pipeline_pb2.TrainEvalPipelineConfig) -> _Problems:
    """What the model supports (``supported.model_problems``, the builder's own table) and
    the values the builder takes as given (thresholds, fractions, sizes)."""
    problems: _Problems = supported.model_problems(config.model)
    if not config.model.HasField("faster_rcnn"):
        return problems
    # Whether a model that cannot be built would predict masks is unknown (None).
    masks = None if problems else predicts_masks(config)
    problems += supported.eval_problems(config.eval_config, masks)
    p = supported.P
    frcnn = config.model.faster_rcnn
    problems += _check_resizer(frcnn.image_resizer, f"{p}.image_resizer")
    problems += _check_anchors(frcnn, p)
    if frcnn.first_stage_max_proposals < 1:
        problems.append(
            (f"{p}.first_stage_max_proposals",
             f"must be >= 1, got {frcnn.first_stage_max_proposals}")
        )
    elif frcnn.second_stage_batch_size > frcnn.first_stage_max_proposals:
        problems.append(
            (
                f"{p}.second_stage_batch_size",
                f"{frcnn.second_stage_batch_size} is more than first_stage_max_proposals "
                f"({frcnn.first_stage_max_proposals}): cannot sample more boxes than proposed",
            )
        )
    for name in ("first_stage_positive_balance_fraction", "second_stage_balance_fraction"):
        value = getattr(frcnn, name)
        if not 0.0 <= value <= 1.0:
            problems.append((f"{p}.{name}", f"must be in [0, 1], got {value:g}"))
    if not 0.0 < frcnn.first_stage_nms_iou_threshold <= 1.0:
        problems.append(
            (f"{p}.first_stage_nms_iou_threshold",
             f"must be in (0, 1], got {frcnn.first_stage_nms_iou_threshold:g}")
        )
    nms = frcnn.second_stage_post_processing.batch_non_max_suppression
    if not 0.0 < nms.iou_threshold <= 1.0:
        problems.append(
            (f"{supported.NMS}.iou_threshold", f"must be in (0, 1], got {nms.iou_threshold:g}")
        )
    return problems


def _check_resizer(resizer, p: str) -> _Problems:
    which = resizer.WhichOneof("image_resizer_oneof")
    if which is None:
        return [(p, "no image resizer given (e.g. keep_aspect_ratio_resizer { ... })")]
    if which == "keep_aspect_ratio_resizer":
        r = resizer.keep_aspect_ratio_resizer
        if not 0 < r.min_dimension <= r.max_dimension:
            return [(f"{p}.{which}",
                     f"need 0 < min_dimension <= max_dimension, got {r.min_dimension} and "
                     f"{r.max_dimension}")]
    if which == "fixed_shape_resizer":
        r = resizer.fixed_shape_resizer
        if r.height < 1 or r.width < 1:
            return [(f"{p}.{which}", f"height and width must be >= 1, got {r.height}x{r.width}")]
    return []


def _check_anchors(frcnn, p: str) -> _Problems:
    generator = frcnn.first_stage_anchor_generator
    if generator.WhichOneof("anchor_generator_oneof") != "grid_anchor_generator":
        return []
    grid = generator.grid_anchor_generator
    p = f"{p}.first_stage_anchor_generator.grid_anchor_generator"
    problems: _Problems = []
    for name in ("scales", "aspect_ratios"):
        bad = [v for v in getattr(grid, name) if not v > 0]
        if bad:
            problems.append((f"{p}.{name}", f"must all be > 0, got {bad[0]:g}"))
    for name in ("height", "width", "height_stride", "width_stride"):
        if grid.HasField(name) and getattr(grid, name) < 1:
            problems.append((f"{p}.{name}", f"must be >= 1, got {getattr(grid, name)}"))
    return problems


def _check_configs(config: pipeline_pb2.TrainEvalPipelineConfig) -> _Problems:
    problems: _Problems = []
    train = config.train_config
    if train.batch_size < 1:
        problems.append(("train_config.batch_size", f"must be >= 1, got {train.batch_size}"))
    if config.eval_config.batch_size < 1:
        problems.append(
            ("eval_config.batch_size", f"must be >= 1, got {config.eval_config.batch_size}")
        )
    return problems


def _check_training(config: pipeline_pb2.TrainEvalPipelineConfig) -> _Problems:
    problems: _Problems = []
    if not config.HasField("train_config"):
        problems.append(("train_config", "missing: training needs train_config { ... }"))
    if not config.HasField("train_input_reader"):
        problems.append(
            ("train_input_reader", "missing: training needs train_input_reader { ... }")
        )
        return problems
    reader = config.train_input_reader
    problems += _check_reader(reader, "train_input_reader")
    if predicts_masks(config) and not reader.load_instance_masks:
        problems.append(
            ("train_input_reader.load_instance_masks",
             "is false, but the model predicts masks: the mask loss needs ground-truth masks")
        )
    _warn_unused_masks(config, reader, "train_input_reader")
    checkpoint = config.train_config.fine_tune_checkpoint
    if checkpoint and not _checkpoint_exists(checkpoint):
        problems.append(
            ("train_config.fine_tune_checkpoint",
             f"no checkpoint at {checkpoint!r} (neither the path nor "
             f"{checkpoint + '.index'!r} exists)")
        )
    return problems


def _check_eval(config: pipeline_pb2.TrainEvalPipelineConfig) -> _Problems:
    if not config.eval_input_reader:
        return [("eval_input_reader", "missing: evaluation needs eval_input_reader { ... }")]
    problems: _Problems = []
    for i, reader in enumerate(config.eval_input_reader):
        p = f"eval_input_reader[{i}]"
        problems += _check_reader(reader, p)
        needs_masks = predicts_masks(config) and supported.mask_metrics(
            config.eval_config, predicts_masks(config))
        if needs_masks and not reader.load_instance_masks:
            problems.append(
                (f"{p}.load_instance_masks",
                 "is false, but eval_config asks for mask metrics: they need ground-truth masks")
            )
        _warn_unused_masks(config, reader, p)
    return problems


def _check_reader(reader, p: str) -> _Problems:
    """Input files and label map of one InputReader."""
    problems: _Problems = []
    which = reader.WhichOneof("input_reader")
    if which is None:
        problems.append((p, "no input given (expected tf_record_input_reader { input_path: ... })"))
    elif which == "tf_record_input_reader":
        paths = reader.tf_record_input_reader.input_path
        if not paths:
            problems.append((f"{p}.tf_record_input_reader.input_path", "no input_path given"))
        for i, path in enumerate(paths):
            if not _path_exists(path):
                problems.append(
                    (f"{p}.tf_record_input_reader.input_path[{i}]", f"no file matches {path!r}")
                )
    if reader.label_map_path and not _path_exists(reader.label_map_path):
        problems.append((f"{p}.label_map_path", f"no file at {reader.label_map_path!r}"))
    return problems


def _warn_unused_masks(config, reader, p: str) -> None:
    if reader.load_instance_masks and not predicts_masks(config):
        logger.warning("%s.load_instance_masks is true but the model predicts no masks", p)


def _path_exists(path: str) -> bool:
    """Whether a local path or glob pattern matches something (remote ``x://`` paths: True)."""
    if "://" in path:
        return True
    if glob.has_magic(path):
        return bool(glob.glob(path))
    return os.path.exists(path)


def _checkpoint_exists(prefix: str) -> bool:
    return _path_exists(prefix) or _path_exists(prefix + ".index")
