"""Matching detections to ground-truth figures by the largest mask overlap."""

from __future__ import annotations

import numpy as np
import pytest

from object_detection.apps.matching import NO_MATCH, match_by_largest_overlap, overlap_counts


def _instances():
    instances = np.zeros((6, 8), np.uint8)
    instances[0:3, 0:4] = 1                             # 12 pixels
    instances[3:6, 4:8] = 2                             # 12 pixels
    return instances


def _crops(masks, boxes):
    """The bool crops of image-sized ``masks`` [K, 6, 8] over their pixel ``boxes``
    (left, top, right, bottom), checked to hold every pixel of their mask."""
    boxes = np.array(boxes, np.int64).reshape(-1, 4)
    crops = [mask[top:bottom, left:right] for mask, (left, top, right, bottom) in zip(masks, boxes)]
    assert [crop.sum() for crop in crops] == [mask.sum() for mask in masks]
    return crops, boxes


def test_overlap_counts_by_hand():
    masks = np.zeros((3, 6, 8), bool)
    masks[0, 0:2, 0:2] = True                           # 4 on figure 1
    masks[1, 2:5, 2:6] = True                           # (2, 2..3) on 1: 2; rows 3..4 x 4..5 on 2: 4
    masks[2, 0:3, 5:8] = True                           # on nothing
    # boxes a little larger than the masks (their crops have unset margins), one at (0, 0),
    # one at the far corner
    crops, boxes = _crops(masks, [(0, 0, 3, 2), (1, 1, 7, 6), (4, 0, 8, 3)])
    np.testing.assert_array_equal(overlap_counts(crops, boxes, _instances(), 2),
                                  [[4, 0], [2, 4], [0, 0]])
    np.testing.assert_array_equal(match_by_largest_overlap(crops, boxes, _instances(), 2),
                                  [0, 1, NO_MATCH])


def test_ties_go_to_the_lowest_figure_and_a_figure_can_match_twice():
    masks = np.zeros((2, 6, 8), bool)
    masks[0, 2:4, 3:5] = True                           # (2, 3) on 1, (3, 4) on 2: a tie
    masks[1, 0:1, 0:1] = True
    crops, boxes = _crops(masks, [(3, 2, 5, 4), (0, 0, 1, 1)])
    np.testing.assert_array_equal(match_by_largest_overlap(crops, boxes, _instances(), 2), [0, 0])


def test_no_figures_and_no_detections():
    masks = np.ones((2, 6, 8), bool)
    crops, boxes = _crops(masks, [(0, 0, 8, 6)] * 2)
    np.testing.assert_array_equal(
        match_by_largest_overlap(crops, boxes, np.zeros((6, 8), np.uint8), 0), [NO_MATCH, NO_MATCH])
    assert match_by_largest_overlap([], np.zeros((0, 4), np.int64), _instances(), 2).shape == (0,)


def test_masks_of_another_size_are_refused():
    # a box reaching past the instance map (as masks of a larger image would)
    with pytest.raises(ValueError, match="detection mask"):
        overlap_counts([np.zeros((6, 8), bool)], np.array([[0, 0, 8, 7]]), _instances(), 2)
    with pytest.raises(ValueError, match="detection mask"):
        overlap_counts([np.zeros((5, 9), bool)], np.array([[0, 1, 9, 6]]), _instances(), 2)
    # a crop of another size than its box
    with pytest.raises(ValueError, match="detection mask"):
        overlap_counts([np.zeros((5, 8), bool)], np.array([[0, 0, 8, 6]]), _instances(), 2)
