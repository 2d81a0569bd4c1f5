"""The detections of one image as plain numpy arrays: boxes, scores, classes, box-sized masks.

``ImageDetections`` is what every tool of ``object_detection.apps`` takes. It holds no
TensorFlow objects and imports no TensorFlow. Its masks are **box crops**: detection ``k``'s
mask is a float32 ``[bottom - top, right - left]`` array of probabilities over its pixel box
``pixel_boxes()[k]`` (0 outside it, by construction), never an image-sized array, so that a
map of 8000 x 6000 pixels with a hundred figures holds a few MB of masks, not tens of GB.
Image-sized binary masks are made one at a time where a consumer needs one (``image_mask``).

Pixel boxes are ``core.box_ops.to_pixel_crops``, the package's one conversion of normalized
boxes to integer pixels: ``left = floor(W * xmin)``, ``top = floor(H * ymin)``, ``right =
ceil(W * xmax)``, ``bottom = ceil(H * ymax)`` (right and bottom exclusive, as for
``PIL.Image.crop`` and numpy slices), clipped to the image, at least one pixel.

``from_model_output`` pastes the model's box-relative masks into the box crops with
``core.box_masks.paste_box_mask`` (the same pixels as the OD API's reframing), optionally for a
model run on a tile of a larger map (``offset`` / ``map_size``): boxes then come out normalized
to the map and masks are sampled at the map's pixels.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from typing import Any, Iterator, Mapping

import numpy as np

from object_detection.core import box_masks, box_ops
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
      masks: None, or a tuple of K float32 box crops: ``masks[k]`` is [bottom - top,
        right - left] mask probabilities in [0, 1] over ``pixel_boxes()[k]``.
      image_size: (height, width) of the image in pixels; required with masks.

    Arrays are converted on construction; wrong shapes, non-finite or inverted boxes, class
    ids below 1, masks without ``image_size`` or of another size than their pixel box raise
    ValueError.
    """

    boxes: np.ndarray
    scores: np.ndarray
    classes: np.ndarray
    masks: tuple[np.ndarray, ...] | None = None
    image_size: tuple[int, int] | None = None

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
        size = None
        if self.image_size is not None:
            size = (int(self.image_size[0]), int(self.image_size[1]))
            if size[0] < 1 or size[1] < 1:
                raise ValueError(f"detections: image size must be positive, got {size}")
        object.__setattr__(self, "boxes", boxes)
        object.__setattr__(self, "scores", scores)
        object.__setattr__(self, "classes", classes)
        object.__setattr__(self, "image_size", size)
        object.__setattr__(self, "masks", self._checked_masks())

    def _checked_masks(self) -> tuple[np.ndarray, ...] | None:
        if self.masks is None:
            return None
        if self.image_size is None:
            raise ValueError("detections: masks need the image size (image_size=(height, width))")
        masks = tuple(np.asarray(m, np.float32) for m in self.masks)
        if len(masks) != len(self):
            raise ValueError(f"detections: {len(masks)} masks for {len(self)} boxes")
        for k, (mask, (left, top, right, bottom)) in enumerate(zip(masks, self.pixel_boxes())):
            if mask.shape != (bottom - top, right - left):
                raise ValueError(f"detections: mask {k} is {mask.shape} (height, width) but its "
                                 f"pixel box is {(bottom - top, right - left)}")
        return masks

    def __len__(self) -> int:
        return int(self.boxes.shape[0])

    @property
    def has_masks(self) -> bool:
        return self.masks is not None

    def _size(self, image_height: int | None, image_width: int | None) -> tuple[int, int]:
        if image_height is not None and image_width is not None:
            return int(image_height), int(image_width)
        if self.image_size is None:
            raise ValueError("detections: no image size: pass image_height and image_width")
        return self.image_size

    def pixel_boxes(self, image_height: int | None = None,
                    image_width: int | None = None) -> np.ndarray:
        """int64 [K, 4] ``(left, top, right, bottom)`` pixels, right/bottom exclusive
        (``box_ops.to_pixel_crops``), of an image of ``image_height x image_width`` (default
        ``image_size``)."""
        return box_ops.to_pixel_crops(self.boxes, *self._size(image_height, image_width))

    def select(self, keep: np.ndarray | Sequence[int]) -> ImageDetections:
        """The detections at ``keep`` (a boolean [K] array or indices), in that order."""
        keep = np.asarray(keep)
        indices = np.arange(len(self))[keep if keep.dtype == bool else keep.astype(np.int64)]
        masks = None if self.masks is None else tuple(self.masks[i] for i in indices)
        return ImageDetections(self.boxes[indices], self.scores[indices], self.classes[indices],
                               masks, self.image_size)

    def filter(self, score_threshold: float = DEFAULT_SCORE_THRESHOLD) -> ImageDetections:
        """The detections with a score strictly above ``score_threshold`` (as the OD API's
        visualisation and the published scripts compare)."""
        return self.select(self.scores > score_threshold)

    def _masks_or_raise(self) -> tuple[np.ndarray, ...]:
        if self.masks is None:
            raise ValueError("detections have no masks (the model was exported without a mask head?)")
        return self.masks

    def mask_crop(self, index: int, mask_threshold: float = DEFAULT_MASK_THRESHOLD) -> np.ndarray:
        """bool [bottom - top, right - left]: detection ``index``'s mask over its pixel box,
        probability strictly above ``mask_threshold`` (the OD API's ``tf.greater(masks, 0.5)``)."""
        return self._masks_or_raise()[index] > mask_threshold

    def image_mask(self, index: int, mask_threshold: float = DEFAULT_MASK_THRESHOLD) -> np.ndarray:
        """bool [H, W]: detection ``index``'s mask in the whole image (one image-sized array;
        prefer ``mask_crop`` with ``pixel_boxes`` where the box is enough)."""
        self._masks_or_raise()
        height, width = self._size(None, None)
        left, top, right, bottom = self.pixel_boxes()[index]
        mask = np.zeros((height, width), bool)
        mask[top:bottom, left:right] = self.mask_crop(index, mask_threshold)
        return mask

    def image_masks(self, mask_threshold: float = DEFAULT_MASK_THRESHOLD) -> Iterator[np.ndarray]:
        """``image_mask`` of each detection in turn (one image-sized array at a time)."""
        for index in range(len(self)):
            yield self.image_mask(index, mask_threshold)

    def check_masks_fit(self, image_height: int, image_width: int, what: str = "image") -> None:
        """ValueError unless there are masks, made for an image of ``image_height x
        image_width``."""
        if self.masks is None:
            raise ValueError(f"{what}: the detections have no masks")
        if self.image_size != (image_height, image_width):
            raise ValueError(f"{what}: detection masks are of a {self.image_size[1]}x"
                             f"{self.image_size[0]} image (width x height) but the image is "
                             f"{image_width}x{image_height}")

    @classmethod
    def from_image_masks(cls, boxes: np.ndarray, scores: np.ndarray, classes: np.ndarray,
                         masks: np.ndarray) -> ImageDetections:
        """Detections from image-sized masks ``[K, H, W]`` (probabilities or binary): each is
        cut to its box's pixel crop (anything outside the box is dropped)."""
        masks = np.asarray(masks)
        if masks.ndim != 3:
            raise ValueError(f"detections: image masks must be [K, H, W], got shape {masks.shape}")
        size = (int(masks.shape[1]), int(masks.shape[2]))
        crops = tuple(masks[k, top:bottom, left:right].astype(np.float32)
                      for k, (left, top, right, bottom)
                      in enumerate(box_ops.to_pixel_crops(np.asarray(boxes, np.float32).reshape(-1, 4), *size)))
        return cls(boxes, scores, classes, crops, size)

    @classmethod
    def from_model_output(cls, output_dict: Mapping[str, Any], image_index: int,
                          image_height: int, image_width: int,
                          score_threshold: float | None = None, *,
                          offset: tuple[int, int] = (0, 0),
                          map_size: tuple[int, int] | None = None) -> ImageDetections:
        """The detections of image ``image_index`` of a batched model output.

        Args:
          output_dict: numpy arrays under the OD API output names (``DetectionResultFields``):
            ``detection_boxes [B, K, 4]`` normalized to the image, ``detection_scores [B, K]``,
            ``detection_classes [B, K]`` (1-based), optionally ``num_detections [B]`` (rows
            past it are dropped) and ``detection_masks [B, K, h, w]`` box-relative
            probabilities.
          image_index: which image of the batch.
          image_height, image_width: the size of that image (as fed to the model, before any
            resizing the model does itself).
          score_threshold: keep only detections scoring above it (as ``filter``), before any
            mask is pasted.
          offset: ``(top, left)`` of that image on a larger map it is a tile of.
          map_size: ``(height, width)`` of that map (default: the image itself); boxes and
            masks of the result are the map's.
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
        map_height, map_width = map_size if map_size is not None else (image_height, image_width)
        map_boxes = _to_map(boxes, image_height, image_width, offset, map_height, map_width)
        masks = None
        if Fields.detection_masks in output_dict:
            box_masks_ = np.asarray(output_dict[Fields.detection_masks], np.float32)
            if box_masks_.ndim != 4:
                raise ValueError(f"model output: '{Fields.detection_masks}' must be [B, K, h, w], "
                                 f"got shape {box_masks_.shape}")
            windows = box_ops.to_pixel_crops(map_boxes, map_height, map_width)
            masks = tuple(
                box_masks.paste_box_mask(mask, box, image_height, image_width, window, *offset)
                for mask, box, window in zip(box_masks_[image_index, :count][keep], boxes, windows))
        return cls(map_boxes, scores, classes, masks, (map_height, map_width))


def _to_map(boxes: np.ndarray, height: int, width: int, offset: tuple[int, int],
            map_height: int, map_width: int) -> np.ndarray:
    """float32 [K, 4]: boxes normalized to a ``height x width`` image at ``offset`` (top, left)
    of a ``map_height x map_width`` map, normalized to the map."""
    if offset == (0, 0) and (map_height, map_width) == (height, width):
        return boxes.astype(np.float32)
    top, left = offset
    scale = np.array([height, width, height, width], np.float64)
    shift = np.array([top, left, top, left], np.float64)
    size = np.array([map_height, map_width, map_height, map_width], np.float64)
    return ((boxes.astype(np.float64) * scale + shift) / size).astype(np.float32).reshape(-1, 4)


def check_image(image: np.ndarray, what: str = "image") -> np.ndarray:
    """The image as a uint8 [H, W, 3] array; ValueError for any other shape or dtype."""
    image = np.asarray(image)
    if image.dtype != np.uint8 or image.ndim != 3 or image.shape[2] != 3:
        raise ValueError(f"{what}: expected a uint8 [H, W, 3] RGB array, got {image.dtype} {image.shape}")
    return image
