"""config.diff: the fields where two pipeline configs differ, each named with both values."""

from __future__ import annotations

from pathlib import Path

from object_detection import config as config_lib
from object_detection.config.diff import message_differences
from object_detection.protos import pipeline_pb2

QUICKSTART_BASE = Path(__file__).resolve().parents[1] / "configs" / "quickstart.config"


def test_message_differences_name_each_field():
    a = config_lib.load_pipeline_config(QUICKSTART_BASE)
    b = pipeline_pb2.TrainEvalPipelineConfig()
    b.CopyFrom(a)
    assert message_differences(a, b) == []
    b.train_config.batch_size = 3
    b.eval_input_reader[0].mask_type = 1  # NUMERICAL_MASKS
    b.train_config.ClearField("data_augmentation_options")
    b.model.faster_rcnn.second_stage_post_processing.batch_non_max_suppression.iou_threshold = 0.1
    nms = "model.faster_rcnn.second_stage_post_processing.batch_non_max_suppression"
    assert [str(d) for d in message_differences(a, b)] == [
        f"{nms}.iou_threshold is 0.6 there, 0.1 in the grid",
        "train_config.batch_size is 2 there, 3 in the grid",
        "train_config.data_augmentation_options is 1 entries there, 0 entries in the grid",
        "eval_input_reader[0].mask_type is PNG_MASKS there, NUMERICAL_MASKS in the grid",
    ]
