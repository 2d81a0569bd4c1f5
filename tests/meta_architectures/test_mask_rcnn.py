"""Mask R-CNN: loss normalization and post-processing against hand computations, coordinate
frames, output conventions, and tf.function without retracing."""

from __future__ import annotations

import math

import numpy as np
import pytest
import tensorflow as tf

from object_detection.core import box_ops
from object_detection.fields import LossNames
from object_detection.fields import InputFields
from object_detection.meta_architectures import groundtruth as gt_lib
from object_detection.meta_architectures import mask_rcnn
from tests.meta_architectures.model_helpers import box_batch, build_model

LOSS_NAMES = {LossNames.rpn_localization, LossNames.rpn_objectness,
              LossNames.box_localization, LossNames.box_classification,
              LossNames.mask}


def _huber(x) -> float:
    x = np.abs(np.asarray(x, np.float64))
    return float(np.sum(np.where(x <= 1.0, 0.5 * x ** 2, x - 0.5)))


def _log_sum_exp(values) -> float:
    return math.log(sum(math.exp(v) for v in values))


def _two_class_model(**overrides):
    settings = {"num_classes": 2, "second_stage_batch_size": 4,
                "second_stage_box_predictor.mask_rcnn_box_predictor.mask_height": 4,
                "second_stage_box_predictor.mask_rcnn_box_predictor.mask_width": 4}
    settings.update(overrides)
    return build_model(overrides=tuple(f"model.faster_rcnn.{k}={v}" for k, v in settings.items()))


def _hand_made_prediction():
    """One image, 4 anchors, 4 sampled proposal rows; see test_losses_match_hand_computation."""
    anchors = [[0.0, 0.0, 0.5, 0.5], [0.0, 0.0, 0.5, 0.55], [0.6, 0.6, 1.0, 1.0],
               [0.6, 0.0, 1.0, 0.3]]
    rpn_codes = np.zeros([1, 4, 4], np.float32)
    rpn_codes[0, 0] = [0.5, 0.0, 0.0, 0.0]
    rpn_logits = np.array([[[0, 2], [0, 0], [1, 0], [0, 0]]], np.float32)
    class_logits = np.array([[0, 0, 3], [0, 0, 0], [1, 2, 0], [5, 0, 0]], np.float32)
    refined = np.full([4, 2, 4], 9.0, np.float32)
    refined[0, 1] = [1, 0, 0, 0]          # row 0: class 2 codes
    refined[2, 0] = [0, 2, 0, 0]          # row 2: class 1 codes
    # Masks of the rows [0, 2, 1] (mask_proposal_index): the positives, then a filler row
    # whose logits (-100 against targets of 1) would cost 100 if the loss counted it.
    masks = np.full([3, 2, 4, 4], -100.0, np.float32)
    masks[0, 1] = 0.0                     # row 0, class 2
    masks[1, 0] = 2.0                     # row 2, class 1
    return {
        "anchors": tf.constant([anchors]),
        "anchor_valid": tf.ones([4], tf.bool),
        "rpn_box_encodings": tf.constant(rpn_codes),
        "rpn_objectness_predictions_with_background": tf.constant(rpn_logits),
        "true_image_shapes": tf.constant([[8, 8, 3]]),
        "target_boxes": tf.constant([[[0.1, 0.1, 0.4, 0.4]] * 4]),
        "target_count": tf.constant([3]),
        "target_valid": tf.constant([[True, True, True, False]]),
        "target_positive": tf.constant([[True, False, True, False]]),
        "target_classes": tf.constant([[2, 0, 1, 0]]),
        "target_box_encodings": tf.zeros([1, 4, 4]),
        "target_gt_index": tf.constant([[1, 0, 0, 0]]),
        "class_predictions_with_background": tf.constant(class_logits),
        "refined_box_encodings": tf.constant(refined),
        "mask_predictions": tf.constant(masks),
        "mask_proposal_index": tf.constant([[0, 2, 1]]),
    }


def _hand_made_groundtruth(mask_weights=(1.0, 1.0)):
    return gt_lib.Groundtruth(
        boxes=tf.constant([[[0.0, 0.0, 0.5, 0.5], [0.5, 0.5, 1.0, 1.0]]]),
        classes=tf.constant([[1, 2]]), valid=tf.constant([[True, True]]),
        masks=tf.ones([1, 2, 8, 8], tf.uint8), mask_weights=tf.constant([mask_weights]))


