"""Masks <-> COCO polygons and RLE, checked against masks built by hand."""

from __future__ import annotations

import numpy as np
import pytest
from pycocotools import mask as mask_utils

from object_detection.dataset_tools.coco_segmentation import (
    mask_to_polygons, mask_to_rle, polygons_to_mask, segmentation_to_mask)


def _fill_holes(mask: np.ndarray) -> np.ndarray:
    """Mask plus every background pixel not 8-connected to the border (flood fill)."""
    h, w = mask.shape
    outside = np.zeros_like(mask, bool)
    stack = [(r, c) for r in range(h) for c in range(w)
             if (r in (0, h - 1) or c in (0, w - 1)) and not mask[r, c]]
    for point in stack:
        outside[point] = True
    while stack:
        r, c = stack.pop()
        for dr in (-1, 0, 1):
            for dc in (-1, 0, 1):
                rr, cc = r + dr, c + dc
                if 0 <= rr < h and 0 <= cc < w and not mask[rr, cc] and not outside[rr, cc]:
                    outside[rr, cc] = True
                    stack.append((rr, cc))
    return (~outside).astype(np.uint8)


def test_rectangles_become_their_corner_polygons():
    mask = np.zeros((10, 12), np.uint8)
    mask[2:5, 2:5] = 1
    mask[5:8, 5:8] = 1        # touches the first one only at a corner: two regions
    assert sorted(mask_to_polygons(mask)) == [[2, 2, 5, 2, 5, 5, 2, 5], [5, 5, 8, 5, 8, 8, 5, 8]]


def test_polygons_rasterize_back_to_the_mask_with_holes_filled():
    rng = np.random.default_rng(0)
    for _ in range(50):
        mask = (rng.random((12, 15)) < 0.5).astype(np.uint8)
        back = polygons_to_mask(mask_to_polygons(mask), 12, 15)
        np.testing.assert_array_equal(back, _fill_holes(mask))


def test_ring_keeps_only_its_outer_boundary():
    mask = np.zeros((10, 10), np.uint8)
    mask[1:9, 1:9] = 1
    mask[4:6, 4:6] = 0
    assert mask_to_polygons(mask) == [[1, 1, 9, 1, 9, 9, 1, 9]]


def test_rle_round_trip_and_formats():
    mask = np.zeros((6, 7), np.uint8)
    mask[1:3, 2:6] = 1
    rle = mask_to_rle(mask)
    assert isinstance(rle["counts"], str) and rle["size"] == [6, 7]
    np.testing.assert_array_equal(segmentation_to_mask(rle, 6, 7, "x"), mask)
    assert mask_utils.area({"size": [6, 7], "counts": rle["counts"].encode()}) == 8
    # Column-major runs: 13 zeros (columns 0, 1 and row 0 of column 2), then per column 2 ones.
    uncompressed = {"size": [6, 7], "counts": [13, 2, 4, 2, 4, 2, 4, 2, 9]}
    np.testing.assert_array_equal(segmentation_to_mask(uncompressed, 6, 7, "x"), mask)
    polygon = [[2, 1, 6, 1, 6, 3, 2, 3]]
    np.testing.assert_array_equal(segmentation_to_mask(polygon, 6, 7, "x"), mask)


def test_segmentation_to_rle_equals_the_rle_of_the_decoded_mask():
    """Polygons, RLE strings, uncompressed counts, degenerate polygons: one RLE either way."""
    from object_detection.dataset_tools.coco_segmentation import segmentation_to_rle

    mask = np.zeros((6, 7), np.uint8)
    mask[1:3, 2:6] = 1
    for segmentation in (mask_to_rle(mask), {"size": [6, 7], "counts": [13, 2, 4, 2, 4, 2, 4, 2, 9]},
                         [[2, 1, 6, 1, 6, 3, 2, 3]], [[0.5, 0.5, 6.2, 0.7, 3.1, 5.9]],
                         [[1, 1, 2, 2]]):
        expected = mask_to_rle(segmentation_to_mask(segmentation, 6, 7, "x"))
        assert segmentation_to_rle(segmentation, 6, 7, "x") == expected


@pytest.mark.parametrize("segmentation, problem", [
    ({"size": [6, 7], "counts": [13, 2]}, "add up to 15"),
    ({"size": [5, 7], "counts": [35]}, "7x5"),
    ({"size": [6, 7], "counts": [40, -2, 4]}, "non-negative"),
    ([[1, 1, 2]], "odd number"),
    ("nonsense", "neither polygons nor an RLE"),
])
def test_segmentation_to_rle_refuses_what_segmentation_to_mask_refuses(segmentation, problem):
    from object_detection.dataset_tools.coco_segmentation import segmentation_to_rle

    with pytest.raises(ValueError, match=problem):
        segmentation_to_rle(segmentation, 6, 7, "x")
    with pytest.raises(ValueError, match=problem):
        segmentation_to_mask(segmentation, 6, 7, "x")
