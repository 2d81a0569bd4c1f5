"""One dataset conversion: a source -> sharded TFRecords (and, optionally, COCO ground truth).

``make_source`` builds the reader of one input type; ``convert`` writes its records, logs the
summary and returns the ``ConversionStats``. ``create_mask_tf_record.py`` is a thin command
line over these two.

All outputs of one conversion (the shards and the COCO ground truth) are written to hidden
temporaries and renamed into place together at the end: after an error, or a kill, the outputs
of an earlier conversion are left as they were.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterator
from typing import Protocol

from object_detection.dataset_tools.annotated_image import AnnotatedImage
from object_detection.dataset_tools.class_map import ClassMap
from object_detection import atomic_files
from object_detection.dataset_tools.coco_ground_truth import coco_ground_truth
from object_detection.dataset_tools.coco_source import CocoSource
from object_detection.dataset_tools.conversion_stats import ConversionStats
from object_detection.dataset_tools.cvat_source import CvatSource
from object_detection.dataset_tools.figure_folder_source import DEFAULT_CLASS_NAME, FigureFolderSource
from object_detection.dataset_tools.label_studio_source import LabelStudioSource
from object_detection.dataset_tools.labelme_source import LabelmeSource
from object_detection.dataset_tools.record_tiling import RecordTiling, tile_images
from object_detection.dataset_tools.sharded_records import shard_paths, write_sharded_records
from object_detection.dataset_tools.staged_outputs import staged_outputs
from object_detection.dataset_tools.via_source import ViaSource
from object_detection.dataset_tools.voc_source import VocSource

_LOG = logging.getLogger(__name__)

INPUT_TYPES = ("figure_folder", "coco", "via", "voc", "cvat", "labelme", "label_studio")


class Source(Protocol):
    """What every reader offers: the images, its counts and its categories."""

    stats: ConversionStats
    categories: list[dict]

    def __iter__(self) -> Iterator[AnnotatedImage]: ...


def make_source(input_type: str, input_path: str, label_map: str | dict[str, int] | None = None,
                class_name: str = DEFAULT_CLASS_NAME, strict: bool = False,
                image_dir: str | None = None, class_attribute: str | None = None,
                image_set: str | None = None, skip_difficult: bool = False) -> Source:
    """The reader of ``input_type`` over ``input_path``.

    Args:
      input_type: one of INPUT_TYPES.
      input_path: the figure folder, COCO JSON, VIA JSON, VOC root, CVAT XML, LabelMe folder
        or Label Studio JSON export.
      label_map: a label map file or a name -> id dict; restricts the classes (others skipped).
      class_name: the single class of figure folders and of VIA without ``class_attribute``.
      strict: skips become errors.
      image_dir: images of COCO / VIA / CVAT / Label Studio (default: the annotation file's
        folder; for CVAT its images/ subfolder when there is one).
      class_attribute: VIA region attribute holding the class name.
      image_set: VOC ImageSets list name (default: every XML).
      skip_difficult: leave out VOC objects marked difficult.
    """
    if input_type not in INPUT_TYPES:
        raise ValueError(f"input type must be one of {', '.join(INPUT_TYPES)}, got {input_type!r}")
    stats = ConversionStats(strict=strict)
    if isinstance(label_map, str):
        class_map = ClassMap.from_label_map_file(label_map)
    else:
        class_map = ClassMap(label_map, restricted=True) if label_map is not None else None
    if input_type == "figure_folder":
        return FigureFolderSource(input_path, class_name, class_map, stats)
    if input_type == "coco":
        return CocoSource(input_path, image_dir, class_map, stats)
    if input_type == "via":
        return ViaSource(input_path, image_dir, class_attribute, class_name, class_map, stats)
    if input_type == "cvat":
        return CvatSource(input_path, image_dir, class_map, stats)
    if input_type == "labelme":
        return LabelmeSource(input_path, class_map, stats)
    if input_type == "label_studio":
        return LabelStudioSource(input_path, image_dir, class_map, stats)
    return VocSource(input_path, image_set, class_map, skip_difficult, stats)


def convert(source: Source, output_prefix: str, num_shards: int = 1,
            coco_gt_json: str | None = None, segmentation: str = "rle",
            tiling: RecordTiling | None = None) -> ConversionStats:
    """Writes ``source`` into ``num_shards`` record shards (and its COCO ground truth).

    Returns the source's stats with the written counts and output files; logs the summary.
    With an enabled ``tiling`` each map is cut into tiles, each written as one image
    (``record_tiling``; the COCO ground truth then describes the tiles). Nothing appears at the output paths unless the whole conversion succeeds.
    """
    stats = source.stats
    paths = shard_paths(output_prefix, num_shards)
    if coco_gt_json is not None:
        if os.path.abspath(coco_gt_json) in map(os.path.abspath, paths):
            raise ValueError(f"{coco_gt_json}: the COCO ground truth would overwrite a record "
                             "shard")
        source_file = getattr(source, "path", None)
        if source_file is not None and (os.path.realpath(coco_gt_json)
                                        == os.path.realpath(source_file)):
            raise ValueError(f"{coco_gt_json}: the COCO ground truth would overwrite the input "
                             "annotation file")
    with staged_outputs() as staged:
        images = tile_images(source, tiling, stats) if tiling and tiling.enabled else source
        paths = write_sharded_records(images, output_prefix, num_shards, stats, staged)
        if coco_gt_json is not None:
            coco, _ = coco_ground_truth([staged.temporary(p) for p in paths], source.categories,
                                        segmentation)
            atomic_files.write_json(staged.path_for(coco_gt_json), coco, trailing_newline=False)
    stats.outputs = paths + ([coco_gt_json] if coco_gt_json is not None else [])
    _LOG.info("conversion done\n%s", stats.summary())
    return stats
