"""Shared test helpers: decode written records with plain tf.io (not the input pipeline); the
outputs of an earlier conversion, to check that a failing one leaves them intact."""

from __future__ import annotations

from pathlib import Path

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


class EarlierOutput:
    """The outputs of a good conversion (2 shards and a COCO ground truth under ``root/out``),
    to check that a later, failing conversion to the same paths leaves them as they were."""

    def __init__(self, root: Path):
        from object_detection.dataset_tools import figure_folder as ff
        from object_detection.dataset_tools.conversion import convert, make_source
        instances = np.zeros((8, 8), np.uint8)
        instances[1:4, 2:6] = 1
        folder = str(root / "earlier_maps")
        for stem in ("e0", "e1", "e2"):
            ff.write_map(folder, stem, ff.FigureMap(np.full((8, 8, 3), 9, np.uint8), instances,
                                                    np.zeros((8, 8), np.uint8), [{}]))
        self.folder = root / "out"
        self.prefix = str(self.folder / "rec")
        self.gt = str(self.folder / "gt.json")
        self._convert = convert
        convert(make_source("figure_folder", folder), self.prefix, 2, self.gt)
        self.files = self.snapshot()
        assert sorted(self.files) == ["gt.json", "rec-00000-of-00002.tfrecord",
                                      "rec-00001-of-00002.tfrecord"]

    def snapshot(self) -> dict[str, bytes]:
        """Name -> content of every file in the output folder (temporaries included)."""
        return {p.name: p.read_bytes() for p in sorted(self.folder.iterdir())}

    def convert(self, source):
        """Converts ``source`` to the same outputs."""
        return self._convert(source, self.prefix, 2, self.gt)

    def assert_intact(self) -> None:
        assert self.snapshot() == self.files


@pytest.fixture
def earlier_output(tmp_path) -> EarlierOutput:
    return EarlierOutput(tmp_path)
