"""train_and_eval.py --ray: the runs of a grid as Ray tasks, with the tiny model of
conftest.py, on one module-wide local Ray of 2 CPUs and 2 (logical) GPUs, started once (it
takes seconds), or on the local Ray a driver in a subprocess starts.

Two runs go in parallel, each in its own process with its own GPU id and one CPU thread, and
train as the serial code does; a failing run and a run whose folder another process holds are
reported while the third completes, and ``--eval_only`` runs on Ray too; a driver stopped by
SIGTERM cancels its task cleanly, one killed with ``kill -9`` takes its task with it, and the
same command then resumes from the checkpoint and completes. Without Ray, ``--ray`` stops with
one sentence; the resources of a run default from the cluster's. The tests that need Ray skip
when it is not installed.
"""

from __future__ import annotations

import dataclasses
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

import train_and_eval
from object_detection.dataset_tools.synthetic_dataset import record_pattern
from object_detection.evaluation import results_log
from object_detection.training import checkpoints as ckpt_lib
from object_detection.training import distribution, ray_runs, run_lock, run_specs, runner
from object_detection.training.summaries import read_scalars
from tests.training.conftest import QUICKSTART, REPO, tiny_model_overrides

RAY_SKIP_REASON = 'Ray is not installed: pip install -e ".[ray]"'
METRIC = "DetectionMasks_Precision/mAP@.50IOU"


def _grid(tmp_path: Path, data: Path, datasets: dict[str, str] | None = None,
          scales=((0.125, 0.25),), total_steps: int = 4, steps_per_epoch: int = 2,
          name: str = "grid") -> Path:
    """A grid of the tiny model: one run per dataset x anchor-scale set."""
    datasets = datasets or {"tiny": record_pattern(str(data), "train")}
    overrides = "\n".join(f'override: "{o}"' for o in tiny_model_overrides())
    text = "\n".join(f'dataset {{ name: "{n}" train_input_path: "{p}" }}'
                     for n, p in datasets.items())
    text += "\n" + "\n".join(f"anchor_scales {{ scale: {list(s)} }}" for s in scales)
    text += f"""
base_pipeline_config: "{QUICKSTART}"
eval_input_path: "{record_pattern(str(data), 'eval')}"
run: ["1st"]
stride: 8
{overrides}
steps_per_epoch: {steps_per_epoch}
total_steps: {total_steps}
output_dir: "{tmp_path / 'runs'}"
best_checkpoint_metric: "{METRIC}"
seed: 3
"""
    path = tmp_path / f"{name}.config"
    path.write_text(text, encoding="utf-8")
    return path


@pytest.fixture(scope="module")
def local_ray():
    """One local Ray for the module, of 2 CPUs and 2 GPUs (the commands use it: already
    connected). Ray's GPUs are logical resources: on a machine without GPUs each task still
    gets its GPU's id, and its CUDA_VISIBLE_DEVICES, and trains on the CPU."""
    ray_runs.set_log_environment()          # before Ray is imported, as the command does
    ray = pytest.importorskip("ray", reason=RAY_SKIP_REASON)
    assert not ray.is_initialized()
    ray_runs.connect(num_cpus=2, num_gpus=2)
    yield ray
    ray.shutdown()


# ------------------------------------------------------------------------- without a cluster


