"""The runs of a grid as Ray tasks: in parallel on this machine or across the machines of a
Ray cluster (``train_and_eval.py --ray [ADDRESS]``).

Ray (https://www.ray.io, the optional extra ``pip install -e ".[ray]"``) schedules; this
module only asks it to. ``connect`` starts a local Ray on this machine (every CPU, and every
GPU Ray finds) or connects to a running cluster (``"auto"``, ``"HOST:6379"``,
``"ray://HOST:10001"``); ``run_on_ray`` submits one task per run, each reserving
``Resources`` (CPUs and GPUs, fractions allowed), and collects their ``runner.RunOutcome`` in
the runs' order while printing each as it finishes (``ray.wait``).

A task runs a run exactly as the serial grid does (``runner.train_and_evaluate``, or
``runner.evaluate_checkpoints`` for ``--eval_only``): a complete run is skipped, an interrupted
one resumes from its latest checkpoint, and the run folder's lock (``run_lock``) keeps a
second trainer out, so a run another process holds ends as ``failed`` with the lock's holder
named, and its folder untouched. Each task is a fresh Ray worker process (``max_calls=1``) that
before TensorFlow starts:

* changes to the driver's working directory (relative paths of grids and configs work as in
  the serial grid; on a cluster it must exist at the same path on every machine);
* lets TensorFlow see only the GPUs Ray assigned to it (``CUDA_VISIBLE_DEVICES``; none for a
  CPU task; with a fraction of a GPU, memory growth so that runs can share it);
* limits TensorFlow to its CPUs: ``int(cpus)`` (at least 1) intra-op threads, as many inter-op
  threads but at least 2 (ops that block, waiting for others, need a second one; with
  ``--cpu_replicas N`` at least N), and ``OMP_NUM_THREADS``;
* drops ``TF_CONFIG`` (a task is one machine's run, not a worker of a TensorFlow cluster).

An error inside a task (a bad config, missing records, a folder in use, a worker that died)
fails that run only, with its one-sentence message; the other tasks go on. Ctrl-C or SIGTERM
of the driver cancels the tasks (each stops as Ctrl-C stops a serial run: lock released,
checkpoints intact). Tasks are not retried: running the command again resumes what is left.
"""

from __future__ import annotations

import atexit
import dataclasses
import functools
import logging
import math
import os
import signal
import socket
import sys
import threading
import time
import traceback
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from object_detection import errors

if TYPE_CHECKING:                      # TensorFlow is imported by the tasks, not on import
    from object_detection.training.experiment import RunSpec
    from object_detection.training.runner import RunOptions, RunOutcome

Printer = Callable[[str], None]

RAY_MISSING = ('--ray needs Ray, which is not installed in this environment: '
               'pip install -e ".[ray]"')
LOCAL = "local"                        # ray.init's address for a new local Ray
_MIN_INTER_OP_THREADS = 2
_WAIT_S = 1.0                          # ray.wait slices, so that Ctrl-C / SIGTERM get through
_CANCEL_GRACE_S = 30.0
_CANCEL_RESEND_S = 5.0                 # a task still running after a cancel gets another


class RayNotInstalledError(ValueError):
    """``--ray`` without Ray installed (one sentence: ``RAY_MISSING``)."""


def set_log_environment() -> None:
    """How Ray prints the tasks' output, set before Ray is imported (it reads them then):
    every line of every run (Ray's deduplication merges lines that differ only in numbers,
    such as two runs' progress lines), uncoloured when the output is not a terminal."""
    os.environ.setdefault("RAY_DEDUP_LOGS", "0")
    if not sys.stdout.isatty():
        os.environ.setdefault("RAY_COLOR_PREFIX", "0")


def import_ray():
    """The ``ray`` module; ``RayNotInstalledError`` when it is not installed."""
    set_log_environment()
    try:
        import ray
    except ImportError:
        raise RayNotInstalledError(RAY_MISSING) from None
    return ray


# -------------------------------------------------------------------------------- the cluster


def connect(address: str | None = None, num_cpus: int | None = None,
            num_gpus: int | None = None) -> bool:
    """Connects this process to Ray; returns whether it did (False: it was connected already,
    e.g. by a program that called ``ray.init`` itself, whose connection is used as it is).

    ``address`` None or "": the cluster of ``RAY_ADDRESS`` when set (as under ``ray job
    submit``), else a new local Ray with ``num_cpus`` (default: the CPUs this process may use)
    and ``num_gpus`` (default: what Ray detects, all local GPUs). Otherwise ``ray.init(address)``:
    ``"auto"`` (the cluster this machine belongs to), ``"HOST:6379"``, ``"ray://HOST:10001"``.
    """
    ray = import_ray()
    if ray.is_initialized():
        return False
    address = address or os.environ.get("RAY_ADDRESS") or LOCAL
    if address == LOCAL:
        ray.init(address=LOCAL, num_cpus=num_cpus or len(os.sched_getaffinity(0)),
                 num_gpus=num_gpus, include_dashboard=False)
    else:                   # the tasks' output comes to this process (Ray's default)
        check_reachable(address)
        ray.init(address=address)
    return True


