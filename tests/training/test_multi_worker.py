"""Multi-worker training (``TF_CONFIG`` -> ``MultiWorkerMirroredStrategy``): the naming of a lost
worker from TensorFlow's errors, a non-chief's checkpoint saves outside the run folder, and end
to end two local worker processes of ``train_and_eval.py``, each with its own ``TF_CONFIG`` (a
cluster of two workers on free loopback ports, task 0 and 1; one replica per worker).

End to end is one test, since every process start costs seconds: a single process trains a
tiny run (the reference); then the two workers train the same run, worker 1 is killed
(``kill -9``) in the second epoch, the chief stops within a bounded time with one sentence
naming the lost worker, and the same command on both workers resumes from the latest checkpoint
and completes. The result must be the reference's: the same weights, losses and evaluation log,
and the same files in the run folder, all written by the chief.
"""

from __future__ import annotations

import json
import os
import re
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import numpy as np
import pytest
import tensorflow as tf

from object_detection.evaluation import results_log
from object_detection.training import checkpoints as ckpt_lib
from object_detection.training import distribution
from tests.training.conftest import DETERMINISTIC_OVERRIDES, QUICKSTART, REPO, tiny_overrides

STEPS, EPOCH = 8, 4          # evaluations at steps 4 and 8
PROGRESS = re.compile(rf"^step\s+(\d+)/{STEPS}\s+loss (\S+)")
EVENTS = re.compile(r"^events\.out\.tfevents\.\d+\.(.+)\.(\d+)\.(\d+)\.v2$")  # time.host.pid.n
START_TIMEOUT = 420.0       # a loaded CI runner: TensorFlow's start, tracing, a few steps
LOST_TIMEOUT = 120.0        # the heartbeat timeout is 10 s: this is a hang, not slowness

# Deterministic training, so that one process and two workers can agree (as in
# test_distribution.py): batch norm frozen (per-replica batch statistics would differ), every
# anchor and proposal sampled and none suppressed (no sampling randomness, and near-tied scores
# cannot change the result), mask loss weight 0 (it is normalized over each replica's batch),
# the records read in a fixed order (shuffle off; a cluster reads in a fixed order anyway), and
# momentum with a constant rate (Adam's update ~ sign(gradient) would turn rounding noise in
# tiny gradients into full-size differences). The random flip stays: it is seeded per record.
DETERMINISTIC = [*DETERMINISTIC_OVERRIDES, "train_input_reader.shuffle=false"]


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("localhost", 0))
        return sock.getsockname()[1]


def _command(run_dir: Path, data: Path) -> list[str]:
    command = [sys.executable, str(REPO / "train_and_eval.py"), "--pipeline_config",
               str(QUICKSTART), "--model_dir", str(run_dir), "--num_train_steps", str(STEPS),
               "--steps_per_epoch", str(EPOCH), "--log_every_n_steps", "1"]
    for override in tiny_overrides(data) + DETERMINISTIC:
        command += ["--override", override]
    return command


class _Process:
    """A command whose output (stdout and stderr) a thread collects, so that no wait blocks on
    a full pipe; every wait has a timeout."""

    def __init__(self, command: list[str], **env: str) -> None:
        environ = {key: value for key, value in os.environ.items() if key != "TF_CONFIG"}
        environ.update(PYTHONUNBUFFERED="1", PYTHONPATH=str(REPO), **env)
        self.popen = subprocess.Popen(command, cwd=REPO, env=environ, stdout=subprocess.PIPE,
                                      stderr=subprocess.STDOUT, text=True, bufsize=1)
        self.lines: list[str] = []
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        for line in self.popen.stdout:
            self.lines.append(line.rstrip("\n"))

    @property
    def pid(self) -> int:
        return self.popen.pid

    def output(self) -> str:
        return "\n".join(self.lines[-40:])

    def wait_for(self, pattern: str, timeout: float) -> None:
        """Until a line matches ``pattern``; fails when the process ends or time is up."""
        deadline = time.monotonic() + timeout
        regex = re.compile(pattern)
        while not any(regex.search(line) for line in list(self.lines)):
            assert self.popen.poll() is None, f"ended ({self.popen.returncode}) before " \
                                              f"{pattern!r}:\n{self.output()}"
            assert time.monotonic() < deadline, f"no {pattern!r} in {timeout}s:\n{self.output()}"
            time.sleep(0.05)

    def wait(self, timeout: float) -> int:
        try:
            code = self.popen.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.kill()
            pytest.fail(f"still running after {timeout}s (killed):\n{self.output()}")
        self._reader.join(timeout=10)
        return code

    def kill(self) -> None:
        if self.popen.poll() is None:
            self.popen.kill()
            self.popen.wait(timeout=30)


