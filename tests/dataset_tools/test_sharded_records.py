"""Sharding: file names, deterministic round-robin assignment, each example exactly once."""

from __future__ import annotations

import numpy as np
import pytest
import tensorflow as tf

from object_detection.dataset_tools.annotated_image import Instance, assemble_image
from object_detection.dataset_tools.conversion_stats import ConversionStats
from object_detection.dataset_tools.image_io import encode_image_bytes
from object_detection.dataset_tools.sharded_records import (
    find_records, shard_paths, write_sharded_records)
from object_detection.dataset_tools.tf_example import parse_example


def _png(seed: int) -> bytes:
    import io
    from PIL import Image
    buffer = io.BytesIO()
    Image.fromarray(np.full((4, 6, 3), seed, np.uint8)).save(buffer, format="PNG")
    return buffer.getvalue()


def _images(count: int, stats: ConversionStats):
    for i in range(count):
        mask = np.zeros((4, 6), np.uint8)
        mask[: 1 + i % 4, : 1 + i % 6] = 1
        yield assemble_image(encode_image_bytes(_png(i), f"img{i}.png"), f"img{i}.png", str(i),
                             [Instance("a", 1, mask=mask, label="x")], stats, f"img{i}")


def _ids(path: str) -> list[str]:
    return [parse_example(r.numpy()).source_id for r in tf.data.TFRecordDataset(path)]


def test_shard_names():
    assert shard_paths("out/train", 4) == [f"out/train-0000{i}-of-00004.tfrecord" for i in range(4)]
    with pytest.raises(ValueError, match="num_shards"):
        shard_paths("x", 0)


def test_every_example_once_round_robin_and_deterministic(tmp_path):
    stats = ConversionStats()
    paths = write_sharded_records(_images(11, stats), str(tmp_path / "a" / "out"), 3, stats)
    assert paths == shard_paths(str(tmp_path / "a" / "out"), 3)
    per_shard = [_ids(p) for p in paths]
    assert per_shard == [[str(i) for i in range(s, 11, 3)] for s in range(3)]
    assert sorted(sum(per_shard, []), key=int) == [str(i) for i in range(11)]
    assert stats.images_written == 11 and stats.instances_written == 11
    again = write_sharded_records(_images(11, ConversionStats()), str(tmp_path / "b" / "out"), 3,
                                  ConversionStats())
    for p, q in zip(paths, again):
        assert open(p, "rb").read() == open(q, "rb").read()
    assert find_records(str(tmp_path / "a" / "out")) == paths
    assert find_records(str(tmp_path / "a" / "out-*")) == paths


def test_more_shards_than_images_leaves_empty_shards(tmp_path):
    stats = ConversionStats()
    paths = write_sharded_records(_images(2, stats), str(tmp_path / "out"), 4, stats)
    assert [len(_ids(p)) for p in paths] == [1, 1, 0, 0]


def test_duplicate_source_id_is_an_error(tmp_path):
    stats = ConversionStats()
    images = list(_images(2, stats))
    images[1].source_id = images[0].source_id
    with pytest.raises(ValueError, match="img1.png: duplicate source id '0'"):
        write_sharded_records(images, str(tmp_path / "out"), 2, stats)
