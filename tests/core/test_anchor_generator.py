"""Grid anchors: counts, centres and sizes by hand; the order against an independent numpy
reimplementation of the OD API formula (meshgrid of scales and aspect ratios)."""

from __future__ import annotations

import numpy as np
import pytest

from object_detection.core.anchor_generator import GridAnchorGenerator, from_config
from object_detection.protos import grid_anchor_generator_pb2


def _odapi_numpy_anchors(grid_h, grid_w, scales, ratios, base, stride, offset):
    """The OD API tile_anchors formula, written with numpy meshgrids."""
    scales_grid, ratios_grid = np.meshgrid(scales, ratios)  # [R, S]: ratio-major
    scales_grid, ratios_grid = scales_grid.ravel(), ratios_grid.ravel()
    heights = scales_grid / np.sqrt(ratios_grid) * base[0]
    widths = scales_grid * np.sqrt(ratios_grid) * base[1]
    y = np.arange(grid_h) * stride[0] + offset[0]
    x = np.arange(grid_w) * stride[1] + offset[1]
    x, y = np.meshgrid(x, y)                                   # [H, W]
    out = []
    for yc, xc in zip(y.ravel(), x.ravel()):
        for h, w in zip(heights, widths):
            out.append([yc - h / 2, xc - w / 2, yc + h / 2, xc + w / 2])
    return np.array(out, np.float32)


def test_small_grid_by_hand():
    gen = GridAnchorGenerator(scales=(0.5, 1.0), aspect_ratios=(1.0, 4.0),
                              base_anchor_size=(16, 16), anchor_stride=(8, 8),
                              anchor_offset=(4, 4))
    assert gen.num_anchors_per_location() == 4
    anchors = gen.generate(2, 3).numpy()
    assert anchors.shape == (2 * 3 * 4, 4)
    # Location (0, 0), centre (4, 4): ratio 1 x scales 0.5 and 1, then ratio 4 (h/2, w*2).
    np.testing.assert_allclose(anchors[:4], [[0, 0, 8, 8], [-4, -4, 12, 12],
                                             [2, -4, 6, 12], [0, -12, 8, 20]])
    # Location (1, 2) starts at anchor (1 * 3 + 2) * 4 = 20; its centre is (12, 20).
    np.testing.assert_allclose(anchors[20], [8, 16, 16, 24])
    centres = (anchors[:, :2] + anchors[:, 2:]) / 2
    np.testing.assert_allclose(centres[::4],
                               [[4, 4], [4, 12], [4, 20], [12, 4], [12, 12], [12, 20]])


def test_order_matches_odapi_formula():
    args = dict(scales=(0.25, 0.5, 1.0, 2.0), aspect_ratios=(0.5, 1.0, 2.0),
                base_anchor_size=(256, 192), anchor_stride=(16, 8), anchor_offset=(3, 5))
    gen = GridAnchorGenerator(**args)
    got = gen.generate(5, 7).numpy()
    expected = _odapi_numpy_anchors(5, 7, args["scales"], args["aspect_ratios"],
                                    args["base_anchor_size"], args["anchor_stride"],
                                    args["anchor_offset"])
    np.testing.assert_allclose(got, expected, rtol=1e-5, atol=1e-3)


def test_generate_with_tensor_sizes_inside_tf_function():
    import tensorflow as tf
    gen = GridAnchorGenerator(scales=(1.0,), aspect_ratios=(1.0, 2.0))
    out = tf.function(gen.generate)(tf.constant(3), tf.constant(4))
    assert out.shape == (24, 4)


def test_from_config_uses_proto_defaults():
    config = grid_anchor_generator_pb2.GridAnchorGenerator(scales=[0.5, 1.0],
                                                           aspect_ratios=[1.0])
    gen = from_config(config)
    assert gen.base_anchor_size == [256, 256]
    assert gen.anchor_stride == [16, 16]
    assert gen.anchor_offset == [0, 0]
    np.testing.assert_allclose(gen.generate(1, 2).numpy(),
                               [[-64, -64, 64, 64], [-128, -128, 128, 128],
                                [-64, -48, 64, 80], [-128, -112, 128, 144]])


def test_empty_scales_are_refused():
    with pytest.raises(ValueError, match="at least one scale"):
        from_config(grid_anchor_generator_pb2.GridAnchorGenerator(aspect_ratios=[1.0]))
