"""Faults around a run folder, through train_and_eval.py: two trainers on one folder, a full
disk while saving, a folder that cannot be written or is a file, and the evaluation log after a
torn or failed append."""

from __future__ import annotations

import errno
import json
import os
import re
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
import tensorflow as tf

import train_and_eval
from object_detection.evaluation import results_log
from object_detection.training import checkpoints as ckpt_lib
from tests.training.conftest import QUICKSTART, REPO, tiny_overrides


def _args(run_dir: Path, data: Path, steps: int, per_epoch: int) -> list[str]:
    args = ["--pipeline_config", str(QUICKSTART), "--model_dir", str(run_dir),
            "--num_train_steps", str(steps), "--steps_per_epoch", str(per_epoch),
            "--log_every_n_steps", "1"]
    for override in tiny_overrides(data):
        args += ["--override", override]
    return args


def _logged(run_dir: Path) -> list[int]:
    return [e.step for e in results_log.read_evaluations(str(run_dir))]


def _wait_for(condition, what: str, timeout: float = 120.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.05)


@pytest.mark.slow
def test_two_trainings_started_together_on_one_folder(tiny_data, tmp_path, capsys):
    """Both start at once; the run is long (2000 steps), so the one that gets the lock holds
    it while the other reaches it. The holder is then stopped by SIGTERM (a scheduler's stop),
    which releases the lock."""
    run_dir = tmp_path / "run"
    args = _args(run_dir, tiny_data, steps=2000, per_epoch=2)
    env = dict(os.environ, PYTHONUNBUFFERED="1", PYTHONPATH=str(REPO))
    logs = [tmp_path / "a.log", tmp_path / "b.log"]
    processes = []
    for log in logs:
        with open(log, "w") as output:
            processes.append(subprocess.Popen(
                [sys.executable, str(REPO / "train_and_eval.py"), *args], cwd=REPO, env=env,
                stdout=output, stderr=subprocess.STDOUT))
    try:
        _wait_for(lambda: any(p.poll() is not None for p in processes), "one to stop")
        loser = next(i for i, p in enumerate(processes) if p.poll() is not None)
        winner = processes[1 - loser]
        refused = logs[loser].read_text()
        assert processes[loser].returncode == 1, refused
        assert re.search(rf"^error: {re.escape(str(run_dir))} is in use by pid {winner.pid} on "
                         rf"host {re.escape(socket.gethostname())} since \S+Z; if that process "
                         rf"is gone, delete {re.escape(str(run_dir / '.lock'))}$",
                         refused, re.M), refused
        assert "step 1/2000" not in refused
        # the holder trains and evaluates on
        _wait_for(lambda: re.search(r"^step 4: ", logs[1 - loser].read_text(), re.M),
                  "two evaluations")
        assert winner.poll() is None and (run_dir / ".lock").exists()
        winner.send_signal(signal.SIGTERM)
        winner.wait(timeout=60)
    finally:
        for process in processes:
            if process.poll() is None:
                process.kill()
                process.wait()
    held = logs[1 - loser].read_text()
    assert winner.returncode == 130 and "error: interrupted" in held, held[-2000:]
    assert not (run_dir / ".lock").exists()
    # The lock is free again: --eval_only takes it and evaluates what the holder left.
    assert train_and_eval.main(args + ["--eval_only"]) == 0
    logged = _logged(run_dir)
    assert len(logged) >= 2 and sorted(set(logged)) == logged
    assert logged == list(range(2, 2 * len(logged) + 1, 2))
    assert set(ckpt_lib.checkpoint_step(p) for p in ckpt_lib.kept_checkpoints(run_dir)) <= \
        set(logged)


