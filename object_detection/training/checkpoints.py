"""A run's checkpoints: the latest few for resuming, and the best one kept apart.

Layout of a run folder (as the OD API's model_dir, plus ``best/``)::

    checkpoint                    tf.train.CheckpointManager's state (latest first)
    ckpt-500.index, ckpt-500.data-00000-of-00001, ...   step 500 (the number IS the step)
    best/ckpt-1000.*, best/checkpoint, best/best.json   the best checkpoint by the metric

A checkpoint holds ``step`` (``optimizer.iterations``), ``model``, ``optimizer`` (with its
slots and moving averages) and ``variables`` (every model variable by TF1 name, see
``make_checkpoint``). The last ``max_to_keep`` are kept; the final step's is always
written (the runner saves after the last step) and never removed by a later run.

``best/best.json``: ``{"step", "metric", "value", "source"}``. It is updated after each logged
evaluation from the evaluation log itself (``sync_best``), so a crash between logging and
copying is repaired by the next run, as long as that checkpoint is still kept.
"""

from __future__ import annotations

import json
import logging
import os
import re
import shutil
from dataclasses import dataclass
from pathlib import Path

import tensorflow as tf

from object_detection.evaluation import aggregate, results_log

logger = logging.getLogger(__name__)

CHECKPOINT_NAME = "ckpt"
EXTRA_PREFIX = "extra/"
BEST_DIR = "best"
BEST_INFO = "best.json"
_STEP_RE = re.compile(rf"{CHECKPOINT_NAME}-(\d+)$")


def variable_map(model) -> dict[str, object]:
    """Every variable of a built model under a stable name: its TF1 OD API detection name
    (``model.checkpoint_variable_map("detection")``), and ``extra/<i>`` for the few that have
    none (e.g. the samplers' seed state), ``i`` counting them in ``model.variables`` order."""
    names = dict(model.checkpoint_variable_map("detection"))
    named = {id(v) for v in names.values()}
    extras = [v for v in model.variables if id(v) not in named]
    names.update({f"{EXTRA_PREFIX}{i}": v for i, v in enumerate(extras)})
    return names


def make_checkpoint(model, optimizer=None) -> tf.train.Checkpoint:
    """``tf.train.Checkpoint(step=optimizer.iterations, model=model, optimizer=optimizer,
    variables=variable_map(model))``; model only without an optimizer (for evaluation and
    export).

    ``variables`` is a flat view of every model variable by name. Keras 3 does not give
    ``tf.train.Checkpoint`` the layers that a model keeps in Python lists, so ``model`` alone
    may miss some; through ``variables`` every one is saved and restored, and fine-tuning
    finds them by TF1 name (``fine_tune``).
    """
    variables = variable_map(model)
    if optimizer is None:
        return tf.train.Checkpoint(model=model, variables=variables)
    return tf.train.Checkpoint(step=optimizer.iterations, model=model, optimizer=optimizer,
                               variables=variables)


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


class RunCheckpoints:
    """Saving and restoring the checkpoints of one run folder.

    ``checkpoint`` is ``make_checkpoint(model, optimizer)`` with both built. A non-chief
    worker of a multi-worker cluster (``is_chief`` False) writes into ``scratch_dir`` instead,
    which is removed after each save.
    """

    def __init__(self, run_dir: str | os.PathLike, checkpoint: tf.train.Checkpoint, *,
                 max_to_keep: int = 2, keep_checkpoint_every_n_hours: float | None = None,
                 is_chief: bool = True, scratch_dir: str | os.PathLike | None = None) -> None:
        self.run_dir = Path(run_dir)
        self.checkpoint = checkpoint
        self.is_chief = is_chief
        directory = self.run_dir if is_chief else Path(scratch_dir or self.run_dir / ".scratch")
        self._directory = directory
        self.manager = tf.train.CheckpointManager(
            checkpoint, os.fspath(directory), max_to_keep=max_to_keep,
            keep_checkpoint_every_n_hours=keep_checkpoint_every_n_hours,
            checkpoint_name=CHECKPOINT_NAME)

    @property
    def latest(self) -> str | None:
        return self.manager.latest_checkpoint

    def restore_latest(self) -> int | None:
        """Restores the latest checkpoint (every saved object must match); returns its step,
        None when there is none."""
        path = self.latest
        if path is None:
            return None
        self.checkpoint.restore(path).assert_existing_objects_matched()
        return checkpoint_step(path)

    def restore(self, path: str) -> None:
        """Restores one checkpoint of this run (every saved object must match)."""
        self.checkpoint.restore(path).assert_existing_objects_matched()

    def save(self, step: int) -> str:
        """Saves as ``ckpt-<step>``; returns the path (the chief's; a scratch path elsewhere)."""
        path = self.manager.save(checkpoint_number=int(step))
        if not self.is_chief:
            shutil.rmtree(self._directory, ignore_errors=True)
        return path


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


def copy_to_best(run_dir: str | os.PathLike, checkpoint: str, best: Best) -> Path:
    """Replaces ``best/`` with a copy of ``checkpoint``'s files and ``best.json``.

    The copy is written to ``best.tmp/`` and swapped in by renames, so ``best/`` always holds
    one complete checkpoint (a crash leaves ``best.tmp`` or ``best.old``, cleaned up next time).
    """
    target = best_dir(run_dir)
    tmp, old = target.with_name(BEST_DIR + ".tmp"), target.with_name(BEST_DIR + ".old")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    files = _checkpoint_files(checkpoint)
    if not files:
        raise FileNotFoundError(f"{checkpoint}: no checkpoint files to copy to {target}")
    for path in files:
        shutil.copy2(path, tmp / path.name)
    name = Path(checkpoint).name
    (tmp / "checkpoint").write_text(
        f'model_checkpoint_path: "{name}"\nall_model_checkpoint_paths: "{name}"\n',
        encoding="utf-8")
    (tmp / BEST_INFO).write_text(json.dumps(best.to_json(), indent=2) + "\n", encoding="utf-8")
    shutil.rmtree(old, ignore_errors=True)
    if target.exists():
        target.rename(old)
    tmp.rename(target)
    shutil.rmtree(old, ignore_errors=True)
    return target


def _repair_best_dir(run_dir: str | os.PathLike) -> None:
    """Finishes or drops a swap that a crash interrupted."""
    target = best_dir(run_dir)
    tmp, old = target.with_name(BEST_DIR + ".tmp"), target.with_name(BEST_DIR + ".old")
    if not target.exists() and old.exists():
        old.rename(target)
    shutil.rmtree(tmp, ignore_errors=True)
    shutil.rmtree(old, ignore_errors=True)


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
    current = read_best(run_dir)
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
