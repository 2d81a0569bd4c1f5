"""One run: train an epoch -> checkpoint -> evaluate -> ... until the total number of steps.

For a ``RunSpec`` (from an experiment grid, or made for a single pipeline config) the run
folder gets the checkpoints (``checkpoints``), the evaluation log ``evaluations.jsonl``
(``evaluation.results_log``), TensorBoard summaries in ``train/`` and ``eval/``
(``summaries``) and the best checkpoint in ``best/``.

Resuming is by what is on disk, so running the same command again after a crash (even
``kill -9``) continues the run:

* the latest checkpoint is restored (step, model, optimizer); training restarts from it, so the
  steps after it are trained again (their summaries appear twice in TensorBoard);
* a checkpoint at an evaluation step whose evaluation is not in the log is evaluated first;
  evaluations in the log are never repeated;
* ``best/`` is brought in line with the log;
* a run whose last step is saved and evaluated is complete: it is skipped without building
  the model.

Faults: the run folder is locked (``run_lock``) by the chief before anything is written into
it, so a second trainer or ``--eval_only`` on the same folder stops at once naming the holder,
and a folder that cannot be written to stops before training; the lock is released on any
exit, Ctrl-C included. Under the lock, what a killed process left is removed first:
half-written checkpoints (``ckpt-N_temp/``) and temporary files. A failed checkpoint save (a
full disk) stops the run with one line and keeps the earlier checkpoints; the same command
resumes from them.

Each epoch reads the training records anew with the seed ``run.seed + first step of the
epoch``, so a resumed run shuffles and samples as one that was never interrupted; its batches
are identical only with ``RunOptions(deterministic_input=True)`` (tf.data's parallel reading is
otherwise free to reorder).

Several workers (``TF_CONFIG``, ``MultiWorkerMirroredStrategy``) run the same command on the same
run folder (shared storage) and train in lock step: the input is read in a fixed order on every
worker and split by batch (``distribution.distribute_dataset``), so the cluster trains on the
batches of one process. Only the chief (worker 0) writes into the run folder: the lock, the
settings, the checkpoints (the others save into a temporary folder of their own, removed at
once), the summaries, the evaluations and ``best/``; it evaluates alone while the others wait
in their next training step, and at the end of a run all wait for each other
(``distribution.sync_workers``), so no worker ends before the last evaluation is logged. When a
worker is lost (killed, machine gone), the others stop within about the coordination
service's heartbeat timeout (10 s) with ``distribution.WorkerLostError``, one sentence naming it
and the latest checkpoint; the same command, started again on every worker, resumes from it.
"""

from __future__ import annotations

import contextlib
import functools
import logging
import os
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import keras
import tensorflow as tf

from object_detection import atomic_files
from object_detection import config as config_lib
from object_detection import label_map
from object_detection.builders import input_builder, model_builder, optimizer_builder
from object_detection.data import dataset as record_dataset
from object_detection.evaluation import metric_names, results_log, side_by_side
from object_detection.evaluation.results_log import Evaluation
from object_detection.training import checkpoints as ckpt_lib
from object_detection.evaluation import model_evaluator
from object_detection.training import distribution, fine_tune, progress, run_lock
from object_detection.training.experiment import RunSpec
from object_detection.training.run_settings import (PIPELINE_CONFIG_NAME, RUN_INFO_NAME,
                                                    write_run_config)
from object_detection.training.summaries import RunSummaries
from object_detection.training.trainer import (NonFiniteLossError, Trainer, TrainSettings,
                                               select_trainable_variables)

logger = logging.getLogger(__name__)

Printer = Callable[[str], None]

COMPLETE = "complete"          # skipped: trained and evaluated before
TRAINED = "trained"
EVALUATED = "evaluated"        # --eval_only
FAILED = "failed"
NO_CHECKPOINT = "no checkpoint"


