"""COCO box and mask metrics of detections against ground truth, in memory (pycocotools).

Inputs follow the package conventions: boxes float ``[N, 4]`` normalized
``[ymin, xmin, ymax, xmax]`` of the image they belong to, class ids 1-based. The evaluator
scales boxes to pixels of that image (``image_height`` x ``image_width``, the ORIGINAL image for
COCO numbers; ``core.box_ops.to_coco``, the one conversion, to 1/1000 pixel) and keeps masks as compressed RLE only, so memory stays small for large maps.

Image ids may be ints or strings (a record's source id). In COCO files and in pycocotools they
become ints as in ``dataset_tools.coco_ground_truth``: the ids themselves when every id is a
non-negative integer (and they are distinct as integers), otherwise 1..M in the order the ground
truth was added. So a results file written here matches a ground-truth file written from the
same records.

Ground truth must be added before the detections of an image; detections of an image without
ground truth, a second ground truth or second detections for one image, and detections of a
class outside the categories are skipped with a warning and counted in ``skipped``.
"""

from __future__ import annotations

import contextlib
import io
import logging
import os
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from pycocotools import mask as mask_utils
from pycocotools.coco import COCO
from pycocotools.cocoeval import COCOeval

from object_detection import atomic_files
from object_detection.core import box_masks, box_ops
from object_detection.core.detections import DEFAULT_MASK_THRESHOLD, ImageDetections
from object_detection.dataset_tools.coco_segmentation import crop_to_rle, mask_to_rle
from object_detection.evaluation import metric_names
from object_detection.fields import DetectionResultFields, InputFields

_LOG = logging.getLogger(__name__)

# Output keys of the model (the OD API's detection field names).
NUM_DETECTIONS = DetectionResultFields.num_detections
DETECTION_BOXES = DetectionResultFields.detection_boxes
DETECTION_SCORES = DetectionResultFields.detection_scores
DETECTION_CLASSES = DetectionResultFields.detection_classes
DETECTION_MASKS = DetectionResultFields.detection_masks

IOU_TYPES = ("bbox", "segm", "both")


@dataclass
class _Image:
    """One evaluated image: its size, ground-truth and detection annotations (no ids yet)."""

    key: int | str
    height: int
    width: int
    groundtruth: list[dict] = field(default_factory=list)
    has_masks: bool = False
    detections: list[dict] | None = None
    detection_masks: bool = False


def _to_numpy(value: Any) -> np.ndarray:
    return value.numpy() if hasattr(value, "numpy") else np.asarray(value)


def _image_key(image_id: Any) -> int | str:
    if isinstance(image_id, bytes):
        image_id = image_id.decode("utf-8")
    if isinstance(image_id, (np.integer, np.str_)):
        image_id = image_id.item()
    if not isinstance(image_id, (int, str)):
        raise TypeError(f"image id must be an int or a string, got {image_id!r}")
    return image_id


def _categories(categories: Sequence[Mapping] | Mapping[str, int]) -> list[dict]:
    if isinstance(categories, Mapping):
        pairs = sorted(categories.items(), key=lambda t: t[1])
        result = [{"id": int(i), "name": str(n)} for n, i in pairs]
    else:
        result = [{"id": int(c["id"]), "name": str(c["name"])} for c in categories]
    ids = [c["id"] for c in result]
    if not result or len(set(ids)) != len(ids) or min(ids) < 1:
        raise ValueError(f"categories need distinct 1-based ids, got {ids}")
    return result


def _check_rows(where: str, name: str, array: np.ndarray, rows: int) -> None:
    if array.shape[0] != rows:
        raise ValueError(f"{where}: {name} has {array.shape[0]} rows, the boxes have {rows}")


def _image_sized_rles(masks: np.ndarray, threshold: float) -> list[dict]:
    return [mask_to_rle(m > threshold) for m in masks]


def _box_relative_rles(masks: np.ndarray, boxes: np.ndarray, height: int, width: int,
                       threshold: float) -> list[dict]:
    """RLEs of box-relative ``[K, h, w]`` probabilities reframed into the image (as the OD
    API reframes them, ``core.box_masks.paste_box_mask``) and thresholded, each made from its
    box's pixel crop alone."""
    windows = box_ops.to_pixel_crops(boxes.astype(np.float32), height, width)
    rles = []
    for mask, box, window in zip(masks, boxes, windows):
        crop = box_masks.paste_box_mask(mask, box, height, width, window) > threshold
        rles.append(crop_to_rle(crop, int(window[0]), int(window[1]), height, width))
    return rles


