"""The published config (ResNet-101 atrous Mask R-CNN): one training step and one inference on a
small image, and a complete mapping to the TF1 OD API checkpoint names."""

from __future__ import annotations

import numpy as np
import pytest
import tensorflow as tf

from object_detection.fields import LossNames
from tests.meta_architectures.model_helpers import (PUBLISHED, box_batch, build_model,
                                                    make_train_step)

# A 64 x 96 image instead of 800 x 1365, and fewer proposals and detections, so that block4
# (run once per box) stays within seconds on a CPU; everything else is the published setting.
SMALL = (
    "model.faster_rcnn.image_resizer={fixed_shape_resizer {height: 64 width: 96}}",
    "model.faster_rcnn.first_stage_max_proposals=16",
    "model.faster_rcnn.second_stage_batch_size=8",
    ("model.faster_rcnn.second_stage_post_processing.batch_non_max_suppression"
     ".max_detections_per_class=8"),
    ("model.faster_rcnn.second_stage_post_processing.batch_non_max_suppression"
     ".max_total_detections=8"),
)

# The heads of the published model as the OD API names and shapes them (one class).
HEAD_SHAPES = {
    "Conv/weights": (3, 3, 1024, 512), "Conv/biases": (512,),
    "FirstStageBoxPredictor/BoxEncodingPredictor/weights": (1, 1, 512, 48),
    "FirstStageBoxPredictor/BoxEncodingPredictor/biases": (48,),
    "FirstStageBoxPredictor/ClassPredictor/weights": (1, 1, 512, 24),
    "FirstStageBoxPredictor/ClassPredictor/biases": (24,),
    "SecondStageBoxPredictor/BoxEncodingPredictor/weights": (2048, 4),
    "SecondStageBoxPredictor/BoxEncodingPredictor/biases": (4,),
    "SecondStageBoxPredictor/ClassPredictor/weights": (2048, 2),
    "SecondStageBoxPredictor/ClassPredictor/biases": (2,),
    "SecondStageBoxPredictor/Conv/weights": (3, 3, 2048, 16),
    "SecondStageBoxPredictor/Conv/biases": (16,),
    "SecondStageBoxPredictor/Conv_1/weights": (3, 3, 16, 16),
    "SecondStageBoxPredictor/Conv_1/biases": (16,),
    "SecondStageBoxPredictor/Conv_2/weights": (3, 3, 16, 16),
    "SecondStageBoxPredictor/Conv_2/biases": (16,),
    "SecondStageBoxPredictor/Conv_3/weights": (3, 3, 16, 1),
    "SecondStageBoxPredictor/Conv_3/biases": (1,),
}


@pytest.fixture(scope="module")
def published_model():
    return build_model(PUBLISHED, SMALL)


def test_published_model_inference_then_training_step(published_model):
    model = published_model
    images = tf.random.uniform([1, 64, 96, 3], 0, 255, seed=5)
    detections = model(images, tf.constant([[64, 90, 3]]))
    assert {name: tuple(t.shape) for name, t in detections.items()} == {
        "num_detections": (1,), "detection_boxes": (1, 8, 4), "detection_scores": (1, 8),
        "detection_classes": (1, 8), "detection_masks": (1, 8, 33, 33)}
    boxes = detections["detection_boxes"].numpy()
    assert (boxes >= 0.0).all() and (boxes <= 1.0).all()

    batch = box_batch([[[0.2, 0.1, 0.9, 0.5]]], 64, 96, max_instances=2)
    optimizer = tf.keras.optimizers.SGD(1e-3)
    before = [v.numpy() for v in model.trainable_variables]

    train_step = make_train_step(model, optimizer)
    losses, _ = train_step(batch)
    assert set(losses) == {LossNames.rpn_localization, LossNames.rpn_objectness,
                           LossNames.box_localization, LossNames.box_classification,
                           LossNames.mask}
    assert all(np.isfinite(float(v)) for v in losses.values())
    changed = [not np.array_equal(b, v.numpy()) for b, v in zip(before, model.trainable_variables)]
    assert sum(changed) > len(changed) // 2
    # The published backbone keeps batch norm frozen: only conv weights and heads train.
    assert not any("gamma" in v.path or "beta" in v.path for v in model.trainable_variables)


def test_published_model_maps_completely_to_od_api_checkpoint_names(published_model):
    names = published_model.slim_variable_names()
    for name, shape in HEAD_SHAPES.items():
        assert tuple(names[name].shape) == shape, name
    others = set(names) - set(HEAD_SHAPES)
    assert all(n.startswith(("FirstStageFeatureExtractor/resnet_v1_101/",
                             "SecondStageFeatureExtractor/resnet_v1_101/block4/"))
               for n in others)
    assert "FirstStageFeatureExtractor/resnet_v1_101/conv1/weights" in names
    assert ("SecondStageFeatureExtractor/resnet_v1_101/block4/unit_3/bottleneck_v1/conv3/"
            "BatchNorm/moving_variance") in names
    # Every variable of the model has exactly one name (the samplers' seed state aside).
    mapped = [id(v) for v in names.values()]
    assert len(mapped) == len(set(mapped))
    model_variables = {id(v) for v in published_model.variables
                       if v is not published_model.seed_generator.state}
    assert set(mapped) == model_variables
