"""Label Studio JSON export (a list of tasks) as a source of ``AnnotatedImage``s.

Each task is one image: ``data.image`` names it, ``annotations[].result[]`` holds its regions.
The first annotation not marked ``was_cancelled`` is converted (several annotators' copies of
one image would otherwise become duplicate instances); ``predictions`` are ignored. Region types:

* ``polygonlabels``: ``value.points`` [[x, y], ...] in percent of ``original_width`` /
  ``original_height``, rasterised as every polygon is;
* ``rectanglelabels``: ``value.x, y, width, height`` in percent; a ``rotation`` (degrees) turns
  the rectangle clockwise around its top-left corner (x, y), as Label Studio draws it;
* ``ellipselabels``: ``value.x, y`` the centre, ``radiusX`` (percent of the width),
  ``radiusY`` (percent of the height), ``rotation`` clockwise around the centre; the pixels
  whose centres lie inside;
* ``brushlabels``: ``value.rle``, Label Studio's brush RLE (not COCO RLE: the bit-packed
  run-length code of the RGBA image of the stroke, ``decode_brush_rle``); the mask is the
  pixels whose alpha is above 0.

The class is the single name in ``value.<type>`` (a region with several is an error, one with
none is skipped). Other ``*labels`` regions (keypoints, ...) are skipped and counted;
results that are no regions (``choices``, ``textarea``, ``relation``, ...) are ignored. Each
result's ``original_width`` / ``original_height``, when given, must be the image's size.

The image file is looked up in ``--image_dir`` (default: the JSON's folder) by the last path
component of ``data.image`` (URL-decoded, the ``?d=`` parameter of local-storage URLs taken as
the path); for uploads (``/data/upload/<project>/<8 hex digits>-<name>``) the file is ``<name>``
unless a file with the prefixed name exists. Malformed values are errors naming the file, the
task and the result.
"""

from __future__ import annotations

import logging
import os
import re
import urllib.parse
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
from object_detection.dataset_tools.image_io import read_image, rotation_hint
from object_detection.dataset_tools.shape_masks import (
    ZERO_RADIUS,
    ellipse_mask,
    rectangle_mask,
)

_LOG = logging.getLogger(__name__)

SHAPES = ("polygonlabels", "rectanglelabels", "ellipselabels", "brushlabels")
_UPLOAD_PREFIX = re.compile(r"^[0-9a-fA-F]{8}-(.+)$")


class _Bits:
    """Reads big-endian bit fields from bytes (most significant bit of each byte first)."""

    def __init__(self, data: bytes, where: str):
        self._value = int.from_bytes(data, "big")
        self._left = len(data) * 8
        self._where = where

    def read(self, size: int) -> int:
        if size > self._left:
            raise ValueError(f"{self._where}: brush RLE ends early (truncated data)")
        self._left -= size
        return (self._value >> self._left) & ((1 << size) - 1)


def decode_brush_rle(rle: list[int], where: str) -> np.ndarray:
    """The flat uint8 values (R, G, B, A per pixel, row-major) of a Label Studio brush RLE.

    The bytes are one bit stream (most significant bit first): 32 bits the number of values,
    5 bits the word size - 1, four 4-bit fields the run-length field sizes - 1; then blocks
    until all values are out: 1 bit kind, 2 bits which run-length field size, that many bits
    n - 1 of the block's length n; kind 1 is one word repeated n times, kind 0 n words each
    given. Raises ValueError naming ``where`` for values that are not bytes, a word size above
    8 bits, or a stream that ends early or runs past its count.
    """
    if not isinstance(rle, list) or not all(
            isinstance(v, int) and not isinstance(v, bool) and 0 <= v <= 255 for v in rle):
        raise ValueError(f"{where}: brush rle must be a list of byte values 0..255, got "
                         f"{str(rle)[:60]}")
    bits = _Bits(bytes(rle), where)
    num = bits.read(32)
    word_size = bits.read(5) + 1
    if word_size > 8:
        raise ValueError(f"{where}: brush RLE word size is {word_size} bits (expected 8)")
    sizes = [bits.read(4) + 1 for _ in range(4)]
    out = np.zeros(num, np.uint8)
    i = 0
    while i < num:
        repeated = bits.read(1)
        j = i + 1 + bits.read(sizes[bits.read(2)])
        if j > num:
            raise ValueError(f"{where}: brush RLE runs past its {num} values")
        if repeated:
            out[i:j] = bits.read(word_size)
        else:
            for k in range(i, j):
                out[k] = bits.read(word_size)
        i = j
    return out


