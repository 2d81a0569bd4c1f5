"""The configs shipped under configs/: they read, they are sound, and they say what the docs say."""

from __future__ import annotations

from pathlib import Path

import pytest

from object_detection import config as config_lib
from object_detection import label_map
from object_detection.protos import input_reader_pb2, post_processing_pb2

CONFIGS_DIR = Path(__file__).resolve().parents[1] / "configs"
PUBLISHED = CONFIGS_DIR / "mask_rcnn_resnet101_atrous_pictorial_maps.config"


@pytest.mark.parametrize("path", sorted(CONFIGS_DIR.glob("*.config")), ids=lambda p: p.name)
def test_shipped_config_reads_and_is_sound(path):
    config = config_lib.load_pipeline_config(path)
    config_lib.validate(config)
    labels = label_map.load_label_map(CONFIGS_DIR.parent / config.train_input_reader.label_map_path)
    assert len(labels) == config.model.faster_rcnn.num_classes or max(labels.values()) == 90


def test_published_config_is_the_published_setting():
    frcnn = config_lib.load_pipeline_config(PUBLISHED).model.faster_rcnn
    train = config_lib.load_pipeline_config(PUBLISHED).train_config
    assert frcnn.num_classes == 1
    assert (frcnn.image_resizer.keep_aspect_ratio_resizer.min_dimension,
            frcnn.image_resizer.keep_aspect_ratio_resizer.max_dimension) == (800, 1365)
    assert frcnn.feature_extractor.type == "faster_rcnn_resnet101"
    assert frcnn.feature_extractor.first_stage_features_stride == 8
    grid = frcnn.first_stage_anchor_generator.grid_anchor_generator
    assert list(grid.scales) == [0.25, 0.5, 1.0, 2.0]
    assert list(grid.aspect_ratios) == [0.5, 1.0, 2.0]
    assert (grid.height_stride, grid.width_stride) == (8, 8)
    assert frcnn.first_stage_atrous_rate == 2
    assert (frcnn.first_stage_nms_score_threshold, frcnn.first_stage_nms_iou_threshold,
            frcnn.first_stage_max_proposals) == (0.0, pytest.approx(0.7), 300)
    assert (frcnn.initial_crop_size, frcnn.maxpool_kernel_size, frcnn.maxpool_stride) == (14, 2, 2)
    mask = frcnn.second_stage_box_predictor.mask_rcnn_box_predictor
    assert mask.predict_instance_masks and (mask.mask_height, mask.mask_width) == (33, 33)
    assert (mask.mask_prediction_num_conv_layers, mask.mask_prediction_conv_depth) == (4, 0)
    assert (frcnn.first_stage_localization_loss_weight, frcnn.first_stage_objectness_loss_weight,
            frcnn.second_stage_localization_loss_weight,
            frcnn.second_stage_classification_loss_weight,
            frcnn.second_stage_mask_prediction_loss_weight) == (2, 1, 2, 1, 4)
    nms = frcnn.second_stage_post_processing.batch_non_max_suppression
    assert (nms.score_threshold, nms.iou_threshold) == (pytest.approx(0.3), pytest.approx(0.6))
    assert (nms.max_detections_per_class, nms.max_total_detections) == (100, 300)
    assert frcnn.second_stage_post_processing.score_converter == post_processing_pb2.PostProcessing.SOFTMAX
    assert train.batch_size == 1
    momentum = train.optimizer.momentum_optimizer
    assert momentum.momentum_optimizer_value == pytest.approx(0.9)
    assert momentum.learning_rate.constant_learning_rate.learning_rate == pytest.approx(3e-4)
    assert train.gradient_clipping_by_norm == 10
    assert [o.WhichOneof("preprocessing_step") for o in train.data_augmentation_options] == [
        "random_horizontal_flip"]
    config = config_lib.load_pipeline_config(PUBLISHED)
    assert config.train_input_reader.mask_type == input_reader_pb2.PNG_MASKS
    assert config.eval_config.metrics_set == ["coco_mask_metrics"]


def test_label_maps_read():
    assert label_map.load_label_map(CONFIGS_DIR / "pictorial_maps_label_map.pbtxt") == {"character": 1}
    coco = label_map.load_label_map(CONFIGS_DIR / "mscoco_label_map.pbtxt")
    assert len(coco) == 80 and coco["person"] == 1 and coco["toothbrush"] == 90
