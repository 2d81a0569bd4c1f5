"""The detections of one image as plain numpy arrays, and their boxes in pixels.

``ImageDetections`` is what every tool of ``object_detection.apps`` takes. It holds no
TensorFlow objects; only ``ImageDetections.from_model_output`` imports TensorFlow (lazily), to
paste the model's box-relative masks into image-sized ones with
``object_detection.core.mask_ops.reframe_box_masks_to_image_masks``.

Pixel boxes (``pixel_boxes``) are ``core.box_ops.to_pixel_crops``, the package's one conversion
of normalized boxes to integer pixels: ``left = floor(W * xmin)``, ``top = floor(H * ymin)``,
``right = ceil(W * xmax)``, ``bottom = ceil(H * ymax)`` (right and bottom exclusive, as for
``PIL.Image.crop`` and numpy slices), clipped to the image.
"""

from __future__ import annotations

import dataclasses
from typing import Any, Mapping

import numpy as np

from object_detection.core import box_ops
from object_detection.fields import DetectionResultFields as Fields

DEFAULT_SCORE_THRESHOLD = 0.3
DEFAULT_MASK_THRESHOLD = 0.5


@dataclasses.dataclass(frozen=True)
class ImageDetections:
    """Detections of one image.

    Attributes:
      boxes: float32 [K, 4] normalized [ymin, xmin, ymax, xmax].
      scores: float32 [K].
      classes: int64 [K], 1-based class ids.
      masks: float32 [K, H, W] image-sized mask probabilities in [0, 1], or None.

    Arrays are converted on construction; wrong shapes, non-finite or inverted boxes and class
    ids below 1 raise ValueError.
    """

    boxes: np.ndarray
    scores: np.ndarray
    classes: np.ndarray
    masks: np.ndarray | None = None

    def __post_init__(self) -> None:
        boxes = np.asarray(self.boxes, np.float32)
        if boxes.size == 0:
            boxes = boxes.reshape(0, 4)
        scores = np.asarray(self.scores, np.float32).reshape(-1)
        classes = np.asarray(self.classes)
        if boxes.ndim != 2 or boxes.shape[1] != 4:
            raise ValueError(f"detections: boxes must be [K, 4], got shape {boxes.shape}")
        count = boxes.shape[0]
        if scores.shape != (count,) or classes.reshape(-1).shape != (count,):
            raise ValueError(f"detections: {count} boxes but scores of shape {scores.shape} and "
                             f"classes of shape {classes.shape}")
        classes = np.rint(classes.reshape(-1)).astype(np.int64)
        if not np.all(np.isfinite(boxes)):
            raise ValueError("detections: boxes contain NaN or infinite values")
        if np.any(boxes[:, 2] < boxes[:, 0]) or np.any(boxes[:, 3] < boxes[:, 1]):
            raise ValueError("detections: a box has ymax < ymin or xmax < xmin")
        if np.any(classes < 1):
            raise ValueError(f"detections: class ids are 1-based, got {sorted(set(classes[classes < 1]))}")
        masks = None
        if self.masks is not None:
            masks = np.asarray(self.masks, np.float32)
            if masks.ndim != 3 or masks.shape[0] != count:
                raise ValueError(f"detections: masks must be [K={count}, H, W], got shape {masks.shape}")
        object.__setattr__(self, "boxes", boxes)
        object.__setattr__(self, "scores", scores)
        object.__setattr__(self, "classes", classes)
        object.__setattr__(self, "masks", masks)

    def __len__(self) -> int:
        return int(self.boxes.shape[0])

    @property
    def mask_shape(self) -> tuple[int, int] | None:
        """(H, W) of the masks, or None without masks."""
        return None if self.masks is None else (int(self.masks.shape[1]), int(self.masks.shape[2]))

    def select(self, keep: np.ndarray) -> ImageDetections:
        """The detections at ``keep`` (a boolean [K] array or indices), in that order."""
        masks = None if self.masks is None else self.masks[keep]
        return ImageDetections(self.boxes[keep], self.scores[keep], self.classes[keep], masks)

    def filter(self, score_threshold: float = DEFAULT_SCORE_THRESHOLD) -> ImageDetections:
        """The detections with a score strictly above ``score_threshold`` (as the OD API's
        visualisation and the published scripts compare)."""
        return self.select(self.scores > score_threshold)

    def binary_masks(self, mask_threshold: float = DEFAULT_MASK_THRESHOLD) -> np.ndarray:
        """bool [K, H, W]: mask probability strictly above ``mask_threshold`` (the OD API's
        ``tf.greater(masks, 0.5)``). ValueError when there are no masks."""
        if self.masks is None:
            raise ValueError("detections have no masks (the model was exported without a mask head?)")
        return self.masks > mask_threshold

    def check_masks_fit(self, image_height: int, image_width: int, what: str = "image") -> None:
        """ValueError unless there are masks of exactly ``image_height x image_width``."""
        if self.masks is None:
            raise ValueError(f"{what}: the detections have no masks")
        if self.mask_shape != (image_height, image_width):
            raise ValueError(f"{what}: detection masks are {self.mask_shape[1]}x{self.mask_shape[0]} "
                             f"pixels (width x height) but the image is {image_width}x{image_height}")

    def pixel_boxes(self, image_height: int, image_width: int) -> np.ndarray:
        """int64 [K, 4] ``(left, top, right, bottom)`` pixels, right/bottom exclusive
        (``box_ops.to_pixel_crops``: floor of the minimum, ceiling of the maximum, normalized
        values clipped to [0, 1] first and the result to the image; every box keeps at least
        one pixel)."""
        return box_ops.to_pixel_crops(self.boxes, image_height, image_width)

    @classmethod
    def from_model_output(cls, output_dict: Mapping[str, Any], image_index: int,
                          image_height: int, image_width: int,
                          score_threshold: float | None = None) -> ImageDetections:
        """The detections of image ``image_index`` of a batched model output.

        Args:
          output_dict: numpy arrays or tensors under the OD API output names
            (``DetectionResultFields``): ``detection_boxes [B, K, 4]`` normalized to the image,
            ``detection_scores [B, K]``, ``detection_classes [B, K]`` (1-based), optionally
            ``num_detections [B]`` (rows past it are dropped) and ``detection_masks
            [B, K, h, w]`` box-relative probabilities.
          image_index: which image of the batch.
          image_height, image_width: the size of that image (as fed to the model, before any
            resizing the model does itself); masks are reframed to it.
          score_threshold: keep only detections scoring above it (as ``filter``), before the
            masks are reframed: image-sized masks of every slot of a large map would take GBs.

        Box-relative masks are pasted into the image with ``reframe_box_masks_to_image_masks``
        (imported here, so that only this method needs TensorFlow).
        """
        for key in (Fields.detection_boxes, Fields.detection_scores, Fields.detection_classes):
            if key not in output_dict:
                raise ValueError(f"model output: no '{key}' (keys: {', '.join(sorted(output_dict))})")
        boxes = np.asarray(output_dict[Fields.detection_boxes], np.float32)
        if boxes.ndim != 3 or boxes.shape[-1] != 4:
            raise ValueError(f"model output: '{Fields.detection_boxes}' must be [B, K, 4], "
                             f"got shape {boxes.shape}")
        if not 0 <= image_index < boxes.shape[0]:
            raise ValueError(f"model output: image index {image_index} outside the batch of {boxes.shape[0]}")
        count = boxes.shape[1]
        if Fields.num_detections in output_dict:
            count = min(count, int(np.asarray(output_dict[Fields.num_detections]).reshape(-1)[image_index]))
        boxes = boxes[image_index, :count]
        scores = np.asarray(output_dict[Fields.detection_scores])[image_index, :count]
        classes = np.asarray(output_dict[Fields.detection_classes])[image_index, :count]
        keep = (np.arange(count) if score_threshold is None
                else np.flatnonzero(scores > score_threshold))
        boxes, scores, classes = boxes[keep], scores[keep], classes[keep]
        masks = None
        if Fields.detection_masks in output_dict:
            box_masks = np.asarray(output_dict[Fields.detection_masks], np.float32)
            if box_masks.ndim != 4:
                raise ValueError(f"model output: '{Fields.detection_masks}' must be [B, K, h, w], "
                                 f"got shape {box_masks.shape}")
            masks = _reframe(box_masks[image_index, :count][keep], boxes, image_height, image_width)
        return cls(boxes, scores, classes, masks)


def check_image(image: np.ndarray, what: str = "image") -> np.ndarray:
    """The image as a uint8 [H, W, 3] array; ValueError for any other shape or dtype."""
    image = np.asarray(image)
    if image.dtype != np.uint8 or image.ndim != 3 or image.shape[2] != 3:
        raise ValueError(f"{what}: expected a uint8 [H, W, 3] RGB array, got {image.dtype} {image.shape}")
    return image


def _reframe(box_masks: np.ndarray, boxes: np.ndarray, image_height: int,
             image_width: int) -> np.ndarray:
    """float32 [K, H, W] image masks from [K, h, w] box-relative ones (TensorFlow, lazily)."""
    if box_masks.shape[0] == 0:
        return np.zeros((0, image_height, image_width), np.float32)
    from object_detection.core.mask_ops import reframe_box_masks_to_image_masks

    return reframe_box_masks_to_image_masks(box_masks, boxes, image_height, image_width).numpy()
