"""Names of run folders, as the published code writes them.

``{run}_run_{dataset}_stride{stride}_{scales joined by "_"}``, e.g.
``1st_run_separated_stride8_0.25_0.5_1.0_2.0``: run "1st", dataset "separated" (a dataset name
may contain underscores, e.g. "separated_mixed"), output stride 8, anchor scales
(0.25, 0.5, 1.0, 2.0). The setting of a run is (dataset, stride, scales); runs of one setting
are repetitions whose scores are averaged.
"""

from __future__ import annotations

import re
import struct
from collections.abc import Sequence
from dataclasses import dataclass

_NUMBER = r"\d+(?:\.\d*)?(?:e-?\d+)?"
_PATTERN = re.compile(rf"^(?P<run>[^_]+)_run_(?P<dataset>.+)_stride(?P<stride>\d+)_"
                      rf"(?P<scales>{_NUMBER}(?:_{_NUMBER})*)$")


@dataclass(frozen=True)
class Setting:
    """What a run was trained with; runs of the same setting are averaged."""

    dataset: str
    stride: int | None = None
    scales: tuple[float, ...] = ()

    def sort_key(self) -> tuple:
        return (self.dataset, -1 if self.stride is None else self.stride, self.scales)

    def label(self) -> str:
        """Human-readable, e.g. ``separated, stride 8, scales 0.25, 0.5, 1.0, 2.0``."""
        parts = [self.dataset]
        if self.stride is not None:
            parts.append(f"stride {self.stride}")
        if self.scales:
            parts.append("scales " + ", ".join(str(s) for s in self.scales))
        return ", ".join(parts)


@dataclass(frozen=True)
class RunName:
    """A parsed run folder name."""

    run: str
    setting: Setting


def format_run_name(run: str, dataset: str, stride: int, scales: Sequence[float]) -> str:
    """The folder name of a run, e.g. ("1st", "separated", 8, [0.25, 0.5, 1.0, 2.0]) ->
    ``1st_run_separated_stride8_0.25_0.5_1.0_2.0`` (scales as ``format_float32`` prints them)."""
    if not run or "_" in run:
        raise ValueError(f"run name must be non-empty without '_', got {run!r}")
    if not dataset:
        raise ValueError("dataset name must be non-empty")
    if not scales:
        raise ValueError("a run needs at least one anchor scale")
    return f"{run}_run_{dataset}_stride{int(stride)}_{'_'.join(scale_names(scales))}"


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
    return RunName(run=match["run"],
                   setting=Setting(match["dataset"], int(match["stride"]), scales))


def run_order(run: str) -> tuple[int, str]:
    """Sort key putting "1st" < "2nd" < ... < "10th" (leading number), then by text."""
    digits = re.match(r"\d+", run)
    return (int(digits.group()) if digits else 1 << 30, run)
