#!/usr/bin/env python
"""Trains and evaluates Mask R-CNN runs: every epoch a checkpoint and a COCO evaluation.

With no arguments it runs the quickstart grid configs/experiments/quickstart.config: it
generates synthetic pictorial maps and their records under data/quickstart/ (once), trains the
small model of configs/quickstart.config on two CPU cores in minutes, evaluates it on held-out
generated maps after every epoch, and prints a table of the results.

Each run gets a folder (named as in the published code, e.g.
1st_run_synthetic_stride8_0.125_0.25_0.5_1.0) with its pipeline.config, checkpoints
(ckpt-STEP), the best checkpoint by mask mAP@.50 in best/, the evaluations in
evaluations.jsonl and TensorBoard summaries in train/ and eval/. Running the same command again
continues unfinished runs from their last checkpoint and skips finished ones.

A run folder is locked (RUN_DIR/.lock) while a process trains or evaluates it: a second
command on the same folder stops with an error naming the holder. Errors (a folder in use or
not writable, a full disk, a damaged checkpoint, a bad config) stop with one line naming the
path; --debug adds the traceback.

With --ray [ADDRESS] every run is a Ray task: the runs go in parallel on this machine's CPUs
and GPUs, or across the machines of a Ray cluster whose run folders are on shared storage.
"""

from __future__ import annotations

import argparse
import os
import sys

from object_detection import cli
from object_detection.cli import train_command
from object_detection.training.run_specs import DEFAULT_RUNS_DIR

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")  # keep TensorFlow's start-up chatter out

DEFAULT_EXPERIMENT = train_command.DEFAULT_EXPERIMENT


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0],
        epilog="Examples: python train_and_eval.py --experiment configs/experiments/paper.config "
               "--only separated_stride8_0.25 | python train_and_eval.py --pipeline_config "
               "configs/quickstart.config --model_dir runs/mine --num_train_steps 200",
    )
    what = parser.add_mutually_exclusive_group()
    what.add_argument("--experiment", metavar="PATH",
                      help="experiment grid (protos/experiment.proto) whose runs to train "
                           f"(default {DEFAULT_EXPERIMENT} when --pipeline_config is not given)")
    what.add_argument("--pipeline_config", metavar="PATH",
                      help="train a single run of this pipeline config instead of a grid")
    parser.add_argument("--model_dir", metavar="DIR",
                        help="where to write: with a grid, the folder holding its run folders "
                             "(default: the grid's output_dir); with --pipeline_config, the run "
                             f"folder itself (default {DEFAULT_RUNS_DIR}/<config name>)")
    parser.add_argument("--override", action="append", default=[], metavar="KEY=VALUE",
                        help="change a pipeline config field of every run, e.g. "
                             "train_config.batch_size=4, or a grid field, e.g. "
                             "steps_per_epoch=100 (a KEY starting with a field of "
                             "protos/experiment.proto); repeatable")
    parser.add_argument("--only", action="append", default=[], metavar="PATTERN",
                        help="train only the runs whose folder name contains PATTERN (or "
                             "matches it as a glob with * ? [ ]); repeatable or comma-separated")
    parser.add_argument("--num_train_steps", type=int, metavar="N",
                        help="total training steps of each run (the grid's total_steps, or "
                             "train_config.num_steps of a single pipeline config)")
    parser.add_argument("--steps_per_epoch", type=int, metavar="N",
                        help="training steps between two evaluations (default: the grid's "
                             "steps_per_epoch; for a single config 0, evaluating after the last "
                             "step only)")
    parser.add_argument("--eval_only", action="store_true",
                        help="train nothing: evaluate each kept checkpoint of the runs that is "
                             "not evaluated yet, then print the table")
    parser.add_argument("--log_every_n_steps", type=int, default=100, metavar="N",
                        help="print a progress line and write train summaries every N steps "
                             "(default 100)")
    parser.add_argument("--cpu_replicas", type=int, default=0, metavar="N",
                        help="train with N replicas on logical CPU devices (MirroredStrategy; "
                             "for trying distribution without GPUs). Default: every local GPU, "
                             "or MultiWorkerMirroredStrategy when TF_CONFIG is set")
    ray = parser.add_argument_group(
        "runs in parallel on Ray", 'each run of the grid a Ray task (pip install -e ".[ray]"): '
        "as many at once as the CPUs and GPUs allow, on this machine or on every machine of "
        "a Ray cluster; complete runs are skipped, interrupted ones resume, a failed run "
        "does not stop the others")
    ray.add_argument("--ray", nargs="?", const="", default=None, metavar="ADDRESS",
                     help="run the runs as Ray tasks: with no ADDRESS on a local Ray started "
                          "for the command (every CPU and GPU of this machine; the cluster of "
                          "RAY_ADDRESS when that is set), else on the running cluster at "
                          "ADDRESS: auto (the one this machine belongs to), HOST:6379, or "
                          "ray://HOST:10001. On a cluster the repository, the data and the "
                          "run folders must be at the same paths on every machine")
    ray.add_argument("--gpus_per_run", type=float, metavar="N",
                     help="GPUs of each run's task (a fraction shares a GPU). Default: 1 when "
                          "the cluster has GPUs, else 0")
    ray.add_argument("--cpus_per_run", type=float, metavar="N",
                     help="CPUs of each run's task, also its TensorFlow threads. Default: "
                          "with GPUs, a GPU node's CPUs divided among its GPUs; without, the "
                          "cluster's CPUs divided among the runs (at least 1, at most one "
                          "node's)")
    cli.add_debug_flag(parser)
    return parser


@cli.error_exit
def main(argv: list[str] | None = None) -> int:
    return train_command.train_and_eval(build_parser().parse_args(argv))


if __name__ == "__main__":
    sys.exit(main())