def _tf_config(ports: list[int], index: int) -> str:
    return json.dumps({"cluster": {"worker": [f"localhost:{port}" for port in ports]},
                       "task": {"type": "worker", "index": index}})


def _losses(*processes: _Process) -> dict[int, float]:
    """Step -> total loss from the progress lines (a later process's value wins)."""
    return {int(m.group(1)): float(m.group(2)) for process in processes
            for line in process.lines if (m := PROGRESS.match(line))}


def _weights(prefix: Path) -> dict[str, np.ndarray]:
    """The float model variables of a checkpoint, by TF1 name."""
    reader = tf.train.load_checkpoint(str(prefix))
    return {name: reader.get_tensor(name) for name, dtype in
            reader.get_variable_to_dtype_map().items()
            if name.startswith("variables/") and "OPTIMIZER_SLOT" not in name
            and dtype.is_floating}


def _max_diff(a: dict[str, np.ndarray], b: dict[str, np.ndarray]) -> float:
    assert a.keys() == b.keys()
    return max(float(np.max(np.abs(a[name] - b[name]))) for name in a)


def _files(run_dir: Path) -> set[str]:
    """The run folder's files, relative, event files as ``train/EVENTS`` (their names hold the
    writer's time, host and pid)."""
    names = set()
    for path in run_dir.rglob("*"):
        if path.is_file():
            relative = path.relative_to(run_dir)
            names.add(str(relative.parent / "EVENTS") if EVENTS.match(path.name)
                      else str(relative))
    return names


def _event_pids(run_dir: Path) -> set[int]:
    return {int(EVENTS.match(path.name).group(2)) for path in run_dir.rglob("events.out.*")}


# What TensorFlow 2.21 says (abridged) when a worker is lost, as seen by the other one.
_CHIEF_MISSES_HEARTBEATS = (
    "Collective ops is aborted by: Error reported from /job:worker/task:1: The following tasks "
    "are unhealthy (stopped sending heartbeats):\n/job:worker/replica:0/task:1\nThe tasks have "
    "crashed. Check the task logs for an earlier error, or scheduler events (e.g. preemption, "
    "eviction) to debug further.\nThe error could be from a previous operation. Restart your "
    "program to reset.\n\t [[{{node CollectiveReduceV2}}]] [Op:__inference_step_39]")
_CHIEF_RESET = (
    "Collective ops is aborted by: recvmsg:Connection reset by peer\nAdditional GRPC error "
    "information from remote target /job:worker/replica:0/task:1 while calling "
    "/tensorflow.WorkerService/RecvBuf:\n:UNKNOWN:Error received from peer  {grpc_status:14, "
    'grpc_message:"recvmsg:Connection reset by peer"}')
_WORKER_LOSES_LEADER = (
    "Failed to send RPC to coordination service. Either the leader task was preempted/died/"
    "restarted unexpectedly or this task is experiencing network issues.\nAdditional GRPC error "
    "information from remote target /job:worker/replica:0/task:0 while calling "
    "/tensorflow.CoordinationService/Heartbeat:\n:UNKNOWN:Error received from peer  "
    '{grpc_message:"failed to connect to all addresses; last error: UNKNOWN: '
    'ipv4:127.0.0.1:44167: Failed to connect to remote host: Connection refused"}')


