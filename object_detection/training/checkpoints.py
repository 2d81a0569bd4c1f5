"""A run's checkpoints: the latest few for resuming, and the best one kept apart.

Layout of a run folder (as the OD API's model_dir, plus ``best/``)::

    checkpoint                    tf.train.CheckpointManager's state (latest first)
    ckpt-500.index, ckpt-500.data-00000-of-00001, ...   step 500 (the number IS the step)
    best/ckpt-1000.*, best/checkpoint, best/best.json   the best checkpoint by the metric

A checkpoint holds ``step`` (``optimizer.iterations``), ``model``, ``optimizer`` (with its
slots and moving averages), ``variables`` (every model variable by TF1 name) and, when the
optimizer keeps moving averages (``optimizer.use_moving_average``), ``averages`` (the average
of each trained variable under that variable's TF1 name); see ``make_checkpoint``. The last
``max_to_keep`` are kept; the final step's is always written (the runner saves after the last
step) and never removed by a later run.

An export reads a checkpoint through ``restore_inference_weights``: the model part and, with
``uses_moving_averages``, the averages in place of the weights, found by name (in checkpoints
written before ``averages`` existed: through an optimizer rebuilt from the config as the run
built it).

``best/best.json``: ``{"step", "metric", "value", "source"}``. It is updated after each logged
evaluation from the evaluation log itself (``sync_best``), so a crash between logging and
copying is repaired by the next run, as long as that checkpoint is still kept.

Faults: TensorFlow writes a checkpoint into ``ckpt-N_temp/`` and then merges it into
``ckpt-N.*``; a failed save (full disk, Ctrl-C) removes what it wrote and raises
``CheckpointSaveError`` (``RUN_DIR: cannot save ckpt-N (no space left on device); ...``), the
earlier checkpoints untouched; ``remove_interrupted_saves`` removes the ``ckpt-N_temp/`` a killed
process left. A checkpoint that does not restore (truncated or corrupted files) raises
``CheckpointRestoreError`` naming it and, when resuming, the newest earlier checkpoint that does
restore: nothing is skipped silently, since a damaged file may mean a failing disk. ``best/`` is
replaced as a whole (``atomic_files.atomic_directory``, files fsynced), so it never looks complete
when it is not.
"""

from __future__ import annotations

import errno
import json
import logging
import os
import re
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path

import tensorflow as tf
from tensorflow.core.protobuf import trackable_object_graph_pb2

from object_detection import atomic_files, errors
from object_detection.builders import optimizer_builder
from object_detection.evaluation import aggregate, results_log
from object_detection.protos import pipeline_pb2
from object_detection.training import trainer

logger = logging.getLogger(__name__)

CHECKPOINT_NAME = "ckpt"
EXTRA_PREFIX = "extra/"
VARIABLES_ENTRY = "variables"
AVERAGES_ENTRY = "averages"
_OBJECT_GRAPH_KEY = "_CHECKPOINTABLE_OBJECT_GRAPH"
BEST_DIR = "best"
BEST_INFO = "best.json"
_STEP_RE = re.compile(rf"{CHECKPOINT_NAME}-(\d+)$")
_TEMP_SUFFIX = "_temp"          # TensorFlow's folder of a checkpoint being written
# What restoring a damaged checkpoint raises: OpError (bad index, checksum: DataLossError),
# IndexError (a data file cut short: "Read less bytes than requested").
_RESTORE_ERRORS = (tf.errors.OpError, IndexError, ValueError, AssertionError)


class CheckpointSaveError(OSError):
    """A checkpoint could not be written; its partial files are removed."""


class CheckpointRestoreError(ValueError):
    """A checkpoint of a run does not restore (truncated, corrupted, or of another model)."""


def variable_map(model) -> dict[str, object]:
    """Every variable of a built model under a stable name: its TF1 OD API detection name
    (``model.checkpoint_variable_map("detection")``), and ``extra/<i>`` for the few that have
    none (e.g. the samplers' seed state), ``i`` counting them in ``model.variables`` order."""
    names = dict(model.checkpoint_variable_map("detection"))
    named = {id(v) for v in names.values()}
    extras = [v for v in model.variables if id(v) not in named]
    names.update({f"{EXTRA_PREFIX}{i}": v for i, v in enumerate(extras)})
    return names


