"""Numeric precision of a model: float32, or mixed bfloat16 (``train_config.use_bfloat16``).

Mixed bfloat16 is Keras' ``mixed_bfloat16`` policy on every layer of the model: convolutions
and matrix products compute in bfloat16, variables stay float32 (so checkpoints are the same as
a float32 model's, TF1 checkpoints included); the model casts its heads' outputs back to
float32, so box decoding, NMS, scores, masks and losses are float32.

bfloat16 is fast only on hardware with bfloat16 arithmetic: NVIDIA GPUs of compute capability
8.0 or more (Ampere, Hopper), CPUs with AVX512_BF16 or AMX. Elsewhere it is emulated and slower
than float32; :func:`slow_bfloat16_reason` says why, for a warning.
"""

from __future__ import annotations

import logging
from pathlib import Path

import keras
import tensorflow as tf

logger = logging.getLogger(__name__)

FLOAT32 = "float32"
BFLOAT16 = "bfloat16"
PRECISIONS = (FLOAT32, BFLOAT16)

_POLICIES = {FLOAT32: "float32", BFLOAT16: "mixed_bfloat16"}
_CPU_BF16_FLAGS = ("avx512_bf16", "amx_bf16")


def check_precision(precision: str) -> str:
    """``precision`` if it is one of PRECISIONS; ValueError naming them otherwise."""
    if precision not in PRECISIONS:
        raise ValueError(f"precision must be one of {', '.join(PRECISIONS)}, got {precision!r}")
    return precision


def dtype_policy(precision: str) -> keras.DTypePolicy:
    """The Keras dtype policy of ``precision``: "float32" or "mixed_bfloat16"."""
    return keras.DTypePolicy(_POLICIES[check_precision(precision)])


def from_use_bfloat16(use_bfloat16: bool) -> str:
    """The precision ``train_config.use_bfloat16`` asks for."""
    return BFLOAT16 if use_bfloat16 else FLOAT32


def _cpu_flags(cpuinfo: Path = Path("/proc/cpuinfo")) -> set[str]:
    try:
        text = cpuinfo.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return set()
    for line in text.splitlines():
        if line.startswith(("flags", "Features")):
            return set(line.split(":", 1)[1].split())
    return set()


def slow_bfloat16_reason(gpu_capabilities: list[tuple[int, int]] | None = None,
                         cpu_flags: set[str] | None = None) -> str | None:
    """None when this machine computes bfloat16 fast, else a sentence saying why not.

    The model runs on the GPUs when there are any (``gpu_capabilities``: their compute
    capabilities, read from TensorFlow when None), else on the CPU (``cpu_flags``: its feature
    flags, from /proc/cpuinfo when None)."""
    if gpu_capabilities is None:
        gpu_capabilities = []
        for gpu in tf.config.list_physical_devices("GPU"):
            details = tf.config.experimental.get_device_details(gpu)
            gpu_capabilities.append(tuple(details.get("compute_capability", (0, 0))))
    if gpu_capabilities:
        slow = [c for c in gpu_capabilities if tuple(c) < (8, 0)]
        if not slow:
            return None
        return (f"the GPU has compute capability {slow[0][0]}.{slow[0][1]}; bfloat16 is fast "
                "from 8.0 (Ampere) on, so it is emulated here and slower than float32")
    flags = _cpu_flags() if cpu_flags is None else cpu_flags
    if flags & set(_CPU_BF16_FLAGS):
        return None
    return ("the CPU has neither AVX512_BF16 nor AMX and there is no GPU: bfloat16 is "
            "emulated here and slower than float32")


def warn_if_slow(precision: str) -> None:
    """Logs a warning when ``precision`` is bfloat16 and this machine computes it slowly."""
    if precision != BFLOAT16:
        return
    reason = slow_bfloat16_reason()
    if reason:
        logger.warning("mixed bfloat16 requested, but %s", reason)
