"""The body of ``coco_metrics.py``: compare the runs under a folder by their COCO scores.

``compare_runs(args)`` takes the script's parsed arguments (``--log_dir``, ``--metric``,
``--csv``, ``--json``, ``--plot``, ``--by``, ``--by_plot``), checks the output files first,
collects every run's best evaluation (``evaluation.aggregate``), prints the table per setting
(``evaluation.report``), with ``--by AXIS`` the table per value of that axis (and writes its
plot, ``evaluation.axis_plot``), the skipped run folders, writes the files asked for and
returns the exit code: 1 when no run has an evaluation with ``--metric``, or no run has the
``--by`` axis.
"""

from __future__ import annotations

import argparse
import logging
import os

from object_detection.cli.exits import fail
from object_detection.evaluation import aggregate, metric_names, report
from object_detection.evaluation.axis_plot import write_axis_plot
from object_detection.evaluation.progress_plot import write_progress_plot


def by_plot_path(args: argparse.Namespace) -> str | None:
    """Where the ``--by`` plot goes: ``--by_plot``, else ``LOG_DIR/by_AXIS.png``."""
    if not args.by:
        return None
    return args.by_plot or os.path.join(args.log_dir, f"by_{args.by}.png")


def compare_runs(args: argparse.Namespace) -> int:
    """Prints (and writes) the comparison of the runs under ``--log_dir``."""
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    if args.by_plot and not args.by:
        return fail("--by_plot needs --by AXIS")
    axis_plot = by_plot_path(args)
    for path in (args.csv, args.json, args.plot, axis_plot):
        if path:
            report.check_output_file(path)
    collection = aggregate.collect_runs(args.log_dir, args.metric)
    if not collection.runs:
        what = "no run folder with an evaluation log (evaluations.jsonl)"
        if collection.skipped:
            what = (f"no run with an evaluation that has {args.metric} "
                    f"({len(collection.skipped)} run folders skipped)")
        return fail(f"{args.log_dir}: {what}; train and evaluate first "
                    f"(python train_and_eval.py).")
    found = aggregate.axes_found(collection.runs)
    if args.by and args.by not in found:
        return fail(f"--by {args.by}: the runs under {args.log_dir} have no axis of that name; "
                    f"the axes found are {', '.join(found)}.")
    metrics = metric_names.report_metrics()
    summaries = aggregate.summarize(collection.runs, metrics)
    print(report.format_table(summaries, metrics, args.metric))
    by = aggregate.summarize_by(collection.runs, args.by) if args.by else None
    if by:
        print(report.format_by_table(by, aggregate.BY_METRICS, args.metric))
        left_out = len(collection.runs) - sum(len(value.runs) for value in by)
        if left_out:
            print(f"left out {left_out} run(s) without the axis {args.by}\n")
    for folder, reason in collection.skipped:
        print(f"skipped {folder}: {reason}")
    if args.csv:
        print(f"wrote {report.write_csv(args.csv, summaries, metrics)}")
    if args.json:
        content = report.to_json_dict(collection, summaries, metrics, args.metric, args.log_dir)
        if by:
            content["by"] = report.by_json(by, aggregate.BY_METRICS)
        print(f"wrote {report.write_json(args.json, content)}")
    if args.plot:
        print(f"wrote {write_progress_plot(args.plot, summaries, args.metric)}")
    if by:
        print(f"wrote {write_axis_plot(axis_plot, by, aggregate.BY_METRICS)}")
    return 0
