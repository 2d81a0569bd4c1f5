"""COCO instance annotations (a JSON file and an image folder) as a source of ``AnnotatedImage``s.

Segmentations may be polygons, compressed or uncompressed RLE; ``iscrowd`` and ``area`` are
kept. An annotation without segmentation is box-only (its ``bbox``), which is only possible
when no annotation of the same image has a mask. Category ids are kept, or mapped by category
name to a label map's ids (other categories are then skipped). Images keep their JSON order,
and their COCO id becomes the record's source id.

Every value is checked (ids, file names and sizes of images; numbers finite, ``iscrowd`` 0 or 1,
RLE runs covering the image exactly); a bad one is an error naming the file and the annotation
id. Polygons of fewer than 3 points are skipped (counted).
"""

from __future__ import annotations

import logging
import os
from collections import defaultdict
from collections.abc import Iterator

from object_detection.dataset_tools import annotation_values as av
from object_detection.dataset_tools.annotated_image import AnnotatedImage, Instance, assemble_image
from object_detection.dataset_tools.class_map import ClassMap
from object_detection.dataset_tools.coco_segmentation import (
    DEGENERATE_POLYGON, is_degenerate_polygons, segmentation_to_mask)
from object_detection.dataset_tools.conversion_stats import ConversionStats, skip
from object_detection.dataset_tools.image_io import read_image, rotation_hint

_LOG = logging.getLogger(__name__)


def load_coco_json(path: str, what: str = "COCO annotation file",
                   required: tuple[str, ...] = ()) -> dict:
    """The COCO dataset object of the JSON file ``path``: a dict with an ``images`` list, and
    ``annotations`` / ``categories`` lists where present (``required`` names those that must
    be). FileNotFoundError or ValueError naming the file and ``what`` it should be otherwise."""
    data = av.read_json(path, what)
    if not isinstance(data, dict) or not isinstance(data.get("images"), list):
        raise ValueError(f"{path}: not a {what} (no 'images' list)")
    for key in ("annotations", "categories"):
        if (key in data or key in required) and not isinstance(data.get(key), list):
            raise ValueError(f"{path}: not a {what} (no '{key}' list)")
    return data


def _unique(items: list, key: str, what: str, path: str) -> dict:
    result = {}
    for index, item in enumerate(items, start=1):
        if not isinstance(item, dict):
            raise ValueError(f"{path}: {what} #{index} is not an object: {str(item)[:80]}")
        if key not in item:
            raise ValueError(f"{path}: {what} #{index} has no '{key}': {str(item)[:80]}")
        value = item[key]
        if key == "file_name":
            av.file_name(value, f"{path}: {what} #{index}", "file_name")
        else:
            av.identifier(value, f"{path}: {what} #{index}", key)
        if value in result:
            raise ValueError(f"{path}: duplicate {what} {key} {value!r}")
        result[value] = item
    return result


def _label(ann: dict, index: int) -> str:
    """How messages name an annotation: by its id, or by its place when it has none."""
    ann_id = ann.get("id")
    return f"annotation {ann_id}" if ann_id is not None else f"annotation #{index} (no id)"


