"""Pascal VOC (XML annotations, with segmentation PNGs when there) as a source.

Layout under the VOC root (e.g. ``VOC2012/``)::

    Annotations/NAME.xml         objects: name, difficult, bndbox (1-based inclusive pixels)
    JPEGImages/<filename>        the image named by the XML (NAME.jpg when it names none)
    SegmentationObject/NAME.png  optional palette PNG: index k = the k-th object of the XML,
                                 0 background, 255 border / void (ignored)
    SegmentationClass/NAME.png   optional palette PNG of class indices, used to cross-check
    ImageSets/{Segmentation,Main}/SET.txt   optional list of NAMEs (``image_set``)

With ``SegmentationObject`` the masks are the objects' pixels and boxes are tight around them;
without, the image is box-only with the XML's boxes (pixel-edge: xmin - 1 .. xmax).
"""

from __future__ import annotations

import logging
import math
import os
from collections.abc import Iterator

import numpy as np
from lxml import etree

from object_detection.dataset_tools.annotated_image import AnnotatedImage, Instance, assemble_image
from object_detection.dataset_tools.class_map import ClassMap
from object_detection.dataset_tools.conversion_stats import ConversionStats, skip
from object_detection.dataset_tools.image_io import (
    EncodedImage, check_size, read_image, read_label_png, rotation_hint)

_LOG = logging.getLogger(__name__)

ANNOTATIONS_DIR = "Annotations"
IMAGES_DIR = "JPEGImages"
OBJECT_DIR = "SegmentationObject"
CLASS_DIR = "SegmentationClass"
VOID_INDEX = 255
DIFFICULT = "difficult"


def _text(node, tag: str, path: str, required: bool = True) -> str | None:
    child = node.find(tag)
    if child is None or child.text is None or not child.text.strip():
        if required:
            raise ValueError(f"{path}: missing <{tag}> in <{node.tag}>")
        return None
    return child.text.strip()


def _number(node, tag: str, path: str) -> float:
    value = _text(node, tag, path)
    try:
        number = float(value)
    except ValueError as e:
        raise ValueError(f"{path}: <{tag}> is not a number: {value!r}") from e
    if not math.isfinite(number):
        raise ValueError(f"{path}: <{tag}> is not a finite number: {value!r}")
    return number


def parse_voc_xml(path: str) -> dict:
    """{"filename", "width", "height", "objects": [{"name", "difficult", "bndbox"}]} of one XML.

    ``bndbox`` is (xmin, ymin, xmax, ymax) as written (1-based, inclusive); width / height are
    None when the XML has no <size>.
    """
    try:
        root = etree.parse(path).getroot()
    except (OSError, etree.XMLSyntaxError) as e:
        raise ValueError(f"{path}: not a readable VOC XML file ({e})") from e
    size = root.find("size")
    objects = []
    for obj in root.findall("object"):
        box = obj.find("bndbox")
        if box is None:
            raise ValueError(f"{path}: object {len(objects) + 1} has no <bndbox>")
        objects.append({
            "name": _text(obj, "name", path),
            "difficult": (int(_number(obj, "difficult", path))
                          if obj.find("difficult") is not None else 0),
            "bndbox": tuple(_number(box, t, path) for t in ("xmin", "ymin", "xmax", "ymax")),
        })
    return {
        "filename": _text(root, "filename", path, required=False),
        "width": int(_number(size, "width", path)) if size is not None else None,
        "height": int(_number(size, "height", path)) if size is not None else None,
        "objects": objects,
    }


def _cross_check(objects: list[dict], indices: np.ndarray, classes: np.ndarray, path: str) -> None:
    """Each object's pixels must carry one non-void class index, one per class name."""
    value_of_name: dict[str, int] = {}
    for k, obj in enumerate(objects, start=1):
        values = np.unique(classes[indices == k])
        if values.size == 0:
            continue
        if values.size != 1 or values[0] in (0, VOID_INDEX):
            raise ValueError(f"{path}: object {k} ('{obj['name']}') has class indices "
                             f"{values.tolist()} in SegmentationClass (expected one class)")
        previous = value_of_name.setdefault(obj["name"], int(values[0]))
        if previous != int(values[0]):
            raise ValueError(f"{path}: objects named '{obj['name']}' have class indices "
                             f"{previous} and {int(values[0])} in SegmentationClass")
    names_of_value: dict[int, str] = {}
    for name, value in value_of_name.items():
        if names_of_value.setdefault(value, name) != name:
            raise ValueError(f"{path}: classes '{names_of_value[value]}' and '{name}' share class "
                             f"index {value} in SegmentationClass")


