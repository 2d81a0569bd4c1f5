"""``ConfigError``, and text-format parse errors turned into located, field-named messages.

A protobuf ``ParseError`` says ``L:C : message``; ``translate_parse_error`` follows the nesting
of the text up to that spot to name the field path (``model.faster_rcnn.num_classes``), and adds
what would help: the supported choices, a "did you mean", a likely missing ``}``.
"""

from __future__ import annotations

import dataclasses
import difflib
import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

from google.protobuf import descriptor as pb_descriptor
from google.protobuf import text_format

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
# Naming fields

_MAX_CHOICES_LISTED = 8

_TYPE_NAMES = {
    _FD.TYPE_DOUBLE: "double", _FD.TYPE_FLOAT: "float", _FD.TYPE_INT64: "int64",
    _FD.TYPE_UINT64: "uint64", _FD.TYPE_INT32: "int32", _FD.TYPE_FIXED64: "fixed64",
    _FD.TYPE_FIXED32: "fixed32", _FD.TYPE_BOOL: "bool", _FD.TYPE_STRING: "string",
    _FD.TYPE_BYTES: "bytes", _FD.TYPE_UINT32: "uint32", _FD.TYPE_SFIXED32: "sfixed32",
    _FD.TYPE_SFIXED64: "sfixed64", _FD.TYPE_SINT32: "sint32", _FD.TYPE_SINT64: "sint64",
}


def join_path(path: str, name: str) -> str:
    """``path.name``, or ``name`` at the top level (``path`` empty)."""
    return f"{path}.{name}" if path else name


def type_name(fd: _FD) -> str:
    """The type of field ``fd`` as a reader would write it, e.g. ``repeated float``."""
    if fd.message_type is not None:
        kind = f"message {fd.message_type.full_name}"
    elif fd.enum_type is not None:
        kind = f"enum {fd.enum_type.full_name}"
    else:
        kind = _TYPE_NAMES.get(fd.type, "value")
    return f"repeated {kind}" if fd.is_repeated else kind


def unknown_field_text(
    parent: pb_descriptor.Descriptor, parent_path: str, name: str
) -> tuple[str, str]:
    """(message, field path) for a field ``name`` that ``parent`` does not have."""
    full = join_path(parent_path, name)
    names = [f.name for f in parent.fields]
    hint = _did_you_mean(name, names)
    is_choice = all(f.containing_oneof is not None for f in parent.fields)
    if names and is_choice and len(names) <= _MAX_CHOICES_LISTED:
        return f"{full} is not supported (supported: {', '.join(names)}){hint}", full
    at = f" at {parent_path}" if parent_path else ""
    return f'unknown field "{name}" in {parent.full_name}{at}{hint}', full


def _did_you_mean(name: str, candidates: Sequence[str], *, fold_case: bool = False) -> str:
    if fold_case:
        by_key = {c.lower(): c for c in candidates}
        close = difflib.get_close_matches(name.lower(), list(by_key), n=1, cutoff=0.6)
        close = [by_key[c] for c in close]
    else:
        close = difflib.get_close_matches(name, list(candidates), n=1, cutoff=0.6)
    return f' (did you mean "{close[0]}"?)' if close else ""


# --------------------------------------------------------------------------------------------
# Translating a ParseError

_UNKNOWN_FIELD_RE = re.compile(r'Message type "([\w.]+)" has no field named "([^"]+)"')
_BAD_ENUM_RE = re.compile(r'Enum type "([\w.]+)" has no value (?:named|with number) (\S+?)\.?$')
_TWICE_RE = re.compile(r'should not have multiple "([^"]+)" fields')
_ONEOF_RE = re.compile(r'specified along with field "([^"]+)", another member of oneof "([^"]+)"')


def translate_parse_error(
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
        message, full = unknown_field_text(parent, spot.parent_path, name)
        kwargs["field"] = full
        return ConfigError(f"{where}: {message}{_missing_brace_hint(spot, name)}", **kwargs)
    twice = _TWICE_RE.search(detail)
    if twice:
        message = f"field {spot.path} is set twice (it is not repeated)"
        return ConfigError(f"{where}: {message}", **kwargs)
    oneof = _ONEOF_RE.search(detail)
    if oneof:
        other = join_path(spot.parent_path, oneof.group(1))
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
            f"{where}: bad value for field {spot.path} ({type_name(spot.field)}): {detail}",
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


def _missing_brace_hint(spot: _Spot, name: str) -> str:
    """A hint when an enclosing message has field ``name``: a ``}`` was probably left out."""
    for path, desc in reversed(spot.enclosing):
        if desc is not None and name in desc.fields_by_name:
            where = path or "the top level"
            return f' (is a "}}" missing before it? {where} has a field "{name}")'
    return ""


def _find_type(root: pb_descriptor.Descriptor, full_name: str) -> pb_descriptor.Descriptor | None:
    try:
        return root.file.pool.FindMessageTypeByName(full_name)
    except KeyError:
        return None


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
        path=join_path(top.path, name) if name else top.path,
        field=fd,
        parent=top.desc,
        parent_path=top.path,
        at_value=state_at_error in ("after_name", "value", "list"),
        enclosing=[(f.path, f.desc) for f in frames[:-1]],
    )


def _open(parent: _Frame, name: str | None, fd: _FD | None, *, in_list: bool) -> _Frame:
    path = join_path(parent.path, name or "?")
    if fd is not None and fd.is_repeated:
        index = parent.seen.get(fd.name, 0)
        parent.seen[fd.name] = index + 1
        path = f"{path}[{index}]"
    desc = fd.message_type if fd is not None else None
    return _Frame(path, desc, in_list=in_list, name=name, field=fd)
