"""Read, override, validate and write pipeline configs.

A pipeline config is a text-format ``TrainEvalPipelineConfig`` (``protos/pipeline.proto``), the
same schema and file format as the TF Object Detection API. This module is the only place that
parses or prints one:

* ``load_pipeline_config`` / ``parse_pipeline_config`` read text; any typo, unknown field, wrong
  type or bad enum value raises ``ConfigError`` naming the file, line, column and field path.
* ``apply_overrides`` sets fields from ``PATH=VALUE`` strings, e.g.
  ``model.faster_rcnn.num_classes=1`` or ``eval_input_reader[0].shuffle=false``.
* ``validate`` checks meaning (counts >= 1, masks consistent, inputs present on disk).
* ``write_pipeline_config`` / ``config_to_text`` print text that reads back to an equal message.
"""

from __future__ import annotations

import difflib
import glob
import logging
import os
import re
import dataclasses
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator, Sequence

from google.protobuf import descriptor as pb_descriptor
from google.protobuf import message as pb_message
from google.protobuf import text_encoding, text_format

from object_detection.protos import pipeline_pb2

logger = logging.getLogger(__name__)

_FD = pb_descriptor.FieldDescriptor


class ConfigError(ValueError):
    """A pipeline config or an override that cannot be used.

    Attributes (``None`` when not known): ``file``, ``line`` and ``column`` (1-based) of the
    problem, ``field`` its dotted field path (e.g. ``model.faster_rcnn.num_classes``), and
    ``problems``: every ``(field_path, message)`` found by ``validate``.
    """

    def __init__(
        self,
        message: str,
        *,
        file: str | None = None,
        line: int | None = None,
        column: int | None = None,
        field: str | None = None,
        problems: Sequence[tuple[str, str]] = (),
    ) -> None:
        super().__init__(message)
        self.file = file
        self.line = line
        self.column = column
        self.field = field
        self.problems = tuple(problems)


# --------------------------------------------------------------------------------------------
# Reading


def load_pipeline_config(
    path: str | os.PathLike, overrides: Sequence[str] = ()
) -> pipeline_pb2.TrainEvalPipelineConfig:
    """Reads the text-format pipeline config at ``path``, then applies ``overrides``.

    Raises FileNotFoundError when ``path`` does not exist and ``ConfigError`` when the text does
    not parse (message ``FILE:LINE:COLUMN: problem``) or an override is wrong.
    """
    path = os.fspath(path)
    if not os.path.isfile(path):
        raise FileNotFoundError(f"pipeline config not found: {path}")
    with open(path, encoding="utf-8") as f:
        text = f.read()
    return parse_pipeline_config(text, source=path, overrides=overrides)


def parse_pipeline_config(
    text: str, *, source: str = "<text>", overrides: Sequence[str] = ()
) -> pipeline_pb2.TrainEvalPipelineConfig:
    """Parses pipeline config ``text``; ``source`` names it in error messages."""
    config = pipeline_pb2.TrainEvalPipelineConfig()
    parse_text(text, config, source=source)
    return apply_overrides(config, overrides) if overrides else config


def parse_text(text: str, message: pb_message.Message, *, source: str = "<text>") -> None:
    """Parses text format into ``message`` (cleared first), translating parse errors.

    Works for any message type; ``ConfigError`` carries ``source``, line, column and field path.
    """
    try:
        text_format.Parse(text, message)
    except text_format.ParseError as err:
        line, column = err.GetLine(), err.GetColumn()
        where = f"{source}:{line}:{column}" if line is not None else source
        raise _translate_parse_error(err, text, message.DESCRIPTOR, where, file=source) from None


# --------------------------------------------------------------------------------------------
# Writing


def config_to_text(config: pb_message.Message) -> str:
    """Text format of ``config``; ``parse_pipeline_config`` of it gives an equal message."""
    return text_format.MessageToString(config)