class VocSource:
    """Iterates the annotated images of a VOC root, sorted by XML name (or in image-set order).

    Attributes:
      stats: counts of what was read and skipped.
      categories: COCO categories of the output ids.
      keypoint_names: None.
    """

    keypoint_names = None

    def __init__(self, voc_root: str, image_set: str | None = None,
                 class_map: ClassMap | None = None, skip_difficult: bool = False,
                 stats: ConversionStats | None = None):
        self.root = voc_root
        self.skip_difficult = skip_difficult
        self.stats = stats if stats is not None else ConversionStats()
        self._stems = self._list_stems(image_set)
        self._xml = {stem: parse_voc_xml(self._xml_path(stem)) for stem in self._stems}
        seen: dict[str, str] = {}
        for stem, xml in self._xml.items():
            name = xml["filename"] or stem + ".jpg"
            if name in seen:
                raise ValueError(f"{self._xml_path(stem)}: duplicate file name '{name}' "
                                 f"(also in {self._xml_path(seen[name])})")
            seen[name] = stem
        if class_map is None:
            class_map = ClassMap.from_names(
                obj["name"] for xml in self._xml.values() for obj in xml["objects"])
        self.class_map = class_map
        self.categories = class_map.categories
        self._with_masks = os.path.isdir(os.path.join(voc_root, OBJECT_DIR))

    def _xml_path(self, stem: str) -> str:
        return os.path.join(self.root, ANNOTATIONS_DIR, stem + ".xml")

    def _image_name(self, stem: str) -> str:
        return self._xml[stem]["filename"] or stem + ".jpg"

    def _image_path(self, stem: str) -> str:
        return os.path.join(self.root, IMAGES_DIR, self._image_name(stem))

    def _list_stems(self, image_set: str | None) -> list[str]:
        annotations = os.path.join(self.root, ANNOTATIONS_DIR)
        if not os.path.isdir(annotations):
            raise FileNotFoundError(
                f"{self.root}: no '{ANNOTATIONS_DIR}/' folder (VOC layout expected)")
        if image_set is None:
            return sorted(os.path.splitext(n)[0] for n in os.listdir(annotations)
                          if n.lower().endswith(".xml"))
        for sub in ("Segmentation", "Main"):
            listing = os.path.join(self.root, "ImageSets", sub, image_set + ".txt")
            if os.path.isfile(listing):
                with open(listing, encoding="utf-8") as f:
                    stems = [line.split()[0] for line in f if line.strip()]
                for stem in stems:
                    if not os.path.isfile(self._xml_path(stem)):
                        raise FileNotFoundError(f"{self._xml_path(stem)}: annotation missing "
                                                f"for '{stem}' listed in {listing}")
                return stems
        raise FileNotFoundError(f"{self.root}/ImageSets: no Segmentation/ or Main/ {image_set}.txt")

    def __iter__(self) -> Iterator[AnnotatedImage]:
        for stem in self._stems:
            yield self._read(stem)

    def _object_masks(self, stem: str, image: EncodedImage, objects: list[dict]) -> list | None:
        """One [H, W] bool mask per XML object, or None when the image has no segmentation."""
        path = os.path.join(self.root, OBJECT_DIR, stem + ".png")
        if not os.path.isfile(path):
            return None
        self.stats.note_read(path, self.root)
        indices = read_label_png(path, "SegmentationObject PNG", modes=("P", "L"))
        check_size(indices, image, path, "SegmentationObject PNG", self._image_path(stem))
        extra = sorted(set(np.unique(indices).tolist()) - {0, VOID_INDEX}
                       - set(range(1, len(objects) + 1)))
        if extra:
            raise ValueError(f"{path}: object indices {extra} but {self._xml_path(stem)} lists "
                             f"{len(objects)} objects")
        class_path = os.path.join(self.root, CLASS_DIR, stem + ".png")
        if os.path.isfile(class_path):
            self.stats.note_read(class_path, self.root)
            classes = read_label_png(class_path, "SegmentationClass PNG", modes=("P", "L"))
            check_size(classes, image, class_path, "SegmentationClass PNG",
                       self._image_path(stem))
            _cross_check(objects, indices, classes, class_path)
        return [indices == k for k in range(1, len(objects) + 1)]

    def _read(self, stem: str) -> AnnotatedImage:
        xml_path = self._xml_path(stem)
        xml = self._xml[stem]
        name = self._image_name(stem)
        image_path = self._image_path(stem)
        self.stats.note_read(image_path, self.root, os.path.join(IMAGES_DIR, name))
        image = read_image(image_path)
        self.stats.note_orientation(name, image.exif_orientation)
        declared = (xml["height"], xml["width"])
        if xml["width"] not in (None, 0) and declared != (image.height, image.width):
            raise ValueError(f"{xml_path}: <size> is {xml['width']}x{xml['height']} but image "
                             f"{name} is {image.width}x{image.height}{rotation_hint(image)}")
        objects = xml["objects"]
        masks = self._object_masks(stem, image, objects)
        self.stats.images_read += 1
        self.stats.instances_read += len(objects)
        instances = []
        for k, obj in enumerate(objects, start=1):
            label = f"object {k}"
            if self.skip_difficult and obj["difficult"]:
                skip(self.stats, xml_path, DIFFICULT, label, logger=_LOG, requested=True)
                continue
            class_id = self.class_map.resolve(obj["name"], self.stats, xml_path, label)
            if class_id is None:
                continue
            xmin, ymin, xmax, ymax = obj["bndbox"]
            instances.append(Instance(
                class_name=obj["name"], class_id=class_id,
                mask=masks[k - 1] if masks is not None else None,
                box=(xmin - 1, ymin - 1, xmax, ymax), label=label))
        return assemble_image(image, name, stem, instances, self.stats, xml_path,
                              with_masks=masks is not None)
