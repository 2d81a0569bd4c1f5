"""Training steps: losses, gradients, clipping and the optimizer update under a strategy.

One step on a global batch: each replica computes the model's losses (OD API names, already
weighted) on its share of the batch, their sum ``Loss/total_loss``, and the gradient of
``total / num_replicas``; the gradients are summed across replicas (so they equal the gradient
of the mean loss over the global batch), clipped to ``gradient_clipping_by_norm`` by global norm
when that is > 0, and applied. The step counter is ``optimizer.iterations``.

With several replicas and clipping, the gradients are all-reduced here before clipping (the
norm must be the global batch's) and divided by the number of replicas before the optimizer,
which sums them once more; without clipping the optimizer's own all-reduce is the only one.

The step is one ``tf.function`` traced once: its input signature is the (distributed) dataset's
``element_spec``, so every batch of a fixed-shape pipeline reuses the same graph. It is traced
without autograph (the model's Python control flow depends on static values only), which makes
the trace about twice as fast. Loss values
come back every step; a non-finite one raises ``NonFiniteLossError`` naming the step and the
losses (the update of that step has been applied, so the caller must not save the model then).
"""

from __future__ import annotations

import logging
import math
import re
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass

import tensorflow as tf

from object_detection.core import precision as precision_lib
from object_detection.fields import LossNames
from object_detection.protos import train_pb2

logger = logging.getLogger(__name__)

# train_config fields that would change training but are not implemented: refused when set.
_UNSUPPORTED_FIELDS = {
    "bias_grad_multiplier": lambda c: c.bias_grad_multiplier > 0,
    "merge_multiple_label_boxes": lambda c: c.merge_multiple_label_boxes,
    "use_multiclass_scores": lambda c: c.use_multiclass_scores,
    "sync_replicas": lambda c: c.sync_replicas,
}


class NonFiniteLossError(RuntimeError):
    """A loss was NaN or infinite at ``step``; ``losses`` holds every loss of that step."""

    def __init__(self, step: int, losses: Mapping[str, float]) -> None:
        self.step = int(step)
        self.losses = dict(losses)
        bad = [f"{n} = {v:.6g}" for n, v in self.losses.items() if not math.isfinite(v)]
        good = [f"{n} = {v:.6g}" for n, v in self.losses.items() if math.isfinite(v)]
        finite = f" (finite: {', '.join(good)})" if good else ""
        super().__init__(f"non-finite loss at step {self.step}: {', '.join(bad)}{finite}")


@dataclass(frozen=True)
class TrainSettings:
    """What ``train_config`` asks of the training step (besides optimizer and data)."""

    batch_size: int
    clip_norm: float = 0.0
    add_regularization_loss: bool = True
    update_trainable_variables: tuple[str, ...] = ()
    freeze_variables: tuple[str, ...] = ()
    precision: str = precision_lib.FLOAT32    # use_bfloat16: "bfloat16" (mixed)

    @classmethod
    def from_config(cls, config: train_pb2.TrainConfig) -> TrainSettings:
        """Reads ``train_config``; ValueError ``train_config.X: not supported ...`` for a set
        field this trainer does not implement."""
        for field, is_set in _UNSUPPORTED_FIELDS.items():
            if is_set(config):
                raise ValueError(f"train_config.{field}: not supported (leave it unset)")
        if config.batch_size < 1:
            raise ValueError(f"train_config.batch_size must be >= 1, got {config.batch_size}")
        if config.gradient_clipping_by_norm < 0:
            raise ValueError("train_config.gradient_clipping_by_norm must be >= 0, got "
                             f"{config.gradient_clipping_by_norm}")
        return cls(batch_size=config.batch_size,
                   clip_norm=float(config.gradient_clipping_by_norm),
                   add_regularization_loss=config.add_regularization_loss,
                   update_trainable_variables=tuple(config.update_trainable_variables),
                   freeze_variables=tuple(config.freeze_variables),
                   precision=precision_lib.from_use_bfloat16(config.use_bfloat16))


def variable_names(model) -> dict[int, tuple[str, ...]]:
    """id(variable) -> its names: the TF1 OD API detection-checkpoint name (what
    ``freeze_variables`` patterns of OD API configs were written for) and the Keras path."""
    names: dict[int, list[str]] = {}
    for name, variable in model.checkpoint_variable_map("detection").items():
        names.setdefault(id(variable), []).append(name)
    for variable in model.variables:
        names.setdefault(id(variable), []).append(variable.path)
    return {key: tuple(value) for key, value in names.items()}


