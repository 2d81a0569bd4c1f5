"""Best evaluation per run and the mean of the runs of each setting, as in the paper.

A run is a folder holding an evaluation log (``results_log.EVALUATIONS_FILE``) anywhere under
the log dir; its folder name gives (run, setting) (``run_names``: dataset, stride, scales and
the label of each grid axis). For each run the evaluation with the highest selection metric
(default ``DetectionMasks_Precision/mAP@.50IOU``) is chosen (ties: the earliest step). Per
setting (``summarize``), or per value of one axis over all runs of all settings that share it
(``summarize_by``), and per metric:

* mean: with three runs or more, the highest and the lowest value are dropped and the rest
  averaged (a trimmed mean, each metric on its own); with one or two runs, the plain mean;
* std: the SAMPLE standard deviation (n - 1 in the denominator) of the same values that the
  mean averaged; None with fewer than two values.

A value that is missing, not finite, or negative (pycocotools' -1: undefined, e.g. no ground
truth of that size) is left out of both; with no values left, mean and std are None.
"""

from __future__ import annotations

import logging
import math
import os
from collections.abc import Sequence
from dataclasses import dataclass, field

from object_detection import atomic_files
from object_detection.evaluation import metric_names, results_log
from object_detection.evaluation.results_log import Evaluation
from object_detection.run_names import Setting, label_order, parse_run_name, run_order

_LOG = logging.getLogger(__name__)

MEAN_RULE = ("with 3 or more runs the highest and the lowest value of each metric are dropped "
             "and the rest averaged; with fewer, the plain mean")
STD_RULE = "sample standard deviation (n - 1) of the values that the mean averaged"

# The axes every parsed run name has, for ``summarize_by`` besides a grid's own axes.
BUILT_IN_AXES = ("dataset", "stride", "scales")
# What ``summarize_by`` reports by default: mAP and mAP@.50 of boxes and masks.
BY_METRICS = tuple(metric_names.names(("Precision/mAP", "Precision/mAP@.50IOU")))


@dataclass
class RunResult:
    """One run: its chosen (best) evaluation and its whole history (one per step)."""

    folder: str            # path relative to the log dir
    run: str
    setting: Setting
    best: Evaluation
    history: list[Evaluation]


@dataclass
class SettingSummary:
    """The runs of one setting and, per metric, their mean, std and number of values used."""

    setting: Setting
    runs: list[RunResult]
    mean: dict[str, float | None] = field(default_factory=dict)
    std: dict[str, float | None] = field(default_factory=dict)
    values_used: dict[str, int] = field(default_factory=dict)


@dataclass
class ValueSummary:
    """The runs of all settings that share one value of an axis, and per metric their mean,
    std and number of values used (the rules of ``paper_mean``)."""

    axis: str
    value: str
    runs: list[RunResult]
    settings: int          # how many settings these runs come from
    mean: dict[str, float | None] = field(default_factory=dict)
    std: dict[str, float | None] = field(default_factory=dict)
    values_used: dict[str, int] = field(default_factory=dict)


@dataclass
class Collection:
    """What ``collect_runs`` found: usable runs, and run folders skipped with the reason."""

    runs: list[RunResult]
    skipped: list[tuple[str, str]]


def _defined(value: float | None) -> bool:
    return value is not None and math.isfinite(value) and value >= 0


def find_run_dirs(log_dir: str) -> list[str]:
    """Folders under ``log_dir`` (itself included) that hold an evaluation log, sorted;
    temporary folders of interrupted writes (``atomic_files``) are not searched."""
    found = []
    for directory, subdirs, files in os.walk(log_dir):
        subdirs[:] = sorted(d for d in subdirs if not atomic_files.is_temporary(d))
        if results_log.EVALUATIONS_FILE in files:
            found.append(directory)
    return sorted(found)


def best_evaluation(evaluations: Sequence[Evaluation], metric: str) -> Evaluation | None:
    """The evaluation with the highest defined ``metric`` (earliest step on ties); None when
    no evaluation has it."""
    best = None
    for evaluation in sorted(evaluations, key=lambda e: e.step):
        value = evaluation.metrics.get(metric)
        if _defined(value) and (best is None or value > best.metrics[metric]):
            best = evaluation
    return best


