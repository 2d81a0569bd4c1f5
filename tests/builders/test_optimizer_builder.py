"""Config -> optimizer: schedules against hand-computed rates, optimizer hyperparameters, hand
updates of SGD with momentum and of the weights' moving average, serialization, refusals."""

from __future__ import annotations

import json
import math
from pathlib import Path

import keras
import numpy as np
import pytest
import tensorflow as tf
from google.protobuf import text_format

from object_detection import config as config_lib
from object_detection.builders import optimizer_builder as ob
from object_detection.protos import optimizer_pb2
from tests.odapi_reference import REFERENCE_CONFIGS

CONFIGS_DIR = Path(__file__).resolve().parents[2] / "configs"


def _optimizer(text: str, global_step: tf.Variable | None = None):
    return ob.build_optimizer(text_format.Parse(text, optimizer_pb2.Optimizer()), global_step)


def _schedule(text: str):
    return ob.build_learning_rate(text_format.Parse(text, optimizer_pb2.LearningRate()))


def _rates(schedule, steps) -> list[float]:
    return [float(schedule(tf.constant(s, tf.int64))) for s in steps]


def _sgd(learning_rate: str, momentum: float = 0.9, extra: str = "use_moving_average: false"):
    return _optimizer(f"momentum_optimizer {{ learning_rate {{ {learning_rate} }} "
                      f"momentum_optimizer_value: {momentum} }} {extra}")


# ------------------------------------------------------------------------------- schedules

def test_constant_rate():
    schedule = _schedule("constant_learning_rate { learning_rate: 0.0003 }")
    assert schedule.get_config() == {"learning_rate": 0.0003}
    np.testing.assert_allclose(_rates(schedule, [0, 1, 10**6]), [0.0003] * 3, rtol=1e-6)


COSINE = ("cosine_decay_learning_rate { learning_rate_base: 0.1 total_steps: 1000 "
          "warmup_learning_rate: 0.01 warmup_steps: 100 %s }")


def test_cosine_with_warmup():
    schedule = _schedule(COSINE % "")
    steps = [0, 50, 99, 100, 325, 550, 1000, 1001, 5000]
    expected = [0.01, 0.01 + 0.09 * 50 / 100, 0.01 + 0.09 * 99 / 100,  # warm-up, linear
                0.1,                                                  # the base at warmup_steps
                0.05 * (1 + math.cos(math.pi / 4)),                   # a quarter of the decay
                0.05,                                                 # midway
                0.0, 0.0, 0.0]                                        # at and after the end
    np.testing.assert_allclose(_rates(schedule, steps), expected, rtol=1e-5, atol=1e-8)


def test_cosine_holds_the_base_rate_then_decays_over_the_rest():
    schedule = _schedule(COSINE % "hold_base_rate_steps: 200")
    # Decay runs from step 300 to 1000: midway at 650.
    steps = [50, 100, 200, 300, 650, 1000, 1200]
    expected = [0.055, 0.1, 0.1, 0.1, 0.05, 0.0, 0.0]
    np.testing.assert_allclose(_rates(schedule, steps), expected, rtol=1e-5, atol=1e-8)


def test_cosine_without_warmup_starts_at_the_base():
    schedule = _schedule("cosine_decay_learning_rate { learning_rate_base: 0.2 total_steps: 100 "
                         "warmup_learning_rate: 0.0 warmup_steps: 0 }")
    np.testing.assert_allclose(_rates(schedule, [0, 50, 100]), [0.2, 0.1, 0.0], atol=1e-7)


def test_cosine_refuses_a_warmup_rate_above_the_base_and_a_warmup_past_the_end():
    with pytest.raises(ValueError, match="cosine_decay_learning_rate: learning_rate_base"):
        _schedule("cosine_decay_learning_rate { learning_rate_base: 0.01 "
                  "warmup_learning_rate: 0.1 }")
    with pytest.raises(ValueError, match="total_steps \\(10\\) must be at least warmup_steps"):
        _schedule("cosine_decay_learning_rate { total_steps: 10 warmup_steps: 20 }")


MANUAL = ("manual_step_learning_rate { initial_learning_rate: %s "
          "schedule { step: 10 learning_rate: %s } schedule { step: 20 learning_rate: %s } %s }")