def check_reachable(address: str, timeout: float = 5.0) -> None:
    """For a ``HOST:PORT`` or ``ray://HOST:PORT`` address: ConnectionError in one sentence
    when nothing answers there (``ray.init`` would retry for minutes); others (``auto``) are
    left to Ray."""
    host, _, port = address.removeprefix("ray://").rpartition(":")
    if not host or not port.isdigit():
        return
    try:
        socket.create_connection((host.strip("[]"), int(port)), timeout=timeout).close()
    except OSError as error:
        problem = os.strerror(error.errno).lower() if error.errno else (str(error) or "timed out")
        raise ConnectionError(f"cannot reach the Ray cluster at {address} ({problem}): start "
                              "it there (ray start --head) or check the address") from None


def shutdown() -> None:
    """Disconnects (and stops a local Ray this process started)."""
    import_ray().shutdown()


def alive_nodes() -> list[dict[str, float]]:
    """The resources (``{"CPU": 16.0, "GPU": 2.0, ...}``) of each live node of the cluster."""
    ray = import_ray()
    return [dict(node.get("Resources", {})) for node in ray.nodes() if node.get("Alive")]


@dataclass(frozen=True)
class Resources:
    """What each run's task reserves: CPUs and GPUs (fractions allowed)."""

    cpus: float
    gpus: float

    @property
    def cpu_threads(self) -> int:
        """TensorFlow's intra-op threads in the task: the whole CPUs, at least 1."""
        return max(1, math.floor(self.cpus))

    def describe(self) -> str:
        return f"{_number(self.cpus)} CPU(s), {_number(self.gpus)} GPU(s)"


def _number(value: float) -> str:
    return f"{value:g}"


def describe_cluster(nodes: Sequence[Mapping[str, float]]) -> str:
    """E.g. ``2 nodes, 32 CPUs, 4 GPUs``."""
    cpus = sum(n.get("CPU", 0.0) for n in nodes)
    gpus = sum(n.get("GPU", 0.0) for n in nodes)
    return (f"{len(nodes)} node{'s' if len(nodes) != 1 else ''}, {_number(cpus)} CPUs, "
            f"{_number(gpus)} GPUs")


def run_resources(nodes: Sequence[Mapping[str, float]], num_runs: int,
                  gpus_per_run: float | None = None,
                  cpus_per_run: float | None = None) -> Resources:
    """Each run's resources on a cluster of ``nodes`` (``alive_nodes``), defaults filled in:

    * GPUs: 1 when the cluster has GPUs, else 0;
    * CPUs, for runs with GPUs: a GPU node's CPUs shared among its GPUs (the smallest share
      over the nodes with GPUs, times the run's GPUs; whole CPUs, at least 1), so that every
      GPU can take a run;
    * CPUs, for CPU-only runs: the cluster's CPUs shared among the runs (whole CPUs, at least
      1, at most the largest node's), so that all the runs go at once when they fit, one per
      CPU when there are more runs than CPUs.

    ValueError when no node has the resources one run asks for (Ray would wait for ever).
    """
    if gpus_per_run is not None and gpus_per_run < 0:
        raise ValueError(f"--gpus_per_run must be >= 0, got {_number(gpus_per_run)}")
    if cpus_per_run is not None and cpus_per_run <= 0:
        raise ValueError(f"--cpus_per_run must be > 0, got {_number(cpus_per_run)}")
    if not nodes:
        raise ValueError("the Ray cluster has no live node")
    total_gpus = sum(n.get("GPU", 0.0) for n in nodes)
    gpus = gpus_per_run if gpus_per_run is not None else (1.0 if total_gpus > 0 else 0.0)
    if cpus_per_run is not None:
        cpus = cpus_per_run
    elif gpus > 0:
        shares = [n.get("CPU", 0.0) / n["GPU"] * gpus for n in nodes if n.get("GPU", 0.0) > 0]
        cpus = float(max(1, math.floor(min(shares)))) if shares else 1.0
    else:
        largest = max(n.get("CPU", 0.0) for n in nodes)
        total = sum(n.get("CPU", 0.0) for n in nodes)
        cpus = float(max(1, min(math.floor(largest), math.floor(total / max(1, num_runs)))))
    resources = Resources(cpus=cpus, gpus=gpus)
    if not any(n.get("CPU", 0.0) >= cpus and n.get("GPU", 0.0) >= gpus for n in nodes):
        raise ValueError(f"no node of the Ray cluster ({describe_cluster(nodes)}) has the "
                         f"{resources.describe()} a run asks for; lower --cpus_per_run or "
                         "--gpus_per_run")
    return resources


