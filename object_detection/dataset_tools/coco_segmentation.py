"""COCO segmentations <-> binary masks: polygons, compressed and uncompressed RLE.

Masks are uint8 [H, W] in {0, 1}. Polygons are flat [x0, y0, x1, y1, ...] lists in pixels; a
polygon drawn along pixel edges (corners at integer coordinates) rasterizes back to exactly its
pixels with ``pycocotools.mask``, which is how ``mask_to_polygons`` writes them. RLE is decoded
here (checked: the runs must cover the mask exactly); polygons are checked before pycocotools
rasterizes them.
"""

from __future__ import annotations

from collections import defaultdict

import numpy as np
from pycocotools import mask as mask_utils

from object_detection.core import box_masks
from object_detection.dataset_tools.annotation_values import finite_numbers


DEGENERATE_POLYGON = "polygon with fewer than 3 points"

# Polygon points further than this many image sizes outside the image are refused: the
# rasterizer's integer coordinates overflow (and its memory grows with the distance).
_FAR_OUTSIDE = 16


def _check_polygon(polygon: list, height: int, width: int, where: str) -> list[float]:
    values = finite_numbers(polygon, where, "polygon")
    if len(values) % 2:
        raise ValueError(f"{where}: polygon has an odd number of coordinates ({len(values)}): "
                         "expected [x0, y0, x1, y1, ...]")
    limit = _FAR_OUTSIDE * max(height, width)
    for x, y in zip(values[0::2], values[1::2]):
        if not (-limit <= x <= width + limit and -limit <= y <= height + limit):
            raise ValueError(f"{where}: polygon point ({x:g}, {y:g}) lies far outside the "
                             f"{width}x{height} image")
    return values


def polygons_to_mask(polygons: list[list[float]], height: int, width: int,
                     where: str = "polygon") -> np.ndarray:
    """Union of polygons as a [H, W] {0, 1} mask; polygons of fewer than 3 points (no area)
    are left out.

    Raises ValueError naming ``where`` for a coordinate that is not a finite number, an odd
    number of coordinates, or a point far outside the image.
    """
    checked = [_check_polygon(p, height, width, where) for p in polygons]
    checked = [p for p in checked if len(p) >= 6]
    if not checked:
        return np.zeros((height, width), np.uint8)
    rle = mask_utils.merge(mask_utils.frPyObjects(checked, height, width))
    return mask_utils.decode(rle).astype(np.uint8)


def is_degenerate_polygons(segmentation: object) -> bool:
    """True for a polygon segmentation none of whose polygons has 3 points."""
    return (isinstance(segmentation, list) and bool(segmentation)
            and all(isinstance(p, list) and len(p) < 6 for p in segmentation))


def rle_string_counts(counts: str | bytes, where: str) -> list[int]:
    """The run lengths of a compressed COCO RLE string.

    The format: each run length is written in 5-bit groups, least significant first, one
    character (``'0'`` + value) per group; bit 5 (0x20) says another group follows and bit 4
    (0x10) of the last group is the sign. From the fourth run on, the difference to the run
    two before is written instead of the run itself.
    """
    if isinstance(counts, str):
        try:
            data = counts.encode("ascii")
        except UnicodeEncodeError:
            raise ValueError(f"{where}: RLE counts string is not ASCII") from None
    else:
        data = bytes(counts)
    runs: list[int] = []
    position = 0
    while position < len(data):
        value, shift, more = 0, 0, True
        while more:
            if position >= len(data):
                raise ValueError(f"{where}: RLE counts string ends inside a run length")
            group = data[position] - 48
            if not 0 <= group < 64:
                raise ValueError(f"{where}: RLE counts string has the character "
                                 f"{chr(data[position])!r} at {position} (expected '0'..'o')")
            value |= (group & 0x1F) << shift
            more = bool(group & 0x20)
            position += 1
            shift += 5
            if not more and group & 0x10:
                value -= 1 << shift
        if len(runs) > 2:
            value += runs[-2]
        runs.append(value)
    return runs


def _check_runs(counts: list[int], height: int, width: int, where: str) -> None:
    for run in counts:
        if not (isinstance(run, int) and not isinstance(run, bool)) or run < 0:
            raise ValueError(f"{where}: RLE counts must be non-negative integers, got {run!r}")
    total = sum(counts)
    if total != height * width:
        raise ValueError(f"{where}: RLE counts add up to {total} pixels but the mask is "
                         f"{width}x{height} = {height * width} pixels")


def rle_to_mask(counts: list[int], height: int, width: int, where: str) -> np.ndarray:
    """The [H, W] mask of alternating column-major runs (zeros first).

    Raises ValueError naming ``where`` unless every run is a non-negative integer and the runs
    add up to height x width (pycocotools would leave the rest of the mask uninitialised, or
    write past it).
    """
    _check_runs(counts, height, width, where)
    values = np.arange(len(counts), dtype=np.int64) % 2
    flat = np.repeat(values.astype(np.uint8), counts)
    return np.ascontiguousarray(flat.reshape(width, height).T)


