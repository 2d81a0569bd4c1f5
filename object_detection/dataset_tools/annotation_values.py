"""Checked values of annotation files: a wrong type or a non-finite number is an error.

Every reader takes its coordinates, sizes and flags through these functions, so that a string,
``null``, ``NaN`` or ``Infinity`` where a number belongs stops the conversion with a
``ValueError`` naming the file and the annotation (``where``) instead of a traceback, a garbage
mask or a NaN in the records. JSON booleans are not numbers here.
"""

from __future__ import annotations

import json
import math
import os
from typing import Any


def _shown(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def is_number(value: Any) -> bool:
    """True for an int or float (not a bool)."""
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def finite_number(value: Any, where: str, what: str) -> float:
    """``value`` as a float; ValueError("where: what must be a finite number, got ...")."""
    if not is_number(value) or not math.isfinite(value):
        raise ValueError(f"{where}: {what} must be a finite number, got {_shown(value)}")
    return float(value)


def finite_numbers(values: Any, where: str, what: str, length: int | None = None) -> list[float]:
    """A list of finite numbers (exactly ``length`` of them when given) as floats."""
    if not isinstance(values, (list, tuple)):
        raise ValueError(f"{where}: {what} must be a list of numbers, got {_shown(values)}")
    if length is not None and len(values) != length:
        raise ValueError(f"{where}: {what} must have {length} numbers, got {_shown(values)}")
    for value in values:
        if not is_number(value) or not math.isfinite(value):
            raise ValueError(f"{where}: {what} must hold finite numbers, got {_shown(value)} "
                             f"in {_shown(values)}")
    return [float(v) for v in values]


def positive_int(value: Any, where: str, what: str) -> int:
    """``value`` as an int >= 1 (an integral float such as 32.0 is accepted)."""
    if is_number(value) and math.isfinite(value) and value == int(value) and value >= 1:
        return int(value)
    raise ValueError(f"{where}: {what} must be a positive integer, got {_shown(value)}")


def flag(value: Any, where: str, what: str) -> bool:
    """A 0/1 (or false/true) flag such as COCO's ``iscrowd``."""
    if value in (0, 1) and (is_number(value) or isinstance(value, bool)):
        return bool(value)
    raise ValueError(f"{where}: {what} must be 0 or 1, got {_shown(value)}")


def identifier(value: Any, where: str, what: str) -> int | str:
    """An id: an int or a non-empty string (not a bool, list or null)."""
    if (isinstance(value, int) and not isinstance(value, bool)) or (
            isinstance(value, str) and value):
        return value
    raise ValueError(f"{where}: {what} must be an integer or a non-empty string, "
                     f"got {_shown(value)}")


def file_name(value: Any, where: str, what: str = "file name") -> str:
    """A non-empty string naming a file."""
    if isinstance(value, str) and value.strip():
        return value
    raise ValueError(f"{where}: {what} must be a non-empty string, got {_shown(value)}")


def read_json(path: str | os.PathLike, what: str | None = None) -> Any:
    """The parsed UTF-8 JSON file ``path``. FileNotFoundError ("PATH: WHAT not found") when
    ``what`` is given and there is no such file; ValueError ("PATH: not a JSON file (...)")
    when it does not parse."""
    if what is not None and not os.path.isfile(path):
        raise FileNotFoundError(f"{path}: {what} not found")
    try:
        with open(path, encoding="utf-8") as f:
            return json.load(f)
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise ValueError(f"{path}: not a JSON file ({e})") from None
