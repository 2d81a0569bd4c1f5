"""Shared test helper: decode written records with plain tf.io (not the input pipeline)."""

from __future__ import annotations

import numpy as np
import pytest
import tensorflow as tf

from object_detection.fields import TfExampleKeys as K

_SCALARS = {K.image_encoded: tf.string, K.image_format: tf.string, K.height: tf.int64,
            K.width: tf.int64, K.filename: tf.string, K.source_id: tf.string,
            K.key_sha256: tf.string}
_LISTS = {K.bbox_xmin: tf.float32, K.bbox_ymin: tf.float32, K.bbox_xmax: tf.float32,
          K.bbox_ymax: tf.float32, K.class_label: tf.int64, K.class_text: tf.string,
          K.is_crowd: tf.int64, K.area: tf.float32, K.instance_masks: tf.string,
          K.keypoint_x: tf.float32, K.keypoint_y: tf.float32, K.keypoint_visibility: tf.int64,
          K.keypoint_text: tf.string}


def decode_record(serialized: bytes) -> dict:
    """Plain numpy view of one record: scalars, lists, 'masks' [N, H, W], 'present' keys."""
    spec = {k: tf.io.FixedLenFeature([], t) for k, t in _SCALARS.items()}
    spec.update({k: tf.io.VarLenFeature(t) for k, t in _LISTS.items()})
    parsed = tf.io.parse_single_example(serialized, spec)
    example = tf.train.Example.FromString(serialized)
    out = {k: parsed[k].numpy() for k in _SCALARS}
    out.update({k: tf.sparse.to_dense(parsed[k]).numpy() for k in _LISTS})
    out["present"] = set(example.features.feature.keys())
    out["masks"] = np.stack([tf.io.decode_png(m, channels=1).numpy()[..., 0]
                             for m in out[K.instance_masks]]) if len(out[K.instance_masks]) else None
    out["boxes_yx"] = np.stack([out[K.bbox_ymin], out[K.bbox_xmin], out[K.bbox_ymax],
                                out[K.bbox_xmax]], axis=-1)
    return out


def read_records(paths) -> list[dict]:
    """Every record of ``paths``, in file order, decoded with ``decode_record``."""
    return [decode_record(r.numpy()) for p in paths for r in tf.data.TFRecordDataset(p)]


@pytest.fixture
def records():
    return read_records
