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


def test_overlap_counts_by_hand():
    masks = np.zeros((3, 6, 8), bool)
    masks[0, 0:2, 0:2] = True                           # 4 on figure 1
    masks[1, 2:5, 2:6] = True                           # (2, 2..3) on 1: 2; rows 3..4 x 4..5 on 2: 4
    masks[2, 0:3, 5:8] = True                           # on nothing
    np.testing.assert_array_equal(overlap_counts(masks, _instances(), 2), [[4, 0], [2, 4], [0, 0]])
    np.testing.assert_array_equal(match_by_largest_overlap(masks, _instances(), 2), [0, 1, NO_MATCH])


def test_ties_go_to_the_lowest_figure_and_a_figure_can_match_twice():
    masks = np.zeros((2, 6, 8), bool)
    masks[0, 2:4, 3:5] = True                           # (2, 3) on 1, (3, 4) on 2: a tie
    masks[1, 0:1, 0:1] = True
    np.testing.assert_array_equal(match_by_largest_overlap(masks, _instances(), 2), [0, 0])


def test_no_figures_and_no_detections():
    masks = np.ones((2, 6, 8), bool)
    np.testing.assert_array_equal(match_by_largest_overlap(masks, np.zeros((6, 8), np.uint8), 0),
                                  [NO_MATCH, NO_MATCH])
    assert match_by_largest_overlap(masks[:0], _instances(), 2).shape == (0,)


def test_masks_of_another_size_are_refused():
    with pytest.raises(ValueError, match="detection masks"):
        overlap_counts(np.zeros((1, 5, 8), bool), _instances(), 2)
