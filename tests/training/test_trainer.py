"""Training steps on a toy least-squares model (updates checked by hand), clipping, one trace,
non-finite losses, train_config checks, and variable selection on the tiny Mask R-CNN."""

from __future__ import annotations

import keras
import numpy as np
import pytest
import tensorflow as tf

from object_detection.builders import model_builder
from object_detection.fields import LossNames
from object_detection.protos import train_pb2
from object_detection.training.trainer import (NonFiniteLossError, Trainer, TrainSettings,
                                               select_trainable_variables)

SPEC = {"x": tf.TensorSpec([2, 3], tf.float32), "y": tf.TensorSpec([2], tf.float32)}
W0 = np.array([0.5, -1.0, 2.0], np.float32)
X = np.array([[1.0, 2.0, 3.0], [0.0, -1.0, 1.0]], np.float32)
Y = np.array([1.0, 2.0], np.float32)


class _Toy:
    """Least squares: losses "Loss/fit" = mean((x w - y)^2) and "Loss/prior" = 0.1 |w|^2."""

    def __init__(self) -> None:
        self.w = keras.Variable(W0.copy(), name="w")
        self.trainable_variables = [self.w]

    def losses(self, batch):
        residual = tf.linalg.matvec(batch["x"], self.w) - batch["y"]
        return {"Loss/fit": tf.reduce_mean(residual ** 2),
                "Loss/prior": 0.1 * tf.reduce_sum(self.w ** 2)}


def _hand_gradient(w: np.ndarray) -> np.ndarray:
    residual = X @ w - Y
    return 2.0 * X.T @ residual / len(Y) + 0.2 * w


def _trainer(clip_norm: float) -> tuple[_Toy, Trainer]:
    toy = _Toy()
    optimizer = keras.optimizers.SGD(learning_rate=1.0)
    optimizer.build(toy.trainable_variables)
    settings = TrainSettings(batch_size=2, clip_norm=clip_norm)
    return toy, Trainer(toy, optimizer, tf.distribute.get_strategy(), SPEC, settings=settings,
                        loss_fn=toy.losses)


def _batch(scale: float = 1.0) -> dict:
    return {"x": tf.constant(X * scale), "y": tf.constant(Y)}


def test_a_step_applies_the_summed_losses_gradient_and_reports_the_total():
    toy, trainer = _trainer(clip_norm=0.0)
    losses = trainer.train_step(_batch())
    residual = X @ W0 - Y
    fit, prior = np.mean(residual ** 2), 0.1 * np.sum(W0 ** 2)
    assert losses["Loss/fit"] == pytest.approx(fit, rel=1e-6)
    assert losses["Loss/prior"] == pytest.approx(prior, rel=1e-6)
    assert losses[LossNames.total] == pytest.approx(fit + prior, rel=1e-6)
    np.testing.assert_allclose(toy.w.numpy(), W0 - _hand_gradient(W0), rtol=1e-5)
    assert trainer.step == 1


def test_clipping_by_global_norm_shortens_the_gradient_to_the_norm():
    toy, trainer = _trainer(clip_norm=0.5)
    gradient = _hand_gradient(W0)
    assert np.linalg.norm(gradient) > 0.5  # so the clip bites
    trainer.train_step(_batch())
    np.testing.assert_allclose(toy.w.numpy(), W0 - 0.5 * gradient / np.linalg.norm(gradient),
                               rtol=1e-5)


def test_steps_reuse_one_trace_and_stop_at_the_target():
    _, trainer = _trainer(clip_norm=1.0)
    seen = []
    batches = iter([_batch(s) for s in (1.0, 0.5, 2.0, 3.0)])
    trainer.train(batches, until_step=3, on_step=lambda step, losses: seen.append(step))
    assert seen == [1, 2, 3]
    assert trainer.num_traces == 1


def test_a_non_finite_loss_names_the_step_and_the_losses():
    toy, trainer = _trainer(clip_norm=0.0)
    trainer.train_step(_batch())
    prior = 0.1 * float(np.sum(toy.w.numpy() ** 2))
    with pytest.raises(NonFiniteLossError) as caught:
        trainer.train_step(_batch(float("nan")))
    assert caught.value.step == 2
    message = str(caught.value)
    assert message == ("non-finite loss at step 2: Loss/fit = nan, Loss/total_loss = nan "
                       f"(finite: Loss/prior = {prior:.6g})")


def test_train_settings_read_the_config_and_refuse_what_is_not_implemented():
    config = train_pb2.TrainConfig(batch_size=4, gradient_clipping_by_norm=10.0,
                                   add_regularization_loss=False, freeze_variables=["Conv/"])
    settings = TrainSettings.from_config(config)
    assert settings == TrainSettings(4, 10.0, False, (), ("Conv/",))
    with pytest.raises(ValueError, match="train_config.bias_grad_multiplier: not supported"):
        TrainSettings.from_config(train_pb2.TrainConfig(bias_grad_multiplier=2.0))
    with pytest.raises(ValueError, match="gradient_clipping_by_norm must be >= 0"):
        TrainSettings.from_config(train_pb2.TrainConfig(gradient_clipping_by_norm=-1.0))


def test_freeze_and_update_patterns_select_by_tf1_names(tiny_config):
    model = model_builder.build(tiny_config().model, is_training=True, seed=1)
    model.ensure_built()
    names = model.checkpoint_variable_map("detection")
    by_id = {id(v): n for n, v in names.items()}
    frozen = select_trainable_variables(model, (), ["FirstStageFeatureExtractor/"])
    kept = {by_id[id(v)] for v in frozen}
    trainable = {by_id[id(v)] for v in model.trainable_variables}
    assert kept == {n for n in trainable if not n.startswith("FirstStageFeatureExtractor/")}
    heads = select_trainable_variables(model, ["SecondStageBoxPredictor/"], ())
    assert {by_id[id(v)] for v in heads} == {
        n for n in trainable if n.startswith("SecondStageBoxPredictor/")}
    with pytest.raises(ValueError, match="leave no variable to train"):
        select_trainable_variables(model, ["NoSuchScope/"], ())
