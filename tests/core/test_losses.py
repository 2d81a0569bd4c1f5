"""Losses against numpy formulas."""

from __future__ import annotations

import numpy as np

from object_detection.core import losses

RNG = np.random.default_rng(5)


def test_smooth_l1_by_hand_and_against_numpy():
    pred = np.array([[[0.5, -2.0, 0.0, 3.0]]], np.float32)
    target = np.zeros((1, 1, 4), np.float32)
    # 0.5 * 0.25 + (2 - 0.5) + 0 + (3 - 0.5) = 4.125
    np.testing.assert_allclose(losses.smooth_l1(pred, target, np.ones((1, 1))).numpy(), [[4.125]])

    pred = RNG.normal(size=(2, 6, 4)).astype(np.float32) * 2
    target = RNG.normal(size=(2, 6, 4)).astype(np.float32)
    weights = RNG.uniform(size=(2, 6)).astype(np.float32)
    delta = 0.7
    d = np.abs(pred - target)
    huber = np.where(d <= delta, 0.5 * d ** 2, delta * (d - 0.5 * delta))
    expected = huber.sum(-1) * weights
    np.testing.assert_allclose(losses.smooth_l1(pred, target, weights, delta).numpy(), expected,
                               rtol=1e-5)


def test_softmax_cross_entropy_against_numpy():
    logits = RNG.normal(size=(2, 5, 3)).astype(np.float32) * 3
    labels = np.eye(3, dtype=np.float32)[RNG.integers(0, 3, size=(2, 5))]
    weights = RNG.uniform(size=(2, 5)).astype(np.float32)
    for scale in (1.0, 2.0):
        z = logits / scale
        log_softmax = z - np.log(np.exp(z).sum(-1, keepdims=True))
        expected = -(labels * log_softmax).sum(-1) * weights
        got = losses.softmax_cross_entropy(logits, labels, weights, logit_scale=scale).numpy()
        np.testing.assert_allclose(got, expected, rtol=1e-5)


def test_sigmoid_cross_entropy_against_numpy():
    logits = RNG.normal(size=(2, 3, 4, 4)).astype(np.float32) * 4
    labels = RNG.uniform(size=(2, 3, 4, 4)).astype(np.float32)
    weights = RNG.uniform(size=(2, 3, 1, 1)).astype(np.float32)
    p = 1 / (1 + np.exp(-logits.astype(np.float64)))
    expected = -(labels * np.log(p) + (1 - labels) * np.log(1 - p)) * weights
    got = losses.sigmoid_cross_entropy(logits, labels, weights).numpy()
    assert got.shape == logits.shape
    np.testing.assert_allclose(got, expected, rtol=1e-4, atol=1e-6)