def test_manual_steps_change_the_rate_exactly_at_their_step():
    schedule = _schedule(MANUAL % (0.1, 0.01, 0.001, ""))
    steps = [0, 9, 10, 19, 20, 10**6]
    np.testing.assert_allclose(_rates(schedule, steps), [0.1, 0.1, 0.01, 0.01, 0.001, 0.001],
                               rtol=1e-6)
    assert schedule.get_config() == {"boundaries": [10, 20], "rates": [0.1, 0.01, 0.001],
                                     "warmup": False}


def test_manual_warmup_ramps_from_the_initial_to_the_first_scheduled_rate():
    schedule = _schedule(MANUAL % (0.0, 0.1, 0.01, "warmup: true"))
    steps = [0, 5, 9, 10, 19, 20]
    np.testing.assert_allclose(_rates(schedule, steps), [0.0, 0.05, 0.09, 0.1, 0.1, 0.01],
                               rtol=1e-6, atol=1e-9)


@pytest.mark.parametrize("text, message", [
    ("manual_step_learning_rate { initial_learning_rate: 0.1 }", "schedule is empty"),
    (MANUAL.replace("step: 20", "step: 10") % (0.1, 0.01, 0.001, ""), "strictly increasing"),
    (MANUAL.replace("step: 10", "step: 0") % (0.1, 0.01, 0.001, ""), "must be positive"),
])
def test_manual_refuses_bad_schedules(text, message):
    with pytest.raises(ValueError, match=f"learning_rate.manual_step_learning_rate: .*{message}"):
        _schedule(text)


EXPONENTIAL = ("exponential_decay_learning_rate { initial_learning_rate: 0.1 decay_steps: 10 "
               "decay_factor: 0.5 %s }")


def test_exponential_staircase_with_burnin_and_min_rate():
    schedule = _schedule(EXPONENTIAL % "staircase: true burnin_learning_rate: 0.02 "
                                       "burnin_steps: 5 min_learning_rate: 0.01")
    # Decay counts from the end of the burn-in: (step - 5) // 10 halvings, floored at 0.01.
    steps = [0, 4, 5, 14, 15, 25, 35, 45, 1000]
    expected = [0.02, 0.02, 0.1, 0.1, 0.05, 0.025, 0.0125, 0.01, 0.01]
    np.testing.assert_allclose(_rates(schedule, steps), expected, rtol=1e-6)


def test_exponential_smooth_and_a_zero_burnin_rate_meaning_the_initial_rate():
    smooth = _schedule(EXPONENTIAL % "staircase: false")
    np.testing.assert_allclose(_rates(smooth, [0, 5, 10, 25]),
                               [0.1, 0.1 * 0.5 ** 0.5, 0.05, 0.1 * 0.5 ** 2.5], rtol=1e-6)
    burnin = _schedule(EXPONENTIAL % "burnin_steps: 5")
    np.testing.assert_allclose(_rates(burnin, [0, 4, 5, 15]), [0.1, 0.1, 0.1, 0.05], rtol=1e-6)


def test_exponential_refuses_zero_decay_steps():
    with pytest.raises(ValueError, match="exponential_decay_learning_rate: decay_steps"):
        _schedule(EXPONENTIAL.replace("decay_steps: 10", "decay_steps: 0") % "")


def test_missing_learning_rate_refused():
    with pytest.raises(ValueError, match="not supported: no learning rate set "
                                         "\\(supported: constant_learning_rate"):
        _optimizer("adam_optimizer { }")


@pytest.mark.parametrize("text", [
    "constant_learning_rate { learning_rate: 0.5 }",
    EXPONENTIAL % "burnin_learning_rate: 0.02 burnin_steps: 5 min_learning_rate: 0.01",
    MANUAL % (0.0, 0.1, 0.01, "warmup: true"),
    COSINE % "hold_base_rate_steps: 200",
])
def test_schedules_round_trip_through_keras_serialization(text):
    schedule = _schedule(text)
    serialized = keras.optimizers.schedules.serialize(schedule)
    json.dumps(serialized)
    restored = keras.optimizers.schedules.deserialize(serialized)
    assert type(restored) is type(schedule)
    assert restored.get_config() == schedule.get_config()
    steps = [0, 3, 5, 9, 10, 15, 150, 650, 2000]
    assert _rates(restored, steps) == _rates(schedule, steps)


