"""The fields where two protobuf messages of one type differ, as one line each.

``message_differences(there, grid)`` walks both messages in field-number order and returns a
``Difference`` per field (a dotted path, ``name[i]`` for repeated messages) whose value or
presence differs: ``train_config.batch_size is 2 there, 3 in the grid``. Values print as they
read in a text config: enum names, floats as the decimals written (``format_float32``),
``true`` / ``false`` and quoted strings; repeated scalars as lists, repeated messages by their
number of entries when that differs, maps as dicts. A run folder's ``pipeline.config`` is
compared with its grid's this way (``training.run_settings``).
"""

from __future__ import annotations

import json
from dataclasses import dataclass

from google.protobuf import descriptor as pb_descriptor
from google.protobuf import message as pb_message

from object_detection.run_names import format_float32

_FD = pb_descriptor.FieldDescriptor


@dataclass(frozen=True)
class Difference:
    """One field whose value differs: ``there`` (e.g. a run folder's) and ``grid`` (the wanted
    one, e.g. an experiment grid's), as text."""

    field: str
    there: str
    grid: str

    def __str__(self) -> str:
        return f"{self.field} is {self.there} there, {self.grid} in the grid"


def message_differences(
    there: pb_message.Message, grid: pb_message.Message, prefix: str = ""
) -> list[Difference]:
    """The fields (dotted paths, ``name[i]`` for repeated messages) where two messages of one
    type differ, in field-number order; [] when they are equal."""
    fields = {fd.number: fd for fd, _ in there.ListFields()}
    fields.update({fd.number: fd for fd, _ in grid.ListFields()})
    differences = []
    for number in sorted(fields):
        fd = fields[number]
        path = f"{prefix}.{fd.name}" if prefix else fd.name
        a, b = getattr(there, fd.name), getattr(grid, fd.name)
        if fd.message_type is not None and fd.message_type.GetOptions().map_entry:
            if dict(a) != dict(b):
                differences.append(Difference(path, str(dict(a)), str(dict(b))))
        elif fd.is_repeated and fd.message_type is not None:
            if len(a) != len(b):
                differences.append(Difference(path, f"{len(a)} entries", f"{len(b)} entries"))
            else:
                for i, (x, y) in enumerate(zip(a, b)):
                    differences += message_differences(x, y, f"{path}[{i}]")
        elif fd.is_repeated:
            if list(a) != list(b):
                differences.append(Difference(path, _values_text(fd, a), _values_text(fd, b)))
        elif fd.message_type is not None:
            has_a, has_b = there.HasField(fd.name), grid.HasField(fd.name)
            if has_a != has_b:
                differences.append(Difference(path, _presence(has_a), _presence(has_b)))
            else:
                differences += message_differences(a, b, path)
        elif there.HasField(fd.name) != grid.HasField(fd.name) or a != b:
            differences.append(Difference(
                path,
                _value_text(fd, a) if there.HasField(fd.name) else "unset",
                _value_text(fd, b) if grid.HasField(fd.name) else "unset",
            ))
    return differences


def _presence(present: bool) -> str:
    return "set" if present else "unset"


def _values_text(fd: _FD, values) -> str:
    return "[" + ", ".join(_value_text(fd, v) for v in values) + "]"


def _value_text(fd: _FD, value) -> str:
    if fd.enum_type is not None:
        enum_value = fd.enum_type.values_by_number.get(value)
        return enum_value.name if enum_value is not None else str(value)
    if fd.type == _FD.TYPE_FLOAT:
        return format_float32(value)
    if fd.type == _FD.TYPE_BOOL:
        return "true" if value else "false"
    if fd.type in (_FD.TYPE_STRING, _FD.TYPE_BYTES):
        return json.dumps(value if isinstance(value, str) else value.decode("utf-8", "replace"))
    return str(value)
