"""Masks of the simple shapes annotation tools draw: rectangles and ellipses (turned or not).

Coordinates are pixels with the pixel-edge convention of ``coco_segmentation``: the pixel in
row r, column c covers [c, c + 1) x [r, r + 1). Rectangles become polygons, rasterised as every
polygon is (``polygons_to_mask``); a circle or an ellipse covers the pixels whose centres
(c + 0.5, r + 0.5) lie inside it (on its border included).
"""

from __future__ import annotations

import math

import numpy as np

from object_detection.dataset_tools.coco_segmentation import polygons_to_mask

ZERO_RADIUS = "circle or ellipse of radius 0"


def rotated_corners(xmin: float, ymin: float, xmax: float, ymax: float, degrees: float,
                    cx: float, cy: float) -> list[float]:
    """The flat polygon [x0, y0, ...] of a rectangle turned ``degrees`` clockwise (on screen,
    y down) around (cx, cy)."""
    angle = math.radians(degrees)
    cos, sin = math.cos(angle), math.sin(angle)
    flat = []
    for x, y in ((xmin, ymin), (xmax, ymin), (xmax, ymax), (xmin, ymax)):
        flat += [cx + cos * (x - cx) - sin * (y - cy), cy + sin * (x - cx) + cos * (y - cy)]
    return flat


def rectangle_mask(xmin: float, ymin: float, xmax: float, ymax: float, height: int, width: int,
                   where: str, degrees: float = 0.0, center: tuple[float, float] | None = None
                   ) -> np.ndarray:
    """[H, W] {0, 1} mask of a rectangle (turned ``degrees`` clockwise around ``center``,
    default its own centre)."""
    if degrees % 360 == 0:
        polygon = [xmin, ymin, xmax, ymin, xmax, ymax, xmin, ymax]
    else:
        cx, cy = center if center is not None else ((xmin + xmax) / 2, (ymin + ymax) / 2)
        polygon = rotated_corners(xmin, ymin, xmax, ymax, degrees, cx, cy)
    return polygons_to_mask([polygon], height, width, where)


def circle_mask(cx: float, cy: float, radius: float, height: int, width: int) -> np.ndarray:
    """[H, W] {0, 1} mask of the pixels whose centres lie within ``radius`` of (cx, cy)."""
    rows = (np.arange(height, dtype=np.float64) + 0.5 - cy) ** 2
    cols = (np.arange(width, dtype=np.float64) + 0.5 - cx) ** 2
    return (rows[:, None] + cols[None, :] <= radius * radius).astype(np.uint8)


def ellipse_mask(cx: float, cy: float, rx: float, ry: float, height: int, width: int,
                 degrees: float = 0.0) -> np.ndarray:
    """[H, W] {0, 1} mask of the pixels whose centres lie inside the ellipse of centre (cx, cy)
    and radii ``rx`` (along x before turning), ``ry``, turned ``degrees`` clockwise around its
    centre. Both radii must be above 0."""
    angle = math.radians(degrees)
    dy = np.arange(height, dtype=np.float64)[:, None] + 0.5 - cy
    dx = np.arange(width, dtype=np.float64)[None, :] + 0.5 - cx
    u = math.cos(angle) * dx + math.sin(angle) * dy      # the centre turned back by the angle
    v = -math.sin(angle) * dx + math.cos(angle) * dy
    return ((u / rx) ** 2 + (v / ry) ** 2 <= 1.0).astype(np.uint8)
