"""Merging the detections of overlapping tiles (and of a whole-map pass) into one set.

Which detections belong together is SAHI's decision (``sahi.postprocess.combine``: greedy
non-maximum merging, transitive merging or suppression, boxes matched by intersection over the
smaller box or over the union, per class unless class-agnostic), on the boxes in map pixels.
Merging a group then follows SAHI's ``merge_object_prediction_pair``, applied in its order:
each candidate of a keeper is merged only if it still matches the keeper as merged so far; the
merged box is the union of the boxes, the score the higher one, the class the higher-scoring
detection's (the second's on a tie). Masks are united here at full resolution (the
element-wise maximum of the probabilities, so that thresholding gives the union of the binary
masks) on the merged box's pixel crop. SAHI's own mask merging goes through polygons
(``cv2.findContours`` and shapely) and an image-sized mask per merge: it loses pixels and
would cost ~48 MB per merge on an 8000 x 6000 map.

The result is sorted by score, highest first (ties in input order).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from object_detection.core import box_ops
from object_detection.core.detections import ImageDetections
from object_detection.core.tiling import TileOptions


def concatenate(parts: Sequence[ImageDetections], image_size: tuple[int, int]) -> ImageDetections:
    """All detections of ``parts`` (each of an image of ``image_size``) in one set; masks only
    when every part with detections has them."""
    parts = [p for p in parts if len(p)]
    for part in parts:
        if part.image_size is not None and part.image_size != tuple(image_size):
            raise ValueError(f"tile merging: detections of a {part.image_size} image among those "
                             f"of {tuple(image_size)}")
    if not parts:
        return ImageDetections(np.zeros((0, 4)), np.zeros(0), np.zeros(0, np.int64),
                               (), image_size)
    with_masks = all(p.masks is not None for p in parts)
    masks = tuple(m for p in parts for m in p.masks) if with_masks else None
    return ImageDetections(np.concatenate([p.boxes for p in parts]),
                           np.concatenate([p.scores for p in parts]),
                           np.concatenate([p.classes for p in parts]), masks, image_size)


def _sahi_predictions(detections: ImageDetections) -> np.ndarray:
    """float64 [K, 6] ``[x1, y1, x2, y2, score, class]`` in map pixels, as SAHI takes them."""
    height, width = detections.image_size
    pixels = box_ops.absolute_pixels(detections.boxes.astype(np.float64), height, width)
    ymin, xmin, ymax, xmax = pixels.T
    return np.stack([xmin, ymin, xmax, ymax, detections.scores.astype(np.float64),
                     detections.classes.astype(np.float64)], axis=1)


def _groups(predictions: np.ndarray, options: TileOptions) -> dict[int, list[int]]:
    """SAHI's keeper -> candidates mapping (NMS: keepers with no candidates)."""
    from sahi.postprocess import combine

    name = {"GREEDYNMM": "greedy_nmm", "NMM": "nmm", "NMS": "nms"}[options.merge]
    function = getattr(combine, name if options.class_agnostic else f"batched_{name}")
    if len(predictions) == 0:
        return {}
    result = function(predictions, match_metric=options.match_metric,
                      match_threshold=float(options.match_threshold))
    if options.merge == "NMS":
        return {int(k): [] for k in result}
    return {int(k): [int(i) for i in v] for k, v in result.items()}


def _overlap(a: np.ndarray, b: np.ndarray, metric: str) -> float:
    """IOU or IOS of two ``[x1, y1, x2, y2]`` boxes (0 when a denominator is 0)."""
    width = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    height = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    inter = width * height
    area_a = (a[2] - a[0]) * (a[3] - a[1])
    area_b = (b[2] - b[0]) * (b[3] - b[1])
    denominator = min(area_a, area_b) if metric == "IOS" else area_a + area_b - inter
    return inter / denominator if denominator > 0 else 0.0


def _union_mask(members: list[int], detections: ImageDetections,
                window: np.ndarray) -> np.ndarray:
    """float32 crop over ``window``: the maximum of the members' mask crops placed in it."""
    left, top, right, bottom = (int(v) for v in window)
    union = np.zeros((bottom - top, right - left), np.float32)
    for index, (m_left, m_top, m_right, m_bottom) in zip(
            members, detections.pixel_boxes()[members]):
        x0, y0 = max(left, m_left), max(top, m_top)
        x1, y1 = min(right, m_right), min(bottom, m_bottom)
        if x1 <= x0 or y1 <= y0:
            continue
        crop = detections.masks[index][y0 - m_top:y1 - m_top, x0 - m_left:x1 - m_left]
        target = union[y0 - top:y1 - top, x0 - left:x1 - left]
        np.maximum(target, crop, out=target)
    return union


def merge_detections(parts: Sequence[ImageDetections], image_size: tuple[int, int],
                     options: TileOptions = TileOptions()) -> ImageDetections:
    """One set of detections of an ``image_size`` map from the detections of its tiles (and
    whole-map pass), all already in map coordinates (see the module doc)."""
    detections = concatenate(parts, image_size)
    predictions = _sahi_predictions(detections)
    groups = _groups(predictions, options)
    boxes, scores, classes, members_of = [], [], [], []
    for keeper, candidates in groups.items():
        box = predictions[keeper, :4].copy()
        score, label = float(predictions[keeper, 4]), int(predictions[keeper, 5])
        members = [keeper]
        for candidate in candidates:
            other = predictions[candidate]
            if _overlap(box, other[:4], options.match_metric) < options.match_threshold:
                continue
            box = np.concatenate([np.minimum(box[:2], other[:2]), np.maximum(box[2:], other[2:4])])
            label = label if score > other[4] else int(other[5])
            score = max(score, float(other[4]))
            members.append(candidate)
        boxes.append(box)
        scores.append(score)
        classes.append(label)
        members_of.append(members)
    return _build(detections, boxes, scores, classes, members_of)


def _build(detections: ImageDetections, boxes: list, scores: list, classes: list,
           members_of: list[list[int]]) -> ImageDetections:
    """The merged detections, sorted by score (stable), masks united per group."""
    height, width = detections.image_size
    order = np.argsort(-np.asarray(scores, np.float64), kind="stable")
    x1, y1, x2, y2 = np.asarray(boxes, np.float64).reshape(-1, 4)[order].T   # SAHI's order
    normalized = box_ops.normalized_from_pixels(np.stack([y1, x1, y2, x2], axis=1), height, width)
    normalized = np.clip(normalized, 0.0, 1.0).astype(np.float32)
    masks = None
    if detections.masks is not None:
        windows = box_ops.to_pixel_crops(normalized, height, width)
        masks = tuple(_union_mask(members_of[i], detections, window)
                      for i, window in zip(order, windows))
    return ImageDetections(normalized, np.asarray(scores, np.float32)[order],
                           np.asarray(classes, np.int64)[order], masks, (height, width))