def test_the_lost_worker_is_named_from_tensorflows_error():
    tasks = {("worker", 0): "localhost:2222", ("worker", 1): "localhost:2223"}
    message = distribution.lost_worker_message
    assert message(_CHIEF_MISSES_HEARTBEATS, ("worker", 0), tasks) == \
        "worker 1 (localhost:2223) is lost (it stopped sending heartbeats)"
    assert message(_CHIEF_RESET, ("worker", 0), tasks) == \
        "worker 1 (localhost:2223) is lost (its connection was reset)"
    assert message(_WORKER_LOSES_LEADER, ("worker", 1), tasks) == \
        "worker 0 (localhost:2222) is lost (it cannot be reached)"
    assert message("Collective ops is aborted by: cancelled", ("worker", 0), tasks) == \
        "another worker is lost (collective ops were aborted)"
    assert message("Out of range: End of sequence", ("worker", 0), tasks) is None


def test_outside_a_cluster_nothing_is_synced_or_renamed():
    strategy = tf.distribute.get_strategy()
    assert not distribution.is_multi_worker(strategy)
    distribution.sync_workers(strategy)                    # returns at once
    error = tf.errors.UnavailableError(None, None, _CHIEF_RESET)
    assert distribution.lost_worker(strategy, error) is None
    batches = distribution.distribute_dataset(strategy, tf.data.Dataset.range(4).batch(2))
    assert [b.numpy().tolist() for b in batches] == [[0, 1], [2, 3]]


def test_a_non_chief_saves_outside_the_run_folder(tmp_path, monkeypatch):
    run_dir, scratch = tmp_path / "run", tmp_path / "local_tmp"
    run_dir.mkdir()
    scratch.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(scratch))
    ckpt_lib.RunCheckpoints(run_dir, tf.train.Checkpoint(v=tf.Variable(1.0))).save(1)
    before = sorted(p.name for p in run_dir.iterdir())
    worker = ckpt_lib.RunCheckpoints(run_dir, tf.train.Checkpoint(v=tf.Variable(0.0)),
                                     is_chief=False)
    assert worker.restore_latest() == 1
    path = worker.save(2)
    assert path.startswith(str(scratch)) and not os.path.exists(os.path.dirname(path))
    assert sorted(p.name for p in run_dir.iterdir()) == before
    assert list(scratch.iterdir()) == []
    assert ckpt_lib.latest_step(run_dir) == 1


