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

Inside ``with gather_crops():`` a graph traced calls ``_gather_crop_and_resize`` instead of
``tf.image.crop_and_resize``: the same formula (TF's kernel's, sample for sample) from
``tf.gather`` and arithmetic, for converters without a CropAndResize op (TFLite's builtin
ops: ``export.tflite_format``). The flag is read when the graph is traced, not when it runs.
TF's own kernel stays the default, for training and the TF exports: it is faster and has its
gradient. Run eagerly, the two agree within 1e-6 (tests/core/test_roi_ops.py); in a graph,
grappler's (or the TFLite converter's) constant folding regroups the constant factors of the
sample arithmetic, which can move a sample by an ulp and a crop value by ~1e-5.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Sequence

import tensorflow as tf

FAR_EDGE_INSET = 1e-6

_gather = False  # set by gather_crops(); read when crop_and_resize is traced


@contextlib.contextmanager
def gather_crops() -> Iterator[None]:
    """Within it, ``crop_and_resize`` traces the gather-based crop (no CropAndResize op; see
    the module docstring) instead of TF's kernel."""
    global _gather
    previous, _gather = _gather, True
    try:
        yield
    finally:
        _gather = previous


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
    if _gather:
        return _gather_crop_and_resize(features, tf.reshape(boxes, [-1, 4]), box_indices,
                                       crop_size)
    return tf.image.crop_and_resize(features, tf.reshape(boxes, [-1, 4]), box_indices,
                                    list(crop_size))


def _sample_points(low: tf.Tensor, high: tf.Tensor, size: int, last: tf.Tensor) -> tf.Tensor:
    """[M, size] sample rows (or columns) of boxes from ``low`` to ``high`` ([M, 1],
    normalized) on a map whose last row is ``last``, as TF's CropAndResize kernel computes
    them: ``low * last + i * scale`` with ``scale = (high - low) * last / (size - 1)``, or the
    box's centre ``0.5 * (low + high) * last`` for one sample."""
    if size > 1:
        scale = (high - low) * last / (size - 1)
        return low * last + tf.range(size, dtype=tf.float32)[tf.newaxis] * scale
    return 0.5 * (low + high) * last


def _gather_crop_and_resize(features: tf.Tensor, boxes: tf.Tensor, box_indices: tf.Tensor,
                            crop_size: Sequence[int]) -> tf.Tensor:
    """``tf.image.crop_and_resize(features, boxes, box_indices, crop_size)`` (bilinear,
    extrapolation value 0) from gathers: features ``[B, H, W, C]``, boxes ``[M, 4]``, box
    indices ``[M]`` -> float32 ``[M, ch, cw, C]``. A sample outside ``[0, H - 1] x [0, W - 1]``
    is 0; the others lerp the map's ``floor`` and ``ceil`` rows and columns, first along x,
    then along y, as the kernel does."""
    crop_height, crop_width = crop_size
    features = tf.cast(features, tf.float32)
    shape = tf.shape(features)
    height, width = shape[1], shape[2]
    last_y, last_x = tf.cast(height - 1, tf.float32), tf.cast(width - 1, tf.float32)
    y1, x1, y2, x2 = (boxes[:, i:i + 1] for i in range(4))  # each [M, 1]
    ys = _sample_points(y1, y2, crop_height, last_y)  # [M, ch]
    xs = _sample_points(x1, x2, crop_width, last_x)  # [M, cw]
    # [M, ch, cw, 1]; bools get expand_dims, not new-axis slices (see MaskRCNN._detection_masks)
    inside = (tf.expand_dims(tf.expand_dims((ys >= 0.0) & (ys <= last_y), 2), 3)
              & tf.expand_dims(tf.expand_dims((xs >= 0.0) & (xs <= last_x), 1), 3))
    top, left = tf.floor(ys), tf.floor(xs)
    y_lerp = (ys - top)[:, :, tf.newaxis, tf.newaxis]
    x_lerp = (xs - left)[:, tf.newaxis, :, tf.newaxis]

    def index(values: tf.Tensor, last: tf.Tensor) -> tf.Tensor:  # clamped: outside reads 0
        return tf.cast(tf.clip_by_value(values, 0.0, last), tf.int32)

    top_row, bottom_row = index(top, last_y), index(tf.math.ceil(ys), last_y)
    left_col, right_col = index(left, last_x), index(tf.math.ceil(xs), last_x)
    pixels = tf.reshape(features, [-1, tf.shape(features)[3]])  # [B * H * W, C]
    first = (tf.cast(box_indices, tf.int32) * height * width)[:, tf.newaxis, tf.newaxis]

    def at(rows: tf.Tensor, cols: tf.Tensor) -> tf.Tensor:  # [M, ch, cw, C]
        return tf.gather(pixels, first + rows[:, :, tf.newaxis] * width
                         + cols[:, tf.newaxis, :])

    top_left, top_right = at(top_row, left_col), at(top_row, right_col)
    bottom_left, bottom_right = at(bottom_row, left_col), at(bottom_row, right_col)
    upper = top_left + (top_right - top_left) * x_lerp
    lower = bottom_left + (bottom_right - bottom_left) * x_lerp
    crops = upper + (lower - upper) * y_lerp
    return tf.where(inside, crops, tf.zeros_like(crops))


def inset_far_edges(boxes: tf.Tensor) -> tf.Tensor:
    """``boxes`` (normalized, ``[..., 4]``) with every coordinate in ``(1 - FAR_EDGE_INSET,
    1]`` set to ``1 - FAR_EDGE_INSET`` (see the module docstring); the others unchanged."""
    near = (boxes > 1.0 - FAR_EDGE_INSET) & (boxes <= 1.0)
    return tf.where(near, tf.constant(1.0 - FAR_EDGE_INSET, boxes.dtype), boxes)