def test_schedule_runs_in_a_graph_on_an_int64_variable():
    schedule = _schedule(MANUAL % (0.1, 0.01, 0.001, ""))
    step = tf.Variable(0, dtype=tf.int64)
    rate = tf.function(lambda: schedule(step))
    seen = []
    for value in (0, 10, 20):
        step.assign(value)
        seen.append(float(rate()))
    np.testing.assert_allclose(seen, [0.1, 0.01, 0.001], rtol=1e-6)


# ------------------------------------------------------------------------------- optimizers

def test_momentum_optimizer_hyperparameters():
    optimizer, schedule = _sgd("constant_learning_rate { learning_rate: 0.0003 }", 0.85)
    assert isinstance(optimizer, keras.optimizers.SGD)
    assert optimizer.momentum == 0.85 and not optimizer.nesterov
    assert isinstance(schedule, ob.ConstantRate)
    assert optimizer.get_config()["learning_rate"]["config"] == {"learning_rate": 0.0003}
    assert not optimizer.use_ema


def test_adam_epsilon_from_config_and_tf1_default():
    default, _ = _optimizer("adam_optimizer { learning_rate { constant_learning_rate {} } }")
    assert isinstance(default, keras.optimizers.Adam) and default.epsilon == 1e-8
    custom, _ = _optimizer("adam_optimizer { learning_rate { constant_learning_rate {} } "
                           "epsilon: 0.001 }")
    assert custom.epsilon == 0.001


def test_rms_prop_hyperparameters():
    optimizer, _ = _optimizer("rms_prop_optimizer { learning_rate { constant_learning_rate {} } "
                              "decay: 0.95 momentum_optimizer_value: 0.8 epsilon: 0.5 }")
    assert isinstance(optimizer, keras.optimizers.RMSprop)
    assert (optimizer.rho, optimizer.momentum, optimizer.epsilon) == (0.95, 0.8, 0.5)


def test_unsupported_optimizer_refused():
    with pytest.raises(ValueError, match="train_config.optimizer: not supported: no optimizer "
                                         "set \\(supported: momentum_optimizer, adam_optimizer, "
                                         "rms_prop_optimizer\\)"):
        _optimizer("use_moving_average: false")


def test_out_of_range_momentum_refused_with_the_field():
    with pytest.raises(ValueError, match="train_config.optimizer.momentum_optimizer: .*momentum"):
        _sgd("constant_learning_rate {}", 1.5)


def test_sgd_momentum_steps_match_the_hand_update_and_read_the_rate_at_iterations():
    # The rate drops from 0.1 to 0.01 at step 1; the optimizer reads it at its iteration count
    # before incrementing, so the first update uses 0.1 and the second 0.01.
    optimizer, schedule = _sgd("manual_step_learning_rate { initial_learning_rate: 0.1 "
                               "schedule { step: 1 learning_rate: 0.01 } }", 0.9)
    x = tf.Variable(1.0)
    optimizer.apply_gradients([(tf.constant(2.0), x)])
    # v = -0.1 * 2 = -0.2; x = 1 - 0.2
    np.testing.assert_allclose(x.numpy(), 0.8, rtol=1e-6)
    assert int(optimizer.iterations) == 1
    np.testing.assert_allclose(float(optimizer.learning_rate), float(schedule(1)), rtol=1e-6)
    optimizer.apply_gradients([(tf.constant(-1.0), x)])
    # v = 0.9 * -0.2 - 0.01 * -1 = -0.17; x = 0.8 - 0.17
    np.testing.assert_allclose(x.numpy(), 0.63, rtol=1e-6)


def test_moving_average_rides_on_the_optimizer():
    optimizer, _ = _sgd("constant_learning_rate { learning_rate: 0.1 }", 0.0,
                        extra="use_moving_average: true moving_average_decay: 0.75")
    assert optimizer.use_ema and optimizer.ema_momentum == 0.75
    x = tf.Variable(1.0)
    optimizer.apply_gradients([(tf.constant(2.0), x)])  # x = 0.8; the average starts at x
    optimizer.apply_gradients([(tf.constant(1.0), x)])  # x = 0.7
    np.testing.assert_allclose(x.numpy(), 0.7, rtol=1e-6)
    optimizer.finalize_variable_values([x])
    np.testing.assert_allclose(x.numpy(), 0.75 * 0.8 + 0.25 * 0.7, rtol=1e-6)