@pytest.mark.slow
def test_two_workers_train_as_one_process_and_resume_after_one_is_killed(tiny_data, tmp_path):
    """1. Weights: the two workers' final checkpoint is the single process's, up to float
    rounding: max |difference| <= 1e-2 of how far the last epoch moved the weights (the bound
    of test_distribution.py's --cpu_replicas check). Rounding differs since the gradient of
    the global batch is the all-reduced sum of two replicas' gradients instead of one
    computation over both images (and oneDNN blocks its reductions by core count); a wrong split
    of the batch (both workers training on the same images) or a wrong scaling of the gradients
    differs by the order of the move itself. The losses of every step agree to 1e-3.

    2. Only the chief writes into the run folder: the same files as the single process's run
    folder (no lock left, no scratch or temporary files), every event file written by a chief
    process (its pid is in the file name), nothing left in worker 1's temporary folder (where
    its checkpoint saves go), worker 1 evaluates nothing, and the evaluations are exactly at
    steps 4 and 8, once each.

    3. Worker 1 killed in the second epoch: the chief ends with exit code 1 and one sentence
    naming worker 1 and the latest checkpoint, well within LOST_TIMEOUT (at once when the
    connection to it breaks, else once the coordination service has missed its heartbeats for
    10 s); the same command on both workers resumes from ckpt-4 and completes.
    """
    single_dir, cluster_dir = tmp_path / "single", tmp_path / "cluster"
    worker_tmp = tmp_path / "worker_1_tmp"
    worker_tmp.mkdir()
    processes: list[_Process] = []
    try:
        single = _Process(_command(single_dir, tiny_data))
        processes.append(single)
        assert single.wait(START_TIMEOUT) == 0, single.output()

        ports = [_free_port()]
        while len(ports) < 2:
            ports = sorted({ports[0], _free_port()})

        def start_cluster() -> tuple[_Process, _Process]:
            command = _command(cluster_dir, tiny_data)
            chief = _Process(command, TF_CONFIG=_tf_config(ports, 0))
            worker = _Process(command, TF_CONFIG=_tf_config(ports, 1), TMPDIR=str(worker_tmp))
            processes.extend([chief, worker])
            return chief, worker

        # Worker 1 killed in the second epoch (ckpt-4 saved and evaluated) with 3 steps to go:
        # the chief cannot finish a step without it.
        first_chief, first_worker = start_cluster()
        first_chief.wait_for(rf"^step\s+{EPOCH + 1}/{STEPS}\s", START_TIMEOUT)
        os.kill(first_worker.pid, signal.SIGKILL)
        killed = time.monotonic()
        assert first_chief.wait(LOST_TIMEOUT) == 1, first_chief.output()
        lost_after = time.monotonic() - killed
        assert first_worker.wait(30) == -signal.SIGKILL
        errors = [line for line in first_chief.lines if line.startswith("error: ")]
        assert len(errors) == 1 and re.fullmatch(
            rf"error: cluster: worker 1 \(localhost:{ports[1]}\) is lost \([a-z ]+\); training "
            rf"stopped, the latest checkpoint is ckpt-{EPOCH}: run the same command on every "
            r"worker again to resume", errors[0]), first_chief.output()
        assert [e.step for e in results_log.read_evaluations(str(cluster_dir))] == [EPOCH]
        assert ("MultiWorkerMirroredStrategy, 2 replicas on 2 workers, this is worker 0 (the "
                "chief)") in first_chief.output()

        # The same command again on both workers: resumes from ckpt-4 and completes.
        chief, worker = start_cluster()
        assert chief.wait(START_TIMEOUT) == 0, chief.output()
        assert worker.wait(60) == 0, worker.output()
        for process in (chief, worker):
            assert any(re.fullmatch(rf"resumed from .*ckpt-{EPOCH} \(step {EPOCH}\)", line)
                       for line in process.lines), process.output()
        for process in (first_worker, worker):        # the chief evaluates, alone
            assert not any(line.startswith("evaluating") for line in process.lines)
    finally:
        for process in processes:
            process.kill()

    # 1. The weights and the losses of one process.
    single_weights = _weights(single_dir / f"ckpt-{STEPS}")
    moved = _max_diff(_weights(single_dir / f"ckpt-{EPOCH}"), single_weights)
    difference = _max_diff(_weights(cluster_dir / f"ckpt-{STEPS}"), single_weights)
    assert moved > 1e-5
    assert difference <= 1e-2 * moved, (difference, moved)
    single_losses, cluster_losses = _losses(single), _losses(first_chief, chief)
    assert sorted(single_losses) == sorted(cluster_losses) == list(range(1, STEPS + 1))
    for step, loss in single_losses.items():
        assert cluster_losses[step] == pytest.approx(loss, rel=1e-3), step

    # 2. Only the chief wrote into the run folder.
    assert [e.step for e in results_log.read_evaluations(str(cluster_dir))] == [EPOCH, STEPS]
    assert _files(cluster_dir) == _files(single_dir), \
        _files(cluster_dir) ^ _files(single_dir)
    assert _event_pids(cluster_dir) <= {first_chief.pid, chief.pid}
    assert [name for name in os.listdir(worker_tmp)          # autograph's are TensorFlow's
            if not name.startswith("__autograph_generated_file")] == []
    print(f"\nthe chief stopped {lost_after:.1f}s after worker 1 was killed: {errors[0]}; "
          f"weights differ by {difference:.3g}, moved {moved:.3g}")
