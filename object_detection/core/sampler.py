"""Balanced positive/negative minibatch sampling (TF OD API ``BalancedPositiveNegativeSampler``
semantics), vectorized over the batch with stateless randomness.

Per image: at most ``int(positive_fraction * sample_size)`` positives are drawn at random from
the positive candidates; negatives fill the rest up to ``sample_size``. So
``min(sample_size, #candidates)`` are selected unless the negatives run out, when fewer are (as
in the OD API). The same seed gives the same selection.
"""

from __future__ import annotations

import tensorflow as tf


def _random_ranks(candidates: tf.Tensor, keys: tf.Tensor) -> tf.Tensor:
    """int32 ``[B, M]``: the rank of each candidate among the candidates of its row when ordered
    by ``keys`` (uniform in [0, 1)); non-candidates rank after all candidates."""
    ordered = tf.where(candidates, keys, tf.fill(tf.shape(keys), 2.0))
    order = tf.argsort(ordered, axis=-1, stable=True)
    return tf.argsort(order, axis=-1, stable=True)  # inverse permutation


def max_positives(sample_size: int, positive_fraction: float) -> int:
    """The most positives one image's minibatch can hold: ``int(positive_fraction *
    sample_size)``."""
    return int(positive_fraction * sample_size)


def balanced_sample(indicator: tf.Tensor, labels: tf.Tensor, sample_size: int,
                    positive_fraction: float, seed: tf.Tensor) -> tf.Tensor:
    """bool ``[B, M]``: the sampled entries.

    Args:
        indicator: bool ``[B, M]``, the candidates (e.g. anchors neither ignored nor padded).
        labels: bool ``[B, M]``, True for positives (only where ``indicator``).
        sample_size: the minibatch size per image.
        positive_fraction: the largest fraction of positives in a minibatch.
        seed: int32/int64 ``[2]``, the seed of ``tf.random.stateless_uniform``.
    """
    if sample_size <= 0:
        raise ValueError(f"sampler: sample_size must be positive, got {sample_size}")
    if not 0.0 <= positive_fraction <= 1.0:
        raise ValueError(f"sampler: positive_fraction must be in [0, 1], got {positive_fraction}")
    indicator = tf.convert_to_tensor(indicator, tf.bool)
    labels = tf.convert_to_tensor(labels, tf.bool)
    positives = indicator & labels
    negatives = indicator & tf.logical_not(labels)
    keys = tf.random.stateless_uniform(tf.shape(indicator), seed=seed, dtype=tf.float32)

    limit = max_positives(sample_size, positive_fraction)
    sampled_positives = positives & (_random_ranks(positives, keys) < limit)
    num_positives = tf.reduce_sum(tf.cast(sampled_positives, tf.int32), axis=-1, keepdims=True)
    sampled_negatives = negatives & (_random_ranks(negatives, keys) < sample_size - num_positives)
    return sampled_positives | sampled_negatives
