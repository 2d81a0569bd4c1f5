#!/usr/bin/env python
"""Compares runs by their COCO scores: the best evaluation of each run and the mean per setting.

Reads every run folder's evaluation log (evaluations.jsonl) under --log_dir, picks each run's
evaluation with the highest --metric (default: mask mAP@.50, as in the paper), and prints per
setting (dataset, stride, anchor scales) the runs, their mean (with three runs or more the
highest and the lowest value are dropped) and the sample standard deviation, for mAP, mAP@.50,
mAP@.75 and small / medium / large, boxes and masks. With --by AXIS (an axis of the grid, e.g.
lr, or dataset, stride, scales), also mAP and mAP@.50 of boxes and masks per value of that axis
over all runs that share it, printed and plotted with their spread.
"""

from __future__ import annotations

import argparse
import sys

from object_detection import cli
from object_detection.cli import metrics_command
from object_detection.evaluation import metric_names

DEFAULT_LOG_DIR = "runs"


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--log_dir", default=DEFAULT_LOG_DIR,
                        help=f"folder holding the run folders (default {DEFAULT_LOG_DIR}, where "
                             "train_and_eval.py writes them)")
    parser.add_argument("--metric", default=metric_names.BEST_METRIC,
                        help="metric that picks each run's best evaluation and is plotted "
                             f"(default {metric_names.BEST_METRIC})")
    parser.add_argument("--csv", metavar="PATH", help="also write the table as CSV (fractions)")
    parser.add_argument("--json", metavar="PATH", help="also write the results as JSON")
    parser.add_argument("--plot", metavar="PATH",
                        help="also write a PNG of --metric over training steps per run")
    parser.add_argument("--by", metavar="AXIS",
                        help="also compare the values of AXIS (a grid axis such as lr, or "
                             "dataset, stride, scales): box and mask mAP and mAP@.50 of all "
                             "runs with each value, mean and std, printed and plotted")
    parser.add_argument("--by_plot", metavar="PATH",
                        help="where to write the --by plot (default LOG_DIR/by_AXIS.png)")
    cli.add_debug_flag(parser)
    return parser


@cli.error_exit
def main(argv: list[str] | None = None) -> int:
    return metrics_command.compare_runs(build_parser().parse_args(argv))


if __name__ == "__main__":
    sys.exit(main())
