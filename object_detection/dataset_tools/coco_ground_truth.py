"""Records -> COCO ground-truth JSON (for pycocotools evaluation and round trips).

Each record becomes one COCO image (id = its source id when every source id is an integer,
otherwise 1..M in record order) and each instance one annotation: ``bbox`` [x, y, w, h] and
``area`` in pixels, ``iscrowd``, ``category_id`` (the record's 1-based label) and a
``segmentation``: compressed RLE (default, exact), or pixel-edge polygons of the mask's outer
boundaries (``segmentation="polygon"``; crowd regions stay RLE). Box-only records get the box
as polygon. Keypoints, where the records have them, are written as COCO [x, y, v] triples.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterable, Mapping, Sequence

import numpy as np
import tensorflow as tf

from object_detection import atomic_files
from object_detection.core import box_ops
from object_detection.dataset_tools.annotated_image import AnnotatedImage
from object_detection.dataset_tools.coco_segmentation import mask_to_polygons, mask_to_rle
from object_detection.dataset_tools.conversion_stats import ConversionStats
from object_detection.dataset_tools.sharded_records import find_records
from object_detection.dataset_tools.tf_example import parse_example

_LOG = logging.getLogger(__name__)

SEGMENTATION_FORMATS = ("rle", "polygon")


def _pixel_box(image: AnnotatedImage, i: int) -> list[float]:
    """COCO ``[x, y, width, height]`` of instance ``i`` (``box_ops.to_coco``, as the evaluator)."""
    return [float(v) for v in box_ops.to_coco(image.boxes[i], image.height, image.width)[0]]


def _segmentation(image: AnnotatedImage, i: int, box: list[float], segmentation: str):
    if image.masks is None:
        x, y, w, h = box
        return [[x, y, x + w, y, x + w, y + h, x, y + h]]
    if segmentation == "polygon" and not image.is_crowd[i]:
        return mask_to_polygons(image.masks[i])
    return mask_to_rle(image.masks[i])


def _keypoints(image: AnnotatedImage, i: int) -> tuple[list[float], int]:
    triples = []
    for (y, x), v in zip(image.keypoints[i], image.keypoint_visibilities[i]):
        if v > 0:
            triples += [round(float(x) * image.width, 2), round(float(y) * image.height, 2), int(v)]
        else:
            triples += [0, 0, 0]
    return triples, int(np.count_nonzero(image.keypoint_visibilities[i]))


def _categories(seen: dict[int, str], given: Sequence[dict] | Mapping[str, int] | None,
                keypoint_names: tuple[str, ...] | None) -> list[dict]:
    if given is None:
        categories = [{"id": i, "name": seen[i]} for i in sorted(seen)]
    elif isinstance(given, Mapping):
        categories = [{"id": i, "name": n} for n, i in sorted(given.items(), key=lambda t: t[1])]
    else:
        categories = [{"id": int(c["id"]), "name": str(c["name"])} for c in given]
    known = {c["id"] for c in categories}
    missing = sorted(set(seen) - known)
    if missing:
        raise ValueError(f"records have class ids {missing} that the given categories lack")
    if keypoint_names:
        for c in categories:
            c["keypoints"] = list(keypoint_names)
            c["skeleton"] = []
    return categories


def _read_images(paths: Iterable[str]):
    """(path, AnnotatedImage) of every record; ValueError naming the file for a broken one."""
    for path in paths:
        records = iter(tf.data.TFRecordDataset(path))
        while True:
            try:
                serialized = next(records).numpy()
            except StopIteration:
                break
            except tf.errors.OpError as e:
                raise ValueError(f"{path}: not a readable TFRecord file ({e.message})") from e
            try:
                image = parse_example(serialized)
            except Exception as e:  # noqa: BLE001 - whatever broke, name the file
                raise ValueError(f"{path}: a record is not a detection example ({e!r})") from e
            yield path, image


def records_to_coco(record_paths: str | Sequence[str], output_json: str,
                    categories: Sequence[dict] | Mapping[str, int] | None = None,
                    segmentation: str = "rle") -> ConversionStats:
    """Writes the COCO ground truth of the records (atomically); returns what it read and wrote.

    Args:
      record_paths: record files, a glob pattern, or the prefix given to the record writer.
      output_json: the COCO JSON to write (folders created).
      categories: COCO categories ([{"id", "name"}]) or a label map (name -> id); None takes
        (label, text) pairs from the records.
      segmentation: "rle" or "polygon".
    Raises:
      ValueError: an unknown segmentation format, a record that does not parse, one class id
        with two names, or a class id outside ``categories``.
    """
    coco, stats = coco_ground_truth(record_paths, categories, segmentation)
    os.makedirs(os.path.dirname(os.path.abspath(output_json)), exist_ok=True)
    atomic_files.write_json(output_json, coco, trailing_newline=False)
    stats.outputs = [output_json]
    _LOG.info("wrote COCO ground truth of %d images, %d annotations: %s",
              stats.images_written, stats.instances_written, output_json)
    return stats


def coco_ground_truth(record_paths: str | Sequence[str],
                      categories: Sequence[dict] | Mapping[str, int] | None = None,
                      segmentation: str = "rle") -> tuple[dict, ConversionStats]:
    """The COCO ground-truth dataset of the records (see ``records_to_coco``), and what it
    read and holds."""
    if segmentation not in SEGMENTATION_FORMATS:
        raise ValueError(f"segmentation must be one of {SEGMENTATION_FORMATS}, got {segmentation!r}")
    stats = ConversionStats()
    images, annotations = [], []
    seen: dict[int, str] = {}
    keypoint_names = None
    for path, image in _read_images(find_records(record_paths)):
        stats.images_read += 1
        stats.instances_read += image.num_instances
        image_index = len(images)
        images.append({"source_id": image.source_id, "file_name": image.filename,
                       "height": image.height, "width": image.width})
        if image.keypoints is not None and image.num_instances:
            keypoint_names = keypoint_names or image.keypoint_names
        for i in range(image.num_instances):
            class_id, name = int(image.class_ids[i]), image.class_names[i]
            if seen.setdefault(class_id, name) != name:
                raise ValueError(f"{path}: {image.filename}: class id {class_id} is named "
                                 f"'{name}' here and '{seen[class_id]}' elsewhere")
            box = _pixel_box(image, i)
            annotation = {"image_index": image_index, "category_id": class_id, "bbox": box,
                          "area": float(image.areas[i]), "iscrowd": int(image.is_crowd[i]),
                          "segmentation": _segmentation(image, i, box, segmentation)}
            if image.keypoints is not None:
                annotation["keypoints"], annotation["num_keypoints"] = _keypoints(image, i)
            annotations.append(annotation)
    ids = [img.pop("source_id") for img in images]
    if not all(s.isdigit() for s in ids) or len({int(s) for s in ids}) != len(ids):
        ids = [str(i) for i in range(1, len(images) + 1)]
    for img, image_id in zip(images, ids):
        img["id"] = int(image_id)
    for k, annotation in enumerate(annotations, start=1):
        annotation["image_id"] = images[annotation.pop("image_index")]["id"]
        annotation["id"] = k
    coco = {"images": images, "annotations": annotations,
            "categories": _categories(seen, categories, keypoint_names)}
    stats.images_written, stats.instances_written = len(images), len(annotations)
    return coco, stats
