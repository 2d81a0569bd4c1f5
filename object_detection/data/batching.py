"""Padding examples to common shapes and batching them.

Per example, ``num_groundtruth_boxes`` records N before padding; per-instance fields are then
padded to ``max_instances`` rows (classes 0 = background, boxes and masks 0, is_crowd False,
mask weights 0, keypoints NaN with visibility 0). Images (and masks) are padded at the bottom
and right to a fixed ``image_shape`` or to the largest image of the batch; ``true_image_shape``
keeps the unpadded size and boxes stay normalized to it.

An example with more than ``max_instances`` instances keeps the first ``max_instances``; the
others are dropped with a logged warning naming the image and counted in
``dropped_instances()``.
"""

from __future__ import annotations

import logging

import numpy as np
import tensorflow as tf

from object_detection.data import instances
from object_detection.fields import InputFields

_LOG = logging.getLogger(__name__)
_DROPPED = {"instances": 0, "examples": 0}


def dropped_instances() -> int:
    """How many instances ``limit_instances`` dropped in this process so far."""
    return _DROPPED["instances"]


def _log_dropped(source_id: tf.Tensor, filename: tf.Tensor, num: tf.Tensor,
                 max_instances: tf.Tensor) -> np.bool_:
    dropped = int(num) - int(max_instances)
    _DROPPED["instances"] += dropped
    _DROPPED["examples"] += 1
    _LOG.warning("image %s (source_id %s): %d instances, only the first %d kept "
                 "(raise max_number_of_boxes); %d instances dropped in this run so far",
                 filename.numpy().decode(errors="replace"), source_id.numpy().decode(errors="replace"),
                 int(num), int(max_instances), _DROPPED["instances"])
    return np.bool_(True)


def limit_instances(tensors: dict[str, tf.Tensor], max_instances: int) -> dict[str, tf.Tensor]:
    """Sets ``num_groundtruth_boxes`` to min(N, max_instances), keeping that many instances."""
    num = instances.num_instances(tensors)

    def drop() -> tf.Tensor:
        return tf.py_function(_log_dropped, [tensors[InputFields.source_id],
                                             tensors[InputFields.filename], num, max_instances],
                              Tout=tf.bool)

    logged = tf.cond(num > max_instances, drop, lambda: tf.constant(False))
    with tf.control_dependencies([logged]):
        kept = tf.minimum(num, max_instances)
    out = instances.gather_instances(tensors, tf.range(kept))
    out[InputFields.num_groundtruth_boxes] = kept
    return out


_PADDING_VALUES = {
    InputFields.groundtruth_keypoints: float("nan"),
}


def _padded_shape(key: str, spec: tf.TensorSpec, max_instances: int,
                  image_shape: tuple[int, int] | None) -> list:
    shape = spec.shape.as_list()
    if key in instances.PER_INSTANCE_FIELDS:
        shape[0] = max_instances
    height, width = image_shape if image_shape else (None, None)
    if key == InputFields.image:
        shape[:2] = [height, width]
    elif key == InputFields.groundtruth_instance_masks:
        shape[1:3] = [height, width]
    return shape


def pad_and_batch(dataset: tf.data.Dataset, batch_size: int, *, max_instances: int,
                  image_shape: tuple[int, int] | None = None,
                  drop_remainder: bool = False) -> tf.data.Dataset:
    """Batches a dataset of ``InputFields`` dicts (see the module doc for the padding).

    Args:
      dataset: unbatched examples (image [H, W, 3], per-instance fields [N, ...]).
      batch_size: examples per batch.
      max_instances: rows of every per-instance field after padding (the OD API's
        max_number_of_boxes).
      image_shape: (height, width) to pad every image to; None pads to the batch's largest.
        An image larger than it fails.
      drop_remainder: drop a last, smaller batch (static batch size for training).
    Returns:
      batches: image [B, H, W, 3], boxes [B, max_instances, 4], num_groundtruth_boxes [B], ...
    """
    if max_instances <= 0:
        raise ValueError(f"max_instances (max_number_of_boxes) must be > 0, got {max_instances}")
    dataset = dataset.map(lambda t: limit_instances(t, max_instances),
                          num_parallel_calls=tf.data.AUTOTUNE)
    spec = dataset.element_spec
    shapes = {key: _padded_shape(key, s, max_instances, image_shape) for key, s in spec.items()}
    values = {key: (tf.constant(_PADDING_VALUES[key], s.dtype) if key in _PADDING_VALUES
                    else tf.zeros([], s.dtype)) for key, s in spec.items()}
    return dataset.padded_batch(batch_size, padded_shapes=shapes, padding_values=values,
                                drop_remainder=drop_remainder)
