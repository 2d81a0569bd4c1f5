"""Resuming after kill -9: once during training, once during an evaluation. The command, run
again, continues from the last checkpoint, repeats no finished evaluation and loses none."""

from __future__ import annotations

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
PROGRESS = re.compile(r"^step\s+(\d+)/200\s")


def _command(run_dir, data) -> list[str]:
    command = [sys.executable, str(REPO / "train_and_eval.py"), "--pipeline_config",
               str(QUICKSTART), "--model_dir", str(run_dir), "--num_train_steps", "200",
               "--steps_per_epoch", "100", "--log_every_n_steps", "10"]
    for override in tiny_overrides(data):
        command += ["--override", override]
    return command


def _run(command, kill_at: re.Pattern | None = None, timeout: float = 180.0) -> list[str]:
    """Runs the command, reading its output; SIGKILLs it on the first line matching
    ``kill_at``. Returns the lines read (the process has ended)."""
    env = dict(os.environ, PYTHONUNBUFFERED="1", PYTHONPATH=str(REPO))
    process = subprocess.Popen(command, cwd=REPO, env=env, stdout=subprocess.PIPE,
                               stderr=subprocess.STDOUT, text=True, bufsize=1)
    watchdog = threading.Timer(timeout, process.kill)
    watchdog.start()
    lines = []
    try:
        for line in process.stdout:
            lines.append(line.rstrip("\n"))
            if kill_at is not None and kill_at.search(line):
                os.kill(process.pid, signal.SIGKILL)
                break
        process.wait()
    finally:
        watchdog.cancel()
        process.stdout.close()
    if kill_at is not None:
        assert process.returncode == -signal.SIGKILL, "\n".join(lines[-30:])
    else:
        assert process.returncode == 0, "\n".join(lines[-30:])
    return lines


def _steps(lines: list[str]) -> list[int]:
    return [int(m.group(1)) for line in lines if (m := PROGRESS.match(line))]


def _logged(run_dir) -> list[int]:
    return [e.step for e in results_log.read_evaluations(str(run_dir))]


@pytest.mark.slow
def test_kill_during_training_then_during_evaluation_then_finish(tiny_data, tmp_path):
    run_dir = tmp_path / "run"
    command = _command(run_dir, tiny_data)

    # 1. Killed in the second epoch: step 100 is saved and evaluated, nothing after it.
    lines = _run(command, kill_at=re.compile(r"^step\s+1[1-9]0/200\s"))
    assert _steps(lines)[:10] == list(range(10, 101, 10))
    assert "evaluating step 100 ..." in lines
    assert ckpt_lib.latest_step(run_dir) == 100 and _logged(run_dir) == [100]

    # 2. Resumed at step 100 (no evaluation again), killed while evaluating step 200.
    lines = _run(command, kill_at=re.compile(r"^evaluating step 200 "))
    assert f"resumed from {run_dir / 'ckpt-100'} (step 100)" in lines
    assert _steps(lines) == list(range(110, 201, 10))
    assert "evaluating step 100 ..." not in lines
    assert ckpt_lib.latest_step(run_dir) == 200 and _logged(run_dir) == [100]

    # 3. Resumed at step 200: only the missing evaluation runs; the run completes.
    lines = _run(command)
    assert f"resumed from {run_dir / 'ckpt-200'} (step 200)" in lines
    assert _steps(lines) == [] and lines.count("evaluating step 200 ...") == 1
    assert _logged(run_dir) == [100, 200]
    assert ckpt_lib.read_best(run_dir) == ckpt_lib.best_from_log(run_dir, METRIC)
    assert re.search(r"^run\s+trained\s+200\s", "\n".join(lines), re.M)