def _rle_size(segmentation: dict, height: int, width: int, where: str) -> None:
    size = segmentation["size"]
    if not (isinstance(size, (list, tuple)) and len(size) == 2
            and all(isinstance(v, int) and not isinstance(v, bool) and v >= 0 for v in size)):
        raise ValueError(f"{where}: RLE size must be [height, width], got {size!r}")
    if list(size) != [height, width]:
        raise ValueError(f"{where}: RLE mask is {size[1]}x{size[0]} pixels (width x height) but "
                         f"its image is {width}x{height}")


def segmentation_to_mask(segmentation: list | dict, height: int, width: int,
                         where: str) -> np.ndarray:
    """A COCO ``segmentation`` (polygon list, or RLE dict with string or list counts) as a mask.

    Raises ValueError naming ``where`` for an unknown format, a polygon that is not a list of
    finite numbers, an RLE of another size, or RLE counts that do not decode to exactly
    height x width pixels.
    """
    if isinstance(segmentation, list):
        if not all(isinstance(p, list) for p in segmentation):
            raise ValueError(f"{where}: polygon segmentation must be a list of [x, y, ...] lists")
        return polygons_to_mask(segmentation, height, width, where)
    if not (isinstance(segmentation, dict) and "counts" in segmentation and "size" in segmentation):
        raise ValueError(f"{where}: segmentation is neither polygons nor an RLE dict")
    _rle_size(segmentation, height, width, where)
    counts = segmentation["counts"]
    if isinstance(counts, list):
        return rle_to_mask(counts, height, width, where)
    if isinstance(counts, (str, bytes)):
        return rle_to_mask(rle_string_counts(counts, where), height, width, where)
    raise ValueError(f"{where}: RLE counts must be a string or a list of ints")


def _json_rle(rle: dict, height: int, width: int) -> dict:
    counts = rle["counts"]
    return {"size": [int(height), int(width)],
            "counts": counts.decode("ascii") if isinstance(counts, bytes) else counts}


def segmentation_to_rle(segmentation: list | dict, height: int, width: int,
                        where: str) -> dict:
    """A COCO ``segmentation`` as a compressed RLE, JSON-ready ({"size": [H, W], "counts":
    str}), checked as ``segmentation_to_mask`` checks it but without making an image-sized
    mask; ``mask_to_rle(segmentation_to_mask(...))`` is the same RLE."""
    if isinstance(segmentation, list):
        if not all(isinstance(p, list) for p in segmentation):
            raise ValueError(f"{where}: polygon segmentation must be a list of [x, y, ...] lists")
        checked = [_check_polygon(p, height, width, where) for p in segmentation]
        checked = [p for p in checked if len(p) >= 6]
        if not checked:
            counts: list[int] = [height * width]
        else:
            return _json_rle(mask_utils.merge(mask_utils.frPyObjects(checked, height, width)),
                             height, width)
    else:
        if not (isinstance(segmentation, dict) and "counts" in segmentation
                and "size" in segmentation):
            raise ValueError(f"{where}: segmentation is neither polygons nor an RLE dict")
        _rle_size(segmentation, height, width, where)
        counts = segmentation["counts"]
        if isinstance(counts, (str, bytes)):
            counts = rle_string_counts(counts, where)
        elif not isinstance(counts, list):
            raise ValueError(f"{where}: RLE counts must be a string or a list of ints")
        _check_runs(counts, height, width, where)
    return _json_rle(mask_utils.frPyObjects({"counts": counts, "size": [height, width]},
                                            height, width), height, width)


def mask_to_rle(mask: np.ndarray) -> dict:
    """Compressed RLE of a [H, W] mask, JSON-ready: {"size": [H, W], "counts": str}."""
    rle = mask_utils.encode(np.asfortranarray((mask != 0).astype(np.uint8)))
    return {"size": [int(v) for v in rle["size"]], "counts": rle["counts"].decode("ascii")}


def crop_to_rle(crop: np.ndarray, left: int, top: int, height: int, width: int) -> dict:
    """Compressed RLE, JSON-ready, of the ``height x width`` image that is 0 everywhere but the
    bool ``crop`` [h, w] at ``(left, top)``, without making the image-sized mask
    (``core.box_masks.crop_rle_counts``); equal to ``mask_to_rle`` of that image."""
    counts = box_masks.crop_rle_counts(crop, left, top, height, width)
    rle = mask_utils.frPyObjects({"counts": counts, "size": [int(height), int(width)]},
                                 int(height), int(width))
    return _json_rle(rle, height, width)


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