def brush_rle_to_mask(rle: list[int], height: int, width: int, where: str) -> np.ndarray:
    """[H, W] {0, 1} mask of a brush RLE: the pixels whose alpha (4th value) is above 0."""
    values = decode_brush_rle(rle, where)
    if values.size != height * width * 4:
        raise ValueError(f"{where}: brush RLE holds {values.size} values but a {width}x{height} "
                         f"RGBA image has {height * width * 4}")
    return (values.reshape(height, width, 4)[:, :, 3] > 0).astype(np.uint8)


def image_file_name(url: str) -> tuple[str, str | None]:
    """(the file name of ``data.image``, the name without an upload prefix or None)."""
    parsed = urllib.parse.urlparse(url)
    path = parsed.path
    local = urllib.parse.parse_qs(parsed.query).get("d")
    if local:
        path = local[0]
    name = urllib.parse.unquote(path).replace("\\", "/").rstrip("/").rsplit("/", 1)[-1]
    match = _UPLOAD_PREFIX.match(name)
    unprefixed = match.group(1) if match and "/data/upload/" in parsed.path else None
    return name, unprefixed


def _load_tasks(path: str) -> list[dict]:
    data = av.read_json(path, "Label Studio export")
    if isinstance(data, dict):
        data = [data]   # a single task
    if not isinstance(data, list):
        raise ValueError(f"{path}: expected a Label Studio export (a list of tasks)")
    for index, task in enumerate(data):
        where = f"{path}: task #{index}"
        if not isinstance(task, dict) or not isinstance(task.get("data"), dict):
            raise ValueError(f"{where}: expected a task object with 'data', got {str(task)[:80]}")
        av.file_name(task["data"].get("image"), where, "data.image")
        annotations = task.get("annotations", [])
        if not isinstance(annotations, list) or not all(isinstance(a, dict) for a in annotations):
            raise ValueError(f"{where}: 'annotations' must be a list of objects")
        for a in annotations:
            if not isinstance(a.get("result", []), list):
                raise ValueError(f"{where}: an annotation's 'result' must be a list")
    return data


def _task_label(task: dict, index: int) -> str:
    return f"task {task['id']}" if "id" in task else f"task #{index}"


