"""Conversions between box-relative masks and image masks (TF OD API semantics).

Both directions follow ``tf.image.crop_and_resize``'s sampling grid, which puts normalized
coordinate ``t`` at pixel ``t * (size - 1)``: image pixel row ``i`` of an H-row image sits at
``i / (H - 1)``. So a box mask reframed into ``[ymin, xmin, ymax, xmax]`` covers exactly the
pixels with ``ymin <= i / (H - 1) <= ymax`` (likewise for columns; a pixel on the edge is in,
up to float rounding), is bilinearly resampled there, and is 0 elsewhere.
"""

from __future__ import annotations

import tensorflow as tf

# Pixels this close (in normalized image coordinates) outside a box edge still count as on it,
# so that an edge computed as e.g. 14 / 20 in float32 keeps its pixel.
_EDGE_TOLERANCE = 1e-6


def _reframe_weights(starts: tf.Tensor, ends: tf.Tensor, out_size, in_size) -> tf.Tensor:
    """float32 ``[N, out_size, in_size]``: bilinear weights of the ``in_size`` box-mask cells
    for each of the ``out_size`` image pixels along one axis; all 0 for pixels off the box.

    Image pixel ``i`` sits at ``t = i / (out_size - 1)`` (0.5 for a single pixel), i.e. at
    box-mask coordinate ``(t - start) / (end - start) * (in_size - 1)``.
    """
    out_size = tf.convert_to_tensor(out_size, tf.int32)
    last = tf.cast(tf.maximum(out_size - 1, 1), tf.float32)
    t = tf.where(out_size > 1, tf.cast(tf.range(out_size), tf.float32) / last, 0.5)  # [out]
    t = t[tf.newaxis, :]
    starts = starts[:, tf.newaxis]
    ends = ends[:, tf.newaxis]
    inside = (t >= starts - _EDGE_TOLERANCE) & (t <= ends + _EDGE_TOLERANCE)       # [N, out]
    extent = tf.maximum(ends - starts, 1e-4)
    cells = float(in_size - 1)
    position = tf.clip_by_value((t - starts) / extent * cells, 0.0, cells)         # [N, out]
    grid = tf.range(in_size, dtype=tf.float32)
    weights = tf.maximum(0.0, 1.0 - tf.abs(position[..., tf.newaxis] - grid))      # [N, out, in]
    return weights * tf.cast(inside, tf.float32)[..., tf.newaxis]


def reframe_box_masks_to_image_masks(box_masks: tf.Tensor, boxes: tf.Tensor, image_height,
                                     image_width) -> tf.Tensor:
    """Pastes box-relative masks into image-sized ones.

    Args:
        box_masks: ``[N, h, w]`` probabilities (any real dtype; cast to float32); h, w static.
        boxes: ``[N, 4]`` normalized ``[ymin, xmin, ymax, xmax]`` of each mask in the image.
        image_height, image_width: the output size (ints or int32 scalar tensors).

    Returns:
        float32 ``[N, image_height, image_width]``, bilinearly resampled, 0 outside the box
        (the OD API's crop_and_resize reframing, computed as two separable interpolation
        matrices). Threshold (e.g. ``> 0.5``) for binary masks.
    """
    box_masks = tf.cast(box_masks, tf.float32)
    boxes = tf.convert_to_tensor(boxes, tf.float32)
    mask_height, mask_width = box_masks.shape[1], box_masks.shape[2]
    if mask_height is None or mask_width is None:
        raise ValueError(f"reframe: box masks need a static size, got shape {box_masks.shape}")
    rows = _reframe_weights(boxes[:, 0], boxes[:, 2], image_height, mask_height)  # [N, H, h]
    cols = _reframe_weights(boxes[:, 1], boxes[:, 3], image_width, mask_width)    # [N, W, w]
    return tf.linalg.matmul(tf.linalg.matmul(rows, box_masks), cols, transpose_b=True)


def crop_masks_to_boxes(image_masks: tf.Tensor, boxes: tf.Tensor, matched_index: tf.Tensor,
                        mask_height: int, mask_width: int,
                        valid_shape: tf.Tensor | None = None) -> tf.Tensor:
    """Mask targets: each box's crop of its matched ground-truth mask, resized (bilinear).

    Args:
        image_masks: ``[B, N, H, W]`` ground-truth masks (uint8 or float), possibly padded.
        boxes: ``[B, P, 4]`` normalized boxes (e.g. proposals).
        matched_index: int ``[B, P]`` index into N of the mask to crop for each box.
        mask_height, mask_width: the target size.
        valid_shape: optional int ``[B, 2]`` or ``[2]`` (height, width; a trailing channel
            entry as in ``true_image_shape [B, 3]`` is ignored) of the region of the mask
            arrays that the boxes are normalized to (the unpadded image); default: the whole
            ``H x W``.

    Returns:
        float32 ``[B, P, mask_height, mask_width]`` in ``[0, 1]``.
    """
    boxes = tf.convert_to_tensor(boxes, tf.float32)
    shape = tf.shape(image_masks)
    batch, num_masks, height, width = shape[0], shape[1], shape[2], shape[3]
    if valid_shape is not None:
        valid = tf.cast(valid_shape, tf.float32)[..., :2]
        valid = tf.reshape(valid, [-1, 1, 2])                               # [B or 1, 1, 2]
        factors = valid / tf.cast(tf.stack([height, width]), tf.float32)   # [B or 1, 1, 2]
        boxes = boxes * tf.concat([factors, factors], axis=-1)
    flat_masks = tf.reshape(image_masks, tf.stack([-1, height, width, 1]))
    num_boxes = tf.shape(boxes)[1]
    mask_indices = (tf.range(batch)[:, tf.newaxis] * num_masks
                    + tf.cast(matched_index, tf.int32))                     # [B, P]
    crops = tf.image.crop_and_resize(flat_masks, tf.reshape(boxes, [-1, 4]),
                                     tf.reshape(mask_indices, [-1]), [mask_height, mask_width])
    return tf.reshape(crops, tf.stack([batch, num_boxes, mask_height, mask_width]))
