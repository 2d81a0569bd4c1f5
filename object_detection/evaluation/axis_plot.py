"""A PNG of metrics per value of one axis: their mean with the std as error bars, and each run.

One panel per metric prefix (boxes, masks), one series per metric (mAP, mAP@.50) across the
values of the axis (``aggregate.summarize_by``); the small dots are the runs' own values (their
best evaluations), the large markers the means of ``aggregate.paper_mean``. Drawn with
matplotlib's Agg canvas (no display needed) and written atomically.
"""

from __future__ import annotations

import os
from collections.abc import Sequence

from object_detection import atomic_files
from object_detection.evaluation import metric_names
from object_detection.evaluation.aggregate import ValueSummary
from object_detection.evaluation.metric_names import short_label
from object_detection.evaluation.report import check_output_file

_PANELS = ((metric_names.BOXES, "boxes"), (metric_names.MASKS, "masks"))


def write_axis_plot(path: str, by: Sequence[ValueSummary], metrics: Sequence[str]) -> str:
    """Writes the plot of ``metrics`` (values in %) per value of ``by``'s axis; returns the
    path. Raises ValueError when there is no value to draw."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    if not by:
        raise ValueError("no values to plot")
    axis = by[0].axis
    panels = [(prefix, title, [m for m in metrics if m.startswith(prefix)])
              for prefix, title in _PANELS]
    panels = [panel for panel in panels if panel[2]]
    others = [m for m in metrics if not m.startswith(tuple(p for p, _ in _PANELS))]
    if others:
        panels.append(("", "other", others))
    figure = Figure(figsize=(max(5.0, 1.2 * len(by) + 2.5) * len(panels), 4.2),
                    layout="constrained")
    FigureCanvasAgg(figure)
    axes = figure.subplots(1, len(panels), squeeze=False).ravel()
    positions = list(range(len(by)))
    for ax, (_, title, panel_metrics) in zip(axes, panels):
        width = 0.5 / max(len(panel_metrics), 1)
        for k, metric in enumerate(panel_metrics):
            offset = (k - (len(panel_metrics) - 1) / 2) * width
            color = f"C{k}"
            for x, value in zip(positions, by):
                runs = [100 * r.best.metrics[metric] for r in value.runs
                        if r.best.metrics.get(metric) is not None
                        and r.best.metrics[metric] >= 0]
                ax.plot([x + offset] * len(runs), runs, ".", color=color, alpha=0.35,
                        markersize=5)
            points = [(x + offset, 100 * v.mean[metric], 100 * (v.std.get(metric) or 0.0))
                      for x, v in zip(positions, by) if v.mean.get(metric) is not None]
            if points:
                xs, means, stds = zip(*points)
                ax.errorbar(xs, means, yerr=stds, fmt="o", color=color, capsize=5,
                            markersize=7, label=short_label(metric))
        ax.set_xticks(positions, [f"{v.value}\n({len(v.runs)} runs)" for v in by])
        ax.set_xlim(-0.6, len(by) - 0.4)
        ax.set_xlabel(axis)
        ax.set_ylabel("%")
        ax.set_ylim(bottom=0)
        ax.set_title(title, fontsize=10)
        ax.grid(alpha=0.3, axis="y")
        ax.legend(fontsize=8)
    figure.suptitle(f"by {axis}: mean ± std over all runs with each value (3+ runs: highest "
                    "and lowest dropped); dots: the runs", fontsize=10)
    check_output_file(path)
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    with atomic_files.open_atomic(path, "wb") as f:
        figure.savefig(f, dpi=100, format="png")
    return path
