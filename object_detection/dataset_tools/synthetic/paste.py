"""Paste mode: figures cut out of a figure folder, pasted onto other backgrounds.

Each source figure becomes a ``Sprite`` (its visible pixels, body-part labels and keypoints);
for every output map, figures are drawn at random, scaled, maybe mirrored (right and left
parts and keypoints swap names), and placed with the same occlusion rules as generated maps
onto a background that is one of: an image from ``backgrounds_dir`` (randomly scaled and
cropped; the "mixed" set when those are real maps without labelled figures), a plain colour,
or a generated map background (the "separated" set).
"""

from __future__ import annotations

import functools
import logging
import os

import numpy as np
from PIL import Image, UnidentifiedImageError

from object_detection.dataset_tools import figure_folder
from object_detection.dataset_tools.figure_folder import (
    BACKGROUND_BODY_PART, FigureMap, write_map)
from object_detection.dataset_tools.synthetic import backgrounds, palettes
from object_detection.dataset_tools.synthetic.compose import (
    MapCanvas, SyntheticStats, check_figure_counts, check_output_options, figure_size_range,
    map_name, map_rng, place_with_retries)
from object_detection.dataset_tools.synthetic.sprite import (
    Sprite, crop_to_content, flip_sprite, scale_sprite)

_LOG = logging.getLogger(__name__)


def cut_figures(figure_map: FigureMap) -> dict[int, Sprite]:
    """Instance id -> its figure as a Sprite (visible pixels only, cropped, keypoints
    shifted to the crop); instances without pixels are left out."""
    sprites = {}
    for k in range(1, figure_map.num_figures + 1):
        mask = figure_map.instances == k
        if not mask.any():
            continue
        labels = np.where(mask, figure_map.body_parts, BACKGROUND_BODY_PART).astype(np.uint8)
        keypoints = figure_map.keypoints[k - 1] if k <= len(figure_map.keypoints) else {}
        sprites[k] = crop_to_content(Sprite(figure_map.image, labels, dict(keypoints), mask))
    return sprites


class FigureSource:
    """The figures of a figure folder, indexed once (masks only), loaded on demand."""

    def __init__(self, folder: str, stats: SyntheticStats, cache_size: int = 32) -> None:
        self.folder = folder
        self.stats = stats
        self.entries: list[tuple[str, str, int]] = []  # (stem, image name, instance id)
        for stem, image_name in figure_folder.list_maps(folder):
            mask_file = figure_folder.mask_path(folder, stem)
            try:
                with Image.open(mask_file) as img:
                    ids = np.unique(np.asarray(img.convert("RGB"))[..., 0])
            except (OSError, UnidentifiedImageError) as error:
                _LOG.warning("%s: skipping source map: cannot read its mask (%s)", mask_file,
                             error)
                stats.skipped["source map without a readable mask"] += 1
                continue
            self.entries += [(stem, image_name, int(k)) for k in ids if k > 0]
        if not self.entries:
            raise ValueError(f"{folder}: no figures found in the masks of this figure folder")
        self._load = functools.lru_cache(maxsize=cache_size)(self._cut)

    def _cut(self, stem: str, image_name: str) -> dict[int, Sprite]:
        """The figures of one source map; none (with a warning, counted once) if unreadable."""
        try:
            return cut_figures(figure_folder.read_map(self.folder, stem, image_name))
        except (FileNotFoundError, ValueError) as error:
            _LOG.warning("skipping source map: %s", error)
            self.stats.skipped["unreadable source map"] += 1
            return {}

    def sprite(self, entry: int) -> Sprite | None:
        """The sprite of entry ``entry``, or None when its map cannot be read."""
        stem, image_name, k = self.entries[entry]
        return self._load(stem, image_name).get(k)


class BackgroundSource:
    """Background images from a folder (or a figure folder's ``images/``), read on demand."""

    def __init__(self, folder: str, stats: SyntheticStats) -> None:
        if not os.path.isdir(folder):
            raise FileNotFoundError(f"{folder}: backgrounds folder not found")
        images_dir = os.path.join(folder, figure_folder.IMAGES_DIR)
        self.folder = images_dir if os.path.isdir(images_dir) else folder
        self.paths = sorted(os.path.join(self.folder, n) for n in os.listdir(self.folder)
                            if n.lower().endswith(figure_folder.IMAGE_EXTENSIONS))
        if not self.paths:
            raise ValueError(f"{folder}: no background images found (looked for "
                             f"{', '.join(figure_folder.IMAGE_EXTENSIONS)})")
        self.stats = stats

    def sample(self, rng: np.random.Generator, height: int, width: int) -> np.ndarray:
        """A random image, scaled to cover [height, width] and randomly cropped: uint8 RGB.

        Unreadable images are skipped with a warning (counted) and not drawn again.
        """
        while self.paths:
            path = self.paths[int(rng.integers(len(self.paths)))]
            try:
                with Image.open(path) as img:
                    image = img.convert("RGB")
            except (OSError, UnidentifiedImageError) as error:
                _LOG.warning("%s: skipping background image: cannot read it (%s)", path, error)
                self.stats.skipped["unreadable background image"] += 1
                self.paths.remove(path)
                continue
            return fit_background(rng, image, height, width)
        raise ValueError(f"{self.folder}: none of the background images could be read")


