"""COCO instance annotations (a JSON file and an image folder) as a source of ``AnnotatedImage``s.

Segmentations may be polygons, compressed or uncompressed RLE; ``iscrowd`` and ``area`` are
kept. An annotation without segmentation is box-only (its ``bbox``), which is only possible
when no annotation of the same image has a mask. Category ids are kept, or mapped by category
name to a label map's ids (other categories are then skipped). Images keep their JSON order,
and their COCO id becomes the record's source id.
"""

from __future__ import annotations

import json
import logging
import os
from collections import defaultdict
from collections.abc import Iterator

from object_detection.dataset_tools.annotated_image import AnnotatedImage, Instance, assemble_image
from object_detection.dataset_tools.class_map import ClassMap
from object_detection.dataset_tools.coco_segmentation import segmentation_to_mask
from object_detection.dataset_tools.conversion_stats import ConversionStats
from object_detection.dataset_tools.image_io import read_image

_LOG = logging.getLogger(__name__)


def load_coco_json(path: str, what: str = "COCO annotation file",
                   required: tuple[str, ...] = ()) -> dict:
    """The COCO dataset object of the JSON file ``path``: a dict with an ``images`` list, and
    ``annotations`` / ``categories`` lists where present (``required`` names those that must
    be). FileNotFoundError or ValueError naming the file and ``what`` it should be otherwise."""
    if not os.path.isfile(path):
        raise FileNotFoundError(f"{path}: {what} not found")
    try:
        with open(path, encoding="utf-8") as f:
            data = json.load(f)
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise ValueError(f"{path}: not a JSON file ({e})") from None
    if not isinstance(data, dict) or not isinstance(data.get("images"), list):
        raise ValueError(f"{path}: not a {what} (no 'images' list)")
    for key in ("annotations", "categories"):
        if (key in data or key in required) and not isinstance(data.get(key), list):
            raise ValueError(f"{path}: not a {what} (no '{key}' list)")
    return data


def _unique(items: list[dict], key: str, what: str, path: str) -> dict:
    result = {}
    for item in items:
        if key not in item:
            raise ValueError(f"{path}: a {what} has no '{key}': {str(item)[:80]}")
        if item[key] in result:
            raise ValueError(f"{path}: duplicate {what} {key} {item[key]!r}")
        result[item[key]] = item
    return result


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
        categories = _unique(data.get("categories", []), "id", "category", self.path)
        self._category_names = {cid: str(c.get("name", cid)) for cid, c in categories.items()}
        self._annotations = defaultdict(list)
        image_ids = {image["id"] for image in self._images}
        for ann in data.get("annotations", []):
            if ann.get("image_id") not in image_ids:
                raise ValueError(f"{self.path}: annotation {ann.get('id')} refers to image id "
                                 f"{ann.get('image_id')!r}, which is not in 'images'")
            if ann.get("category_id") not in self._category_names:
                raise ValueError(f"{self.path}: annotation {ann.get('id')} has category id "
                                 f"{ann.get('category_id')!r}, which is not in 'categories'")
            self._annotations[ann["image_id"]].append(ann)
        self._with_masks = any(ann.get("segmentation") for anns in self._annotations.values()
                               for ann in anns)
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

    def _instance(self, ann: dict, height: int, width: int) -> Instance | None:
        label = f"annotation {ann.get('id')}"
        name = self._category_names[ann["category_id"]]
        class_id = self.class_map.resolve(name, self.stats, self.path, label)
        if class_id is None:
            return None
        segmentation = ann.get("segmentation")
        mask = box = None
        if segmentation:
            mask = segmentation_to_mask(segmentation, height, width, f"{self.path}: {label}")
        else:
            bbox = ann.get("bbox")
            if not (isinstance(bbox, list) and len(bbox) == 4):
                raise ValueError(f"{self.path}: {label} has neither a segmentation nor a bbox")
            x, y, w, h = (float(v) for v in bbox)
            box = (x, y, x + w, y + h)
        area = ann.get("area")
        return Instance(class_name=name, class_id=class_id, mask=mask, box=box,
                        is_crowd=bool(ann.get("iscrowd", 0)),
                        area=float(area) if area is not None else None, label=label)

    def _read(self, info: dict) -> AnnotatedImage:
        name = str(info["file_name"])
        image = read_image(os.path.join(self.image_dir, name))
        declared = (info.get("height", image.height), info.get("width", image.width))
        if declared != (image.height, image.width):
            raise ValueError(f"{self.path}: image {name} is declared {declared[1]}x{declared[0]} "
                             f"(width x height) but the file is {image.width}x{image.height}")
        annotations = self._annotations.get(info["id"], [])
        self.stats.images_read += 1
        self.stats.instances_read += len(annotations)
        instances = [inst for inst in (self._instance(ann, image.height, image.width)
                                       for ann in annotations) if inst is not None]
        return assemble_image(image, name, str(info["id"]), instances,
                              self.stats, self.path, with_masks=self._with_masks)
