"""Which ``tf.distribute`` strategy trains a run, and who of its workers writes the results.

* ``TF_CONFIG`` naming a cluster -> ``MultiWorkerMirroredStrategy`` (synchronous data-parallel
  training across machines; every worker runs the same command).
* ``devices`` given (e.g. ``["/cpu:0", "/cpu:1"]`` after ``split_cpu(2)``) -> ``MirroredStrategy``
  over them.
* local GPUs -> ``MirroredStrategy`` over all of them (one GPU: one replica).
* otherwise the default strategy (one replica on the CPU).

The global batch (``train_config.batch_size``) is split evenly across the replicas, so it must
be a multiple of their number. Only the chief (``is_chief``) evaluates and writes logs,
summaries and the kept checkpoints; the other workers take part in each save (the strategy
needs every worker there) into a temporary folder outside the run folder, removed after the
save (``checkpoints.RunCheckpoints``).

In a cluster (``distribute_dataset``) every worker reads the same input (same seed, order kept)
and keeps its replicas' share of each global batch (tf.data's ``DATA`` auto-shard policy; the
pipeline has no file-level sharding, ``FILE``, to offer: its ``enumerate`` is no file source), so
the cluster trains on exactly the batches one process would; each worker decodes the whole
global batch for that. Evaluation runs on the chief alone and uses no collective op; the other
workers wait for it in their next collective op (the next training step, or ``sync_workers`` at
the end of a run), which has no timeout, since an evaluation may take long.

A lost worker: TensorFlow's coordination service (which ``MultiWorkerMirroredStrategy`` starts,
its leader the chief) gets heartbeats from every worker; when a worker's heartbeats stop for
the heartbeat timeout (10 s by default: the worker was killed, its machine is gone), or a
connection to it breaks, the collective ops of the others are aborted with
``tf.errors.UnavailableError``: at once where one is waiting in one, else at its next.
``lost_worker`` turns that error into ``WorkerLostError`` naming the worker (``worker 1
(localhost:2223) is lost (it stopped sending heartbeats)``). A worker that is alive but stuck
is not detected: the collective ops have no timeout, as said.
"""

from __future__ import annotations

import json
import logging
import os
import re
from collections.abc import Mapping, Sequence

import tensorflow as tf

logger = logging.getLogger(__name__)

TF_CONFIG = "TF_CONFIG"


class WorkerLostError(ConnectionError):
    """Another worker of the cluster died or cannot be reached. This one cannot go on (its
    collective ops are aborted for good); the run resumes when every worker is started again."""


def split_cpu(num_devices: int) -> list[str]:
    """Splits the first physical CPU into ``num_devices`` logical devices and returns their
    names (``/cpu:0`` ...). Must run before TensorFlow initializes its devices (before any op);
    raises RuntimeError otherwise."""
    if num_devices < 1:
        raise ValueError(f"num_devices must be >= 1, got {num_devices}")
    cpu = tf.config.list_physical_devices("CPU")[0]
    tf.config.set_logical_device_configuration(
        cpu, [tf.config.LogicalDeviceConfiguration() for _ in range(num_devices)])
    return [f"/cpu:{i}" for i in range(num_devices)]


def cluster_spec(environ: Mapping[str, str] | None = None) -> dict | None:
    """The ``cluster`` of ``TF_CONFIG`` (None when unset or without a cluster). Raises
    ValueError naming TF_CONFIG when it is not valid JSON."""
    environ = os.environ if environ is None else environ
    text = environ.get(TF_CONFIG, "").strip()
    if not text:
        return None
    try:
        config = json.loads(text)
    except json.JSONDecodeError as error:
        raise ValueError(f"{TF_CONFIG} is not valid JSON: {error}") from None
    cluster = config.get("cluster") if isinstance(config, dict) else None
    return cluster or None


