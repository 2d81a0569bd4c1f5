"""Placing sprites on a background, later ones on top, into a ``FigureMap``; generation counts.

Occlusion is resolved by painting: a sprite overwrites colours, instance ids and body parts
under its mask, so the masks keep only visible pixels. A placement is refused when it would
leave a figure placed earlier with less than ``1 - max_occlusion`` of its in-map pixels
visible; with ``max_occlusion = 1`` anything goes and figures hidden completely are removed
when the map is finished (ids are renumbered 1..N in drawing order, keypoints follow).
"""

from __future__ import annotations

import collections
import dataclasses

import numpy as np

from object_detection.dataset_tools.figure_folder import BACKGROUND_BODY_PART, FigureMap
from object_detection.dataset_tools.synthetic.sprite import Sprite

MAX_FIGURES = 255  # instance ids are stored in a uint8 channel


@dataclasses.dataclass(frozen=True)
class PlacedFigure:
    """Where one sprite went.

    box: (top, left, bottom, right) of the whole sprite in map pixels (may extend past the
    map); size: the sprite's longer side; pixels: its mask pixels inside the map; visible:
    those still visible when the map was finished.
    """

    box: tuple[int, int, int, int]
    size: int
    pixels: int
    visible: int


@dataclasses.dataclass
class SyntheticStats:
    """What a generation or paste run wrote, and what it left out (with reasons)."""

    output_dir: str
    maps: int = 0
    figures: int = 0
    keypoints: int = 0
    figures_not_placed: int = 0  # no position within the occlusion limit was found
    figures_hidden: int = 0  # completely covered by later figures, removed
    skipped: collections.Counter = dataclasses.field(default_factory=collections.Counter)

    def add_map(self, figure_map: FigureMap, canvas: "MapCanvas") -> None:
        self.maps += 1
        self.figures += len(figure_map.keypoints)
        self.keypoints += sum(len(k) for k in figure_map.keypoints)
        self.figures_not_placed += canvas.not_placed
        self.figures_hidden += canvas.hidden

    def summary(self) -> str:
        lines = [f"wrote {self.maps} maps with {self.figures} figures and {self.keypoints} "
                 f"keypoints to {self.output_dir}"]
        if self.figures_not_placed or self.figures_hidden:
            lines.append(f"figures left out: {self.figures_not_placed} without a free enough "
                         f"place, {self.figures_hidden} hidden by later figures")
        for reason, count in sorted(self.skipped.items()):
            lines.append(f"skipped ({reason}): {count}")
        return "\n".join(lines)