def _crop_rles(detections: ImageDetections, threshold: float) -> list[dict]:
    """RLEs of the box-crop masks of ``detections``, thresholded."""
    height, width = detections.image_size
    return [crop_to_rle(detections.mask_crop(k, threshold), int(left), int(top), height, width)
            for k, (left, top, _, _) in enumerate(detections.pixel_boxes())]


def _nearest_resize(masks: np.ndarray, height: int, width: int) -> np.ndarray:
    """``[N, h, w]`` -> ``[N, height, width]`` by nearest neighbour (pixel centres)."""
    rows = np.minimum((np.arange(height) + 0.5) * masks.shape[1] / height, masks.shape[1] - 1)
    cols = np.minimum((np.arange(width) + 0.5) * masks.shape[2] / width, masks.shape[2] - 1)
    return masks[:, rows.astype(int)][:, :, cols.astype(int)]


class CocoEvaluator:
    """Collects ground truth and detections image by image; computes COCO box/mask metrics.

    Args:
        categories: COCO categories ``[{"id", "name"}]`` (e.g. ``label_map.load_categories``) or
            a label map ``{name: id}``; ids 1-based.
        mask_threshold: a detection mask pixel is foreground when its value is above this.
    """

    def __init__(self, categories: Sequence[Mapping] | Mapping[str, int],
                 mask_threshold: float = DEFAULT_MASK_THRESHOLD) -> None:
        self.categories = _categories(categories)
        self.mask_threshold = float(mask_threshold)
        self._category_ids = {c["id"] for c in self.categories}
        self._images: dict[int | str, _Image] = {}
        self.skipped: Counter[str] = Counter()

    def clear(self) -> None:
        """Forgets all images (for the next evaluation)."""
        self._images.clear()
        self.skipped.clear()

    @property
    def num_images(self) -> int:
        return len(self._images)

    def _skip(self, reason: str, message: str, *args: Any) -> None:
        self.skipped[reason] += 1
        _LOG.warning(message + " (%d such skips so far)", *args, self.skipped[reason])

    def add_groundtruth(self, image_id: int | str, boxes, classes, image_height: int,
                        image_width: int, masks=None, is_crowd=None, area=None,
                        segmentations: Sequence[Mapping] | None = None) -> None:
        """Adds one image's ground truth.

        Args:
            image_id: the image's id (int or str; bytes are decoded).
            boxes: ``[N, 4]`` normalized ``[ymin, xmin, ymax, xmax]``.
            classes: ``[N]`` 1-based class ids (all in the categories).
            image_height, image_width: the image size in pixels (boxes are scaled to it).
            masks: optional ``[N, image_height, image_width]`` binary masks.
            segmentations: instead of ``masks``, their ``N`` compressed RLEs (``{"size": [H,
                W], "counts": str}``, e.g. ``coco_segmentation.segmentation_to_rle``): no
                image-sized mask is made.
            is_crowd: optional ``[N]`` bools (default False).
            area: optional ``[N]`` areas in pixels; where absent or not positive: the mask's
                pixel count with masks, else the box area (COCO's small/medium/large use it).
        """
        key = _image_key(image_id)
        if key in self._images:
            self._skip("repeated_groundtruth", "image %r: ground truth added twice; kept the "
                       "first", key)
            return
        where = f"ground truth of image {key!r}"
        height, width = int(image_height), int(image_width)
        if height < 1 or width < 1:
            raise ValueError(f"{where}: image size {height}x{width} is not positive")
        boxes = _to_numpy(boxes).astype(np.float64).reshape(-1, 4)
        n = boxes.shape[0]
        classes = _to_numpy(classes).astype(np.int64).reshape(-1)
        _check_rows(where, "classes", classes, n)
        unknown = sorted(set(classes.tolist()) - self._category_ids)
        if unknown:
            raise ValueError(f"{where}: class ids {unknown} are not among the categories "
                             f"{sorted(self._category_ids)}")
        crowd = np.zeros(n, bool) if is_crowd is None else _to_numpy(is_crowd).astype(bool)
        crowd = crowd.reshape(-1)
        _check_rows(where, "is_crowd", crowd, n)
        given_area = None if area is None else _to_numpy(area).astype(np.float64).reshape(-1)
        if given_area is not None:
            _check_rows(where, "area", given_area, n)
        rles = None
        if masks is not None and segmentations is not None:
            raise ValueError(f"{where}: give masks or segmentations, not both")
        if masks is not None:
            masks = _to_numpy(masks)
            if masks.shape != (n, height, width):
                raise ValueError(f"{where}: masks have shape {masks.shape}, expected "
                                 f"{(n, height, width)}")
            rles = [mask_to_rle(m) for m in masks]
        if segmentations is not None:
            rles = [dict(rle) for rle in segmentations]
            _check_rows(where, "segmentations", np.zeros(len(rles)), n)
            for rle in rles:
                if list(rle.get("size", [])) != [height, width]:
                    raise ValueError(f"{where}: a segmentation of size {rle.get('size')} in an "
                                     f"image of {[height, width]} (height, width)")
        image = _Image(key, height, width, has_masks=rles is not None)
        for i, box in enumerate(box_ops.to_coco(boxes, height, width)):
            x, y, w, h = (float(v) for v in box)
            if rles is not None:
                segmentation = rles[i]
                default_area = float(mask_utils.area(segmentation))
            else:
                segmentation = [[x, y, x + w, y, x + w, y + h, x, y + h]]
                default_area = w * h
            chosen = default_area
            if given_area is not None and given_area[i] > 0:
                chosen = float(given_area[i])
            image.groundtruth.append({
                "category_id": int(classes[i]), "bbox": [x, y, w, h], "area": chosen,
                "iscrowd": int(crowd[i]), "segmentation": segmentation})
        self._images[key] = image

    def add_image_detections(self, image_id: int | str, detections: ImageDetections) -> None:
        """Adds one image's ``ImageDetections`` (box-crop masks, RLE made from each crop);
        they must be of the image's size as its ground truth gives it."""
        key = _image_key(image_id)
        image = self._images.get(key)
        rles = None
        if detections.masks is not None and image is not None:
            detections.check_masks_fit(image.height, image.width, f"detections of image {key!r}")
            rles = _crop_rles(detections, self.mask_threshold)
        self._add(key, detections.boxes, detections.scores, detections.classes, rles)

    def add_detections(self, image_id: int | str, boxes, scores, classes, masks=None,
                       box_relative_masks: bool | None = None) -> None:
        """Adds one image's detections (its ground truth must be there already).

        Args:
            image_id: as given to ``add_groundtruth``.
            boxes: ``[K, 4]`` normalized ``[ymin, xmin, ymax, xmax]``.
            scores: ``[K]`` confidences.
            classes: ``[K]`` 1-based class ids (floats are rounded).
            masks: optional, either image-sized ``[K, H, W]`` (binary or probabilities) or
                box-relative ``[K, h, w]`` probabilities, which are reframed into the image with
                ``core.mask_ops.reframe_box_masks_to_image_masks``; both are thresholded at
                ``mask_threshold``.
            box_relative_masks: whether ``masks`` are box-relative; None decides by size
                (box-relative unless ``[h, w]`` is the image size).
        """
        key = _image_key(image_id)
        image = self._images.get(key)
        boxes = _to_numpy(boxes).astype(np.float64).reshape(-1, 4)
        rles = None
        if masks is not None and image is not None:
            masks = _to_numpy(masks)
            k = boxes.shape[0]
            where = f"detections of image {key!r}"
            if masks.ndim != 3 or masks.shape[0] != k:
                raise ValueError(f"{where}: masks have shape {masks.shape}, expected [{k}, h, w]")
            if box_relative_masks is None:
                box_relative_masks = masks.shape[1:] != (image.height, image.width)
            if box_relative_masks:
                rles = _box_relative_rles(masks, boxes, image.height, image.width,
                                          self.mask_threshold)
            else:
                if masks.shape[1:] != (image.height, image.width):
                    raise ValueError(f"{where}: image-sized masks are {masks.shape[1:]}, the "
                                     f"image is {(image.height, image.width)}")
                rles = _image_sized_rles(masks, self.mask_threshold)
        self._add(key, boxes, scores, classes, rles)

    def _add(self, key: int | str, boxes, scores, classes, rles: list[dict] | None) -> None:
        """Adds one image's detections (with their mask RLEs, or None without masks)."""
        image = self._images.get(key)
        if image is None:
            self._skip("detections_without_groundtruth", "image %r: detections without ground "
                       "truth skipped (add the ground truth first)", key)
            return
        if image.detections is not None:
            self._skip("repeated_detections", "image %r: detections added twice; kept the "
                       "first", key)
            return
        where = f"detections of image {key!r}"
        boxes = _to_numpy(boxes).astype(np.float64).reshape(-1, 4)
        k = boxes.shape[0]
        scores = _to_numpy(scores).astype(np.float64).reshape(-1)
        classes = np.rint(_to_numpy(classes).astype(np.float64)).astype(np.int64).reshape(-1)
        _check_rows(where, "scores", scores, k)
        _check_rows(where, "classes", classes, k)
        detections = []
        for i, box in enumerate(box_ops.to_coco(boxes, image.height, image.width)):
            if int(classes[i]) not in self._category_ids:
                self._skip("unknown_class", "image %r: detection of class %d (not among the "
                           "categories) skipped", key, int(classes[i]))
                continue
            detection = {"category_id": int(classes[i]), "bbox": [float(v) for v in box],
                         "score": float(scores[i])}
            if rles is not None:
                detection["segmentation"] = rles[i]
            detections.append(detection)
        image.detections = detections
        image.detection_masks = rles is not None

    def add_batch(self, detections: Mapping[str, Any], inputs: Mapping[str, Any]) -> None:
        """Adds a batch: model outputs and the input batch they came from.

        Args:
            detections: ``num_detections [B]``, ``detection_boxes [B, K, 4]`` (normalized to the
                unpadded image), ``detection_scores [B, K]``, ``detection_classes [B, K]``
                (1-based), optional ``detection_masks [B, K, h, w]`` box-relative
                probabilities.
            inputs: the batch dict (``fields.InputFields``): ``source_id`` (or ``key``),
                ``true_image_shape [B, 3]``, ``original_image_spatial_shape [B, 2]`` (boxes
                and masks are evaluated at this, the original size; default the true shape),
                ``num_groundtruth_boxes``, ``groundtruth_boxes``, ``groundtruth_classes``,
                optional ``groundtruth_instance_masks [B, N, H, W]`` (of the padded, resized
                image: cropped to the true shape and resized back, nearest neighbour),
                ``groundtruth_is_crowd``, ``groundtruth_area``.
        """
        arrays = {name: _to_numpy(value) for name, value in inputs.items()}
        outputs = {name: _to_numpy(value) for name, value in detections.items()}
        for b in range(arrays[InputFields.groundtruth_boxes].shape[0]):
            self._add_example(b, arrays, outputs)

    def _add_example(self, b: int, inputs: dict[str, np.ndarray],
                     outputs: dict[str, np.ndarray]) -> None:
        image_id = _batch_image_id(inputs, b)
        true_shape = inputs[InputFields.true_image_shape][b]
        original = inputs.get(InputFields.original_image_spatial_shape)
        height, width = (int(v) for v in (true_shape[:2] if original is None else original[b][:2]))
        classes = inputs[InputFields.groundtruth_classes][b]
        num = inputs.get(InputFields.num_groundtruth_boxes)
        n = int(num[b]) if num is not None else int(np.count_nonzero(classes > 0))

        def gt(name: str):
            value = inputs.get(name)
            return None if value is None else value[b][:n]

        masks = gt(InputFields.groundtruth_instance_masks)
        if masks is not None:
            masks = masks[:, :int(true_shape[0]), :int(true_shape[1])]
            if masks.shape[1:] != (height, width):
                masks = _nearest_resize(masks, height, width)
        self.add_groundtruth(image_id, gt(InputFields.groundtruth_boxes), classes[:n], height,
                             width, masks=masks, is_crowd=gt(InputFields.groundtruth_is_crowd),
                             area=gt(InputFields.groundtruth_area))
        k = int(outputs[NUM_DETECTIONS][b])
        det_masks = outputs.get(DETECTION_MASKS)
        self.add_detections(image_id, outputs[DETECTION_BOXES][b][:k],
                            outputs[DETECTION_SCORES][b][:k], outputs[DETECTION_CLASSES][b][:k],
                            masks=None if det_masks is None else det_masks[b][:k],
                            box_relative_masks=True)

    # --- COCO dictionaries -------------------------------------------------------------------

    def _coco_ids(self) -> dict[int | str, int]:
        keys = list(self._images)
        as_ints = [int(k) if isinstance(k, int) or (isinstance(k, str) and k.isdigit()) else None
                   for k in keys]
        if all(i is not None and i >= 0 for i in as_ints) and len(set(as_ints)) == len(keys):
            return dict(zip(keys, as_ints))
        return {key: i for i, key in enumerate(keys, start=1)}

    def groundtruth_dict(self) -> dict:
        """The ground truth as a COCO dataset dict (images, annotations with ids from 1)."""
        ids = self._coco_ids()
        images, annotations = [], []
        for key, image in self._images.items():
            images.append({"id": ids[key], "height": image.height, "width": image.width,
                           "file_name": str(key)})
            for annotation in image.groundtruth:
                annotations.append(dict(annotation, image_id=ids[key], id=len(annotations) + 1))
        return {"images": images, "annotations": annotations,
                "categories": [dict(c) for c in self.categories]}

    def results(self, iou_type: str = "both") -> list[dict]:
        """Detections in COCO results format: ``image_id``, ``category_id``, ``score`` and
        ``bbox`` [x, y, w, h] pixels (iou_type "bbox"), ``segmentation`` RLE ("segm"), or
        both in one entry ("both"; entries without masks then only have the bbox)."""
        if iou_type not in IOU_TYPES:
            raise ValueError(f"iou_type must be one of {IOU_TYPES}, got {iou_type!r}")
        ids = self._coco_ids()
        results = []
        for key, image in self._images.items():
            for detection in image.detections or ():
                entry = {"image_id": ids[key], "category_id": detection["category_id"],
                         "score": detection["score"]}
                if iou_type in ("bbox", "both"):
                    entry["bbox"] = list(detection["bbox"])
                if iou_type in ("segm", "both") and "segmentation" in detection:
                    entry["segmentation"] = dict(detection["segmentation"])
                elif iou_type == "segm":
                    raise ValueError(f"image {key!r} has detections without masks")
                results.append(entry)
        return results

    def write_groundtruth_json(self, path: str) -> str:
        """Writes ``groundtruth_dict()`` as COCO JSON (folders created); returns the path."""
        return _write_json(path, self.groundtruth_dict())

    def write_results_json(self, path: str, iou_type: str = "both") -> str:
        """Writes ``results(iou_type)`` as a COCO results JSON; returns the path.

        pycocotools' ``loadRes`` takes a detection's area from its bbox when the entry has
        one: for mask metrics with mask areas (as ``evaluate`` computes them), write "segm".
        """
        return _write_json(path, self.results(iou_type))

    # --- metrics -----------------------------------------------------------------------------

    def _check_masks(self) -> None:
        for key, image in self._images.items():
            if image.groundtruth and not image.has_masks:
                raise ValueError(f"mask metrics asked for, but image {key!r} has ground truth "
                                 f"without masks (evaluate with include_masks=False)")
            if image.detections and not image.detection_masks:
                raise ValueError(f"mask metrics asked for, but image {key!r} has detections "
                                 f"without masks (evaluate with include_masks=False)")

    def evaluate(self, include_masks: bool = True) -> dict[str, float]:
        """COCO metrics (``metric_names.metric_names(include_masks)``) of all added images.

        Values are pycocotools' summaries: -1 where nothing is defined (e.g. no ground truth
        of that size), 0 with ground truth but no detections. Raises ValueError when no
        ground truth was added, or with ``include_masks`` when masks are missing.
        """
        if not self._images:
            raise ValueError("no ground truth added: nothing to evaluate")
        if include_masks:
            self._check_masks()
        with contextlib.redirect_stdout(io.StringIO()):
            groundtruth = COCO()
            groundtruth.dataset = self.groundtruth_dict()
            groundtruth.createIndex()
            metrics = _summarize(groundtruth, self.results("bbox"), "bbox", metric_names.BOXES)
            if include_masks:
                metrics.update(_summarize(groundtruth, self.results("segm"), "segm",
                                          metric_names.MASKS))
        return metrics


