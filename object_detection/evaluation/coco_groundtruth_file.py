"""A COCO ground-truth JSON looked up by image file name, for scoring detections on a folder.

The file is a COCO instances dataset (``images``, ``annotations``, ``categories``). Its images
are found by the last component of their ``file_name`` (``"maps/a b.png"`` is the folder's
``a b.png``), which must therefore be unique. Image ids must be non-negative integers and
category ids integers >= 1, so that a results file written from them refers to the same ids.
Annotations are read as the package's conventions want them: boxes normalized
``[ymin, xmin, ymax, xmax]`` (from ``bbox``, or from the mask without one), 1-based classes,
and the segmentations (polygons or RLE) as checked compressed RLEs
(``coco_segmentation.segmentation_to_rle``): no image-sized mask is made, so the ground truth of
a map of thousands of pixels with a hundred figures stays small.
"""

from __future__ import annotations

import dataclasses
import os
from collections import defaultdict

import numpy as np
from pycocotools import mask as mask_utils

from object_detection.core import box_ops
from object_detection.dataset_tools.coco_segmentation import segmentation_to_rle
from object_detection.dataset_tools.coco_source import load_coco_json
from object_detection.evaluation.coco_evaluator import CocoEvaluator


@dataclasses.dataclass(frozen=True)
class GroundTruthImage:
    """One image of the ground truth.

    Attributes:
      image_id: its COCO id.
      file_name: its file name (last path component).
      height, width: its declared size in pixels.
      boxes: float32 [N, 4] normalized [ymin, xmin, ymax, xmax].
      classes: int64 [N] category ids.
      rles: the N segmentations as compressed RLEs (``{"size", "counts"}``), or None when the
        file has no segmentations (``masks`` decodes them, image-sized).
      is_crowd: bool [N].
      area: float64 [N]; 0 where the annotation gives none.
    """

    image_id: int
    file_name: str
    height: int
    width: int
    boxes: np.ndarray
    classes: np.ndarray
    rles: list[dict] | None
    is_crowd: np.ndarray
    area: np.ndarray

    @property
    def masks(self) -> np.ndarray | None:
        """uint8 [N, height, width] {0, 1} masks decoded from ``rles`` (image-sized: for small
        images), or None."""
        if self.rles is None:
            return None
        if not self.rles:
            return np.zeros((0, self.height, self.width), np.uint8)
        return np.moveaxis(mask_utils.decode(self.rles), -1, 0).astype(np.uint8)


def _is_id(value, minimum: int) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value >= minimum


