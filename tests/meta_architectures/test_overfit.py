"""End to end: the quickstart (tiny) Mask R-CNN overfits two generated pictorial maps.

Trained on the same two 256 x 256 maps, the losses must fall at least five-fold and every figure
must be found at box IoU >= 0.5 (and its mask at mask IoU >= 0.5, pasted into the image with
the one reframing function), within a few CPU minutes.
"""

from __future__ import annotations

import keras
import numpy as np
import pytest
import tensorflow as tf

from object_detection.core import box_ops, mask_ops
from object_detection.fields import LossNames
from object_detection.dataset_tools import synthetic_maps
from object_detection.fields import InputFields
from tests.meta_architectures.model_helpers import build_model, make_train_step

SIZE = 256
MAX_STEPS = 1000
CHECK_EVERY = 100
FIRST_CHECK = 400


def _maps_batch(num_maps: int = 2, max_instances: int = 4) -> dict[str, tf.Tensor]:
    images, boxes, classes, masks, counts = [], [], [], [], []
    for index in range(num_maps):
        figure_map = synthetic_maps.generate_map(7, SIZE, SIZE, index=index, min_figures=2,
                                                 max_figures=3, min_size=40, max_size=100)
        ids = [i for i in range(1, figure_map.instances.max() + 1)
               if (figure_map.instances == i).any()]
        image_boxes = np.zeros([max_instances, 4], np.float32)
        image_masks = np.zeros([max_instances, SIZE, SIZE], np.uint8)
        for row, instance in enumerate(ids):
            mask = figure_map.instances == instance
            ys, xs = np.nonzero(mask)
            image_boxes[row] = [ys.min() / SIZE, xs.min() / SIZE, (ys.max() + 1) / SIZE,
                                (xs.max() + 1) / SIZE]
            image_masks[row] = mask
        images.append(figure_map.image.astype(np.float32))
        boxes.append(image_boxes)
        classes.append([1] * len(ids) + [0] * (max_instances - len(ids)))
        masks.append(image_masks)
        counts.append(len(ids))
    return {
        InputFields.image: tf.constant(np.stack(images)),
        InputFields.true_image_shape: tf.constant([[SIZE, SIZE, 3]] * num_maps, tf.int32),
        InputFields.groundtruth_boxes: tf.constant(np.stack(boxes)),
        InputFields.groundtruth_classes: tf.constant(classes, tf.int32),
        InputFields.groundtruth_instance_masks: tf.constant(np.stack(masks)),
        InputFields.num_groundtruth_boxes: tf.constant(counts, tf.int32),
    }


def _found(detections: dict[str, tf.Tensor], batch: dict[str, tf.Tensor]
           ) -> tuple[list[float], list[float]]:
    """Per figure: the best box IoU of a detection, and the mask IoU of that detection."""
    box_ious, mask_ious = [], []
    for b in range(int(batch[InputFields.image].shape[0])):
        n = int(detections["num_detections"][b])
        count = int(batch[InputFields.num_groundtruth_boxes][b])
        gt_boxes = batch[InputFields.groundtruth_boxes][b, :count]
        if n == 0:
            box_ious += [0.0] * count
            mask_ious += [0.0] * count
            continue
        boxes = detections["detection_boxes"][b, :n]
        ious = box_ops.iou(gt_boxes, boxes).numpy()
        best = ious.argmax(axis=1)
        image_masks = mask_ops.reframe_box_masks_to_image_masks(
            detections["detection_masks"][b, :n], boxes, SIZE, SIZE).numpy() > 0.5
        gt_masks = batch[InputFields.groundtruth_instance_masks][b, :count].numpy() > 0
        for i in range(count):
            box_ious.append(float(ious[i, best[i]]))
            predicted = image_masks[best[i]]
            union = np.logical_or(predicted, gt_masks[i]).sum()
            mask_ious.append(float(np.logical_and(predicted, gt_masks[i]).sum() / max(union, 1)))
    return box_ious, mask_ious


@pytest.mark.slow
def test_tiny_model_overfits_two_generated_maps():
    keras.utils.set_random_seed(0)
    model = build_model(seed=0)
    batch = _maps_batch()
    optimizer = keras.optimizers.Adam(2e-3)
    model.ensure_built((SIZE, SIZE))

    train_step = make_train_step(model, optimizer)
    infer = tf.function(lambda images, shapes: model(images, shapes))
    history, first = [], {}
    box_ious = mask_ious = []
    for step in range(1, MAX_STEPS + 1):
        losses, total = train_step(batch)
        history.append(float(total))
        for name, value in losses.items():  # second-stage losses are 0 until a proposal hits
            if float(value) > 0.0:
                first.setdefault(name, float(value))
        if step >= FIRST_CHECK and step % CHECK_EVERY == 0:
            detections = infer(batch[InputFields.image], batch[InputFields.true_image_shape])
            box_ious, mask_ious = _found(detections, batch)
            print(f"step {step}: loss {np.mean(history[-10:]):.3f}, box IoUs "
                  f"{np.round(box_ious, 2)}, mask IoUs {np.round(mask_ious, 2)}")
            if min(box_ious) >= 0.5 and min(mask_ious) >= 0.5:
                break
    last = {name: float(value) for name, value in losses.items()}
    assert np.mean(history[-10:]) <= history[0] / 5.0, (history[0], history[-10:])
    for name in (LossNames.rpn_objectness, LossNames.box_classification,
                 LossNames.mask):
        assert last[name] <= first[name] / 5.0, (name, first[name], last[name])
    assert len(box_ious) == int(tf.reduce_sum(batch[InputFields.num_groundtruth_boxes]))
    assert min(box_ious) >= 0.5, box_ious
    assert min(mask_ious) >= 0.5, mask_ious
