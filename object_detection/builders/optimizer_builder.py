"""Config -> optimizer: an ``Optimizer`` proto turned into a Keras optimizer and its schedule.

Optimizers (the OD API's TF2 choices):
  ``momentum_optimizer`` -> ``keras.optimizers.SGD(momentum=momentum_optimizer_value)``. Keras
      keeps ``v = m * v - lr * g; x += v`` (the rate inside the velocity); TF1's
      MomentumOptimizer keeps ``a = m * a + g; x -= lr * a``. Both agree while the rate is
      constant and differ only in how a rate change reaches the accumulated momentum.
  ``adam_optimizer`` -> ``keras.optimizers.Adam(epsilon=epsilon)`` (the config's epsilon, TF1's
      1e-8 by default; Keras' Adam applies it in TF1's "epsilon hat" form).
  ``rms_prop_optimizer`` -> ``keras.optimizers.RMSprop(rho=decay, momentum=..., epsilon=...)``
      (``decay`` is TF1 RMSProp's decay of the squared-gradient average, Keras' ``rho``; Keras
      starts that average at 0 where TF1 started it at 1).

Schedules (the OD API's ``learning_schedules`` semantics) are ``LearningRateSchedule``
subclasses, registered for Keras serialization: ``ConstantRate``, ``ExponentialDecayWithBurnin``,
``ManualStepping``, ``CosineDecayWithWarmup``. Each maps an integer step to a float32 scalar
learning rate; the returned schedule doubles as the ``learning_rate(step)`` callable for
summaries. The optimizer evaluates it on ``optimizer.iterations`` *before* incrementing it, so
the first update uses ``schedule(0)``, as the OD API's global step does: the training loop's
step IS ``optimizer.iterations`` (saved and restored with the optimizer in a checkpoint).

Moving average: ``use_moving_average`` turns on Keras' own EMA of the trainable weights
(``use_ema=True``, ``ema_momentum=moving_average_decay``, no periodic overwrite): after each
update ``average = decay * average + (1 - decay) * weight`` (the first update copies the
weight). The training loop finds this on the optimizer (``optimizer.use_ema``,
``optimizer.ema_momentum``); the averages are optimizer variables (checkpointed with it), and
``optimizer.finalize_variable_values(model.trainable_variables)`` copies them into the model
(e.g. before evaluation or export of a restored model).

Rates and factors are rounded to their shortest float32 decimal (the proto stores float32), so
``0.0003`` in a config is ``0.0003`` in the schedule's config and summaries.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Sequence
from typing import Any

import keras
import numpy as np
import tensorflow as tf

from object_detection.protos import optimizer_pb2

WHERE = "train_config.optimizer"
SUPPORTED_OPTIMIZERS = ("momentum_optimizer", "adam_optimizer", "rms_prop_optimizer")
SUPPORTED_LEARNING_RATES = ("constant_learning_rate", "exponential_decay_learning_rate",
                            "manual_step_learning_rate", "cosine_decay_learning_rate")
_PACKAGE = "object_detection"


def _f32(value: float) -> float:
    """The shortest decimal of ``value`` as float32 (what a proto float field holds)."""
    return float(str(np.float32(value)))


def _steps(step: Any) -> tuple[tf.Tensor, tf.Tensor]:
    """A step (int or tensor) as int64 for comparisons and float32 for arithmetic."""
    step = tf.convert_to_tensor(step)
    if step.dtype.is_floating:
        step = tf.floor(step)
    return tf.cast(step, tf.int64), tf.cast(step, tf.float32)


# ------------------------------------------------------------------------------- schedules

@keras.saving.register_keras_serializable(package=_PACKAGE)
class ConstantRate(keras.optimizers.schedules.LearningRateSchedule):
    """The same rate at every step."""

    def __init__(self, learning_rate: float) -> None:
        self.learning_rate = float(learning_rate)

    def __call__(self, step: Any) -> tf.Tensor:
        del step
        return tf.constant(self.learning_rate, tf.float32)

    def get_config(self) -> dict[str, Any]:
        return {"learning_rate": self.learning_rate}


@keras.saving.register_keras_serializable(package=_PACKAGE)
class ExponentialDecayWithBurnin(keras.optimizers.schedules.LearningRateSchedule):
    """``burnin_learning_rate`` for steps ``< burnin_steps``, then
    ``initial * decay_factor ** ((step - burnin_steps) / decay_steps)`` (exponent floored when
    ``staircase``); never below ``min_learning_rate``. A burn-in rate of 0 means ``initial``."""

    def __init__(self, initial_learning_rate: float, decay_steps: int, decay_factor: float,
                 staircase: bool = True, burnin_learning_rate: float = 0.0,
                 burnin_steps: int = 0, min_learning_rate: float = 0.0) -> None:
        if decay_steps <= 0:
            raise ValueError(f"decay_steps must be positive, got {decay_steps}")
        self.initial_learning_rate = float(initial_learning_rate)
        self.decay_steps = int(decay_steps)
        self.decay_factor = float(decay_factor)
        self.staircase = bool(staircase)
        self.burnin_learning_rate = float(burnin_learning_rate)
        self.burnin_steps = int(burnin_steps)
        self.min_learning_rate = float(min_learning_rate)

    def __call__(self, step: Any) -> tf.Tensor:
        step_i, step_f = _steps(step)
        exponent = (step_f - self.burnin_steps) / self.decay_steps
        if self.staircase:
            exponent = tf.floor(exponent)
        decayed = self.initial_learning_rate * tf.pow(
            tf.constant(self.decay_factor, tf.float32), exponent)
        burnin = self.burnin_learning_rate or self.initial_learning_rate
        rate = tf.where(step_i < self.burnin_steps, tf.constant(burnin, tf.float32), decayed)
        return tf.maximum(rate, self.min_learning_rate)

    def get_config(self) -> dict[str, Any]:
        return {"initial_learning_rate": self.initial_learning_rate,
                "decay_steps": self.decay_steps, "decay_factor": self.decay_factor,
                "staircase": self.staircase, "burnin_learning_rate": self.burnin_learning_rate,
                "burnin_steps": self.burnin_steps, "min_learning_rate": self.min_learning_rate}


@keras.saving.register_keras_serializable(package=_PACKAGE)
class ManualStepping(keras.optimizers.schedules.LearningRateSchedule):
    """Piecewise constant: ``rates[0]`` before ``boundaries[0]``, ``rates[i]`` from
    ``boundaries[i-1]`` on (a rate changes exactly at its step).

    ``boundaries``: strictly increasing positive steps; ``rates``: one more than boundaries.
    With ``warmup`` the rate instead rises linearly from ``rates[0]`` at step 0 towards
    ``rates[1]``, reached at ``boundaries[0]``.
    """

    def __init__(self, boundaries: Sequence[int], rates: Sequence[float],
                 warmup: bool = False) -> None:
        boundaries = [int(b) for b in boundaries]
        if len(rates) != len(boundaries) + 1:
            raise ValueError(f"need one more rate than boundaries, got {len(rates)} rates for "
                             f"{len(boundaries)} boundaries")
        if boundaries and boundaries[0] <= 0:
            raise ValueError(f"the first step must be positive, got {boundaries[0]}")
        if any(b <= a for a, b in itertools.pairwise(boundaries)):
            raise ValueError(f"steps must be strictly increasing, got {boundaries}")
        self.boundaries = boundaries
        self.rates = [float(r) for r in rates]
        self.warmup = bool(warmup)

    def __call__(self, step: Any) -> tf.Tensor:
        step_i, step_f = _steps(step)
        rates = tf.constant(self.rates, tf.float32)
        if not self.boundaries:
            return rates[0]
        passed = tf.cast(step_i >= tf.constant(self.boundaries, tf.int64), tf.int32)
        rate = tf.gather(rates, tf.reduce_sum(passed))
        if self.warmup:
            slope = (self.rates[1] - self.rates[0]) / self.boundaries[0]
            rate = tf.where(step_i < self.boundaries[0], self.rates[0] + slope * step_f, rate)
        return rate

    def get_config(self) -> dict[str, Any]:
        return {"boundaries": list(self.boundaries), "rates": list(self.rates),
                "warmup": self.warmup}


@keras.saving.register_keras_serializable(package=_PACKAGE)
class CosineDecayWithWarmup(keras.optimizers.schedules.LearningRateSchedule):
    """Linear warm-up from ``warmup_learning_rate`` (step 0) to ``learning_rate_base`` (step
    ``warmup_steps``), the base held for ``hold_base_rate_steps`` more steps, then
    ``base * (1 + cos(pi * t)) / 2`` with ``t`` going 0 -> 1 over the remaining steps up to
    ``total_steps``; 0 after ``total_steps``."""

    def __init__(self, learning_rate_base: float, total_steps: int,
                 warmup_learning_rate: float = 0.0, warmup_steps: int = 0,
                 hold_base_rate_steps: int = 0) -> None:
        if learning_rate_base < warmup_learning_rate:
            raise ValueError(f"learning_rate_base ({learning_rate_base}) must be at least "
                             f"warmup_learning_rate ({warmup_learning_rate})")
        if total_steps < warmup_steps:
            raise ValueError(f"total_steps ({total_steps}) must be at least warmup_steps "
                             f"({warmup_steps})")
        self.learning_rate_base = float(learning_rate_base)
        self.total_steps = int(total_steps)
        self.warmup_learning_rate = float(warmup_learning_rate)
        self.warmup_steps = int(warmup_steps)
        self.hold_base_rate_steps = int(hold_base_rate_steps)

    def __call__(self, step: Any) -> tf.Tensor:
        step_i, step_f = _steps(step)
        base = self.learning_rate_base
        decay_start = self.warmup_steps + self.hold_base_rate_steps
        # Only steps in (decay_start, total_steps] use the cosine, so the guard never bites.
        decay_length = max(self.total_steps - decay_start, 1)
        progress = (step_f - decay_start) / decay_length
        rate = 0.5 * base * (1.0 + tf.cos(math.pi * progress))
        rate = tf.where(step_i <= decay_start, tf.constant(base, tf.float32), rate)
        if self.warmup_steps > 0:
            slope = (base - self.warmup_learning_rate) / self.warmup_steps
            rate = tf.where(step_i < self.warmup_steps,
                            self.warmup_learning_rate + slope * step_f, rate)
        return tf.where(step_i > self.total_steps, tf.constant(0.0, tf.float32), rate)

    def get_config(self) -> dict[str, Any]:
        return {"learning_rate_base": self.learning_rate_base, "total_steps": self.total_steps,
                "warmup_learning_rate": self.warmup_learning_rate,
                "warmup_steps": self.warmup_steps,
                "hold_base_rate_steps": self.hold_base_rate_steps}


# ------------------------------------------------------------------------------- builders

def build_learning_rate(config: optimizer_pb2.LearningRate,
                        where: str = f"{WHERE}.learning_rate"
                        ) -> keras.optimizers.schedules.LearningRateSchedule:
    """``LearningRate`` proto -> schedule; ``where`` names the field in errors (ValueError)."""
    kind = config.WhichOneof("learning_rate")
    try:
        if kind == "constant_learning_rate":
            return ConstantRate(_f32(config.constant_learning_rate.learning_rate))
        if kind == "exponential_decay_learning_rate":
            c = config.exponential_decay_learning_rate
            return ExponentialDecayWithBurnin(
                _f32(c.initial_learning_rate), c.decay_steps, _f32(c.decay_factor),
                staircase=c.staircase, burnin_learning_rate=_f32(c.burnin_learning_rate),
                burnin_steps=c.burnin_steps, min_learning_rate=_f32(c.min_learning_rate))
        if kind == "manual_step_learning_rate":
            c = config.manual_step_learning_rate
            if not c.schedule:
                raise ValueError("schedule is empty (give at least one step and rate)")
            return ManualStepping([s.step for s in c.schedule],
                                  [_f32(c.initial_learning_rate)]
                                  + [_f32(s.learning_rate) for s in c.schedule],
                                  warmup=c.warmup)
        if kind == "cosine_decay_learning_rate":
            c = config.cosine_decay_learning_rate
            return CosineDecayWithWarmup(
                _f32(c.learning_rate_base), c.total_steps, _f32(c.warmup_learning_rate),
                c.warmup_steps, c.hold_base_rate_steps)
    except ValueError as error:
        raise ValueError(f"{where}.{kind}: {error}") from None
    raise ValueError(f"{where}: not supported: {kind or 'no learning rate set'} "
                     f"(supported: {', '.join(SUPPORTED_LEARNING_RATES)})")


def build_optimizer(
    optimizer_config: optimizer_pb2.Optimizer,
    global_step: tf.Variable | None = None,
) -> tuple[keras.optimizers.Optimizer, keras.optimizers.schedules.LearningRateSchedule]:
    """``Optimizer`` proto -> (Keras optimizer, its learning-rate schedule).

    The optimizer evaluates the schedule on ``optimizer.iterations``; call the schedule with
    that step for summaries. ``global_step``, where given (a loop that restored its own step
    counter), sets the optimizer's iteration count once, here; from then on the step is
    ``optimizer.iterations``. EMA settings ride on the optimizer (see the module docstring).

    Raises ValueError ``... not supported: X (supported: ...)`` for a missing optimizer or
    learning rate, and a field-named ValueError for an invalid schedule.
    """
    kind = optimizer_config.WhichOneof("optimizer")
    if kind not in SUPPORTED_OPTIMIZERS:
        raise ValueError(f"{WHERE}: not supported: {kind or 'no optimizer set'} "
                         f"(supported: {', '.join(SUPPORTED_OPTIMIZERS)})")
    config = getattr(optimizer_config, kind)
    schedule = build_learning_rate(config.learning_rate, f"{WHERE}.{kind}.learning_rate")
    common: dict[str, Any] = {"learning_rate": schedule}
    if optimizer_config.use_moving_average:
        decay = _f32(optimizer_config.moving_average_decay)
        if not 0.0 <= decay <= 1.0:
            raise ValueError(f"{WHERE}.moving_average_decay: must be in [0, 1], got {decay}")
        common.update(use_ema=True, ema_momentum=decay)
    try:
        optimizer = _keras_optimizer(kind, config, common)
    except ValueError as error:  # Keras' own range checks (momentum in [0, 1], ...)
        raise ValueError(f"{WHERE}.{kind}: {error}") from None
    if global_step is not None:
        optimizer.iterations.assign(tf.cast(global_step, optimizer.iterations.dtype))
    return optimizer, schedule


def _keras_optimizer(kind: str, config: Any,
                     common: dict[str, Any]) -> keras.optimizers.Optimizer:
    """One of ``SUPPORTED_OPTIMIZERS`` with its proto's hyperparameters and ``common`` kwargs."""
    if kind == "momentum_optimizer":
        return keras.optimizers.SGD(momentum=_f32(config.momentum_optimizer_value), **common)
    if kind == "adam_optimizer":
        return keras.optimizers.Adam(epsilon=_f32(config.epsilon), **common)
    return keras.optimizers.RMSprop(rho=_f32(config.decay),
                                    momentum=_f32(config.momentum_optimizer_value),
                                    epsilon=_f32(config.epsilon), **common)