def moving_average_map(model, optimizer) -> dict[str, object]:
    """TF1 name (as in ``variable_map``) -> the optimizer's moving average of that model
    variable, for each variable the optimizer keeps one of; {} for an optimizer without moving
    averages (``use_ema`` off) or None.

    The optimizer must be built (``optimizer.build(variables)``). Keras keeps the averages in
    the order of the variables it was built with, in attributes of its own; this is the one
    place that reads them (if a Keras version lacks them, {} with a warning: inference then
    reads the averages as for an old checkpoint, see ``restore_inference_weights``).
    """
    if optimizer is None or not getattr(optimizer, "use_ema", False):
        return {}
    if not optimizer.built:
        raise ValueError("build the optimizer (optimizer.build(variables)) before making its "
                         "checkpoint: its moving averages are saved by variable name")
    averages = getattr(optimizer, "_model_variables_moving_average", None)
    built_with = getattr(optimizer, "_trainable_variables", None)
    if averages is None or built_with is None or len(averages) != len(built_with):
        logger.warning("this Keras version keeps the optimizer's moving averages elsewhere: "
                       "checkpoints hold them in the optimizer part only")
        return {}
    names = {id(variable): name for name, variable in variable_map(model).items()}
    named = {}
    for variable, average in zip(built_with, averages):
        if average is None:
            continue
        if id(variable) not in names:
            raise ValueError(f"the optimizer trains {variable.path}, which is not a variable "
                             "of the model")
        named[names[id(variable)]] = average
    return named


def make_checkpoint(model, optimizer=None) -> tf.train.Checkpoint:
    """``tf.train.Checkpoint(step=optimizer.iterations, model=model, optimizer=optimizer,
    variables=variable_map(model))``, plus ``averages=moving_average_map(model, optimizer)``
    when the optimizer keeps moving averages; model only without an optimizer (for evaluation
    and export).

    ``variables`` is a flat view of every model variable by name. Keras 3 does not give
    ``tf.train.Checkpoint`` the layers that a model keeps in Python lists, so ``model`` alone
    may miss some; through ``variables`` every one is saved and restored, and fine-tuning
    finds them by TF1 name (``fine_tune``). ``averages`` is a second view of the optimizer's
    own average variables (each is saved once): inference reads them by name, with no
    optimizer (``restore_inference_weights``). Checkpoints written without it restore into
    this one unchanged (the averages come from the optimizer part).
    """
    variables = variable_map(model)
    if optimizer is None:
        return tf.train.Checkpoint(model=model, variables=variables)
    entries = {"step": optimizer.iterations, "model": model, "optimizer": optimizer,
               VARIABLES_ENTRY: variables}
    averages = moving_average_map(model, optimizer)
    if averages:
        entries[AVERAGES_ENTRY] = averages
    return tf.train.Checkpoint(**entries)


def checkpoint_step(path: str | os.PathLike) -> int:
    """The step of ``.../ckpt-500`` (500); ValueError for another name."""
    match = _STEP_RE.search(os.fspath(path))
    if not match:
        raise ValueError(f"{path}: not a checkpoint of a run (expected .../{CHECKPOINT_NAME}-STEP)")
    return int(match.group(1))


def kept_checkpoints(run_dir: str | os.PathLike) -> list[str]:
    """The checkpoint prefixes the run folder's state file lists, oldest first ([] if none)."""
    state = tf.train.get_checkpoint_state(os.fspath(run_dir))  # paths joined to run_dir
    if state is None:
        return []
    paths = list(state.all_model_checkpoint_paths) or [state.model_checkpoint_path]
    return [path for path in paths if os.path.exists(path + ".index")]


def latest_step(run_dir: str | os.PathLike) -> int | None:
    """The step of the run's latest checkpoint, None when there is none (no model needed)."""
    kept = kept_checkpoints(run_dir)
    return checkpoint_step(kept[-1]) if kept else None


