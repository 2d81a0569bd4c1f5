"""CVAT "for images 1.1" XML (``annotations.xml``) as a source of ``AnnotatedImage``s.

One ``<image id name width height>`` element per image, in file order, with its shapes:

* ``<polygon label points="x1,y1;x2,y2;...">``: rasterised as every polygon is (pixels, the
  pixel-edge convention of ``coco_segmentation``);
* ``<box label xtl ytl xbr ybr [rotation]>``: the rectangle's mask (a ``rotation`` in degrees
  turns it clockwise around its centre, as CVAT draws it);
* ``<mask label rle left top width height>``: CVAT's mask RLE, decoded by ``cvat_rle_to_mask``;
* ``<ellipse label cx cy rx ry [rotation]>``: the pixels whose centres lie inside the ellipse
  (turned clockwise around its centre).

The class is the shape's ``label``. Other shapes (polyline, points, cuboid, skeleton)
are skipped and counted; ``<tag>`` (an image-level label) is not an instance and is ignored, as
are the shapes' ``<attribute>`` children and their ``occluded``, ``z_order``, ``group_id`` and
``source``. The video layout (``<track>``) is refused. Images are read from ``--image_dir``,
by default the XML's folder (its ``images/`` subfolder when there is one, as in CVAT's dataset
export); a declared ``width`` / ``height`` must match the file.

A malformed value (a coordinate that is not a finite number, a points list that does not
parse, an RLE whose runs do not cover its box exactly, a mask box outside the image) is an
error naming the file, the image and the shape.
"""

from __future__ import annotations

import logging
import math
import os
from collections.abc import Iterator

import numpy as np
from lxml import etree

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
from object_detection.dataset_tools.image_io import read_image, rotation_hint
from object_detection.dataset_tools.shape_masks import (
    ZERO_RADIUS,
    ellipse_mask,
    rectangle_mask,
)

_LOG = logging.getLogger(__name__)

SHAPES = ("polygon", "box", "mask", "ellipse")
OTHER_SHAPES = ("polyline", "points", "cuboid", "skeleton")
IMAGES_SUBDIR = "images"


def cvat_rle_to_mask(counts: list[int], height: int, width: int, where: str) -> np.ndarray:
    """The [height, width] {0, 1} mask of CVAT's mask RLE over the mask's box.

    The runs alternate 0s and 1s, starting with 0s (a mask whose first pixel is set starts
    with a run of 0), row-major (left to right, then top to bottom), as CVAT's own decoder
    (``CVATRleToCOCORle`` in its dataset manager) reads them. Raises ValueError naming
    ``where`` unless every run is a non-negative integer and the runs add up to
    height x width.
    """
    for run in counts:
        if not (isinstance(run, int) and not isinstance(run, bool)) or run < 0:
            raise ValueError(f"{where}: mask RLE runs must be non-negative integers, got {run!r}")
    total = sum(counts)
    if total != height * width:
        raise ValueError(f"{where}: mask RLE runs add up to {total} pixels but its box is "
                         f"{width}x{height} = {height * width} pixels")
    values = (np.arange(len(counts)) % 2).astype(np.uint8)
    return np.repeat(values, counts).reshape(height, width)


def _number(node, key: str, where: str) -> float:
    value = node.get(key)
    if value is None:
        raise ValueError(f"{where}: <{node.tag}> has no '{key}'")
    try:
        number = float(value)
    except ValueError:
        raise ValueError(f"{where}: '{key}' must be a finite number, got {value!r}") from None
    if not math.isfinite(number):
        raise ValueError(f"{where}: '{key}' must be a finite number, got {value!r}")
    return number


def _integer(node, key: str, where: str, minimum: int) -> int:
    value = _number(node, key, where)
    if value != int(value) or value < minimum:
        raise ValueError(f"{where}: '{key}' must be an integer >= {minimum}, got "
                         f"{node.get(key)!r}")
    return int(value)


def _points(node, where: str) -> list[float]:
    text = node.get("points")
    if text is None:
        raise ValueError(f"{where}: <{node.tag}> has no 'points'")
    flat = []
    for pair in (p for p in text.strip().split(";") if p.strip()):
        xy = pair.split(",")
        try:
            values = [float(v) for v in xy]
        except ValueError:
            values = []
        if len(values) != 2 or not all(math.isfinite(v) for v in values):
            raise ValueError(f"{where}: points must be 'x1,y1;x2,y2;...' with finite numbers, "
                             f"got {pair.strip()!r} in {text[:60]!r}")
        flat += values
    return flat


def _rle(node, where: str) -> list[int]:
    text = node.get("rle")
    if text is None:
        raise ValueError(f"{where}: <mask> has no 'rle'")
    try:
        return [int(v) for v in text.split(",") if v.strip()]
    except ValueError:
        raise ValueError(f"{where}: rle must be comma-separated integers, got "
                         f"{text[:60]!r}") from None


def load_cvat_xml(path: str) -> list:
    """The ``<image>`` elements of a CVAT for images 1.1 XML file, in file order."""
    if not os.path.isfile(path):
        raise FileNotFoundError(f"{path}: CVAT annotation file not found")
    try:
        root = etree.parse(path).getroot()
    except (OSError, etree.XMLSyntaxError) as e:
        raise ValueError(f"{path}: not a readable XML file ({e})") from None
    if root.tag != "annotations":
        raise ValueError(f"{path}: not a CVAT XML file (root element <{root.tag}>, expected "
                         "<annotations>)")
    if root.find("track") is not None:
        raise ValueError(f"{path}: has <track> elements (CVAT for video 1.1); export the task "
                         "as 'CVAT for images 1.1'")
    images = root.findall("image")
    for index, image in enumerate(images, start=1):
        name = image.get("name")
        if name is None or not name.strip():
            raise ValueError(f"{path}: image #{index} has no 'name'")
    return images


