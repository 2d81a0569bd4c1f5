"""The run folder lock: held and released, refused while a live process or another host holds
it, stale locks taken over (exactly one of several racing processes wins), and the folders it
cannot lock (not writable, a file in the way)."""

from __future__ import annotations

import errno
import json
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from object_detection.training import run_lock
from tests.training.conftest import REPO

HOST = socket.gethostname()


def _write_lock(run_dir: Path, pid: int, host: str = HOST,
                started: str = "2026-01-01T09:00:00Z") -> bytes:
    run_dir.mkdir(parents=True, exist_ok=True)
    raw = json.dumps({"host": host, "pid": pid, "started": started}).encode()
    (run_dir / run_lock.LOCK_NAME).write_bytes(raw)
    return raw


def _dead_pid() -> int:
    process = subprocess.Popen(["true"])
    process.wait()
    return process.pid


def test_the_lock_holds_host_pid_and_time_and_is_released_also_on_errors(tmp_path):
    run_dir = tmp_path / "runs" / "a"
    with run_lock.RunLock(run_dir) as lock:
        data = json.loads(lock.path.read_text())
        assert (data["host"], data["pid"]) == (HOST, os.getpid())
        assert time.strptime(data["started"], "%Y-%m-%dT%H:%M:%SZ")
        with pytest.raises(run_lock.RunFolderInUseError) as refused:
            run_lock.RunLock(run_dir).acquire()
        assert str(refused.value) == (
            f"{run_dir} is in use by pid {os.getpid()} on host {HOST} since {data['started']}; "
            f"if that process is gone, delete {run_dir / '.lock'}")
        assert sorted(os.listdir(run_dir)) == [".lock"]      # no temporary left
    assert os.listdir(run_dir) == []
    with pytest.raises(RuntimeError, match="boom"):
        with run_lock.RunLock(run_dir):
            raise RuntimeError("boom")
    assert os.listdir(run_dir) == []


def test_a_live_process_keeps_its_lock(tmp_path):
    holder = subprocess.Popen(["sleep", "60"])
    try:
        raw = _write_lock(tmp_path, holder.pid, started=run_lock._now())
        with pytest.raises(run_lock.RunFolderInUseError,
                           match=rf"in use by pid {holder.pid} on host {HOST} since "):
            run_lock.RunLock(tmp_path).acquire()
        assert (tmp_path / ".lock").read_bytes() == raw
    finally:
        holder.kill()
        holder.wait()


def test_a_lock_of_another_host_is_never_taken_over(tmp_path):
    raw = _write_lock(tmp_path, _dead_pid(), host="gpu-node-7", started="2026-12-01T09:00:00Z")
    with pytest.raises(run_lock.RunFolderInUseError) as refused:
        run_lock.RunLock(tmp_path).acquire()
    assert "on host gpu-node-7 since 2026-12-01T09:00:00Z; if that process is gone, delete " \
        f"{tmp_path / '.lock'}" in str(refused.value)
    assert (tmp_path / ".lock").read_bytes() == raw


@pytest.mark.parametrize("how", ["ended", "zombie", "pid reused", "this pid"])
def test_a_stale_lock_of_this_host_is_taken_over_with_a_warning(tmp_path, caplog, how):
    process = None
    if how == "ended":
        pid, reason = _dead_pid(), "is not running"
    elif how == "zombie":                        # ended, not yet waited for by its parent
        process = subprocess.Popen(["true"])
        pid, reason = process.pid, "has ended (a zombie)"
        deadline = time.monotonic() + 10
        while Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()[0] != "Z":
            assert time.monotonic() < deadline
            time.sleep(0.01)
    elif how == "pid reused":                    # a live process started after the lock
        process = subprocess.Popen(["sleep", "60"])
        pid, reason = process.pid, "is now another process, started after the lock"
    else:                                        # e.g. a restarted container: same pid
        pid, reason = os.getpid(), "is this process, which did not take it"
    if how in ("zombie", "pid reused") and not Path("/proc/self/stat").exists():
        pytest.skip("needs /proc")
    try:
        _write_lock(tmp_path, pid, started="2026-01-01T09:00:00Z")
        with run_lock.RunLock(tmp_path) as lock:
            assert json.loads(lock.path.read_text())["pid"] == os.getpid()
        assert os.listdir(tmp_path) == []
        assert (f"{tmp_path}: removed the stale lock of pid {pid} on host {HOST} since "
                f"2026-01-01T09:00:00Z (pid {pid} {reason})") in caplog.text
    finally:
        if process is not None:
            process.kill()
            process.wait()


_RACER = """
import sys, time
from object_detection.training import run_lock
run_dir, start, release, index = sys.argv[1], float(sys.argv[2]), sys.argv[3], int(sys.argv[4])
take_over = run_lock.RunLock._take_over

def slow_take_over(self, *args):
    time.sleep(0.3 + 0.1 * index)
    return take_over(self, *args)

run_lock.RunLock._take_over = slow_take_over
while time.time() < start:
    time.sleep(0.001)
try:
    with run_lock.RunLock(run_dir):
        print("won", flush=True)
        while not run_lock.os.path.exists(release):
            time.sleep(0.01)
except run_lock.RunFolderInUseError as error:
    print("lost:", error, flush=True)
"""


