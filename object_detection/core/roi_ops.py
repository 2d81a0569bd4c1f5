"""Region-of-interest feature cropping (TF OD API ``native_crop_and_resize``).

Coordinates follow ``tf.image.crop_and_resize``: a normalized coordinate ``y`` is sampled at
row ``y * (H - 1)`` of a map with H rows, so 0 is the centre of the first cell and 1 the
centre of the last; a crop of size c samples c points evenly from the box's top to its bottom
(bilinear), and 0 outside the map.

A box edge on the map's far edge (a coordinate in ``(1 - FAR_EDGE_INSET, 1]``, as every box
clipped to an unpadded image has) is moved inside by ``FAR_EDGE_INSET``. TF's kernel computes
the last sample's row as ``y1 * (H - 1) + (c - 1) * height_scale``, which rounds to just above
``H - 1`` for about 1 box in 20 with ``y2 = 1``: that row of the crop then reads 0
(extrapolation) instead of the last row of the map. ONNX Runtime and OpenVINO round it the
other way, so without the inset their crops, and through them boxes and scores, differ from
TensorFlow's on such boxes (by 4e-4 on a tiny model's box). Moved by 1e-6 (0.0002 feature
rows of a 200-row map), the sample lands on the last row: measured in TF on 5000 random boxes
for each map height of 8 to 1024 and crop size 7, 14 and 33, none read 0 (without the inset,
1.5 to 8 % did).
"""

from __future__ import annotations

from collections.abc import Sequence

import tensorflow as tf

FAR_EDGE_INSET = 1e-6


def crop_and_resize(features: tf.Tensor, boxes: tf.Tensor,
                    crop_size: int | Sequence[int]) -> tf.Tensor:
    """Crops ``[B * N, ch, cw, C]`` (image-major) from features ``[B, H, W, C]`` at boxes
    ``[B, N, 4]`` normalized to the feature map's image area (``[0, 1]`` spans the map)."""
    if isinstance(crop_size, int):
        crop_size = (crop_size, crop_size)
    boxes = tf.convert_to_tensor(boxes, tf.float32)
    boxes = inset_far_edges(boxes)
    batch = tf.shape(boxes)[0]
    num_boxes = tf.shape(boxes)[1]
    box_indices = tf.repeat(tf.range(batch), num_boxes)
    return tf.image.crop_and_resize(features, tf.reshape(boxes, [-1, 4]), box_indices,
                                    list(crop_size))


def inset_far_edges(boxes: tf.Tensor) -> tf.Tensor:
    """``boxes`` (normalized, ``[..., 4]``) with every coordinate in ``(1 - FAR_EDGE_INSET,
    1]`` set to ``1 - FAR_EDGE_INSET`` (see the module docstring); the others unchanged."""
    near = (boxes > 1.0 - FAR_EDGE_INSET) & (boxes <= 1.0)
    return tf.where(near, tf.constant(1.0 - FAR_EDGE_INSET, boxes.dtype), boxes)