# ---------------------------------------------------------------------------------- the task


@dataclass(frozen=True)
class TaskInfo:
    """Where and when a run's task ran: host, pid, start and end (epoch seconds), and its
    devices (``_DefaultDistributionStrategy, 1 replica, GPUs none (0 visible to TensorFlow),
    1 CPU threads``)."""

    host: str
    pid: int
    started: float
    ended: float = 0.0
    devices: str = ""

    def describe(self) -> str:
        return f"host {self.host} pid {self.pid}" + (f": {self.devices}" if self.devices else "")


def _prepare_worker(resources: Resources, cpu_replicas: int, cwd: str) -> tuple[object, str]:
    """Sets up this fresh worker process for one run before TensorFlow starts (the module
    docstring); returns (the run's strategy, its devices and threads)."""
    if not os.path.isdir(cwd):
        raise ValueError(f"the command's working directory {cwd} does not exist on host "
                         f"{socket.gethostname()}: the repository, the data and the run "
                         "folders must be at the same paths on every machine of the cluster")
    os.chdir(cwd)
    if threading.current_thread() is threading.main_thread():
        # Cancelling a task interrupts it with SIGINT; a driver started with SIGINT ignored
        # (`cmd &` in a script, nohup under some shells) would pass that on to its workers.
        signal.signal(signal.SIGINT, signal.default_int_handler)
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    os.environ.pop("TF_CONFIG", None)
    ray = import_ray()
    gpu_ids = [str(i) for i in ray.get_gpu_ids()] if resources.gpus > 0 else []
    os.environ["CUDA_VISIBLE_DEVICES"] = ",".join(gpu_ids)
    if 0 < resources.gpus < 1:
        os.environ["TF_FORCE_GPU_ALLOW_GROWTH"] = "true"    # other runs share the GPU
    threads = resources.cpu_threads
    os.environ["OMP_NUM_THREADS"] = str(threads)
    atexit.register(_exit_at_once)
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")

    import tensorflow as tf
    tf.get_logger().setLevel(logging.ERROR)
    from object_detection.training import distribution

    tf.config.threading.set_intra_op_parallelism_threads(threads)
    tf.config.threading.set_inter_op_parallelism_threads(
        max(_MIN_INTER_OP_THREADS, threads, cpu_replicas))
    devices = distribution.split_cpu(cpu_replicas) if cpu_replicas else None
    strategy = distribution.make_strategy(devices)
    visible = len(tf.config.list_physical_devices("GPU"))
    return strategy, (f"{distribution.describe(strategy)}, GPUs "
                      f"{','.join(gpu_ids) if gpu_ids else 'none'} ({visible} visible to "
                      f"TensorFlow), {tf.config.threading.get_intra_op_parallelism_threads()} "
                      "CPU threads")


def _exit_at_once() -> None:
    """Ends the worker process without running C++ static destructors: TensorFlow's can abort
    the process ("Mutex corrupt") while its thread pools still run. Registered after Ray's
    exit handlers, it runs first, once the task's result is delivered and Ray has
    disconnected the worker."""
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (OSError, ValueError):
            pass
    os._exit(0)


def failed_outcome(run: RunSpec, message: str) -> RunOutcome:
    """The outcome of a run that ended in an error: status ``failed``, its latest checkpoint's
    step, ``message`` prefixed with the run's name."""
    from object_detection.training import checkpoints as ckpt_lib
    from object_detection.training import runner
    try:
        step = ckpt_lib.latest_step(run.run_dir)
    except (OSError, ValueError):
        step = None
    return runner.RunOutcome(run.name, Path(run.run_dir), runner.FAILED, step=step,
                             message=f"{run.name}: {message}")


def _error_message(error: BaseException) -> str:
    if isinstance(error, errors.expected_errors()):
        return errors.describe(error)
    return f"{type(error).__name__}: {errors.describe(error)}"


def run_task(run: RunSpec, options: RunOptions, eval_only: bool, resources: Resources,
             cpu_replicas: int, cwd: str) -> tuple[RunOutcome, TaskInfo]:
    """The body of a run's Ray task: (its outcome, where and when it ran). Runs the run as
    the serial grid does; an error becomes a ``failed`` outcome (its traceback goes to the
    task's output), Ctrl-C (a cancelled task) propagates."""
    info = TaskInfo(socket.gethostname(), os.getpid(), time.time())
    out = functools.partial(print, flush=True)    # Ray prefixes the task's name: the run's
    try:
        strategy, devices = _prepare_worker(resources, cpu_replicas, cwd)
        info = dataclasses.replace(info, devices=devices)
        out(f"{run.name}: on {info.describe()}")
        from object_detection.training import runner
        if eval_only:
            outcome = runner.evaluate_checkpoints(run, strategy, options, out)
        else:
            outcome = runner.train_and_evaluate(run, strategy, options, out)
    except Exception as error:        # noqa: BLE001 - one run's failure, reported, not raised
        if not isinstance(error, errors.expected_errors()):
            traceback.print_exc()
        outcome = failed_outcome(run, _error_message(error))
        out(f"error: {outcome.message}")
    return outcome, dataclasses.replace(info, ended=time.time())


