"""Map-like backgrounds: land, water, coasts, contours, hatching, rivers, roads, symbols, labels.

Everything is drawn in image coordinates (x right, y down, pixels); the whole-image steps are
vectorised numpy on uint8 lookups, the line work is Pillow ``ImageDraw``.
"""

from __future__ import annotations

import functools

import numpy as np
from PIL import Image, ImageDraw, ImageFont

from object_detection.dataset_tools.synthetic import noise
from object_detection.dataset_tools.synthetic.palettes import Color, Palette, darker

_SYLLABLES = ("ba", "ri", "no", "ta", "ven", "mor", "el", "sa", "lin", "dor", "ka", "ber", "gu",
              "sto", "wa", "ham", "lo", "ne", "fa", "ro", "zel", "mi", "an", "tor", "vik", "sel")
_SUFFIXES = ("", "", "", "burg", "ton", "ville", "berg", "stad", "port", "field", " Bay", " Lake")


@functools.lru_cache(maxsize=64)
def font(size: int) -> ImageFont.ImageFont | ImageFont.FreeTypeFont:
    """Pillow's default font at ``size`` pixels (cached: loading costs more than drawing)."""
    return ImageFont.load_default(size=size)


@functools.lru_cache(maxsize=8)
def _pixel_grid(height: int, width: int) -> tuple[np.ndarray, np.ndarray]:
    """Row and column indices, int32 [height, width] each (cached per size, read-only)."""
    yy, xx = np.indices((height, width), dtype=np.int32)
    yy.flags.writeable = False
    xx.flags.writeable = False
    return yy, xx


def place_name(rng: np.random.Generator) -> str:
    """A made-up place name from random syllables."""
    count = int(rng.integers(1, 4))
    word = "".join(_SYLLABLES[int(i)] for i in rng.integers(len(_SYLLABLES), size=count))
    word = word.capitalize() + _SUFFIXES[int(rng.integers(len(_SUFFIXES)))]
    return word.upper() if rng.random() < 0.25 else word


def _lerp_colors(a: Color, b: Color, t: np.ndarray) -> np.ndarray:
    """Colours from ``a`` (t=0) to ``b`` (t=1): float32 [len(t), 3]."""
    a_, b_ = np.asarray(a, np.float32), np.asarray(b, np.float32)
    return a_ + t[:, None].astype(np.float32) * (b_ - a_)


def _color_table(rng: np.random.Generator, palette: Palette, level: int) -> np.ndarray:
    """uint8 [256, 3]: the colour of each quantized elevation; water below ``level``."""
    table = np.zeros((256, 3), np.float32)
    levels = np.arange(256, dtype=np.float32)
    land_t = np.clip((levels - level) / max(255.0 - level, 1.0), 0.0, 1.0)
    if rng.random() < 0.4:  # hypsometric tint: elevation in steps
        steps = int(rng.integers(3, 7))
        land_t = np.floor(land_t * steps) / (steps - 1)
    table[:] = _lerp_colors(palette.land_low, palette.land_high, np.clip(land_t, 0.0, 1.0))
    if level > 0:
        water_t = np.clip((level - levels[:level]) / max(level * 0.6, 1.0), 0.0, 1.0)
        table[:level] = _lerp_colors(palette.water_shallow, palette.water_deep, water_t)
    return table.astype(np.uint8)


def _edges(mask: np.ndarray) -> np.ndarray:
    """True on pixels of ``mask`` that have a 4-neighbour outside it: bool [H, W]."""
    inner = mask.copy()
    inner[1:] &= mask[:-1]
    inner[:-1] &= mask[1:]
    inner[:, 1:] &= mask[:, :-1]
    inner[:, :-1] &= mask[:, 1:]
    return mask & ~inner


def _dilate(mask: np.ndarray, steps: int) -> np.ndarray:
    """``mask`` grown by ``steps`` pixels (4-neighbourhood): bool [H, W]."""
    grown = mask.copy()
    for _ in range(steps):
        previous = grown.copy()
        grown[1:] |= previous[:-1]
        grown[:-1] |= previous[1:]
        grown[:, 1:] |= previous[:, :-1]
        grown[:, :-1] |= previous[:, 1:]
    return grown