class CocoGroundTruthFile:
    """A COCO ground-truth JSON, its images looked up by file name.

    Raises FileNotFoundError / ValueError naming the file when it is missing, not COCO, or has
    repeated or non-integer ids, repeated file names, or annotations of unknown images or
    categories.

    Attributes:
      path: the file.
      categories: ``[{"id", "name"}]`` sorted by id.
      has_masks: whether every annotation has a segmentation (mask metrics are possible).
    """

    def __init__(self, path: str | os.PathLike) -> None:
        self.path = os.fspath(path)
        data = load_coco_json(self.path, "COCO ground-truth file",
                              required=("annotations", "categories"))
        self._images: dict[str, dict] = {}
        ids = set()
        for info in data["images"]:
            image_id, name = info.get("id"), info.get("file_name")
            if not _is_id(image_id, 0) or not isinstance(name, str) or not name:
                raise ValueError(f"{self.path}: an image needs an integer id >= 0 and a "
                                 f"file_name, got {str(info)[:80]}")
            key = name.replace("\\", "/").rsplit("/", 1)[-1]
            if image_id in ids or key in self._images:
                raise ValueError(f"{self.path}: image id {image_id} or file name {key!r} "
                                 f"appears twice")
            for size in ("height", "width"):
                if not _is_id(info.get(size), 1):
                    raise ValueError(f"{self.path}: image {name!r} has no positive integer "
                                     f"'{size}'")
            ids.add(image_id)
            self._images[key] = info
        self.categories = []
        for category in data["categories"]:
            if not _is_id(category.get("id"), 1):
                raise ValueError(f"{self.path}: category ids must be integers >= 1, got "
                                 f"{category.get('id')!r}")
            self.categories.append({"id": category["id"],
                                    "name": str(category.get("name", category["id"]))})
        self.categories.sort(key=lambda c: c["id"])
        category_ids = {c["id"] for c in self.categories}
        if not category_ids or len(category_ids) != len(self.categories):
            raise ValueError(f"{self.path}: needs categories with distinct ids")
        self._annotations: dict[int, list[dict]] = defaultdict(list)
        for annotation in data["annotations"]:
            if annotation.get("image_id") not in ids:
                raise ValueError(f"{self.path}: annotation {annotation.get('id')} refers to "
                                 f"image id {annotation.get('image_id')!r}, not in 'images'")
            if annotation.get("category_id") not in category_ids:
                raise ValueError(f"{self.path}: annotation {annotation.get('id')} has category "
                                 f"id {annotation.get('category_id')!r}, not in 'categories'")
            self._annotations[annotation["image_id"]].append(annotation)
        self.has_masks = all(annotation.get("segmentation")
                             for annotation in data["annotations"])

    def file_names(self) -> list[str]:
        """The file names of all images, in the file's order."""
        return list(self._images)

    def __contains__(self, file_name: str) -> bool:
        return file_name in self._images

    def image(self, file_name: str) -> GroundTruthImage:
        """The ground truth of the image called ``file_name``; KeyError when there is none,
        ValueError naming the annotation when one cannot be read."""
        info = self._images[file_name]
        height, width = int(info["height"]), int(info["width"])
        annotations = self._annotations.get(info["id"], [])
        boxes, rles = [], []
        for annotation in annotations:
            where = f"{self.path}: annotation {annotation.get('id')}"
            rle = None
            if self.has_masks:
                rle = segmentation_to_rle(annotation["segmentation"], height, width, where)
                rles.append(rle)
            boxes.append(self._box(annotation, rle, height, width, where))
        return GroundTruthImage(
            image_id=int(info["id"]), file_name=file_name, height=height, width=width,
            boxes=np.array(boxes, np.float32).reshape(-1, 4),
            classes=np.array([a["category_id"] for a in annotations], np.int64),
            rles=rles if self.has_masks else None,
            is_crowd=np.array([bool(a.get("iscrowd", 0)) for a in annotations], bool),
            area=np.array([float(a.get("area") or 0.0) for a in annotations], np.float64))

    @staticmethod
    def _box(annotation: dict, rle: dict | None, height: int, width: int,
             where: str) -> list[float]:
        """Normalized [ymin, xmin, ymax, xmax] of the annotation's bbox (or its mask's)."""
        bbox = annotation.get("bbox")
        if bbox is None and rle is not None:
            bbox = mask_utils.toBbox(rle).tolist()
        if not (isinstance(bbox, list) and len(bbox) == 4
                and all(isinstance(v, (int, float)) for v in bbox)):
            raise ValueError(f"{where}: needs a bbox [x, y, width, height]")
        return box_ops.from_coco([float(v) for v in bbox], height, width)[0].tolist()

    def add_to(self, evaluator: CocoEvaluator, file_name: str, image_height: int,
               image_width: int) -> int:
        """Adds the ground truth of ``file_name`` to ``evaluator``; returns its image id.

        ValueError when the image file's size (``image_height`` x ``image_width``) is not the
        size the ground truth declares.
        """
        truth = self.image(file_name)
        if (truth.height, truth.width) != (image_height, image_width):
            raise ValueError(f"{self.path}: image {file_name!r} is declared {truth.width}x"
                             f"{truth.height} (width x height) but the file is "
                             f"{image_width}x{image_height}")
        evaluator.add_groundtruth(truth.image_id, truth.boxes, truth.classes, truth.height,
                                  truth.width, is_crowd=truth.is_crowd, area=truth.area,
                                  segmentations=truth.rles)
        return truth.image_id
