"""Filling the holes the removed figures leave in the extracted map (``extracted_map.png``).

``fill_figures(image, masks, boxes, fill)`` with ``fill`` one of ``FILLS``:

* ``"white"`` (the default, as published): every figure's mask painted white
  (``cutout.remove_figures``), nothing inpainted;
* ``"inpaint"``: every figure's mask, grown by ``HOLE_DILATION`` pixels (so that the
  anti-aliased fringe the mask threshold leaves outside it goes too), is filled from its
  surroundings by OpenCV's ``cv2.inpaint`` with Telea's fast-marching method (``INPAINT_METHOD``,
  neighbourhood ``INPAINT_RADIUS``). OpenCV comes with the required ``sahi`` (its
  ``opencv-python``), so there is nothing extra to install.

Memory: a mask is a bool crop over its pixel box (``ImageDetections.mask_crop``), never
image-sized, and inpainting is too. The figures are inpainted in groups, a figure alone or
those whose grown masks may touch (their boxes grown by ``HOLE_DILATION`` overlap, directly or
through others), each group on its own crop of the map: the union of its boxes grown by
``context_margin()`` pixels on every side (clipped to the map). In that crop the hole is every
grown mask that reaches into it, the group's and its neighbours', so that no figure is a source
of colour; only the group's grown masks are written back, each pixel once, so the result does
not depend on the figures' order and no pixel outside the grown masks changes. Peak extra
memory is a few copies of the largest group's crop (uint8). Telea's method reads only known
pixels within ``INPAINT_RADIUS`` of the hole, so the crops give what inpainting the whole map
with every grown mask would (``tests/apps/test_map_fill.py`` checks it bit for bit).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence

import numpy as np

from object_detection.apps import cutout

logger = logging.getLogger(__name__)

WHITE_FILL = "white"
INPAINT_FILL = "inpaint"
FILLS = (WHITE_FILL, INPAINT_FILL)
DEFAULT_FILL = WHITE_FILL

# Pixels the mask grows by before inpainting (the mask at 0.5 leaves a figure-coloured fringe).
HOLE_DILATION = 2
# cv2.inpaint's neighbourhood radius in pixels.
INPAINT_RADIUS = 3
# "telea" (cv2.INPAINT_TELEA) or "ns" (cv2.INPAINT_NS, Navier-Stokes).
INPAINT_METHOD = "telea"


def check_fill(fill: str) -> str:
    """``fill`` when it is one of ``FILLS`` (else ValueError naming them) and can run here
    (ImportError for "inpaint" without OpenCV): checked before anything is written."""
    if fill not in FILLS:
        raise ValueError(f"fill must be one of {', '.join(FILLS)}, got {fill!r}")
    if fill == INPAINT_FILL:
        _cv2()
    return fill


def context_margin(dilation: int = HOLE_DILATION, radius: int = INPAINT_RADIUS) -> int:
    """Pixels a figure's box grows by on every side for its inpainting crop: the grown mask and
    the known pixels Telea reads around it, and one more."""
    return dilation + radius + 1


def fill_figures(image: np.ndarray, masks: Sequence[np.ndarray], boxes: Sequence[cutout.PixelBox],
                 fill: str = DEFAULT_FILL) -> np.ndarray:
    """A copy of ``image`` [H, W, 3] with the figures of the bool mask crops ``masks`` (each over
    its pixel box of ``boxes``) removed: painted white or inpainted (module doc)."""
    check_fill(fill)
    if fill == WHITE_FILL:
        return cutout.remove_figures(image, masks, boxes)
    return inpaint_figures(image, masks, boxes)


def _cv2():
    try:
        import cv2
    except ImportError as error:  # sahi requires opencv-python: only a broken install lacks it
        raise ImportError(f"--fill {INPAINT_FILL} needs OpenCV (cv2), which comes with the "
                          f"required sahi: reinstall the project ({error})") from error
    return cv2


def _grown(box: cutout.PixelBox, margin: int, height: int, width: int) -> tuple[int, int, int, int]:
    left, top, right, bottom = (int(v) for v in box)
    return (max(left - margin, 0), max(top - margin, 0), min(right + margin, width),
            min(bottom + margin, height))


def _paste(hole: np.ndarray, region: tuple[int, int, int, int], mask: np.ndarray,
           box: cutout.PixelBox) -> None:
    """Sets ``hole`` (a uint8 crop over ``region``) where the mask crop ``mask`` (over ``box``)
    is set, for the part of the box inside the region."""
    r_left, r_top, r_right, r_bottom = region
    left, top, right, bottom = (int(v) for v in box)
    x0, y0, x1, y1 = max(left, r_left), max(top, r_top), min(right, r_right), min(bottom, r_bottom)
    if x0 >= x1 or y0 >= y1:
        return
    part = mask[y0 - top:y1 - top, x0 - left:x1 - left]
    hole[y0 - r_top:y1 - r_top, x0 - r_left:x1 - r_left][part] = 1


def inpaint_figures(image: np.ndarray, masks: Sequence[np.ndarray],
                    boxes: Sequence[cutout.PixelBox], *, dilation: int = HOLE_DILATION,
                    radius: int = INPAINT_RADIUS, method: str = INPAINT_METHOD) -> np.ndarray:
    """A copy of ``image`` [H, W, 3] uint8 with every figure (bool mask crop over its pixel box)
    grown by ``dilation`` pixels and inpainted from its surroundings, one crop per figure
    (module doc). ``method``: "telea" or "ns". A figure whose crop holds no known pixel (it
    and its neighbours cover it all) is painted white, with a warning."""
    cv2 = _cv2()
    flags = {"telea": cv2.INPAINT_TELEA, "ns": cv2.INPAINT_NS}
    if method not in flags:
        raise ValueError(f"method must be one of {', '.join(flags)}, got {method!r}")
    if int(dilation) != dilation or dilation < 0 or radius <= 0:
        raise ValueError(f"dilation must be a non-negative integer and radius positive, got "
                         f"{dilation!r} and {radius!r}")
    image = np.ascontiguousarray(image, np.uint8)
    height, width = image.shape[:2]
    # Every figure's grown mask, as a crop over its box grown by ``dilation`` (its reach).
    reach, holes = [], []
    kernel = (cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * dilation + 1,) * 2)
              if dilation else None)
    for mask, box in zip(masks, boxes):
        mask = cutout._check_crop(mask, box)
        grown_box = _grown(box, dilation, height, width)
        hole = np.zeros((grown_box[3] - grown_box[1], grown_box[2] - grown_box[0]), np.uint8)
        _paste(hole, grown_box, mask, box)
        reach.append(grown_box)
        holes.append((cv2.dilate(hole, kernel) if kernel is not None else hole).astype(bool))
    reach_array = np.asarray(reach, np.int64).reshape(-1, 4)
    margin = context_margin(dilation, radius)
    result = image.copy()
    for group in _touching_groups(reach, [hole.any() for hole in holes]):
        region = _grown(_union_box([boxes[k] for k in group]), margin, height, width)
        r_left, r_top, r_right, r_bottom = region
        # Every grown mask reaching into the region is hole: no figure is a source of colour.
        hole = np.zeros((r_bottom - r_top, r_right - r_left), np.uint8)
        for j in _overlapping(reach_array, region):
            _paste(hole, region, holes[j], reach[j])
        target = np.zeros(hole.shape, bool)
        for k in group:
            _paste(target, region, holes[k], reach[k])
        window = result[r_top:r_bottom, r_left:r_right]
        if hole.all():
            logger.warning("figure(s) %s: no map pixel around them to inpaint from: painted "
                           "white", ", ".join(str(k) for k in group))
            window[target] = cutout.WHITE
            continue
        source = np.ascontiguousarray(image[r_top:r_bottom, r_left:r_right])
        window[target] = cv2.inpaint(source, hole, float(radius), flags[method])[target]
    return result


def _union_box(boxes: Sequence[tuple[int, int, int, int]]) -> tuple[int, int, int, int]:
    return (min(b[0] for b in boxes), min(b[1] for b in boxes), max(b[2] for b in boxes),
            max(b[3] for b in boxes))


def _overlapping(array: np.ndarray, box: tuple[int, int, int, int]) -> np.ndarray:
    """Indices of the boxes of ``array`` [N, 4] sharing a pixel with ``box``."""
    return np.flatnonzero((array[:, 0] < box[2]) & (box[0] < array[:, 2])
                          & (array[:, 1] < box[3]) & (box[1] < array[:, 3]))


def _touching_groups(reach: Sequence[tuple[int, int, int, int]],
                     keep: Sequence[bool]) -> list[list[int]]:
    """The figures to keep, in groups whose reach boxes overlap (directly or through others),
    each in detection order, the groups in the order of their first figure: a group is
    inpainted at once, so a pixel two figures' grown masks share is filled once."""
    parent = list(range(len(reach)))

    def root(k: int) -> int:
        while parent[k] != k:
            parent[k] = parent[parent[k]]
            k = parent[k]
        return k

    kept = [k for k in range(len(reach)) if keep[k]]
    kept_boxes = np.asarray([reach[k] for k in kept], np.int64).reshape(-1, 4)
    for k in kept:
        for other in _overlapping(kept_boxes, reach[k]):
            a, b = root(k), root(kept[int(other)])
            if a != b:
                parent[max(a, b)] = min(a, b)
    groups: dict[int, list[int]] = {}
    for k in kept:
        groups.setdefault(root(k), []).append(k)
    return list(groups.values())