def write_pipeline_config(config: pb_message.Message, path: str | os.PathLike) -> Path:
    """Writes ``config`` as text format to ``path`` (parent folders created); returns the path."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(config_to_text(config), encoding="utf-8")
    return path


# --------------------------------------------------------------------------------------------
# Overrides

_SEGMENT_RE = re.compile(r"^([A-Za-z_][A-Za-z0-9_]*)(?:\[\s*(-?\d+)\s*\])?$")


def apply_overrides(
    config: pipeline_pb2.TrainEvalPipelineConfig, overrides: Sequence[str]
) -> pipeline_pb2.TrainEvalPipelineConfig:
    """Returns a copy of ``config`` with each ``PATH=VALUE`` override applied in order.

    PATH is dotted field names; a repeated message field takes an index (``eval_input_reader[0]``,
    where index ``len`` appends one). VALUE is text format for that field: a scalar, an enum
    name, ``true``/``false``, a list ``[0.5, 1.0]`` (replaces a repeated field), a quoted or
    unquoted string, or a sub-message ``{fixed_shape_resizer {height: 64 width: 64}}`` (replaces
    the field; the braces may be left out). ``config`` itself is not changed.
    """
    if isinstance(overrides, str):
        raise TypeError("overrides must be a sequence of 'PATH=VALUE' strings, not one string")
    result = type(config)()
    result.CopyFrom(config)
    for override in overrides:
        _apply_override(result, override)
    return result


def _apply_override(root: pb_message.Message, override: str) -> None:
    key, sep, value = override.partition("=")
    key, value = key.strip(), value.strip()
    where = f'override "{override}"'
    if not sep or not key:
        raise ConfigError(f"{where}: expected PATH=VALUE, e.g. train_config.batch_size=2")
    segments = key.split(".")
    msg, path = root, ""
    for i, segment in enumerate(segments):
        match = _SEGMENT_RE.match(segment.strip())
        if not match:
            raise ConfigError(f'{where}: "{segment}" is not a field name or name[index]')
        name, index = match.group(1), match.group(2)
        fd = msg.DESCRIPTOR.fields_by_name.get(name)
        if fd is None:
            text, full = _unknown_field_text(msg.DESCRIPTOR, path, name)
            raise ConfigError(f"{where}: {text}", field=full)
        field_path = _join(path, name)
        if index is not None and not _is_repeated(fd):
            raise ConfigError(
                f"{where}: {field_path} is not repeated and cannot be indexed", field=field_path
            )
        if i == len(segments) - 1:
            _set_field(msg, fd, None if index is None else int(index), value, where, path)
            return
        if fd.message_type is None:
            raise ConfigError(
                f'{where}: {field_path} ({_type_name(fd)}) has no field "{segments[i + 1]}"',
                field=field_path,
            )
        if _is_repeated(fd):
            if index is None:
                raise ConfigError(
                    f"{where}: {field_path} is repeated; give an index, e.g. {field_path}[0]",
                    field=field_path,
                )
            msg = _element(getattr(msg, name), int(index), where, field_path)
            path = f"{field_path}[{index}]"
        else:
            _warn_oneof_switch(msg, fd, where, path)
            msg = getattr(msg, name)
            path = field_path


def _set_field(
    msg: pb_message.Message, fd: _FD, index: int | None, value: str, where: str, parent_path: str
) -> None:
    """Parses ``value`` as text format for field ``fd`` and stores it in ``msg``."""
    field_path = _join(parent_path, fd.name)
    parsed = _parse_field_value(msg, fd, value, where, parent_path)
    if index is None:
        _warn_oneof_switch(msg, fd, where, parent_path)
        msg.ClearField(fd.name)
        msg.MergeFrom(parsed)
        return
    values = getattr(parsed, fd.name)
    if len(values) != 1:
        raise ConfigError(
            f"{where}: {field_path}[{index}] takes one value, got {len(values)}", field=field_path
        )
    container = getattr(msg, fd.name)
    _check_index(len(container), index, where, field_path)
    if index == len(container):
        if fd.message_type is not None:
            container.add().CopyFrom(values[0])
        else:
            container.append(values[0])
    elif fd.message_type is not None:
        container[index].CopyFrom(values[0])
    else:
        container[index] = values[0]


def _parse_field_value(
    msg: pb_message.Message, fd: _FD, value: str, where: str, parent_path: str
) -> pb_message.Message:
    """A new message of ``msg``'s type with only field ``fd`` set from text ``value``."""
    is_string = fd.type in (_FD.TYPE_STRING, _FD.TYPE_BYTES)
    if is_string and not value.startswith(("'", '"', "[")):
        value = _quote(value)
    elif fd.message_type is not None and not value.startswith(("{", "<", "[")):
        value = "{" + value + "}"
    snippet = f"{fd.name}: {value}"
    parsed = type(msg)()
    try:
        text_format.Parse(snippet, parsed)
    except text_format.ParseError as err:
        if is_string and value.startswith("[") and value.endswith("]"):
            items = [item.strip() for item in value[1:-1].split(",") if item.strip()]
            quoted = [item if item.startswith(("'", '"')) else _quote(item) for item in items]
            try:
                text_format.Parse(f"{fd.name}: [{', '.join(quoted)}]", parsed)
                return parsed
            except text_format.ParseError:
                pass
        error = _translate_parse_error(err, snippet, msg.DESCRIPTOR, where, prefix=parent_path)
        error.line = error.column = None  # positions inside the snippet would mislead
        raise error from None
    return parsed


