"""The batched tf.data input: reading, shuffling options, padding, batching, determinism."""

from __future__ import annotations

import functools
import logging

import numpy as np
import pytest
import tensorflow as tf

from object_detection.data import augmentation as aug
from object_detection.data import batching, dataset, resizer
from object_detection.fields import InputFields as F
from tests.data import example_records as er


def _example(index: int) -> bytes:
    """Example ``index``: (10 + index) x (12 + 2 * index) image with index % 3 + 1 boxes."""
    rng = np.random.default_rng(index)
    h, w = 10 + index, 12 + 2 * index
    n = index % 3 + 1
    masks = np.zeros((n, h, w), np.uint8)
    boxes = []
    for i in range(n):
        masks[i, i:i + 3, i:i + 4] = 1
        boxes.append([i / h, i / w, (i + 3) / h, (i + 4) / w])
    image = rng.integers(0, 256, (h, w, 3), dtype=np.uint8)
    keypoints = np.full((n, 2, 2), 0.5, np.float32)
    return er.make_example(er.encode(image), boxes, [1] * n, masks=masks, keypoints=keypoints,
                           source_id=str(index), filename=f"{index}.png")


@pytest.fixture(scope="module")
def record_files(tmp_path_factory):
    folder = tmp_path_factory.mktemp("records")
    return [er.write_records(folder / "a-00000-of-00002.tfrecord", [_example(i) for i in range(0, 6)]),
            er.write_records(folder / "a-00001-of-00002.tfrecord", [_example(i) for i in range(6, 10)])]


def _options(record_files, **kwargs) -> dataset.ReaderOptions:
    defaults = dict(input_paths=tuple(record_files), shuffle=False, num_epochs=1, num_readers=1,
                    max_number_of_boxes=4, num_keypoints=2, load_instance_masks=True,
                    num_parallel_batches=1, num_prefetch_batches=1)
    defaults.update(kwargs)
    return dataset.ReaderOptions(**defaults)


def _source_ids(ds) -> list[int]:
    return [int(s) for batch in ds for s in batch[F.source_id].numpy()]


def test_batches_are_padded_and_keep_counts(record_files):
    ds = dataset.build_dataset(_options(record_files), batch_size=3)
    batch = next(iter(ds))
    np.testing.assert_array_equal(batch[F.source_id].numpy(), [b"0", b"1", b"2"])
    assert batch[F.image].shape == (3, 12, 16, 3)         # the largest image: example 2
    np.testing.assert_array_equal(batch[F.true_image_shape], [[10, 12, 3], [11, 14, 3], [12, 16, 3]])
    np.testing.assert_array_equal(batch[F.num_groundtruth_boxes], [1, 2, 3])
    assert batch[F.groundtruth_boxes].shape == (3, 4, 4)
    assert batch[F.groundtruth_instance_masks].shape == (3, 4, 12, 16)
    classes = batch[F.groundtruth_classes].numpy()
    np.testing.assert_array_equal(classes, [[1, 0, 0, 0], [1, 1, 0, 0], [1, 1, 1, 0]])
    first = batch[F.image].numpy()[0]
    assert (first[10:] == 0).all() and (first[:, 12:] == 0).all()
    masks = batch[F.groundtruth_instance_masks].numpy()
    assert masks[0, 1:].sum() == 0 and masks[0, 0].sum() == 12
    keypoints = batch[F.groundtruth_keypoints].numpy()
    assert np.isnan(keypoints[0, 1:]).all() and (keypoints[0, 0] == 0.5).all()
    np.testing.assert_array_equal(batch[F.groundtruth_keypoint_visibilities].numpy()[0], [[2, 2], [0, 0], [0, 0], [0, 0]])
    # boxes stay normalized to each unpadded image: the first box is 3 x 4 pixels of a 10 x 12 image
    np.testing.assert_allclose(batch[F.groundtruth_boxes].numpy()[0, 0], [0, 0, 0.3, 4 / 12], atol=1e-6)


def test_reads_all_records_in_order_without_shuffle(record_files):
    ds = dataset.build_dataset(_options(record_files), batch_size=4)
    assert _source_ids(ds) == list(range(10))


def test_remainder_kept_or_dropped(record_files):
    sizes = [len(b[F.source_id]) for b in dataset.build_dataset(_options(record_files), batch_size=4)]
    assert sizes == [4, 4, 2]
    dropped = dataset.build_dataset(_options(record_files), batch_size=4, drop_remainder=True)
    assert [len(b[F.source_id]) for b in dropped] == [4, 4]
    assert dropped.element_spec[F.image].shape[0] == 4


def test_epochs_sampling_and_globs(record_files):
    folder = record_files[0].rsplit("/", 1)[0]
    two_epochs = dataset.build_dataset(_options([folder + "/a-*.tfrecord"], num_epochs=2), batch_size=5)
    assert sorted(_source_ids(two_epochs)) == sorted(list(range(10)) * 2)
    sampled = dataset.build_dataset(_options(record_files, sample_1_of_n_examples=3), batch_size=5)
    assert _source_ids(sampled) == [0, 3, 6, 9]