def strategy_kind(devices: Sequence[str] | None = None, num_gpus: int | None = None,
                  environ: Mapping[str, str] | None = None) -> str:
    """"multi_worker", "mirrored" or "default": what ``make_strategy`` builds (see the module
    docstring), without building it."""
    if cluster_spec(environ) is not None:
        return "multi_worker"
    if devices:
        return "mirrored"
    if num_gpus is None:
        num_gpus = len(tf.config.list_physical_devices("GPU"))
    return "mirrored" if num_gpus > 0 else "default"


def make_strategy(devices: Sequence[str] | None = None) -> tf.distribute.Strategy:
    """The strategy for this process (module docstring); logs what it chose."""
    kind = strategy_kind(devices)
    if kind == "multi_worker":
        strategy = tf.distribute.MultiWorkerMirroredStrategy()
    elif kind == "mirrored":
        strategy = tf.distribute.MirroredStrategy(list(devices) if devices else None)
    else:
        strategy = tf.distribute.get_strategy()
    logger.info("%s", describe(strategy))
    return strategy


def is_multi_worker(strategy: tf.distribute.Strategy) -> bool:
    """Whether ``strategy`` is a ``MultiWorkerMirroredStrategy`` (a ``TF_CONFIG`` cluster)."""
    return isinstance(strategy, tf.distribute.MultiWorkerMirroredStrategy)


def describe(strategy: tf.distribute.Strategy) -> str:
    """E.g. ``MirroredStrategy, 2 replicas``; in a cluster ``MultiWorkerMirroredStrategy, 2
    replicas on 2 workers, this is worker 0 (the chief)``."""
    replicas = strategy.num_replicas_in_sync
    count = f"{replicas} replica{'s' if replicas != 1 else ''}"
    if not is_multi_worker(strategy):
        return f"{type(strategy).__name__}, {count}"
    resolver = strategy.cluster_resolver
    chief = " (the chief)" if is_chief(strategy) else ""
    return (f"MultiWorkerMirroredStrategy, {count} on {len(_tasks(strategy))} workers, this is "
            f"{resolver.task_type} {resolver.task_id}{chief}")


def _tasks(strategy: tf.distribute.Strategy) -> dict[tuple[str, int], str]:
    """(job, task index) -> address, for every task of the strategy's cluster ({} outside
    one)."""
    resolver = getattr(strategy, "cluster_resolver", None)
    if resolver is None or not resolver.task_type:
        return {}
    tasks = {}
    for job, addresses in resolver.cluster_spec().as_dict().items():
        items = sorted(addresses.items()) if isinstance(addresses, dict) else enumerate(addresses)
        tasks.update({(job, int(index)): address for index, address in items})
    return tasks


def is_chief(strategy: tf.distribute.Strategy) -> bool:
    """True unless this process is a non-chief worker of a multi-worker cluster (the chief is
    task "chief", or worker 0 when the cluster has no chief)."""
    resolver = getattr(strategy, "cluster_resolver", None)
    if resolver is None or not resolver.task_type:
        return True
    if resolver.task_type == "chief":
        return True
    has_chief = "chief" in resolver.cluster_spec().as_dict()
    return resolver.task_type == "worker" and resolver.task_id == 0 and not has_chief


def worker_id(strategy: tf.distribute.Strategy) -> str:
    """``task_type_task_id`` of this worker (``local`` outside a cluster)."""
    resolver = getattr(strategy, "cluster_resolver", None)
    if resolver is None or not resolver.task_type:
        return "local"
    return f"{resolver.task_type}_{resolver.task_id}"


def per_replica_batch_size(global_batch_size: int, strategy: tf.distribute.Strategy) -> int:
    """The batch of each replica; ValueError when the global batch does not split evenly."""
    replicas = strategy.num_replicas_in_sync
    if global_batch_size < 1 or global_batch_size % replicas:
        raise ValueError(f"train_config.batch_size {global_batch_size} must be a positive "
                         f"multiple of the {replicas} replicas ({describe(strategy)})")
    return global_batch_size // replicas