def _quote(text: str) -> str:
    return '"' + text_encoding.CEscape(text, as_utf8=True) + '"'


def _element(container, index: int, where: str, field_path: str) -> pb_message.Message:
    """Element ``index`` of a repeated message field; ``index == len`` appends a new one."""
    _check_index(len(container), index, where, field_path)
    return container.add() if index == len(container) else container[index]


def _check_index(size: int, index: int, where: str, field_path: str) -> None:
    """Accepts -size..size-1 (Python indexing) and size (append)."""
    if not -size <= index <= size:
        change = f"0..{size - 1} to change one, " if size else ""
        raise ConfigError(
            f"{where}: index {index} out of range for {field_path}, which has {size} "
            f"element(s) (use {change}{size} to append one)",
            field=field_path,
        )


def _warn_oneof_switch(msg: pb_message.Message, fd: _FD, where: str, parent_path: str) -> None:
    oneof = fd.containing_oneof
    if oneof is None:
        return
    current = msg.WhichOneof(oneof.name)
    if current is not None and current != fd.name:
        logger.warning(
            "%s: sets %s, which drops %s (only one of oneof %s can be set)",
            where, _join(parent_path, fd.name), _join(parent_path, current), oneof.name,
        )


# --------------------------------------------------------------------------------------------
# Meaning checks


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


_Problems = list[tuple[str, str]]


def predicts_masks(config: pipeline_pb2.TrainEvalPipelineConfig) -> bool:
    """Whether the model's second stage predicts instance masks."""
    predictor = config.model.faster_rcnn.second_stage_box_predictor
    return (
        predictor.WhichOneof("box_predictor_oneof") == "mask_rcnn_box_predictor"
        and predictor.mask_rcnn_box_predictor.predict_instance_masks
    )


def _check_model(config: pipeline_pb2.TrainEvalPipelineConfig) -> _Problems:
    if config.model.WhichOneof("model") is None:
        return [("model", "no model given (expected model { faster_rcnn { ... } })")]
    if not config.model.HasField("faster_rcnn"):
        return []
    p = "model.faster_rcnn"
    frcnn = config.model.faster_rcnn
    problems: _Problems = []
    if frcnn.num_classes < 1:
        problems.append((f"{p}.num_classes", f"must be >= 1, got {frcnn.num_classes}"))
    if frcnn.number_of_stages not in (1, 2, 3):
        problems.append(
            (f"{p}.number_of_stages", f"must be 1, 2 or 3, got {frcnn.number_of_stages}")
        )
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
            (f"{p}.second_stage_post_processing.batch_non_max_suppression.iou_threshold",
             f"must be in (0, 1], got {nms.iou_threshold:g}")
        )
    problems += _check_masks(config)
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


