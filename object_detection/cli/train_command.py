"""The body of ``train_and_eval.py``: train and evaluate the runs of a grid or of one pipeline
config, one after the other, then print the table of their results.

``train_and_eval(args)`` takes the script's parsed arguments (``--experiment``,
``--pipeline_config``, ``--model_dir``, ``--override``, ``--only``, ``--num_train_steps``,
``--steps_per_epoch``, ``--eval_only``, ``--log_every_n_steps``, ``--cpu_replicas``) and
returns the exit code: 1 when a run failed (each named on stderr). The runs are
``training.run_specs``'s; when one reads records under ``data/quickstart`` that dataset is
generated first (``synthetic_dataset.ensure_synthetic_dataset``). SIGTERM (a job scheduler's
stop) ends the command like Ctrl-C: the run folder's lock is released and the latest
checkpoint stays intact.
"""

from __future__ import annotations

import argparse
import logging
import os
import signal
import sys
import threading

from object_detection.cli.exits import fail

DEFAULT_EXPERIMENT = "configs/experiments/quickstart.config"


def _terminated(signum: int, frame) -> None:
    raise KeyboardInterrupt(f"stopped by signal {signum}")


def train_and_eval(args: argparse.Namespace) -> int:
    """Trains (or with ``--eval_only`` evaluates) the runs; SIGTERM stops like Ctrl-C."""
    if threading.current_thread() is not threading.main_thread():
        return _train_and_eval(args)
    previous = signal.signal(signal.SIGTERM, _terminated)
    try:
        return _train_and_eval(args)
    finally:
        signal.signal(signal.SIGTERM, previous)


def _train_and_eval(args: argparse.Namespace) -> int:
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    if args.log_every_n_steps < 1:
        return fail("--log_every_n_steps must be >= 1")
    devices = None
    if args.cpu_replicas:
        from object_detection.training.distribution import split_cpu
        devices = split_cpu(args.cpu_replicas)  # before TensorFlow sets up its devices
    experiment = args.experiment or (None if args.pipeline_config else DEFAULT_EXPERIMENT)

    import tensorflow as tf
    tf.get_logger().setLevel(logging.ERROR)
    from object_detection.dataset_tools import synthetic_dataset
    from object_detection.training import distribution, run_specs, runner
    from object_detection.training.results_table import format_results

    if experiment:
        runs, output_dir = run_specs.grid_runs(
            experiment, args.override, args.only, num_steps=args.num_train_steps,
            steps_per_epoch=args.steps_per_epoch, output_dir=args.model_dir)
    else:
        runs = [run_specs.single_run(args.pipeline_config, args.override,
                                     num_steps=args.num_train_steps,
                                     steps_per_epoch=args.steps_per_epoch,
                                     run_dir=args.model_dir)]
        output_dir = os.fspath(runs[0].run_dir)
    if synthetic_dataset.reads_records_under((run.pipeline_config for run in runs),
                                             synthetic_dataset.QUICKSTART_DIR):
        synthetic_dataset.ensure_synthetic_dataset(synthetic_dataset.QUICKSTART_DIR)
    strategy = distribution.make_strategy(devices)
    options = runner.RunOptions(log_every_n_steps=args.log_every_n_steps)
    print(f"{experiment or args.pipeline_config}: {len(runs)} run(s) into {output_dir} "
          f"({distribution.describe(strategy)})", flush=True)
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
    if experiment:
        print(f"compare settings: python coco_metrics.py --log_dir {output_dir}")
    failed = [o for o in outcomes if o.status == runner.FAILED]
    for outcome in failed:
        print(f"error: {outcome.message}", file=sys.stderr)
    return 1 if failed else 0
