"""The body of ``train_and_eval.py``: train and evaluate the runs of a grid or of one pipeline
config, one after the other, then print the table of their results.

``train_and_eval(args)`` takes the script's parsed arguments (``--experiment``,
``--pipeline_config``, ``--model_dir``, ``--override``, ``--only``, ``--num_train_steps``,
``--steps_per_epoch``, ``--eval_only``, ``--log_every_n_steps``, ``--cpu_replicas``, ``--ray``,
``--gpus_per_run``, ``--cpus_per_run``) and returns the exit code: 1 when a run failed (each
named on stderr). The runs are ``training.run_specs``'s; when one reads records under
``data/quickstart`` that dataset is generated first
(``synthetic_dataset.ensure_synthetic_dataset``). Without ``--ray`` the runs go one after the
other in this process; with it each is a Ray task (``training.ray_runs``), in parallel, running
the same ``runner`` function; both end with the same table (``results_table``). SIGTERM (a job
scheduler's stop) ends the command like Ctrl-C: the run folder's lock is released and the
latest checkpoint stays intact (with ``--ray``: the tasks are cancelled, each stopping so).
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
    use_ray = getattr(args, "ray", None) is not None
    gpus_per_run = getattr(args, "gpus_per_run", None)
    cpus_per_run = getattr(args, "cpus_per_run", None)
    if not use_ray and (gpus_per_run is not None or cpus_per_run is not None):
        return fail("--gpus_per_run and --cpus_per_run set the resources of Ray tasks: give "
                    "--ray too")
    if use_ray:
        from object_detection.training import ray_runs
        ray_runs.import_ray()                   # not installed: one sentence, nothing started
    devices = None
    if args.cpu_replicas and not use_ray:       # with --ray: in each task
        from object_detection.training.distribution import split_cpu
        devices = split_cpu(args.cpu_replicas)  # before TensorFlow sets up its devices
    experiment = args.experiment or (None if args.pipeline_config else DEFAULT_EXPERIMENT)

    import tensorflow as tf
    tf.get_logger().setLevel(logging.ERROR)
    from object_detection.dataset_tools import synthetic_dataset
    from object_detection.training import distribution, run_specs, runner

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
    if use_ray:
        _hide_gpus_from_tensorflow(tf)          # the tasks train; keep the GPUs' memory free
    # A cluster's strategy must exist before any TensorFlow op (generating the dataset decodes
    # images), and only its chief writes the dataset while the other workers wait for it.
    strategy = None if use_ray else distribution.make_strategy(devices)
    if synthetic_dataset.reads_records_under((run.pipeline_config for run in runs),
                                             synthetic_dataset.QUICKSTART_DIR):
        if strategy is None or distribution.is_chief(strategy):
            synthetic_dataset.ensure_synthetic_dataset(synthetic_dataset.QUICKSTART_DIR)
        if strategy is not None:
            distribution.sync_workers(strategy)
    options = runner.RunOptions(log_every_n_steps=args.log_every_n_steps)
    if use_ray:
        outcomes = _run_on_ray(args, runs, options, experiment or args.pipeline_config,
                               output_dir, gpus_per_run, cpus_per_run)
    else:
        print(f"{experiment or args.pipeline_config}: {len(runs)} run(s) into {output_dir} "
              f"({distribution.describe(strategy)})", flush=True)
        outcomes = []
        for index, run in enumerate(runs, start=1):
            print(f"[{index}/{len(runs)}] {run.name}", flush=True)
            if args.eval_only:
                outcomes.append(runner.evaluate_checkpoints(run, strategy, options))
            else:
                outcomes.append(runner.train_and_evaluate(run, strategy, options))
    return _report(runs, outcomes, output_dir, experiment)


def _hide_gpus_from_tensorflow(tf) -> None:
    """Keeps this process's TensorFlow off the GPUs (it would reserve their memory); too late
    when TensorFlow has started already (then it has them anyway)."""
    try:
        tf.config.set_visible_devices([], "GPU")
    except RuntimeError:
        pass


def _run_on_ray(args: argparse.Namespace, runs, options, what: str, output_dir: str,
                gpus_per_run: float | None, cpus_per_run: float | None) -> list:
    """The runs as Ray tasks (``training.ray_runs``) on the cluster of ``--ray``."""
    from object_detection.training import ray_runs

    started = ray_runs.connect(args.ray)
    if started and threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGTERM, _terminated)   # ray.init put its own in place
    try:
        nodes = ray_runs.alive_nodes()
        resources = ray_runs.run_resources(nodes, len(runs), gpus_per_run, cpus_per_run)
        print(f"{what}: {len(runs)} run(s) into {output_dir} (Ray: "
              f"{ray_runs.describe_cluster(nodes)}; each run a task of "
              f"{resources.describe()})", flush=True)
        return ray_runs.run_on_ray(runs, options, resources, eval_only=args.eval_only,
                                   cpu_replicas=args.cpu_replicas)
    finally:
        if started:
            ray_runs.shutdown()


def _report(runs, outcomes, output_dir: str, experiment: str | None) -> int:
    """The table of the results, where they are, the failed runs; the exit code."""
    from object_detection.training import runner
    from object_detection.training.results_table import format_results

    metric = runs[0].best_checkpoint_metric if runs else ""
    print()
    print(format_results(outcomes, metric))
    print(f"\nwrote {output_dir}: per run pipeline.config, checkpoints (ckpt-STEP), best/, "
          "evaluations.jsonl, TensorBoard summaries in train/ and eval/")
    if experiment:
        axes = " | ".join(f"--by {name}" for name, _ in (runs[0].axes if runs else ()))
        hint = f" (the values of an axis: {axes})" if axes else ""
        print(f"compare settings: python coco_metrics.py --log_dir {output_dir}{hint}")
    failed = [o for o in outcomes if o.status == runner.FAILED]
    for outcome in failed:
        print(f"error: {outcome.message}", file=sys.stderr)
    return 1 if failed else 0
