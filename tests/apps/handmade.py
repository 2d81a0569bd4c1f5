"""Hand-made detections on a 40 x 60 map, with their pixel boxes worked out by hand.

Boxes use binary fractions so that ``W * x`` is exact (``box_ops.to_pixel_crops``: floor of the
minimum, ceiling of the maximum):

* A: [0.25, 0.125, 0.75, 0.375] -> left floor(7.5) = 7, top 10, right ceil(22.5) = 23,
  bottom 30 (an edge): a 16 x 20 (width x height) crop;
* B: [0.5, 0.5, 0.875, 0.9375] -> left 30, top 20, right ceil(56.25) = 57, bottom 35: a 27 x 15
  crop.

(The published scripts' ``int(W * x) + 1`` gave one more row where a box ends on a pixel edge:
bottoms 31 and 36.)
"""

from __future__ import annotations

import numpy as np

from object_detection.core.detections import ImageDetections

HEIGHT, WIDTH = 40, 60
BOX_A = [0.25, 0.125, 0.75, 0.375]
BOX_B = [0.5, 0.5, 0.875, 0.9375]
PIXEL_BOX_A = (7, 10, 23, 30)
PIXEL_BOX_B = (30, 20, 57, 35)


def smooth_map() -> np.ndarray:
    """uint8 [40, 60, 3]: red 4x, green 6y, blue 128; nowhere white, smooth enough for JPEG."""
    y, x = np.mgrid[0:HEIGHT, 0:WIDTH]
    return np.stack([4 * x, 6 * y, np.full_like(x, 128)], axis=-1).astype(np.uint8)


def mask_a() -> np.ndarray:
    """float [40, 60]: 0.9 on rows 12..28 x columns 9..20 but (12, 9), 0.5 (not above 0.5) at
    (12, 9), 0.2 elsewhere (inside box A where above 0.5)."""
    mask = np.full((HEIGHT, WIDTH), 0.2, np.float32)
    mask[12:29, 9:21] = 0.9
    mask[12, 9] = 0.5
    return mask


def mask_b() -> np.ndarray:
    """float [40, 60]: 0.8 on rows 22..33 x columns 33..50 (inside box B)."""
    mask = np.zeros((HEIGHT, WIDTH), np.float32)
    mask[22:34, 33:51] = 0.8
    return mask


def detections(boxes, masks, scores=None, classes=None) -> ImageDetections:
    """Detections of ``boxes`` with image-sized ``masks`` [H, W] (cut to their box crops:
    every mask above 0.5 here lies inside its box), scores 0.9 and class 1 by default."""
    count = len(boxes)
    scores = [0.9] * count if scores is None else scores
    classes = [1] * count if classes is None else classes
    boxes = np.array(boxes, np.float32).reshape(-1, 4)
    if not count:
        return ImageDetections(boxes, np.array(scores), np.array(classes))
    return ImageDetections.from_image_masks(boxes, np.array(scores), np.array(classes),
                                            np.stack(masks))


def two_figures() -> ImageDetections:
    """A (score 0.87) and B (score 0.6), class 1."""
    return detections([BOX_A, BOX_B], [mask_a(), mask_b()], scores=[0.87, 0.6])
