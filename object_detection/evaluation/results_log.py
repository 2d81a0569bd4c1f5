"""The evaluation log of a run: one JSON object per line in ``<run dir>/evaluations.jsonl``.

Each line is ``{"step": int, "metrics": {name: float}, "checkpoint": str | null,
"wall_time": float (seconds since the epoch), "time": ISO 8601 UTC}``. Appends are flushed
and fsynced, so a finished evaluation survives a crash. A crash in the middle of an append
leaves a truncated last line: reading ignores it with a warning, and the next append cuts
it off first (with a warning) so that it never ends up in the middle of the file.
"""

from __future__ import annotations

import datetime
import json
import logging
import os
import time
from collections.abc import Mapping
from dataclasses import dataclass, field

_LOG = logging.getLogger(__name__)

EVALUATIONS_FILE = "evaluations.jsonl"


@dataclass(frozen=True)
class Evaluation:
    """One evaluation of a run: after training ``step`` steps, from ``checkpoint``."""

    step: int
    metrics: dict[str, float] = field(default_factory=dict)
    checkpoint: str | None = None
    wall_time: float = 0.0


def log_path(run_dir_or_file: str) -> str:
    """The log file: ``run_dir_or_file`` itself when it names a .jsonl file, else
    ``<run dir>/evaluations.jsonl``."""
    if run_dir_or_file.endswith(".jsonl"):
        return run_dir_or_file
    return os.path.join(run_dir_or_file, EVALUATIONS_FILE)


def _cut_truncated_tail(path: str) -> None:
    """Removes a last line without its newline (left by a crash during an append)."""
    with open(path, "rb+") as f:
        f.seek(0, os.SEEK_END)
        size = f.tell()
        if size == 0:
            return
        f.seek(size - 1)
        if f.read(1) == b"\n":
            return
        f.seek(0)
        content = f.read()
        keep = content.rfind(b"\n") + 1
        _LOG.warning("%s: cut off a truncated last line (%d bytes) left by an interrupted "
                     "write", path, size - keep)
        f.truncate(keep)
        f.flush()
        os.fsync(f.fileno())


def append_evaluation(run_dir_or_file: str, step: int, metrics: Mapping[str, float],
                      checkpoint: str | None = None, wall_time: float | None = None) -> str:
    """Appends one evaluation as a line (folders created; flushed and fsynced).

    Returns the log file's path. Metric values are stored as floats (NaN as ``NaN``).
    """
    path = log_path(run_dir_or_file)
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    if os.path.exists(path):
        _cut_truncated_tail(path)
    wall_time = time.time() if wall_time is None else float(wall_time)
    record = {
        "step": int(step),
        "metrics": {str(k): float(v) for k, v in metrics.items()},
        "checkpoint": None if checkpoint is None else str(checkpoint),
        "wall_time": wall_time,
        "time": datetime.datetime.fromtimestamp(wall_time, datetime.UTC).isoformat(),
    }
    line = json.dumps(record, sort_keys=True) + "\n"
    with open(path, "a", encoding="utf-8") as f:
        f.write(line)
        f.flush()
        os.fsync(f.fileno())
    return path


def _parse(line: str, where: str) -> Evaluation:
    record = json.loads(line)
    if not isinstance(record, dict) or not isinstance(record.get("metrics"), dict):
        raise ValueError(f"{where}: not an evaluation record (needs 'step' and 'metrics')")
    try:
        step = int(record["step"])
        metrics = {str(k): float(v) for k, v in record["metrics"].items()}
    except (KeyError, TypeError, ValueError) as e:
        raise ValueError(f"{where}: bad step or metric value ({e})") from e
    checkpoint = record.get("checkpoint")
    return Evaluation(step, metrics, None if checkpoint is None else str(checkpoint),
                      float(record.get("wall_time", 0.0)))


def read_evaluations(run_dir_or_file: str) -> list[Evaluation]:
    """All evaluations of the log, in file order; [] when there is no log.

    A last line that does not parse (a crash during the write) is ignored with a warning;
    a bad line elsewhere raises ValueError naming the file and the line.
    """
    path = log_path(run_dir_or_file)
    if not os.path.exists(path):
        return []
    with open(path, encoding="utf-8", errors="replace") as f:
        lines = f.read().split("\n")
    numbered = [(i, line) for i, line in enumerate(lines, start=1) if line.strip()]
    evaluations = []
    for position, (number, line) in enumerate(numbered):
        where = f"{path}, line {number}"
        try:
            evaluations.append(_parse(line, where))
        except (json.JSONDecodeError, ValueError) as e:
            if position == len(numbered) - 1:
                _LOG.warning("%s: ignored an unreadable last line (an interrupted write?): %s",
                             where, e)
                break
            raise ValueError(f"{where}: not a JSON evaluation record ({e})") from e
    return evaluations


def latest_per_step(evaluations: list[Evaluation]) -> list[Evaluation]:
    """One evaluation per step (the last one logged), sorted by step."""
    by_step = {e.step: e for e in evaluations}
    return [by_step[s] for s in sorted(by_step)]


def evaluated_steps(run_dir_or_file: str) -> set[int]:
    """The steps that have a logged evaluation (to skip them when resuming)."""
    return {e.step for e in read_evaluations(run_dir_or_file)}

