"""Tile geometry (SAHI's slicing) and the options of a tiled run."""

from __future__ import annotations

import numpy as np
import pytest

from object_detection.core.tiling import TileOptions, tile_boxes


@pytest.mark.parametrize("height,width,size,overlap", [
    (300, 500, 128, 0.2), (1000, 700, 256, 0.25), (256, 256, 128, 0.0), (129, 128, 128, 0.5),
    (4096, 4096, 512, 0.2)])
def test_tiles_cover_the_map_with_the_overlap_and_the_last_ones_shifted_inward(
        height, width, size, overlap):
    tiles = tile_boxes(height, width, size, overlap)
    covered = np.zeros((height, width), bool)
    for left, top, right, bottom in tiles:
        assert 0 <= left < right <= width and 0 <= top < bottom <= height
        assert (right - left, bottom - top) == (size, size)   # full tiles, never padded
        covered[top:bottom, left:right] = True
    assert covered.all()
    step = size - int(overlap * size)
    lefts = sorted({int(t[0]) for t in tiles})
    tops = sorted({int(t[1]) for t in tiles})
    for starts, extent in ((lefts, width), (tops, height)):
        assert starts[0] == 0
        assert starts[-1] == extent - size          # the last one ends at the edge
        if len(starts) == 1:
            continue
        assert all(b - a == step for a, b in zip(starts[:-2], starts[1:-1]))
        assert 0 < starts[-1] - starts[-2] <= step  # shifted inward: overlaps at least as much
    assert len(tiles) == len(lefts) * len(tops)


def test_a_map_smaller_than_a_tile_is_one_tile_and_a_thin_map_one_row():
    np.testing.assert_array_equal(tile_boxes(100, 50, 128), [[0, 0, 50, 100]])
    tiles = tile_boxes(60, 300, 128, 0.2)
    assert set(tiles[:, 1]) == {0} and set(tiles[:, 3]) == {60}
    assert tiles[-1, 2] == 300 and np.all(tiles[:, 2] - tiles[:, 0] == 128)


def test_no_overlap_gives_a_plain_grid():
    tiles = tile_boxes(256, 384, 128, 0.0)
    expected = [[x, y, x + 128, y + 128] for y in (0, 128) for x in (0, 128, 256)]
    np.testing.assert_array_equal(tiles, expected)


@pytest.mark.parametrize("size,overlap", [(0, 0.2), (-5, 0.2), (64, 1.0), (64, -0.1), (2.5, 0.2)])
def test_bad_tile_sizes_and_overlaps_are_refused(size, overlap):
    with pytest.raises(ValueError):
        tile_boxes(100, 100, size, overlap)


@pytest.mark.parametrize("kwargs", [dict(tile_size=-1), dict(overlap=1.0), dict(merge="WBF"),
                                    dict(match_metric="GIOU"), dict(match_threshold=1.5),
                                    dict(batch_size=0)])
def test_bad_tile_options_are_refused(kwargs):
    with pytest.raises(ValueError):
        TileOptions(**kwargs)


def test_tiling_is_off_by_default():
    assert not TileOptions().enabled and TileOptions(tile_size=64).enabled
