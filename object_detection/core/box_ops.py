"""Elementary box operations: areas, pairwise intersection and IoU, clipping, coordinate frames.

Boxes are float32 ``[..., 4]`` = ``[ymin, xmin, ymax, xmax]``, in any frame (normalized or
absolute) as long as both arguments share it. Areas carry no "+1": a box from 2 to 5 is 3 long.
"""

from __future__ import annotations

import tensorflow as tf


def area(boxes: tf.Tensor) -> tf.Tensor:
    """Areas ``[...]`` of boxes ``[..., 4]``."""
    ymin, xmin, ymax, xmax = tf.unstack(boxes, axis=-1)
    return (ymax - ymin) * (xmax - xmin)


def intersection(boxes1: tf.Tensor, boxes2: tf.Tensor) -> tf.Tensor:
    """Pairwise intersection areas ``[..., N, M]`` of boxes1 ``[..., N, 4]`` and boxes2
    ``[..., M, 4]`` (equal leading batch dimensions, or none)."""
    b1 = tf.expand_dims(boxes1, -2)  # [..., N, 1, 4]
    b2 = tf.expand_dims(boxes2, -3)  # [..., 1, M, 4]
    heights = tf.minimum(b1[..., 2], b2[..., 2]) - tf.maximum(b1[..., 0], b2[..., 0])
    widths = tf.minimum(b1[..., 3], b2[..., 3]) - tf.maximum(b1[..., 1], b2[..., 1])
    return tf.maximum(heights, 0.0) * tf.maximum(widths, 0.0)


def iou(boxes1: tf.Tensor, boxes2: tf.Tensor) -> tf.Tensor:
    """Pairwise intersection over union ``[..., N, M]`` (0 where boxes do not intersect).

    boxes1 ``[N, 4]`` with boxes2 ``[M, 4]``, or batched ``[B, N, 4]`` with ``[B, M, 4]``.
    """
    inter = intersection(boxes1, boxes2)
    union = tf.expand_dims(area(boxes1), -1) + tf.expand_dims(area(boxes2), -2) - inter
    nonzero = inter > 0.0
    safe_union = tf.where(nonzero, union, tf.ones_like(union))
    return tf.where(nonzero, inter / safe_union, tf.zeros_like(inter))


def clip_to_window(boxes: tf.Tensor, window: tf.Tensor) -> tf.Tensor:
    """Clips every coordinate of boxes ``[..., 4]`` into window ``[4]`` (or any shape
    broadcastable to ``boxes``, e.g. ``[B, 1, 4]`` for boxes ``[B, N, 4]``), both
    ``[ymin, xmin, ymax, xmax]`` in the same frame. Boxes outside become zero-area."""
    window = tf.cast(window, boxes.dtype)
    ymin, xmin, ymax, xmax = tf.unstack(boxes, axis=-1)
    wymin, wxmin, wymax, wxmax = tf.unstack(window, axis=-1)

    def clamp(value: tf.Tensor, low: tf.Tensor, high: tf.Tensor) -> tf.Tensor:
        return tf.maximum(tf.minimum(value, high), low)

    return tf.stack([clamp(ymin, wymin, wymax), clamp(xmin, wxmin, wxmax),
                     clamp(ymax, wymin, wymax), clamp(xmax, wxmin, wxmax)], axis=-1)


def _scale(boxes: tf.Tensor, y_factor, x_factor) -> tf.Tensor:
    y_factor = tf.cast(y_factor, boxes.dtype)
    x_factor = tf.cast(x_factor, boxes.dtype)
    ymin, xmin, ymax, xmax = tf.unstack(boxes, axis=-1)
    return tf.stack([ymin * y_factor, xmin * x_factor, ymax * y_factor, xmax * x_factor], axis=-1)


def to_absolute(boxes: tf.Tensor, height, width) -> tf.Tensor:
    """Normalized boxes ``[..., 4]`` to pixels of an image ``height`` x ``width`` (scalars, or
    tensors broadcastable to ``boxes[..., 0]``, e.g. ``[B, 1]`` for boxes ``[B, N, 4]``)."""
    return _scale(boxes, height, width)


def to_normalized(boxes: tf.Tensor, height, width) -> tf.Tensor:
    """Pixel boxes ``[..., 4]`` to coordinates normalized by ``height`` and ``width`` (as in
    :func:`to_absolute`)."""
    height = tf.cast(height, boxes.dtype)
    width = tf.cast(width, boxes.dtype)
    return _scale(boxes, 1.0 / height, 1.0 / width)
