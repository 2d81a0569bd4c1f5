"""Region-of-interest feature cropping (TF OD API ``native_crop_and_resize``).

Coordinates follow ``tf.image.crop_and_resize``: a normalized coordinate ``y`` is sampled at
row ``y * (H - 1)`` of a map with H rows, so 0 is the centre of the first cell and 1 the
centre of the last; a crop of size c samples c points evenly from the box's top to its bottom
(bilinear), and 0 outside the map.
"""

from __future__ import annotations

from typing import Sequence

import tensorflow as tf


def crop_and_resize(features: tf.Tensor, boxes: tf.Tensor,
                    crop_size: int | Sequence[int]) -> tf.Tensor:
    """Crops ``[B * N, ch, cw, C]`` (image-major) from features ``[B, H, W, C]`` at boxes
    ``[B, N, 4]`` normalized to the feature map's image area (``[0, 1]`` spans the map)."""
    if isinstance(crop_size, int):
        crop_size = (crop_size, crop_size)
    boxes = tf.convert_to_tensor(boxes, tf.float32)
    batch = tf.shape(boxes)[0]
    num_boxes = tf.shape(boxes)[1]
    box_indices = tf.repeat(tf.range(batch), num_boxes)
    return tf.image.crop_and_resize(features, tf.reshape(boxes, [-1, 4]), box_indices,
                                    list(crop_size))
