"""The in-memory annotated image that every source yields and ``build_example`` writes.

Sources describe instances loosely (``Instance``: a mask or a pixel box, a class, optional
keypoints in pixels); ``assemble_image`` checks them against the image, skips those a user would
expect skipped (no pixels, zero-size box, a box wholly outside the image, a box-only instance
beside masked ones), computes
tight boxes and areas, and returns one ``AnnotatedImage`` in the package's conventions.
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Sequence

import numpy as np

from object_detection.core import box_ops
from object_detection.dataset_tools.conversion_stats import ConversionStats, skip
from object_detection.dataset_tools.image_io import EncodedImage

_LOG = logging.getLogger(__name__)

NOT_LABELLED = 0
LABELLED = 2

EMPTY_INSTANCE = "empty instance (no pixels)"
ZERO_SIZE_BOX = "zero-size box"
BOX_OUTSIDE = "box outside the image"
NO_MASK = "no mask beside masked instances"


@dataclasses.dataclass
class Instance:
    """One instance as a source reads it, before checks.

    Attributes:
      class_name: the class name; class_id: its 1-based id.
      mask: [H, W] (nonzero = the instance), or None for a box-only instance.
      box: (xmin, ymin, xmax, ymax) in pixels, pixel-edge convention (a box covering columns
        0..9 has xmax 10); used only when ``mask`` is None.
      is_crowd: COCO crowd region.
      area: in pixels; None computes it (mask pixels, or box area).
      keypoints: name -> (x, y) in pixels for the labelled keypoints, or None.
      label: where it is in the source, for messages ("figure 3", "annotation 17").
    """

    class_name: str
    class_id: int
    mask: np.ndarray | None = None
    box: tuple[float, float, float, float] | None = None
    is_crowd: bool = False
    area: float | None = None
    keypoints: dict[str, tuple[float, float]] | None = None
    label: str = ""


@dataclasses.dataclass
class AnnotatedImage:
    """One image with its N instances, ready to be written as a ``tf.train.Example``.

    Attributes:
      filename: image file name (``image/filename``); source_id: unique id (``image/source_id``).
      image: the encoded RGB image and its size.
      class_ids: int64 [N], 1-based; class_names: N names.
      boxes: float32 [N, 4] normalized [ymin, xmin, ymax, xmax] (pixel-edge: xmax = (last col + 1) / W).
      masks: uint8 [N, H, W] in {0, 1}, or None for a box-only image.
      is_crowd: bool [N]; areas: float32 [N] in pixels.
      keypoints: float32 [N, K, 2] normalized (y, x), NaN where not labelled; or None.
      keypoint_visibilities: int32 [N, K]: 0 not labelled, 2 labelled; or None.
      keypoint_names: the dataset's K keypoint names in their fixed order; or None.
    """

    filename: str
    source_id: str
    image: EncodedImage
    class_ids: np.ndarray
    class_names: list[str]
    boxes: np.ndarray
    masks: np.ndarray | None
    is_crowd: np.ndarray
    areas: np.ndarray
    keypoints: np.ndarray | None = None
    keypoint_visibilities: np.ndarray | None = None
    keypoint_names: tuple[str, ...] | None = None

    @property
    def num_instances(self) -> int:
        return len(self.class_ids)

    @property
    def height(self) -> int:
        return self.image.height

    @property
    def width(self) -> int:
        return self.image.width


def mask_box(mask: np.ndarray) -> tuple[int, int, int, int]:
    """Tight pixel-edge box (xmin, ymin, xmax, ymax) of a non-empty [H, W] mask."""
    rows = np.flatnonzero(mask.any(axis=1))
    cols = np.flatnonzero(mask.any(axis=0))
    return int(cols[0]), int(rows[0]), int(cols[-1]) + 1, int(rows[-1]) + 1


def _clip_box(box: Sequence[float], width: int, height: int) -> tuple[float, float, float, float]:
    xmin, ymin, xmax, ymax = (float(v) for v in box)
    return (min(max(xmin, 0.0), width), min(max(ymin, 0.0), height),
            min(max(xmax, 0.0), width), min(max(ymax, 0.0), height))


def _check_instance(inst: Instance, image: EncodedImage, source_path: str, has_masks: bool,
                    stats: ConversionStats) -> bool:
    """True when ``inst`` is kept; raises for a wrong-size mask, skips the expected cases."""
    if inst.mask is not None:
        if inst.mask.shape != (image.height, image.width):
            raise ValueError(
                f"{source_path}: {inst.label}: mask is {inst.mask.shape[1]}x{inst.mask.shape[0]} "
                f"pixels (width x height) but its image is {image.width}x{image.height}")
        if not inst.mask.any():
            skip(stats, source_path, EMPTY_INSTANCE, inst.label, logger=_LOG)
            return False
        return True
    if has_masks:
        skip(stats, source_path, NO_MASK, inst.label, logger=_LOG)
        return False
    if inst.box is None:
        raise ValueError(f"{source_path}: {inst.label}: instance has neither a mask nor a box")
    xmin, ymin, xmax, ymax = _clip_box(inst.box, image.width, image.height)
    if not (xmax > xmin and ymax > ymin):
        given = tuple(float(v) for v in inst.box)
        reason = BOX_OUTSIDE if given[2] > given[0] and given[3] > given[1] else ZERO_SIZE_BOX
        skip(stats, source_path, reason, f"{inst.label} box {given}", logger=_LOG)
        return False
    return True


def _keypoint_arrays(kept: list[Instance], names: tuple[str, ...], image: EncodedImage,
                     source_path: str) -> tuple[np.ndarray, np.ndarray]:
    index = {name: k for k, name in enumerate(names)}
    points = np.full((len(kept), len(names), 2), np.nan, np.float32)
    visibilities = np.zeros((len(kept), len(names)), np.int32)
    for i, inst in enumerate(kept):
        for name, (x, y) in (inst.keypoints or {}).items():
            if name not in index:
                raise ValueError(f"{source_path}: {inst.label}: unknown keypoint name '{name}' "
                                 f"(expected one of {', '.join(names)})")
            points[i, index[name]] = (y / image.height, x / image.width)
            visibilities[i, index[name]] = LABELLED
    return points, visibilities


def assemble_image(image: EncodedImage, filename: str, source_id: str,
                   instances: Sequence[Instance], stats: ConversionStats, source_path: str,
                   keypoint_names: Sequence[str] | None = None,
                   with_masks: bool = True) -> AnnotatedImage:
    """Checks ``instances`` and builds the ``AnnotatedImage``.

    Args:
      image: the encoded image; filename, source_id: stored as such.
      instances: as read from the source (the reader has already counted them as read).
      stats: skips are counted (or raised, when strict) here.
      source_path: the annotation file, named in messages.
      keypoint_names: the dataset's keypoint order; None when the source has no keypoints.
      with_masks: for an image without instances, whether to store an empty [0, H, W] mask
        list (a dataset with masks) or none (a box-only dataset).
    Raises:
      ValueError: a mask of the wrong size, an unknown keypoint name, an instance without
        mask or box (naming ``source_path``).
    """
    has_masks = any(inst.mask is not None for inst in instances)
    kept = [inst for inst in instances
            if _check_instance(inst, image, source_path, has_masks, stats)]
    h, w = image.height, image.width
    boxes = np.zeros((len(kept), 4), np.float32)
    areas = np.zeros((len(kept),), np.float32)
    for i, inst in enumerate(kept):
        if has_masks:
            xmin, ymin, xmax, ymax = mask_box(inst.mask)
            pixel_area = float(np.count_nonzero(inst.mask))
        else:
            xmin, ymin, xmax, ymax = _clip_box(inst.box, w, h)
            pixel_area = (xmax - xmin) * (ymax - ymin)
        boxes[i] = box_ops.normalized_from_pixels((ymin, xmin, ymax, xmax), h, w)[0]
        areas[i] = pixel_area if inst.area is None else inst.area
    masks = None
    if has_masks or (not instances and with_masks):
        masks = np.zeros((len(kept), h, w), np.uint8)
        for i, inst in enumerate(kept):
            masks[i] = inst.mask != 0
    keypoints = visibilities = None
    names = tuple(keypoint_names) if keypoint_names is not None else None
    if names is not None:
        keypoints, visibilities = _keypoint_arrays(kept, names, image, source_path)
    return AnnotatedImage(
        filename=filename, source_id=source_id, image=image,
        class_ids=np.array([inst.class_id for inst in kept], np.int64),
        class_names=[inst.class_name for inst in kept],
        boxes=boxes, masks=masks,
        is_crowd=np.array([inst.is_crowd for inst in kept], bool),
        areas=areas, keypoints=keypoints, keypoint_visibilities=visibilities,
        keypoint_names=names)