@dataclass(frozen=True)
class RunOptions:
    """How to run (not what: that is the RunSpec).

    ``max_to_keep``: latest checkpoints kept (the best is kept apart); ``log_every_n_steps``:
    progress lines and train summaries; ``deterministic_input``: identical batches run to run
    (slower input).
    """

    max_to_keep: int = 2
    log_every_n_steps: int = 100
    deterministic_input: bool = False


@dataclass
class RunOutcome:
    """What happened to one run: its status, last step, latest and best evaluation."""

    name: str
    run_dir: Path
    status: str
    step: int | None = None
    latest: Evaluation | None = None
    best: ckpt_lib.Best | None = None
    message: str = ""
    seconds: float = 0.0
    evaluations: int = field(default=0)


def _printer() -> Printer:
    return functools.partial(print, flush=True)


def is_complete(run: RunSpec) -> bool:
    """Whether the run's final step is saved and evaluated (on disk; no model built)."""
    step = ckpt_lib.latest_step(run.run_dir)
    if step is None or step < run.num_steps:
        return False
    return run.num_steps in results_log.evaluated_steps(os.fspath(run.run_dir))


def _latest_evaluation(run_dir: Path) -> Evaluation | None:
    evaluations = results_log.latest_per_step(results_log.read_evaluations(os.fspath(run_dir)))
    return evaluations[-1] if evaluations else None


def _outcome(run: RunSpec, status: str, start: float, step: int | None = None,
             message: str = "", evaluations: int = 0) -> RunOutcome:
    return RunOutcome(run.name, Path(run.run_dir), status, step,
                      _latest_evaluation(Path(run.run_dir)), ckpt_lib.read_best(run.run_dir),
                      message, time.monotonic() - start, evaluations)


