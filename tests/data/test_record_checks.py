"""Record files refused before training: empty, corrupt, truncated, not tf.Examples, box-only
for a mask model; each a ValueError naming the file (and the byte offset of a bad record).

Byte offsets are computed by hand from the TFRecord layout: a record of n data bytes takes
8 (length) + 4 (length crc) + n + 4 (data crc) bytes.
"""

from __future__ import annotations

import gzip
import logging
import os
import re

import numpy as np
import pytest
import tensorflow as tf
from google.protobuf import text_format

from object_detection.builders import input_builder
from object_detection.data import dataset
from object_detection.protos import image_resizer_pb2, input_reader_pb2
from tests.data import example_records as er


def _masked(index: int = 0) -> bytes:
    return er.scene_example(er.make_scene(), source_id=str(index))


def _box_only(index: int = 0) -> bytes:
    scene = er.make_scene()
    return er.make_example(er.encode(scene.image), scene.boxes, scene.classes,
                           source_id=str(index))


def _negative() -> bytes:
    """An image without objects (no boxes, no mask key)."""
    return er.make_example(er.encode(er.make_scene().image))


def _write_bytes(path, data: bytes) -> str:
    with open(path, "wb") as f:
        f.write(data)
    return str(path)


def _record_bytes(examples) -> list[int]:
    """Size on disk of each record."""
    return [16 + len(e) for e in examples]


def test_good_files_are_returned_sorted(tmp_path):
    b = er.write_records(tmp_path / "b.tfrecord", [_masked(0), _masked(1)])
    a = er.write_records(tmp_path / "a.tfrecord", [_masked(2)])
    assert dataset.check_record_files([b, str(tmp_path / "a.*")], require_masks=True,
                                      full=True) == [a, b]


def test_a_glob_matching_nothing_names_the_pattern(tmp_path):
    pattern = str(tmp_path / "missing-*.tfrecord")
    with pytest.raises(FileNotFoundError, match=re.escape(pattern)):
        dataset.check_record_files([pattern])


def test_empty_file(tmp_path):
    path = _write_bytes(tmp_path / "empty.tfrecord", b"")
    with pytest.raises(ValueError, match=re.escape(f"no examples in {path}")):
        dataset.check_record_files([path])


def test_file_shorter_than_a_record_header(tmp_path):
    """TensorFlow reads 0 records from it without an error."""
    path = _write_bytes(tmp_path / "stub.tfrecord", b"\x05\x00\x00")
    assert list(tf.data.TFRecordDataset(path)) == []
    with pytest.raises(ValueError, match=re.escape(f"no examples in {path}")):
        dataset.check_record_files([path])


def test_random_bytes(tmp_path):
    path = _write_bytes(tmp_path / "noise.tfrecord", np.random.default_rng(0).bytes(3000))
    with pytest.raises(ValueError, match=re.escape(path) + ".*byte 0.*not a TFRecord"):
        dataset.check_record_files([path])


def test_compressed_records(tmp_path):
    plain = er.write_records(tmp_path / "plain.tfrecord", [_masked()])
    with open(plain, "rb") as f:
        path = _write_bytes(tmp_path / "gz.tfrecord", gzip.compress(f.read()))
    with pytest.raises(ValueError, match=re.escape(path) + ".*compressed"):
        dataset.check_record_files([path])


def test_truncated_last_record_names_its_offset(tmp_path):
    examples = [_masked(0), _masked(1), _masked(2)]
    path = er.write_records(tmp_path / "cut.tfrecord", examples)
    size = os.path.getsize(path)
    assert size == sum(_record_bytes(examples))
    with open(path, "r+b") as f:
        f.truncate(size - 100)
    last = sum(_record_bytes(examples)[:2])
    with pytest.raises(ValueError, match=re.escape(f"{path}: truncated or corrupt record at "
                                                   f"byte {last}")):
        dataset.check_record_files([path])


def test_truncated_first_record(tmp_path):
    path = er.write_records(tmp_path / "cut.tfrecord", [_masked()])
    with open(path, "r+b") as f:
        f.truncate(200)
    with pytest.raises(ValueError, match=re.escape(f"{path}: truncated record at byte 0")):
        dataset.check_record_files([path])


def test_trailing_partial_header_is_a_truncation(tmp_path):
    """TensorFlow silently ignores fewer than 12 trailing bytes; the check does not."""
    example = _masked()
    path = er.write_records(tmp_path / "tail.tfrecord", [example])
    with open(path, "ab") as f:
        f.write(b"\x01\x02\x03")
    assert len(list(tf.data.TFRecordDataset(path))) == 1
    with pytest.raises(ValueError, match=f"record at byte {16 + len(example)}"):
        dataset.check_record_files([path])


def test_corrupt_record_mid_file_is_found_by_the_full_check(tmp_path):
    examples = [_masked(0), _masked(1), _masked(2)]
    path = er.write_records(tmp_path / "flip.tfrecord", examples)
    second = _record_bytes(examples)[0]
    with open(path, "r+b") as f:
        f.seek(second + 12 + 50)           # inside the data of the second record
        byte = f.read(1)
        f.seek(second + 12 + 50)
        f.write(bytes([byte[0] ^ 0xFF]))
    assert dataset.check_record_files([path]) == [path]      # the cheap check reads record 0
    data = second + 12     # a bad data checksum: TensorFlow gives where the record's data starts
    with pytest.raises(ValueError, match=re.escape(f"{path}: corrupted record at byte {data}")):
        dataset.check_record_files([path], full=True)


def test_record_that_is_not_an_example(tmp_path):
    path = er.write_records(tmp_path / "bad.tfrecord", [b"\x0a\xff\x01abc"])
    with pytest.raises(ValueError, match=re.escape(path) + ".*record 0 is not a tf.train.Example"):
        dataset.check_record_files([path])


