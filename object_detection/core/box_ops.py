"""Elementary box operations: areas, pairwise intersection and IoU, clipping, coordinate frames.

Boxes are float32 ``[..., 4]`` = ``[ymin, xmin, ymax, xmax]``, in any frame (normalized or
absolute) as long as both arguments share it. Areas carry no "+1": a box from 2 to 5 is 3 long.

The one conversion between normalized boxes and pixels (every module converts here):

* Convention: a normalized box is ``[ymin, xmin, ymax, xmax]`` in ``[0, 1]`` of the image's
  height ``H`` and width ``W``, with pixel edges: a box over pixel columns ``c0 .. c1``
  (inclusive) has ``xmin = c0 / W`` and ``xmax = (c1 + 1) / W``; in absolute pixels it is
  ``[ymin * H, xmin * W, ymax * H, xmax * W]``.
* ``to_absolute`` / ``to_normalized``: tensors, unrounded (inside the model and losses).
* ``absolute_pixels`` / ``normalized_from_pixels``: numpy, float64. Absolute coordinates are
  rounded to 1/1000 pixel (``PIXEL_DECIMALS``): the float32 normalized boxes of the records and
  of the model hold no more than that (up to 16000 px), so a box that came from whole or half
  pixels comes back exactly.
* ``to_coco`` / ``from_coco``: COCO ``[x, y, width, height]`` floats in pixels, rounded as
  ``absolute_pixels`` (the evaluator and the written ground truth alike).
* ``to_pixel_crops``: integer ``(left, top, right, bottom)`` with right and bottom exclusive
  (numpy slices, ``PIL.Image.crop``): floor of the minimum, ceiling of the maximum of the
  rounded absolute box, so the crop covers the box exactly; normalized values are clipped to
  ``[0, 1]`` first, and every box keeps at least one pixel inside the image.

TensorFlow is imported by the tensor operations only (when first called), so that the numpy
users (``core.detections``, apps, dataset tools) do not load it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    import tensorflow as tf

PIXEL_DECIMALS = 3  # absolute pixel coordinates are kept to 1/1000 pixel


def _tf():
    import tensorflow as tf  # lazily: see the module docstring

    return tf


def area(boxes: tf.Tensor) -> tf.Tensor:
    """Areas ``[...]`` of boxes ``[..., 4]``."""
    tf = _tf()
    ymin, xmin, ymax, xmax = tf.unstack(boxes, axis=-1)
    return (ymax - ymin) * (xmax - xmin)


def intersection(boxes1: tf.Tensor, boxes2: tf.Tensor) -> tf.Tensor:
    """Pairwise intersection areas ``[..., N, M]`` of boxes1 ``[..., N, 4]`` and boxes2
    ``[..., M, 4]`` (equal leading batch dimensions, or none)."""
    tf = _tf()
    b1 = tf.expand_dims(boxes1, -2)  # [..., N, 1, 4]
    b2 = tf.expand_dims(boxes2, -3)  # [..., 1, M, 4]
    heights = tf.minimum(b1[..., 2], b2[..., 2]) - tf.maximum(b1[..., 0], b2[..., 0])
    widths = tf.minimum(b1[..., 3], b2[..., 3]) - tf.maximum(b1[..., 1], b2[..., 1])
    return tf.maximum(heights, 0.0) * tf.maximum(widths, 0.0)


def iou(boxes1: tf.Tensor, boxes2: tf.Tensor) -> tf.Tensor:
    """Pairwise intersection over union ``[..., N, M]`` (0 where boxes do not intersect).

    boxes1 ``[N, 4]`` with boxes2 ``[M, 4]``, or batched ``[B, N, 4]`` with ``[B, M, 4]``.
    """
    tf = _tf()
    inter = intersection(boxes1, boxes2)
    union = tf.expand_dims(area(boxes1), -1) + tf.expand_dims(area(boxes2), -2) - inter
    nonzero = inter > 0.0
    safe_union = tf.where(nonzero, union, tf.ones_like(union))
    return tf.where(nonzero, inter / safe_union, tf.zeros_like(inter))


def clip_to_window(boxes: tf.Tensor, window: tf.Tensor) -> tf.Tensor:
    """Clips every coordinate of boxes ``[..., 4]`` into window ``[4]`` (or any shape
    broadcastable to ``boxes``, e.g. ``[B, 1, 4]`` for boxes ``[B, N, 4]``), both
    ``[ymin, xmin, ymax, xmax]`` in the same frame. Boxes outside become zero-area."""
    tf = _tf()
    window = tf.cast(window, boxes.dtype)
    ymin, xmin, ymax, xmax = tf.unstack(boxes, axis=-1)
    wymin, wxmin, wymax, wxmax = tf.unstack(window, axis=-1)

    def clamp(value: tf.Tensor, low: tf.Tensor, high: tf.Tensor) -> tf.Tensor:
        return tf.maximum(tf.minimum(value, high), low)

    return tf.stack([clamp(ymin, wymin, wymax), clamp(xmin, wxmin, wxmax),
                     clamp(ymax, wymin, wymax), clamp(xmax, wxmin, wxmax)], axis=-1)


def _scale(boxes, y_factor, x_factor, stack):
    """``boxes [..., 4]`` with y times ``y_factor`` and x times ``x_factor``: the one formula
    of every conversion, for tensors (``tf.stack``) and arrays (``np.stack``) alike."""
    return stack([boxes[..., 0] * y_factor, boxes[..., 1] * x_factor,
                  boxes[..., 2] * y_factor, boxes[..., 3] * x_factor], axis=-1)


def to_absolute(boxes: tf.Tensor, height, width) -> tf.Tensor:
    """Normalized boxes ``[..., 4]`` to pixels of an image ``height`` x ``width`` (scalars, or
    tensors broadcastable to ``boxes[..., 0]``, e.g. ``[B, 1]`` for boxes ``[B, N, 4]``); a
    tensor of the boxes' dtype, unrounded."""
    tf = _tf()
    boxes = tf.convert_to_tensor(boxes)
    return _scale(boxes, tf.cast(height, boxes.dtype), tf.cast(width, boxes.dtype), tf.stack)


