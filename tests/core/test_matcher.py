"""Argmax matcher on hand-made similarity matrices."""

from __future__ import annotations

import numpy as np
import pytest

from object_detection.core.matcher import argmax_match

# Rows: ground truth; columns: anchors.
SIMILARITY = np.array([
    [0.9, 0.4, 0.1, 0.0, 0.6],
    [0.2, 0.5, 0.8, 0.1, 0.65],
], np.float32)


def _match(similarity, **kwargs):
    return argmax_match(similarity, **kwargs).numpy().tolist()


def test_thresholds_and_ignored_band():
    # Column bests: 0.9 (row 0), 0.5 (row 1), 0.8 (row 1), 0.1, 0.65 (row 1).
    got = _match(SIMILARITY, matched_threshold=0.6, unmatched_threshold=0.3,
                 force_match_for_each_row=False)
    assert got == [0, -2, 1, -1, 1]


def test_default_unmatched_threshold_has_no_ignored_band():
    got = _match(SIMILARITY, matched_threshold=0.6, force_match_for_each_row=False)
    assert got == [0, -1, 1, -1, 1]


def test_threshold_boundaries():
    sim = np.array([[0.6, 0.3, 0.2999]], np.float32)
    assert _match(sim, matched_threshold=0.6, unmatched_threshold=0.3,
                  force_match_for_each_row=False) == [0, -2, -1]


def test_forced_match_for_gt_below_threshold():
    sim = np.array([[0.9, 0.2, 0.1, 0.0],
                    [0.1, 0.3, 0.35, 0.2]], np.float32)  # row 1 never reaches 0.5
    assert _match(sim, matched_threshold=0.5, unmatched_threshold=0.25,
                  force_match_for_each_row=False) == [0, -2, -2, -1]
    assert _match(sim, matched_threshold=0.5, unmatched_threshold=0.25,
                  force_match_for_each_row=True) == [0, -2, 1, -1]


def test_forced_match_conflict_goes_to_first_row():
    sim = np.array([[0.3, 0.1], [0.2, 0.1]], np.float32)  # both rows' best column is 0
    assert _match(sim, matched_threshold=0.5, unmatched_threshold=0.5) == [0, -1]


def test_invalid_rows_never_match():
    sim = np.array([[0.2, 0.1, 0.0],
                    [0.9, 0.95, 0.0]], np.float32)
    got = _match(sim, matched_threshold=0.5, unmatched_threshold=0.3,
                 valid_rows=np.array([True, False]))
    # Row 1 is padding: columns fall back to row 0 (0.2, 0.1, 0.0 -> negative), and row 0
    # still claims its best column 0.
    assert got == [0, -1, -1]
    none_valid = _match(sim, matched_threshold=0.5, valid_rows=np.array([False, False]))
    assert none_valid == [-1, -1, -1]


def test_no_rows():
    assert _match(np.zeros((0, 3), np.float32), matched_threshold=0.5) == [-1, -1, -1]


def test_batched_equals_per_image():
    rng = np.random.default_rng(3)
    sim = rng.uniform(0, 1, size=(3, 4, 10)).astype(np.float32)
    valid = np.array([[True] * 4, [True, True, False, False], [False] * 4])
    batched = argmax_match(sim, 0.7, 0.3, valid_rows=valid).numpy()
    assert batched.shape == (3, 10)
    for i in range(3):
        single = argmax_match(sim[i], 0.7, 0.3, valid_rows=valid[i]).numpy()
        np.testing.assert_array_equal(batched[i], single)
    assert (batched[2] == -1).all()


def test_bad_thresholds():
    with pytest.raises(ValueError, match="unmatched_threshold"):
        argmax_match(SIMILARITY, matched_threshold=0.3, unmatched_threshold=0.6)
