"""VGG Image Annotator (VIA) polygon JSON as a source of ``AnnotatedImage``s.

Two layouts, as in the Mask R-CNN balloon sample:

* VIA 1.x: ``{key: {"filename", "regions": {"0": {"shape_attributes", "region_attributes"}}}}``;
* VIA 2.x: a project with ``"_via_img_metadata": {key: {"filename", "regions": [...]}}`` (or that
  inner object alone, as VIA 2 exports it).

Shapes ``polygon`` (all_points_x / all_points_y, in pixels) and ``rect`` (x, y, width, height)
become masks; other shapes are skipped with a warning. The class is a region attribute chosen by
the user (a text value, or the single checked option of a checkbox / dropdown dict), or one
class for all regions. Images are read from the JSON's folder unless told otherwise.

A malformed entry (a file name that is not a string, a region that is not an object, a shape
attribute that is missing or not a finite number, ...) is an error naming the file, the image
and the region.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterator

import numpy as np

from object_detection.dataset_tools import annotation_values as av
from object_detection.dataset_tools.annotated_image import (
    ZERO_SIZE_BOX, AnnotatedImage, Instance, assemble_image)
from object_detection.dataset_tools.class_map import ClassMap
from object_detection.dataset_tools.coco_segmentation import DEGENERATE_POLYGON, polygons_to_mask
from object_detection.dataset_tools.conversion_stats import UNSUPPORTED_SHAPE, ConversionStats, skip
from object_detection.dataset_tools.image_io import read_image

_LOG = logging.getLogger(__name__)

MISSING_CLASS = "no class attribute"


def _load_entries(path: str) -> list[dict]:
    """The per-image entries of a VIA 1.x or 2.x JSON, in file order."""
    data = av.read_json(path, "VIA annotation file")
    if isinstance(data, dict) and "_via_img_metadata" in data:
        data = data["_via_img_metadata"]
    if not isinstance(data, dict):
        raise ValueError(f"{path}: expected VIA image entries with 'filename' and 'regions'")
    for key, entry in data.items():
        if not (isinstance(entry, dict) and "filename" in entry and "regions" in entry):
            raise ValueError(f"{path}: entry {key!r}: expected a VIA image entry with "
                             f"'filename' and 'regions', got {str(entry)[:80]}")
        av.file_name(entry["filename"], f"{path}: entry {key!r}", "filename")
    return list(data.values())


def _regions(entry: dict, path: str) -> list[dict]:
    regions = entry["regions"]
    if isinstance(regions, dict):  # VIA 1.x: {"0": region, "1": region, ...}
        regions = [regions[k] for k in sorted(regions, key=lambda k: (len(k), k))]
    elif not isinstance(regions, list):
        raise ValueError(f"{path}: image {entry['filename']}: 'regions' must be a list or an "
                         f"object, got {str(regions)[:80]}")
    for i, region in enumerate(regions):
        where = f"{path}: image {entry['filename']} region {i}"
        if not isinstance(region, dict):
            raise ValueError(f"{where}: a region must be an object, got {str(region)[:80]}")
        for key in ("shape_attributes", "region_attributes"):
            if region.get(key) is not None and not isinstance(region[key], dict):
                raise ValueError(f"{where}: '{key}' must be an object, got "
                                 f"{str(region[key])[:80]}")
    return regions


def _attribute_value(region: dict, attribute: str, where: str) -> str | None:
    """The class name in ``region_attributes[attribute]``, None when absent or empty."""
    value = (region.get("region_attributes") or {}).get(attribute)
    if not (value is None or isinstance(value, (str, dict)) or av.is_number(value)):
        raise ValueError(f"{where}: attribute '{attribute}' must be a text or an option "
                         f"object, got {str(value)[:80]}")
    if isinstance(value, dict):  # checkbox / dropdown: {"option": true, ...}
        checked = [k for k, v in value.items() if v]
        if len(checked) > 1:
            raise ValueError(f"{where}: attribute '{attribute}' has several options checked: "
                             f"{', '.join(checked)}")
        value = checked[0] if checked else None
    if value is None or value == "":
        return None
    return str(value).strip()


class ViaSource:
    """Iterates the images of a VIA JSON in file order.

    Attributes:
      stats: counts of what was read and skipped.
      categories: COCO categories of the output ids.
      keypoint_names: None (VIA regions have no keypoints here).
    """

    keypoint_names = None

    def __init__(self, json_path: str, image_dir: str | None = None,
                 class_attribute: str | None = None, class_name: str = "character",
                 class_map: ClassMap | None = None, stats: ConversionStats | None = None):
        """``class_attribute`` None: every region gets ``class_name``."""
        self.path = json_path
        self.image_dir = image_dir if image_dir is not None else os.path.dirname(json_path)
        self.class_attribute = class_attribute
        self.class_name = class_name
        self.stats = stats if stats is not None else ConversionStats()
        self._entries = _load_entries(json_path)
        seen: dict[str, str] = {}
        for entry in self._entries:
            name = entry["filename"]
            stem = os.path.splitext(name)[0]
            if stem in seen:
                raise ValueError(f"{json_path}: duplicate file name '{stem}': {seen[stem]} and "
                                 f"{name} (one image per stem)")
            seen[stem] = name
        if class_map is None:
            class_map = ClassMap.from_names(self._all_class_names())
        elif class_attribute is None and class_name not in class_map:
            raise ValueError(f"class '{class_name}' is not in the label map")
        self.class_map = class_map
        self.categories = class_map.categories

    def _all_class_names(self) -> set[str]:
        if self.class_attribute is None:
            return {self.class_name}
        names = set()
        for entry in self._entries:
            for i, region in enumerate(_regions(entry, self.path)):
                value = _attribute_value(region, self.class_attribute,
                                         f"{self.path}: image {entry['filename']} region {i}")
                if value is not None:
                    names.add(value)
        return names

    def __iter__(self) -> Iterator[AnnotatedImage]:
        for entry in self._entries:
            yield self._read(entry)

    def _attribute(self, shape: dict, key: str, where: str):
        if key not in shape:
            raise ValueError(f"{where}: {shape.get('name')} has no '{key}' in shape_attributes")
        return shape[key]

    def _shape_mask(self, shape: dict, height: int, width: int, label: str) -> np.ndarray | None:
        kind = shape.get("name")
        where = f"{self.path}: {label}"
        if kind == "polygon":
            xs = av.finite_numbers(self._attribute(shape, "all_points_x", where), where,
                                   "all_points_x")
            ys = av.finite_numbers(self._attribute(shape, "all_points_y", where), where,
                                   "all_points_y")
            if len(xs) != len(ys):
                raise ValueError(f"{where}: all_points_x and all_points_y differ in length")
            if len(xs) < 3:
                skip(self.stats, self.path, DEGENERATE_POLYGON, label, logger=_LOG)
                return None
            return polygons_to_mask([[v for xy in zip(xs, ys) for v in xy]], height, width,
                                    where)
        if kind == "rect":
            x, y, w, h = (av.finite_number(self._attribute(shape, key, where), where, key)
                          for key in ("x", "y", "width", "height"))
            if w <= 0 or h <= 0:
                skip(self.stats, self.path, ZERO_SIZE_BOX, f"{label} rect {w:g}x{h:g}",
                     logger=_LOG)
                return None
            return polygons_to_mask([[x, y, x + w, y, x + w, y + h, x, y + h]], height, width,
                                    where)
        skip(self.stats, self.path, UNSUPPORTED_SHAPE, f"{label} shape '{kind}'", logger=_LOG)
        return None

    def _instance(self, region: dict, height: int, width: int, label: str) -> Instance | None:
        if self.class_attribute is None:
            name = self.class_name
        else:
            name = _attribute_value(region, self.class_attribute, f"{self.path}: {label}")
            if name is None:
                skip(self.stats, self.path, MISSING_CLASS,
                     f"{label} attribute '{self.class_attribute}'", logger=_LOG)
                return None
        class_id = self.class_map.resolve(name, self.stats, self.path, label)
        if class_id is None:
            return None
        mask = self._shape_mask(region.get("shape_attributes") or {}, height, width, label)
        if mask is None:
            return None
        return Instance(class_name=name, class_id=class_id, mask=mask, label=label)

    def _read(self, entry: dict) -> AnnotatedImage:
        name = entry["filename"]
        regions = _regions(entry, self.path)
        path = os.path.join(self.image_dir, name)
        self.stats.note_read(path, self.image_dir, name)
        image = read_image(path)
        self.stats.note_orientation(name, image.exif_orientation)
        self.stats.images_read += 1
        self.stats.instances_read += len(regions)
        instances = [inst for i, region in enumerate(regions)
                     if (inst := self._instance(region, image.height, image.width,
                                                f"image {name} region {i}")) is not None]
        return assemble_image(image, name, os.path.splitext(name)[0], instances, self.stats,
                              self.path, with_masks=True)