def select_trainable_variables(model, update_patterns: Sequence[str] = (),
                               freeze_patterns: Sequence[str] = ()) -> list:
    """The model's trainable variables to update: those matching any ``update_patterns`` (all
    when empty) and none of ``freeze_patterns`` (regular expressions matched at the start of a
    name, as the OD API does; see ``variable_names``). ValueError when none is left."""
    names = variable_names(model)

    def matches(variable, patterns: Sequence[str]) -> bool:
        return any(re.match(p, n) for p in patterns for n in names.get(id(variable), ()))

    selected = [v for v in model.trainable_variables
                if (not update_patterns or matches(v, update_patterns))
                and not matches(v, freeze_patterns)]
    if not selected:
        raise ValueError("train_config: update_trainable_variables / freeze_variables leave no "
                         "variable to train")
    left_out = len(model.trainable_variables) - len(selected)
    if left_out:
        logger.info("training %d variables; %d frozen by the config", len(selected), left_out)
    return selected


def total_loss(losses: Mapping[str, tf.Tensor]) -> tf.Tensor:
    """The sum of all losses (each already weighted by the model)."""
    return tf.add_n([tf.cast(v, tf.float32) for v in losses.values()])


class Trainer:
    """Runs training steps of ``model`` with ``optimizer`` under ``strategy``.

    Create the model and the optimizer (and build both) inside ``strategy.scope()``.
    ``element_spec`` is that of the distributed dataset the batches come from
    (``strategy.experimental_distribute_dataset(ds).element_spec``). ``variables`` defaults to
    the model's trainable variables; ``loss_fn(batch) -> {name: scalar}`` defaults to
    ``model.compute_losses(batch, training=True)``.
    """

    def __init__(self, model, optimizer, strategy: tf.distribute.Strategy, element_spec, *,
                 settings: TrainSettings, variables: Sequence | None = None,
                 loss_fn: Callable | None = None) -> None:
        self.model = model
        self.optimizer = optimizer
        self.strategy = strategy
        self.settings = settings
        self.variables = list(variables if variables is not None else model.trainable_variables)
        self._loss_fn = loss_fn or (lambda batch: model.compute_losses(batch, training=True))
        self._step_function = tf.function(self._distributed_step, autograph=False,
                                          input_signature=[element_spec])

    @property
    def step(self) -> int:
        """Updates applied so far (``optimizer.iterations``)."""
        return int(self.optimizer.iterations.numpy())

    def traced_step(self):
        """The step function traced for ``element_spec`` (a ``ConcreteFunction``; traced now
        if no step has run yet), e.g. to count its operations."""
        return self._step_function.get_concrete_function()

    @property
    def num_traces(self) -> int:
        """How often the step function was traced (1 after the first step: no retracing)."""
        return self._step_function.experimental_get_tracing_count()

    def train_step(self, batch) -> dict[str, float]:
        """One step on a distributed batch; returns the replica-mean losses (OD API names and
        ``Loss/total_loss``). Raises ``NonFiniteLossError`` when one is NaN or infinite."""
        losses = {name: float(value) for name, value in self._step_function(batch).items()}
        if not all(math.isfinite(value) for value in losses.values()):
            raise NonFiniteLossError(self.step, losses)
        return losses

    def train(self, batches: Iterator, until_step: int,
              on_step: Callable[[int, dict[str, float]], None] | None = None) -> None:
        """Steps until ``optimizer.iterations == until_step``, calling ``on_step(step,
        losses)`` after each."""
        while self.step < until_step:
            losses = self.train_step(next(batches))
            if on_step is not None:
                on_step(self.step, losses)

    # ----------------------------------------------------------------------------- tracing

    def _distributed_step(self, batch) -> dict[str, tf.Tensor]:
        per_replica = self.strategy.run(self._replica_step, args=(batch,))
        return {name: self.strategy.reduce(tf.distribute.ReduceOp.MEAN, value, axis=None)
                for name, value in per_replica.items()}

    def _replica_step(self, batch) -> dict[str, tf.Tensor]:
        replicas = self.strategy.num_replicas_in_sync
        with tf.GradientTape() as tape:
            losses = dict(self._loss_fn(batch))
            if not self.settings.add_regularization_loss:
                losses.pop(LossNames.regularization, None)
            total = total_loss(losses)
            scaled = total / replicas
        gradients = tape.gradient(scaled, self.variables)
        pairs = [(g, v) for g, v in zip(gradients, self.variables) if g is not None]
        missing = [v.path for g, v in zip(gradients, self.variables) if g is None]
        if missing:  # at trace time only
            logger.warning("%d variables get no gradient from the losses: %s", len(missing),
                           ", ".join(missing[:5]) + (" ..." if len(missing) > 5 else ""))
        grads = [g for g, _ in pairs]
        if self.settings.clip_norm > 0:
            grads = self._clip(grads, replicas)
        self.optimizer.apply_gradients(zip(grads, [v for _, v in pairs]))
        losses[LossNames.total] = total
        return losses

    def _clip(self, grads: list[tf.Tensor], replicas: int) -> list[tf.Tensor]:
        if replicas == 1:
            return tf.clip_by_global_norm(grads, self.settings.clip_norm)[0]
        context = tf.distribute.get_replica_context()
        summed = context.all_reduce(tf.distribute.ReduceOp.SUM, grads)
        clipped, _ = tf.clip_by_global_norm(summed, self.settings.clip_norm)
        return [g / replicas for g in clipped]
