"""``PATH=VALUE`` overrides of pipeline config fields, e.g. ``train_config.batch_size=2``."""

from __future__ import annotations

import logging
import re
from collections.abc import Sequence

from google.protobuf import descriptor as pb_descriptor
from google.protobuf import message as pb_message
from google.protobuf import text_encoding, text_format

from object_detection.config.errors import (
    ConfigError,
    join_path,
    translate_parse_error,
    type_name,
    unknown_field_text,
)
from object_detection.protos import pipeline_pb2

logger = logging.getLogger(__name__)

_FD = pb_descriptor.FieldDescriptor

_SEGMENT_RE = re.compile(r"^([A-Za-z_][A-Za-z0-9_]*)(?:\[\s*(-?\d+)\s*\])?$")


def apply_overrides(
    config: pipeline_pb2.TrainEvalPipelineConfig, overrides: Sequence[str]
) -> pipeline_pb2.TrainEvalPipelineConfig:
    """Returns a copy of ``config`` with each ``PATH=VALUE`` override applied in order.

    PATH is dotted field names; a repeated message field takes an index (``eval_input_reader[0]``;
    an index equal to the field's length appends one). VALUE is text format for that field: a scalar, an enum
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
            text, full = unknown_field_text(msg.DESCRIPTOR, path, name)
            raise ConfigError(f"{where}: {text}", field=full)
        field_path = join_path(path, name)
        if index is not None and not fd.is_repeated:
            raise ConfigError(
                f"{where}: {field_path} is not repeated and cannot be indexed", field=field_path
            )
        if i == len(segments) - 1:
            _set_field(msg, fd, None if index is None else int(index), value, where, path)
            return
        if fd.message_type is None:
            raise ConfigError(
                f'{where}: {field_path} ({type_name(fd)}) has no field "{segments[i + 1]}"',
                field=field_path,
            )
        if fd.is_repeated:
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
    field_path = join_path(parent_path, fd.name)
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
        value = quote(value)
    elif fd.message_type is not None and not value.startswith(("{", "<", "[")):
        value = "{" + value + "}"
    snippet = f"{fd.name}: {value}"
    parsed = type(msg)()
    try:
        text_format.Parse(snippet, parsed)
    except text_format.ParseError as err:
        if is_string and value.startswith("[") and value.endswith("]"):
            items = [item.strip() for item in value[1:-1].split(",") if item.strip()]
            quoted = [item if item.startswith(("'", '"')) else quote(item) for item in items]
            try:
                text_format.Parse(f"{fd.name}: [{', '.join(quoted)}]", parsed)
                return parsed
            except text_format.ParseError:
                pass
        error = translate_parse_error(err, snippet, msg.DESCRIPTOR, where, prefix=parent_path)
        error.line = error.column = None  # positions inside the snippet would mislead
        raise error from None
    return parsed


def quote(text: str) -> str:
    """``text`` as a text-format string value (quoted, escaped): for ``PATH="VALUE"``."""
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
            where, join_path(parent_path, fd.name), join_path(parent_path, current), oneof.name,
        )
