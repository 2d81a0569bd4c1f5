"""The quickstart dataset: made once, complete after an interruption, records match the maps."""

from __future__ import annotations

import glob
import json
import os

import tensorflow as tf

from object_detection.dataset_tools.synthetic_dataset import (
    SplitSpec, ensure_synthetic_dataset, record_pattern)

SPLITS = (SplitSpec("train", num_maps=3, seed=5, height=64, width=80, num_shards=2),
          SplitSpec("eval", num_maps=2, seed=6, height=64, width=80))


def _count_records(pattern: str) -> int:
    return sum(1 for path in glob.glob(pattern) for _ in tf.data.TFRecordDataset(path))


def test_makes_every_split_once(tmp_path):
    done = ensure_synthetic_dataset(str(tmp_path), SPLITS)
    assert _count_records(record_pattern(str(tmp_path), "train")) == 3
    assert _count_records(record_pattern(str(tmp_path), "eval")) == 2
    assert done["train"]["images_written"] == 3
    assert done["train"]["instances_written"] == done["train"]["figures"] > 0
    assert os.path.exists(tmp_path / "records" / "eval_coco_gt.json")
    stamp = os.path.getmtime(tmp_path / "records" / "train-00000-of-00002.tfrecord")
    assert ensure_synthetic_dataset(str(tmp_path), SPLITS) == done
    assert os.path.getmtime(tmp_path / "records" / "train-00000-of-00002.tfrecord") == stamp


def test_an_interrupted_split_is_made_again(tmp_path):
    ensure_synthetic_dataset(str(tmp_path), SPLITS)
    first = (tmp_path / "records" / "train-00001-of-00002.tfrecord").read_bytes()
    os.remove(tmp_path / "records" / "train.done.json")  # as if killed before the end
    (tmp_path / "records" / "train-00001-of-00002.tfrecord").write_bytes(b"truncated")
    ensure_synthetic_dataset(str(tmp_path), SPLITS)
    assert (tmp_path / "records" / "train-00001-of-00002.tfrecord").read_bytes() == first


def test_other_settings_remake_the_split(tmp_path):
    ensure_synthetic_dataset(str(tmp_path), SPLITS)
    bigger = (SplitSpec("train", num_maps=4, seed=5, height=64, width=80, num_shards=1),)
    done = ensure_synthetic_dataset(str(tmp_path), bigger)
    assert done["train"]["images_written"] == 4
    assert sorted(os.listdir(tmp_path / "records")).count("train-00000-of-00002.tfrecord") == 0
    assert _count_records(record_pattern(str(tmp_path), "train")) == 4


def test_done_file_is_written_whole_and_an_unreadable_one_remakes_the_split(tmp_path):
    one = (SplitSpec("eval", num_maps=1, seed=6, height=64, width=80),)
    done = ensure_synthetic_dataset(str(tmp_path), one)["eval"]
    done_path = tmp_path / "records" / "eval.done.json"
    assert json.loads(done_path.read_text()) == done
    assert sorted(os.listdir(tmp_path / "records")) == [
        "eval-00000-of-00001.tfrecord", "eval.done.json", "eval_coco_gt.json"]   # no .tmp
    done_path.write_text('{"settings": ')          # cut short by hand
    assert ensure_synthetic_dataset(str(tmp_path), one)["eval"] == done
    assert json.loads(done_path.read_text()) == done