def distribute_dataset(strategy: tf.distribute.Strategy, dataset: tf.data.Dataset):
    """``strategy.experimental_distribute_dataset(dataset)`` of a dataset of global batches; in
    a cluster with the ``DATA`` auto-shard policy: every worker runs all of ``dataset`` and keeps
    its replicas' part of each batch (build it deterministic, so that the workers agree on the
    order; module docstring)."""
    if is_multi_worker(strategy):
        options = tf.data.Options()
        options.experimental_distribute.auto_shard_policy = (
            tf.data.experimental.AutoShardPolicy.DATA)
        dataset = dataset.with_options(options)
    return strategy.experimental_distribute_dataset(dataset)


def sync_workers(strategy: tf.distribute.Strategy) -> None:
    """Waits until every worker of the cluster gets here (an all-reduce of one number, without
    timeout; ``UnavailableError`` when a worker is lost). Nothing outside a cluster."""
    if not is_multi_worker(strategy):
        return
    ones = strategy.run(lambda: tf.constant(1.0))
    strategy.reduce(tf.distribute.ReduceOp.SUM, ones, axis=None).numpy()


_TASK_RE = re.compile(r"/job:(\w+)(?:/replica:\d+)?/task:(\d+)")
# What TensorFlow's errors say when a worker is gone (lower case).
_LOST_SIGNS = ("heartbeat", "coordination service", "collective ops is aborted",
               "connection reset", "connection refused", "failed to connect", "socket closed")


def lost_worker(strategy: tf.distribute.Strategy,
                error: BaseException) -> WorkerLostError | None:
    """``WorkerLostError`` (``lost_worker_message``) for a TensorFlow error of a multi-worker
    ``strategy`` saying that another worker died or cannot be reached; None for any other
    error, or outside a cluster."""
    if not is_multi_worker(strategy) or not isinstance(error, tf.errors.OpError):
        return None
    resolver = strategy.cluster_resolver
    message = lost_worker_message(getattr(error, "message", "") or str(error),
                                  (resolver.task_type, int(resolver.task_id)), _tasks(strategy))
    return None if message is None else WorkerLostError(message)


def lost_worker_message(text: str, this_task: tuple[str, int],
                        tasks: Mapping[tuple[str, int], str]) -> str | None:
    """``worker 1 (localhost:2223) is lost (it stopped sending heartbeats)`` from the text of
    a TensorFlow error that says a task other than ``this_task`` died or cannot be reached
    (collective ops aborted, heartbeats missed, a connection reset or refused); ``tasks``:
    (job, index) -> address. None when the text says nothing of the kind."""
    lowered = text.lower()
    if not any(sign in lowered for sign in _LOST_SIGNS):
        return None
    unhealthy = lowered.find("unhealthy")        # "... tasks are unhealthy (...): /job:..."
    named = [(job, int(index)) for job, index in
             _TASK_RE.findall(text[unhealthy:] if unhealthy >= 0 else text)]
    others = [task for task in dict.fromkeys(named) if task != tuple(this_task)]
    reason = _loss_reason(lowered)
    if not others:
        return f"another worker is lost ({reason})"
    who = ", ".join(f"{job} {index}" + (f" ({tasks[(job, index)]})" if (job, index) in tasks
                                        else "") for job, index in others)
    return f"{who} {'are' if len(others) > 1 else 'is'} lost ({reason})"


def _loss_reason(lowered: str) -> str:
    if "stopped sending heartbeats" in lowered or "unhealthy" in lowered:
        return "it stopped sending heartbeats"
    if "connection reset" in lowered or "socket closed" in lowered:
        return "its connection was reset"
    if "connection refused" in lowered or "failed to connect" in lowered:
        return "it cannot be reached"
    if "coordination service" in lowered:
        return "the coordination service on it cannot be reached"
    return "collective ops were aborted"