def _check_masks(config: pipeline_pb2.TrainEvalPipelineConfig) -> _Problems:
    frcnn = config.model.faster_rcnn
    problems: _Problems = []
    p = "model.faster_rcnn.second_stage_box_predictor.mask_rcnn_box_predictor"
    if predicts_masks(config):
        if frcnn.number_of_stages < 3:
            problems.append(
                ("model.faster_rcnn.number_of_stages",
                 f"is {frcnn.number_of_stages}, but {p}.predict_instance_masks is true: "
                 "mask prediction needs number_of_stages: 3")
            )
        predictor = frcnn.second_stage_box_predictor.mask_rcnn_box_predictor
        for name in ("mask_height", "mask_width"):
            if getattr(predictor, name) < 1:
                problems.append((f"{p}.{name}", f"must be >= 1, got {getattr(predictor, name)}"))
    elif _wants_mask_metrics(config):
        problems.append(
            ("eval_config",
             "asks for mask metrics (eval_instance_masks or coco_mask_metrics) but the model "
             f"predicts no masks ({p}.predict_instance_masks is not true)")
        )
    return problems


def _wants_mask_metrics(config: pipeline_pb2.TrainEvalPipelineConfig) -> bool:
    ev = config.eval_config
    return ev.eval_instance_masks or "coco_mask_metrics" in ev.metrics_set


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
        needs_masks = _wants_mask_metrics(config) and predicts_masks(config)
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


# --------------------------------------------------------------------------------------------
# Parse error translation

_UNKNOWN_FIELD_RE = re.compile(r'Message type "([\w.]+)" has no field named "([^"]+)"')
_BAD_ENUM_RE = re.compile(r'Enum type "([\w.]+)" has no value (?:named|with number) (\S+?)\.?$')
_TWICE_RE = re.compile(r'should not have multiple "([^"]+)" fields')
_ONEOF_RE = re.compile(r'specified along with field "([^"]+)", another member of oneof "([^"]+)"')
_MAX_CHOICES_LISTED = 8


def _translate_parse_error(
    err: text_format.ParseError,
    text: str,
    root: pb_descriptor.Descriptor,
    where: str,
    *,
    prefix: str = "",
    file: str | None = None,
) -> ConfigError:
    """A ConfigError for ``err``, raised while parsing ``text`` into a message of type ``root``.

    ``where`` starts the message (``file:line:column`` or an override); ``prefix`` is the field
    path of ``root`` inside the pipeline config.
    """
    line, column = err.GetLine(), err.GetColumn()
    detail = _error_detail(str(err), text, line)
    spot = _locate(text, root, line or 0, column or 0, prefix)
    kwargs = dict(file=file, line=line, column=column, field=spot.path or None)
    unknown = _UNKNOWN_FIELD_RE.search(detail)
    if unknown:
        parent = spot.parent if spot.parent is not None else _find_type(root, unknown.group(1))
        name = unknown.group(2)
        if parent is None:
            return ConfigError(f"{where}: {detail}", **kwargs)
        message, full = _unknown_field_text(parent, spot.parent_path, name)
        kwargs["field"] = full
        return ConfigError(f"{where}: {message}{_missing_brace_hint(spot, name)}", **kwargs)
    twice = _TWICE_RE.search(detail)
    if twice:
        message = f"field {spot.path} is set twice (it is not repeated)"
        return ConfigError(f"{where}: {message}", **kwargs)
    oneof = _ONEOF_RE.search(detail)
    if oneof:
        other = _join(spot.parent_path, oneof.group(1))
        return ConfigError(
            f"{where}: field {spot.path} is set along with {other}; only one member of oneof "
            f'"{oneof.group(2)}" may be set',
            **kwargs,
        )
    bad_enum = _BAD_ENUM_RE.search(detail)
    if bad_enum and spot.field is not None and spot.field.enum_type is not None:
        names = [v.name for v in spot.field.enum_type.values]
        value = bad_enum.group(2)
        message = (
            f'bad value for field {spot.path} (enum {bad_enum.group(1)}): no value "{value}" '
            f"(valid: {', '.join(names)}){_did_you_mean(value, names, fold_case=True)}"
        )
        return ConfigError(f"{where}: {message}", **kwargs)
    if spot.at_value and spot.field is not None:
        return ConfigError(
            f"{where}: bad value for field {spot.path} ({_type_name(spot.field)}): {detail}",
            **kwargs,
        )
    near = f" near field {spot.path}" if spot.path else ""
    return ConfigError(f"{where}: syntax error{near}: {detail}", **kwargs)