def test_ray_flag_without_ray_says_how_to_install_it(monkeypatch, capsys):
    monkeypatch.setitem(sys.modules, "ray", None)         # import ray -> ImportError
    assert train_and_eval.main(["--ray"]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert err[0] == f"error: {ray_runs.RAY_MISSING}"
    assert 'pip install -e ".[ray]"' in err[0]


def test_task_resources_need_ray(capsys):
    assert train_and_eval.main(["--gpus_per_run", "1"]) == 1
    assert "give --ray too" in capsys.readouterr().err


def test_help_explains_the_ray_flags(capsys):
    with pytest.raises(SystemExit):
        train_and_eval.main(["--help"])
    text = capsys.readouterr().out
    for flag in ("--ray [ADDRESS]", "--gpus_per_run", "--cpus_per_run", "ray://HOST:10001"):
        assert flag in text


@pytest.mark.parametrize("nodes, runs, given, expected", [
    # CPU-only: the CPUs shared among the runs, whole, at least 1, at most the largest node's
    ([{"CPU": 2.0}], 2, {}, (1.0, 0.0)),
    ([{"CPU": 16.0}], 3, {}, (5.0, 0.0)),
    ([{"CPU": 16.0}], 1, {}, (16.0, 0.0)),
    ([{"CPU": 4.0}], 10, {}, (1.0, 0.0)),
    ([{"CPU": 8.0}, {"CPU": 8.0}], 1, {}, (8.0, 0.0)),
    ([{"CPU": 8.0}, {"CPU": 8.0}], 4, {}, (4.0, 0.0)),
    # with GPUs: 1 GPU, a GPU node's CPUs per GPU (the smallest share)
    ([{"CPU": 16.0, "GPU": 2.0}], 5, {}, (8.0, 1.0)),
    ([{"CPU": 64.0}, {"CPU": 16.0, "GPU": 8.0}, {"CPU": 12.0, "GPU": 2.0}], 9, {}, (2.0, 1.0)),
    ([{"CPU": 16.0, "GPU": 2.0}], 5, {"gpus_per_run": 0.5}, (4.0, 0.5)),
    ([{"CPU": 16.0, "GPU": 2.0}], 5, {"gpus_per_run": 0}, (3.0, 0.0)),
    ([{"CPU": 16.0, "GPU": 2.0}], 5, {"cpus_per_run": 2.5}, (2.5, 1.0)),
])
def test_default_resources_of_a_run(nodes, runs, given, expected):
    resources = ray_runs.run_resources(nodes, runs, **given)
    assert (resources.cpus, resources.gpus) == expected


def test_resources_no_node_has_are_refused():
    with pytest.raises(ValueError, match=r"no node of the Ray cluster \(1 node, 4 CPUs, 0 GPUs\) "
                                         r"has the 1 CPU\(s\), 1 GPU\(s\)"):
        ray_runs.run_resources([{"CPU": 4.0}], 2, gpus_per_run=1)
    with pytest.raises(ValueError, match="has the 8 CPU"):
        ray_runs.run_resources([{"CPU": 4.0}, {"CPU": 4.0}], 2, cpus_per_run=8)
    with pytest.raises(ValueError, match="--cpus_per_run must be > 0"):
        ray_runs.run_resources([{"CPU": 4.0}], 2, cpus_per_run=0)


def test_an_address_where_nothing_answers_is_one_sentence():
    with socket.socket() as probe:          # a loopback port that nothing listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    for address in (f"127.0.0.1:{port}", f"ray://127.0.0.1:{port}"):
        with pytest.raises(ConnectionError, match=rf"^cannot reach the Ray cluster at "
                                                  rf"{re.escape(address)} \(connection refused\)"):
            ray_runs.check_reachable(address)
    ray_runs.check_reachable("auto")        # left to Ray


def test_what_ray_raises_for_a_task_is_one_sentence():
    ray = pytest.importorskip("ray", reason=RAY_SKIP_REASON)
    crashed = ray.exceptions.WorkerCrashedError()
    assert ray_runs._task_error_message(crashed).startswith("WorkerCrashedError: ")
    missing = ray.exceptions.RayTaskError(
        "run_task", "Traceback ...", ModuleNotFoundError("No module named 'object_detection'"))
    message = ray_runs._task_error_message(missing)
    assert message.startswith("No module named 'object_detection'; install the project on "
                              "every machine of the cluster")
    run = run_specs.single_run(QUICKSTART, run_dir=Path("runs/never"), num_steps=1)
    outcome = ray_runs.failed_outcome(run, message)
    assert (outcome.status, outcome.step) == (runner.FAILED, None)
    assert ray_runs.describe_outcome(outcome) == f"never: failed: {message}"


# ------------------------------------------------------------------------ on a local Ray


@pytest.mark.slow
def test_two_runs_in_parallel_train_as_the_serial_code_does(local_ray, tiny_data, tmp_path):
    grid = _grid(tmp_path, tiny_data, scales=((0.125, 0.25), (0.25, 0.5)))
    runs, _ = run_specs.grid_runs(grid)
    assert len(runs) == 2
    # Deterministic input, so that the batches are the same in both processes.
    options = runner.RunOptions(log_every_n_steps=1, deterministic_input=True)
    nodes = ray_runs.alive_nodes()
    resources = ray_runs.run_resources(nodes, len(runs))
    assert resources == ray_runs.Resources(cpus=1.0, gpus=1.0)     # a GPU, a CPU each
    lines: list[str] = []
    infos: list[ray_runs.TaskInfo] = []
    outcomes = ray_runs.run_on_ray(runs, options, resources, out=lines.append, task_infos=infos)

    assert [o.name for o in outcomes] == [r.name for r in runs]
    assert [o.status for o in outcomes] == [runner.TRAINED] * 2, lines
    assert len(lines) == 2 and {line.split()[0] for line in lines} == {"[1/2", "[2/2"}
    gpus = set()
    for info in infos:
        # where each ran: its own process, its own GPU (none here: TensorFlow sees none of
        # them and trains on the CPU), 1 TensorFlow thread
        assert sum(line.endswith(f"({info.describe()})") for line in lines) == 1, lines
        devices = re.fullmatch(r"(\w+), 1 replica, GPUs (\d) \(([01]) visible to "
                               r"TensorFlow\), 1 CPU threads", info.devices)
        assert devices, info.devices
        gpus.add(devices.group(2))
        assert devices.group(1) == ("MirroredStrategy" if devices.group(3) == "1"
                                    else "_DefaultDistributionStrategy")
    assert gpus == {"0", "1"}
    first_task, second_task = infos
    assert len({first_task.pid, second_task.pid, os.getpid()}) == 3
    # In parallel: each task started before the other ended.
    assert first_task.started < second_task.ended and second_task.started < first_task.ended
    logs = {run.name: results_log.read_evaluations(str(run.run_dir)) for run in runs}
    for run in runs:
        assert [e.step for e in logs[run.name]] == [2, 4]
        assert ckpt_lib.latest_step(run.run_dir) == 4
        assert ckpt_lib.read_best(run.run_dir) == ckpt_lib.best_from_log(run.run_dir, METRIC)
    first = logs[runs[0].name]

    # The first run again, serially in this process (2 threads): the same losses and metrics,
    # up to the order of float reductions (1 thread in the task, 2 here).
    serial = dataclasses.replace(runs[0], run_dir=tmp_path / "serial" / runs[0].name)
    outcome = runner.train_and_evaluate(serial, distribution.make_strategy(), options,
                                        out=lambda line: None)
    assert outcome.status == runner.TRAINED
    on_ray, alone = (read_scalars(Path(d) / "train")["Loss/total_loss"]
                     for d in (runs[0].run_dir, serial.run_dir))
    assert [s for s, _ in on_ray] == [s for s, _ in alone] == [1, 2, 3, 4]
    # (measured: equal to the last bit in one run, 1.1e-4 relative apart at step 2 in another:
    # oneDNN's reduction order differs with the thread count; the tolerance is 1e-3 relative)
    assert [v for _, v in on_ray] == pytest.approx([v for _, v in alone], rel=1e-3)
    for ray_eval, serial_eval in zip(first, results_log.read_evaluations(str(serial.run_dir)),
                                     strict=True):
        assert ray_eval.step == serial_eval.step
        assert ray_eval.metrics == pytest.approx(serial_eval.metrics, abs=1e-3)


@pytest.mark.slow
def test_a_failed_run_and_a_run_in_use_are_reported_and_the_other_completes(
        local_ray, tiny_data, tmp_path, capsys):
    train = record_pattern(str(tiny_data), "train")
    grid = _grid(tmp_path, tiny_data, total_steps=2, datasets={
        "tiny": train, "gone": str(tmp_path / "nowhere" / "train-*.tfrecord"), "held": train})
    held = tmp_path / "runs" / "1st_run_held_stride8_0.125_0.25"
    with run_lock.RunLock(held):                  # another trainer (this process) holds it
        lock = (held / run_lock.LOCK_NAME).read_bytes()
        before = sorted(p.name for p in held.iterdir())
        code = train_and_eval.main(["--experiment", str(grid), "--ray"])
        assert sorted(p.name for p in held.iterdir()) == before    # nothing written into it
        assert (held / run_lock.LOCK_NAME).read_bytes() == lock
    captured = capsys.readouterr()
    assert code == 1
    out, err = captured.out, captured.err
    assert "3 run(s) into" in out and "each run a task of 1 CPU(s), 1 GPU(s)" in out
    done = [line for line in out.splitlines() if re.match(r"\[\d/3 done\] ", line)]
    assert len(done) == 3, out
    table = out[out.index("Best evaluation of each run"):]
    assert re.search(r"^1st_run_tiny_stride8_0.125_0.25\s+trained\s+2\s+2\s", table, re.M), table
    assert re.search(r"^1st_run_gone_stride8_0.125_0.25\s+failed\s+-\s", table, re.M), table
    assert re.search(r"^1st_run_held_stride8_0.125_0.25\s+failed\s+-\s", table, re.M), table
    assert "error: 1st_run_gone_stride8_0.125_0.25: invalid pipeline config" in err
    assert "no file matches" in err
    pid = json.loads(lock)["pid"]
    assert re.search(rf"^error: 1st_run_held_stride8_0.125_0.25: {re.escape(str(held))} is in "
                     rf"use by pid {pid} on host \S+ since ", err, re.M), err
    tiny = tmp_path / "runs" / "1st_run_tiny_stride8_0.125_0.25"
    assert [e.step for e in results_log.read_evaluations(str(tiny))] == [2]
    assert not (tiny / run_lock.LOCK_NAME).exists()

    # --eval_only on Ray: the run's one checkpoint is evaluated already.
    assert train_and_eval.main(["--experiment", str(grid), "--ray", "--eval_only",
                                "--only", "tiny"]) == 0
    out = capsys.readouterr().out
    assert "1 run(s) into" in out and "each run a task of 1 CPU(s), 1 GPU(s)" in out
    assert "[1/1 done] 1st_run_tiny_stride8_0.125_0.25: evaluated, step 2, best " in out
    assert [e.step for e in results_log.read_evaluations(str(tiny))] == [2]

    # A run folder written with other settings is refused by its task, as serially, and the
    # folder is left as it was.
    changed = "model.faster_rcnn.first_stage_nms_iou_threshold=0.55"
    assert train_and_eval.main(["--experiment", str(grid), "--ray", "--only", "tiny",
                                "--override", changed]) == 1
    captured = capsys.readouterr()
    assert "pipeline.config: written for other settings: model.faster_rcnn." \
           "first_stage_nms_iou_threshold is 0.7 there, 0.55 in" in captured.err
    assert re.search(r"^1st_run_tiny_stride8_0.125_0.25\s+failed\s", captured.out, re.M)
    assert [e.step for e in results_log.read_evaluations(str(tiny))] == [2]


# ------------------------------------------------------------ a killed driver, then resumed


def _session_processes(session: int) -> list[int]:
    """The pids of the live processes of a session (Linux /proc)."""
    pids = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat", encoding="ascii", errors="replace") as f:
                fields = f.read().rpartition(")")[2].split()
        except OSError:
            continue
        if fields[0] != "Z" and int(fields[3]) == session:
            pids.append(int(entry))
    return pids


def _wait_for_no_processes(session: int, timeout: float) -> list[int]:
    """Waits until no process of ``session`` runs; returns those left at the timeout (and
    kills them)."""
    deadline = time.monotonic() + timeout
    while (left := _session_processes(session)) and time.monotonic() < deadline:
        time.sleep(0.2)
    for pid in left:
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
    return left


def _start(command: list[str], log: Path) -> subprocess.Popen:
    """The command in a session of its own (so that all it starts can be found), output to
    ``log``; without RAY_ADDRESS, so that it starts its own local Ray."""
    env = {k: v for k, v in os.environ.items() if k != "RAY_ADDRESS"}
    env.update(PYTHONUNBUFFERED="1", PYTHONPATH=str(REPO))
    with open(log, "w", encoding="utf-8") as output:
        return subprocess.Popen(command, cwd=REPO, env=env, stdout=output,
                                stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                start_new_session=True, preexec_fn=_default_sigint)


def _default_sigint() -> None:
    """SIGINT at its default in the driver even when the tests run with it ignored (a
    background job of a script), as a user's terminal gives it."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def _wait_for_checkpoint(driver: subprocess.Popen, run_dir: Path, log: Path,
                         after: int | None = None) -> int:
    """Waits until the run has a checkpoint later than ``after``; returns its step."""
    deadline = time.monotonic() + 240
    while (step := ckpt_lib.latest_step(run_dir)) is None or (after and step <= after):
        assert driver.poll() is None, log.read_text()[-3000:]
        assert time.monotonic() < deadline, log.read_text()[-3000:]
        time.sleep(0.1)
    return step


@pytest.mark.slow
def test_a_stopped_or_killed_driver_ends_its_task_and_the_command_resumes(tiny_data, tmp_path):
    pytest.importorskip("ray", reason=RAY_SKIP_REASON)
    # 600 steps: long enough that the run cannot end between a checkpoint and the signal, even
    # on a loaded machine (150 steps of the tiny model once finished in that time).
    grid = _grid(tmp_path, tiny_data, total_steps=600, steps_per_epoch=60)
    run_dir = tmp_path / "runs" / "1st_run_tiny_stride8_0.125_0.25"
    command = [sys.executable, str(REPO / "train_and_eval.py"), "--experiment", str(grid),
               "--ray", "--log_every_n_steps", "10"]

    # 1. SIGTERM (a job scheduler's stop) once the run has a checkpoint: the task is cancelled
    # and stops as a serial run does (lock released), the local Ray ends, exit code 130.
    log = tmp_path / "stopped.log"
    driver = _start(command, log)
    try:
        _wait_for_checkpoint(driver, run_dir, log)
        driver.send_signal(signal.SIGTERM)
        code = driver.wait(timeout=60)
    finally:
        driver.kill()
        left = _wait_for_no_processes(driver.pid, timeout=30)
    text = log.read_text()
    assert code == 130, text[-3000:]
    assert "stopping the 1 unfinished run(s) ..." in text and "error: interrupted" in text
    assert not left, f"processes left by the stopped driver: {left}"
    assert not (run_dir / run_lock.LOCK_NAME).exists()
    stopped_at = ckpt_lib.latest_step(run_dir)

    # 2. kill -9 once it has gone on to a later checkpoint: its local Ray goes with it (Ray's
    # reaper ends the driver's process group); the run's task (the lock's holder, in a group
    # of its own) ends within seconds, when it finds its raylet gone.
    log = tmp_path / "killed.log"
    driver = _start(command, log)
    try:
        _wait_for_checkpoint(driver, run_dir, log, after=stopped_at)
        task = json.loads((run_dir / run_lock.LOCK_NAME).read_text())["pid"]
        assert task != driver.pid
        os.kill(driver.pid, signal.SIGKILL)
        driver.wait(timeout=30)
        deadline = time.monotonic() + 30
        while task in _session_processes(driver.pid) and time.monotonic() < deadline:
            time.sleep(0.2)
        assert task not in _session_processes(driver.pid), "the killed driver's task runs on"
    finally:
        # Ray's helper agents notice that their raylet is gone only after a minute or so:
        # end them, so that nothing is left behind.
        _wait_for_no_processes(driver.pid, timeout=0)
    killed_at = ckpt_lib.latest_step(run_dir)
    assert stopped_at < killed_at < 600, log.read_text()[-3000:]

    # 3. The same command resumes the run from that checkpoint (taking over the lock the
    # killed task left), repeats no evaluation and completes; it ends its local Ray.
    log = tmp_path / "resumed.log"
    driver = _start(command, log)
    try:
        code = driver.wait(timeout=600)
    finally:
        driver.kill()
        left = _wait_for_no_processes(driver.pid, timeout=30)
    text = log.read_text()
    assert code == 0, text[-3000:]
    assert not left, f"processes left by the driver: {left}"
    assert f"resumed from {run_dir / f'ckpt-{killed_at}'} (step {killed_at})" in text
    # A local Ray of this machine (2 CPUs, no GPU): the one run gets both CPUs.
    assert "(Ray: 1 node, 2 CPUs, 0 GPUs; each run a task of 2 CPU(s), 0 GPU(s))" in text
    assert ("_DefaultDistributionStrategy, 1 replica, GPUs none (0 visible to TensorFlow), "
            "2 CPU threads") in text
    logged = [e.step for e in results_log.read_evaluations(str(run_dir))]
    assert logged == list(range(60, 601, 60))
    assert re.search(r"^1st_run_tiny_stride8_0.125_0.25\s+trained\s+600\s", text, re.M)
    assert not (run_dir / run_lock.LOCK_NAME).exists()
