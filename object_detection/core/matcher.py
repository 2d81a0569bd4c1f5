"""Argmax matching of anchors (columns) to ground truth (rows), TF OD API ``ArgMaxMatcher``
semantics (with ``negatives_lower_than_unmatched=True``).

Each column goes to the row of highest similarity; it stays matched if that similarity is
``>= matched_threshold``, becomes ignored (-2) if it lies in ``[unmatched_threshold,
matched_threshold)`` and negative (-1) below ``unmatched_threshold``. With
``force_match_for_each_row`` every valid row additionally claims its own best column (the first
one on ties), whatever the thresholds; when two rows claim the same column, the first row wins.
(As in the OD API, a valid row whose similarities are all 0 still claims column 0.) Invalid
rows (padding) never match anything.
"""

from __future__ import annotations

import tensorflow as tf

UNMATCHED = -1
IGNORED = -2


def argmax_match(similarity: tf.Tensor, matched_threshold: float,
                 unmatched_threshold: float | None = None,
                 force_match_for_each_row: bool = True,
                 valid_rows: tf.Tensor | None = None) -> tf.Tensor:
    """Matches of similarity ``[..., N, M]`` -> int32 ``[..., M]``.

    Values: ``>= 0`` the matched row, ``-1`` unmatched (negative), ``-2`` ignored.
    ``unmatched_threshold`` defaults to ``matched_threshold`` (no ignored band).
    ``valid_rows``: bool ``[..., N]``; rows that are False are left out (all valid by default).
    """
    if unmatched_threshold is None:
        unmatched_threshold = matched_threshold
    if unmatched_threshold > matched_threshold:
        raise ValueError(f"matcher: unmatched_threshold {unmatched_threshold} must not exceed "
                         f"matched_threshold {matched_threshold}")
    similarity = tf.convert_to_tensor(similarity, tf.float32)
    if valid_rows is None:
        valid_rows = tf.ones(tf.shape(similarity)[:-1], tf.bool)
    valid_rows = tf.convert_to_tensor(valid_rows, tf.bool)

    lowest = tf.fill(tf.shape(similarity), similarity.dtype.min)
    masked = tf.where(valid_rows[..., tf.newaxis], similarity, lowest)
    any_valid = tf.reduce_any(valid_rows, axis=-1, keepdims=True)        # [..., 1]
    # A zero-row matrix has no argmax: reduce over the rows padded with one lowest row.
    padding = tf.fill(tf.concat([tf.shape(masked)[:-2], [1], tf.shape(masked)[-1:]], 0),
                      similarity.dtype.min)
    padded = tf.concat([masked, padding], axis=-2)

    matches = tf.argmax(padded, axis=-2, output_type=tf.int32)           # [..., M]
    best = tf.reduce_max(padded, axis=-2)
    matches = tf.where(best < unmatched_threshold, UNMATCHED, matches)
    between = (best >= unmatched_threshold) & (best < matched_threshold)
    matches = tf.where(between, IGNORED, matches)
    matches = tf.where(any_valid, matches, UNMATCHED)

    if force_match_for_each_row:
        num_columns = tf.shape(similarity)[-1]
        best_column = tf.argmax(masked, axis=-1, output_type=tf.int32)   # [..., N]
        claims = tf.one_hot(best_column, num_columns, on_value=True, off_value=False)
        claims &= valid_rows[..., tf.newaxis]                            # [..., N, M]
        num_rows = tf.shape(similarity)[-2]
        # The first claiming row wins (as the OD API's argmax over its one-hot indicators).
        row_ids = tf.range(num_rows, dtype=tf.int32)[:, tf.newaxis]
        winner = tf.reduce_min(tf.where(claims, row_ids, num_rows), axis=-2)  # [..., M]
        matches = tf.where(winner < num_rows, winner, matches)
    return matches