def test_of_processes_racing_for_a_stale_lock_exactly_one_takes_it(tmp_path):
    """Six processes start at once on a stale lock. Each take-over is delayed (0.3 s + 0.1 s
    per racer) so that all have read the stale lock before the first removes it, and the later
    ones come to remove it when the winner's new lock is in place: they must leave that one."""
    run_dir = tmp_path / "run"
    _write_lock(run_dir, _dead_pid())
    release = tmp_path / "release"
    start = time.time() + 1.5
    env = dict(os.environ, PYTHONPATH=str(REPO))
    racers = [subprocess.Popen([sys.executable, "-c", _RACER, str(run_dir), str(start),
                                str(release), str(index)], cwd=REPO, env=env,
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
              for index in range(6)]
    try:
        first_lines = {racer.pid: racer.stdout.readline().strip() for racer in racers}
    finally:
        release.touch()
        warnings = "".join(racer.communicate(timeout=30)[1] for racer in racers)
    winners = [pid for pid, line in first_lines.items() if line == "won"]
    assert len(winners) == 1, first_lines
    for pid, line in first_lines.items():
        if pid != winners[0]:
            assert line.startswith(f"lost: {run_dir} is in use by pid {winners[0]} on host "), line
    assert [racer.returncode for racer in racers] == [0] * 6
    assert warnings.count("removed the stale lock") == 1, warnings
    assert os.listdir(run_dir) == []


def test_without_hard_links_the_lock_is_created_exclusively(tmp_path, monkeypatch):
    def no_links(source, target, **kwargs):
        raise OSError(errno.EPERM, os.strerror(errno.EPERM), source)

    monkeypatch.setattr(os, "link", no_links)
    with run_lock.RunLock(tmp_path) as lock:
        assert json.loads(lock.path.read_text())["pid"] == os.getpid()
        with pytest.raises(run_lock.RunFolderInUseError):
            run_lock.RunLock(tmp_path).acquire()
        assert os.listdir(tmp_path) == [".lock"]
    assert os.listdir(tmp_path) == []


def test_a_lock_replaced_while_held_is_left_alone(tmp_path, caplog):
    with run_lock.RunLock(tmp_path) as lock:
        lock.path.write_text('{"host": "h", "pid": 1, "started": "2026-12-01T09:00:00Z"}')
    assert (tmp_path / ".lock").exists() and "was replaced while this process held it" in \
        caplog.text


def test_an_unreadable_lock_is_named(tmp_path):
    (tmp_path / ".lock").write_text("{ not json")
    with pytest.raises(ValueError, match=rf"{tmp_path / '.lock'}: not a run lock .*; if no "
                                         rf"process uses {tmp_path}, delete it"):
        run_lock.RunLock(tmp_path).acquire()


@pytest.mark.parametrize("code", [errno.EROFS, errno.EACCES, errno.ENOSPC])
@pytest.mark.parametrize("exists", [True, False], ids=["folder", "new folder"])
def test_a_folder_that_cannot_be_written_is_named_before_anything_else(tmp_path, monkeypatch,
                                                                       code, exists):
    """Simulated (the tests run as root, whom chmod does not stop): creating a file in the run
    folder (or the folder itself) fails with ``code``, as on a read-only or full mount."""
    run_dir = tmp_path / "run"
    if exists:
        run_dir.mkdir()
    real_open, real_mkdir = os.open, os.mkdir

    def failing_open(path, flags, *args, **kwargs):
        if os.fspath(path).startswith(str(run_dir)) and flags & os.O_CREAT:
            raise OSError(code, os.strerror(code), path)
        return real_open(path, flags, *args, **kwargs)

    def failing_mkdir(path, *args, **kwargs):
        if os.fspath(path).startswith(str(run_dir)):
            raise OSError(code, os.strerror(code), path)
        return real_mkdir(path, *args, **kwargs)

    monkeypatch.setattr(os, "open", failing_open)
    monkeypatch.setattr(os, "mkdir", failing_mkdir)
    with pytest.raises(OSError) as failed:
        run_lock.RunLock(run_dir).acquire()
    assert str(failed.value) == f"{run_dir}: cannot write ({os.strerror(code).lower()})"
    monkeypatch.undo()
    assert not exists or os.listdir(run_dir) == []


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes into read-only folders; the test "
                                              "above simulates a read-only folder instead")
def test_a_read_only_folder_by_chmod(tmp_path):
    run_dir = tmp_path / "run"
    run_dir.mkdir()
    run_dir.chmod(0o555)
    try:
        with pytest.raises(PermissionError, match=rf"^{run_dir}: cannot write \(permission "
                                                  r"denied\)$"):
            run_lock.RunLock(run_dir).acquire()
    finally:
        run_dir.chmod(0o755)


def test_a_file_in_the_way_is_named(tmp_path):
    path = tmp_path / "model_dir"
    path.write_text("not a folder")
    with pytest.raises(ValueError, match=rf"^{path}: is a file, not a folder; give a folder"):
        run_lock.RunLock(path).acquire()
    with pytest.raises(ValueError, match=rf"^{path / 'run'}: cannot be made: {path} is a file"):
        run_lock.RunLock(path / "run").acquire()
    assert path.read_text() == "not a folder"
