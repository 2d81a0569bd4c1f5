"""Aggregated results as a terminal table (percent), CSV and JSON (fractions 0..1).

CSV: one row per run and a ``mean`` and a ``std`` row per setting, with the columns
``dataset, stride, scales``, one per grid axis (its name; only when the runs have axes),
``row, folder, step, checkpoint`` and one per metric (full names); undefined values are empty.
JSON: the same, nested by setting (each with its ``axes``), with the selection metric and the
averaging rules, and with ``--by`` the summary per value of that axis (``by_json``); undefined
values are null. ``format_by_table`` prints that summary. Both files are written atomically
(``atomic_files``); ``check_output_file`` refuses a path that cannot become a file.
"""

from __future__ import annotations

import csv
import os
from collections import Counter
from collections.abc import Sequence
from pathlib import Path

from object_detection import atomic_files
from object_detection.evaluation.metric_names import short_label
from object_detection.evaluation.aggregate import (MEAN_RULE, STD_RULE, Collection, RunResult,
                                                   SettingSummary, ValueSummary)

CSV_SETTING = ("dataset", "stride", "scales")
CSV_RUN = ("row", "folder", "step", "checkpoint")


def _percent(value: float | None) -> str:
    return "-" if value is None or value < 0 else f"{100 * value:.2f}"


def run_labels(runs: Sequence[RunResult]) -> list[str]:
    """The row label of each run of a setting: its run name ("1st"), or its folder under the
    log dir where another run of the setting has the same name (e.g. two grids' "1st")."""
    counts = Counter(run.run for run in runs)
    return [run.run if counts[run.run] == 1 else run.folder for run in runs]


def format_table(summaries: Sequence[SettingSummary], metrics: Sequence[str],
                 selection_metric: str) -> str:
    """A plain-text table: per setting, a row per run (its best evaluation), mean and std."""
    labels = [short_label(m) for m in metrics]
    width = max(7, *(len(label) for label in labels))
    lines = [f"Best evaluation of each run by {selection_metric}; values in %.",
             f"mean: {MEAN_RULE}.", f"std: {STD_RULE}.", ""]
    for summary in summaries:
        names = run_labels(summary.runs)
        first = max(8, *(len(name) + 2 for name in names))
        header = f"{'run':<{first}}{'step':>8}  " + " ".join(f"{label:>{width}}" for label in labels)
        lines += [summary.setting.label(), header]
        for name, run in zip(names, summary.runs):
            values = " ".join(f"{_percent(run.best.metrics.get(m)):>{width}}" for m in metrics)
            lines.append(f"{name:<{first}}{run.best.step:>8}  {values}")
        for name, row in (("mean", summary.mean), ("std", summary.std)):
            values = " ".join(f"{_percent(row.get(m)):>{width}}" for m in metrics)
            lines.append(f"{name:<{first}}{'':>8}  {values}")
        lines.append("")
    return "\n".join(lines)


def format_by_table(by: Sequence[ValueSummary], metrics: Sequence[str],
                    selection_metric: str) -> str:
    """A plain-text table: per value of the axis, its number of runs and settings and each
    metric's ``mean ± std`` (in %) over those runs; the rules above it."""
    axis = by[0].axis
    labels = [short_label(m) for m in metrics]
    width = max(15, *(len(label) for label in labels))
    first = max(len(axis), *(len(v.value) for v in by)) + 2
    lines = [f"By {axis}: the best evaluation (by {selection_metric}) of every run of every "
             f"setting with that {axis}; values in %, mean ± std.",
             f"mean: {MEAN_RULE}.", f"std: {STD_RULE}.", "",
             f"{axis:<{first}}{'runs':>5}{'settings':>10}  "
             + " ".join(f"{label:>{width}}" for label in labels)]
    for value in by:
        cells = []
        for metric in metrics:
            mean, std = value.mean.get(metric), value.std.get(metric)
            cell = _percent(mean) if std is None or mean is None else (
                f"{_percent(mean)} ± {_percent(std)}")
            cells.append(f"{cell:>{width}}")
        lines.append(f"{value.value:<{first}}{len(value.runs):>5}{value.settings:>10}  "
                     + " ".join(cells))
    return "\n".join(lines) + "\n"


