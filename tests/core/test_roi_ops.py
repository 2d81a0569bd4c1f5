"""crop_and_resize alignment on a feature map whose values are their own coordinates."""

from __future__ import annotations

import numpy as np

from object_detection.core.roi_ops import crop_and_resize

H, W = 9, 11


def _coordinate_features(batch=2):
    """[B, H, W, 3]: channel 0 = row, 1 = column, 2 = image index."""
    rows, cols = np.meshgrid(np.arange(H), np.arange(W), indexing="ij")
    return np.stack([np.stack([rows, cols, np.full_like(rows, b)], -1) for b in range(batch)]
                    ).astype(np.float32)


def test_crop_at_known_pixels():
    # Rows 2..6 and columns 1..5 in normalized coordinates (pixel p sits at p / (size - 1)).
    box = [2 / (H - 1), 1 / (W - 1), 6 / (H - 1), 5 / (W - 1)]
    boxes = np.array([[box], [box]], np.float32)       # [B=2, N=1, 4]
    crops = crop_and_resize(_coordinate_features(), boxes, 5).numpy()
    assert crops.shape == (2, 5, 5, 3)
    np.testing.assert_allclose(crops[0, :, 0, 0], [2, 3, 4, 5, 6], atol=1e-5)
    np.testing.assert_allclose(crops[0, 0, :, 1], [1, 2, 3, 4, 5], atol=1e-5)
    assert crops[1, ..., 2].min() == crops[1, ..., 2].max() == 1.0


def test_half_pixel_samples_and_box_order():
    # A 3 x 2 crop of rows 0..1 and columns 4..5: samples at rows 0, 0.5, 1 (bilinear).
    boxes = np.array([[[0, 4 / (W - 1), 1 / (H - 1), 5 / (W - 1)],
                       [0, 0, 1, 1]]], np.float32)     # [B=1, N=2, 4]
    crops = crop_and_resize(_coordinate_features(1), boxes, (3, 2)).numpy()
    assert crops.shape == (2, 3, 2, 3)
    np.testing.assert_allclose(crops[0, :, 0, 0], [0, 0.5, 1], atol=1e-5)
    np.testing.assert_allclose(crops[0, 0, :, 1], [4, 5], atol=1e-5)
    np.testing.assert_allclose(crops[1, :, 0, 0], [0, 4, 8], atol=1e-5)   # the whole map
    np.testing.assert_allclose(crops[1, 0, :, 1], [0, 10], atol=1e-5)


def test_a_box_on_the_far_edge_samples_the_last_row_and_column():
    """TF's own kernel zeroes the last row of about 1 crop in 20 with y2 = 1 (its sample row
    rounds to just above H - 1); with the far-edge inset every crop of a box reaching the
    bottom-right edge reads the map's last row and column (value 1 everywhere here), as in
    ONNX Runtime and OpenVINO."""
    import tensorflow as tf

    rng = np.random.default_rng(0)
    y1 = rng.uniform(0, 0.9, 2000).astype(np.float32)
    boxes = np.stack([y1, y1[::-1], np.ones_like(y1), np.ones_like(y1)], 1)
    ones = np.ones([1, 8, 8, 1], np.float32)
    raw = tf.image.crop_and_resize(ones, boxes, np.zeros(2000, np.int32), [14, 14]).numpy()
    assert (raw[:, -1, 0, 0] == 0).sum() > 20  # the kernel's rounding, without the inset
    crops = crop_and_resize(ones, boxes[np.newaxis], 14).numpy()
    assert crops.min() == 1.0
    # Coordinates elsewhere are left alone, beyond 1 too (outside the map is still 0).
    outside = crop_and_resize(ones, np.array([[[0, 0, 2, 1]]], np.float32), 3).numpy()
    np.testing.assert_allclose(outside[0, :, 0, 0], [1, 1, 0])  # rows 0, 7, 14
