"""The table that ``train_and_eval.py`` prints at the end: one row per run.

Each row: the run's folder name, what happened (trained, complete, failed, ...), the last step,
the step and value of its best evaluation by the selection metric, and the box and mask
mAP / mAP@.50 / mAP@.75 of that best evaluation (percent). Settings are compared, with means
over the runs, by ``coco_metrics.py``.
"""

from __future__ import annotations

from collections.abc import Sequence

from object_detection.evaluation import metric_names, results_log
from object_detection.evaluation.aggregate import best_evaluation
from object_detection.training.runner import RunOutcome

# (label, metric): mAP, mAP@.50 and mAP@.75 of boxes, then masks.
COLUMNS = tuple((metric_names.short_label(name), name)
                for name in metric_names.names(metric_names.STATS[:3]))


def _percent(value: float | None) -> str:
    return "-" if value is None or value < 0 else f"{100 * value:.1f}"


def format_results(outcomes: Sequence[RunOutcome], metric: str) -> str:
    """The table (plain text); metrics of each run's best evaluation by ``metric``."""
    name_width = max([len("run")] + [len(o.name) for o in outcomes])
    header = (f"{'run':<{name_width}}  {'status':<10} {'step':>6} {'best at':>7}  "
              + " ".join(f"{label:>9}" for label, _ in COLUMNS))
    lines = [f"Best evaluation of each run by {metric} (values in %):", header]
    for outcome in outcomes:
        history = results_log.latest_per_step(
            results_log.read_evaluations(str(outcome.run_dir)))
        best = best_evaluation(history, metric)
        values = [None if best is None else best.metrics.get(name) for _, name in COLUMNS]
        step = "-" if outcome.step is None else str(outcome.step)
        best_step = "-" if best is None else str(best.step)
        lines.append(f"{outcome.name:<{name_width}}  {outcome.status:<10} {step:>6} "
                     f"{best_step:>7}  " + " ".join(f"{_percent(v):>9}" for v in values))
    return "\n".join(lines)