def test_losses_match_hand_computation():
    model = _two_class_model()
    losses = model.loss_dict(_hand_made_prediction(), _hand_made_groundtruth())
    assert set(losses) == LOSS_NAMES

    # RPN: anchors 0 and 1 match gt 0 (IoU 1 and 0.25 / 0.275); anchor 2 overlaps gt 1 by
    # IoU 0.64 (ignored band) but is forced to match it, being its best anchor; anchor 3 is
    # background. All four sampled (minibatch 128): sums divided by 4. Weights 2 and 1.
    tx1 = (0.25 - 0.275) / 0.55 * 10.0
    tw1 = math.log(0.5 / 0.55) * 5.0
    t2 = [(0.75 - 0.8) / 0.4 * 10.0, (0.75 - 0.8) / 0.4 * 10.0, math.log(0.5 / 0.4) * 5.0,
          math.log(0.5 / 0.4) * 5.0]
    rpn_loc = (_huber([0.5, 0, 0, 0]) + _huber([0.0, tx1, 0.0, tw1]) + _huber(t2)) / 4.0
    rpn_obj = (_log_sum_exp([0, 2]) - 2 + math.log(2) + _log_sum_exp([1, 0]) - 0
               + math.log(2)) / 4.0
    assert float(losses[LossNames.rpn_localization]) == pytest.approx(2.0 * rpn_loc,
                                                                           rel=1e-4)
    assert float(losses[LossNames.rpn_objectness]) == pytest.approx(rpn_obj, rel=1e-5)

    # Box classifier: 3 valid rows (the 4th is padding) -> divided by 3 (times batch 1).
    cls = (_log_sum_exp([0, 0, 3]) - 3 + math.log(3) + _log_sum_exp([1, 2, 0]) - 2) / 3.0
    loc = (_huber([1, 0, 0, 0]) + _huber([0, 2, 0, 0])) / 3.0      # each row's own class
    assert float(losses[LossNames.box_classification]) == pytest.approx(cls, rel=1e-5)
    assert float(losses[LossNames.box_localization]) == pytest.approx(2.0 * loc, rel=1e-5)

    # Masks: targets are all 1 (gt masks fill the image); the class-2 logit 0 of row 0 costs
    # log 2 per pixel, the class-1 logit 2 of row 2 log(1 + e^-2); mean over 2 x 16 pixels,
    # weight 4.
    mask = (math.log(2) + math.log1p(math.exp(-2))) / 2.0
    assert float(losses[LossNames.mask]) == pytest.approx(4.0 * mask, rel=1e-5)


def test_mask_loss_leaves_out_instances_without_masks():
    model = _two_class_model()
    losses = model.loss_dict(_hand_made_prediction(), _hand_made_groundtruth((1.0, 0.0)))
    # Row 0 matches gt 1, whose mask weight is 0: only row 2 counts.
    assert float(losses[LossNames.mask]) == pytest.approx(4.0 * math.log1p(math.exp(-2)),
                                                               rel=1e-5)


def test_loss_dict_needs_training_predictions():
    model = _two_class_model()
    prediction = _hand_made_prediction()
    del prediction["target_boxes"]
    with pytest.raises(ValueError, match="groundtruth"):
        model.loss_dict(prediction, _hand_made_groundtruth())


