"""Balanced positive/negative sampler on hand-made cases."""

from __future__ import annotations

import numpy as np
import tensorflow as tf

from object_detection.core.sampler import balanced_sample

SEED = tf.constant([7, 11], tf.int32)


def _case(num_pos, num_neg, num_other, batch=1):
    """indicator/labels [batch, M]: num_pos positives, num_neg negatives, then non-candidates
    (some of them labelled positive, which must never be picked), shuffled."""
    rng = np.random.default_rng(num_pos * 100 + num_neg)
    indicator = np.array([True] * (num_pos + num_neg) + [False] * num_other)
    labels = np.array([True] * num_pos + [False] * num_neg + [True, False] * (num_other // 2)
                      + [False] * (num_other % 2))
    order = rng.permutation(indicator.size)
    return (np.tile(indicator[order], (batch, 1)), np.tile(labels[order], (batch, 1)))


def _counts(selected, indicator, labels):
    selected = selected.numpy()
    assert not (selected & ~indicator).any(), "a non-candidate was sampled"
    return (int((selected & labels).sum()), int((selected & ~labels).sum()))


def test_counts_with_plenty_of_both():
    indicator, labels = _case(10, 80, 10)
    selected = balanced_sample(indicator, labels, 20, 0.5, SEED)
    assert _counts(selected, indicator, labels) == (10, 10)


def test_positive_cap_is_truncated_fraction():
    indicator, labels = _case(30, 60, 0)
    selected = balanced_sample(indicator, labels, 22, 0.25, SEED)
    assert _counts(selected, indicator, labels) == (5, 17)  # int(0.25 * 22) = 5


def test_negatives_fill_when_positives_are_few():
    indicator, labels = _case(2, 50, 6)
    selected = balanced_sample(indicator, labels, 10, 0.5, SEED)
    assert _counts(selected, indicator, labels) == (2, 8)


def test_fewer_candidates_than_sample_size():
    indicator, labels = _case(3, 4, 9)
    selected = balanced_sample(indicator, labels, 20, 0.5, SEED)
    assert _counts(selected, indicator, labels) == (3, 4)


def test_positives_stay_capped_when_negatives_run_out():
    indicator, labels = _case(20, 2, 0)
    selected = balanced_sample(indicator, labels, 10, 0.5, SEED)
    assert _counts(selected, indicator, labels) == (5, 2)  # as the OD API


def test_same_seed_same_selection_other_seed_other_selection():
    indicator, labels = _case(40, 40, 0, batch=2)
    fn = tf.function(lambda seed: balanced_sample(indicator, labels, 16, 0.5, seed))
    a = fn(tf.constant([1, 2])).numpy()
    b = fn(tf.constant([1, 2])).numpy()
    c = fn(tf.constant([3, 4])).numpy()
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, c)
    assert not np.array_equal(a[0], a[1]), "rows of a batch should be sampled independently"
    assert a.sum(axis=1).tolist() == [16, 16]


def test_every_positive_can_be_drawn():
    indicator, labels = _case(8, 8, 0)
    seen = np.zeros(indicator.shape[1], bool)
    for s in range(30):
        seen |= balanced_sample(indicator, labels, 4, 0.5, tf.constant([s, 0])).numpy()[0]
    np.testing.assert_array_equal(seen, indicator[0])


def test_batch_rows_count_separately():
    ind1, lab1 = _case(1, 30, 0)
    ind2, lab2 = _case(12, 19, 0)
    selected = balanced_sample(np.concatenate([ind1, ind2]), np.concatenate([lab1, lab2]),
                               8, 0.5, SEED)
    assert _counts(selected[:1], ind1, lab1) == (1, 7)
    assert _counts(selected[1:], ind2, lab2) == (4, 4)