def collect_runs(log_dir: str, metric: str = metric_names.BEST_METRIC) -> Collection:
    """Reads every run's evaluation log under ``log_dir`` and picks its best evaluation.

    Raises FileNotFoundError when ``log_dir`` is not a folder. Runs with no evaluation, or
    none with ``metric``, are skipped with a warning and listed in ``skipped``.
    """
    if os.path.exists(log_dir) and not os.path.isdir(log_dir):
        raise ValueError(f"{log_dir}: not a folder (give the folder holding the run folders)")
    if not os.path.isdir(log_dir):
        raise FileNotFoundError(f"{log_dir}: no such folder")
    runs, skipped = [], []
    for run_dir in find_run_dirs(log_dir):
        relative = os.path.relpath(run_dir, log_dir)
        name = os.path.basename(os.path.abspath(run_dir))
        history = results_log.latest_per_step(results_log.read_evaluations(run_dir))
        best = best_evaluation(history, metric)
        if best is None:
            reason = "no evaluations" if not history else f"no evaluation has {metric}"
            _LOG.warning("%s: skipped (%s)", run_dir, reason)
            skipped.append((relative, reason))
            continue
        parsed = parse_run_name(name)
        runs.append(RunResult(relative, parsed.run, parsed.setting, best, history))
    return Collection(runs, skipped)


def paper_mean(values: Sequence[float | None]) -> tuple[float | None, float | None, int]:
    """(mean, std, number of values averaged) of the defined values, by the module's rules."""
    kept = sorted(v for v in values if _defined(v))
    if len(kept) >= 3:
        kept = kept[1:-1]
    if not kept:
        return None, None, 0
    mean = sum(kept) / len(kept)
    std = None
    if len(kept) >= 2:
        std = math.sqrt(sum((v - mean) ** 2 for v in kept) / (len(kept) - 1))
    return mean, std, len(kept)


def summarize(runs: Sequence[RunResult],
              metrics: Sequence[str] | None = None) -> list[SettingSummary]:
    """Groups runs by setting (sorted; runs in order 1st, 2nd, ...) with mean and std of
    each metric (default ``metric_names.report_metrics()``) over the runs' best evaluations."""
    metrics = list(metric_names.report_metrics() if metrics is None else metrics)
    groups: dict[Setting, list[RunResult]] = {}
    for run in runs:
        groups.setdefault(run.setting, []).append(run)
    summaries = []
    for setting in sorted(groups, key=Setting.sort_key):
        members = sorted(groups[setting], key=lambda r: (run_order(r.run), r.folder))
        summary = SettingSummary(setting, members)
        for metric in metrics:
            mean, std, used = paper_mean([r.best.metrics.get(metric) for r in members])
            summary.mean[metric], summary.std[metric], summary.values_used[metric] = mean, std, used
        summaries.append(summary)
    return summaries


def axis_value(setting: Setting, axis: str) -> str | None:
    """The value of ``axis`` in ``setting`` as text (scales joined by spaces); None when the
    setting does not have it (a folder name that does not parse, a grid without that axis)."""
    if axis == "dataset":
        return setting.dataset
    if axis == "stride":
        return None if setting.stride is None else str(setting.stride)
    if axis == "scales":
        return " ".join(str(s) for s in setting.scales) or None
    return dict(setting.axes).get(axis)


def axes_found(runs: Sequence[RunResult]) -> list[str]:
    """The axes of ``runs``: the built-in ones some run has, then the grid axes in the order
    of the run names."""
    found = [axis for axis in BUILT_IN_AXES
             if any(axis_value(run.setting, axis) is not None for run in runs)]
    for run in sorted(runs, key=lambda r: r.setting.sort_key()):
        found += [name for name, _ in run.setting.axes if name not in found]
    return found


def _value_order(setting: Setting, axis: str) -> tuple:
    if axis == "scales":
        return (0, setting.scales)
    if axis == "stride":
        return (0, setting.stride)
    return label_order(axis_value(setting, axis) or "")


def summarize_by(runs: Sequence[RunResult], axis: str,
                 metrics: Sequence[str] = BY_METRICS) -> list[ValueSummary]:
    """Groups ``runs`` by their value of ``axis`` (numbers by value, then text), with mean and
    std of each metric over the best evaluations of all runs of all settings with that value.
    Runs without the axis are left out; ValueError when no run has it."""
    groups: dict[str, list[RunResult]] = {}
    for run in runs:
        value = axis_value(run.setting, axis)
        if value is not None:
            groups.setdefault(value, []).append(run)
    if not groups:
        raise ValueError(f"no run has the axis {axis!r} (axes found: "
                         f"{', '.join(axes_found(runs)) or 'none'})")
    summaries = []
    for value, members in sorted(groups.items(),
                                 key=lambda item: _value_order(item[1][0].setting, axis)):
        members = sorted(members, key=lambda r: (r.setting.sort_key(), run_order(r.run),
                                                 r.folder))
        summary = ValueSummary(axis, value, members, len({r.setting for r in members}))
        for metric in metrics:
            mean, std, used = paper_mean([r.best.metrics.get(metric) for r in members])
            summary.mean[metric], summary.std[metric], summary.values_used[metric] = mean, std, used
        summaries.append(summary)
    return summaries
