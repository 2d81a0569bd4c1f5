"""Test helpers: models built from the shipped configs, and small padded input batches."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import tensorflow as tf

from object_detection import config as config_lib
from object_detection.builders import model_builder
from object_detection.fields import InputFields

CONFIGS = Path(__file__).resolve().parents[2] / "configs"
QUICKSTART = CONFIGS / "quickstart.config"
PUBLISHED = CONFIGS / "mask_rcnn_resnet101_atrous_pictorial_maps.config"


def build_model(path: Path = QUICKSTART, overrides: tuple[str, ...] = (), seed: int = 0):
    config = config_lib.load_pipeline_config(path, overrides)
    return model_builder.build(config.model, is_training=True, seed=seed)


def make_train_step(model, optimizer, clip_norm: float = 10.0):
    """A ``tf.function`` step: losses, gradients clipped to global norm ``clip_norm``, update;
    returns (the loss dict, their sum)."""
    @tf.function
    def train_step(inputs):
        with tf.GradientTape() as tape:
            losses = model.compute_losses(inputs)
            total = tf.add_n(list(losses.values()))
        grads = tape.gradient(total, model.trainable_variables)
        grads, _ = tf.clip_by_global_norm(grads, clip_norm)
        optimizer.apply_gradients(zip(grads, model.trainable_variables))
        return losses, total
    return train_step


def box_batch(boxes: list[list[list[float]]], height: int, width: int,
              max_instances: int = 3, true_shapes=None) -> dict[str, tf.Tensor]:
    """A padded input batch with the given normalized boxes (class 1), filled-box masks of the
    padded image size (the box region of the true image), random images."""
    batch = len(boxes)
    true_shapes = true_shapes or [(height, width)] * batch
    gt = np.zeros([batch, max_instances, 4], np.float32)
    classes = np.zeros([batch, max_instances], np.int32)
    masks = np.zeros([batch, max_instances, height, width], np.uint8)
    for b, image_boxes in enumerate(boxes):
        th, tw = true_shapes[b]
        for i, (y0, x0, y1, x1) in enumerate(image_boxes):
            gt[b, i] = (y0, x0, y1, x1)
            classes[b, i] = 1
            masks[b, i, int(y0 * th):int(y1 * th), int(x0 * tw):int(x1 * tw)] = 1
    rng = np.random.default_rng(0)
    return {
        InputFields.image: tf.constant(rng.uniform(0, 255, [batch, height, width, 3]),
                                       tf.float32),
        InputFields.true_image_shape: tf.constant([[h, w, 3] for h, w in true_shapes],
                                                  tf.int32),
        InputFields.groundtruth_boxes: tf.constant(gt),
        InputFields.groundtruth_classes: tf.constant(classes),
        InputFields.groundtruth_instance_masks: tf.constant(masks),
        InputFields.num_groundtruth_boxes: tf.constant([len(b) for b in boxes], tf.int32),
    }