def _band_edges(quantized: np.ndarray) -> np.ndarray:
    """True where a pixel's band differs from its right or lower neighbour: bool [H, W]."""
    edges = np.zeros(quantized.shape, bool)
    edges[:-1] |= quantized[:-1] != quantized[1:]
    edges[:, :-1] |= quantized[:, :-1] != quantized[:, 1:]
    return edges


def _blend(image: np.ndarray, mask: np.ndarray, color: Color, alpha: float) -> None:
    """In place: ``image[mask]`` mixed with ``color`` by ``alpha`` (1 paints it)."""
    pixels = image[mask].astype(np.float32)
    image[mask] = (pixels * (1.0 - alpha) + np.asarray(color, np.float32) * alpha).astype(np.uint8)


def _pattern(rng: np.random.Generator, height: int, width: int) -> np.ndarray:
    """A random hatching or dot pattern over the whole image: bool [H, W]."""
    yy, xx = _pixel_grid(height, width)
    period = int(rng.integers(4, 10))
    kind = int(rng.integers(5))
    if kind == 0:
        return (xx + yy) % period == 0
    if kind == 1:
        return (xx - yy) % period == 0
    if kind == 2:
        return yy % period == 0
    if kind == 3:
        return ((xx + yy) % period == 0) | ((xx - yy) % period == 0)
    return (yy % period == 0) & ((xx + (yy // period) * (period // 2)) % period == 0)


def _terrain(rng: np.random.Generator, palette: Palette, height: int, width: int
             ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Land/water colours with coast, contours and hatching.

    Returns (image uint8 [H, W, 3], elevation uint8 [H, W], land bool [H, W]).
    """
    elevation = noise.fractal_noise(rng, height, width, cells=float(rng.uniform(2.0, 6.0)),
                                    octaves=4)
    quantized = (elevation * 255.0).astype(np.uint8)
    if rng.random() < 0.2:
        level = 0  # all land, like a city map
    else:
        fraction = float(rng.uniform(0.15, 0.6))
        level = int(np.quantile(quantized[::8, ::8], fraction))
    image = _color_table(rng, palette, level)[quantized]
    land = quantized >= level
    if 0 < level and land.any() and not land.all():
        if rng.random() < 0.5:  # ripple lines along the coast in the water, as on old maps
            step = int(rng.integers(3, 7))
            bands = np.minimum((level - quantized.astype(np.int16)) // step, 4)
            ripples = _band_edges(bands) & ~land
            _blend(image, ripples, palette.coast, float(rng.uniform(0.3, 0.7)))
        coast = _edges(land)
        coast = _dilate(coast, int(rng.integers(0, 2))) if rng.random() < 0.5 else coast
        image[coast] = palette.coast
    if rng.random() < 0.3:  # contour lines on land
        step = int(rng.integers(10, 25))
        contours = _band_edges(quantized // step) & land
        _blend(image, contours, darker(palette.land_high, 0.4), 0.5)
    for _ in range(int(rng.integers(0, 3))):  # hatched or dotted areas
        if level > 0 and rng.random() < 0.4:
            region = ~land
        else:
            region = noise.value_noise(rng, height, width, float(rng.uniform(2, 5))) > 0.6
            region &= land
        _blend(image, region & _pattern(rng, height, width), palette.ink,
               float(rng.uniform(0.3, 0.8)))
    return image, quantized, land


def _random_points_where(rng: np.random.Generator, mask: np.ndarray, count: int
                         ) -> np.ndarray:
    """Up to ``count`` random (x, y) int pixels with ``mask`` True: int [n, 2]."""
    height, width = mask.shape
    candidates = rng.integers(0, (width, height), size=(count * 4, 2))
    keep = mask[candidates[:, 1], candidates[:, 0]]
    return candidates[keep][:count]


def _random_walk(rng: np.random.Generator, start: np.ndarray, steps: int, step: float,
                 turn: float) -> list[tuple[float, float]]:
    """A smooth random walk from ``start`` (x, y): a list of ``steps + 1`` points."""
    heading = float(rng.uniform(0, 2 * np.pi))
    turns = np.cumsum(rng.normal(0.0, turn, steps)) * 0.5 + heading
    xs = start[0] + np.concatenate([[0.0], np.cumsum(np.cos(turns) * step)])
    ys = start[1] + np.concatenate([[0.0], np.cumsum(np.sin(turns) * step)])
    return list(zip(xs.tolist(), ys.tolist()))


def _dashed(draw: ImageDraw.ImageDraw, points: list[tuple[float, float]], color: Color,
            width: int, dash: float, gap: float) -> None:
    """Draws the polyline ``points`` as dashes of length ``dash`` separated by ``gap``."""
    pts = np.asarray(points, np.float64)
    seg = np.diff(pts, axis=0)
    lengths = np.hypot(seg[:, 0], seg[:, 1])
    cumulative = np.concatenate([[0.0], np.cumsum(lengths)])
    starts = np.arange(0.0, cumulative[-1], dash + gap)
    for s in starts:
        ts = np.array([s, min(s + dash, cumulative[-1])])
        xs = np.interp(ts, cumulative, pts[:, 0])
        ys = np.interp(ts, cumulative, pts[:, 1])
        draw.line([(xs[0], ys[0]), (xs[1], ys[1])], fill=color, width=width)


def _road_path(rng: np.random.Generator, height: int, width: int) -> list[tuple[float, float]]:
    """A road: a wobbly polyline between two random points at or near the map's edges."""
    count = int(rng.integers(3, 7))
    a = rng.uniform((0, 0), (width, height))
    b = rng.uniform((0, 0), (width, height))
    t = np.linspace(0.0, 1.0, count)[:, None]
    points = a + t * (b - a)
    points[1:-1] += rng.normal(0.0, 0.08 * max(height, width), (count - 2, 2))
    return [tuple(p) for p in points.tolist()]


def _draw_lines(rng: np.random.Generator, draw: ImageDraw.ImageDraw, palette: Palette,
                land: np.ndarray) -> None:
    """Rivers (random walks from land) and roads (solid with casing, or dashed paths)."""
    height, width = land.shape
    scale = max(height, width) / 512.0
    for start in _random_points_where(rng, land, int(rng.integers(0, 4))):
        points = _random_walk(rng, start, int(rng.integers(15, 60)),
                              float(rng.uniform(4, 10)) * scale, 0.5)
        draw.line(points, fill=palette.river, width=max(1, int(rng.integers(1, 5) * scale)),
                  joint="curve")
    for _ in range(int(rng.integers(0, 5))):
        points = _road_path(rng, height, width)
        road_width = max(1, int(rng.integers(1, 6) * scale))
        if rng.random() < 0.35:
            _dashed(draw, points, palette.ink, max(1, road_width // 2),
                    float(rng.uniform(4, 10)) * scale, float(rng.uniform(3, 6)) * scale)
        else:
            draw.line(points, fill=darker(palette.road, 0.5), width=road_width + 2, joint="curve")
            draw.line(points, fill=palette.road, width=road_width, joint="curve")


def _draw_symbols(rng: np.random.Generator, draw: ImageDraw.ImageDraw, palette: Palette,
                  elevation: np.ndarray, land: np.ndarray) -> None:
    """Trees, mountains and houses on land (small icons, like on pictorial maps)."""
    height, width = land.shape
    scale = max(height, width) / 512.0
    for x, y in _random_points_where(rng, land, int(rng.integers(0, 40))).tolist():
        r = float(rng.uniform(2, 6)) * scale
        draw.line([(x, y), (x, y + 2 * r)], fill=darker(palette.forest, 0.6), width=1)
        draw.ellipse([x - r, y - r, x + r, y + r], fill=palette.forest,
                     outline=darker(palette.forest, 0.5))
    high = land & (elevation > np.quantile(elevation[::8, ::8], 0.85))
    for x, y in _random_points_where(rng, high, int(rng.integers(0, 12))).tolist():
        r = float(rng.uniform(5, 14)) * scale
        peak = (x, y - r)
        draw.polygon([(x - r, y + r * 0.3), peak, (x + r, y + r * 0.3)],
                     fill=darker(palette.land_high, 0.15), outline=palette.ink)
        draw.polygon([(x, y + r * 0.3), peak, (x + r, y + r * 0.3)],
                     fill=darker(palette.land_high, 0.35))
    for x, y in _random_points_where(rng, land, int(rng.integers(0, 20))).tolist():
        r = float(rng.uniform(3, 9)) * scale
        draw.rectangle([x - r, y - r * 0.6, x + r, y + r * 0.6], fill=palette.building,
                       outline=palette.ink)
        draw.polygon([(x - r * 1.2, y - r * 0.6), (x, y - r * 1.5), (x + r * 1.2, y - r * 0.6)],
                     fill=palette.roof, outline=palette.ink)


def _draw_labels(rng: np.random.Generator, draw: ImageDraw.ImageDraw, palette: Palette,
                 height: int, width: int) -> None:
    """Place names in Pillow's default font, some with a light halo."""
    largest = max(10, min(height, width) // 14)
    for _ in range(int(rng.integers(1, 7))):
        size = int(rng.integers(8, largest + 1))
        x = float(rng.uniform(0, width * 0.8))
        y = float(rng.uniform(0, height - size))
        halo = {"stroke_width": 1, "stroke_fill": palette.land_low} if rng.random() < 0.4 else {}
        draw.text((x, y), place_name(rng), font=font(size), fill=palette.ink, **halo)


def _draw_decorations(rng: np.random.Generator, draw: ImageDraw.ImageDraw, palette: Palette,
                      height: int, width: int) -> None:
    """A graticule, a compass star and a frame, each only sometimes."""
    if rng.random() < 0.3:
        spacing = int(rng.integers(max(8, height // 6), max(9, height // 2)))
        for v in range(spacing, max(height, width), spacing):
            draw.line([(0, v), (width, v)], fill=darker(palette.land_low, 0.3), width=1)
            draw.line([(v, 0), (v, height)], fill=darker(palette.land_low, 0.3), width=1)
    if rng.random() < 0.2:
        r = float(rng.uniform(0.04, 0.1)) * min(height, width)
        cx, cy = rng.uniform(r, (width - r, height - r)).tolist()
        angles = np.arange(16) * np.pi / 8
        radii = np.where(np.arange(16) % 2 == 0, r, r * 0.25)
        star = list(zip((cx + radii * np.sin(angles)).tolist(),
                        (cy - radii * np.cos(angles)).tolist()))
        draw.polygon(star, fill=palette.land_low, outline=palette.ink)
    if rng.random() < 0.4:
        inset = int(rng.integers(1, max(2, min(height, width) // 40) + 1))
        draw.rectangle([inset, inset, width - 1 - inset, height - 1 - inset],
                       outline=palette.ink, width=max(1, inset // 2))


def generate_background(rng: np.random.Generator, height: int, width: int, palette: Palette
                        ) -> np.ndarray:
    """A random map background without figures: uint8 [height, width, 3] RGB."""
    image, elevation, land = _terrain(rng, palette, height, width)
    canvas = Image.fromarray(image, "RGB")
    draw = ImageDraw.Draw(canvas)
    _draw_lines(rng, draw, palette, land)
    _draw_symbols(rng, draw, palette, elevation, land)
    _draw_labels(rng, draw, palette, height, width)
    _draw_decorations(rng, draw, palette, height, width)
    return np.asarray(canvas).copy()


def paper_texture(rng: np.random.Generator, image: np.ndarray, amplitude: float) -> np.ndarray:
    """``image`` (uint8 [H, W, 3]) times a smooth grain in [1 - amplitude, 1]; same shape."""
    if amplitude <= 0:
        return image
    height, width = image.shape[:2]
    grain = noise.fractal_noise(rng, height, width, cells=float(rng.uniform(8, 24)), octaves=2)
    factor = (1.0 - amplitude) + amplitude * grain
    return (image * factor[..., None]).astype(np.uint8)
