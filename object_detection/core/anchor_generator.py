"""Grid anchors of Faster R-CNN, with the TF Object Detection API's GridAnchorGenerator semantics.

An anchor with scale ``s`` and aspect ratio ``r`` (width / height) has height
``s / sqrt(r) * base_height`` and width ``s * sqrt(r) * base_width``; the anchors of feature
cell ``(i, j)`` are centred at ``(i * stride_y + offset_y, j * stride_x + offset_x)`` pixels of
the resized image. Order (so RPN head outputs line up with OD API checkpoints): location-major
(row, then column), then within a location aspect-ratio-major, then scale::

    index = ((row * W + col) * len(aspect_ratios) + ratio_index) * len(scales) + scale_index
"""

from __future__ import annotations

from typing import Sequence

import tensorflow as tf


class GridAnchorGenerator:
    """Anchors on a regular grid of one feature map, in ABSOLUTE pixels of the resized image."""

    def __init__(self, scales: Sequence[float], aspect_ratios: Sequence[float],
                 base_anchor_size: Sequence[float] = (256, 256),
                 anchor_stride: Sequence[float] = (16, 16),
                 anchor_offset: Sequence[float] = (0, 0)):
        if not scales or not aspect_ratios:
            raise ValueError("grid anchor generator: needs at least one scale and one aspect "
                             f"ratio, got scales={list(scales)}, "
                             f"aspect_ratios={list(aspect_ratios)}")
        if any(r <= 0 for r in aspect_ratios) or any(s <= 0 for s in scales):
            raise ValueError("grid anchor generator: scales and aspect ratios must be positive, "
                             f"got scales={list(scales)}, aspect_ratios={list(aspect_ratios)}")
        for name, pair in (("base_anchor_size", base_anchor_size),
                           ("anchor_stride", anchor_stride), ("anchor_offset", anchor_offset)):
            if len(pair) != 2:
                raise ValueError(f"grid anchor generator: {name} must be (height, width), "
                                 f"got {list(pair)}")
        self.scales = [float(s) for s in scales]
        self.aspect_ratios = [float(r) for r in aspect_ratios]
        self.base_anchor_size = [float(v) for v in base_anchor_size]
        self.anchor_stride = [float(v) for v in anchor_stride]
        self.anchor_offset = [float(v) for v in anchor_offset]

    def num_anchors_per_location(self) -> int:
        """A = len(scales) * len(aspect_ratios)."""
        return len(self.scales) * len(self.aspect_ratios)

    def anchor_sizes(self) -> tf.Tensor:
        """float32 ``[A, 2]`` (height, width) of the anchors of one location, in order."""
        scales = tf.constant(self.scales, tf.float32)[tf.newaxis, :]          # [1, S]
        ratio_sqrts = tf.sqrt(tf.constant(self.aspect_ratios, tf.float32))[:, tf.newaxis]  # [R, 1]
        heights = tf.reshape(scales / ratio_sqrts * self.base_anchor_size[0], [-1])
        widths = tf.reshape(scales * ratio_sqrts * self.base_anchor_size[1], [-1])
        return tf.stack([heights, widths], axis=1)

    def generate(self, feature_height, feature_width) -> tf.Tensor:
        """float32 ``[H * W * A, 4]`` absolute ``[ymin, xmin, ymax, xmax]`` anchors for a feature
        map of ``feature_height`` x ``feature_width`` (ints or int32 scalar tensors)."""
        sizes = self.anchor_sizes()                                            # [A, 2]
        y_centres = (tf.cast(tf.range(feature_height), tf.float32) * self.anchor_stride[0]
                     + self.anchor_offset[0])
        x_centres = (tf.cast(tf.range(feature_width), tf.float32) * self.anchor_stride[1]
                     + self.anchor_offset[1])
        yc = y_centres[:, tf.newaxis, tf.newaxis]                              # [H, 1, 1]
        xc = x_centres[tf.newaxis, :, tf.newaxis]                              # [1, W, 1]
        half_h = 0.5 * sizes[:, 0][tf.newaxis, tf.newaxis, :]                  # [1, 1, A]
        half_w = 0.5 * sizes[:, 1][tf.newaxis, tf.newaxis, :]
        zeros = tf.zeros_like(yc + xc + half_h)                                # [H, W, A]
        anchors = tf.stack([yc - half_h + zeros, xc - half_w + zeros,
                            yc + half_h + zeros, xc + half_w + zeros], axis=-1)
        return tf.reshape(anchors, [-1, 4])


def from_config(config) -> GridAnchorGenerator:
    """Builds from a ``grid_anchor_generator_pb2.GridAnchorGenerator`` message (defaults from the
    proto: base size 256 x 256, stride 16, offset 0)."""
    return GridAnchorGenerator(
        scales=list(config.scales),
        aspect_ratios=list(config.aspect_ratios),
        base_anchor_size=(config.height, config.width),
        anchor_stride=(config.height_stride, config.width_stride),
        anchor_offset=(config.height_offset, config.width_offset))