class _Run:
    """The objects of one run, built under the strategy: model, optimizer, checkpoints,
    evaluator, summaries."""

    def __init__(self, run: RunSpec, strategy: tf.distribute.Strategy, options: RunOptions,
                 out: Printer) -> None:
        self.run = run
        self.strategy = strategy
        self.options = options
        self.out = out
        self.chief = distribution.is_chief(strategy)
        pipeline = run.pipeline_config
        self.pipeline = pipeline
        self.settings = TrainSettings.from_config(pipeline.train_config)
        distribution.per_replica_batch_size(self.settings.batch_size, strategy)
        keras.utils.set_random_seed(run.seed)
        with strategy.scope():
            self.model = model_builder.build(pipeline.model, is_training=True, seed=run.seed,
                                             precision=self.settings.precision)
            self.model.ensure_built()
            self.variables = select_trainable_variables(
                self.model, self.settings.update_trainable_variables,
                self.settings.freeze_variables)
            self.optimizer, self.schedule = optimizer_builder.build_optimizer(
                pipeline.train_config.optimizer)
            self.optimizer.build(self.variables)
            checkpoint = ckpt_lib.make_checkpoint(self.model, self.optimizer)
        keep_hours = pipeline.train_config.keep_checkpoint_every_n_hours
        self.checkpoints = ckpt_lib.RunCheckpoints(
            run.run_dir, checkpoint, max_to_keep=options.max_to_keep,
            keep_checkpoint_every_n_hours=keep_hours if keep_hours < 10000 else None,
            is_chief=self.chief)
        self.summaries = RunSummaries(run.run_dir, enabled=self.chief)
        self.evaluator = self._evaluator() if self.chief else None
        self.trainer: Trainer | None = None

    # --------------------------------------------------------------------------- evaluation

    def _evaluator(self) -> model_evaluator.ModelEvaluator:
        pipeline = self.pipeline
        masks = model_evaluator.include_masks(pipeline.eval_config, self.model.predicts_masks)
        reader = pipeline.eval_input_reader[0]
        if not reader.label_map_path:
            raise ValueError("eval_input_reader[0].label_map_path is not set: the evaluation "
                             "needs the class names")
        categories = label_map.load_categories(reader.label_map_path)
        dataset = input_builder.build_input_from_pipeline(pipeline, training=False)
        return model_evaluator.ModelEvaluator(
            self.model, dataset, categories, masks=masks,
            visualizations=side_by_side.Settings.from_config(pipeline.eval_config))

    def evaluate(self, step: int, checkpoint: str | None) -> None:
        """Evaluates the model as it is now, logs it as ``step``, writes summaries, syncs
        best/ (chief only)."""
        if not self.chief:
            return
        self.out(f"evaluating step {step} ...")
        averages = self.pipeline.eval_config.use_moving_averages
        with model_evaluator.moving_averages_swapped_in(self.variables,
                                                 self.optimizer if averages else None):
            result = self.evaluator.evaluate()
        name = None if checkpoint is None else os.path.basename(checkpoint)
        results_log.append_evaluation(os.fspath(self.run.run_dir), step, result.metrics,
                                      checkpoint=name)
        self.summaries.write_eval(step, result.metrics, result.losses, result.pictures)
        metric = self.run.best_checkpoint_metric
        best = ckpt_lib.sync_best(self.run.run_dir, metric)
        value = result.metrics.get(metric, float("nan"))
        best_text = "none yet" if best is None else f"step {best.step} ({best.value:.4f})"
        self.out(f"step {step}: {metric} {value:.4f}, "
                 f"{_short_metrics(result.metrics)}; {result.num_images} images in "
                 f"{result.seconds:.1f}s; best {best_text}")

    # ----------------------------------------------------------------------------- training

    def restore_or_initialize(self) -> int:
        step = self.checkpoints.restore_latest()
        if step is not None:
            step = int(self.optimizer.iterations.numpy())
            self.out(f"resumed from {self.checkpoints.latest} (step {step})")
            return step
        report = fine_tune.load_fine_tune_checkpoint(self.model,
                                                     self.pipeline.train_config)
        if report is not None:
            self.out(report.summary(3))
        return 0

    def _train_dataset(self, step: int):
        # In a cluster every worker must read the same order: each keeps its part of a batch.
        deterministic = (self.options.deterministic_input
                         or distribution.is_multi_worker(self.strategy))
        dataset = input_builder.build_input_from_pipeline(
            self.pipeline, training=True, seed=self.run.seed + step, deterministic=deterministic)
        return distribution.distribute_dataset(self.strategy, dataset)

    def train_epoch(self, until_step: int, meter: progress.ProgressMeter) -> None:
        start_step = int(self.optimizer.iterations.numpy())
        dataset = self._train_dataset(start_step)
        if self.trainer is None:
            self.trainer = Trainer(self.model, self.optimizer, self.strategy,
                                   dataset.element_spec, settings=self.settings,
                                   variables=self.variables)
        meter.restart()

        def on_step(step: int, losses: dict[str, float]) -> None:
            report = meter.update(step, losses, force=step == until_step)
            if report is None:
                return
            if self.chief:
                self.out(progress.format_progress(report))
            rate = float(self.schedule(tf.constant(step - 1, tf.int64)))
            self.summaries.write_train(step, report.losses, rate, report.steps_per_sec)

        self.trainer.train(iter(dataset), until_step, on_step)


def _short_metrics(metrics: dict[str, float]) -> str:
    shown = metric_names.names(metric_names.STATS[:2])   # mAP and mAP@.50 of boxes, masks
    return ", ".join(f"{metric_names.short_label(name)} {metrics[name]:.4f}"
                     for name in shown if name in metrics)


def _check_config(run: RunSpec) -> None:
    config_lib.validate(run.pipeline_config, for_training=True, for_eval=True)


def run_folder_lock(run: RunSpec, strategy: tf.distribute.Strategy):
    """The run folder's lock for the chief; nothing for other workers, which write nothing
    into the folder."""
    if not distribution.is_chief(strategy):
        return contextlib.nullcontext()
    return run_lock.RunLock(run.run_dir)


