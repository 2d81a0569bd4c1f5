"""Synthetic pictorial maps with human figures, written as figure folders.

Two modes:

* ``generate_map`` / ``generate_folder``: map-like backgrounds (land and water, coastlines,
  rivers, roads, hatching, symbols, place labels, old-sepia to bright-tourist palettes) with
  figures drawn from body parts in random poses;
* ``paste_figures``: figures cut out of an existing figure folder, scaled, flipped and pasted
  onto generated, plain or given background images (the "separated" and "mixed" sets).

Seeding: map ``i`` of a folder uses ``np.random.default_rng([seed, i])``, so a map depends
only on (seed, i): not on ``num_maps``, and seeds s and s + 1 share no maps (as they would
with ``seed + i``). The same seed gives byte-identical files.

What every generated map guarantees (the tests check each point):

* instance ids are 1..N, each with at least one pixel, and there are N keypoint entries;
* body parts are labelled exactly where instances are (outlines belong to the figure);
* every figure's full drawing (before occlusion and clipping) has its longer side in
  [min_size, max_size] (default 16 px to 40% of the map's shorter side);
* at least ``1 - max_occlusion`` of every figure's in-map pixels stay visible (so with
  ``max_occlusion < 1`` no figure is hidden; with 1, hidden figures are removed);
* all 16 KEYPOINT_NAMES of a figure are given unless they fall outside the map; each lies
  inside the map, on a pixel of its own figure's full drawing: the instance id there is the
  figure's own, or that of a figure drawn later (a higher id) that covers the joint.

Only numpy and Pillow are imported, so this is quick to load.
"""

from __future__ import annotations

import logging
import os

from object_detection.dataset_tools.figure_folder import FigureMap, write_map
from object_detection.dataset_tools.synthetic import backgrounds, figures, palettes
from object_detection.dataset_tools.synthetic.compose import (
    MapCanvas, PlacedFigure, SyntheticStats, check_figure_counts, check_output_options,
    figure_size_range, map_name, map_rng, place_with_retries)
from object_detection.dataset_tools.synthetic.paste import paste_figures

__all__ = ["generate_map", "generate_map_details", "generate_folder", "paste_figures",
           "map_name", "SyntheticStats", "PlacedFigure"]

_LOG = logging.getLogger(__name__)


def generate_map_details(seed: int, height: int = 512, width: int = 512, *, index: int = 0,
                         min_figures: int = 1, max_figures: int = 8,
                         min_size: float | None = None, max_size: float | None = None,
                         max_occlusion: float = 0.5, edge_probability: float = 0.1,
                         group_probability: float = 0.3, palette: str | None = None,
                         ) -> tuple[FigureMap, list[PlacedFigure], MapCanvas]:
    """Like ``generate_map``, also returning where each kept figure went (entry i for
    instance i + 1) and the canvas (with its counts of figures not placed and hidden)."""
    check_figure_counts(min_figures, max_figures)
    low, high = figure_size_range(height, width, min_size, max_size)
    rng = map_rng(seed, index)
    colors = palettes.sample_palette(rng, palette)
    canvas = MapCanvas(backgrounds.generate_background(rng, height, width, colors),
                       max_occlusion)
    for _ in range(int(rng.integers(min_figures, max_figures + 1))):
        sprite = figures.render_figure(rng, colors, low, high)
        place_with_retries(rng, canvas, sprite, edge_probability=edge_probability,
                           group_probability=group_probability)
    figure_map, placed = canvas.finish()
    figure_map.image = backgrounds.paper_texture(rng, figure_map.image, colors.paper_texture)
    return figure_map, placed, canvas


def generate_map(seed: int, height: int = 512, width: int = 512, **options) -> FigureMap:
    """One synthetic pictorial map with human figures, fully determined by its arguments.

    Args:
      seed, index (keyword, default 0): the map is drawn from
        ``np.random.default_rng([seed, index])``.
      height, width: the map size in pixels.
      options: min_figures / max_figures (default 1 / 8), min_size / max_size (figure size
        range in pixels, default 16 and 40% of the shorter side), max_occlusion (0.5),
        edge_probability (0.1: a figure may stick out of the map by up to half its size),
        group_probability (0.3: placed near another figure), palette (a name from
        ``palettes.PALETTE_NAMES``, default random).

    Returns:
      a FigureMap (see the module docstring for what it guarantees).
    """
    return generate_map_details(seed, height, width, **options)[0]


def generate_folder(output_dir: str, num_maps: int, seed: int, height: int = 512,
                    width: int = 512, image_format: str = "png", **options) -> SyntheticStats:
    """Writes ``num_maps`` generated maps to ``output_dir`` in the figure-folder layout.

    Map i is ``generate_map(seed, height, width, index=i, **options)``, stored as
    ``images/map_{i:05d}.png`` (or ``.jpg``), ``masks/...png`` and ``keypoints/...json``.
    """
    check_output_options(num_maps, height, width, image_format)
    stats = SyntheticStats(output_dir=os.path.abspath(output_dir))
    for i in range(num_maps):
        figure_map, _, canvas = generate_map_details(seed, height, width, index=i, **options)
        write_map(output_dir, map_name(i), figure_map, image_format)
        stats.add_map(figure_map, canvas)
    _LOG.info("%s", stats.summary())
    return stats
