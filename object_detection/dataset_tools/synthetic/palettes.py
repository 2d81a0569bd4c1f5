"""Colour schemes: of whole maps (old sepia, bright tourist, ...) and of figures' clothing."""

from __future__ import annotations

import colorsys
import dataclasses

import numpy as np

Color = tuple[int, int, int]


@dataclasses.dataclass(frozen=True)
class Palette:
    """The colours of one map; every colour is an RGB uint8 triple.

    ``land_low``/``land_high`` are blended by elevation; ``water_deep``/``water_shallow`` by
    the distance-like noise below the water level; ``ink`` draws text, hatching and symbols.
    ``figure_saturation``/``figure_value`` bound the clothing colours of figures on this map.
    """

    name: str
    land_low: Color
    land_high: Color
    water_shallow: Color
    water_deep: Color
    coast: Color
    ink: Color
    road: Color
    river: Color
    forest: Color
    building: Color
    roof: Color
    figure_saturation: tuple[float, float]
    figure_value: tuple[float, float]
    paper_texture: float  # amplitude of the multiplicative paper grain, 0 for none


_BASE_PALETTES = (
    Palette("old_sepia", (236, 222, 186), (205, 178, 128), (214, 214, 190), (170, 180, 165),
            (92, 64, 40), (70, 48, 30), (190, 120, 80), (120, 140, 150), (140, 150, 100),
            (200, 170, 130), (160, 70, 50), (0.15, 0.55), (0.35, 0.8), 0.12),
    Palette("bright_tourist", (200, 230, 160), (245, 235, 170), (120, 200, 240), (40, 140, 210),
            (20, 80, 150), (40, 40, 60), (250, 200, 60), (60, 150, 230), (60, 170, 80),
            (240, 240, 235), (220, 60, 50), (0.5, 1.0), (0.6, 1.0), 0.0),
    Palette("pastel", (246, 238, 220), (226, 240, 214), (200, 228, 240), (164, 205, 230),
            (120, 150, 180), (90, 90, 110), (255, 255, 255), (150, 195, 230), (180, 220, 170),
            (250, 220, 200), (230, 140, 130), (0.25, 0.7), (0.7, 1.0), 0.03),
    Palette("topographic", (230, 235, 200), (190, 160, 110), (180, 215, 235), (110, 165, 205),
            (60, 110, 160), (60, 50, 40), (230, 80, 60), (70, 130, 200), (120, 170, 100),
            (220, 200, 190), (170, 60, 60), (0.4, 0.9), (0.4, 0.95), 0.04),
    Palette("ink_drawing", (250, 248, 240), (235, 232, 222), (235, 240, 245), (210, 220, 230),
            (30, 30, 30), (20, 20, 20), (250, 250, 250), (90, 90, 100), (200, 205, 195),
            (245, 245, 240), (120, 120, 120), (0.0, 0.6), (0.2, 0.95), 0.06),
)

PALETTE_NAMES = tuple(p.name for p in _BASE_PALETTES)


def _jitter(rng: np.random.Generator, color: Color, amount: int) -> Color:
    values = np.asarray(color) + rng.integers(-amount, amount + 1, 3)
    return tuple(int(v) for v in np.clip(values, 0, 255))


def sample_palette(rng: np.random.Generator, name: str | None = None, jitter: int = 12) -> Palette:
    """A palette (a random one, or the one called ``name``) with every colour jittered."""
    if name is None:
        base = _BASE_PALETTES[int(rng.integers(len(_BASE_PALETTES)))]
    else:
        matches = [p for p in _BASE_PALETTES if p.name == name]
        if not matches:
            raise ValueError(f"unknown palette {name!r}; expected one of {PALETTE_NAMES}")
        base = matches[0]
    changes = {f.name: _jitter(rng, getattr(base, f.name), jitter)
               for f in dataclasses.fields(base)
               if isinstance(getattr(base, f.name), tuple) and len(getattr(base, f.name)) == 3}
    return dataclasses.replace(base, **changes)


def hsv_color(rng: np.random.Generator, saturation: tuple[float, float],
              value: tuple[float, float], hue: float | None = None) -> Color:
    """A random RGB colour with saturation and value drawn uniformly from the given ranges."""
    h = float(rng.random()) if hue is None else hue
    s = float(rng.uniform(*saturation))
    v = float(rng.uniform(*value))
    r, g, b = colorsys.hsv_to_rgb(h, s, v)
    return int(r * 255), int(g * 255), int(b * 255)


_SKIN_TONES = ((255, 224, 196), (241, 194, 155), (224, 172, 125), (198, 134, 90),
               (141, 85, 55), (95, 60, 40), (255, 214, 170))


def skin_color(rng: np.random.Generator) -> Color:
    """A skin tone (or, rarely, a cartoon colour), jittered."""
    if rng.random() < 0.08:
        return hsv_color(rng, (0.3, 0.8), (0.6, 1.0))
    return _jitter(rng, _SKIN_TONES[int(rng.integers(len(_SKIN_TONES)))], 10)


def darker(color: Color, factor: float) -> Color:
    """``color`` scaled towards black by ``factor`` in [0, 1] (0 keeps it, 1 gives black)."""
    return tuple(int(c * (1.0 - factor)) for c in color)
