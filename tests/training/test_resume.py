"""Resuming after kill -9 during training, Ctrl-C during training and kill -9 during an
evaluation. The command, run again, takes over the lock a killed run left, continues from the
last checkpoint, repeats no finished evaluation and loses none."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import threading

import pytest

from object_detection.evaluation import results_log
from object_detection.training import checkpoints as ckpt_lib
from tests.training.conftest import QUICKSTART, REPO, tiny_overrides

METRIC = "DetectionMasks_Precision/mAP@.50IOU"
PROGRESS = re.compile(r"^step\s+(\d+)/150\s")


def _command(run_dir, data) -> list[str]:
    command = [sys.executable, str(REPO / "train_and_eval.py"), "--pipeline_config",
               str(QUICKSTART), "--model_dir", str(run_dir), "--num_train_steps", "150",
               "--steps_per_epoch", "50", "--log_every_n_steps", "10"]
    for override in tiny_overrides(data):
        command += ["--override", override]
    return command


def _default_sigint() -> None:
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def _run(command, kill_at: re.Pattern | None = None, timeout: float = 600.0,
         sig: int = signal.SIGKILL) -> list[str]:
    """Runs the command, reading its output; sends it ``sig`` on the first line matching
    ``kill_at`` (SIGKILL: stops reading; otherwise reads on to its end). Returns the lines read
    (the process has ended)."""
    env = dict(os.environ, PYTHONUNBUFFERED="1", PYTHONPATH=str(REPO))
    # SIGINT at its default in the command, even when this test runs with it ignored (a
    # background job of a script ignores it, and children inherit that).
    process = subprocess.Popen(command, cwd=REPO, env=env, stdout=subprocess.PIPE,
                               stderr=subprocess.STDOUT, text=True, bufsize=1,
                               preexec_fn=_default_sigint)
    watchdog = threading.Timer(timeout, process.kill)
    watchdog.start()
    lines, sent = [], False
    try:
        for line in process.stdout:
            lines.append(line.rstrip("\n"))
            if kill_at is not None and not sent and kill_at.search(line):
                os.kill(process.pid, sig)
                sent = True
                if sig == signal.SIGKILL:
                    break
        process.wait()
    finally:
        watchdog.cancel()
        process.stdout.close()
    expected = 0 if kill_at is None else -signal.SIGKILL if sig == signal.SIGKILL else 130
    assert process.returncode == expected, "\n".join(lines[-30:])
    return lines


def _steps(lines: list[str]) -> list[int]:
    return [int(m.group(1)) for line in lines if (m := PROGRESS.match(line))]


def _logged(run_dir) -> list[int]:
    return [e.step for e in results_log.read_evaluations(str(run_dir))]


@pytest.mark.slow
def test_kill_during_training_then_during_evaluation_then_finish(tiny_data, tmp_path):
    run_dir = tmp_path / "run"
    command = _command(run_dir, tiny_data)

    # 1. Killed in the second epoch: step 50 is saved and evaluated, nothing after it; the
    # lock stays behind, naming a process that is gone.
    lines = _run(command, kill_at=re.compile(r"^step\s+[6-9]0/150\s"))
    assert _steps(lines)[:5] == list(range(10, 51, 10))
    assert "evaluating step 50 ..." in lines
    assert ckpt_lib.latest_step(run_dir) == 50 and _logged(run_dir) == [50]
    killed = json.loads((run_dir / ".lock").read_text())["pid"]

    # 2. Resumed at step 50 (no evaluation again) after removing the stale lock; Ctrl-C in the
    # third epoch stops it cleanly: lock released, step 100 saved and evaluated.
    lines = _run(command, kill_at=re.compile(r"^step\s+1[1-4]0/150\s"), sig=signal.SIGINT)
    assert any(f"removed the stale lock of pid {killed} " in line and "is not running" in line
               for line in lines), lines[:20]
    assert f"resumed from {run_dir / 'ckpt-50'} (step 50)" in lines
    assert "evaluating step 50 ..." not in lines and "error: interrupted" in lines
    assert not (run_dir / ".lock").exists()
    assert ckpt_lib.latest_step(run_dir) == 100 and _logged(run_dir) == [50, 100]

    # 3. Resumed at step 100, killed while evaluating step 150.
    lines = _run(command, kill_at=re.compile(r"^evaluating step 150 "))
    assert f"resumed from {run_dir / 'ckpt-100'} (step 100)" in lines
    assert _steps(lines) == list(range(110, 151, 10))
    assert not any("stale lock" in line for line in lines[:20])
    assert ckpt_lib.latest_step(run_dir) == 150 and _logged(run_dir) == [50, 100]

    # 4. Resumed at step 150: only the missing evaluation runs; the run completes.
    lines = _run(command)
    assert f"resumed from {run_dir / 'ckpt-150'} (step 150)" in lines
    assert _steps(lines) == [] and lines.count("evaluating step 150 ...") == 1
    assert _logged(run_dir) == [50, 100, 150]
    assert ckpt_lib.read_best(run_dir) == ckpt_lib.best_from_log(run_dir, METRIC)
    assert re.search(r"^run\s+trained\s+150\s", "\n".join(lines), re.M)
    assert not (run_dir / ".lock").exists()