def _remove_leftovers(run: RunSpec) -> None:
    """Removes what a killed process left in the run folder (call under the lock)."""
    ckpt_lib.remove_interrupted_saves(run.run_dir)
    for name in (PIPELINE_CONFIG_NAME, RUN_INFO_NAME, run_lock.LOCK_NAME):
        for path in atomic_files.remove_stale_temporaries(run.run_dir, name):
            logger.warning("%s: removed a temporary file of an interrupted write", path)


def train_and_evaluate(run: RunSpec, strategy: tf.distribute.Strategy,
                       options: RunOptions = RunOptions(),
                       out: Printer | None = None) -> RunOutcome:
    """Trains and evaluates one run to its ``num_steps`` (module docstring); returns the
    outcome. Config errors raise (ValueError / FileNotFoundError), so do a folder in use
    (``run_lock.RunFolderInUseError``) and a failed save (``CheckpointSaveError``); a
    non-finite loss ends the run with status ``failed`` and a message naming the step, the
    losses and the last good checkpoint. In a cluster, a lost worker raises
    ``distribution.WorkerLostError`` naming it and the latest checkpoint."""
    with run_folder_lock(run, strategy), _lost_workers_reported(run, strategy, "training"):
        return _train_and_evaluate(run, strategy, options, out or _printer())


@contextlib.contextmanager
def _lost_workers_reported(run: RunSpec, strategy: tf.distribute.Strategy, what: str):
    """Turns TensorFlow's error for a lost worker of a cluster (``distribution.lost_worker``)
    into ``WorkerLostError``: ``RUN: worker 1 (HOST:PORT) is lost (...); training stopped, the
    latest checkpoint is ckpt-N: ...``."""
    try:
        yield
    except (tf.errors.OpError, ckpt_lib.CheckpointSaveError) as error:
        cause = error.__cause__ if isinstance(error, ckpt_lib.CheckpointSaveError) else error
        lost = distribution.lost_worker(strategy, cause)
        if lost is None:
            raise
        if is_complete(run):      # lost after the last evaluation (at the final sync_workers)
            done = (f"the run is complete (step {run.num_steps} saved and evaluated) but the "
                    "command stops: run it again on every worker for any runs after it")
        else:
            latest = ckpt_lib.latest_step(run.run_dir)
            kept = ("no checkpoint is saved yet" if latest is None
                    else f"the latest checkpoint is {ckpt_lib.CHECKPOINT_NAME}-{latest}")
            done = f"{what} stopped, {kept}: run the same command on every worker again to resume"
        raise distribution.WorkerLostError(f"{run.name}: {lost}; {done}") from error


def _train_and_evaluate(run: RunSpec, strategy: tf.distribute.Strategy, options: RunOptions,
                        out: Printer) -> RunOutcome:
    start = time.monotonic()
    if distribution.is_chief(strategy):
        _remove_leftovers(run)
        write_run_config(run)
    if is_complete(run):
        if distribution.is_chief(strategy):
            ckpt_lib.sync_best(run.run_dir, run.best_checkpoint_metric)
        out(f"{run.name}: complete (step {run.num_steps} saved and evaluated), skipped")
        return _outcome(run, COMPLETE, start, run.num_steps)
    _check_config(run)
    state = _Run(run, strategy, options, out)
    step = state.restore_or_initialize()
    evaluated = results_log.evaluated_steps(os.fspath(run.run_dir))
    eval_steps = run.eval_steps()
    count = 0
    if step in eval_steps and step not in evaluated:
        state.evaluate(step, state.checkpoints.latest)
        count += 1
    if state.chief:
        ckpt_lib.sync_best(run.run_dir, run.best_checkpoint_metric)
    meter = progress.ProgressMeter(run.num_steps, options.log_every_n_steps)
    try:
        for target in [s for s in eval_steps if s > step]:
            state.train_epoch(target, meter)
            path = state.checkpoints.save(target)
            state.evaluate(target, path)
            count += 1
        distribution.sync_workers(strategy)     # in a cluster: none ends before the chief
    except tf.errors.DataLossError as error:    # TensorFlow names no file: find the damaged one
        raise _named_damaged_record(run, error) from error
    except NonFiniteLossError as error:
        latest = state.checkpoints.latest
        kept = (f"nothing saved after it; the latest checkpoint is {latest}" if latest
                else "no checkpoint was saved before it")
        message = f"{run.name}: {error}; training stopped, {kept}"
        out(message)
        return _outcome(run, FAILED, start, error.step - 1, message, count)
    finally:
        state.summaries.close()
    return _outcome(run, TRAINED, start, int(state.optimizer.iterations.numpy()),
                    evaluations=count)


