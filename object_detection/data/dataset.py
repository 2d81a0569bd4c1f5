"""The batched ``tf.data`` input: TFRecord files -> decoded, augmented, resized, padded batches.

Order of operations (the OD API's): list the files (globs allowed), shuffle the file names,
repeat ``num_epochs`` times (0: forever), read ``num_readers`` files interleaved,
keep 1 of every ``sample_1_of_n_examples`` records, shuffle records, number them, then per
record (in parallel) decode -> augment -> resize, then pad and batch (see ``batching``) and
prefetch.

Randomness: augmentations use stateless random ops seeded with (dataset seed, record number),
so they do not depend on the order in which parallel calls run. With ``deterministic=True``
the shuffles get fixed seeds too and tf.data keeps element order, so two runs with the same
files and seed yield identical batches.
"""

from __future__ import annotations

import dataclasses
import logging
import secrets
from typing import Sequence

import tensorflow as tf

from object_detection.data import augmentation, batching, decoder, resizer as resizers

_LOG = logging.getLogger(__name__)

DEFAULT_SEED = 0


@dataclasses.dataclass(frozen=True)
class ReaderOptions:
    """How records are read, mirroring the OD API's InputReader (same names and defaults).

    Attributes:
      input_paths: TFRecord files or glob patterns.
      shuffle: shuffle file names and records.
      filenames_shuffle_buffer_size / shuffle_buffer_size: buffer sizes of those shuffles.
      num_epochs: passes over the data; 0 repeats forever.
      sample_1_of_n_examples: keep every n-th record (1: all).
      num_readers: files read in parallel (interleaved), at most the number of files.
      read_block_length: consecutive records taken from one file before switching.
      num_parallel_batches: decode calls in parallel = this x batch size; 0: AUTOTUNE.
      num_prefetch_batches: batches prefetched; -1: AUTOTUNE.
      max_number_of_boxes: instances per example after padding.
      num_keypoints: keypoints per instance (0: no keypoint fields).
      load_instance_masks / mask_type: decode instance masks ("png" or "numerical").
    """

    input_paths: tuple[str, ...]
    shuffle: bool = True
    filenames_shuffle_buffer_size: int = 100
    shuffle_buffer_size: int = 2048
    num_epochs: int = 0
    sample_1_of_n_examples: int = 1
    num_readers: int = 64
    read_block_length: int = 32
    num_parallel_batches: int = 8
    num_prefetch_batches: int = 2
    max_number_of_boxes: int = 100
    num_keypoints: int = 0
    load_instance_masks: bool = False
    mask_type: str = "png"


def list_record_files(patterns: Sequence[str]) -> list[str]:
    """Sorted, distinct files matching ``patterns`` (paths or globs); each must match one."""
    if isinstance(patterns, str):
        patterns = [patterns]
    if not patterns:
        raise ValueError("no input_path given (tf_record_input_reader.input_path is empty)")
    files = []
    for pattern in patterns:
        matched = tf.io.gfile.glob(pattern)
        if not matched:
            raise FileNotFoundError(f"{pattern}: no TFRecord file matches this input_path")
        files.extend(matched)
    return sorted(set(files))


def read_records(options: ReaderOptions, *, seed: int | None = None,
                 deterministic: bool = False) -> tf.data.Dataset:
    """Dataset of (record file path, serialized record), string scalars, per ``options``."""
    if options.sample_1_of_n_examples < 1:
        raise ValueError(f"sample_1_of_n_examples must be >= 1, got {options.sample_1_of_n_examples}")
    files = list_record_files(options.input_paths)
    dataset = tf.data.Dataset.from_tensor_slices(files)
    if options.shuffle:
        dataset = dataset.shuffle(max(options.filenames_shuffle_buffer_size, 1), seed=seed)
    elif options.num_readers > 1 and len(files) > 1:
        _LOG.info("shuffle is off: reading %d files interleaved, in a fixed order", len(files))
    dataset = dataset.repeat(options.num_epochs or None)
    cycle_length = max(1, min(options.num_readers, len(files)))

    def read_file(path: tf.Tensor) -> tf.data.Dataset:
        return tf.data.TFRecordDataset(path).map(lambda record: (path, record))

    dataset = dataset.interleave(read_file, cycle_length=cycle_length,
                                 block_length=max(options.read_block_length, 1),
                                 num_parallel_calls=tf.data.AUTOTUNE,
                                 deterministic=deterministic or not options.shuffle)
    if options.sample_1_of_n_examples > 1:
        dataset = dataset.shard(options.sample_1_of_n_examples, 0)
    if options.shuffle:
        dataset = dataset.shuffle(max(options.shuffle_buffer_size, 1),
                                  seed=None if seed is None else seed + 1)
    return dataset


def build_dataset(options: ReaderOptions, *, batch_size: int,
                  augmentations: Sequence[augmentation.Step] = (),
                  resizer: resizers.Resizer = resizers.resize_identity,
                  seed: int | None = None, deterministic: bool = False,
                  drop_remainder: bool = False,
                  image_shape: tuple[int, int] | None = None) -> tf.data.Dataset:
    """Batched input (the keys of ``fields.InputFields``, shapes as in ``batching``).

    Args:
      options: reading, decoding and padding options.
      batch_size: examples per batch.
      augmentations: steps ``(tensors, seed) -> tensors`` run in order (none for eval).
      resizer: image resizer ``(image, masks) -> (image, masks, true_image_shape)``.
      seed: dataset seed (shuffles and augmentations); None draws one (or ``DEFAULT_SEED``
        when ``deterministic``).
      deterministic: identical batches run to run (fixed seeds, tf.data order kept).
      drop_remainder: drop the last, smaller batch.
      image_shape: (height, width) to pad images to; default the resizer's fixed output
        shape if it has one, else the batch's largest image.
    """
    if batch_size <= 0:
        raise ValueError(f"batch_size must be > 0, got {batch_size}")
    if seed is None and deterministic:
        seed = DEFAULT_SEED
    shuffle_seed = seed
    augment_seed = secrets.randbits(31) if seed is None else seed
    if image_shape is None:
        image_shape = resizers.resized_static_shape(resizer)
    dataset = read_records(options, seed=shuffle_seed, deterministic=deterministic)

    steps = tuple(augmentations)
    base_seed = tf.constant(augment_seed, tf.int64)

    def process(index: tf.Tensor, path_and_record: tuple) -> dict:
        path, record = path_and_record
        tensors = decoder.decode_example(record, num_keypoints=options.num_keypoints,
                                         load_instance_masks=options.load_instance_masks,
                                         mask_type=options.mask_type, record_path=path)
        if steps:
            tensors = augmentation.apply_augmentations(tensors, steps, tf.stack([base_seed, index]))
        return resizers.resize_tensors(tensors, resizer)

    parallel = (tf.data.AUTOTUNE if options.num_parallel_batches <= 0
                else options.num_parallel_batches * batch_size)
    dataset = dataset.enumerate().map(process, num_parallel_calls=parallel)
    dataset = batching.pad_and_batch(dataset, batch_size, max_instances=options.max_number_of_boxes,
                                     image_shape=image_shape, drop_remainder=drop_remainder)
    prefetch = tf.data.AUTOTUNE if options.num_prefetch_batches < 0 else options.num_prefetch_batches
    if prefetch:
        dataset = dataset.prefetch(prefetch)
    data_options = tf.data.Options()
    data_options.deterministic = deterministic or not options.shuffle
    return dataset.with_options(data_options)