def test_moving_average_default_decay_and_bad_decay():
    optimizer, _ = _optimizer("adam_optimizer { learning_rate { constant_learning_rate {} } }")
    assert optimizer.use_ema and optimizer.ema_momentum == 0.9999  # the proto's defaults
    with pytest.raises(ValueError, match="moving_average_decay: must be in \\[0, 1\\]"):
        _sgd("constant_learning_rate {}", extra="moving_average_decay: 1.5")


def test_global_step_starts_the_iteration_count():
    fresh, _ = _sgd(MANUAL % (0.1, 0.01, 0.001, ""))
    assert int(fresh.iterations) == 0
    resumed, _ = _optimizer(f"momentum_optimizer {{ learning_rate {{ "
                            f"{MANUAL % (0.1, 0.01, 0.001, '')} }} }} use_moving_average: false",
                            global_step=tf.Variable(15, dtype=tf.int64))
    assert int(resumed.iterations) == 15
    np.testing.assert_allclose(float(resumed.learning_rate), 0.01, rtol=1e-6)


def test_optimizer_round_trips_with_its_schedule():
    optimizer, schedule = _sgd(COSINE % "")
    restored = keras.optimizers.deserialize(keras.optimizers.serialize(optimizer))
    assert isinstance(restored, keras.optimizers.SGD) and restored.momentum == 0.9
    np.testing.assert_allclose(float(restored.learning_rate), float(schedule(0)), rtol=1e-6)
    assert restored.get_config()["learning_rate"] == optimizer.get_config()["learning_rate"]


# ------------------------------------------------------------------------------- configs

@pytest.mark.parametrize("path", sorted(CONFIGS_DIR.glob("*.config")) + REFERENCE_CONFIGS,
                         ids=lambda p: f"{p.parent.name}/{p.name}")
def test_shipped_and_odapi_configs_build(path):
    optimizer, schedule = ob.build_optimizer(
        config_lib.load_pipeline_config(path).train_config.optimizer)
    assert isinstance(optimizer, keras.optimizers.SGD | keras.optimizers.Adam)
    assert not optimizer.use_ema
    rates = np.array(_rates(schedule, [0, 1, 1000, 10**6, 10**7]))
    assert np.all(np.isfinite(rates)) and np.all(rates >= 0) and rates[1] > 0


def test_quickstart_and_published_schedules():
    quick = config_lib.load_pipeline_config(CONFIGS_DIR / "quickstart.config")
    _, schedule = ob.build_optimizer(quick.train_config.optimizer)
    # warm-up 0.0003 -> 0.003 over 200 steps, then cosine to 0 at step 4000 (half at 2100)
    np.testing.assert_allclose(_rates(schedule, [0, 100, 200, 2100, 4000]),
                               [0.0003, 0.00165, 0.003, 0.0015, 0.0], rtol=1e-5, atol=1e-9)
    published = config_lib.load_pipeline_config(
        CONFIGS_DIR / "mask_rcnn_resnet101_atrous_pictorial_maps.config")
    optimizer, schedule = ob.build_optimizer(published.train_config.optimizer)
    assert optimizer.momentum == 0.9 and schedule.get_config() == {"learning_rate": 0.0003}


def test_iterations_and_averages_come_back_from_a_checkpoint(tmp_path):
    text = MANUAL % (0.1, 0.01, 0.001, "")
    optimizer, _ = _sgd(text, extra="use_moving_average: true moving_average_decay: 0.5")
    x = tf.Variable(1.0)
    for _ in range(12):
        optimizer.apply_gradients([(tf.constant(1.0), x)])
    path = tf.train.Checkpoint(optimizer=optimizer, x=x).save(str(tmp_path / "ckpt"))
    restored, _ = _sgd(text, extra="use_moving_average: true moving_average_decay: 0.5")
    y = tf.Variable(0.0)
    restored.build([y])
    tf.train.Checkpoint(optimizer=restored, x=y).restore(path).assert_consumed()
    assert int(restored.iterations) == 12
    np.testing.assert_allclose(float(restored.learning_rate), 0.01, rtol=1e-6)
    weight = x.numpy()
    optimizer.finalize_variable_values([x])
    restored.finalize_variable_values([y])
    assert abs(x.numpy() - weight) > 1e-3  # the average is not the weight
    np.testing.assert_allclose(y.numpy(), x.numpy(), rtol=1e-6)
