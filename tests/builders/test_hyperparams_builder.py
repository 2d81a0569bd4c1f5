"""Hyperparams proto -> Keras layer settings."""

from __future__ import annotations

import keras
import numpy as np
import pytest
import tensorflow as tf

from object_detection.builders import hyperparams_builder
from object_detection.core.hyperparams import LayerHyperparams
from object_detection.config import parse_text
from object_detection.protos import hyperparams_pb2


def _build(text: str) -> LayerHyperparams:
    message = hyperparams_pb2.Hyperparams()
    parse_text(text, message)
    return hyperparams_builder.build(message, "test.hyperparams")


def test_l2_regularizer_is_slims_half_sum_of_squares():
    hp = _build("regularizer { l2_regularizer { weight: 0.5 } } "
                "initializer { truncated_normal_initializer { stddev: 0.01 } }")
    regularizer = hp.layer_kwargs()["kernel_regularizer"]
    # slim: weight * sum(x^2) / 2 = 0.5 * (1 + 4 + 9) / 2
    assert float(regularizer(tf.constant([1.0, 2.0, 3.0]))) == pytest.approx(3.5)


def test_zero_weight_means_no_regularizer_and_default_activation_is_relu():
    hp = _build("regularizer { l2_regularizer { weight: 0.0 } }")
    assert hp.layer_kwargs()["kernel_regularizer"] is None
    assert hp.activation is tf.nn.relu


def test_initializers():
    truncated = _build("initializer { truncated_normal_initializer { mean: 0.1 stddev: 0.02 } }")
    init = truncated.layer_kwargs()["kernel_initializer"]
    assert isinstance(init, keras.initializers.TruncatedNormal)
    assert (init.mean, init.stddev) == pytest.approx((0.1, 0.02))
    values = init([4000]).numpy()
    assert abs(values.mean() - 0.1) < 0.002 and np.abs(values - 0.1).max() <= 0.04 + 1e-6

    scaling = _build("initializer { variance_scaling_initializer "
                     "{ factor: 1.0 uniform: true mode: FAN_AVG } }")
    init = scaling.layer_kwargs()["kernel_initializer"]
    # Uniform with limit sqrt(3 * factor / ((fan_in + fan_out) / 2)).
    values = init([100, 300]).numpy()
    limit = np.sqrt(3.0 / 200.0)
    assert np.abs(values).max() <= limit and np.abs(values).max() > 0.95 * limit


def test_each_layer_gets_its_own_initializer():
    hp = _build("initializer { random_normal_initializer { stddev: 2.0 } }")
    assert hp.layer_kwargs()["kernel_initializer"] is not hp.layer_kwargs()["kernel_initializer"]


def test_activation_choices():
    assert _build("activation: NONE").activation is None
    assert _build("activation: RELU_6").activation is tf.nn.relu6


def test_normalizers_are_refused():
    with pytest.raises(ValueError, match=r"test.hyperparams: not supported: batch_norm"):
        _build("batch_norm { decay: 0.9 }")
