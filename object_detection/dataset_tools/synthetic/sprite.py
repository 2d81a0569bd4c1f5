"""A cut-out figure: colours, body-part labels and keypoints in the sprite's own pixels.

Sprites are what the generator draws and what paste mode cuts out of figure folders; they
are placed onto maps by ``compose``. Pixel (row i, column j) covers the continuous square
[j, j + 1) x [i, i + 1), so a keypoint (x, y) lies on pixel (floor(y), floor(x)).
"""

from __future__ import annotations

import dataclasses

import numpy as np
from PIL import Image

from object_detection.dataset_tools.figure_folder import (
    BACKGROUND_BODY_PART, BODY_PART_NAMES, KEYPOINT_NAMES)


def _mirror_name(name: str) -> str:
    if name.startswith("right_"):
        return "left_" + name[len("right_"):]
    if name.startswith("left_"):
        return "right_" + name[len("left_"):]
    return name


# Body-part label -> label of the mirrored part (right <-> left); other values kept.
MIRRORED_BODY_PARTS = np.arange(256, dtype=np.uint8)
for _index, _name in enumerate(BODY_PART_NAMES):
    MIRRORED_BODY_PARTS[_index] = BODY_PART_NAMES.index(_mirror_name(_name))
MIRRORED_KEYPOINTS = {name: _mirror_name(name) for name in KEYPOINT_NAMES}


@dataclasses.dataclass
class Sprite:
    """One figure, cropped to its pixels.

    Attributes:
      rgb: uint8 [h, w, 3]; meaningful only where ``mask`` is True.
      labels: uint8 [h, w]; body-part index (BODY_PART_NAMES), BACKGROUND_BODY_PART outside
        the figure (and inside it where a source map has no body-part label).
      keypoints: name -> (x, y) in the sprite's continuous pixel coordinates (may lie outside
        the sprite for joints that were not drawn, e.g. occluded in a source map).
      mask: bool [h, w], the figure's pixels; None means ``labels != BACKGROUND_BODY_PART``.
    """

    rgb: np.ndarray
    labels: np.ndarray
    keypoints: dict[str, tuple[float, float]]
    mask: np.ndarray | None = None

    def __post_init__(self) -> None:
        if self.mask is None:
            self.mask = self.labels != BACKGROUND_BODY_PART
        if not (self.rgb.shape[:2] == self.labels.shape == self.mask.shape):
            raise ValueError(f"sprite arrays disagree in size: rgb {self.rgb.shape}, "
                             f"labels {self.labels.shape}, mask {self.mask.shape}")

    @property
    def size(self) -> int:
        """The longer side of the sprite in pixels (its figure size)."""
        return max(self.labels.shape)


def crop_to_content(sprite: Sprite) -> Sprite:
    """The sprite cropped to the bounding box of its figure pixels (keypoints shifted)."""
    mask = sprite.mask
    rows, cols = np.flatnonzero(mask.any(axis=1)), np.flatnonzero(mask.any(axis=0))
    if rows.size == 0:
        raise ValueError("sprite has no figure pixels")
    top, bottom, left, right = rows[0], rows[-1] + 1, cols[0], cols[-1] + 1
    keypoints = {k: (x - left, y - top) for k, (x, y) in sprite.keypoints.items()}
    return Sprite(sprite.rgb[top:bottom, left:right], sprite.labels[top:bottom, left:right],
                  keypoints, mask[top:bottom, left:right])


def flip_sprite(sprite: Sprite) -> Sprite:
    """The sprite mirrored left-right; right and left body parts and keypoints swap names."""
    width = sprite.labels.shape[1]
    keypoints = {MIRRORED_KEYPOINTS.get(k, k): (width - x, y)
                 for k, (x, y) in sprite.keypoints.items()}
    return Sprite(sprite.rgb[:, ::-1].copy(), MIRRORED_BODY_PARTS[sprite.labels[:, ::-1]],
                  keypoints, sprite.mask[:, ::-1].copy())


def scale_sprite(sprite: Sprite, height: int, width: int) -> Sprite:
    """The sprite resized to [height, width] pixels.

    Labels use nearest neighbour; colours are resized bilinearly with the figure mask as
    alpha (so no background colour bleeds in) and fall back to nearest neighbour where the
    resized alpha is zero. Keypoints scale with the same factors. Both sizes must be >= 1.
    """
    old_h, old_w = sprite.labels.shape
    if (old_h, old_w) == (height, width):
        return sprite
    labels = np.asarray(Image.fromarray(sprite.labels, "L").resize(
        (width, height), Image.Resampling.NEAREST))
    mask = np.asarray(Image.fromarray(sprite.mask.astype(np.uint8), "L").resize(
        (width, height), Image.Resampling.NEAREST)) > 0
    rgba = np.dstack([sprite.rgb, sprite.mask.astype(np.uint8) * 255])
    smooth = np.asarray(Image.fromarray(rgba, "RGBA").resize(
        (width, height), Image.Resampling.BILINEAR))
    nearest = np.asarray(Image.fromarray(sprite.rgb, "RGB").resize(
        (width, height), Image.Resampling.NEAREST))
    rgb = np.where(smooth[..., 3:] > 0, smooth[..., :3], nearest)
    sx, sy = width / old_w, height / old_h
    keypoints = {k: (x * sx, y * sy) for k, (x, y) in sprite.keypoints.items()}
    return Sprite(np.ascontiguousarray(rgb), labels.copy(), keypoints, mask)
