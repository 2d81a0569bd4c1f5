"""``LayerHyperparams``: the initializer, regularizer and activation of a group of layers.

The value type the heads are built from (``builders.hyperparams_builder`` makes one from a
``Hyperparams`` proto), so that the model code needs no config.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import keras
import tensorflow as tf


@dataclass(frozen=True)
class LayerHyperparams:
    """What a ``Hyperparams`` proto says about one group of layers.

    ``activation`` is None for a linear layer; ``layer_kwargs()`` gives fresh Keras arguments
    (new initializer and regularizer objects, so layers never share state).
    """

    initializer: Callable[[], Any]
    regularizer: Callable[[], Any]
    activation: Callable[[tf.Tensor], tf.Tensor] | None

    def layer_kwargs(self) -> dict[str, Any]:
        return {"kernel_initializer": self.initializer(),
                "kernel_regularizer": self.regularizer()}


def default_hyperparams(activation: Callable | None = tf.nn.relu) -> LayerHyperparams:
    """Settings used when a config leaves a hyperparams message out (the protos' defaults:
    truncated normal with stddev 1 would blow up, so Keras' glorot uniform, no regularizer)."""
    return LayerHyperparams(lambda: keras.initializers.GlorotUniform(), lambda: None, activation)