class LabelStudioSource:
    """Iterates the tasks of a Label Studio JSON export in file order.

    Attributes:
      stats: counts of what was read and skipped.
      categories: COCO categories of the output ids.
      keypoint_names: None.
    """

    keypoint_names = None

    def __init__(self, json_path: str, image_dir: str | None = None,
                 class_map: ClassMap | None = None, stats: ConversionStats | None = None):
        self.path = json_path
        self.image_dir = image_dir if image_dir is not None else os.path.dirname(json_path)
        self.stats = stats if stats is not None else ConversionStats()
        self._tasks = _load_tasks(json_path)
        seen: dict[str, str] = {}
        self._names = []
        for index, task in enumerate(self._tasks):
            name = self._file_name(task["data"]["image"])
            if name in seen:
                raise ValueError(f"{json_path}: duplicate image '{name}' ({seen[name]} and "
                                 f"{_task_label(task, index)})")
            seen[name] = _task_label(task, index)
            self._names.append(name)
        if class_map is None:
            names = set()
            for index, task in enumerate(self._tasks):
                for r, result in enumerate(self._results(task)):
                    if isinstance(result, dict) and result.get("type") in SHAPES:
                        names.update(self._class_names(
                            result, f"{json_path}: {_task_label(task, index)} result {r}"))
            class_map = ClassMap.from_names(names)
        self.class_map = class_map
        self.categories = class_map.categories

    def _file_name(self, url: str) -> str:
        name, unprefixed = image_file_name(url)
        if unprefixed is not None and not os.path.isfile(os.path.join(self.image_dir, name)):
            return unprefixed
        return name

    @staticmethod
    def _results(task: dict) -> list:
        for annotation in task.get("annotations", []):
            if not annotation.get("was_cancelled"):
                return annotation.get("result", [])
        return []

    @staticmethod
    def _class_names(result: dict, where: str) -> list[str]:
        value = result.get("value")
        if not isinstance(value, dict):
            raise ValueError(f"{where}: 'value' must be an object, got {str(value)[:80]}")
        names = value.get(result["type"], [])
        if not isinstance(names, list) or not all(isinstance(n, str) for n in names):
            raise ValueError(f"{where}: '{result['type']}' must be a list of names, got "
                             f"{str(names)[:80]}")
        if len(names) > 1:
            raise ValueError(f"{where}: region has several labels: {', '.join(names)}")
        return names

    def __iter__(self) -> Iterator[AnnotatedImage]:
        for index, task in enumerate(self._tasks):
            yield self._read(index, task)

    def _mask(self, result: dict, height: int, width: int, label: str) -> np.ndarray | None:
        where = f"{self.path}: {label}"
        value = result["value"]
        kind = result["type"]
        if kind == "polygonlabels":
            points = value.get("points")
            if not isinstance(points, list):
                raise ValueError(f"{where}: 'points' must be a list of [x, y], got "
                                 f"{str(points)[:60]}")
            flat = []
            for p in points:
                x, y = av.finite_numbers(p, where, "point [x, y]", 2)
                flat += [x * width / 100.0, y * height / 100.0]
            if len(flat) < 6:
                skip(self.stats, self.path, DEGENERATE_POLYGON, label, logger=_LOG)
                return None
            return polygons_to_mask([flat], height, width, where)
        if kind == "rectanglelabels":
            x, y, w, h = (av.finite_number(value.get(k), where, k)
                          for k in ("x", "y", "width", "height"))
            rotation = av.finite_number(value.get("rotation", 0), where, "rotation")
            x0, y0 = x * width / 100.0, y * height / 100.0
            x1, y1 = x0 + w * width / 100.0, y0 + h * height / 100.0
            if x1 <= x0 or y1 <= y0:
                skip(self.stats, self.path, ZERO_SIZE_BOX, f"{label} rectangle {w:g}x{h:g} %",
                     logger=_LOG)
                return None
            return rectangle_mask(x0, y0, x1, y1, height, width, where, rotation, (x0, y0))
        if kind == "ellipselabels":
            x, y, rx, ry = (av.finite_number(value.get(k), where, k)
                            for k in ("x", "y", "radiusX", "radiusY"))
            rotation = av.finite_number(value.get("rotation", 0), where, "rotation")
            if rx <= 0 or ry <= 0:
                skip(self.stats, self.path, ZERO_RADIUS, f"{label} ellipse {rx:g}x{ry:g} %",
                     logger=_LOG)
                return None
            return ellipse_mask(x * width / 100.0, y * height / 100.0, rx * width / 100.0,
                                ry * height / 100.0, height, width, rotation)
        if value.get("format", "rle") != "rle":
            raise ValueError(f"{where}: brush format {value.get('format')!r} is not supported "
                             "(expected 'rle')")
        if "rle" not in value:
            raise ValueError(f"{where}: brushlabels region has no 'rle'")
        return brush_rle_to_mask(value["rle"], height, width, where)

    def _instance(self, result, image, label: str) -> Instance | None:
        height, width = image.height, image.width
        where = f"{self.path}: {label}"
        if not isinstance(result, dict):
            raise ValueError(f"{where}: a result must be an object, got {str(result)[:80]}")
        kind = result.get("type")
        if kind not in SHAPES:
            skip(self.stats, self.path, UNSUPPORTED_SHAPE, f"{label} ({kind})", logger=_LOG)
            return None
        for key, size in (("original_width", width), ("original_height", height)):
            if result.get(key) is not None and av.positive_int(result[key], where, key) != size:
                raise ValueError(f"{where}: {key} is {result[key]} but the image is "
                                 f"{width}x{height} (width x height){rotation_hint(image)}")
        names = self._class_names(result, where)
        if not names:
            skip(self.stats, self.path, MISSING_LABEL, label, logger=_LOG)
            return None
        class_id = self.class_map.resolve(names[0], self.stats, self.path, label)
        if class_id is None:
            return None
        mask = self._mask(result, height, width, label)
        if mask is None:
            return None
        return Instance(class_name=names[0], class_id=class_id, mask=mask, label=label)

    def _read(self, index: int, task: dict) -> AnnotatedImage:
        name = self._names[index]
        task_label = _task_label(task, index)
        path = os.path.join(self.image_dir, name)
        self.stats.note_read(path, self.image_dir, name)
        image = read_image(path)
        self.stats.note_orientation(name, image.exif_orientation)
        results = [(r, result) for r, result in enumerate(self._results(task))
                   if not (isinstance(result, dict) and isinstance(result.get("type"), str)
                           and not result["type"].endswith("labels"))]
        self.stats.images_read += 1
        self.stats.instances_read += len(results)
        instances = [inst for r, result in results
                     if (inst := self._instance(result, image, f"{task_label} result {r}"))
                     is not None]
        source_id = str(task["id"]) if "id" in task else os.path.splitext(name)[0]
        return assemble_image(image, name, source_id, instances, self.stats, self.path,
                              with_masks=True)