def restore_model(model, path: str | os.PathLike) -> None:
    """Loads the model part of one of our checkpoints into a built ``model`` (for evaluation
    and export; the optimizer's values are left out)."""
    status = make_checkpoint(model).restore(os.fspath(path)).expect_partial()
    status.assert_existing_objects_matched()


def uses_moving_averages(pipeline: pipeline_pb2.TrainEvalPipelineConfig) -> bool:
    """Whether inference uses the optimizer's moving averages of the weights, as the
    evaluation (hence the choice of the best checkpoint) did: ``optimizer.use_moving_average``
    and ``eval_config.use_moving_averages``."""
    return (pipeline.train_config.optimizer.use_moving_average
            and pipeline.eval_config.use_moving_averages)


def restore_inference_weights(model, path: str | os.PathLike,
                              pipeline: pipeline_pb2.TrainEvalPipelineConfig) -> bool:
    """Loads the weights to run inference with from one of our checkpoints into a built
    ``model`` (of ``pipeline``'s model config): the model part and, with
    ``uses_moving_averages(pipeline)``, the optimizer's moving averages in place of the
    weights that have one (the variables the run trained; frozen ones keep their weights).
    Returns whether averages were loaded.

    The averages are read by name from the checkpoint's ``averages`` entry; a checkpoint
    written before that entry existed is read through an optimizer rebuilt from
    ``pipeline.train_config`` as the run built it. Raises ValueError, AssertionError or
    ``tf.errors.OpError`` when the checkpoint does not fit the model.
    """
    path = os.fspath(path)
    restore_model(model, path)
    if not uses_moving_averages(pipeline):
        return False
    saved = _entry_names(path, AVERAGES_ENTRY)
    if saved is None:
        _restore_averages_through_optimizer(model, path, pipeline)
        return True
    by_name = variable_map(model)
    unknown = sorted(saved - set(by_name))
    if unknown:
        raise ValueError(f"moving averages of variables the model does not have: "
                         f"{', '.join(unknown[:3])}{' ...' if len(unknown) > 3 else ''}")
    averages = tf.train.Checkpoint(**{AVERAGES_ENTRY: {name: by_name[name] for name in saved}})
    averages.restore(path).expect_partial().assert_existing_objects_matched()
    return True


def _entry_names(path: str, entry: str) -> set[str] | None:
    """The names under the root entry ``entry`` of an object-based checkpoint, None when the
    checkpoint has no such entry."""
    reader = tf.train.load_checkpoint(path)
    if not reader.has_tensor(_OBJECT_GRAPH_KEY):
        return None
    graph = trackable_object_graph_pb2.TrackableObjectGraph()
    graph.ParseFromString(reader.get_tensor(_OBJECT_GRAPH_KEY))
    nodes = [child.node_id for child in graph.nodes[0].children if child.local_name == entry]
    if not nodes:
        return None
    return {child.local_name for child in graph.nodes[nodes[0]].children}


def _restore_averages_through_optimizer(model, path: str,
                                        pipeline: pipeline_pb2.TrainEvalPipelineConfig) -> None:
    """The averages of a checkpoint without an ``averages`` entry: the optimizer of the config
    is built on the variables the run trained (``update_trainable_variables``,
    ``freeze_variables``), its part of the checkpoint restored, and its averages copied into
    those variables (``finalize_variable_values``)."""
    config = pipeline.train_config
    variables = trainer.select_trainable_variables(
        model, tuple(config.update_trainable_variables), tuple(config.freeze_variables))
    optimizer, _ = optimizer_builder.build_optimizer(config.optimizer)
    optimizer.build(variables)
    status = tf.train.Checkpoint(optimizer=optimizer).restore(path).expect_partial()
    status.assert_existing_objects_matched()
    optimizer.finalize_variable_values(variables)