def fit_background(rng: np.random.Generator, image: Image.Image, height: int, width: int
                   ) -> np.ndarray:
    """``image`` scaled by a random factor between covering [height, width] and its own size
    (only enlarged when smaller), then cropped at a random place: uint8 [height, width, 3]."""
    cover = max(height / image.height, width / image.width)
    scale = float(rng.uniform(cover, max(cover, 1.0)))
    size = (max(width, int(np.ceil(image.width * scale))),
            max(height, int(np.ceil(image.height * scale))))
    if size != image.size:
        image = image.resize(size, Image.Resampling.BILINEAR)
    top = int(rng.integers(0, size[1] - height + 1))
    left = int(rng.integers(0, size[0] - width + 1))
    return np.asarray(image)[top:top + height, left:left + width].copy()


def plain_background(rng: np.random.Generator, height: int, width: int) -> np.ndarray:
    """A single random colour (mostly light, like paper): uint8 [height, width, 3]."""
    color = palettes.hsv_color(rng, (0.0, 0.4), (0.6, 1.0))
    return np.broadcast_to(np.asarray(color, np.uint8), (height, width, 3)).copy()


def transform_sprite(rng: np.random.Generator, sprite: Sprite, scale_range: tuple[float, float],
                     min_size: float, max_size: float, flip_probability: float
                     ) -> Sprite | None:
    """``sprite`` scaled by a log-uniform factor in ``scale_range`` (the size then clamped to
    [min_size, max_size]) and mirrored with ``flip_probability``; None if nothing is left."""
    factor = float(np.exp(rng.uniform(np.log(scale_range[0]), np.log(scale_range[1]))))
    size = float(np.clip(sprite.size * factor, np.ceil(min_size), np.floor(max_size)))
    factor = size / sprite.size
    h, w = sprite.mask.shape
    new_h, new_w = max(1, round(h * factor)), max(1, round(w * factor))
    result = scale_sprite(sprite, new_h, new_w)
    if rng.random() < flip_probability:
        result = flip_sprite(result)
    return result if result.mask.any() else None


def paste_figures(source_folder: str, output_dir: str, num_maps: int, seed: int,
                  backgrounds_dir: str | None = None, height: int = 512, width: int = 512,
                  image_format: str = "png", min_figures: int = 1, max_figures: int = 6,
                  min_size: float | None = None, max_size: float | None = None,
                  scale_range: tuple[float, float] = (0.5, 2.0), flip_probability: float = 0.5,
                  plain_probability: float = 0.3, max_occlusion: float = 0.5,
                  edge_probability: float = 0.1, group_probability: float = 0.3
                  ) -> SyntheticStats:
    """Writes ``num_maps`` maps of figures from ``source_folder`` pasted onto backgrounds.

    Map i (stem ``map_{i:05d}``) uses ``np.random.default_rng([seed, i])``. Backgrounds come
    from ``backgrounds_dir`` when given, otherwise they are plain (``plain_probability``) or
    generated. Figures keep their size within ``scale_range`` unless that leaves
    [min_size, max_size] (default 16 px to 40% of the shorter side); keypoints and masks are
    transformed with the image, and keypoints falling outside the map are dropped.
    """
    check_output_options(num_maps, height, width, image_format)
    map_rng(seed, 0)  # checks the seed before reading anything
    check_figure_counts(min_figures, max_figures)
    if not 0 < scale_range[0] <= scale_range[1]:
        raise ValueError(f"scale_range must be 0 < low <= high, got {scale_range}")
    low, high = figure_size_range(height, width, min_size, max_size)
    stats = SyntheticStats(output_dir=os.path.abspath(output_dir))
    source = FigureSource(source_folder, stats)
    scenery = BackgroundSource(backgrounds_dir, stats) if backgrounds_dir else None
    for i in range(num_maps):
        rng = map_rng(seed, i)
        if scenery is not None:
            background = scenery.sample(rng, height, width)
        elif rng.random() < plain_probability:
            background = plain_background(rng, height, width)
        else:
            background = backgrounds.generate_background(rng, height, width,
                                                         palettes.sample_palette(rng))
        canvas = MapCanvas(background, max_occlusion)
        for _ in range(int(rng.integers(min_figures, max_figures + 1))):
            entry = int(rng.integers(len(source.entries)))
            sprite = source.sprite(entry)
            if sprite is None:
                stats.skipped["figure of an unreadable source map"] += 1
                continue
            sprite = transform_sprite(rng, sprite, scale_range, low, high, flip_probability)
            if sprite is None:
                stats.skipped["figure vanished when scaled down"] += 1
                continue
            place_with_retries(rng, canvas, sprite, edge_probability=edge_probability,
                               group_probability=group_probability)
        figure_map, _ = canvas.finish()
        write_map(output_dir, map_name(i), figure_map, image_format)
        stats.add_map(figure_map, canvas)
    _LOG.info("%s", stats.summary())
    return stats
