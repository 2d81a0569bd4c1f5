"""Cutting figures out of a map: crops, masked crops, square padding, filled holes, keypoints.

Pure numpy functions on uint8 arrays; a pixel box is ``(left, top, right, bottom)`` with right
and bottom exclusive (``ImageDetections.pixel_boxes``), and a detection's mask is a bool crop
over its pixel box (``ImageDetections.mask_crop``). They reproduce the published
pictorial-maps extraction scripts (narrat3d/pictorial-maps-mask-rcnn, ``character_segmentation/
extract_characters_for_*.py``), which did the same with Pillow.
"""

from __future__ import annotations

from typing import Mapping, Sequence

import numpy as np

WHITE = (255, 255, 255)

PixelBox = Sequence[int]


def crop(pixels: np.ndarray, box: PixelBox) -> np.ndarray:
    """``pixels[top:bottom, left:right]`` (any trailing channels kept)."""
    left, top, right, bottom = (int(v) for v in box)
    return pixels[top:bottom, left:right]


def _check_crop(mask: np.ndarray, box: PixelBox) -> np.ndarray:
    left, top, right, bottom = (int(v) for v in box)
    mask = np.asarray(mask, bool)
    if mask.shape != (bottom - top, right - left):
        raise ValueError(f"mask crop is {mask.shape} (height, width) but the box "
                         f"{[left, top, right, bottom]} is {(bottom - top, right - left)}")
    return mask


def cut_out(image: np.ndarray, mask: np.ndarray, box: PixelBox) -> np.ndarray:
    """uint8 [h, w, 4] RGBA: the box's crop of ``image`` [H, W, 3], opaque where the bool
    mask crop ``mask`` [h, w] (over the box) is set, transparent black (0, 0, 0, 0) elsewhere."""
    rgb, inside = crop(image, box), _check_crop(mask, box)
    result = np.zeros(rgb.shape[:2] + (4,), np.uint8)
    result[inside, :3] = rgb[inside]
    result[inside, 3] = 255
    return result


def masked_on_white(image: np.ndarray, mask: np.ndarray, box: PixelBox) -> np.ndarray:
    """uint8 [h, w, 3]: the box's crop of ``image``, white where the mask crop ``mask`` [h, w]
    is not set (the published "images with some background")."""
    result = crop(image, box).copy()
    result[~_check_crop(mask, box)] = WHITE
    return result


def square_padding(width: int, height: int) -> tuple[int, int, int]:
    """``(side, x_offset, y_offset)`` placing a ``width x height`` picture in a square of side
    ``max(width, height)``, centred along the shorter side with Python's ``round`` (halves to
    even: a 4-pixel-high picture in a 7-wide square gets ``round(1.5) = 2`` rows above, in a
    9-wide one ``round(2.5) = 2``), as the published script computed it."""
    if width > height:
        return width, 0, round((width - height) / 2)
    return height, round((height - width) / 2), 0


def pad_to_square(pixels: np.ndarray, fill: Sequence[int]) -> tuple[np.ndarray, list[int]]:
    """``pixels`` [h, w, C] pasted into a square filled with ``fill`` (C values), and the
    ``[x_offset, y_offset]`` where its top-left corner went (``square_padding``)."""
    height, width = pixels.shape[:2]
    side, x_offset, y_offset = square_padding(width, height)
    square = np.empty((side, side) + pixels.shape[2:], pixels.dtype)
    square[...] = np.asarray(fill, pixels.dtype)
    square[y_offset:y_offset + height, x_offset:x_offset + width] = pixels
    return square, [x_offset, y_offset]


def remove_figures(image: np.ndarray, masks: Sequence[np.ndarray],
                   boxes: Sequence[PixelBox]) -> np.ndarray:
    """A copy of ``image`` [H, W, 3] painted white wherever any bool mask crop of ``masks``
    (each over its pixel box of ``boxes``) is set: the published "extracted map" (a white hole
    per figure, nothing inpainted)."""
    result = image.copy()
    for mask, box in zip(masks, boxes):
        crop(result, box)[_check_crop(mask, box)] = WHITE
    return result


def keypoints_in_crop(keypoints: Mapping[str, Sequence[float]], box: PixelBox,
                      ) -> dict[str, list[float]]:
    """Keypoints ``{name: (x, y)}`` in map pixels moved into the box's crop (minus left, top),
    keeping those with ``0 <= x <= crop width`` and ``0 <= y <= crop height`` (bounds included,
    as published)."""
    left, top, right, bottom = (int(v) for v in box)
    width, height = right - left, bottom - top
    moved = {name: [float(xy[0]) - left, float(xy[1]) - top] for name, xy in keypoints.items()}
    return {name: xy for name, xy in moved.items()
            if 0 <= xy[0] <= width and 0 <= xy[1] <= height}