class RunCheckpoints:
    """Saving and restoring the checkpoints of one run folder.

    ``checkpoint`` is ``make_checkpoint(model, optimizer)`` with both built. A non-chief
    worker of a multi-worker cluster (``is_chief`` False) must save too (the strategy needs
    every worker in a save) but writes nothing into the run folder: each save goes into
    ``scratch_dir`` (default: a new temporary folder, ``tempfile.mkdtemp``, on this machine),
    which is removed right after it. Every worker restores from the run folder (shared
    storage), so all start from the same step.
    """

    def __init__(self, run_dir: str | os.PathLike, checkpoint: tf.train.Checkpoint, *,
                 max_to_keep: int = 2, keep_checkpoint_every_n_hours: float | None = None,
                 is_chief: bool = True, scratch_dir: str | os.PathLike | None = None) -> None:
        self.run_dir = Path(run_dir)
        self.checkpoint = checkpoint
        self.is_chief = is_chief
        self._scratch_dir = None if scratch_dir is None else Path(scratch_dir)
        self._directory = self.run_dir
        self.manager = None
        if is_chief:
            self.manager = tf.train.CheckpointManager(
                checkpoint, os.fspath(self.run_dir), max_to_keep=max_to_keep,
                keep_checkpoint_every_n_hours=keep_checkpoint_every_n_hours,
                checkpoint_name=CHECKPOINT_NAME)

    @property
    def latest(self) -> str | None:
        """The newest checkpoint of the run folder that has its files (None: none)."""
        kept = kept_checkpoints(self.run_dir)
        return kept[-1] if kept else None

    def restore_latest(self) -> int | None:
        """Restores the latest checkpoint (every saved object must match); returns its step,
        None when there is none. ``CheckpointRestoreError`` when it does not restore, naming
        the newest earlier checkpoint that does."""
        kept = kept_checkpoints(self.run_dir)
        if not kept:
            _check_no_unlisted_checkpoints(self.run_dir)
            return None
        try:
            self._restore(kept[-1])
        except _RESTORE_ERRORS as error:
            earlier = next((path for path in reversed(kept[:-1]) if self._restores(path)), None)
            if earlier is None:
                advice = "no earlier checkpoint of the run restores"
            else:
                advice = (f"the earlier {earlier} restores: move {_files_text(kept[-1])} out "
                          f"of {self.run_dir} to resume from step {checkpoint_step(earlier)}")
            raise CheckpointRestoreError(_unreadable(kept[-1], error, advice)) from error
        return checkpoint_step(kept[-1])

    def restore(self, path: str) -> None:
        """Restores one checkpoint of this run (every saved object must match);
        ``CheckpointRestoreError`` when it does not."""
        try:
            self._restore(path)
        except _RESTORE_ERRORS as error:
            advice = f"move {_files_text(path)} out of {self.run_dir} to skip it"
            raise CheckpointRestoreError(_unreadable(path, error, advice)) from error

    def _restore(self, path: str) -> None:
        self.checkpoint.restore(path).assert_existing_objects_matched()

    def _restores(self, path: str) -> bool:
        try:
            self._restore(path)
        except _RESTORE_ERRORS:
            return False
        return True

    def save(self, step: int) -> str:
        """Saves as ``ckpt-<step>``; returns the path (the chief's; a scratch path elsewhere,
        removed already).

        On any failure the partial files of this save are removed first; an I/O failure
        raises ``CheckpointSaveError`` naming the folder and the problem."""
        step = int(step)
        manager = self.manager
        if not self.is_chief:
            self._directory = self._scratch_dir or Path(
                tempfile.mkdtemp(prefix=f"{CHECKPOINT_NAME}-{step}-scratch-"))
            manager = tf.train.CheckpointManager(self.checkpoint, os.fspath(self._directory),
                                                 max_to_keep=1, checkpoint_name=CHECKPOINT_NAME)
        try:
            path = manager.save(checkpoint_number=step)
        except BaseException as error:
            self._discard_partial_save(step)
            if isinstance(error, (OSError, tf.errors.OpError)):
                latest = self.latest
                kept = f"the latest is {latest}" if latest else "there is none"
                raise CheckpointSaveError(
                    f"{self._directory}: cannot save {CHECKPOINT_NAME}-{step} "
                    f"({_save_problem(error)}); its partial files are removed, the earlier "
                    f"checkpoints are intact ({kept})") from error
            raise
        finally:
            if not self.is_chief:
                shutil.rmtree(self._directory, ignore_errors=True)
        return path

    def _discard_partial_save(self, step: int) -> None:
        prefix = self._directory / f"{CHECKPOINT_NAME}-{step}"
        shutil.rmtree(f"{prefix}{_TEMP_SUFFIX}", ignore_errors=True)
        if prefix.name in {Path(p).name for p in kept_checkpoints(self._directory)}:
            return                                  # an earlier, complete save of this step
        for path in _checkpoint_files(os.fspath(prefix)):
            try:
                path.unlink()
            except OSError:
                logger.warning("%s: could not remove this part of a failed save", path)


