"""Config -> layer settings: a ``Hyperparams`` proto turned into Keras layer arguments.

The OD API's hyperparams give the initializer, regularizer and activation of a group of conv or
fully connected layers. Here they become the keyword arguments of ``keras.layers.Conv2D`` /
``keras.layers.Dense`` (``kernel_initializer``, ``kernel_regularizer``, ``bias_regularizer``
unset as in slim) plus the activation, which the heads apply themselves where the OD API does.

An L2 regularizer of weight ``w`` is ``w * sum(x ** 2) / 2`` as in slim (``tf.nn.l2_loss``),
i.e. Keras ``L2(w / 2)``. Normalizers (batch / group norm) on the heads are refused: no config
of the ResNet kind uses them.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import keras
import tensorflow as tf

from object_detection.config import supported
from object_detection.core.hyperparams import LayerHyperparams
from object_detection.protos import hyperparams_pb2

_ACTIVATIONS: dict[int, Callable[[tf.Tensor], tf.Tensor] | None] = {
    hyperparams_pb2.Hyperparams.NONE: None,
    hyperparams_pb2.Hyperparams.RELU: tf.nn.relu,
    hyperparams_pb2.Hyperparams.RELU_6: tf.nn.relu6,
    hyperparams_pb2.Hyperparams.SWISH: tf.nn.swish,
}

_MODES = {
    hyperparams_pb2.VarianceScalingInitializer.FAN_IN: "fan_in",
    hyperparams_pb2.VarianceScalingInitializer.FAN_OUT: "fan_out",
    hyperparams_pb2.VarianceScalingInitializer.FAN_AVG: "fan_avg",
}


def build(config: hyperparams_pb2.Hyperparams, where: str) -> LayerHyperparams:
    """Hyperparams proto -> ``LayerHyperparams``; ``where`` names the field in errors.

    Raises ValueError ``not supported: ...`` for normalizers and unknown initializers.
    """
    problem = supported.hyperparams_problem(config)  # the table the config checks read too
    if problem is not None:
        raise ValueError(f"{where}: {problem}")
    return LayerHyperparams(_initializer(config.initializer, where),
                            _regularizer(config.regularizer, where),
                            _ACTIVATIONS[config.activation])


def _initializer(config: hyperparams_pb2.Initializer, where: str) -> Callable[[], Any]:
    kind = config.WhichOneof("initializer_oneof")
    if kind == "truncated_normal_initializer":
        c = config.truncated_normal_initializer
        return lambda: keras.initializers.TruncatedNormal(mean=c.mean, stddev=c.stddev)
    if kind == "random_normal_initializer":
        c = config.random_normal_initializer
        return lambda: keras.initializers.RandomNormal(mean=c.mean, stddev=c.stddev)
    if kind == "variance_scaling_initializer":
        c = config.variance_scaling_initializer
        distribution = "uniform" if c.uniform else "truncated_normal"
        return lambda: keras.initializers.VarianceScaling(
            scale=c.factor, mode=_MODES[c.mode], distribution=distribution)
    if kind == "keras_initializer_by_name":
        name = config.keras_initializer_by_name
        try:
            keras.initializers.get(name)
        except ValueError:
            raise ValueError(f"{where}.initializer: not supported: keras initializer "
                             f"{name!r}") from None
        return lambda: keras.initializers.get(name)
    if kind is None:
        return lambda: keras.initializers.GlorotUniform()
    raise ValueError(f"{where}.initializer: not supported: {kind}")


def _regularizer(config: hyperparams_pb2.Regularizer, where: str) -> Callable[[], Any]:
    kind = config.WhichOneof("regularizer_oneof")
    if kind == "l2_regularizer":
        weight = config.l2_regularizer.weight
        return (lambda: keras.regularizers.L2(weight / 2.0)) if weight > 0 else (lambda: None)
    if kind == "l1_regularizer":
        weight = config.l1_regularizer.weight
        return (lambda: keras.regularizers.L1(weight)) if weight > 0 else (lambda: None)
    if kind is None:
        return lambda: None
    raise ValueError(f"{where}.regularizer: not supported: {kind}")
