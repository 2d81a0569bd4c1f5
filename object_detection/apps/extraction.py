"""Writing detected figures out of a map: for animation, and as training data for other networks.

The layouts are those of the published pictorial-maps scripts
(narrat3d/pictorial-maps-mask-rcnn, ``character_segmentation/extract_characters_for_*.py``).

For animation, one folder per map (``extract_for_animation``)::

    extracted_map.png          the map with every written figure removed: its mask painted
                               white (``fill="white"``, the default, as published) or, with
                               ``fill="inpaint"``, filled from its surroundings
                               (``map_fill``)
    config.json                {"numberOfCharacters": n, "width": W, "height": H}; written
                               last (an earlier run's is removed first), so a map folder
                               without it is incomplete
    char0/ ... char<n-1>/      one per figure, numbered from 0 in detection order
        image.png              RGBA: the masked figure cropped to its box, transparent elsewhere,
                               padded (transparent) to a square
        padding.json           [x_offset, y_offset]: where the crop sits in the square
        topLeftCorner.json     [left, top]: where the crop's top-left pixel is on the map

For training, one folder for many maps, files numbered on from ``start_index``
(``extract_for_training``)::

    images_with_background/N.jpg        the box's crop of the map
    images_with_some_background/N.jpg   the same crop, white outside the detection's mask
    masks/N.png                         the matched figure's body-part labels in the crop
                                        (figure_folder.BODY_PART_NAMES; 255 elsewhere)
    keypoints/N.json                    {name: [x, y]}: its keypoints moved into the crop,
                                        those outside it dropped

Deviations from the published scripts, all deliberate: the figure and the extracted map are PNG
(the published wrote JPEG, and the figure on white: the transparent background the animation
needs was an unused option there); body-part masks are PNG (JPEG blurs label values); boxes are
clipped to the map (the published crops could reach one pixel past its edge). Detections are
written as given: filter them by score first (``ImageDetections.filter``). A detection whose
mask has no pixel inside its box, or (training) that overlaps no figure, is skipped with a
warning and counted.
"""

from __future__ import annotations

import dataclasses
import logging
import os
import re

import numpy as np

from object_detection.dataset_tools.figure_folder import BACKGROUND_BODY_PART, FigureMap
from object_detection.apps import cutout, map_fill
from object_detection.core.detections import (DEFAULT_MASK_THRESHOLD, ImageDetections,
                                                 check_image)
from object_detection.apps.matching import NO_MATCH, match_by_largest_overlap
from object_detection.apps.outputs import OutputFolder

logger = logging.getLogger(__name__)

EXTRACTED_MAP = "extracted_map.png"
MAP_CONFIG = "config.json"
CHARACTER_DIR = "char{}"
CHARACTER_IMAGE = "image.png"
PADDING = "padding.json"
TOP_LEFT_CORNER = "topLeftCorner.json"
_CHARACTER_FILES = {CHARACTER_IMAGE, PADDING, TOP_LEFT_CORNER}
_CHARACTER_DIR_PATTERN = re.compile(r"char(\d+)")

WITH_BACKGROUND_DIR = "images_with_background"
WITH_SOME_BACKGROUND_DIR = "images_with_some_background"
MASKS_DIR = "masks"
KEYPOINTS_DIR = "keypoints"
IMAGE_FORMATS = ("jpg", "png")

TRANSPARENT = (0, 0, 0, 0)


@dataclasses.dataclass
class ExtractionSummary:
    """What one extraction wrote: ``files`` (absolute paths, in order), ``figures`` written,
    detections skipped because their mask is empty inside their box (``skipped_empty``) or,
    for training, because they overlap no ground-truth figure (``skipped_unmatched``), and
    ``next_index``: the training file number to continue from."""

    output_dir: str
    files: list[str] = dataclasses.field(default_factory=list)
    figures: int = 0
    skipped_empty: int = 0
    skipped_unmatched: int = 0
    next_index: int = 0

    def __str__(self) -> str:
        return (f"{self.output_dir}: wrote {self.figures} figure(s) in {len(self.files)} file(s); "
                f"skipped {self.skipped_empty} empty and {self.skipped_unmatched} unmatched detection(s)")