def test_postprocess_scores_classes_and_clipping():
    model = _two_class_model(
        number_of_stages=2,
        **{"second_stage_post_processing.batch_non_max_suppression.max_total_detections": 5,
           "second_stage_post_processing.batch_non_max_suppression.max_detections_per_class": 5,
           # keeps each proposal's best class only (the others score 1 / (e^4 + 2) or less)
           "second_stage_post_processing.batch_non_max_suppression.score_threshold": 0.3})
    prediction = {
        "proposal_boxes": tf.constant([[[0.1, 0.1, 0.3, 0.3], [0.8, 0.8, 1.2, 1.1],
                                        [0.5, 0.5, 0.6, 0.6]]]),
        "num_proposals": tf.constant([2]),          # the third row is padding
        "refined_box_encodings": tf.zeros([3, 2, 4]),
        "class_predictions_with_background": tf.constant([[0.0, 4, 0], [0, 0, 3], [0, 10, 0]]),
    }
    out = model.postprocess(prediction)
    assert set(out) == {"num_detections", "detection_boxes", "detection_scores",
                        "detection_classes"}
    assert out["num_detections"].dtype == tf.float32
    np.testing.assert_array_equal(out["num_detections"], [2.0])
    np.testing.assert_allclose(out["detection_scores"][0, :2],
                               [math.exp(4) / (math.exp(4) + 2), math.exp(3) / (math.exp(3) + 2)],
                               rtol=1e-5)
    np.testing.assert_array_equal(out["detection_classes"][0], [1.0, 2.0, 0.0, 0.0, 0.0])
    np.testing.assert_allclose(out["detection_boxes"][0, :2],
                               [[0.1, 0.1, 0.3, 0.3], [0.8, 0.8, 1.0, 1.0]], atol=1e-6)
    np.testing.assert_allclose(out["detection_boxes"][0, 2:], 0.0)


def test_anchors_and_proposals_are_normalized_to_the_true_image():
    model = build_model()
    images = tf.random.uniform([1, 96, 128, 3], 0, 255, seed=3)
    true_shape = tf.constant([[64, 100, 3]])
    prediction = model.predict(images, true_shape)
    features = prediction["rpn_features_to_crop"]
    assert features.shape[1:3] == (12, 16)                  # stride 8
    absolute = model.anchor_generator.generate(12, 16)
    expected = box_ops.clip_to_window(absolute, [0.0, 0.0, 96.0, 128.0])  # inference: clipped
    np.testing.assert_allclose(prediction["anchors"][0] * [64, 100, 64, 100], expected,
                               rtol=1e-5, atol=1e-3)
    proposals = prediction["proposal_boxes"].numpy()[0]
    num = int(prediction["num_proposals"][0])
    assert num > 0
    assert (proposals[:num] >= 0.0).all() and (proposals[:num] <= 1.0).all()
    np.testing.assert_array_equal(proposals[num:], 0.0)


def test_training_leaves_out_anchors_crossing_the_image():
    model = build_model()
    batch = box_batch([[[0.2, 0.2, 0.6, 0.6]]], 64, 64)
    groundtruth = gt_lib.from_inputs(batch)
    prediction = model.predict(batch[InputFields.image], batch[InputFields.true_image_shape],
                               groundtruth=groundtruth, training=True)
    absolute = model.anchor_generator.generate(8, 8).numpy()
    inside = ((absolute[:, :2] >= 0) & (absolute[:, 2:] <= 64)).all(axis=1)
    np.testing.assert_array_equal(prediction["anchor_valid"], inside)
    assert 0 < inside.sum() < len(inside)
    s = model.second_stage_settings
    assert prediction["target_boxes"].shape == (1, s.batch_size, 4)
    assert prediction["class_predictions_with_background"].shape == (s.batch_size, 2)
    # Masks only of the positive rows: as many slots as the sampler keeps positives at most.
    slots = int(s.balance_fraction * s.batch_size)
    assert prediction["mask_proposal_index"].shape == (1, slots)
    assert prediction["mask_predictions"].shape == (slots, 1, 15, 15)
    positives = np.flatnonzero(prediction["target_positive"][0])
    assert 0 < len(positives) <= slots
    np.testing.assert_array_equal(prediction["mask_proposal_index"][0, :len(positives)], positives)


def test_positive_rows_come_first_in_order_then_the_others():
    positive = tf.constant([[False, True, False, True, True, False],
                            [True, False, False, False, False, False]])
    np.testing.assert_array_equal(mask_rcnn.positive_rows_first(positive, 3),
                                  [[1, 3, 4], [0, 1, 2]])
    np.testing.assert_array_equal(mask_rcnn.positive_rows_first(positive, 6)[0],
                                  [1, 3, 4, 0, 2, 5])


