"""The config schema: generated modules are fresh, OD API configs parse, numbers match the OD API."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from google.protobuf import text_format

from tests.odapi_reference import REFERENCE_CONFIGS, REFERENCE_DIR
from object_detection.protos import (
    box_predictor_pb2,
    faster_rcnn_pb2,
    generate,
    input_reader_pb2,
    optimizer_pb2,
    pipeline_pb2,
    post_processing_pb2,
    preprocessor_pb2,
    string_int_label_map_pb2,
    train_pb2,
)



def test_generated_modules_are_fresh():
    result = subprocess.run(
        [sys.executable, "-m", "object_detection.protos.generate", "--check"],
        capture_output=True, text=True, cwd=generate.REPO_ROOT, check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_check_reports_stale_missing_and_orphaned_modules(tmp_path):
    for module in generate.PACKAGE_DIR.glob("*_pb2.py"):
        shutil.copy(module, tmp_path / module.name)
    assert generate.stale_files(package_dir=tmp_path) == []

    (tmp_path / "fpn_pb2.py").write_text("# edited by hand\n")
    (tmp_path / "eval_pb2.py").unlink()
    (tmp_path / "old_pb2.py").write_text("")
    problems = generate.stale_files(package_dir=tmp_path)
    assert problems == [
        "eval_pb2.py (missing)",
        "fpn_pb2.py (stale)",
        f"old_pb2.py (no source in {generate.PROTO_DIR})",
    ]

    generate.generate(package_dir=tmp_path)
    assert generate.stale_files(package_dir=tmp_path) == []
    assert not (tmp_path / "old_pb2.py").exists()


def test_missing_grpc_tools_gives_install_hint(monkeypatch, tmp_path):
    monkeypatch.setattr(generate.importlib.util, "find_spec", lambda name: None)
    with pytest.raises(RuntimeError, match=r"pip install -e \.\[test\]"):
        generate.run_protoc(tmp_path)


@pytest.mark.skipif(not REFERENCE_CONFIGS, reason=f"no configs in {REFERENCE_DIR}")
@pytest.mark.parametrize("path", REFERENCE_CONFIGS, ids=lambda path: path.name)
def test_reference_config_parses(path):
    config = pipeline_pb2.TrainEvalPipelineConfig()
    text_format.Merge(path.read_text(), config)
    frcnn = config.model.faster_rcnn
    assert config.model.WhichOneof("model") == "faster_rcnn"
    assert frcnn.num_classes > 0
    assert frcnn.second_stage_box_predictor.WhichOneof("box_predictor_oneof") == (
        "mask_rcnn_box_predictor"
    )
    assert config.train_input_reader.tf_record_input_reader.input_path
    assert len(config.eval_input_reader) == 1


def _field(message, name):
    return message.DESCRIPTOR.fields_by_name[name]


@pytest.mark.parametrize(
    "message, name, number, default",
    [
        # Looked up in the OD API's research/object_detection/protos.
        (faster_rcnn_pb2.FasterRcnn, "number_of_stages", 1, 2),
        (faster_rcnn_pb2.FasterRcnn, "feature_extractor", 5, None),
        (faster_rcnn_pb2.FasterRcnn, "first_stage_max_proposals", 15, 300),
        (faster_rcnn_pb2.FasterRcnn, "second_stage_batch_size", 22, 64),
        (faster_rcnn_pb2.FasterRcnn, "resize_masks", 36, True),
        (faster_rcnn_pb2.FasterRcnn, "use_partitioned_nms_in_first_stage", 38, True),
        (faster_rcnn_pb2.FasterRcnnFeatureExtractor, "first_stage_features_stride", 2, 16),
        (faster_rcnn_pb2.FasterRcnnFeatureExtractor, "pad_to_multiple", 6, 32),
        (box_predictor_pb2.MaskRCNNBoxPredictor, "mask_height", 9, 15),
        (box_predictor_pb2.MaskRCNNBoxPredictor, "mask_prediction_conv_depth", 7, 256),
        (post_processing_pb2.BatchNonMaxSuppression, "max_total_detections", 5, 100),
        (train_pb2.TrainConfig, "fine_tune_checkpoint_version", 28, train_pb2.V1),
        (train_pb2.TrainConfig, "batch_size", 1, 32),
        (input_reader_pb2.InputReader, "mask_type", 10, input_reader_pb2.NUMERICAL_MASKS),
        (input_reader_pb2.InputReader, "num_readers", 6, 64),
        (optimizer_pb2.CosineDecayLearningRate, "warmup_steps", 4, 10000),
        (optimizer_pb2.Optimizer, "moving_average_decay", 5, pytest.approx(0.9999)),
        (preprocessor_pb2.PreprocessingStep, "random_rotation90", 26, None),
        (string_int_label_map_pb2.StringIntLabelMapItem, "display_name", 3, ""),
    ],
)
def test_field_numbers_and_defaults(message, name, number, default):
    field = _field(message, name)
    assert field.number == number
    if default is not None:
        assert getattr(message(), name) == default


def test_wire_format_matches_hand_encoded_bytes():
    # Tag byte = (field number << 3) | wire type (0 = varint, 2 = length-delimited).
    extractor = faster_rcnn_pb2.FasterRcnnFeatureExtractor(first_stage_features_stride=8)
    assert extractor.SerializeToString() == bytes([2 << 3, 8])
    model = faster_rcnn_pb2.FasterRcnn(num_classes=1)
    model.feature_extractor.first_stage_features_stride = 8
    assert model.SerializeToString() == bytes([3 << 3, 1, (5 << 3) | 2, 2, 2 << 3, 8])
    config = pipeline_pb2.TrainEvalPipelineConfig()
    config.eval_input_reader.add(num_epochs=1)
    config.eval_input_reader.add(num_epochs=2)
    assert config.SerializeToString() == bytes(
        [(5 << 3) | 2, 2, 5 << 3, 1, (5 << 3) | 2, 2, 5 << 3, 2]
    )


SMALL_CONFIG = """
train_config {
  batch_size: 2
  data_augmentation_options { random_horizontal_flip { probability: 0.3 } }
  data_augmentation_options { random_vertical_flip { } }
  data_augmentation_options { random_rotation90 { } }
  data_augmentation_options { random_adjust_brightness { max_delta: 0.1 } }
  data_augmentation_options { random_adjust_contrast { min_delta: 0.7 max_delta: 1.1 } }
  data_augmentation_options { random_adjust_hue { } }
  data_augmentation_options { random_adjust_saturation { min_delta: 0.9 } }
  data_augmentation_options { random_image_scale { min_scale_ratio: 0.8 max_scale_ratio: 1.2 } }
  data_augmentation_options { random_crop_image { min_area: 0.5 random_coef: 0.25 } }
  data_augmentation_options { random_jitter_boxes { ratio: 0.02 jitter_mode: SHRINK } }
  optimizer {
    adam_optimizer {
      learning_rate {
        manual_step_learning_rate {
          initial_learning_rate: 0.001
          schedule { step: 100 learning_rate: 0.0001 }
          schedule { step: 200 learning_rate: 0.00001 }
          warmup: true
        }
      }
    }
    use_moving_average: false
  }
  fine_tune_checkpoint_version: V2
  num_steps: 300
}
"""


def test_small_config_with_augmentations_and_optimizer():
    config = text_format.Parse(SMALL_CONFIG, pipeline_pb2.TrainEvalPipelineConfig())
    train = config.train_config
    steps = [step.WhichOneof("preprocessing_step") for step in train.data_augmentation_options]
    assert steps == [
        "random_horizontal_flip", "random_vertical_flip", "random_rotation90",
        "random_adjust_brightness", "random_adjust_contrast", "random_adjust_hue",
        "random_adjust_saturation", "random_image_scale", "random_crop_image",
        "random_jitter_boxes",
    ]
    options = train.data_augmentation_options
    assert options[0].random_horizontal_flip.probability == pytest.approx(0.3)
    assert options[1].random_vertical_flip.probability == pytest.approx(0.5)  # default
    assert options[4].random_adjust_contrast.max_delta == pytest.approx(1.1)
    assert options[6].random_adjust_saturation.max_delta == pytest.approx(1.25)  # default
    assert options[8].random_crop_image.min_aspect_ratio == pytest.approx(0.75)  # default
    assert options[9].random_jitter_boxes.jitter_mode == (
        preprocessor_pb2.RandomJitterBoxes.SHRINK
    )
    assert train.optimizer.WhichOneof("optimizer") == "adam_optimizer"
    adam = train.optimizer.adam_optimizer
    assert adam.epsilon == pytest.approx(1e-8)
    schedule = adam.learning_rate.manual_step_learning_rate
    assert [entry.step for entry in schedule.schedule] == [100, 200]
    assert schedule.warmup
    assert train.fine_tune_checkpoint_version == train_pb2.V2


@pytest.mark.parametrize(
    "text, kind",
    [
        ("constant_learning_rate { learning_rate: 0.01 }", "constant_learning_rate"),
        (
            "exponential_decay_learning_rate { initial_learning_rate: 0.01 decay_steps: 10 "
            "decay_factor: 0.5 burnin_learning_rate: 0.001 burnin_steps: 5 }",
            "exponential_decay_learning_rate",
        ),
        (
            "cosine_decay_learning_rate { learning_rate_base: 0.04 total_steps: 1000 "
            "warmup_learning_rate: 0.01 warmup_steps: 100 hold_base_rate_steps: 50 }",
            "cosine_decay_learning_rate",
        ),
    ],
)
@pytest.mark.parametrize("optimizer", ["momentum_optimizer", "rms_prop_optimizer"])
def test_learning_rate_variants(optimizer, text, kind):
    parsed = text_format.Parse(
        f"{optimizer} {{ learning_rate {{ {text} }} }}", optimizer_pb2.Optimizer()
    )
    assert parsed.WhichOneof("optimizer") == optimizer
    learning_rate = getattr(parsed, optimizer).learning_rate
    assert learning_rate.WhichOneof("learning_rate") == kind


def test_unknown_field_is_rejected_with_its_line():
    with pytest.raises(text_format.ParseError, match=r"^3:3 .*no_such_field"):
        text_format.Parse(
            "model {\n faster_rcnn {\n  no_such_field: 1\n }\n}\n",
            pipeline_pb2.TrainEvalPipelineConfig(),
        )
