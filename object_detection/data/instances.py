"""Per-instance fields of an ``InputFields`` dict, moved together: selection and re-framing.

An instance is one row of every per-instance field (``PER_INSTANCE_FIELDS``); geometric
augmentations select instances with ``gather_instances`` and express boxes and keypoints in a
new window with ``boxes_to_window`` / ``keypoints_to_window``. Coordinates are normalized
(y, x) / [ymin, xmin, ymax, xmax]; a window is float32 [4] in the same frame.
"""

from __future__ import annotations

import tensorflow as tf

from object_detection.fields import InputFields

PER_INSTANCE_FIELDS = (
    InputFields.groundtruth_boxes,
    InputFields.groundtruth_classes,
    InputFields.groundtruth_instance_masks,
    InputFields.groundtruth_instance_mask_weights,
    InputFields.groundtruth_is_crowd,
    InputFields.groundtruth_area,
    InputFields.groundtruth_keypoints,
    InputFields.groundtruth_keypoint_visibilities,
)


def num_instances(tensors: dict[str, tf.Tensor]) -> tf.Tensor:
    """int32 []: N, the number of boxes."""
    return tf.shape(tensors[InputFields.groundtruth_boxes])[0]


def gather_instances(tensors: dict[str, tf.Tensor], indices: tf.Tensor) -> dict[str, tf.Tensor]:
    """Keeps the instances ``indices`` (int [M]) of every per-instance field present."""
    out = dict(tensors)
    for key in PER_INSTANCE_FIELDS:
        if key in tensors:
            out[key] = tf.gather(tensors[key], indices)
    return out


def boxes_to_window(boxes: tf.Tensor, window: tf.Tensor) -> tf.Tensor:
    """Boxes [N, 4] re-expressed relative to ``window`` [4] (which becomes [0, 0, 1, 1])."""
    origin = tf.stack([window[0], window[1], window[0], window[1]])
    size = tf.stack([window[2] - window[0], window[3] - window[1]] * 2)
    return (boxes - origin) / size


def keypoints_to_window(keypoints: tf.Tensor, visibilities: tf.Tensor,
                        window: tf.Tensor) -> tuple[tf.Tensor, tf.Tensor]:
    """Keypoints [N, K, 2] (y, x) relative to ``window`` [4]; those that fall outside [0, 1]
    become NaN with visibility 0 (visibilities int32 [N, K])."""
    origin = window[:2]
    size = window[2:] - window[:2]
    moved = (keypoints - origin) / size
    inside = tf.reduce_all((moved >= 0.0) & (moved <= 1.0), axis=-1)
    return (tf.where(inside[..., None], moved, float("nan")),
            tf.where(inside, visibilities, tf.zeros_like(visibilities)))


def boxes_area(boxes: tf.Tensor) -> tf.Tensor:
    """float32 [N]: area of boxes [N, 4] (0 for inverted boxes)."""
    return tf.maximum(boxes[:, 2] - boxes[:, 0], 0.0) * tf.maximum(boxes[:, 3] - boxes[:, 1], 0.0)


def intersection_with_window(boxes: tf.Tensor, window: tf.Tensor) -> tf.Tensor:
    """float32 [N]: area of each box [N, 4] inside ``window`` [4]."""
    clipped = tf.stack([tf.maximum(boxes[:, 0], window[0]), tf.maximum(boxes[:, 1], window[1]),
                        tf.minimum(boxes[:, 2], window[2]), tf.minimum(boxes[:, 3], window[3])],
                       axis=1)
    return boxes_area(clipped)


def reframe_instances(tensors: dict[str, tf.Tensor], window: tf.Tensor, *,
                      overlap_thresh: float = 0.0, clip_boxes: bool = True) -> dict[str, tf.Tensor]:
    """Boxes and keypoints re-expressed in ``window``, instances filtered; masks untouched.

    An instance is kept when its box is not completely outside the window and at least
    ``overlap_thresh`` of the box's area lies inside it (the OD API's rule for crops). Kept
    boxes are clipped to [0, 1] when ``clip_boxes``; keypoints outside become NaN / visibility 0.
    The caller crops or pads the image and masks so they match the window.
    """
    boxes = tensors[InputFields.groundtruth_boxes]
    inside = ((boxes[:, 0] < window[2]) & (boxes[:, 1] < window[3])
              & (boxes[:, 2] > window[0]) & (boxes[:, 3] > window[1]))
    overlap = tf.math.divide_no_nan(intersection_with_window(boxes, window), boxes_area(boxes))
    keep = tf.where(inside & (overlap >= overlap_thresh))[:, 0]
    out = gather_instances(tensors, keep)
    new_boxes = boxes_to_window(out[InputFields.groundtruth_boxes], window)
    if clip_boxes:
        new_boxes = tf.clip_by_value(new_boxes, 0.0, 1.0)
    out[InputFields.groundtruth_boxes] = new_boxes
    if InputFields.groundtruth_keypoints in out:
        keypoints, visibilities = keypoints_to_window(
            out[InputFields.groundtruth_keypoints],
            out[InputFields.groundtruth_keypoint_visibilities], window)
        out[InputFields.groundtruth_keypoints] = keypoints
        out[InputFields.groundtruth_keypoint_visibilities] = visibilities
    return out
