"""Batched per-class non-maximum suppression (TF OD API ``batch_multiclass_non_max_suppression``
semantics) with static output shapes.

Per image and class: boxes with score ``> score_threshold`` go through greedy NMS (a box is
suppressed by a kept box of IoU ``> iou_threshold``), keeping at most ``max_per_class``. The
kept boxes of all classes are then clipped to the window (if any; boxes that end with zero area
are dropped) and the ``max_total`` best by score kept, sorted by descending score (ties: lower
class, then NMS order, first). Outputs are padded with zeros after ``num_detections``.

Boxes of equal score are taken in index order (TF's NonMaxSuppression kernel does so). Other
runtimes' NMS kernels order ties their own way (TFLite's NON_MAX_SUPPRESSION_V4 sorts unstably),
and ties are common: the RPN's objectness saturates at 1.0 in float32. So, in graphs traced
inside ``nms_in_rank_order()`` (the TFLite export), NMS is given the boxes in rank order with
distinct scores (``_nms_in_rank_order``): the same selection as TF's, and TFLite's the same.
It is not the default: the full sort it needs costs TF a little, and OpenVINO's TopK of all
boxes took 10 s a quickstart map (its NMS and ONNX Runtime's matched TF's without it).
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import tensorflow as tf

from object_detection.core import box_ops


_rank_order = False  # set by nms_in_rank_order(); read when the NMS is traced


@contextlib.contextmanager
def nms_in_rank_order() -> Iterator[None]:
    """Within it, graphs traced run NMS on the boxes in rank order (see the module
    docstring)."""
    global _rank_order
    previous, _rank_order = _rank_order, True
    try:
        yield
    finally:
        _rank_order = previous


def _nms_in_rank_order(boxes: tf.Tensor, scores: tf.Tensor, max_size: tf.Tensor,
                       iou_threshold: tf.Tensor, score_threshold: tf.Tensor
                       ) -> tuple[tf.Tensor, tf.Tensor]:
    """NonMaxSuppressionV4 of boxes ``[N, 4]`` and scores ``[N]`` (padded), without ties: the
    boxes are put in the order of descending score, ties by index (``top_k`` orders equal
    values so, in TF and in TFLite), and NMS given the strictly decreasing scores N, N - 1,
    ... (0 for the boxes at or below ``score_threshold``, with threshold 0). That selects what
    NMS of the scores selects (exact for N < 2**24); the indices are mapped back (padding
    stays 0)."""
    count = tf.shape(scores)[0]
    top = tf.math.top_k(scores, k=count, sorted=True)
    descending = tf.cast(count - tf.range(count), tf.float32)
    ranks = tf.where(top.values > score_threshold, descending, tf.zeros_like(descending))
    selected, num_valid = tf.raw_ops.NonMaxSuppressionV4(
        boxes=tf.gather(boxes, top.indices), scores=ranks, max_output_size=max_size,
        iou_threshold=iou_threshold, score_threshold=tf.constant(0.0),
        pad_to_max_output_size=True)
    kept = tf.range(tf.shape(selected)[0]) < num_valid
    return tf.where(kept, tf.gather(top.indices, selected), tf.zeros_like(selected)), num_valid


def _per_class_nms(boxes: tf.Tensor, scores: tf.Tensor, max_per_class: int,
                   iou_threshold: float, score_threshold: float) -> tuple[tf.Tensor, tf.Tensor]:
    """boxes ``[K, N, 4]``, scores ``[K, N]`` -> (indices int32 ``[K, max_per_class]`` in NMS
    order, padded with 0; num_valid int32 ``[K]``)."""
    max_size = tf.constant(max_per_class, tf.int32)
    iou_thr = tf.constant(iou_threshold, tf.float32)
    score_thr = tf.constant(score_threshold, tf.float32)

    def single(args):
        b, s = args
        if _rank_order:
            indices, num_valid = _nms_in_rank_order(b, s, max_size, iou_thr, score_thr)
        else:
            indices, num_valid = tf.raw_ops.NonMaxSuppressionV4(
                boxes=b, scores=s, max_output_size=max_size, iou_threshold=iou_thr,
                score_threshold=score_thr, pad_to_max_output_size=True)
        return tf.reshape(indices, [max_per_class]), tf.reshape(num_valid, [])

    return tf.map_fn(single, (boxes, scores), fn_output_signature=(
        tf.TensorSpec([max_per_class], tf.int32), tf.TensorSpec([], tf.int32)))


def batch_multiclass_nms(boxes: tf.Tensor, scores: tf.Tensor, score_threshold: float,
                         iou_threshold: float, max_per_class: int, max_total: int,
                         masks: tf.Tensor | None = None,
                         clip_window: tf.Tensor | None = None) -> dict[str, tf.Tensor]:
    """Per-class NMS of a batch.

    Args:
        boxes: ``[B, N, C, 4]`` (one box per class) or ``[B, N, 1, 4]`` (shared by classes).
        scores: ``[B, N, C]``, no background column; C must be static.
        masks: optional ``[B, N, C, h, w]`` or ``[B, N, 1, h, w]``, carried with their boxes.
        clip_window: optional ``[B, 4]`` window in the boxes' frame.

    Returns:
        dict: ``detection_boxes [B, max_total, 4]``, ``detection_scores [B, max_total]``,
        ``detection_classes`` int32 ``[B, max_total]`` (0-based class index; add 1 for label
        ids), ``num_detections`` int32 ``[B]``, ``detection_indices`` int32 ``[B, max_total]``
        (index into N), and ``detection_masks [B, max_total, h, w]`` if masks were given.
    """
    boxes = tf.convert_to_tensor(boxes, tf.float32)
    scores = tf.convert_to_tensor(scores, tf.float32)
    num_classes = scores.shape[-1]
    if boxes.shape.rank != 4 or scores.shape.rank != 3 or num_classes is None:
        raise ValueError("nms: boxes must be [B, N, C or 1, 4] and scores [B, N, C] with a static "
                         f"C, got {boxes.shape} and {scores.shape}")
    box_classes = boxes.shape[2]
    if box_classes not in (1, num_classes):
        raise ValueError(f"nms: boxes have {box_classes} per anchor, scores {num_classes} classes")
    if masks is not None and masks.shape[2] not in (1, num_classes):
        raise ValueError(f"nms: masks have {masks.shape[2]} per anchor, scores "
                         f"{num_classes} classes")
    if max_per_class <= 0 or max_total <= 0:
        raise ValueError(f"nms: max_per_class ({max_per_class}) and max_total ({max_total}) must "
                         "be positive")
    batch = tf.shape(scores)[0]
    num_boxes = tf.shape(scores)[1]

    per_class_boxes = tf.broadcast_to(
        boxes, tf.stack([batch, num_boxes, num_classes, 4]))
    per_class_boxes = tf.reshape(tf.transpose(per_class_boxes, [0, 2, 1, 3]), [-1, num_boxes, 4])
    per_class_scores = tf.reshape(tf.transpose(scores, [0, 2, 1]), [-1, num_boxes])
    kept, num_kept = _per_class_nms(per_class_boxes, per_class_scores, max_per_class,
                                    iou_threshold, score_threshold)

    num_candidates = num_classes * max_per_class
    indices = tf.reshape(kept, [batch, num_candidates])                    # class-major
    valid = tf.reshape(tf.range(max_per_class)[tf.newaxis, :] < num_kept[:, tf.newaxis],
                       [batch, num_candidates])
    classes = tf.broadcast_to(tf.repeat(tf.range(num_classes), max_per_class),
                              tf.stack([batch, num_candidates]))

    def gather(values: tf.Tensor, per_class: int) -> tf.Tensor:
        """values ``[B, N, C or 1, ...]`` at (index, class) -> ``[B, num_candidates, ...]``."""
        cls = classes if per_class > 1 else tf.zeros_like(classes)
        return tf.gather_nd(values, tf.stack([indices, cls], axis=-1), batch_dims=1)

    candidate_boxes = gather(boxes, box_classes)
    candidate_scores = gather(scores, num_classes)
    if clip_window is not None:
        window = tf.convert_to_tensor(clip_window, tf.float32)[:, tf.newaxis, :]
        candidate_boxes = box_ops.clip_to_window(candidate_boxes, window)
        valid &= box_ops.area(candidate_boxes) > 0.0

    if num_candidates < max_total:
        extra = max_total - num_candidates
        candidate_boxes = tf.pad(candidate_boxes, [[0, 0], [0, extra], [0, 0]])
        candidate_scores = tf.pad(candidate_scores, [[0, 0], [0, extra]])
        valid = tf.pad(valid, [[0, 0], [0, extra]])
        indices = tf.pad(indices, [[0, 0], [0, extra]])
        classes = tf.pad(classes, [[0, 0], [0, extra]])
    ranking = tf.where(valid, candidate_scores, tf.fill(tf.shape(candidate_scores), -float("inf")))
    top = tf.math.top_k(ranking, k=max_total, sorted=True).indices        # [B, max_total]

    def pick(values: tf.Tensor) -> tf.Tensor:
        return tf.gather(values, top, axis=1, batch_dims=1)

    is_detection = pick(valid)
    num_detections = tf.reduce_sum(tf.cast(is_detection, tf.int32), axis=1)
    det_indices = tf.where(is_detection, pick(indices), 0)
    det_classes = tf.where(is_detection, pick(classes), 0)
    result = {
        "detection_boxes": tf.where(is_detection[..., tf.newaxis], pick(candidate_boxes), 0.0),
        "detection_scores": tf.where(is_detection, pick(candidate_scores), 0.0),
        "detection_classes": det_classes,
        "num_detections": num_detections,
        "detection_indices": det_indices,
    }
    if masks is not None:
        masks = tf.convert_to_tensor(masks)
        mask_cls = det_classes if masks.shape[2] > 1 else tf.zeros_like(det_classes)
        picked = tf.gather_nd(masks, tf.stack([det_indices, mask_cls], axis=-1), batch_dims=1)
        result["detection_masks"] = tf.where(is_detection[..., tf.newaxis, tf.newaxis], picked,
                                             tf.zeros_like(picked))
    return result


def nms_proposals(boxes: tf.Tensor, scores: tf.Tensor, iou_threshold: float,
                  score_threshold: float, max_output: int,
                  clip_window: tf.Tensor | None = None
                  ) -> tuple[tf.Tensor, tf.Tensor, tf.Tensor]:
    """Single-class NMS of proposals: boxes ``[B, N, 4]``, scores ``[B, N]`` ->
    (boxes ``[B, max_output, 4]`` zero-padded, scores ``[B, max_output]``, num_valid int32
    ``[B]``), sorted by descending score. ``clip_window`` ``[B, 4]`` as in
    :func:`batch_multiclass_nms`."""
    result = batch_multiclass_nms(
        tf.convert_to_tensor(boxes, tf.float32)[:, :, tf.newaxis, :],
        tf.convert_to_tensor(scores, tf.float32)[:, :, tf.newaxis],
        score_threshold=score_threshold, iou_threshold=iou_threshold,
        max_per_class=max_output, max_total=max_output, clip_window=clip_window)
    return result["detection_boxes"], result["detection_scores"], result["num_detections"]
