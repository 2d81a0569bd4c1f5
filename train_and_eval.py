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
"""

from __future__ import annotations

import argparse
import logging
import os
import signal
import sys
import threading
from pathlib import Path

from object_detection import cli

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")  # keep TensorFlow's start-up chatter out

DEFAULT_EXPERIMENT = "configs/experiments/quickstart.config"
DEFAULT_DATA_DIR = "data/quickstart"
DEFAULT_RUNS_DIR = "runs"


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
    cli.add_debug_flag(parser)
    return parser


def _grid_fields() -> set[str]:
    from object_detection.protos import experiment_pb2
    return set(experiment_pb2.Experiment.DESCRIPTOR.fields_by_name)


def split_overrides(overrides: list[str]) -> tuple[list[str], list[str]]:
    """(grid overrides, pipeline overrides) by the first field name of each KEY."""
    grid_fields = _grid_fields()
    grid, pipeline = [], []
    for override in overrides:
        first = override.partition("=")[0].strip().split(".")[0].split("[")[0].strip()
        (grid if first in grid_fields else pipeline).append(override)
    return grid, pipeline


def _quoted(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def experiment_runs(args: argparse.Namespace):
    """The RunSpecs of the grid with the command line's changes, selected by --only."""
    from object_detection.training import experiment as experiment_lib
    grid_overrides, pipeline_overrides = split_overrides(args.override)
    if args.num_train_steps is not None:
        grid_overrides.append(f"total_steps={args.num_train_steps}")
    if args.steps_per_epoch is not None:
        grid_overrides.append(f"steps_per_epoch={args.steps_per_epoch}")
    if args.model_dir:
        grid_overrides.append(f"output_dir={_quoted(args.model_dir)}")
    experiment = experiment_lib.load_experiment(args.experiment, grid_overrides)
    if pipeline_overrides:    # after the grid's own overrides, so that they win
        experiment.override.extend(pipeline_overrides)
        experiment_lib.check_experiment(experiment, source=args.experiment)
    runs = experiment_lib.select(experiment_lib.expand(experiment), args.only)
    return runs, experiment.output_dir


def single_run(args: argparse.Namespace):
    """A RunSpec for --pipeline_config (folder --model_dir or runs/<config name>)."""
    from object_detection import config as config_lib
    from object_detection.evaluation import metric_names
    from object_detection.run_names import scale_names
    from object_detection.training.experiment import RunSpec
    overrides = list(args.override)
    if args.num_train_steps is not None:
        overrides.append(f"train_config.num_steps={args.num_train_steps}")
    config = config_lib.load_pipeline_config(args.pipeline_config, overrides)
    num_steps = config.train_config.num_steps
    if num_steps <= 0:
        raise ValueError(f"{args.pipeline_config}: train_config.num_steps is 0 (no limit); give "
                         "--num_train_steps")
    run_dir = Path(args.model_dir or Path(DEFAULT_RUNS_DIR) / Path(args.pipeline_config).stem)
    frcnn = config.model.faster_rcnn
    grid = frcnn.first_stage_anchor_generator.grid_anchor_generator
    return RunSpec(
        name=run_dir.name, run_dir=run_dir, pipeline_config=config, run="", run_index=0,
        dataset="", stride=frcnn.feature_extractor.first_stage_features_stride,
        scales=tuple(float(s) for s in scale_names(grid.scales)), seed=0, num_steps=num_steps,
        steps_per_epoch=args.steps_per_epoch or 0,
        best_checkpoint_metric=metric_names.BEST_METRIC)


def _uses_quickstart_data(runs) -> bool:
    prefix = os.path.normpath(DEFAULT_DATA_DIR) + os.sep
    for run in runs:
        config = run.pipeline_config
        paths = list(config.train_input_reader.tf_record_input_reader.input_path)
        for reader in config.eval_input_reader:
            paths += list(reader.tf_record_input_reader.input_path)
        if any(os.path.normpath(p).startswith(prefix) for p in paths):
            return True
    return False


def _terminated(signum: int, frame) -> None:
    """SIGTERM (a job scheduler's stop) ends the command like Ctrl-C: the run folder's lock is
    released and the latest checkpoint stays intact."""
    raise KeyboardInterrupt(f"stopped by signal {signum}")


@cli.error_exit
def main(argv: list[str] | None = None) -> int:
    if threading.current_thread() is not threading.main_thread():
        return _main(argv)
    previous = signal.signal(signal.SIGTERM, _terminated)
    try:
        return _main(argv)
    finally:
        signal.signal(signal.SIGTERM, previous)


def _main(argv: list[str] | None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    if args.log_every_n_steps < 1:
        print("error: --log_every_n_steps must be >= 1", file=sys.stderr)
        return 1
    devices = None
    if args.cpu_replicas:
        from object_detection.training.distribution import split_cpu
        devices = split_cpu(args.cpu_replicas)  # before TensorFlow sets up its devices
    if not args.experiment and not args.pipeline_config:
        args.experiment = DEFAULT_EXPERIMENT

    import tensorflow as tf
    tf.get_logger().setLevel(logging.ERROR)
    from object_detection.dataset_tools.synthetic_dataset import ensure_synthetic_dataset
    from object_detection.training import distribution, runner
    from object_detection.training.results_table import format_results

    if args.experiment:
        runs, output_dir = experiment_runs(args)
    else:
        runs = [single_run(args)]
        output_dir = os.fspath(runs[0].run_dir)
    if _uses_quickstart_data(runs):
        ensure_synthetic_dataset(DEFAULT_DATA_DIR)
    strategy = distribution.make_strategy(devices)
    options = runner.RunOptions(log_every_n_steps=args.log_every_n_steps)
    what = args.experiment or args.pipeline_config
    print(f"{what}: {len(runs)} run(s) into {output_dir} ({distribution.describe(strategy)})",
          flush=True)
    outcomes = []
    for index, run in enumerate(runs, start=1):
        print(f"[{index}/{len(runs)}] {run.name}", flush=True)
        if args.eval_only:
            outcomes.append(runner.evaluate_checkpoints(run, strategy, options))
        else:
            outcomes.append(runner.train_and_evaluate(run, strategy, options))
    metric = runs[0].best_checkpoint_metric if runs else ""
    print()
    print(format_results(outcomes, metric))
    print(f"\nwrote {output_dir}: per run pipeline.config, checkpoints (ckpt-STEP), best/, "
          "evaluations.jsonl, TensorBoard summaries in train/ and eval/")
    if args.experiment:
        print(f"compare settings: python coco_metrics.py --log_dir {output_dir}")
    failed = [o for o in outcomes if o.status == runner.FAILED]
    for outcome in failed:
        print(f"error: {outcome.message}", file=sys.stderr)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