def test_example_without_image_names_the_missing_key(tmp_path):
    example = tf.train.Example()
    example.features.feature["image/object/class/label"].int64_list.value.append(1)
    path = er.write_records(tmp_path / "noimage.tfrecord", [example.SerializeToString()])
    with pytest.raises(ValueError, match=re.escape(path) + ".*no image/encoded.*class/label"):
        dataset.check_record_files([path])


def test_example_whose_image_is_not_an_image(tmp_path):
    path = er.write_records(tmp_path / "text.tfrecord", [er.make_example(b"hello world")])
    with pytest.raises(ValueError, match=re.escape(path) + ".*not a PNG, JPEG"):
        dataset.check_record_files([path])


def test_a_folder_is_not_a_record_file(tmp_path):
    (tmp_path / "shards").mkdir()
    with pytest.raises(ValueError, match="shards: is a folder"):
        dataset.check_record_files([str(tmp_path / "shard*")])


def test_a_rewritten_file_is_checked_again(tmp_path):
    path = er.write_records(tmp_path / "r.tfrecord", [_masked()])
    dataset.check_record_files([path])
    _write_bytes(path, b"")
    with pytest.raises(ValueError, match="no examples"):
        dataset.check_record_files([path])


# ------------------------------------------------------------------------------ masks

def test_box_only_records_for_a_mask_model(tmp_path):
    path = er.write_records(tmp_path / "boxes.tfrecord", [_box_only(0), _box_only(1)])
    assert dataset.check_record_files([path]) == [path]        # fine for a boxes-only model
    message = re.escape(f"{path} has no instance masks (image/object/mask)")
    with pytest.raises(ValueError, match=message + ".*number_of_stages: 2"):
        dataset.check_record_files([path], require_masks=True)


def test_the_first_example_with_objects_decides(tmp_path):
    boxes = er.write_records(tmp_path / "a.tfrecord", [_negative(), _negative(), _box_only()])
    with pytest.raises(ValueError, match="a.tfrecord has no instance masks"):
        dataset.check_record_files([boxes], require_masks=True)
    masked = er.write_records(tmp_path / "b.tfrecord", [_negative(), _masked()])
    assert dataset.check_record_files([masked], require_masks=True) == [masked]
    negatives = er.write_records(tmp_path / "c.tfrecord", [_negative()] * 3)
    assert dataset.check_record_files([negatives], require_masks=True) == [negatives]


def test_empty_mask_list_of_an_image_without_objects_counts_as_masks(tmp_path):
    """The dataset tools write an empty mask list for an image without instances."""
    path = er.write_records(tmp_path / "m.tfrecord",
                            [er.make_example(er.encode(er.make_scene().image), masks=[]),
                             _masked()])
    assert dataset.check_record_files([path], require_masks=True) == [path]


def test_some_box_only_files_beside_masked_ones_are_a_warning(tmp_path, caplog):
    boxes = er.write_records(tmp_path / "a.tfrecord", [_box_only()])
    masked = er.write_records(tmp_path / "b.tfrecord", [_masked()])
    with caplog.at_level(logging.WARNING, logger=dataset.__name__):
        assert dataset.check_record_files([boxes, masked], require_masks=True) == [boxes, masked]
    assert "1 of 2 record files have no instance masks" in caplog.text and boxes in caplog.text


# ------------------------------------------------------------------- through the builder

def _reader(path: str) -> input_reader_pb2.InputReader:
    return text_format.Parse(f'tf_record_input_reader {{ input_path: "{path}" }} '
                             "load_instance_masks: true shuffle: false num_readers: 1",
                             input_reader_pb2.InputReader())


_IDENTITY = text_format.Parse("identity_resizer {}", image_resizer_pb2.ImageResizer())


@pytest.mark.parametrize("training", [True, False])
def test_builder_refuses_an_empty_file_before_building(tmp_path, training):
    path = _write_bytes(tmp_path / "empty.tfrecord", b"")
    with pytest.raises(ValueError, match=re.escape(f"no examples in {path}")):
        input_builder.build_input(_reader(path), [], _IDENTITY, batch_size=1, training=training)


def test_builder_refuses_box_only_records_only_for_a_mask_model(tmp_path):
    path = er.write_records(tmp_path / "boxes.tfrecord", [_box_only()])
    with pytest.raises(ValueError, match="has no instance masks"):
        input_builder.build_input(_reader(path), [], _IDENTITY, batch_size=1, training=True,
                                  model_predicts_masks=True)
    batch = next(iter(input_builder.build_input(_reader(path), [], _IDENTITY, batch_size=1,
                                                training=True)))
    assert batch["groundtruth_instance_mask_weights"].numpy().sum() == 0


def test_pipeline_masks_come_from_the_model_config(tmp_path):
    from object_detection import config as config_lib
    repo = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    pipeline = config_lib.load_pipeline_config(os.path.join(repo, "configs", "quickstart.config"))
    assert pipeline.model.faster_rcnn.number_of_stages == 3
    path = er.write_records(tmp_path / "boxes.tfrecord", [_box_only()])
    for reader in [pipeline.train_input_reader, *pipeline.eval_input_reader]:
        del reader.tf_record_input_reader.input_path[:]
        reader.tf_record_input_reader.input_path.append(path)
        reader.load_instance_masks = True
    for training in (True, False):
        with pytest.raises(ValueError, match=re.escape(path) + " has no instance masks"):
            input_builder.build_input_from_pipeline(pipeline, training=training)
    pipeline.model.faster_rcnn.number_of_stages = 2
    input_builder.build_input_from_pipeline(pipeline, training=True)