def test_outputs_of_a_mask_model_follow_the_od_api_conventions():
    model = build_model()
    detections = model(tf.random.uniform([2, 64, 80, 3], 0, 255, seed=4),
                       tf.constant([[64, 80, 3], [48, 60, 3]]))
    k = model.second_stage_settings.max_total_detections
    assert {name: tuple(t.shape) for name, t in detections.items()} == {
        "num_detections": (2,), "detection_boxes": (2, k, 4), "detection_scores": (2, k),
        "detection_classes": (2, k), "detection_masks": (2, k, 15, 15)}
    assert all(t.dtype == tf.float32 for t in detections.values())
    masks = detections["detection_masks"].numpy()
    assert (masks >= 0.0).all() and (masks <= 1.0).all()
    for b in range(2):
        n = int(detections["num_detections"][b])
        np.testing.assert_array_equal(masks[b, n:], 0.0)
        np.testing.assert_array_equal(detections["detection_classes"][b, n:], 0.0)
        assert set(detections["detection_classes"].numpy()[b, :n]) <= {1.0}


def test_number_of_stages_2_has_no_masks():
    model = build_model(overrides=("model.faster_rcnn.number_of_stages=2",))
    assert model.mask_head is None
    detections = model(tf.zeros([1, 64, 64, 3]))
    assert "detection_masks" not in detections
    losses = model.compute_losses(box_batch([[[0.1, 0.1, 0.7, 0.5]]], 64, 64))
    assert set(losses) == LOSS_NAMES - {LossNames.mask}


def test_training_and_inference_do_not_retrace_per_image():
    model = build_model()
    optimizer = tf.keras.optimizers.SGD(1e-4)
    first = box_batch([[[0.1, 0.1, 0.6, 0.5]], [[0.2, 0.3, 0.9, 0.8], [0.0, 0.0, 0.3, 0.3]]],
                      64, 64)
    second = box_batch([[[0.5, 0.5, 0.9, 0.7], [0.1, 0.1, 0.4, 0.4]], []], 80, 96,
                       true_shapes=[(80, 90), (70, 96)])
    spec = {key: tf.TensorSpec([2] + [None] * (len(t.shape) - 1), t.dtype)
            for key, t in first.items()}
    spec[InputFields.image] = tf.TensorSpec([2, None, None, 3], tf.float32)
    spec[InputFields.groundtruth_boxes] = tf.TensorSpec([2, None, 4], tf.float32)

    @tf.function(input_signature=[spec])
    def train_step(inputs):
        with tf.GradientTape() as tape:
            total = tf.add_n(list(model.compute_losses(inputs).values()))
        grads = tape.gradient(total, model.trainable_variables)
        optimizer.apply_gradients(zip(grads, model.trainable_variables))
        return total

    @tf.function(input_signature=[tf.TensorSpec([None, None, None, 3]),
                                  tf.TensorSpec([None, 3], tf.int32)])
    def infer(images, shapes):
        return model(images, shapes)

    model.ensure_built((64, 64))
    for batch in (first, second, first):
        assert np.isfinite(float(train_step(batch)))
        infer(batch[InputFields.image], batch[InputFields.true_image_shape])
    assert train_step.experimental_get_tracing_count() == 1
    assert infer.experimental_get_tracing_count() == 1


def test_gradients_reach_every_trainable_variable():
    model = build_model()
    batch = box_batch([[[0.1, 0.1, 0.7, 0.6]], [[0.3, 0.2, 0.9, 0.9]]], 64, 64)
    model.ensure_built((64, 64))
    with tf.GradientTape() as tape:
        losses = model.compute_losses(batch)
        total = tf.add_n(list(losses.values()))
    grads = tape.gradient(total, model.trainable_variables)
    assert set(losses) == LOSS_NAMES
    missing = [v.path for v, g in zip(model.trainable_variables, grads) if g is None]
    assert not missing


def test_regularization_loss_is_slims_l2_of_the_regularized_heads():
    model = build_model(overrides=(("model.faster_rcnn.first_stage_box_predictor_conv_"
                                    "hyperparams.regularizer.l2_regularizer.weight=0.01"),))
    model.ensure_built((64, 64))
    losses = model.compute_losses(box_batch([[[0.1, 0.1, 0.7, 0.5]]], 64, 64))
    head = model.rpn_head
    expected = sum(0.01 * float(tf.reduce_sum(k ** 2)) / 2.0
                   for k in (head.conv.kernel, head.box_conv.kernel, head.class_conv.kernel))
    assert float(losses[LossNames.regularization]) == pytest.approx(expected, rel=1e-5)