# -------------------------------------------------------------------------------- the driver


def _task_error_message(error: BaseException) -> str:
    """One sentence for what Ray raised in place of a task's result."""
    cause = getattr(error, "cause", None) or error
    text = str(cause).strip()
    first = text.splitlines()[0] if text else ""
    if "No module named 'object_detection'" in text:
        return (f"{first}; install the project on every machine of the cluster (pip install "
                "-e \".[ray]\") and start Ray there from that environment")
    return f"{type(cause).__name__}: {first}" if first else type(cause).__name__


def describe_outcome(outcome: RunOutcome) -> str:
    """One line: ``NAME: trained, step 4, best METRIC 0.1234 at step 2, 12.3 s``, or
    ``NAME: failed: MESSAGE``."""
    if outcome.message:
        message = outcome.message.removeprefix(f"{outcome.name}: ")
        return f"{outcome.name}: {outcome.status}: {message}"
    parts = [outcome.status]
    if outcome.step is not None:
        parts.append(f"step {outcome.step}")
    if outcome.best is not None:
        parts.append(f"best {outcome.best.metric} {outcome.best.value:.4f} at step "
                     f"{outcome.best.step}")
    parts.append(f"{outcome.seconds:.1f} s")
    return f"{outcome.name}: " + ", ".join(parts)


def run_on_ray(runs: Sequence[RunSpec], options: RunOptions, resources: Resources, *,
               eval_only: bool = False, cpu_replicas: int = 0, out: Printer | None = None,
               task_infos: list | None = None) -> list[RunOutcome]:
    """Runs every run as a Ray task reserving ``resources`` (connected already: ``connect``);
    prints a line as each finishes; returns the outcomes in the order of ``runs`` (and fills
    ``task_infos``, when given, with each task's ``TaskInfo``, None where the task died).
    Ctrl-C cancels the tasks (they stop cleanly) and is raised again."""
    ray = import_ray()
    out = out or functools.partial(print, flush=True)
    task = ray.remote(max_calls=1, max_retries=0)(run_task)   # a fresh process per run
    cwd = os.getcwd()
    index_of = {}
    for index, run in enumerate(runs):
        ref = task.options(name=run.name, num_cpus=resources.cpus,
                           num_gpus=resources.gpus).remote(run, options, eval_only, resources,
                                                            cpu_replicas, cwd)
        index_of[ref] = index
    outcomes: list[RunOutcome | None] = [None] * len(runs)
    infos = task_infos if task_infos is not None else []
    infos[:] = [None] * len(runs)
    pending = list(index_of)
    try:
        while pending:
            ready, pending = ray.wait(pending, num_returns=1, timeout=_WAIT_S)
            for ref in ready:
                run = runs[index_of[ref]]
                try:
                    outcome, info = ray.get(ref)
                except ray.exceptions.RayError as error:
                    outcome, info = failed_outcome(run, _task_error_message(error)), None
                outcomes[index_of[ref]] = outcome
                infos[index_of[ref]] = info
                done = sum(o is not None for o in outcomes)
                out(f"[{done}/{len(runs)} done] {describe_outcome(outcome)}"
                    + (f" ({info.describe()})" if info and not outcome.message else ""))
    except KeyboardInterrupt:
        _cancel(ray, pending, out)
        raise
    return outcomes


def _interrupt(ray, refs: list) -> None:
    """``ray.cancel`` each task (a KeyboardInterrupt in it; again when called again)."""
    for ref in refs:
        try:
            ray.cancel(ref)
        except Exception:             # noqa: BLE001 - a task that ended meanwhile
            pass


def _cancel(ray, pending: list, out: Printer) -> None:
    """Cancels the unfinished tasks (a KeyboardInterrupt in each: it releases its lock) and
    waits a little for them to end."""
    if not pending:
        return
    out(f"stopping the {len(pending)} unfinished run(s) ...")
    _interrupt(ray, pending)
    start = time.monotonic()
    resent = start
    while pending and time.monotonic() < start + _CANCEL_GRACE_S:
        _, pending = ray.wait(pending, num_returns=len(pending), timeout=_WAIT_S)
        if pending and time.monotonic() - resent >= _CANCEL_RESEND_S:
            # Once in a few dozen stops a task ran on to its end as if the first interrupt
            # never came (seen in tests/training/test_ray_runs.py): interrupt it again.
            resent = time.monotonic()
            _interrupt(ray, pending)
