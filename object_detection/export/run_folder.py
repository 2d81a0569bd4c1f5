"""Which checkpoint and which pipeline config of a run folder to export.

A run folder (``training.checkpoints``) holds ``pipeline.config``, the latest checkpoints
``ckpt-STEP.*`` with their state file ``checkpoint``, and the best one in ``best/``.
``--checkpoint`` chooses among them: ``best``, ``latest`` or a step number; left out, the best
checkpoint when there is one, else the latest.
"""

from __future__ import annotations

import dataclasses
import os
from pathlib import Path

from object_detection.training import checkpoints as ckpt_lib
from object_detection.training.run_settings import PIPELINE_CONFIG_NAME

BEST = "best"
LATEST = "latest"


@dataclasses.dataclass(frozen=True)
class ChosenCheckpoint:
    """A checkpoint prefix of a run and how it was chosen (``best`` / ``latest`` / ``step``)."""

    path: str
    step: int
    how: str

    def describe(self) -> str:
        return f"step {self.step} ({self.how}, {self.path})"


def check_run_dir(run_dir: str | os.PathLike) -> Path:
    """``run_dir`` as a Path; FileNotFoundError when it is not a folder."""
    path = Path(run_dir)
    if not path.is_dir():
        raise FileNotFoundError(f"run folder not found: {path}")
    return path


def pipeline_config_path(run_dir: str | os.PathLike) -> Path:
    """``run_dir/pipeline.config``; FileNotFoundError when it is missing."""
    path = check_run_dir(run_dir) / PIPELINE_CONFIG_NAME
    if not path.is_file():
        raise FileNotFoundError(f"{run_dir}: no {PIPELINE_CONFIG_NAME} in the run folder "
                                "(give one with --pipeline_config)")
    return path


def _available(run_dir: Path) -> str:
    steps = [str(ckpt_lib.checkpoint_step(p)) for p in ckpt_lib.kept_checkpoints(run_dir)]
    best = ckpt_lib.read_best(run_dir)
    text = f"steps {', '.join(steps)}" if steps else "no kept checkpoints"
    return text + (f"; best: step {best.step}" if best else "; no best checkpoint")


def choose_checkpoint(run_dir: str | os.PathLike, which: str | None = None) -> ChosenCheckpoint:
    """The checkpoint of ``run_dir`` that ``which`` names: ``"best"``, ``"latest"``, a step
    number (``"1500"``), or None (best if there is one, else latest).

    Raises FileNotFoundError when the folder or the checkpoint is missing and ValueError for
    any other ``which``; messages name the folder and what it holds.
    """
    run_dir = check_run_dir(run_dir)
    kept = ckpt_lib.kept_checkpoints(run_dir)
    if which is None:
        which = BEST if ckpt_lib.best_checkpoint(run_dir) else LATEST
    if which == BEST:
        path = ckpt_lib.best_checkpoint(run_dir)
        if path is None:
            raise FileNotFoundError(f"{run_dir}: no best checkpoint ({ckpt_lib.BEST_DIR}/"
                                    f"{ckpt_lib.BEST_INFO} missing or its checkpoint gone); "
                                    f"{_available(run_dir)}")
        return ChosenCheckpoint(path, ckpt_lib.checkpoint_step(path), BEST)
    if which == LATEST:
        if not kept:
            raise FileNotFoundError(f"{run_dir}: no checkpoint in the run folder (no "
                                    f"{ckpt_lib.CHECKPOINT_NAME}-STEP.index listed in its "
                                    "'checkpoint' file)")
        return ChosenCheckpoint(kept[-1], ckpt_lib.checkpoint_step(kept[-1]), LATEST)
    if not (which.isascii() and which.isdigit()):
        raise ValueError(f"--checkpoint must be '{BEST}', '{LATEST}' or a step number, "
                         f"got {which!r}")
    step = int(which)
    candidates = [run_dir / f"{ckpt_lib.CHECKPOINT_NAME}-{step}",
                  ckpt_lib.best_dir(run_dir) / f"{ckpt_lib.CHECKPOINT_NAME}-{step}"]
    for prefix in candidates:
        if Path(f"{prefix}.index").is_file():
            return ChosenCheckpoint(os.fspath(prefix), step, "step")
    raise FileNotFoundError(f"{run_dir}: no checkpoint of step {step} ({_available(run_dir)})")
