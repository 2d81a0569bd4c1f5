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