def _check_no_unlisted_checkpoints(run_dir: Path) -> None:
    """Raises ``CheckpointRestoreError`` when the state file ``checkpoint`` lists nothing but
    checkpoint files are there: starting afresh would overwrite them."""
    steps = sorted(checkpoint_step(p.with_suffix("")) for p in
                   run_dir.glob(f"{CHECKPOINT_NAME}-*.index") if _STEP_RE.search(p.stem))
    if not steps:
        return
    names = ", ".join(f"{CHECKPOINT_NAME}-{step}" for step in steps)
    newest = f"{CHECKPOINT_NAME}-{steps[-1]}"
    raise CheckpointRestoreError(
        f"{run_dir / 'checkpoint'} is missing or unreadable, yet {run_dir} holds {names}; "
        f'restore it, or write the line model_checkpoint_path: "{newest}" into it to resume '
        f"from {newest}")


def _save_problem(error: BaseException) -> str:
    if (isinstance(error, OSError) and error.errno == errno.ENOSPC) or \
            "no space left on device" in str(error).lower():
        return "no space left on device"
    return errors.describe(error)


def _files_text(prefix: str) -> str:
    name = Path(prefix).name
    return f"{name}.index and {name}.data-*"


def _unreadable(path: str, error: BaseException, advice: str) -> str:
    lines = errors.describe(error).strip().splitlines()
    detail = lines[0] if lines else type(error).__name__
    if isinstance(error, (ValueError, AssertionError)):
        problem = "it does not match this run's model"
    else:
        problem = "its files are missing, truncated or corrupted"
    return f"{path}: cannot restore this checkpoint, {problem} ({detail}); {advice}"


def remove_interrupted_saves(run_dir: str | os.PathLike) -> list[Path]:
    """Removes the ``ckpt-N_temp/`` folders that a killed save left (with a warning; call it
    only while holding the run's lock); returns them."""
    removed = []
    for folder in sorted(Path(run_dir).glob(f"{CHECKPOINT_NAME}-*{_TEMP_SUFFIX}")):
        if folder.is_dir() and _STEP_RE.search(folder.name.removesuffix(_TEMP_SUFFIX)):
            shutil.rmtree(folder)
            removed.append(folder)
            logger.warning("%s: removed the half-written checkpoint of an interrupted save",
                           folder)
    return removed


# ------------------------------------------------------------------------------ best


@dataclass(frozen=True)
class Best:
    """The best evaluation so far: its step, the metric and its value, and the checkpoint it
    was copied from (``source``: file name, e.g. ``ckpt-1000``)."""

    step: int
    metric: str
    value: float
    source: str

    def to_json(self) -> dict:
        return {"step": self.step, "metric": self.metric, "value": self.value,
                "source": self.source}


def best_dir(run_dir: str | os.PathLike) -> Path:
    return Path(run_dir) / BEST_DIR


def read_best(run_dir: str | os.PathLike) -> Best | None:
    """``best/best.json`` of a run, None when absent; ValueError naming the file when bad."""
    path = best_dir(run_dir) / BEST_INFO
    if not path.exists():
        return None
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        return Best(int(data["step"]), str(data["metric"]), float(data["value"]),
                    str(data["source"]))
    except (ValueError, KeyError, TypeError) as error:
        raise ValueError(f"{path}: not a best-checkpoint record ({error})") from None


def best_checkpoint(run_dir: str | os.PathLike) -> str | None:
    """The prefix of the best checkpoint (``.../best/ckpt-N``), None when there is none."""
    best = read_best(run_dir)
    if best is None:
        return None
    path = best_dir(run_dir) / best.source
    return os.fspath(path) if Path(f"{path}.index").exists() else None