def _error_detail(message: str, text: str, line: int | None) -> str:
    """The text of a ParseError without its ``L:C : `` and quoted-line prefixes."""
    message = re.sub(r"^\d+(?::\d+)? : ", "", message, count=1)
    if line:
        lines = text.split("\n")
        if 0 < line <= len(lines):
            quoted = f"'{lines[line - 1]}': "
            if message.startswith(quoted):
                return message[len(quoted):]
    return message


def _unknown_field_text(
    parent: pb_descriptor.Descriptor, parent_path: str, name: str
) -> tuple[str, str]:
    """(message, field path) for a field ``name`` that ``parent`` does not have."""
    full = _join(parent_path, name)
    names = [f.name for f in parent.fields]
    hint = _did_you_mean(name, names)
    is_choice = all(f.containing_oneof is not None for f in parent.fields)
    if names and is_choice and len(names) <= _MAX_CHOICES_LISTED:
        return f"{full} is not supported (supported: {', '.join(names)}){hint}", full
    at = f" at {parent_path}" if parent_path else ""
    return f'unknown field "{name}" in {parent.full_name}{at}{hint}', full


def _missing_brace_hint(spot: _Spot, name: str) -> str:
    """A hint when an enclosing message has field ``name``: a ``}`` was probably left out."""
    for path, desc in reversed(spot.enclosing):
        if desc is not None and name in desc.fields_by_name:
            where = path or "the top level"
            return f' (is a "}}" missing before it? {where} has a field "{name}")'
    return ""


def _did_you_mean(name: str, candidates: Sequence[str], *, fold_case: bool = False) -> str:
    if fold_case:
        by_key = {c.lower(): c for c in candidates}
        close = difflib.get_close_matches(name.lower(), list(by_key), n=1, cutoff=0.6)
        close = [by_key[c] for c in close]
    else:
        close = difflib.get_close_matches(name, list(candidates), n=1, cutoff=0.6)
    return f' (did you mean "{close[0]}"?)' if close else ""


def _find_type(root: pb_descriptor.Descriptor, full_name: str) -> pb_descriptor.Descriptor | None:
    try:
        return root.file.pool.FindMessageTypeByName(full_name)
    except KeyError:
        return None


_TYPE_NAMES = {
    _FD.TYPE_DOUBLE: "double", _FD.TYPE_FLOAT: "float", _FD.TYPE_INT64: "int64",
    _FD.TYPE_UINT64: "uint64", _FD.TYPE_INT32: "int32", _FD.TYPE_FIXED64: "fixed64",
    _FD.TYPE_FIXED32: "fixed32", _FD.TYPE_BOOL: "bool", _FD.TYPE_STRING: "string",
    _FD.TYPE_BYTES: "bytes", _FD.TYPE_UINT32: "uint32", _FD.TYPE_SFIXED32: "sfixed32",
    _FD.TYPE_SFIXED64: "sfixed64", _FD.TYPE_SINT32: "sint32", _FD.TYPE_SINT64: "sint64",
}


def _type_name(fd: _FD) -> str:
    if fd.message_type is not None:
        kind = f"message {fd.message_type.full_name}"
    elif fd.enum_type is not None:
        kind = f"enum {fd.enum_type.full_name}"
    else:
        kind = _TYPE_NAMES.get(fd.type, "value")
    return f"repeated {kind}" if _is_repeated(fd) else kind


def _is_repeated(fd: _FD) -> bool:
    return fd.is_repeated


def _join(path: str, name: str) -> str:
    return f"{path}.{name}" if path else name


