"""Shared fixtures of the training tests: tiny generated records and a tiny Mask R-CNN config.

The model is configs/quickstart.config shrunk by overrides: 64 x 64 images, anchors of 16 to
128 px, 10 proposals, 8 second-stage samples, a mask head of one 16-channel conv and the mask
conv, 2 evaluation images per batch. The data: 4 training and 2 evaluation maps of 64 x 64 pixels from ``synthetic_dataset`` (generated once per test session).
"""

from __future__ import annotations

from pathlib import Path

import pytest

from object_detection import config as config_lib
from object_detection.dataset_tools.synthetic_dataset import (SplitSpec, ensure_synthetic_dataset,
                                                              record_pattern)

REPO = Path(__file__).resolve().parents[2]
QUICKSTART = REPO / "configs" / "quickstart.config"
LABEL_MAP = REPO / "configs" / "pictorial_maps_label_map.pbtxt"

TINY_SPLITS = (SplitSpec("train", num_maps=4, seed=1, height=64, width=64),
               SplitSpec("eval", num_maps=2, seed=2, height=64, width=64))


@pytest.fixture(scope="session")
def tiny_data(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("tiny_maps")
    ensure_synthetic_dataset(str(root), TINY_SPLITS)
    return root


def tiny_model_overrides() -> list[str]:
    """Overrides of configs/quickstart.config for a model that trains a step in ~0.05 s (all
    but the record paths, which experiment grids set themselves)."""
    nms = "model.faster_rcnn.second_stage_post_processing.batch_non_max_suppression"
    masks = "model.faster_rcnn.second_stage_box_predictor.mask_rcnn_box_predictor"
    return [
        "model.faster_rcnn.image_resizer={fixed_shape_resizer {height: 64 width: 64}}",
        f"{masks}.mask_prediction_conv_depth=16",
        f"{masks}.mask_prediction_num_conv_layers=2",
        "model.faster_rcnn.first_stage_max_proposals=10",
        "model.faster_rcnn.second_stage_batch_size=8",
        f"{nms}.max_total_detections=10",
        f"{nms}.max_detections_per_class=10",
        f"train_input_reader.label_map_path={LABEL_MAP}",
        "train_input_reader.shuffle_buffer_size=8",
        f"eval_input_reader[0].label_map_path={LABEL_MAP}",
        "eval_config.batch_size=2",
    ]


# The tiny model made deterministic for comparing replicas or workers with one process:
# frozen batch norm, every anchor and proposal kept (no sampling), no mask loss, batch 2 and a
# small momentum step.
_GRID = "model.faster_rcnn.first_stage_anchor_generator.grid_anchor_generator"
DETERMINISTIC_OVERRIDES = [
    "model.faster_rcnn.feature_extractor.batch_norm_trainable=false",
    f"{_GRID}.scales=[0.125, 0.25]",
    f"{_GRID}.aspect_ratios=[1.0]",
    "model.faster_rcnn.first_stage_minibatch_size=256",
    "model.faster_rcnn.first_stage_positive_balance_fraction=1.0",
    "model.faster_rcnn.first_stage_nms_iou_threshold=1.0",
    "model.faster_rcnn.first_stage_max_proposals=128",
    "model.faster_rcnn.second_stage_batch_size=128",
    "model.faster_rcnn.second_stage_balance_fraction=1.0",
    "model.faster_rcnn.second_stage_mask_prediction_loss_weight=0.0",
    "train_config.batch_size=2",
    ("train_config.optimizer={momentum_optimizer {learning_rate {constant_learning_rate "
     "{learning_rate: 0.0001}} momentum_optimizer_value: 0.9}}"),
]


def tiny_overrides(data_root: Path) -> list[str]:
    """``tiny_model_overrides`` and the tiny records."""
    return tiny_model_overrides() + [
        # anchors of 16 to 128 px for the 64 px images (a grid sets them from anchor_scales)
        "model.faster_rcnn.first_stage_anchor_generator.grid_anchor_generator.scales="
        "[0.0625, 0.125, 0.25, 0.5]",
        f"train_input_reader.tf_record_input_reader.input_path="
        f"{record_pattern(str(data_root), 'train')}",
        f"eval_input_reader[0].tf_record_input_reader.input_path="
        f"{record_pattern(str(data_root), 'eval')}",
    ]


@pytest.fixture(scope="session")
def tiny_config(tiny_data):
    """The tiny pipeline config (a fresh copy per call of the returned function)."""
    def make(extra: list[str] | tuple[str, ...] = ()):
        return config_lib.load_pipeline_config(QUICKSTART, tiny_overrides(tiny_data) + list(extra))
    return make
