"""Faster R-CNN box coder: a hand-computed encoding and encode/decode round trips."""

from __future__ import annotations

import numpy as np
import pytest

from object_detection.core.box_coder import FasterRcnnBoxCoder


def test_hand_computed_encoding():
    anchor = np.array([[0, 0, 10, 10]], np.float32)   # centre (5, 5), 10 x 10
    box = np.array([[2, 4, 12, 8]], np.float32)        # centre (7, 6), 10 x 4
    codes = FasterRcnnBoxCoder().encode(box, anchor).numpy()
    np.testing.assert_allclose(codes, [[2.0, 1.0, 0.0, 5 * np.log(0.4)]], rtol=1e-5, atol=1e-6)
    unscaled = FasterRcnnBoxCoder(scale_factors=None).encode(box, anchor).numpy()
    np.testing.assert_allclose(unscaled, [[0.2, 0.1, 0.0, np.log(0.4)]], rtol=1e-5, atol=1e-6)


def test_round_trip_any_leading_shape():
    rng = np.random.default_rng(1)

    def random_boxes(shape):
        lo = rng.uniform(0, 100, size=shape + (2,))
        hi = lo + rng.uniform(1, 50, size=shape + (2,))
        return np.concatenate([lo, hi], -1).astype(np.float32)

    boxes, anchors = random_boxes((2, 5)), random_boxes((2, 5))
    coder = FasterRcnnBoxCoder((10.0, 10.0, 5.0, 5.0))
    codes = coder.encode(boxes, anchors)
    assert codes.shape == (2, 5, 4)
    np.testing.assert_allclose(coder.decode(codes, anchors).numpy(), boxes, rtol=1e-4, atol=1e-3)
    # Decoding zero codes gives the anchors back.
    np.testing.assert_allclose(coder.decode(np.zeros((2, 5, 4), np.float32), anchors).numpy(),
                               anchors, rtol=1e-6, atol=1e-4)


def test_bad_scale_factors():
    with pytest.raises(ValueError, match="scale_factors"):
        FasterRcnnBoxCoder((10.0, 10.0, 5.0))
