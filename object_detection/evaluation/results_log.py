"""The evaluation log of a run: one JSON object per line in ``<run dir>/evaluations.jsonl``.

Each line is ``{"step": int, "metrics": {name: float}, "checkpoint": str | null,
"wall_time": float (seconds since the epoch), "time": ISO 8601 UTC}``. An append is one
``write`` of the whole line, then fsync, so a finished evaluation survives a crash. A crash in
the middle of an append leaves a truncated last line (no newline at its end): reading ignores it
with a warning, and the next append cuts it off first (with a warning) so that it never ends up
in the middle of the file; a last line that is complete but lost its newline gets it back. A
failed append (a full disk) cuts off what it wrote and raises ``OSError`` naming the file. Any
other line that does not read is an error naming the file and the line.
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


def _repair_tail(path: str) -> None:
    """Ends the file with a newline: removes a truncated last line (left by a crash during an
    append), or ends a complete last line that only lost its newline."""
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
        try:
            _parse(content[keep:].decode("utf-8"), path)
        except (UnicodeDecodeError, ValueError):
            _LOG.warning("%s: cut off a truncated last line (%d bytes) left by an interrupted "
                         "write", path, size - keep)
            f.truncate(keep)
        else:
            f.write(b"\n")
        f.flush()
        os.fsync(f.fileno())


def _append_line(path: str, data: bytes) -> None:
    """Appends ``data`` with one ``write`` (repeated only if the system writes less), then
    fsyncs; on failure cuts the file back to its old length and raises OSError naming it."""
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    try:
        size = os.fstat(fd).st_size
        try:
            written = 0
            while written < len(data):
                written += os.write(fd, data[written:])
            os.fsync(fd)
        except OSError as error:
            try:
                os.ftruncate(fd, size)
            except OSError:
                pass
            raise OSError(error.errno, error.strerror, path) from error
    finally:
        os.close(fd)


def append_evaluation(run_dir_or_file: str, step: int, metrics: Mapping[str, float],
                      checkpoint: str | None = None, wall_time: float | None = None) -> str:
    """Appends one evaluation as a line (folders created; flushed and fsynced).

    Returns the log file's path. Metric values are stored as floats (NaN as ``NaN``).
    """
    path = log_path(run_dir_or_file)
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    if os.path.exists(path):
        _repair_tail(path)
    wall_time = time.time() if wall_time is None else float(wall_time)
    record = {
        "step": int(step),
        "metrics": {str(k): float(v) for k, v in metrics.items()},
        "checkpoint": None if checkpoint is None else str(checkpoint),
        "wall_time": wall_time,
        "time": datetime.datetime.fromtimestamp(wall_time, datetime.UTC).isoformat(),
    }
    _append_line(path, (json.dumps(record, sort_keys=True) + "\n").encode("utf-8"))
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

    A last line without its newline that does not parse (a crash during the write) is
    ignored with a warning; any other bad line raises ValueError naming the file and the line.
    """
    path = log_path(run_dir_or_file)
    if not os.path.exists(path):
        return []
    with open(path, encoding="utf-8", errors="replace") as f:
        lines = f.read().split("\n")
    # split: a file ending with a newline ends with "", so only a torn last line is lines[-1]
    evaluations = []
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        where = f"{path}, line {number}"
        try:
            evaluations.append(_parse(line, where))
        except ValueError as e:
            if number == len(lines):
                _LOG.warning("%s: ignored a truncated last line (an interrupted write?): %s",
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