class CocoSource:
    """Iterates the images of a COCO instances JSON.

    Attributes:
      stats: counts of what was read and skipped.
      categories: COCO categories of the output ids (the label map's, or the JSON's).
      keypoint_names: None (COCO keypoints are not converted).
    """

    keypoint_names = None

    def __init__(self, annotations_json: str, image_dir: str | None = None,
                 class_map: ClassMap | None = None, stats: ConversionStats | None = None):
        self.path = annotations_json
        self.image_dir = image_dir if image_dir is not None else os.path.dirname(annotations_json)
        self.stats = stats if stats is not None else ConversionStats()
        data = load_coco_json(annotations_json)
        self._images = data["images"]
        _unique(self._images, "id", "image", self.path)
        _unique(self._images, "file_name", "image", self.path)
        for info in self._images:
            for size in ("height", "width"):
                if info.get(size) is not None:
                    av.positive_int(info[size], f"{self.path}: image {info['file_name']}", size)
        categories = _unique(data.get("categories", []), "id", "category", self.path)
        self._category_names = {cid: str(c.get("name", cid)) for cid, c in categories.items()}
        self._annotations: dict = defaultdict(list)
        image_ids = {image["id"] for image in self._images}
        for index, ann in enumerate(data.get("annotations", []), start=1):
            if not isinstance(ann, dict):
                raise ValueError(f"{self.path}: annotation #{index} is not an object: "
                                 f"{str(ann)[:80]}")
            label = _label(ann, index)
            image_id, category_id = ann.get("image_id"), ann.get("category_id")
            if not _scalar(image_id) or image_id not in image_ids:
                raise ValueError(f"{self.path}: {label} refers to image id {image_id!r}, which "
                                 "is not in 'images'")
            if not _scalar(category_id) or category_id not in self._category_names:
                raise ValueError(f"{self.path}: {label} has category id {category_id!r}, which "
                                 "is not in 'categories'")
            self._annotations[image_id].append((label, ann))
        self._with_masks = any(_has_segmentation(ann) for anns in self._annotations.values()
                               for _, ann in anns)
        if class_map is None:
            bad = [cid for cid in self._category_names if not isinstance(cid, int) or cid < 1]
            if bad:
                raise ValueError(f"{self.path}: category ids must be integers >= 1 to be kept "
                                 f"(got {bad}); give a label map to map them by name")
            class_map = ClassMap({name: cid for cid, name in self._category_names.items()}, False)
            self.categories = [{"id": cid, "name": name}
                               for cid, name in sorted(self._category_names.items())]
        else:
            self.categories = class_map.categories
        self.class_map = class_map

    def __iter__(self) -> Iterator[AnnotatedImage]:
        for image_info in self._images:
            yield self._read(image_info)

    def _instance(self, label: str, ann: dict, height: int, width: int) -> Instance | None:
        where = f"{self.path}: {label}"
        name = self._category_names[ann["category_id"]]
        class_id = self.class_map.resolve(name, self.stats, self.path, label)
        if class_id is None:
            return None
        is_crowd = av.flag(ann.get("iscrowd", 0), where, "iscrowd")
        area = ann.get("area")
        if area is not None:
            area = av.finite_number(area, where, "area")
            if area < 0:
                raise ValueError(f"{where}: area must not be negative, got {area:g}")
        mask = box = None
        if _has_segmentation(ann):
            segmentation = ann["segmentation"]
            mask = segmentation_to_mask(segmentation, height, width, where)
            if is_degenerate_polygons(segmentation):
                skip(self.stats, self.path, DEGENERATE_POLYGON, label, logger=_LOG)
                return None
        else:
            if "bbox" not in ann:
                raise ValueError(f"{where} has neither a segmentation nor a bbox")
            x, y, w, h = av.finite_numbers(ann["bbox"], where, "bbox [x, y, width, height]", 4)
            box = (x, y, x + w, y + h)
        return Instance(class_name=name, class_id=class_id, mask=mask, box=box,
                        is_crowd=is_crowd, area=area, label=label)

    def _read(self, info: dict) -> AnnotatedImage:
        name = info["file_name"]
        path = os.path.join(self.image_dir, name)
        self.stats.note_read(path, self.image_dir, name)
        image = read_image(path)
        self.stats.note_orientation(name, image.exif_orientation)
        declared = (image.height if info.get("height") is None else info["height"],
                    image.width if info.get("width") is None else info["width"])
        if declared != (image.height, image.width):
            raise ValueError(f"{self.path}: image {name} is declared {declared[1]}x{declared[0]} "
                             f"(width x height) but the file is {image.width}x{image.height}"
                             f"{rotation_hint(image)}")
        annotations = self._annotations.get(info["id"], [])
        self.stats.images_read += 1
        self.stats.instances_read += len(annotations)
        instances = [inst for inst in (self._instance(label, ann, image.height, image.width)
                                       for label, ann in annotations) if inst is not None]
        return assemble_image(image, name, str(info["id"]), instances,
                              self.stats, self.path, with_masks=self._with_masks)


def _scalar(value: object) -> bool:
    """Whether ``value`` can be an id (lists and objects cannot be looked up)."""
    return isinstance(value, (int, str, float, type(None)))


def _has_segmentation(ann: dict) -> bool:
    """Whether the annotation has a segmentation (absent, null and [] are none: box only)."""
    return ann.get("segmentation") not in (None, [])
