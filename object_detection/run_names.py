"""Names of run folders, as the published code writes them.

``{run}_run_{dataset}_stride{stride}_{scales joined by "_"}``, e.g.
``1st_run_separated_stride8_0.25_0.5_1.0_2.0``: run "1st", dataset "separated" (a dataset name
may contain underscores, e.g. "separated_mixed"), output stride 8, anchor scales
(0.25, 0.5, 1.0, 2.0). A grid's further axes (``protos/experiment.proto``, ``axis``) follow as
``_{axis name}-{label}`` each, in the grid's order, e.g.
``1st_run_synthetic_stride8_0.125_0.25_0.5_1.0_lr-0.003_wd-0.0001``: an axis name is a letter
then letters and digits, a label has no ``_``, so the name parses back unambiguously; without
axes the name is the published one. The setting of a run is (dataset, stride, scales, axis
labels); runs of one setting are repetitions whose scores are averaged.
"""

from __future__ import annotations

import math
import re
import struct
from collections.abc import Sequence
from dataclasses import dataclass

_NUMBER = r"\d+(?:\.\d*)?(?:e-?\d+)?"
AXIS_NAME = r"[A-Za-z][A-Za-z0-9]*"
AXIS_LABEL = r"[A-Za-z0-9.+-]+"
_AXIS_PART = re.compile(rf"_(?P<name>{AXIS_NAME})-(?P<label>{AXIS_LABEL})")
_PATTERN = re.compile(rf"^(?P<run>[^_]+)_run_(?P<dataset>.+)_stride(?P<stride>\d+)_"
                      rf"(?P<scales>{_NUMBER}(?:_{_NUMBER})*)"
                      rf"(?P<axes>(?:_{AXIS_NAME}-{AXIS_LABEL})*)$")

# The axes every run has (``Setting``'s own fields), which a grid's axes may not be called.
BUILT_IN_AXES = ("dataset", "run", "stride", "scales")

Axes = tuple[tuple[str, str], ...]   # ((axis name, value label), ...) in the grid's order


@dataclass(frozen=True)
class Setting:
    """What a run was trained with; runs of the same setting are averaged."""

    dataset: str
    stride: int | None = None
    scales: tuple[float, ...] = ()
    axes: Axes = ()

    def sort_key(self) -> tuple:
        return (self.dataset, -1 if self.stride is None else self.stride, self.scales,
                tuple((name, label_order(label)) for name, label in self.axes))

    def label(self) -> str:
        """Human-readable, e.g. ``separated, stride 8, scales 0.25, 0.5, 1.0, 2.0, lr 0.003``."""
        parts = [self.dataset]
        if self.stride is not None:
            parts.append(f"stride {self.stride}")
        if self.scales:
            parts.append("scales " + ", ".join(str(s) for s in self.scales))
        parts += [f"{name} {label}" for name, label in self.axes]
        return ", ".join(parts)


@dataclass(frozen=True)
class RunName:
    """A parsed run folder name."""

    run: str
    setting: Setting


def format_run_name(run: str, dataset: str, stride: int, scales: Sequence[float],
                    axes: Axes = ()) -> str:
    """The folder name of a run, e.g. ("1st", "separated", 8, [0.25, 0.5, 1.0, 2.0]) ->
    ``1st_run_separated_stride8_0.25_0.5_1.0_2.0`` (scales as ``format_float32`` prints them),
    with ``_lr-0.003`` appended for axes (("lr", "0.003"),)."""
    if not run or "_" in run:
        raise ValueError(f"run name must be non-empty without '_', got {run!r}")
    if not dataset:
        raise ValueError("dataset name must be non-empty")
    if not scales:
        raise ValueError("a run needs at least one anchor scale")
    for name, label in axes:
        problem = axis_name_problem(name) or axis_label_problem(label)
        if problem:
            raise ValueError(f"axis {name!r} value {label!r}: {problem}")
    suffix = "".join(f"_{name}-{label}" for name, label in axes)
    return f"{run}_run_{dataset}_stride{int(stride)}_{'_'.join(scale_names(scales))}{suffix}"


def axis_name_problem(name: str) -> str | None:
    """Why ``name`` cannot name an axis (None when it can)."""
    if not re.fullmatch(AXIS_NAME, name):
        return f"{name!r}: start with a letter, then letters and digits only"
    if name in BUILT_IN_AXES:
        return f"{name!r} is a built-in axis ({', '.join(BUILT_IN_AXES)})"
    return None


def axis_label_problem(label: str) -> str | None:
    """Why ``label`` cannot label an axis value (None when it can)."""
    if not re.fullmatch(AXIS_LABEL, label):
        return f"{label!r}: use letters, digits, '.', '+' and '-' only (no '_')"
    return None


def label_order(label: str) -> tuple:
    """Sort key of value labels: numbers by value first ("0.001" < "0.01" < "1e-1"), then text."""
    try:
        value = float(label)
    except ValueError:
        value = math.nan
    return (0, value, label) if math.isfinite(value) else (1, 0.0, label)


def format_float32(value: float) -> str:
    """The shortest decimal that reads back to the same float32, printed as Python prints a
    float: 0.25, 1.0, 2.0, 0.0625 (a proto float 0.1 prints 0.1, not 0.10000000149011612)."""
    target = _float32(value)
    for digits in range(1, 10):
        candidate = float(f"{value:.{digits}g}")
        if _float32(candidate) == target:
            return repr(candidate)
    return repr(float(value))


def _float32(value: float) -> float:
    return struct.unpack("<f", struct.pack("<f", value))[0]


def scale_names(scales: Sequence[float]) -> tuple[str, ...]:
    """Each scale as ``format_float32`` prints it."""
    return tuple(format_float32(s) for s in scales)


def parse_run_name(name: str) -> RunName:
    """(run, setting) of a folder name; a name that does not follow the pattern is a setting
    of its own: run = the name, setting = Setting(dataset=name)."""
    match = _PATTERN.match(name)
    if match is None:
        return RunName(run=name, setting=Setting(dataset=name))
    scales = tuple(float(s) for s in match["scales"].split("_"))
    axes = tuple((m["name"], m["label"]) for m in _AXIS_PART.finditer(match["axes"]))
    return RunName(run=match["run"],
                   setting=Setting(match["dataset"], int(match["stride"]), scales, axes))


def run_order(run: str) -> tuple[int, str]:
    """Sort key putting "1st" < "2nd" < ... < "10th" (leading number), then by text."""
    digits = re.match(r"\d+", run)
    return (int(digits.group()) if digits else 1 << 30, run)