def _batch_image_id(inputs: dict[str, np.ndarray], b: int) -> str:
    for name in (InputFields.source_id, InputFields.key):
        value = inputs.get(name)
        if value is not None:
            text = _image_key(value[b])
            if text != "":
                return text
    raise ValueError(f"batch example {b} has neither a source_id nor a key to identify it")


def _summarize(groundtruth: COCO, results: list[dict], iou_type: str, prefix: str) -> dict:
    """Runs COCOeval (stdout must be redirected by the caller); the 12 stats by name."""
    if results:
        detections = groundtruth.loadRes(results)
    else:  # loadRes cannot take an empty list: an empty result set over the same images
        detections = COCO()
        detections.dataset = {"images": list(groundtruth.dataset["images"]),
                              "categories": list(groundtruth.dataset["categories"]),
                              "annotations": []}
        detections.createIndex()
    evaluation = COCOeval(groundtruth, detections, iouType=iou_type)
    evaluation.evaluate()
    evaluation.accumulate()
    evaluation.summarize()
    return {prefix + name: float(value) for name, value in zip(metric_names.STATS,
                                                               evaluation.stats)}


def _write_json(path: str, content: Any) -> str:
    """Writes ``content`` as compact JSON atomically (parent folders created)."""
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    atomic_files.write_json(path, content, trailing_newline=False)
    return path