@pytest.mark.slow
def test_a_full_disk_while_saving_stops_with_one_line_and_the_same_command_resumes(
        tiny_data, tmp_path, capsys, monkeypatch, caplog):
    """The full disk is simulated the way TensorFlow fails on one (seen on a 200 KB tmpfs): the
    save of ckpt-2 leaves ckpt-2_temp/ and raises ResourceExhaustedError '...; No space left on
    device'. Then the leftovers of a killed process are added: a half-written checkpoint
    folder, a temporary pipeline.config and a torn last line of the evaluation log."""
    run_dir = tmp_path / "run"
    args = _args(run_dir, tiny_data, steps=2, per_epoch=1)
    real_save = tf.train.CheckpointManager.save

    def full_disk(self, checkpoint_number=None, **kwargs):
        if checkpoint_number != 2:
            return real_save(self, checkpoint_number=checkpoint_number, **kwargs)
        temp = Path(self.directory) / "ckpt-2_temp"
        temp.mkdir()
        part = temp / "part-00000-of-00001.data-00000-of-00001"
        part.write_bytes(b"\0" * 100)
        raise tf.errors.ResourceExhaustedError(None, None, f"{part}; No space left on device")

    monkeypatch.setattr(tf.train.CheckpointManager, "save", full_disk)
    assert train_and_eval.main(args) == 1
    captured = capsys.readouterr()
    assert captured.err.splitlines()[0] == (
        f"error: {run_dir}: cannot save ckpt-2 (no space left on device); its partial files "
        f"are removed, the earlier checkpoints are intact (the latest is {run_dir / 'ckpt-1'})")
    assert "step 2/2" in captured.out and _logged(run_dir) == [1]
    assert sorted(p.name for p in run_dir.glob("ckpt-*")) == [
        "ckpt-1.data-00000-of-00001", "ckpt-1.index"]
    assert not (run_dir / ".lock").exists()
    monkeypatch.setattr(tf.train.CheckpointManager, "save", real_save)

    (run_dir / "ckpt-2_temp").mkdir()
    stale_pid = subprocess.Popen(["true"])
    stale_pid.wait()
    (run_dir / f".pipeline.config.tmp-{stale_pid.pid}-0a1b2c3d").write_text("model {")
    with open(run_dir / results_log.EVALUATIONS_FILE, "a") as log:
        log.write('{"step": 2, "metrics": {"Detection')
    assert train_and_eval.main(args) == 0
    out = capsys.readouterr().out
    assert f"resumed from {run_dir / 'ckpt-1'} (step 1)" in out
    assert "evaluating step 1 ..." not in out
    assert f"{run_dir / 'ckpt-2_temp'}: removed the half-written checkpoint" in caplog.text
    assert "cut off a truncated last line" in caplog.text
    assert _logged(run_dir) == [1, 2] and ckpt_lib.latest_step(run_dir) == 2
    assert sorted(p.name for p in run_dir.iterdir() if p.name.startswith(".")) == []


def test_a_run_folder_that_cannot_be_written_or_is_a_file_stops_before_training(
        tiny_data, tmp_path, capsys, monkeypatch):
    """Read-only is simulated (the tests run as root, whom a chmod does not stop): creating a
    file inside the run folder fails with EROFS, as on a read-only mount."""
    run_dir = tmp_path / "run"
    run_dir.mkdir()
    real_open = os.open

    def read_only(path, flags, *rest, **kwargs):
        if os.fspath(path).startswith(str(run_dir)) and flags & os.O_CREAT:
            raise OSError(errno.EROFS, os.strerror(errno.EROFS), path)
        return real_open(path, flags, *rest, **kwargs)

    monkeypatch.setattr(os, "open", read_only)
    assert train_and_eval.main(_args(run_dir, tiny_data, steps=1, per_epoch=0)) == 1
    monkeypatch.undo()
    captured = capsys.readouterr()
    assert captured.err.splitlines()[0] == f"error: {run_dir}: cannot write (read-only file system)"
    assert "step 1/1" not in captured.out and list(run_dir.iterdir()) == []

    a_file = tmp_path / "model_dir"
    a_file.write_text("x")
    assert train_and_eval.main(_args(a_file, tiny_data, steps=1, per_epoch=0)) == 1
    assert capsys.readouterr().err.splitlines()[0] == (
        f"error: {a_file}: is a file, not a folder; give a folder for the run")
    assert train_and_eval.main(_args(a_file, tiny_data, steps=1, per_epoch=0)
                               + ["--eval_only"]) == 1
    assert "is a file, not a folder" in capsys.readouterr().err
    assert a_file.read_text() == "x"


