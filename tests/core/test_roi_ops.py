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


def _random_case(rng, batch, height, width, channels, boxes=9):
    features = rng.normal(size=[batch, height, width, channels]).astype(np.float32)
    # Boxes partly outside [0, 1] too (their samples there read 0), some upside down.
    return features, rng.uniform(-0.3, 1.3, size=[batch, boxes, 4]).astype(np.float32)


def test_gather_crops_equal_tfs_kernel():
    """Under ``gather_crops()`` the crop is built from gathers and gives TF's CropAndResize
    (the default) within 1e-6, for random maps and boxes and crop sizes 1x1, 3x5, 14x14.
    (Run eagerly: in a tf.function grappler's constant folding reorders the sample
    arithmetic of both, moving a sample by an ulp and a value by ~1e-5.)"""
    from object_detection.core import roi_ops

    rng = np.random.default_rng(0)
    for batch, height, width, channels in [(1, 2, 2, 1), (2, 8, 9, 5), (3, 17, 30, 4),
                                           (2, 40, 23, 3)]:
        features, boxes = _random_case(rng, batch, height, width, channels)
        for size in [(1, 1), (3, 5), (14, 14)]:
            want = crop_and_resize(features, boxes, size).numpy()
            with roi_ops.gather_crops():
                got = crop_and_resize(features, boxes, size).numpy()
            assert got.shape == want.shape == (batch * 9, *size, channels)
            assert (want == 0).any()  # samples outside the map, compared too
            np.testing.assert_allclose(got, want, atol=1e-6, rtol=0, err_msg=str(size))
    assert not roi_ops._gather  # restored on leaving


def test_gather_crops_trace_no_crop_and_resize_op():
    import tensorflow as tf

    from object_detection.core import roi_ops

    def ops(spec_shape):
        function = tf.function(lambda f, b: crop_and_resize(f, b, (14, 14)))
        graph = function.get_concrete_function(
            tf.TensorSpec(spec_shape, tf.float32), tf.TensorSpec([None, None, 4])).graph
        return {op.type for op in graph.get_operations()}

    assert "CropAndResize" in ops([None, None, None, 8])  # the default: TF's kernel
    with roi_ops.gather_crops():
        traced = ops([None, None, None, 8])
    assert "CropAndResize" not in traced and "GatherV2" in traced
    assert "CropAndResize" in ops([2, 8, 8, 8])  # the flag is read when tracing only
