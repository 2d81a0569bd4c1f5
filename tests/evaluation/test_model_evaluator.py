"""The evaluation step's rules: which metrics, moving averages swapped in and out, and the
model's sampler state left as training had it."""

from __future__ import annotations

import keras
import numpy as np
import pytest

from object_detection.protos import eval_pb2
from object_detection.evaluation import model_evaluator


def test_metrics_sets_choose_mask_metrics():
    assert model_evaluator.include_masks(eval_pb2.EvalConfig(metrics_set=["coco_mask_metrics"]), True)
    assert not model_evaluator.include_masks(
        eval_pb2.EvalConfig(metrics_set=["coco_detection_metrics"]), True)
    assert model_evaluator.include_masks(eval_pb2.EvalConfig(), True)
    assert not model_evaluator.include_masks(eval_pb2.EvalConfig(), False)
    with pytest.raises(ValueError, match="coco_mask_metrics but the model predicts no masks"):
        model_evaluator.include_masks(eval_pb2.EvalConfig(metrics_set=["coco_mask_metrics"]), False)
    with pytest.raises(ValueError, match="metrics_set: not supported: pascal_voc_detection"):
        model_evaluator.include_masks(eval_pb2.EvalConfig(metrics_set=["pascal_voc_detection"]), True)


def test_moving_averages_are_swapped_in_for_the_block_only():
    weights = keras.Variable(np.array([1.0, 2.0], np.float32))
    optimizer = keras.optimizers.SGD(learning_rate=1.0, use_ema=True, ema_momentum=0.5)
    optimizer.build([weights])
    optimizer.apply_gradients([(np.array([1.0, 1.0], np.float32), weights)])  # -> [0, 1]
    optimizer.apply_gradients([(np.array([1.0, 1.0], np.float32), weights)])  # -> [-1, 0]
    # The first update copies the weights ([0, 1]); then 0.5 * average + 0.5 * weights.
    expected_average = [-0.5, 0.5]
    with model_evaluator.moving_averages_swapped_in([weights], optimizer):
        np.testing.assert_allclose(weights.numpy(), expected_average)
    np.testing.assert_allclose(weights.numpy(), [-1.0, 0.0])
    plain = keras.optimizers.SGD(learning_rate=1.0)
    with model_evaluator.moving_averages_swapped_in([weights], plain):
        np.testing.assert_allclose(weights.numpy(), [-1.0, 0.0])


def test_the_sampler_state_is_restored_after_an_evaluation():
    class Model:
        seed_generator = keras.random.SeedGenerator(3)

    model = Model()
    before = model.seed_generator.state.numpy().copy()
    with model_evaluator._seed_state_kept(model):
        model.seed_generator.next()
        assert not np.array_equal(model.seed_generator.state.numpy(), before)
    np.testing.assert_array_equal(model.seed_generator.state.numpy(), before)
