"""The training progress line: step, losses, steps per second and time left.

``ProgressMeter`` collects the losses of each step and, every ``every_n_steps`` steps (and at
the last step of an epoch), returns a ``ProgressReport`` with the mean losses over the
interval and the interval's speed; ``format_progress`` prints it as e.g. (one line)::

    step  500/1500  loss 0.8123 (rpn loc 0.0411 obj 0.0930 box loc 0.2012 cls 0.1380
    mask 0.3390)  12.30 steps/s  1m21s left
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass

from object_detection.fields import LossNames

_SHORT_NAMES = {
    LossNames.rpn_localization: "rpn loc",
    LossNames.rpn_objectness: "obj",
    LossNames.box_localization: "box loc",
    LossNames.box_classification: "cls",
    LossNames.mask: "mask",
    LossNames.regularization: "reg",
}


@dataclass(frozen=True)
class ProgressReport:
    """Mean losses over the steps since the last report, and the speed over them."""

    step: int
    total_steps: int
    losses: dict[str, float]
    steps_per_sec: float

    @property
    def seconds_left(self) -> float:
        """Training time left at this speed (evaluations not counted)."""
        if self.steps_per_sec <= 0:
            return float("inf")
        return (self.total_steps - self.step) / self.steps_per_sec


def format_duration(seconds: float) -> str:
    """E.g. 42 -> ``42s``, 81 -> ``1m21s``, 3725 -> ``1h02m``; ``?`` when unknown."""
    if seconds != seconds or seconds == float("inf"):
        return "?"
    seconds = int(round(seconds))
    if seconds < 60:
        return f"{seconds}s"
    if seconds < 3600:
        return f"{seconds // 60}m{seconds % 60:02d}s"
    return f"{seconds // 3600}h{seconds % 3600 // 60:02d}m"


def format_progress(report: ProgressReport) -> str:
    """The one-line form of a report (see the module docstring)."""
    width = len(str(report.total_steps))
    parts = [f"step {report.step:>{width}}/{report.total_steps}"]
    if LossNames.total in report.losses:
        parts.append(f"loss {report.losses[LossNames.total]:.4f}")
    details = " ".join(f"{short} {report.losses[name]:.4f}"
                       for name, short in _SHORT_NAMES.items() if name in report.losses)
    if details:
        parts[-1] += f" ({details})"
    parts.append(f"{report.steps_per_sec:.2f} steps/s")
    parts.append(f"{format_duration(report.seconds_left)} left")
    return "  ".join(parts)


class ProgressMeter:
    """Accumulates per-step losses; ``update`` returns a report every ``every_n_steps``
    steps (counted by step number) or when ``force`` is given."""

    def __init__(self, total_steps: int, every_n_steps: int,
                 clock: Callable[[], float] = time.monotonic) -> None:
        if every_n_steps < 1:
            raise ValueError(f"every_n_steps must be >= 1, got {every_n_steps}")
        self.total_steps = total_steps
        self.every_n_steps = every_n_steps
        self._clock = clock
        self.restart()

    def restart(self) -> None:
        """Starts a new interval now (e.g. after an evaluation, which is not training time)."""
        self._sums: dict[str, float] = {}
        self._count = 0
        self._start = self._clock()

    def update(self, step: int, losses: Mapping[str, float],
               force: bool = False) -> ProgressReport | None:
        for name, value in losses.items():
            self._sums[name] = self._sums.get(name, 0.0) + value
        self._count += 1
        if not force and step % self.every_n_steps:
            return None
        elapsed = max(self._clock() - self._start, 1e-9)
        report = ProgressReport(step, self.total_steps,
                                {n: s / self._count for n, s in self._sums.items()},
                                self._count / elapsed)
        self.restart()
        return report
