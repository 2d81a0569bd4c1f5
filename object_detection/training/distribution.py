"""Which ``tf.distribute`` strategy trains a run, and who of its workers writes the results.

* ``TF_CONFIG`` naming a cluster -> ``MultiWorkerMirroredStrategy`` (synchronous data-parallel
  training across machines; every worker runs the same command).
* ``devices`` given (e.g. ``["/cpu:0", "/cpu:1"]`` after ``split_cpu(2)``) -> ``MirroredStrategy``
  over them.
* local GPUs -> ``MirroredStrategy`` over all of them (one GPU: one replica).
* otherwise the default strategy (one replica on the CPU).

The global batch (``train_config.batch_size``) is split evenly across the replicas, so it must
be a multiple of their number. Only the chief (``is_chief``) evaluates and writes logs,
summaries and the kept checkpoints; other workers write their checkpoint shards to a scratch
folder, which MultiWorkerMirroredStrategy requires.
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Mapping, Sequence

import tensorflow as tf

logger = logging.getLogger(__name__)

TF_CONFIG = "TF_CONFIG"


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


def describe(strategy: tf.distribute.Strategy) -> str:
    """E.g. ``MirroredStrategy, 2 replicas``."""
    replicas = strategy.num_replicas_in_sync
    return f"{type(strategy).__name__}, {replicas} replica{'s' if replicas != 1 else ''}"


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
