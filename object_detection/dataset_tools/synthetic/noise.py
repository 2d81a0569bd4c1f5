"""Smooth value noise: random values on a coarse grid, upscaled bicubically by Pillow."""

from __future__ import annotations

import numpy as np
from PIL import Image


def value_noise(rng: np.random.Generator, height: int, width: int, cells: float) -> np.ndarray:
    """One octave of value noise, float32 [height, width], roughly in [0, 1].

    ``cells`` is the number of random values across the longer side; the coarse grid is
    upscaled with bicubic interpolation (Pillow, in C), which is what makes it fast.
    """
    scale = max(height, width) / max(cells, 1.0)
    grid_h = max(2, int(np.ceil(height / scale)) + 1)
    grid_w = max(2, int(np.ceil(width / scale)) + 1)
    grid = rng.random((grid_h, grid_w), dtype=np.float32)
    image = Image.fromarray(grid, "F").resize((width, height), Image.Resampling.BICUBIC)
    return np.asarray(image, dtype=np.float32)


def fractal_noise(rng: np.random.Generator, height: int, width: int, cells: float = 4.0,
                  octaves: int = 3, persistence: float = 0.5) -> np.ndarray:
    """Sum of ``octaves`` value-noise octaves (cells doubling, amplitude times ``persistence``).

    The octaves are summed at a working resolution of about 4 pixels per cell of the finest
    octave (at most the output size) and upscaled once. Returns float32 [height, width]
    rescaled to [0, 1] (min 0, max 1 unless constant).
    """
    finest = cells * 2 ** (octaves - 1)
    shrink = max(1.0, max(height, width) / (4.0 * finest))
    work_h, work_w = max(2, round(height / shrink)), max(2, round(width / shrink))
    total = np.zeros((work_h, work_w), np.float32)
    amplitude = 1.0
    for octave in range(octaves):
        total += amplitude * value_noise(rng, work_h, work_w, cells * 2 ** octave)
        amplitude *= persistence
    low, high = float(total.min()), float(total.max())
    if high - low < 1e-6:
        return np.zeros((height, width), np.float32)
    total -= low
    total *= 1.0 / (high - low)
    if (work_h, work_w) != (height, width):
        total = np.asarray(Image.fromarray(total, "F").resize((width, height),
                                                             Image.Resampling.BICUBIC))
        total = np.clip(total, 0.0, 1.0)
    return total
