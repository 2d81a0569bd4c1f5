"""The body of ``coco_metrics.py``: compare the runs under a folder by their COCO scores.

``compare_runs(args)`` takes the script's parsed arguments (``--log_dir``, ``--metric``,
``--csv``, ``--json``, ``--plot``), checks the output files first, collects every run's best
evaluation (``evaluation.aggregate``), prints the table per setting (``evaluation.report``)
and the skipped run folders, writes the files asked for and returns the exit code: 1 when no
run has an evaluation with ``--metric``.
"""

from __future__ import annotations

import argparse
import logging

from object_detection.cli.exits import fail
from object_detection.evaluation import aggregate, metric_names, report
from object_detection.evaluation.progress_plot import write_progress_plot


def compare_runs(args: argparse.Namespace) -> int:
    """Prints (and writes) the comparison of the runs under ``--log_dir``."""
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    for path in (args.csv, args.json, args.plot):
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
    metrics = metric_names.report_metrics()
    summaries = aggregate.summarize(collection.runs, metrics)
    print(report.format_table(summaries, metrics, args.metric))
    for folder, reason in collection.skipped:
        print(f"skipped {folder}: {reason}")
    if args.csv:
        print(f"wrote {report.write_csv(args.csv, summaries, metrics)}")
    if args.json:
        content = report.to_json_dict(collection, summaries, metrics, args.metric, args.log_dir)
        print(f"wrote {report.write_json(args.json, content)}")
    if args.plot:
        print(f"wrote {write_progress_plot(args.plot, summaries, args.metric)}")
    return 0