def by_json(by: Sequence[ValueSummary], metrics: Sequence[str]) -> dict:
    """The summary per value of one axis, for the JSON report (fractions 0..1)."""
    return {"axis": by[0].axis, "metrics": list(metrics), "values": [
        {"value": v.value, "runs": [r.folder for r in v.runs], "settings": v.settings,
         "mean": {m: v.mean.get(m) for m in metrics}, "std": {m: v.std.get(m) for m in metrics},
         "values_averaged": {m: v.values_used.get(m, 0) for m in metrics}}
        for v in by]}


def axis_names(summaries: Sequence[SettingSummary]) -> list[str]:
    """The grid axes of the settings, in the order of their names."""
    names: list[str] = []
    for summary in summaries:
        names += [name for name, _ in summary.setting.axes if name not in names]
    return names


def _cell(value: float | None) -> str:
    return "" if value is None or value < 0 else repr(float(value))


def write_csv(path: str, summaries: Sequence[SettingSummary], metrics: Sequence[str]) -> str:
    """Writes the CSV described in the module docstring; returns the path."""
    check_output_file(path)
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    axes = axis_names(summaries)
    with atomic_files.open_atomic(path, "w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(list(CSV_SETTING) + axes + list(CSV_RUN) + list(metrics))
        for summary in summaries:
            setting = summary.setting
            labels = dict(setting.axes)
            fixed = [setting.dataset, "" if setting.stride is None else setting.stride,
                     " ".join(str(s) for s in setting.scales)] + [labels.get(a, "") for a in axes]
            for run in summary.runs:
                writer.writerow(fixed + [run.run, run.folder, run.best.step,
                                         run.best.checkpoint or ""]
                                + [_cell(run.best.metrics.get(m)) for m in metrics])
            for name, row in (("mean", summary.mean), ("std", summary.std)):
                writer.writerow(fixed + [name, "", "", ""] + [_cell(row.get(m)) for m in metrics])
    return path


def _json_value(value: float | None) -> float | None:
    return None if value is None or value < 0 else float(value)


def to_json_dict(collection: Collection, summaries: Sequence[SettingSummary],
                 metrics: Sequence[str], selection_metric: str, log_dir: str) -> dict:
    """The JSON report as a dict (see the module docstring)."""
    settings = []
    for summary in summaries:
        setting = summary.setting
        settings.append({
            "dataset": setting.dataset, "stride": setting.stride, "scales": list(setting.scales),
            "axes": dict(setting.axes),
            "runs": [{"run": r.run, "folder": r.folder, "step": r.best.step,
                      "checkpoint": r.best.checkpoint,
                      "metrics": {m: _json_value(r.best.metrics.get(m)) for m in metrics}}
                     for r in summary.runs],
            "mean": {m: summary.mean.get(m) for m in metrics},
            "std": {m: summary.std.get(m) for m in metrics},
            "values_averaged": {m: summary.values_used.get(m, 0) for m in metrics},
        })
    return {"log_dir": log_dir, "selection_metric": selection_metric, "mean_rule": MEAN_RULE,
            "std_rule": STD_RULE, "settings": settings,
            "skipped": [{"folder": f, "reason": r} for f, r in collection.skipped]}


def write_json(path: str, report: dict) -> str:
    """Writes a report dict (from ``to_json_dict``); returns the path."""
    check_output_file(path)
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    atomic_files.write_json(path, report, indent=2)
    return path


def check_output_file(path: str) -> None:
    """ValueError naming ``path`` when it is a folder, or a folder above it is a file."""
    if os.path.isdir(path):
        raise ValueError(f"{path}: is a folder; give a file name to write")
    for parent in Path(path).absolute().parents:  # the nearest one that exists
        if parent.exists():
            if not parent.is_dir():
                raise ValueError(f"{path}: cannot be written, {parent} is a file, not a folder")
            return