def _named_damaged_record(run: RunSpec, error: tf.errors.DataLossError) -> Exception:
    """A ValueError naming the record file (and byte offset) behind a ``DataLossError`` met
    while reading the run's input, found by reading every record of its files; ``error``
    itself when none is found damaged."""
    config = run.pipeline_config
    patterns = list(config.train_input_reader.tf_record_input_reader.input_path)
    for reader in config.eval_input_reader:
        patterns += list(reader.tf_record_input_reader.input_path)
    try:
        record_dataset.check_record_files(patterns, full=True)
    except (ValueError, OSError) as named:
        return ValueError(f"{run.name}: {named}; the checkpoints saved before it are intact")
    return error


def evaluate_checkpoints(run: RunSpec, strategy: tf.distribute.Strategy,
                         options: RunOptions = RunOptions(),
                         out: Printer | None = None) -> RunOutcome:
    """``--eval_only``: evaluates every kept checkpoint of the run whose step is not in its
    log yet (none again), then syncs ``best/``; under the run folder's lock."""
    if not os.path.lexists(run.run_dir):     # not trained yet: nothing to lock or to create
        out = out or _printer()
        out(f"{run.name}: no checkpoint in {run.run_dir} to evaluate")
        return _outcome(run, NO_CHECKPOINT, time.monotonic())
    with run_folder_lock(run, strategy), _lost_workers_reported(run, strategy, "evaluation"):
        return _evaluate_checkpoints(run, strategy, options, out or _printer())


def _evaluate_checkpoints(run: RunSpec, strategy: tf.distribute.Strategy, options: RunOptions,
                          out: Printer) -> RunOutcome:
    start = time.monotonic()
    if distribution.is_chief(strategy):
        _remove_leftovers(run)
    kept = ckpt_lib.kept_checkpoints(run.run_dir)
    if not kept:
        out(f"{run.name}: no checkpoint in {run.run_dir} to evaluate")
        return _outcome(run, NO_CHECKPOINT, start)
    evaluated = results_log.evaluated_steps(os.fspath(run.run_dir))
    todo = [path for path in kept if ckpt_lib.checkpoint_step(path) not in evaluated]
    step = ckpt_lib.checkpoint_step(kept[-1])
    if not todo:
        out(f"{run.name}: the {len(kept)} kept checkpoint(s) are evaluated already")
        if distribution.is_chief(strategy):
            ckpt_lib.sync_best(run.run_dir, run.best_checkpoint_metric)
        return _outcome(run, EVALUATED, start, step)
    config_lib.validate(run.pipeline_config, for_eval=True)
    state = _Run(run, strategy, options, out)
    try:
        for path in todo:
            state.checkpoints.restore(path)
            state.evaluate(ckpt_lib.checkpoint_step(path), path)
        distribution.sync_workers(strategy)     # in a cluster: none ends before the chief
    finally:
        state.summaries.close()
    return _outcome(run, EVALUATED, start, step, evaluations=len(todo))
