"""Evaluation pictures: detections beside ground truth, as the OD API's ``eval_side_by_side``.

For the first ``eval_config.num_visualizations`` maps of an evaluation (0: none; the OD API's
default 10) one picture ``[H, 2 W, 3]``: on the left the map with the model's detections, on
the right the same map with its ground truth, as the OD API's
``visualization_utils.draw_side_by_side_evaluation_image`` puts them. ``H x W`` is the map as
the model saw it (resized by the model's image resizer, without padding: ``true_image_shape``);
the OD API scales its pictures back to the original size instead, which for large maps makes
pictures of hundreds of MB that hold no more detail.

Detections: the first ``max_num_boxes_to_visualize`` (default 20) of the model's output, of
those the ones scoring strictly above ``min_score_threshold`` (default 0.5), as the OD API
selects them; each with its mask blended in (probability above 0.5, alpha 0.4), its box outline
and a ``"name: 87%"`` label above the box (``skip_scores``: ``"name"``; ``skip_labels``: no
label; a label near the right edge moves left to stay on the map). Ground truth: every instance with its mask (when the records have masks), its box and its class name.
Colours are per class, the same on both sides. Masks are drawn from box crops
(``ImageDetections``), one box at a time, so a picture costs the map and its two copies.

Tags are the OD API's, ``eval_side_by_side_{batch}_{index in the batch}`` (with the OD API's
evaluation batch size of 1: ``eval_side_by_side_0_0``, ``eval_side_by_side_1_0``, ...); the
pictures are PNG-encoded as soon as they are drawn.
"""

from __future__ import annotations

import colorsys
import io
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from PIL import Image, ImageDraw, ImageFont

from object_detection.core.detections import DEFAULT_MASK_THRESHOLD, ImageDetections
from object_detection.fields import DetectionResultFields, InputFields
from object_detection.protos import eval_pb2

TAG_FORMAT = "eval_side_by_side_{batch}_{index}"
MASK_ALPHA = 0.4
LINE_WIDTH = 2
_LABEL_MARGIN = 2
_GOLDEN_RATIO_CONJUGATE = 0.618033988749895


def tag(batch_index: int, index_in_batch: int) -> str:
    """The OD API's tag of the picture of image ``index_in_batch`` of batch ``batch_index``."""
    return TAG_FORMAT.format(batch=int(batch_index), index=int(index_in_batch))


@dataclass(frozen=True)
class Settings:
    """What to draw: ``eval_config``'s visualization fields (the OD API's names)."""

    num_visualizations: int = 10
    min_score_threshold: float = 0.5
    max_num_boxes_to_visualize: int = 20
    skip_scores: bool = False
    skip_labels: bool = False

    @classmethod
    def from_config(cls, config: eval_pb2.EvalConfig) -> Settings:
        return cls(int(config.num_visualizations), float(config.min_score_threshold),
                   max(0, int(config.max_num_boxes_to_visualize)), bool(config.skip_scores),
                   bool(config.skip_labels))


@dataclass(frozen=True)
class Picture:
    """One evaluation picture: its tag, PNG bytes and size in pixels."""

    tag: str
    png: bytes
    height: int
    width: int


def class_colour(class_id: int) -> tuple[int, int, int]:
    """A saturated RGB colour for ``class_id``; neighbouring ids differ in hue by the golden
    ratio of a turn."""
    hue = (0.1 + int(class_id) * _GOLDEN_RATIO_CONJUGATE) % 1.0
    red, green, blue = colorsys.hsv_to_rgb(hue, 0.85, 0.95)
    return round(red * 255), round(green * 255), round(blue * 255)


def draw_instances(image: np.ndarray, instances: ImageDetections,
                   category_names: Mapping[int, str], *, show_scores: bool = True,
                   show_labels: bool = True) -> np.ndarray:
    """A copy of ``image`` (uint8 [H, W, 3]) with each instance's mask (from its box crop,
    probability above 0.5), box outline and label (``"name: 87%"``, or ``"name"`` without
    scores) in its class colour."""
    height, width = image.shape[:2]
    result = image.copy()
    boxes = instances.pixel_boxes(height, width)
    colours = [class_colour(c) for c in instances.classes]
    if instances.masks is not None:
        for k, ((left, top, right, bottom), colour) in enumerate(zip(boxes, colours)):
            mask = instances.mask_crop(k, DEFAULT_MASK_THRESHOLD)
            region = result[top:bottom, left:right]
            blended = ((1.0 - MASK_ALPHA) * region[mask].astype(np.float32)
                       + MASK_ALPHA * np.asarray(colour, np.float32))
            region[mask] = np.clip(np.rint(blended), 0, 255).astype(np.uint8)
    canvas = Image.fromarray(result)
    draw = ImageDraw.Draw(canvas)
    for (left, top, right, bottom), colour in zip(boxes, colours):
        draw.rectangle([int(left), int(top), int(right) - 1, int(bottom) - 1], outline=colour,
                       width=LINE_WIDTH)
    if show_labels:
        font = ImageFont.load_default()
        for (left, top, _, _), colour, class_id, score in zip(boxes, colours, instances.classes,
                                                              instances.scores):
            text = category_names.get(int(class_id), str(int(class_id)))
            if show_scores:
                text = f"{text}: {round(100 * float(score))}%"
            _draw_label(draw, font, text, int(left), int(top), colour, width)
    return np.asarray(canvas, np.uint8)