def to_normalized(boxes: tf.Tensor, height, width) -> tf.Tensor:
    """Pixel boxes ``[..., 4]`` to coordinates normalized by ``height`` and ``width`` (as in
    :func:`to_absolute`)."""
    tf = _tf()
    boxes = tf.convert_to_tensor(boxes)
    height = tf.cast(height, boxes.dtype)
    width = tf.cast(width, boxes.dtype)
    return _scale(boxes, 1.0 / height, 1.0 / width, tf.stack)


def _as_boxes(boxes) -> np.ndarray:
    return np.asarray(boxes, np.float64).reshape(-1, 4)


def absolute_pixels(boxes, height: float, width: float) -> np.ndarray:
    """float64 ``[N, 4]`` ``[ymin, xmin, ymax, xmax]`` pixels of normalized boxes ``[N, 4]``
    (or ``[4]``) in an image of ``height`` x ``width``, rounded to 1/1000 pixel."""
    absolute = _scale(_as_boxes(boxes), float(height), float(width), np.stack)
    return np.round(absolute, PIXEL_DECIMALS) + 0.0  # + 0.0: no -0.0


def normalized_from_pixels(boxes, height: float, width: float) -> np.ndarray:
    """float64 ``[N, 4]`` normalized boxes of pixel boxes ``[N, 4]`` (or ``[4]``)
    ``[ymin, xmin, ymax, xmax]`` in an image of ``height`` x ``width`` (unrounded)."""
    boxes = _as_boxes(boxes)
    height, width = float(height), float(width)
    return np.stack([boxes[:, 0] / height, boxes[:, 1] / width, boxes[:, 2] / height,
                     boxes[:, 3] / width], axis=-1)


def to_coco(boxes, height: float, width: float) -> np.ndarray:
    """float64 ``[N, 4]`` COCO ``[x, y, width, height]`` pixels of normalized boxes ``[N, 4]``
    (or ``[4]``), rounded to 1/1000 pixel (``absolute_pixels``)."""
    ymin, xmin, ymax, xmax = absolute_pixels(boxes, height, width).T
    sizes = np.round(np.stack([xmax - xmin, ymax - ymin], axis=1), PIXEL_DECIMALS)
    return np.concatenate([np.stack([xmin, ymin], axis=1), sizes], axis=1) + 0.0


def from_coco(bboxes, height: float, width: float) -> np.ndarray:
    """float64 ``[N, 4]`` normalized ``[ymin, xmin, ymax, xmax]`` of COCO ``[x, y, width,
    height]`` pixel boxes ``[N, 4]`` (or ``[4]``)."""
    x, y, w, h = _as_boxes(bboxes).T
    return normalized_from_pixels(np.stack([y, x, y + h, x + w], axis=1), height, width)


def to_pixel_crops(boxes, height: int, width: int) -> np.ndarray:
    """int64 ``[N, 4]`` ``(left, top, right, bottom)`` crops of normalized boxes ``[N, 4]``
    (or ``[4]``) in an image of ``height`` x ``width``, right and bottom exclusive.

    The normalized values are clipped to ``[0, 1]``; then ``left = floor(W * xmin)``,
    ``right = ceil(W * xmax)`` (likewise rows) of the absolute box rounded to 1/1000 pixel, so
    that a box over whole pixels crops exactly those; clipped to the image, and every box keeps
    at least one pixel (a box on the far edge keeps the last one).
    """
    clipped = np.clip(_as_boxes(boxes), 0.0, 1.0)
    ymin, xmin, ymax, xmax = absolute_pixels(clipped, height, width).T
    left = np.minimum(np.floor(xmin), width - 1)
    top = np.minimum(np.floor(ymin), height - 1)
    right = np.maximum(np.minimum(np.ceil(xmax), width), left + 1)
    bottom = np.maximum(np.minimum(np.ceil(ymax), height), top + 1)
    return np.stack([left, top, right, bottom], axis=-1).astype(np.int64).reshape(-1, 4)
