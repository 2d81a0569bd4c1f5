"""A folder of LabelMe JSON files (one per image) as a source of ``AnnotatedImage``s.

Every ``*.json`` directly in the folder, sorted by name, is one image: ``imagePath`` (relative to
the JSON, ``\\`` read as ``/``) names the image file, and ``imageData`` (base64), when not null,
is the image itself and is used instead of the file, as LabelMe does. ``imageHeight`` /
``imageWidth``, when given, must match the image. ``shapes`` hold the instances:

* ``polygon`` (also a shape without ``shape_type``, as older LabelMe wrote them): ``points``
  [[x, y], ...] in pixels, rasterised as every polygon is;
* ``rectangle``: two opposite corners;
* ``circle``: the centre and a point on the circle; the pixels whose centres lie within the
  radius.

Shapes with the same ``label`` and the same non-null ``group_id`` are one instance (their masks
united), as LabelMe's instance-segmentation export groups them; every other shape is its own
instance. Other shape types (line, linestrip, point, points, mask, ...) are skipped and
counted; ``flags`` are ignored. The class is the shape's ``label``. The record's file name is
the image's base name (``<JSON stem>.png`` for an embedded image without ``imagePath``), its
source id the JSON's stem; two JSON files naming the same image file are an error. A
malformed value is an error naming the JSON file and the shape.
"""

from __future__ import annotations

import base64
import binascii
import logging
import math
import os
from collections.abc import Iterator

import numpy as np

from object_detection.dataset_tools import annotation_values as av
from object_detection.dataset_tools.annotated_image import (
    ZERO_SIZE_BOX,
    AnnotatedImage,
    Instance,
    assemble_image,
)
from object_detection.dataset_tools.class_map import ClassMap
from object_detection.dataset_tools.coco_segmentation import (
    DEGENERATE_POLYGON,
    polygons_to_mask,
)
from object_detection.dataset_tools.conversion_stats import (
    MISSING_LABEL,
    UNSUPPORTED_SHAPE,
    ConversionStats,
    skip,
)
from object_detection.dataset_tools.image_io import (
    EncodedImage,
    encode_image_bytes,
    read_image,
    rotation_hint,
)
from object_detection.dataset_tools.shape_masks import (
    ZERO_RADIUS,
    circle_mask,
    rectangle_mask,
)

_LOG = logging.getLogger(__name__)

SHAPES = ("polygon", "rectangle", "circle")


def _load(path: str) -> dict:
    data = av.read_json(path)
    if not isinstance(data, dict) or not isinstance(data.get("shapes"), list):
        raise ValueError(f"{path}: not a LabelMe file (no 'shapes' list)")
    if data.get("imageData") is None:
        av.file_name(data.get("imagePath"), path, "imagePath")
    elif not isinstance(data["imageData"], str):
        raise ValueError(f"{path}: imageData must be base64 text or null")
    if data.get("imagePath") is not None:
        av.file_name(data["imagePath"], path, "imagePath")
    for i, shape in enumerate(data["shapes"]):
        if not isinstance(shape, dict):
            raise ValueError(f"{path}: shape {i}: a shape must be an object, got "
                             f"{str(shape)[:80]}")
        label = shape.get("label")
        if label is not None and not isinstance(label, str):
            raise ValueError(f"{path}: shape {i}: label must be a text, got {str(label)[:60]}")
    return data


def _shape_type(shape: dict) -> str:
    kind = shape.get("shape_type")
    return "polygon" if kind is None else str(kind)


def _group_key(shape: dict, index: int, where: str):
    group = shape.get("group_id")
    if group is None:
        return ("shape", index)
    if not (av.is_number(group) or isinstance(group, str)):
        raise ValueError(f"{where}: group_id must be a number, a text or null, got "
                         f"{str(group)[:60]}")
    return ("group", shape.get("label"), group)