def _checkpoint_files(prefix: str) -> list[Path]:
    prefix_path = Path(prefix)
    return sorted(p for p in prefix_path.parent.glob(prefix_path.name + ".*")
                  if p.name == prefix_path.name + ".index" or ".data-" in p.name)


def _copy_synced(source: Path, target: Path) -> None:
    shutil.copyfile(source, target)
    fd = os.open(target, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def copy_to_best(run_dir: str | os.PathLike, checkpoint: str, best: Best) -> Path:
    """Replaces ``best/`` with a copy of ``checkpoint``'s files and ``best.json``.

    The copy is filled in a temporary sibling folder (files fsynced) and renamed into place
    (``atomic_files.atomic_directory``): ``best/`` holds one complete checkpoint or is left as
    it was; a kill leaves a hidden temporary folder that ``sync_best`` removes.
    """
    target = best_dir(run_dir)
    files = _checkpoint_files(checkpoint)
    if not files:
        raise FileNotFoundError(f"{checkpoint}: no checkpoint files to copy to {target}")
    name = Path(checkpoint).name
    with atomic_files.atomic_directory(target) as tmp:
        for path in files:
            _copy_synced(path, tmp / path.name)
        atomic_files.write_text(
            tmp / "checkpoint",
            f'model_checkpoint_path: "{name}"\nall_model_checkpoint_paths: "{name}"\n')
        atomic_files.write_json(tmp / BEST_INFO, best.to_json(), indent=2)
    return target


def _repair_best_dir(run_dir: str | os.PathLike) -> None:
    """Finishes or drops a replacement of ``best/`` that a killed process left: puts the old
    folder back when the kill came between the two renames, and removes the temporaries
    (also ``best.tmp`` / ``best.old`` of earlier versions)."""
    target = best_dir(run_dir)
    folder = Path(run_dir)
    if not target.exists():
        aside = [p for p in folder.glob(f".{BEST_DIR}.old-*") if p.is_dir()]
        aside += [p for p in [folder / f"{BEST_DIR}.old"] if p.is_dir()]
        if aside:
            max(aside, key=lambda p: p.stat().st_mtime).rename(target)
    for legacy in (folder / f"{BEST_DIR}.tmp", folder / f"{BEST_DIR}.old"):
        shutil.rmtree(legacy, ignore_errors=True)
    atomic_files.remove_stale_temporaries(folder, BEST_DIR)


def best_from_log(run_dir: str | os.PathLike, metric: str) -> Best | None:
    """The best evaluation in the run's log by ``metric`` (highest; ties: the earliest step),
    None when no evaluation has a defined value of it."""
    evaluations = results_log.latest_per_step(results_log.read_evaluations(os.fspath(run_dir)))
    chosen = aggregate.best_evaluation(evaluations, metric)
    if chosen is None:
        return None
    source = (Path(chosen.checkpoint).name if chosen.checkpoint
              else f"{CHECKPOINT_NAME}-{chosen.step}")
    return Best(chosen.step, metric, chosen.metrics[metric], source)


def sync_best(run_dir: str | os.PathLike, metric: str) -> Best | None:
    """Makes ``best/`` hold the checkpoint of the log's best evaluation by ``metric``.

    Copies it when ``best/`` holds another step (or another metric's choice) and the
    checkpoint is still in the run folder; otherwise logs a warning and leaves ``best/`` as it
    is. Returns what ``best/`` holds afterwards.
    """
    _repair_best_dir(run_dir)
    wanted = best_from_log(run_dir, metric)
    try:
        current = read_best(run_dir)
    except ValueError as error:
        logger.warning("%s; copying the best checkpoint anew", error)
        current = None
    if wanted is None or current == wanted:
        return current
    source = os.path.join(os.fspath(run_dir), wanted.source)
    if not Path(f"{source}.index").exists():
        logger.warning("%s: the best evaluation (step %d, %s = %.4f) has no checkpoint left "
                       "(%s); best/ keeps %s", run_dir, wanted.step, metric, wanted.value,
                       source, "nothing" if current is None else f"step {current.step}")
        return current
    copy_to_best(run_dir, source, wanted)
    logger.info("%s: best checkpoint is now step %d (%s = %.4f)", run_dir, wanted.step, metric,
                wanted.value)
    return wanted