class MapCanvas:
    """A map being composed: image, instance ids, body parts, keypoints of placed figures."""

    def __init__(self, background: np.ndarray, max_occlusion: float = 0.5) -> None:
        """``background``: uint8 [H, W, 3] (copied). ``max_occlusion`` in [0, 1]."""
        if background.ndim != 3 or background.shape[2] != 3 or background.dtype != np.uint8:
            raise ValueError(f"background must be uint8 [H, W, 3], got {background.dtype} "
                             f"{background.shape}")
        if not 0.0 <= max_occlusion <= 1.0:
            raise ValueError(f"max_occlusion must be in [0, 1], got {max_occlusion}")
        self.image = background.copy()
        self.height, self.width = background.shape[:2]
        self.instances = np.zeros((self.height, self.width), np.uint8)
        self.body_parts = np.full((self.height, self.width), BACKGROUND_BODY_PART, np.uint8)
        self.max_occlusion = max_occlusion
        self.keypoints: list[dict[str, tuple[float, float]]] = []
        self.boxes: list[tuple[int, int, int, int]] = []
        self.sizes: list[int] = []
        self.pixels: list[int] = []
        self.visible = np.zeros(0, np.int64)
        self.not_placed = 0
        self.hidden = 0

    @property
    def num_placed(self) -> int:
        return len(self.keypoints)

    def _window(self, sprite: Sprite, top: int, left: int
                ) -> tuple[tuple[slice, slice], np.ndarray] | None:
        """(map slices, sprite mask inside the map) or None when no figure pixel is inside."""
        h, w = sprite.mask.shape
        y0, x0 = max(top, 0), max(left, 0)
        y1, x1 = min(top + h, self.height), min(left + w, self.width)
        if y0 >= y1 or x0 >= x1:
            return None
        mask = sprite.mask[y0 - top:y1 - top, x0 - left:x1 - left]
        if not mask.any():
            return None
        return (slice(y0, y1), slice(x0, x1)), mask

    def fits(self, sprite: Sprite, top: int, left: int) -> bool:
        """Whether ``sprite`` at (top, left) has pixels in the map and respects the occlusion
        limit for every figure placed before."""
        if self.num_placed >= MAX_FIGURES:
            return False
        window = self._window(sprite, top, left)
        if window is None:
            return False
        if self.max_occlusion >= 1.0 or self.num_placed == 0:
            return True
        region, mask = window
        covered = np.bincount(self.instances[region][mask], minlength=self.num_placed + 1)[1:]
        remaining = self.visible - covered
        return bool(np.all(remaining >= (1.0 - self.max_occlusion) * np.asarray(self.pixels)))

    def place(self, sprite: Sprite, top: int, left: int) -> None:
        """Paints ``sprite`` with its top-left corner at map pixel (top, left) (no checks
        beyond having pixels in the map; see ``fits``)."""
        if self.num_placed >= MAX_FIGURES:
            raise ValueError(f"a map holds at most {MAX_FIGURES} figures (uint8 instance ids)")
        window = self._window(sprite, top, left)
        if window is None:
            raise ValueError("sprite has no pixels inside the map at this position")
        region, mask = window
        ids = self.instances[region]
        self.visible -= np.bincount(ids[mask], minlength=self.num_placed + 1)[1:]
        ids[mask] = self.num_placed + 1
        h, w = sprite.mask.shape
        sy = slice(region[0].start - top, region[0].stop - top)
        sx = slice(region[1].start - left, region[1].stop - left)
        self.image[region][mask] = sprite.rgb[sy, sx][mask]
        self.body_parts[region][mask] = sprite.labels[sy, sx][mask]
        self.keypoints.append({k: (x + left, y + top) for k, (x, y) in sprite.keypoints.items()})
        self.boxes.append((top, left, top + h, left + w))
        self.sizes.append(sprite.size)
        count = int(mask.sum())
        self.pixels.append(count)
        self.visible = np.append(self.visible, count)

    def finish(self) -> tuple[FigureMap, list[PlacedFigure]]:
        """The map with hidden figures removed, ids renumbered 1..N, keypoints outside the
        map dropped and the others rounded to 0.01 px within their pixel; and where each kept
        figure went (entry i for instance i + 1)."""
        keep = np.flatnonzero(self.visible > 0)
        self.hidden = int(self.num_placed - keep.size)
        relabel = np.zeros(256, np.uint8)
        relabel[keep + 1] = np.arange(1, keep.size + 1)
        instances = relabel[self.instances] if self.hidden else self.instances.copy()
        keypoints = []
        placed = []
        for i in keep.tolist():
            keypoints.append({k: (_round_in_pixel(x), _round_in_pixel(y))
                              for k, (x, y) in self.keypoints[i].items()
                              if 0.0 <= x < self.width and 0.0 <= y < self.height})
            placed.append(PlacedFigure(self.boxes[i], self.sizes[i], self.pixels[i],
                                       int(self.visible[i])))
        figure_map = FigureMap(self.image.copy(), instances, self.body_parts.copy(), keypoints)
        return figure_map, placed


def _round_in_pixel(value: float) -> float:
    """``value`` rounded to 0.01 px without leaving its pixel [floor, floor + 1), so that the
    two decimals written by ``figure_folder.write_map`` keep the keypoint's pixel."""
    return min(round(float(value), 2), float(np.floor(value)) + 0.99)


