"""Drawing detections on an image: translucent masks, box outlines and "name: 87%" labels.

Pixels change only inside the masks, on the box outlines (``line_width`` pixels inside each
pixel box, see ``ImageDetections.pixel_boxes``) and under the labels, which sit just above each
box's top-left corner (inside the box when there is no room above). Colours are fixed per
detection index (``instance_colour``), so the same detections always look the same.
"""

from __future__ import annotations

import colorsys
from typing import Mapping

import numpy as np
from PIL import Image, ImageDraw, ImageFont

from object_detection.core.detections import (DEFAULT_MASK_THRESHOLD, ImageDetections,
                                                 check_image)

DEFAULT_MASK_ALPHA = 0.4
_GOLDEN_RATIO_CONJUGATE = 0.618033988749895
_LABEL_MARGIN = 2


def instance_colour(index: int) -> tuple[int, int, int]:
    """A saturated RGB colour for detection ``index``; neighbours differ in hue by the golden
    ratio of a turn, so any few consecutive indices get clearly different colours."""
    hue = (0.1 + index * _GOLDEN_RATIO_CONJUGATE) % 1.0
    red, green, blue = colorsys.hsv_to_rgb(hue, 0.85, 0.95)
    return round(red * 255), round(green * 255), round(blue * 255)


def label_text(class_id: int, score: float, category_names: Mapping[int, str]) -> str:
    """``"character: 87%"``; the class id itself when it has no name."""
    return f"{category_names.get(int(class_id), str(int(class_id)))}: {round(100 * float(score))}%"


def blend_masks(image: np.ndarray, detections: ImageDetections,
                colours: list[tuple[int, int, int]], mask_threshold: float = DEFAULT_MASK_THRESHOLD,
                alpha: float = DEFAULT_MASK_ALPHA) -> np.ndarray:
    """uint8 [H, W, 3]: a copy of ``image`` with each detection's mask (probability above
    ``mask_threshold``) blended in turn as ``(1 - alpha) * pixel + alpha * colour``, rounded
    after each mask; only the pixels of each box's crop are touched."""
    result = image.copy()
    for k, ((left, top, right, bottom), colour) in enumerate(zip(detections.pixel_boxes(),
                                                                 colours)):
        mask = detections.mask_crop(k, mask_threshold)
        region = result[top:bottom, left:right]
        blended = ((1.0 - alpha) * region[mask].astype(np.float32)
                   + alpha * np.asarray(colour, np.float32))
        region[mask] = np.clip(np.rint(blended), 0, 255).astype(np.uint8)
    return result


def draw_detections(image: np.ndarray, detections: ImageDetections,
                    category_names: Mapping[int, str], *,
                    mask_threshold: float = DEFAULT_MASK_THRESHOLD,
                    mask_alpha: float = DEFAULT_MASK_ALPHA, line_width: int = 2,
                    show_labels: bool = True,
                    font: ImageFont.ImageFont | ImageFont.FreeTypeFont | None = None) -> np.ndarray:
    """A copy of ``image`` (uint8 [H, W, 3]) with every detection drawn.

    Masks (when the detections have them; they must be of this image) are thresholded at
    ``mask_threshold`` and blended with ``mask_alpha``; then each box's outline and label are
    drawn in its colour. Filter the detections first (``detections.filter(0.3)``): all are drawn.
    """
    image = check_image(image)
    height, width = image.shape[:2]
    colours = [instance_colour(i) for i in range(len(detections))]
    if detections.masks is not None:
        detections.check_masks_fit(height, width, "draw_detections")
        image = blend_masks(image, detections, colours, mask_threshold, mask_alpha)
    canvas = Image.fromarray(image.copy())
    draw = ImageDraw.Draw(canvas)
    font = font or ImageFont.load_default()
    boxes = detections.pixel_boxes(height, width)
    for (left, top, right, bottom), colour in zip(boxes, colours):
        draw.rectangle([left, top, right - 1, bottom - 1], outline=colour, width=line_width)
    if show_labels:
        for (left, top, _, _), colour, class_id, score in zip(
                boxes, colours, detections.classes, detections.scores):
            _draw_label(draw, font, label_text(class_id, score, category_names),
                        int(left), int(top), colour)
    return np.asarray(canvas, np.uint8)


def _draw_label(draw: ImageDraw.ImageDraw, font, text: str, left: int, top: int,
                colour: tuple[int, int, int]) -> None:
    """A filled label rectangle with ``text`` above (x, y) = (left, top), or below it when the
    label would leave the image at the top."""
    _, _, text_right, text_bottom = draw.textbbox((0, 0), text, font=font)
    label_width, label_height = text_right + 2 * _LABEL_MARGIN, text_bottom + 2 * _LABEL_MARGIN
    label_top = top - label_height if top >= label_height else top
    draw.rectangle([left, label_top, left + label_width - 1, label_top + label_height - 1], fill=colour)
    luminance = 0.299 * colour[0] + 0.587 * colour[1] + 0.114 * colour[2]
    text_colour = (0, 0, 0) if luminance > 140 else (255, 255, 255)
    draw.text((left + _LABEL_MARGIN, label_top + _LABEL_MARGIN), text, fill=text_colour, font=font)