def test_eval_only_of_a_run_never_trained_creates_no_folder(tiny_data, tmp_path, capsys):
    run_dir = tmp_path / "never"
    assert train_and_eval.main(_args(run_dir, tiny_data, steps=1, per_epoch=0)
                               + ["--eval_only"]) == 0
    assert f"no checkpoint in {run_dir} to evaluate" in capsys.readouterr().out
    assert not run_dir.exists()


# ---------------------------------------------------------------------- the evaluation log


def test_a_complete_last_line_that_lost_its_newline_is_kept(tmp_path):
    path = Path(results_log.append_evaluation(str(tmp_path), 1, {"m": 0.1}))
    path.write_text(path.read_text() + json.dumps({"step": 2, "metrics": {"m": 0.2}}))
    assert results_log.evaluated_steps(str(tmp_path)) == {1, 2}
    results_log.append_evaluation(str(tmp_path), 3, {"m": 0.3})
    assert [e.step for e in results_log.read_evaluations(str(tmp_path))] == [1, 2, 3]
    assert path.read_text().count("\n") == 3


def test_a_broken_complete_last_line_is_an_error_naming_it(tmp_path):
    path = Path(results_log.append_evaluation(str(tmp_path), 1, {"m": 0.1}))
    with open(path, "a") as log:
        log.write("{edited\n")
    with pytest.raises(ValueError, match=rf"^{path}, line 2: not a JSON evaluation record"):
        results_log.read_evaluations(str(tmp_path))


def test_a_failed_append_leaves_the_log_as_it_was(tmp_path, monkeypatch):
    """A full disk is simulated: the write stores half the line, then fails with ENOSPC."""
    path = Path(results_log.append_evaluation(str(tmp_path), 1, {"m": 0.1}))
    before = path.read_bytes()
    real_write = os.write
    calls = []

    def half_then_full(fd, data):
        calls.append(len(data))
        if len(calls) == 1:
            return real_write(fd, data[:len(data) // 2])
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(os, "write", half_then_full)
    with pytest.raises(OSError) as failed:
        results_log.append_evaluation(str(tmp_path), 2, {"m": 0.2})
    monkeypatch.undo()
    assert (failed.value.errno, failed.value.filename) == (errno.ENOSPC, str(path))
    assert len(calls) == 2 and path.read_bytes() == before


def test_a_record_damaged_mid_file_is_named_when_training_meets_it(tiny_data, tmp_path, capsys):
    """A byte flipped inside the data of a later record: the cheap check before training reads
    only the first record and the record framing, so TensorFlow meets the damage mid-epoch
    (a DataLossError naming no file); the run then names the file and the record's offset."""
    import glob
    import shutil
    data = tmp_path / "data"
    shutil.copytree(tiny_data, data)
    train = sorted(glob.glob(str(data / "records" / "train*")))[0]
    raw = bytearray(Path(train).read_bytes())
    first = int.from_bytes(raw[:8], "little")
    second_data = 8 + 4 + first + 4 + 8 + 4          # header, data, crc of record 1; header 2
    raw[second_data + 20] ^= 0xFF
    Path(train).write_bytes(bytes(raw))
    run_dir = tmp_path / "run"
    code = train_and_eval.main(_args(run_dir, data, steps=40, per_epoch=40))
    err = capsys.readouterr().err
    assert code == 1, err
    line = err.splitlines()[0]
    assert line.startswith(f"error: {run_dir.name}: {train}: corrupted record at byte "), line
    assert line.endswith("the checkpoints saved before it are intact"), line
