"""NumPy reference of TF1's ``tf.image.resize_images`` kernels (the OD API's resize), written
from their definitions, for checking the resizer against something other than TensorFlow.

Legacy sampling (no half-pixel centres): output pixel ``d`` of a side ``in -> out`` looks at
source coordinate ``s = d * scale`` with ``scale = in / out``, or ``(in - 1) / (out - 1)`` when
corners are aligned. Coordinates are computed in float32, as TF does.
"""

from __future__ import annotations

import numpy as np


def _scale(size_in: int, size_out: int, align_corners: bool) -> np.float32:
    if align_corners and size_out > 1:
        return np.float32(size_in - 1) / np.float32(size_out - 1)
    return np.float32(size_in) / np.float32(size_out)


def _source(size_in: int, size_out: int, align_corners: bool) -> np.ndarray:
    """float32 [out]: source coordinate of each output pixel."""
    return np.arange(size_out, dtype=np.float32) * _scale(size_in, size_out, align_corners)


def nearest(array: np.ndarray, height: int, width: int, align_corners: bool = False) -> np.ndarray:
    """[H, W, ...] -> [height, width, ...]: index ``min(floor(s), in - 1)`` (s rounded, halves
    up, when corners are aligned); keeps the dtype."""
    pick = (lambda s: np.floor(s + np.float32(0.5))) if align_corners else np.floor
    rows = np.minimum(pick(_source(array.shape[0], height, align_corners)), array.shape[0] - 1)
    cols = np.minimum(pick(_source(array.shape[1], width, align_corners)), array.shape[1] - 1)
    return array[rows.astype(int)][:, cols.astype(int)]


def _lerp_axis(array: np.ndarray, size_out: int, axis: int, align_corners: bool) -> np.ndarray:
    size_in = array.shape[axis]
    s = _source(size_in, size_out, align_corners).astype(np.float64)
    low = np.floor(s).astype(int)
    high = np.minimum(low + 1, size_in - 1)
    frac = s - low
    shape = [1] * array.ndim
    shape[axis] = size_out
    frac = frac.reshape(shape)
    return (np.take(array, low, axis=axis) * (1 - frac)
            + np.take(array, high, axis=axis) * frac)


def bilinear(image: np.ndarray, height: int, width: int, align_corners: bool = False) -> np.ndarray:
    """[H, W, C] -> float64 [height, width, C]: linear between floor(s) and min(floor(s) + 1,
    in - 1), rows then columns (separable)."""
    rows = _lerp_axis(image.astype(np.float64), height, 0, align_corners)
    return _lerp_axis(rows, width, 1, align_corners)


def _cubic_weights(t: np.ndarray, a: float = -0.75) -> np.ndarray:
    """[..., 4] cubic convolution weights of the taps at distance 1 + t, t, 1 - t, 2 - t."""
    def near(x):   # |x| <= 1
        return ((a + 2) * x - (a + 3)) * x * x + 1

    def far(x):    # 1 < |x| < 2
        return ((a * x - 5 * a) * x + 8 * a) * x - 4 * a

    return np.stack([far(1 + t), near(t), near(1 - t), far(2 - t)], -1)


def _cubic_axis(array: np.ndarray, size_out: int, axis: int) -> np.ndarray:
    size_in = array.shape[axis]
    s = _source(size_in, size_out, False)
    base = np.floor(s).astype(int)
    # TF tabulates the kernel at 1/1024 steps of the fractional position
    t = np.rint((s - base).astype(np.float32) * 1024) / 1024.0
    weights = _cubic_weights(t)                                       # [out, 4]
    taps = np.clip(base[:, None] + np.arange(-1, 3)[None, :], 0, size_in - 1)
    moved = np.moveaxis(array, axis, 0)                                # [in, ...]
    gathered = moved[taps]                                             # [out, 4, ...]
    w = weights.reshape(weights.shape + (1,) * (moved.ndim - 1))
    return np.moveaxis((gathered * w).sum(1), 0, axis)


def bicubic(image: np.ndarray, height: int, width: int) -> np.ndarray:
    """[H, W, C] -> float64 [height, width, C]: Keys cubic convolution with a = -0.75 (TF1's
    legacy kernel), the four taps around floor(s) clamped to the image."""
    rows = _cubic_axis(image.astype(np.float64), height, 0)
    return _cubic_axis(rows, width, 1)


def _area_matrix(size_in: int, size_out: int) -> np.ndarray:
    """[out, in]: the length of input pixel i inside [d * scale, (d + 1) * scale)."""
    scale = float(np.float32(size_in) / np.float32(size_out))
    starts = np.arange(size_out) * scale
    ends = starts + scale
    pixels = np.arange(size_in)
    return np.clip(np.minimum(ends[:, None], pixels + 1) - np.maximum(starts[:, None], pixels),
                   0, None)


def area(image: np.ndarray, height: int, width: int) -> np.ndarray:
    """[H, W, C] -> float64 [height, width, C]: each output pixel the mean of the input over its
    footprint (the overlap-weighted average)."""
    rows = _area_matrix(image.shape[0], height)
    cols = _area_matrix(image.shape[1], width)
    total = np.einsum("xj,yjc->yxc", cols, np.einsum("yi,ijc->yjc", rows, image.astype(np.float64)))
    return total / (rows.sum(1)[:, None, None] * cols.sum(1)[None, :, None])
