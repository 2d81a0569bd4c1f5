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

``check_record_files`` is the cheap check, run once before a pipeline is used (the input builder
does), that the files are non-empty, readable TFRecords of OD API tf.Examples: an empty file
would otherwise make a repeated dataset spin forever, and a corrupt one fail with TensorFlow's
"corrupted record at N", which names no file.
"""

from __future__ import annotations

import dataclasses
import logging
import re
import secrets
import struct
from typing import Sequence

import tensorflow as tf
from google.protobuf import message as pb_message

from object_detection.data import augmentation, batching, decoder, resizer as resizers
from object_detection.fields import TfExampleKeys

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


# ------------------------------------------------------------------------- record checks

_MASK_PROBE_RECORDS = 8        # records read at most to find one with objects (masks check)
_RECORD_OVERHEAD = 16          # a TFRecord: length u64, its crc u32, data, data crc u32
_checked: dict[tuple, bool | None] = {}   # (path, size, mtime, full) -> has masks
_warned: set[tuple[str, ...]] = set()      # box-only file lists already warned about


def _data_loss(path: str, error: tf.errors.DataLossError) -> ValueError:
    """TensorFlow's "corrupted record at N" (no file name) -> a ValueError naming the file."""
    match = re.search(r"(corrupted|truncated) record at (\d+)", error.message)
    if not match:
        return ValueError(f"{path}: not a readable TFRecord file ({error.message.strip()})")
    kind, offset = match.group(1), int(match.group(2))
    if kind == "corrupted" and offset == 0:
        return ValueError(f"{path}: corrupted record at byte 0: not a TFRecord file (or a "
                          "compressed one: the input reader reads uncompressed TFRecords)")
    return ValueError(f"{path}: {kind} record at byte {offset}: the file is damaged (cut "
                      "short or overwritten), write it again")


def _check_framing(path: str, size: int) -> None:
    """Walks the record headers to the end of a local file: a truncated file (the last record
    cut short, e.g. by an interrupted writer) is a ValueError naming the byte offset."""
    offset = 0
    with open(path, "rb") as f:
        while offset < size:
            f.seek(offset)
            header = f.read(8)
            end = (offset + _RECORD_OVERHEAD + struct.unpack("<Q", header)[0]
                   if len(header) == 8 else size + 1)
            if end > size:
                raise ValueError(f"{path}: truncated or corrupt record at byte {offset} (the "
                                 f"file ends at byte {size}): write the file again")
            offset = end


def _first_image_check(path: str, example: tf.train.Example) -> None:
    feature = example.features.feature
    key = TfExampleKeys.image_encoded
    if key not in feature:
        present = ", ".join(sorted(feature)[:6]) or "none"
        raise ValueError(f"{path}: the first example has no {key} (the encoded image): not OD "
                         f"API detection records? (its features: {present})")
    values = feature[key].bytes_list.value
    if len(values) != 1:
        raise ValueError(f"{path}: {key} of the first example holds {len(values)} values, "
                         "expected one encoded image")
    if not decoder.is_known_image(values[0]):
        raise ValueError(f"{path}: {key} of the first example is not a PNG, JPEG, GIF or BMP "
                         "image")


def _has_masks(example: tf.train.Example) -> bool | None:
    """Whether an example's instances have masks; None for an example without objects."""
    feature = example.features.feature
    if (TfExampleKeys.bbox_ymin not in feature
            or not feature[TfExampleKeys.bbox_ymin].float_list.value):
        return None
    if TfExampleKeys.instance_masks not in feature:
        return False
    masks = feature[TfExampleKeys.instance_masks]
    return bool(masks.bytes_list.value or masks.float_list.value)


def check_record_file(path: str, *, full: bool = False) -> bool | None:
    """Checks one TFRecord file (see ``check_record_files``); returns whether its first example
    with objects (among the first few) has instance masks, None when none has objects."""
    if tf.io.gfile.isdir(path):
        raise ValueError(f"{path}: is a folder, not a TFRecord file")
    stat = tf.io.gfile.stat(path)
    key = (path, stat.length, stat.mtime_nsec, full)
    if key in _checked:
        return _checked[key]
    if stat.length == 0:
        raise ValueError(f"no examples in {path} (the file is empty)")
    has_masks = None
    count = 0
    try:
        for record in tf.data.TFRecordDataset(path).take(_MASK_PROBE_RECORDS):
            try:
                example = tf.train.Example.FromString(record.numpy())
            except pb_message.DecodeError as error:
                raise ValueError(f"{path}: record {count} is not a tf.train.Example "
                                 f"({error})") from None
            if count == 0:
                _first_image_check(path, example)
            count += 1
            has_masks = _has_masks(example)
            if has_masks is not None:
                break
        if full:
            for _ in tf.data.TFRecordDataset(path):
                pass
    except tf.errors.DataLossError as error:
        raise _data_loss(path, error) from None
    if count == 0:
        raise ValueError(f"no examples in {path} ({stat.length} bytes but no complete record: "
                         "not a TFRecord file, or truncated)")
    if "://" not in path:      # remote files: one request per record would be too slow
        _check_framing(path, stat.length)
    _checked[key] = has_masks
    return has_masks


def check_record_files(patterns: Sequence[str], *, require_masks: bool = False,
                       full: bool = False) -> list[str]:
    """The files of ``patterns`` (``list_record_files``), each checked to be usable input.

    Per file, cheaply (the first record and the record headers; once per file version): not
    empty, the first record reads and is a tf.train.Example with one ``image/encoded`` image,
    and the records run to the end of the file (not truncated; local files only). ``full``
    also reads every record, catching a corrupt one mid-file. With ``require_masks`` (the model
    predicts masks) the first example with objects of each file must have
    ``image/object/mask``: when no file has masks that is an error, when only some lack them a
    warning (their instances get mask weight 0).

    Raises:
      FileNotFoundError: a pattern matches nothing.
      ValueError: a bad file, naming it (and the byte offset of a damaged record).
    """
    files = list_record_files(patterns)
    masks = {path: check_record_file(path, full=full) for path in files}
    box_only = [path for path, has in masks.items() if has is False]
    if require_masks and box_only:
        if len(box_only) == sum(has is not None for has in masks.values()):
            others = f" (nor do the other {len(box_only) - 1} files)" if len(box_only) > 1 else ""
            raise ValueError(
                f"{box_only[0]} has no instance masks ({TfExampleKeys.instance_masks}){others} "
                "but the model predicts masks: write the records with masks, or train a "
                "boxes-only model (model.faster_rcnn.number_of_stages: 2)")
        if tuple(box_only) not in _warned:
            _warned.add(tuple(box_only))
            _LOG.warning("%d of %d record files have no instance masks (first: %s): their "
                         "instances get mask weight 0", len(box_only), len(files), box_only[0])
    return files


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