class CvatSource:
    """Iterates the images of a CVAT for images 1.1 XML in file order.

    Attributes:
      stats: counts of what was read and skipped.
      categories: COCO categories of the output ids.
      keypoint_names: None.
    """

    keypoint_names = None

    def __init__(self, xml_path: str, image_dir: str | None = None,
                 class_map: ClassMap | None = None, stats: ConversionStats | None = None):
        self.path = xml_path
        if image_dir is None:
            image_dir = os.path.dirname(xml_path)
            if os.path.isdir(os.path.join(image_dir, IMAGES_SUBDIR)):
                image_dir = os.path.join(image_dir, IMAGES_SUBDIR)
        self.image_dir = image_dir
        self.stats = stats if stats is not None else ConversionStats()
        self._images = load_cvat_xml(xml_path)
        seen: dict[str, str] = {}
        for image in self._images:
            name = image.get("name")
            stem = os.path.splitext(name)[0]
            if stem in seen:
                raise ValueError(f"{xml_path}: duplicate file name '{stem}': {seen[stem]} and "
                                 f"{name} (one image per stem)")
            seen[stem] = name
        if class_map is None:
            class_map = ClassMap.from_names(
                shape.get("label") for image in self._images for shape in image
                if shape.tag in SHAPES and shape.get("label"))
        self.class_map = class_map
        self.categories = class_map.categories

    def __iter__(self) -> Iterator[AnnotatedImage]:
        for image in self._images:
            yield self._read(image)

    def _mask(self, shape, height: int, width: int, label: str) -> np.ndarray | None:
        where = f"{self.path}: {label}"
        if shape.tag == "polygon":
            flat = _points(shape, where)
            if len(flat) < 6:
                skip(self.stats, self.path, DEGENERATE_POLYGON, label, logger=_LOG)
                return None
            return polygons_to_mask([flat], height, width, where)
        if shape.tag == "box":
            xmin, ymin, xmax, ymax = (_number(shape, k, where)
                                      for k in ("xtl", "ytl", "xbr", "ybr"))
            rotation = _number(shape, "rotation", where) if shape.get("rotation") else 0.0
            if xmax <= xmin or ymax <= ymin:
                skip(self.stats, self.path, ZERO_SIZE_BOX,
                     f"{label} box ({xmin:g}, {ymin:g}, {xmax:g}, {ymax:g})", logger=_LOG)
                return None
            return rectangle_mask(xmin, ymin, xmax, ymax, height, width, where, rotation)
        if shape.tag == "ellipse":
            cx, cy, rx, ry = (_number(shape, k, where) for k in ("cx", "cy", "rx", "ry"))
            rotation = _number(shape, "rotation", where) if shape.get("rotation") else 0.0
            if rx <= 0 or ry <= 0:
                skip(self.stats, self.path, ZERO_RADIUS, f"{label} ellipse {rx:g}x{ry:g}",
                     logger=_LOG)
                return None
            return ellipse_mask(cx, cy, rx, ry, height, width, rotation)
        left, top = (_integer(shape, k, where, 0) for k in ("left", "top"))
        box_w, box_h = (_integer(shape, k, where, 1) for k in ("width", "height"))
        if left + box_w > width or top + box_h > height:
            raise ValueError(f"{where}: mask box (left {left}, top {top}, {box_w}x{box_h}) "
                             f"lies outside the {width}x{height} image")
        mask = np.zeros((height, width), np.uint8)
        mask[top:top + box_h, left:left + box_w] = cvat_rle_to_mask(
            _rle(shape, where), box_h, box_w, where)
        return mask

    def _instance(self, shape, height: int, width: int, label: str) -> Instance | None:
        if shape.tag in OTHER_SHAPES:
            skip(self.stats, self.path, UNSUPPORTED_SHAPE, f"{label} ({shape.tag})", logger=_LOG)
            return None
        name = shape.get("label")
        if not name:
            skip(self.stats, self.path, MISSING_LABEL, label, logger=_LOG)
            return None
        class_id = self.class_map.resolve(name, self.stats, self.path, label)
        if class_id is None:
            return None
        mask = self._mask(shape, height, width, label)
        if mask is None:
            return None
        return Instance(class_name=name, class_id=class_id, mask=mask, label=label)

    def _read(self, node) -> AnnotatedImage:
        name = node.get("name")
        path = os.path.join(self.image_dir, name)
        self.stats.note_read(path, self.image_dir, name)
        image = read_image(path)
        self.stats.note_orientation(name, image.exif_orientation)
        where = f"{self.path}: image {name}"
        declared = (image.height if node.get("height") is None
                    else _integer(node, "height", where, 1),
                    image.width if node.get("width") is None
                    else _integer(node, "width", where, 1))
        if declared != (image.height, image.width):
            raise ValueError(f"{where} is declared {declared[1]}x{declared[0]} (width x height) "
                             f"but the file is {image.width}x{image.height}{rotation_hint(image)}")
        shapes = [s for s in node if s.tag in SHAPES + OTHER_SHAPES]
        self.stats.images_read += 1
        self.stats.instances_read += len(shapes)
        instances = [inst for i, shape in enumerate(shapes)
                     if (inst := self._instance(shape, image.height, image.width,
                                                f"image {name} {shape.tag} {i}")) is not None]
        return assemble_image(image, name, os.path.splitext(name)[0], instances, self.stats,
                              self.path, with_masks=True)