# --------------------------------------------------------------------------------------------
# Locating the field at a line and column of text-format input

_TOKEN_RE = re.compile(
    r"""(?P<space>\s+)
      | (?P<comment>\#.*)
      | (?P<string>"(?:[^"\\]|\\.)*"?|'(?:[^'\\]|\\.)*'?)
      | (?P<word>[\w.+-]+)
      | (?P<punct>.)""",
    re.VERBOSE,
)


def _tokens(text: str) -> Iterator[tuple[int, int, str, str]]:
    """(line, column, kind, text) of each token, 1-based like ParseError; no spaces/comments."""
    for line_no, line in enumerate(text.split("\n"), start=1):
        for m in _TOKEN_RE.finditer(line):
            if m.lastgroup not in ("space", "comment"):
                yield line_no, m.start() + 1, m.lastgroup, m.group()


@dataclass
class _Frame:
    """An open message: its path, type, and whether it sits inside a ``[...]`` list."""

    path: str
    desc: pb_descriptor.Descriptor | None
    in_list: bool = False
    name: str | None = None
    field: _FD | None = None
    seen: dict[str, int] = dataclasses.field(default_factory=dict)


@dataclass
class _Spot:
    """The field at an error: ``path`` (dotted), its descriptor, its parent and outer messages."""

    path: str
    field: _FD | None
    parent: pb_descriptor.Descriptor | None
    parent_path: str
    at_value: bool
    enclosing: list[tuple[str, pb_descriptor.Descriptor | None]]


def _locate(
    text: str, root: pb_descriptor.Descriptor, line: int, column: int, prefix: str = ""
) -> _Spot:
    """Follows the nesting of ``text`` up to (line, column) to name the field there."""
    frames = [_Frame(prefix, root)]
    name: str | None = None
    fd: _FD | None = None
    state = "name"  # name | ext | after_name | value | list
    state_at_error = None
    for tok_line, tok_col, kind, tok in _tokens(text):
        if (tok_line, tok_col) >= (line, column):
            state_at_error = state
            if (tok_line, tok_col) > (line, column) or not (state == "name" and kind == "word"):
                break
        top = frames[-1]
        if state == "name":
            if kind == "word":
                name = tok
                fd = top.desc.fields_by_name.get(tok) if top.desc is not None else None
                state = "after_name"
            elif tok == "[":
                name, fd, state = "", None, "ext"
            elif tok in "}>" and len(frames) > 1:
                closed = frames.pop()
                name, fd = closed.name, closed.field
                state = "list" if closed.in_list else "name"
        elif state == "ext":
            if tok == "]":
                name, state = f"[{name}]", "after_name"
            else:
                name += tok
        elif state == "after_name":
            if tok == ":":
                state = "value"
            elif tok in "{<":
                frames.append(_open(top, name, fd, in_list=False))
                state = "name"
            else:
                state = "name"
        elif state == "value":
            if tok == "[":
                state = "list"
            elif tok in "{<":
                frames.append(_open(top, name, fd, in_list=False))
                state = "name"
            else:
                state = "name"
        elif state == "list":
            if tok in "{<":
                frames.append(_open(top, name, fd, in_list=True))
                state = "name"
            elif tok == "]":
                state = "name"
    if state_at_error is None:
        state_at_error = state
    top = frames[-1]
    return _Spot(
        path=_join(top.path, name) if name else top.path,
        field=fd,
        parent=top.desc,
        parent_path=top.path,
        at_value=state_at_error in ("after_name", "value", "list"),
        enclosing=[(f.path, f.desc) for f in frames[:-1]],
    )


def _open(parent: _Frame, name: str | None, fd: _FD | None, *, in_list: bool) -> _Frame:
    path = _join(parent.path, name or "?")
    if fd is not None and _is_repeated(fd):
        index = parent.seen.get(fd.name, 0)
        parent.seen[fd.name] = index + 1
        path = f"{path}[{index}]"
    desc = fd.message_type if fd is not None else None
    return _Frame(path, desc, in_list=in_list, name=name, field=fd)