def random_position(rng: np.random.Generator, canvas: MapCanvas, sprite: Sprite,
                    edge_probability: float, group_probability: float) -> tuple[int, int]:
    """(top, left) for ``sprite``: inside the map, or (with ``edge_probability``) up to half
    outside it, or (with ``group_probability``) near a figure placed before."""
    h, w = sprite.mask.shape
    if canvas.num_placed and rng.random() < group_probability:
        top0, left0, bottom0, right0 = canvas.boxes[int(rng.integers(canvas.num_placed))]
        cy = (top0 + bottom0) / 2 + rng.normal(0.0, 0.5) * (bottom0 - top0)
        cx = (left0 + right0) / 2 + rng.normal(0.0, 0.7) * (right0 - left0)
        top, left = int(round(cy - h / 2)), int(round(cx - w / 2))
        return (int(np.clip(top, 0, max(canvas.height - h, 0))),
                int(np.clip(left, 0, max(canvas.width - w, 0))))
    if rng.random() < edge_probability:
        return (int(rng.integers(-(h // 2), canvas.height - h // 2 + 1)),
                int(rng.integers(-(w // 2), canvas.width - w // 2 + 1)))
    return (int(rng.integers(0, max(canvas.height - h, 0) + 1)),
            int(rng.integers(0, max(canvas.width - w, 0) + 1)))


def place_with_retries(rng: np.random.Generator, canvas: MapCanvas, sprite: Sprite,
                       tries: int = 10, edge_probability: float = 0.1,
                       group_probability: float = 0.3) -> bool:
    """Places ``sprite`` at the first of ``tries`` random positions that ``fits``; counts a
    failure in ``canvas.not_placed``. Returns whether it was placed."""
    for _ in range(tries):
        top, left = random_position(rng, canvas, sprite, edge_probability, group_probability)
        if canvas.fits(sprite, top, left):
            canvas.place(sprite, top, left)
            return True
    canvas.not_placed += 1
    return False


IMAGE_FORMATS = ("png", "jpg", "jpeg")


def check_figure_counts(min_figures: int, max_figures: int) -> None:
    """Raises ValueError unless 0 <= min_figures <= max_figures <= MAX_FIGURES."""
    if not 0 <= min_figures <= max_figures <= MAX_FIGURES:
        raise ValueError(f"need 0 <= min_figures <= max_figures <= {MAX_FIGURES}, got "
                         f"{min_figures} and {max_figures}")


def map_rng(seed: int, index: int) -> np.random.Generator:
    """The random generator of map ``index`` of ``seed``: ``default_rng([seed, index])``."""
    if seed < 0 or index < 0:
        raise ValueError(f"seed and map index must be >= 0, got seed {seed}, index {index}")
    return np.random.default_rng([seed, index])


def map_name(index: int) -> str:
    """The file stem of map ``index`` in a generated or pasted folder."""
    return f"map_{index:05d}"

DEFAULT_MAX_SIZE_FRACTION = 0.4
DEFAULT_MIN_SIZE = 16


def figure_size_range(height: int, width: int, min_size: float | None = None,
                      max_size: float | None = None) -> tuple[float, float]:
    """(min, max) figure size in pixels: defaults 16 px and 40% of the map's shorter side."""
    low = DEFAULT_MIN_SIZE if min_size is None else float(min_size)
    high = DEFAULT_MAX_SIZE_FRACTION * min(height, width) if max_size is None else float(max_size)
    if not 4 <= low <= high <= min(height, width):
        raise ValueError(f"figure sizes must satisfy 4 <= min_size <= max_size <= the map's "
                         f"shorter side ({min(height, width)} px), got {low} and {high}")
    return low, high


def check_output_options(num_maps: int, height: int, width: int, image_format: str) -> None:
    """Raises ValueError naming the bad option of a folder-writing run."""
    if num_maps < 0:
        raise ValueError(f"num_maps must be >= 0, got {num_maps}")
    if height < 16 or width < 16:
        raise ValueError(f"maps must be at least 16x16 pixels, got {height}x{width}")
    if image_format not in IMAGE_FORMATS:
        raise ValueError(f"image_format must be one of {IMAGE_FORMATS}, got {image_format!r}")