def _mask_crops(image: np.ndarray, detections: ImageDetections, mask_threshold: float,
                what: str) -> list[np.ndarray]:
    """bool mask crops of the detections over their pixel boxes, checked against the image."""
    height, width = image.shape[:2]
    if len(detections) == 0 and detections.masks is None:
        return []
    detections.check_masks_fit(height, width, what)
    return [detections.mask_crop(k, mask_threshold) for k in range(len(detections))]


def _is_empty_in_box(mask: np.ndarray, box: np.ndarray, index: int, output_dir: str) -> bool:
    if mask.any():
        return False
    logger.warning("%s: skipping detection %d: its mask has no pixel inside its box %s",
                   output_dir, index, [int(v) for v in box])
    return True


def extract_for_animation(image: np.ndarray, detections: ImageDetections, output_dir: str, *,
                          mask_threshold: float = DEFAULT_MASK_THRESHOLD,
                          fill: str = map_fill.DEFAULT_FILL) -> ExtractionSummary:
    """Writes one map's figures for animation into ``output_dir`` (layout in the module doc).

    Args:
      image: uint8 [H, W, 3] RGB map.
      detections: its detections, already filtered by score, with masks (of this image).
      output_dir: the map's folder (created; files of an earlier run are replaced, and its
        ``charN/`` folders beyond the new count removed when they hold only our files).
      mask_threshold: mask probabilities above it belong to the figure.
      fill: how ``extracted_map.png`` fills the removed figures, one of ``map_fill.FILLS``:
        "white" (as published) or "inpaint" (from their surroundings, ``map_fill``).
    """
    map_fill.check_fill(fill)
    image = check_image(image, output_dir)
    height, width = image.shape[:2]
    masks = _mask_crops(image, detections, mask_threshold, output_dir)
    out = OutputFolder(output_dir)
    out.makedirs()
    out.remove(MAP_CONFIG)  # the folder is incomplete until the new one is written
    summary = ExtractionSummary(out.root)
    if len(detections) == 0:
        logger.warning("%s: no detections: the extracted map is the map itself", out.root)
    written = []
    boxes = detections.pixel_boxes(height, width)
    for k, box in enumerate(boxes):
        if _is_empty_in_box(masks[k], box, k, out.root):
            summary.skipped_empty += 1
            continue
        square, padding = cutout.pad_to_square(cutout.cut_out(image, masks[k], box), TRANSPARENT)
        folder = CHARACTER_DIR.format(len(written))
        out.write_image(f"{folder}/{CHARACTER_IMAGE}", square)
        out.write_json(f"{folder}/{PADDING}", padding)
        out.write_json(f"{folder}/{TOP_LEFT_CORNER}", [int(box[0]), int(box[1])])
        written.append(k)
    out.write_image(EXTRACTED_MAP, map_fill.fill_figures(image, [masks[k] for k in written],
                                                         boxes[written], fill))
    _remove_stale_character_dirs(out, len(written))
    out.write_json(MAP_CONFIG, {"numberOfCharacters": len(written), "width": width, "height": height})
    summary.files, summary.figures = out.written, len(written)
    logger.info("%s", summary)
    return summary


def _remove_stale_character_dirs(out: OutputFolder, count: int) -> None:
    """Removes ``charN/`` folders with N >= count left by an earlier run, when they hold only
    the files this module writes; warns about any other."""
    for name in sorted(os.listdir(out.root)):
        match = _CHARACTER_DIR_PATTERN.fullmatch(name)
        path = os.path.join(out.root, name)
        if not match or int(match.group(1)) < count or os.path.islink(path) or not os.path.isdir(path):
            continue
        contents = set(os.listdir(path))
        if not contents <= _CHARACTER_FILES:
            logger.warning("%s: left in place (not a figure folder of this tool: it holds %s)",
                           path, ", ".join(sorted(contents - _CHARACTER_FILES)))
            continue
        for file_name in contents:
            os.remove(os.path.join(path, file_name))
        os.rmdir(path)
        logger.info("%s: removed (a figure of an earlier run)", path)