class LabelmeSource:
    """Iterates the LabelMe JSON files of a folder, sorted by name.

    Attributes:
      stats: counts of what was read and skipped (an instance is a shape, or a group).
      categories: COCO categories of the output ids.
      keypoint_names: None.
    """

    keypoint_names = None

    def __init__(self, folder: str, class_map: ClassMap | None = None,
                 stats: ConversionStats | None = None):
        if not os.path.isdir(folder):
            raise FileNotFoundError(f"{folder}: LabelMe folder not found")
        self.root = folder
        self.stats = stats if stats is not None else ConversionStats()
        self._paths = sorted(os.path.join(folder, n) for n in os.listdir(folder)
                             if n.lower().endswith(".json")
                             and os.path.isfile(os.path.join(folder, n)))
        if not self._paths:
            raise FileNotFoundError(f"{folder}: no LabelMe JSON files in the folder")
        self._data = {p: _load(p) for p in self._paths}
        seen: dict[str, str] = {}
        for path, data in self._data.items():
            name = self._image_name(path, data)
            if name in seen:
                raise ValueError(f"{path}: duplicate image file name '{name}' (also in "
                                 f"{seen[name]})")
            seen[name] = path
        if class_map is None:
            class_map = ClassMap.from_names(
                s["label"] for data in self._data.values() for s in data["shapes"]
                if s.get("label") and _shape_type(s) in SHAPES)
        self.class_map = class_map
        self.categories = class_map.categories

    @staticmethod
    def _image_name(path: str, data: dict) -> str:
        if data.get("imagePath"):
            return data["imagePath"].replace("\\", "/").rsplit("/", 1)[-1]
        return os.path.splitext(os.path.basename(path))[0] + ".png"

    def __iter__(self) -> Iterator[AnnotatedImage]:
        for path in self._paths:
            yield self._read(path, self._data[path])

    def _image(self, path: str, data: dict) -> EncodedImage:
        if data.get("imageData") is not None:
            try:
                raw = base64.b64decode(data["imageData"], validate=True)
            except (binascii.Error, ValueError):
                raise ValueError(f"{path}: imageData is not valid base64") from None
            return encode_image_bytes(raw, f"{path}: imageData")
        written = data["imagePath"].replace("\\", "/")
        image_path = os.path.join(os.path.dirname(path), written)
        self.stats.note_read(image_path, self.root, written)
        return read_image(image_path)

    @staticmethod
    def _mask(shape: dict, height: int, width: int, where: str, label: str
              ) -> tuple[np.ndarray | None, str, str]:
        """(the mask, "", "") or (None, skip reason, detail) of one shape."""
        points = shape.get("points")
        if not isinstance(points, list):
            raise ValueError(f"{where}: 'points' must be a list of [x, y], got "
                             f"{str(points)[:60]}")
        xy = [av.finite_numbers(p, where, "point [x, y]", 2) for p in points]
        kind = _shape_type(shape)
        if kind == "polygon":
            if len(xy) < 3:
                return None, DEGENERATE_POLYGON, label
            return polygons_to_mask([[v for p in xy for v in p]], height, width, where), "", ""
        if len(xy) != 2:
            raise ValueError(f"{where}: a {kind} needs 2 points, got {len(xy)}")
        (x0, y0), (x1, y1) = xy
        if kind == "rectangle":
            xmin, xmax, ymin, ymax = min(x0, x1), max(x0, x1), min(y0, y1), max(y0, y1)
            if xmax <= xmin or ymax <= ymin:
                return None, ZERO_SIZE_BOX, f"{label} rectangle {xmax - xmin:g}x{ymax - ymin:g}"
            return rectangle_mask(xmin, ymin, xmax, ymax, height, width, where), "", ""
        radius = math.hypot(x1 - x0, y1 - y0)
        if radius == 0:
            return None, ZERO_RADIUS, label
        return circle_mask(x0, y0, radius, height, width), "", ""

    def _read(self, path: str, data: dict) -> AnnotatedImage:
        image = self._image(path, data)
        name = self._image_name(path, data)
        self.stats.note_orientation(name, image.exif_orientation)
        for key, size in (("imageWidth", image.width), ("imageHeight", image.height)):
            if data.get(key) is not None and av.positive_int(data[key], path, key) != size:
                raise ValueError(f"{path}: {key} is {data[key]} but image {name} is "
                                 f"{image.width}x{image.height} (width x height)"
                                 f"{rotation_hint(image)}")
        groups: dict = {}
        for i, shape in enumerate(data["shapes"]):
            groups.setdefault(_group_key(shape, i, f"{path}: shape {i}"), []).append(i)
        self.stats.images_read += 1
        self.stats.instances_read += len(groups)
        instances = []
        for indices in groups.values():
            inst = self._instance(path, data, indices, image)
            if inst is not None:
                instances.append(inst)
        return assemble_image(image, name, os.path.splitext(os.path.basename(path))[0],
                              instances, self.stats, path, with_masks=True)

    def _instance(self, path: str, data: dict, indices: list[int], image: EncodedImage
                  ) -> Instance | None:
        label = "shape " + "+".join(str(i) for i in indices)
        first = data["shapes"][indices[0]]
        kinds = {_shape_type(data["shapes"][i]) for i in indices}
        unsupported = sorted(kinds - set(SHAPES))
        if unsupported:
            skip(self.stats, path, UNSUPPORTED_SHAPE, f"{label} ({', '.join(unsupported)})",
                 logger=_LOG)
            return None
        name = first.get("label")
        if not name:
            skip(self.stats, path, MISSING_LABEL, label, logger=_LOG)
            return None
        class_id = self.class_map.resolve(name, self.stats, path, label)
        if class_id is None:
            return None
        mask, reasons = None, []
        for i in indices:
            part, reason, detail = self._mask(data["shapes"][i], image.height, image.width,
                                              f"{path}: shape {i}", f"shape {i}")
            if part is None:
                reasons.append((reason, detail))
            else:
                mask = part if mask is None else np.maximum(mask, part)
        if mask is None:   # a group is skipped only when none of its shapes has an area
            skip(self.stats, path, reasons[0][0], reasons[0][1], logger=_LOG)
            return None
        return Instance(class_name=name, class_id=class_id, mask=mask, label=label)
