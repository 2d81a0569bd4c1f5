"""Per-entry weighted losses (TF OD API ``core/losses.py`` semantics), unreduced: callers
normalize (e.g. by the number of sampled anchors)."""

from __future__ import annotations

import tensorflow as tf


def smooth_l1(pred: tf.Tensor, target: tf.Tensor, weights: tf.Tensor,
              delta: float = 1.0) -> tf.Tensor:
    """Huber loss summed over the last (coordinate) axis, times weights.

    pred, target ``[..., 4]``; weights ``[...]``; returns ``[...]``. Per coordinate with
    ``d = |pred - target|``: ``0.5 d^2`` if ``d <= delta`` else ``delta * (d - 0.5 delta)``.
    """
    diff = tf.abs(tf.convert_to_tensor(pred, tf.float32) - tf.convert_to_tensor(target, tf.float32))
    quadratic = tf.minimum(diff, delta)
    per_coordinate = 0.5 * quadratic ** 2 + delta * (diff - quadratic)
    return tf.reduce_sum(per_coordinate, axis=-1) * tf.cast(weights, tf.float32)


def softmax_cross_entropy(logits: tf.Tensor, labels: tf.Tensor, weights: tf.Tensor,
                          logit_scale: float = 1.0) -> tf.Tensor:
    """Softmax cross entropy of logits ``[..., C]`` (divided by ``logit_scale``) against one-hot
    (or soft) labels ``[..., C]``, times weights ``[...]``; returns ``[...]``."""
    logits = tf.convert_to_tensor(logits, tf.float32) / logit_scale
    per_entry = tf.nn.softmax_cross_entropy_with_logits(labels=tf.cast(labels, tf.float32),
                                                        logits=logits)
    return per_entry * tf.cast(weights, tf.float32)


def sigmoid_cross_entropy(logits: tf.Tensor, labels: tf.Tensor, weights: tf.Tensor) -> tf.Tensor:
    """Elementwise sigmoid cross entropy times weights (broadcastable); same shape as logits."""
    logits = tf.convert_to_tensor(logits, tf.float32)
    per_entry = tf.nn.sigmoid_cross_entropy_with_logits(labels=tf.cast(labels, tf.float32),
                                                        logits=logits)
    return per_entry * tf.cast(weights, tf.float32)
