"""COCO segmentations <-> binary masks: polygons, compressed and uncompressed RLE.

Masks are uint8 [H, W] in {0, 1}. Polygons are flat [x0, y0, x1, y1, ...] lists in pixels; a
polygon drawn along pixel edges (corners at integer coordinates) rasterizes back to exactly its
pixels with ``pycocotools.mask``, which is how ``mask_to_polygons`` writes them.
"""

from __future__ import annotations

from collections import defaultdict

import numpy as np
from pycocotools import mask as mask_utils


def polygons_to_mask(polygons: list[list[float]], height: int, width: int) -> np.ndarray:
    """Union of polygons (each with at least 3 points) as a [H, W] {0, 1} mask."""
    polygons = [list(map(float, p)) for p in polygons if len(p) >= 6 and len(p) % 2 == 0]
    if not polygons:
        return np.zeros((height, width), np.uint8)
    rle = mask_utils.merge(mask_utils.frPyObjects(polygons, height, width))
    return mask_utils.decode(rle).astype(np.uint8)


def segmentation_to_mask(segmentation: list | dict, height: int, width: int,
                         where: str) -> np.ndarray:
    """A COCO ``segmentation`` (polygon list, or RLE dict with string or list counts) as a mask.

    Raises ValueError naming ``where`` for an RLE of another size or an unknown format.
    """
    if isinstance(segmentation, list):
        if not all(isinstance(p, list) for p in segmentation):
            raise ValueError(f"{where}: polygon segmentation must be a list of [x, y, ...] lists")
        return polygons_to_mask(segmentation, height, width)
    if not (isinstance(segmentation, dict) and "counts" in segmentation and "size" in segmentation):
        raise ValueError(f"{where}: segmentation is neither polygons nor an RLE dict")
    size = [int(v) for v in segmentation["size"]]
    if size != [height, width]:
        raise ValueError(f"{where}: RLE mask is {size[1]}x{size[0]} pixels (width x height) but "
                         f"its image is {width}x{height}")
    counts = segmentation["counts"]
    if isinstance(counts, list):
        rle = mask_utils.frPyObjects(segmentation, height, width)
    elif isinstance(counts, (str, bytes)):
        rle = {"size": size, "counts": counts.encode("ascii") if isinstance(counts, str) else counts}
    else:
        raise ValueError(f"{where}: RLE counts must be a string or a list of ints")
    return mask_utils.decode(rle).astype(np.uint8)


def mask_to_rle(mask: np.ndarray) -> dict:
    """Compressed RLE of a [H, W] mask, JSON-ready: {"size": [H, W], "counts": str}."""
    rle = mask_utils.encode(np.asfortranarray((mask != 0).astype(np.uint8)))
    return {"size": [int(v) for v in rle["size"]], "counts": rle["counts"].decode("ascii")}


def _boundary_edges(mask: np.ndarray) -> list[tuple[tuple[int, int], tuple[int, int]]]:
    """Directed pixel-edge segments around the foreground, foreground on the right (y down)."""
    m = np.pad(mask != 0, 1)
    inner = m[1:-1, 1:-1]
    edges = []
    # (neighbour offset, start corner, end corner) per side of pixel (r, c), corners as (x, y).
    sides = (((-1, 0), (0, 0), (1, 0)),   # top: TL -> TR
             ((0, 1), (1, 0), (1, 1)),    # right: TR -> BR
             ((1, 0), (1, 1), (0, 1)),    # bottom: BR -> BL
             ((0, -1), (0, 1), (0, 0)))   # left: BL -> TL
    for (dr, dc), (sx, sy), (ex, ey) in sides:
        neighbour = m[1 + dr:m.shape[0] - 1 + dr, 1 + dc:m.shape[1] - 1 + dc]
        rows, cols = np.nonzero(inner & ~neighbour)
        edges.extend(((int(c) + sx, int(r) + sy), (int(c) + ex, int(r) + ey))
                     for r, c in zip(rows, cols))
    return edges


def _turn_rank(incoming: tuple[int, int], outgoing: tuple[int, int]) -> int:
    """0 for a right turn (in y-down coordinates), 1 straight, 2 left."""
    cross = incoming[0] * outgoing[1] - incoming[1] * outgoing[0]
    return 0 if cross > 0 else (1 if cross == 0 else 2)


def _trace_loops(edges) -> list[list[tuple[int, int]]]:
    outgoing = defaultdict(list)
    for start, end in edges:
        outgoing[start].append(end)
    loops = []
    for start in sorted(outgoing):
        while outgoing[start]:
            loop = [start]
            current, nxt = start, outgoing[start].pop()
            while nxt != start:
                direction = (nxt[0] - current[0], nxt[1] - current[1])
                current = nxt
                loop.append(current)
                # Where two regions touch at a corner, turn right: 4-connected components.
                options = outgoing[current]
                best = min(range(len(options)), key=lambda i: _turn_rank(
                    direction, (options[i][0] - current[0], options[i][1] - current[1])))
                nxt = options.pop(best)
            loops.append(loop)
    return loops


def _simplify(loop: list[tuple[int, int]]) -> list[tuple[int, int]]:
    """Drops the vertices where the boundary goes straight on."""
    kept = []
    n = len(loop)
    for i, point in enumerate(loop):
        before, after = loop[i - 1], loop[(i + 1) % n]
        turn = ((point[0] - before[0]) * (after[1] - point[1])
                - (point[1] - before[1]) * (after[0] - point[0]))
        if turn != 0:
            kept.append(point)
    return kept


def _signed_area(loop: list[tuple[int, int]]) -> float:
    xs = np.array([p[0] for p in loop], float)
    ys = np.array([p[1] for p in loop], float)
    return 0.5 * float(np.sum(xs * np.roll(ys, -1) - np.roll(xs, -1) * ys))


def mask_to_polygons(mask: np.ndarray) -> list[list[float]]:
    """Outer boundaries of the mask's 4-connected regions as pixel-edge polygons.

    Holes cannot be expressed by COCO polygons (their union is taken) and are left out, so a
    mask with holes rasterizes back slightly larger; use RLE where that matters.
    """
    polygons = []
    for loop in _trace_loops(_boundary_edges(mask)):
        if _signed_area(loop) > 0:  # clockwise on screen: an outer boundary (holes are negative)
            polygons.append([float(v) for point in _simplify(loop) for v in point])
    return polygons