def extract_for_training(image: np.ndarray, detections: ImageDetections, figure_map: FigureMap,
                         output_dir: str, start_index: int = 0, *,
                         mask_threshold: float = DEFAULT_MASK_THRESHOLD,
                         image_format: str = "jpg") -> ExtractionSummary:
    """Writes the detected figures of one map that match a ground-truth figure, as training
    data (layout in the module doc), numbered from ``start_index``.

    Args:
      image: uint8 [H, W, 3] RGB map (the one ``figure_map`` annotates).
      detections: its detections, already filtered by score, with masks (of this image).
      figure_map: the map's ground truth (``figure_folder.read_map``).
      output_dir: the folder shared by all maps (created; same-numbered files are replaced).
      start_index: the number of the first file written (``summary.next_index`` of the
        previous map).
      mask_threshold: mask probabilities above it belong to the figure.
      image_format: "jpg" (as published) or "png" for the two image crops.
    """
    if image_format not in IMAGE_FORMATS:
        raise ValueError(f"image_format must be one of {', '.join(IMAGE_FORMATS)}, got {image_format!r}")
    if int(start_index) != start_index or start_index < 0:
        raise ValueError(f"start_index must be a non-negative integer, got {start_index!r}")
    image = check_image(image, output_dir)
    if figure_map.instances.shape != image.shape[:2]:
        raise ValueError(f"{output_dir}: the ground-truth masks are {figure_map.instances.shape} "
                         f"but the image is {image.shape[:2]} (height, width)")
    masks = _mask_crops(image, detections, mask_threshold, output_dir)
    out = OutputFolder(output_dir)
    for folder in (WITH_BACKGROUND_DIR, WITH_SOME_BACKGROUND_DIR, MASKS_DIR, KEYPOINTS_DIR):
        out.makedirs(folder)
    summary = ExtractionSummary(out.root, next_index=int(start_index))
    boxes = detections.pixel_boxes(*image.shape[:2])
    matches = match_by_largest_overlap(masks, boxes, figure_map.instances, figure_map.num_figures)
    for k, box in enumerate(boxes):
        if _is_empty_in_box(masks[k], box, k, out.root):
            summary.skipped_empty += 1
            continue
        figure = int(matches[k])
        if figure == NO_MATCH:
            logger.warning("%s: skipping detection %d: it overlaps no ground-truth figure", out.root, k)
            summary.skipped_unmatched += 1
            continue
        _write_training_figure(out, summary.next_index, image, masks[k], box, figure_map, figure,
                               image_format)
        summary.next_index += 1
        summary.figures += 1
    summary.files = out.written
    logger.info("%s", summary)
    return summary


def _write_training_figure(out: OutputFolder, index: int, image: np.ndarray, mask: np.ndarray,
                           box: np.ndarray, figure_map: FigureMap, figure: int,
                           image_format: str) -> None:
    """The four files of detection ``mask`` (its crop over ``box``) matched to 0-based
    ground-truth ``figure``."""
    instances, body_parts = cutout.crop(figure_map.instances, box), cutout.crop(figure_map.body_parts, box)
    body_parts = np.where(instances == figure + 1, body_parts, BACKGROUND_BODY_PART).astype(np.uint8)
    keypoints = figure_map.keypoints[figure] if figure < len(figure_map.keypoints) else {}
    out.write_image(f"{WITH_BACKGROUND_DIR}/{index}.{image_format}", cutout.crop(image, box))
    out.write_image(f"{WITH_SOME_BACKGROUND_DIR}/{index}.{image_format}",
                    cutout.masked_on_white(image, mask, box))
    out.write_image(f"{MASKS_DIR}/{index}.png", body_parts)
    out.write_json(f"{KEYPOINTS_DIR}/{index}.json", cutout.keypoints_in_crop(keypoints, box))