def _draw_label(draw: ImageDraw.ImageDraw, font, text: str, left: int, top: int,
                colour: tuple[int, int, int], image_width: int) -> None:
    """A filled label with ``text`` just above (left, top), or below it at the image top;
    moved left where it would leave the image at the right."""
    _, _, text_right, text_bottom = draw.textbbox((0, 0), text, font=font)
    label_width, label_height = text_right + 2 * _LABEL_MARGIN, text_bottom + 2 * _LABEL_MARGIN
    label_top = top - label_height if top >= label_height else top
    left = max(0, min(left, image_width - label_width))
    draw.rectangle([left, label_top, left + label_width - 1, label_top + label_height - 1],
                   fill=colour)
    luminance = 0.299 * colour[0] + 0.587 * colour[1] + 0.114 * colour[2]
    draw.text((left + _LABEL_MARGIN, label_top + _LABEL_MARGIN), text,
              fill=(0, 0, 0) if luminance > 140 else (255, 255, 255), font=font)


def side_by_side(image: np.ndarray, detections: ImageDetections, groundtruth: ImageDetections,
                 category_names: Mapping[int, str], settings: Settings = Settings()) -> np.ndarray:
    """uint8 [H, 2 W, 3]: ``image`` with ``detections`` (drawn as given: select them first) on
    the left, with ``groundtruth`` (names only) on the right."""
    left = draw_instances(image, detections, category_names,
                          show_scores=not settings.skip_scores,
                          show_labels=not settings.skip_labels)
    right = draw_instances(image, groundtruth, category_names, show_scores=False,
                           show_labels=not settings.skip_labels)
    return np.concatenate([left, right], axis=1)


def encode_png(image: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(image).save(buffer, format="PNG")
    return buffer.getvalue()


def _numpy(value: Any) -> np.ndarray:
    return value.numpy() if hasattr(value, "numpy") else np.asarray(value)


def batch_pictures(outputs: Mapping[str, Any], batch: Mapping[str, Any], batch_index: int,
                   category_names: Mapping[int, str], settings: Settings,
                   limit: int) -> list[Picture]:
    """The pictures of the first ``limit`` images of one evaluation batch (model ``outputs``
    and the input ``batch`` it came from, ``fields`` names), tagged by ``batch_index``."""
    images = _numpy(batch[InputFields.image])
    shapes = _numpy(batch[InputFields.true_image_shape])
    gt_boxes = _numpy(batch[InputFields.groundtruth_boxes])
    gt_classes = _numpy(batch[InputFields.groundtruth_classes])
    counts = batch.get(InputFields.num_groundtruth_boxes)
    counts = None if counts is None else _numpy(counts)
    gt_masks = batch.get(InputFields.groundtruth_instance_masks)
    outputs = {name: _numpy(value) for name, value in outputs.items()}
    # The OD API draws the first max_num_boxes_to_visualize detections above the threshold.
    numbers = outputs.get(DetectionResultFields.num_detections)
    if numbers is None:
        numbers = np.full(images.shape[0], outputs[DetectionResultFields.detection_boxes].shape[1])
    outputs[DetectionResultFields.num_detections] = np.minimum(
        numbers, settings.max_num_boxes_to_visualize)
    pictures = []
    for b in range(min(int(limit), images.shape[0])):
        height, width = int(shapes[b][0]), int(shapes[b][1])
        image = np.clip(np.rint(images[b, :height, :width, :3]), 0, 255).astype(np.uint8)
        detections = ImageDetections.from_model_output(
            outputs, b, height, width, score_threshold=settings.min_score_threshold)
        n = int(counts[b]) if counts is not None else int(np.count_nonzero(gt_classes[b] > 0))
        boxes, classes = gt_boxes[b][:n], gt_classes[b][:n]
        if gt_masks is not None:
            masks = _numpy(gt_masks[b][:n, :height, :width])
            groundtruth = ImageDetections.from_image_masks(boxes, np.ones(n), classes, masks)
        else:
            groundtruth = ImageDetections(boxes, np.ones(n), classes, None, (height, width))
        picture = side_by_side(image, detections, groundtruth, category_names, settings)
        pictures.append(Picture(tag(batch_index, b), encode_png(picture), *picture.shape[:2]))
    return pictures


def category_names(categories: Sequence[Mapping]) -> dict[int, str]:
    """``{id: name}`` of COCO categories (``label_map.load_categories``)."""
    return {int(c["id"]): str(c["name"]) for c in categories}
