"""Writing ``AnnotatedImage``s into N TFRecord shards, and finding the shards again.

Shard files are ``PREFIX-00000-of-0000N.tfrecord``; the i-th image read (0-based) goes to shard
``i % N``, so the assignment depends only on the source's (sorted, deterministic) order.

The shards are written to hidden temporary siblings and renamed into place only when every
image has been written (``staged_outputs``): a failed or killed conversion leaves an earlier
output at the same prefix as it was, and no shard that looks complete but is not.
"""

from __future__ import annotations

import contextlib
import glob
import logging
import os
import re
from collections.abc import Iterable

import tensorflow as tf

from object_detection.dataset_tools.annotated_image import AnnotatedImage
from object_detection.dataset_tools.conversion_stats import ConversionStats
from object_detection.dataset_tools.staged_outputs import StagedOutputs, staged_outputs
from object_detection.dataset_tools.tf_example import build_example

_LOG = logging.getLogger(__name__)


def shard_paths(output_prefix: str, num_shards: int) -> list[str]:
    """The N shard file names for ``output_prefix``."""
    if num_shards < 1:
        raise ValueError(f"num_shards must be at least 1, got {num_shards}")
    return [f"{output_prefix}-{i:05d}-of-{num_shards:05d}.tfrecord" for i in range(num_shards)]


def shard_index(position: int, num_shards: int) -> int:
    """The shard of the ``position``-th image (0-based): round robin."""
    return position % num_shards


def other_shards(output_prefix: str, num_shards: int) -> list[str]:
    """Shards at ``output_prefix`` of another shard count (an earlier conversion), which the
    prefix's record pattern would pick up together with the new ones."""
    pattern = re.compile(re.escape(os.path.basename(output_prefix))
                         + r"-\d{5}-of-(\d{5})\.tfrecord")
    found = glob.glob(glob.escape(output_prefix) + "-?????-of-?????.tfrecord")
    return sorted(p for p in found
                  if (m := pattern.fullmatch(os.path.basename(p))) and int(m[1]) != num_shards)


def write_sharded_records(images: Iterable[AnnotatedImage], output_prefix: str, num_shards: int,
                          stats: ConversionStats, staged: StagedOutputs | None = None
                          ) -> list[str]:
    """Writes each image as one ``tf.train.Example`` into the shards; returns the shard paths.

    Counts images_written / instances_written / box_only_images into ``stats``. Raises
    ValueError when two images share a file name or a source id (the records must identify
    images uniquely). The shards appear at their paths when all are written; with ``staged``
    they are written to its temporaries and appear when the caller commits it.
    """
    paths = shard_paths(output_prefix, num_shards)
    if staged is None:
        with staged_outputs() as own:
            return write_sharded_records(images, output_prefix, num_shards, stats, own)
    temporaries = [staged.path_for(p) for p in paths]
    seen_filenames: set[str] = set()
    seen_ids: set[str] = set()
    with contextlib.ExitStack() as stack:
        writers = [stack.enter_context(tf.io.TFRecordWriter(p)) for p in temporaries]
        for position, image in enumerate(images):
            for value, seen, what in ((image.filename, seen_filenames, "file name"),
                                      (image.source_id, seen_ids, "source id")):
                if value in seen:
                    raise ValueError(f"{image.filename}: duplicate {what} '{value}' "
                                     "(each image must appear once)")
                seen.add(value)
            writers[shard_index(position, num_shards)].write(
                build_example(image).SerializeToString())
            stats.images_written += 1
            stats.instances_written += image.num_instances
            if image.masks is None:
                stats.box_only_images += 1
    stale = other_shards(output_prefix, num_shards)
    if stale:
        stats.notes.append(
            f"note: {len(stale)} shard{'s' if len(stale) != 1 else ''} of an earlier conversion "
            f"with another shard count match the same record pattern and were left in place: "
            f"{', '.join(stale[:3])}{' ...' if len(stale) > 3 else ''} (delete them unless "
            "they are meant to be read with these)")
    _LOG.info("wrote %d images into %d shards: %s", stats.images_written, num_shards,
              f"{output_prefix}-?????-of-{num_shards:05d}.tfrecord")
    return paths


def find_records(pattern_or_paths: str | Iterable[str]) -> list[str]:
    """Record paths from a list, a glob pattern, or a prefix written by ``write_sharded_records``."""
    if isinstance(pattern_or_paths, str):
        for pattern in (pattern_or_paths, pattern_or_paths + "-?????-of-?????.tfrecord"):
            paths = sorted(tf.io.gfile.glob(pattern))
            if paths:
                return paths
        raise FileNotFoundError(f"{pattern_or_paths}: no record files match")
    paths = list(pattern_or_paths)
    for path in paths:
        if not tf.io.gfile.exists(path):
            raise FileNotFoundError(f"{path}: record file not found")
    return paths
