"""A PNG of one metric over training steps: one panel per setting, one line per run.

Drawn with matplotlib's Agg canvas (no display needed); each run's chosen evaluation is
marked with a dot.
"""

from __future__ import annotations

import math
import os
from collections.abc import Sequence

from object_detection import atomic_files
from object_detection.evaluation.aggregate import SettingSummary
from object_detection.evaluation.metric_names import short_label
from object_detection.evaluation.report import check_output_file

_COLUMNS = 3


def write_progress_plot(path: str, summaries: Sequence[SettingSummary], metric: str) -> str:
    """Writes the plot of ``metric`` (values in %) over steps; returns the path.

    Raises ValueError when there is no run to draw.
    """
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    if not any(summary.runs for summary in summaries):
        raise ValueError("no runs to plot")
    columns = min(_COLUMNS, len(summaries))
    rows = math.ceil(len(summaries) / columns)
    figure = Figure(figsize=(5 * columns, 3.6 * rows), layout="constrained")
    FigureCanvasAgg(figure)
    axes = figure.subplots(rows, columns, squeeze=False).ravel()
    for ax, summary in zip(axes, summaries):
        for run in summary.runs:
            points = [(e.step, 100 * e.metrics[metric]) for e in run.history
                      if metric in e.metrics and e.metrics[metric] >= 0]
            if not points:
                continue
            steps, values = zip(*points)
            line, = ax.plot(steps, values, marker=".", label=run.run)
            if metric in run.best.metrics:
                ax.plot([run.best.step], [100 * run.best.metrics[metric]], "o",
                        color=line.get_color())
        ax.set_title(summary.setting.label(), fontsize=9)
        ax.set_xlabel("step")
        ax.set_ylabel(f"{short_label(metric)} (%)")
        ax.grid(alpha=0.3)
        ax.legend(fontsize=7)
    figure.suptitle(f"{short_label(metric)} (%) over training steps; large dot: each run's "
                    "chosen evaluation", fontsize=10)
    for ax in axes[len(summaries):]:
        ax.set_visible(False)
    check_output_file(path)
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    with atomic_files.open_atomic(path, "wb") as f:
        figure.savefig(f, dpi=100, format="png")
    return path
