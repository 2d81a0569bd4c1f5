"""The Faster R-CNN box coder (TF Object Detection API ``FasterRcnnBoxCoder`` semantics).

For a box with centre ``(y, x)`` and size ``(h, w)`` relative to an anchor ``(ya, xa, ha, wa)``::

    ty = (y - ya) / ha * sy,  tx = (x - xa) / wa * sx,
    th = log(h / ha) * sh,    tw = log(w / wa) * sw

with scale factors ``(sy, sx, sh, sw)`` (default ``(10, 10, 5, 5)``). Encoding adds 1e-8 to all
heights and widths (so degenerate boxes stay finite); decoding inverts it without that epsilon.
"""

from __future__ import annotations

from typing import Sequence

import tensorflow as tf

_EPSILON = 1e-8


def center_size(boxes: tf.Tensor) -> tuple[tf.Tensor, tf.Tensor, tf.Tensor, tf.Tensor]:
    """``(ycenter, xcenter, height, width)``, each ``[...]``, of boxes ``[..., 4]``."""
    ymin, xmin, ymax, xmax = tf.unstack(boxes, axis=-1)
    height = ymax - ymin
    width = xmax - xmin
    return ymin + 0.5 * height, xmin + 0.5 * width, height, width


class FasterRcnnBoxCoder:
    """Encodes boxes ``[..., 4]`` relative to anchors ``[..., 4]`` (same shape or
    broadcastable) into codes ``[..., 4]`` = ``(ty, tx, th, tw)``, and back."""

    code_size = 4

    def __init__(self, scale_factors: Sequence[float] | None = (10.0, 10.0, 5.0, 5.0)):
        if scale_factors is not None:
            if len(scale_factors) != 4 or any(s <= 0 for s in scale_factors):
                raise ValueError("box coder: scale_factors must be 4 positive numbers, "
                                 f"got {list(scale_factors)}")
            scale_factors = [float(s) for s in scale_factors]
        self.scale_factors = scale_factors

    def encode(self, boxes: tf.Tensor, anchors: tf.Tensor) -> tf.Tensor:
        """Codes ``[..., 4]`` of ``boxes`` relative to ``anchors`` (same frame)."""
        ya, xa, ha, wa = center_size(anchors)
        y, x, h, w = center_size(boxes)
        ha += _EPSILON
        wa += _EPSILON
        h += _EPSILON
        w += _EPSILON
        ty = (y - ya) / ha
        tx = (x - xa) / wa
        th = tf.math.log(h / ha)
        tw = tf.math.log(w / wa)
        if self.scale_factors is not None:
            ty *= self.scale_factors[0]
            tx *= self.scale_factors[1]
            th *= self.scale_factors[2]
            tw *= self.scale_factors[3]
        return tf.stack([ty, tx, th, tw], axis=-1)

    def decode(self, codes: tf.Tensor, anchors: tf.Tensor) -> tf.Tensor:
        """Boxes ``[..., 4]`` ``[ymin, xmin, ymax, xmax]`` (in the anchors' frame) from codes."""
        ya, xa, ha, wa = center_size(anchors)
        ty, tx, th, tw = tf.unstack(codes, axis=-1)
        if self.scale_factors is not None:
            ty /= self.scale_factors[0]
            tx /= self.scale_factors[1]
            th /= self.scale_factors[2]
            tw /= self.scale_factors[3]
        h = tf.exp(th) * ha
        w = tf.exp(tw) * wa
        y = ty * ha + ya
        x = tx * wa + xa
        return tf.stack([y - 0.5 * h, x - 0.5 * w, y + 0.5 * h, x + 0.5 * w], axis=-1)