def test_interleaves_files(record_files):
    ds = dataset.build_dataset(_options(record_files, num_readers=2, read_block_length=2), batch_size=10)
    assert _source_ids(ds) == [0, 1, 6, 7, 2, 3, 8, 9, 4, 5]


def test_missing_input_is_a_clear_error(tmp_path):
    with pytest.raises(FileNotFoundError, match="nothing-here"):
        dataset.list_record_files([str(tmp_path / "nothing-here-*.tfrecord")])
    with pytest.raises(ValueError, match="input_path"):
        dataset.list_record_files([])


def _augmented(record_files, seed, deterministic=True):
    steps = [functools.partial(aug.random_crop_image, min_object_covered=0.0),
             aug.random_horizontal_flip, aug.random_adjust_brightness]
    options = _options(record_files, shuffle=True, num_readers=2, num_epochs=0,
                       shuffle_buffer_size=8, num_parallel_batches=2)
    ds = dataset.build_dataset(options, batch_size=2, augmentations=steps, seed=seed,
                               deterministic=deterministic,
                               resizer=functools.partial(resizer.resize_keep_aspect_ratio,
                                                         min_dimension=8, max_dimension=20))
    return [{k: v.numpy() for k, v in b.items()} for b in ds.take(6)]


def test_deterministic_gives_identical_batches(record_files):
    first, second = _augmented(record_files, 5), _augmented(record_files, 5)
    for a, b in zip(first, second):
        assert a.keys() == b.keys()
        for key in a:
            np.testing.assert_array_equal(a[key], b[key])
    other = _augmented(record_files, 6)
    assert any(not np.array_equal(a[F.source_id], b[F.source_id]) or a[F.image].shape != b[F.image].shape
               or not np.array_equal(a[F.image], b[F.image]) for a, b in zip(first, other))


def test_shuffle_changes_the_order_and_keeps_every_record(record_files):
    options = _options(record_files, shuffle=True, num_readers=2)
    ids = _source_ids(dataset.build_dataset(options, batch_size=5, seed=3))
    assert sorted(ids) == list(range(10)) and ids != list(range(10))


def test_fixed_shape_resizer_gives_static_shapes(record_files):
    ds = dataset.build_dataset(_options(record_files), batch_size=2, drop_remainder=True,
                               resizer=functools.partial(resizer.resize_fixed_shape, height=16, width=20))
    assert ds.element_spec[F.image].shape.as_list() == [2, 16, 20, 3]
    assert ds.element_spec[F.groundtruth_instance_masks].shape.as_list() == [2, 4, 16, 20]
    batch = next(iter(ds))
    np.testing.assert_array_equal(batch[F.true_image_shape], [[16, 20, 3]] * 2)


def test_too_many_instances_are_cut_with_a_warning(record_files, caplog):
    before = batching.dropped_instances()
    with caplog.at_level(logging.WARNING, logger="object_detection.data.batching"):
        ds = dataset.build_dataset(_options(record_files, max_number_of_boxes=2), batch_size=10)
        batch = next(iter(ds))
    np.testing.assert_array_equal(batch[F.num_groundtruth_boxes], [1, 2, 2, 1, 2, 2, 1, 2, 2, 1])
    assert batch[F.groundtruth_boxes].shape == (10, 2, 4)
    assert batching.dropped_instances() - before == 3       # examples 2, 5, 8 had 3 boxes
    assert "2.png" in caplog.text and "max_number_of_boxes" in caplog.text


def test_pad_and_batch_to_a_fixed_image_shape():
    scene = er.make_scene()
    tensors = {F.image: scene.image.astype(np.float32), F.groundtruth_boxes: scene.boxes,
               F.groundtruth_classes: scene.classes.astype(np.int32), F.source_id: "1",
               F.filename: "f", F.groundtruth_instance_masks: scene.masks}
    ds = tf.data.Dataset.from_tensors(tensors)
    batch = next(iter(batching.pad_and_batch(ds, 1, max_instances=3, image_shape=(30, 40))))
    assert batch[F.image].shape == (1, 30, 40, 3)
    assert batch[F.groundtruth_instance_masks].shape == (1, 3, 30, 40)
    np.testing.assert_array_equal(batch[F.num_groundtruth_boxes], [2])
    np.testing.assert_array_equal(batch[F.groundtruth_boxes][0, :2], scene.boxes)


def test_bad_record_fails_naming_its_file(tmp_path):
    scene = er.make_scene()
    path = er.write_records(tmp_path / "bad.tfrecord", [
        er.make_example(er.encode(scene.image), scene.boxes, [1], filename="odd.png")])
    ds = dataset.build_dataset(_options([path], num_keypoints=0, load_instance_masks=False), batch_size=1)
    with pytest.raises(tf.errors.InvalidArgumentError, match="(?s)class labels.*bad.tfrecord.*odd.png"):
        next(iter(ds))
