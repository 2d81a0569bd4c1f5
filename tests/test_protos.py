"""The config schema: generated modules are fresh, OD API configs parse (the Faster / Mask R-CNN
ones and SSD), field numbers and defaults match the OD API."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from google.protobuf import text_format

from tests.odapi_reference import REFERENCE_CONFIGS, REFERENCE_DIR
from object_detection import config as config_lib
from object_detection.builders import model_builder
from object_detection.protos import (
    anchor_generator_pb2,
    box_coder_pb2,
    box_predictor_pb2,
    faster_rcnn_pb2,
    generate,
    input_reader_pb2,
    losses_pb2,
    matcher_pb2,
    model_pb2,
    optimizer_pb2,
    pipeline_pb2,
    post_processing_pb2,
    preprocessor_pb2,
    region_similarity_calculator_pb2,
    ssd_anchor_generator_pb2,
    ssd_pb2,
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


# --------------------------------------------------------------------------------------------
# The SSD branch: read (so every OD API config loads), refused later by the model builder.

# A MobileNet SSD in the style of the OD API's ssd_mobilenet_v1_coco.config (own values).
SSD_MOBILENET_CONFIG = """
model {
  ssd {
    num_classes: 4
    box_coder {
      faster_rcnn_box_coder { y_scale: 10.0 x_scale: 10.0 height_scale: 5.0 width_scale: 5.0 }
    }
    matcher {
      argmax_matcher {
        matched_threshold: 0.6
        unmatched_threshold: 0.4
        ignore_thresholds: false
        force_match_for_each_row: true
      }
    }
    similarity_calculator { iou_similarity { } }
    anchor_generator {
      ssd_anchor_generator {
        num_layers: 6
        min_scale: 0.15
        max_scale: 0.9
        aspect_ratios: 1.0
        aspect_ratios: 2.0
        aspect_ratios: 0.5
        aspect_ratios: 3.0
        aspect_ratios: 0.3333
      }
    }
    image_resizer { fixed_shape_resizer { height: 320 width: 320 } }
    box_predictor {
      convolutional_box_predictor {
        min_depth: 0
        max_depth: 0
        num_layers_before_predictor: 0
        use_dropout: false
        kernel_size: 1
        box_code_size: 4
        conv_hyperparams {
          activation: RELU_6
          regularizer { l2_regularizer { weight: 0.00005 } }
          initializer { truncated_normal_initializer { mean: 0.0 stddev: 0.02 } }
          batch_norm { train: true scale: true center: true decay: 0.999 epsilon: 0.001 }
        }
      }
    }
    feature_extractor {
      type: "ssd_mobilenet_v1"
      min_depth: 8
      depth_multiplier: 0.75
      conv_hyperparams {
        activation: RELU_6
        regularizer { l2_regularizer { weight: 0.00005 } }
        initializer { truncated_normal_initializer { stddev: 0.02 } }
        batch_norm { train: true scale: true center: true decay: 0.999 epsilon: 0.001 }
      }
    }
    loss {
      classification_loss { weighted_sigmoid { } }
      localization_loss { weighted_smooth_l1 { } }
      hard_example_miner {
        num_hard_examples: 2000
        iou_threshold: 0.95
        loss_type: CLASSIFICATION
        max_negatives_per_positive: 3
        min_negatives_per_image: 2
      }
      classification_weight: 1.0
      localization_weight: 2.0
    }
    normalize_loss_by_num_matches: true
    post_processing {
      batch_non_max_suppression {
        score_threshold: 1e-8
        iou_threshold: 0.5
        max_detections_per_class: 50
        max_total_detections: 80
      }
      score_converter: SIGMOID
    }
  }
}
train_config {
  batch_size: 16
  optimizer {
    rms_prop_optimizer {
      learning_rate {
        exponential_decay_learning_rate {
          initial_learning_rate: 0.003
          decay_steps: 50000
          decay_factor: 0.9
        }
      }
      momentum_optimizer_value: 0.9
      decay: 0.9
      epsilon: 1.0
    }
  }
  fine_tune_checkpoint: "checkpoints/mobilenet_v1/model.ckpt"
  from_detection_checkpoint: true
  num_steps: 120000
  data_augmentation_options { random_horizontal_flip { } }
  data_augmentation_options { ssd_random_crop { } }
}
train_input_reader {
  tf_record_input_reader { input_path: "data/maps_train.record-?????-of-00010" }
  label_map_path: "data/maps_label_map.pbtxt"
}
eval_config { num_examples: 500 max_evals: 5 use_moving_averages: false }
eval_input_reader {
  tf_record_input_reader { input_path: "data/maps_val.record-?????-of-00002" }
  label_map_path: "data/maps_label_map.pbtxt"
  shuffle: false
  num_readers: 1
}
"""

# A RetinaNet-style SSD with a ResNet-50 FPN, in the style of the OD API's
# ssd_resnet50_v1_fpn_640x640_coco17_tpu-8.config (own values); model part only.
SSD_FPN_MODEL = """
model {
  ssd {
    num_classes: 2
    image_resizer { fixed_shape_resizer { height: 512 width: 512 } }
    feature_extractor {
      type: "ssd_resnet50_v1_fpn_keras"
      depth_multiplier: 1.0
      min_depth: 16
      conv_hyperparams {
        regularizer { l2_regularizer { weight: 0.0003 } }
        initializer { truncated_normal_initializer { mean: 0.0 stddev: 0.03 } }
        activation: RELU_6
        batch_norm { scale: true decay: 0.99 epsilon: 0.001 }
      }
      override_base_feature_extractor_hyperparams: true
      fpn { min_level: 3 max_level: 6 }
    }
    box_coder { faster_rcnn_box_coder { y_scale: 10.0 x_scale: 10.0 height_scale: 5.0 } }
    matcher {
      argmax_matcher {
        matched_threshold: 0.5
        unmatched_threshold: 0.5
        ignore_thresholds: false
        negatives_lower_than_unmatched: true
        force_match_for_each_row: true
        use_matmul_gather: true
      }
    }
    similarity_calculator { iou_similarity { } }
    encode_background_as_zeros: true
    anchor_generator {
      multiscale_anchor_generator {
        min_level: 3
        max_level: 6
        anchor_scale: 3.0
        aspect_ratios: [1.0, 2.0, 0.5]
        scales_per_octave: 3
      }
    }
    box_predictor {
      weight_shared_convolutional_box_predictor {
        depth: 128
        class_prediction_bias_init: -4.0
        conv_hyperparams {
          regularizer { l2_regularizer { weight: 0.0003 } }
          initializer { random_normal_initializer { mean: 0.0 stddev: 0.01 } }
          activation: RELU_6
          batch_norm { scale: true decay: 0.99 epsilon: 0.001 }
        }
        num_layers_before_predictor: 3
        kernel_size: 3
      }
    }
    loss {
      classification_loss { weighted_sigmoid_focal { alpha: 0.3 gamma: 1.5 } }
      localization_loss { weighted_smooth_l1 { } }
      classification_weight: 1.0
      localization_weight: 1.0
    }
    normalize_loss_by_num_matches: true
    normalize_loc_loss_by_codesize: true
    freeze_batchnorm: false
    post_processing {
      batch_non_max_suppression {
        score_threshold: 1e-8
        iou_threshold: 0.55
        max_detections_per_class: 64
        max_total_detections: 64
        use_static_shapes: false
      }
      score_converter: SIGMOID
    }
  }
}
"""


def _write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "ssd.config"
    path.write_text(text)
    return path


def test_ssd_mobilenet_config_reads(tmp_path):
    config = config_lib.load_pipeline_config(_write(tmp_path, SSD_MOBILENET_CONFIG))
    assert config.model.WhichOneof("model") == "ssd"
    ssd = config.model.ssd
    assert ssd.num_classes == 4
    assert ssd.feature_extractor.type == "ssd_mobilenet_v1"
    assert ssd.feature_extractor.depth_multiplier == pytest.approx(0.75)
    assert ssd.feature_extractor.WhichOneof("feature_pyramid_oneof") is None
    assert ssd.box_coder.WhichOneof("box_coder_oneof") == "faster_rcnn_box_coder"
    assert ssd.similarity_calculator.WhichOneof("region_similarity") == "iou_similarity"
    matcher = ssd.matcher.argmax_matcher
    assert (matcher.matched_threshold, matcher.unmatched_threshold) == (
        pytest.approx(0.6), pytest.approx(0.4)
    )
    assert matcher.negatives_lower_than_unmatched  # default, not in the text
    anchors = ssd.anchor_generator
    assert anchors.WhichOneof("anchor_generator_oneof") == "ssd_anchor_generator"
    assert list(anchors.ssd_anchor_generator.aspect_ratios) == pytest.approx(
        [1.0, 2.0, 0.5, 3.0, 0.3333]
    )
    assert anchors.ssd_anchor_generator.reduce_boxes_in_lowest_layer  # default
    assert ssd.box_predictor.WhichOneof("box_predictor_oneof") == "convolutional_box_predictor"
    assert ssd.loss.hard_example_miner.loss_type == losses_pb2.HardExampleMiner.CLASSIFICATION
    assert ssd.post_processing.score_converter == post_processing_pb2.PostProcessing.SIGMOID
    assert ssd.add_background_class and not ssd.encode_background_as_zeros  # defaults
    options = config.train_config.data_augmentation_options
    steps = [option.WhichOneof("preprocessing_step") for option in options]
    assert steps == ["random_horizontal_flip", "ssd_random_crop"]


def test_ssd_fpn_config_reads_and_round_trips(tmp_path):
    config = config_lib.load_pipeline_config(_write(tmp_path, SSD_FPN_MODEL))
    ssd = config.model.ssd
    assert ssd.feature_extractor.WhichOneof("feature_pyramid_oneof") == "fpn"
    assert (ssd.feature_extractor.fpn.min_level, ssd.feature_extractor.fpn.max_level) == (3, 6)
    assert ssd.feature_extractor.override_base_feature_extractor_hyperparams
    assert ssd.anchor_generator.multiscale_anchor_generator.scales_per_octave == 3
    predictor = ssd.box_predictor.weight_shared_convolutional_box_predictor
    assert (predictor.depth, predictor.num_layers_before_predictor) == (128, 3)
    focal = ssd.loss.classification_loss.weighted_sigmoid_focal
    assert (focal.alpha, focal.gamma) == (pytest.approx(0.3), pytest.approx(1.5))
    assert ssd.matcher.argmax_matcher.use_matmul_gather
    assert ssd.box_coder.faster_rcnn_box_coder.width_scale == 5.0  # default, not in the text
    assert ssd.encode_background_as_zeros and ssd.normalize_loc_loss_by_codesize

    written = config_lib.write_pipeline_config(config, tmp_path / "out" / "pipeline.config")
    assert config_lib.load_pipeline_config(written) == config


def test_ssd_overrides_apply_and_validation_refuses_ssd_as_the_builder_does(tmp_path):
    path = _write(tmp_path, SSD_MOBILENET_CONFIG)
    config = config_lib.load_pipeline_config(
        path,
        overrides=[
            "model.ssd.num_classes=1",
            "model.ssd.matcher={bipartite_matcher {use_matmul_gather: true}}",
            "model.ssd.feature_extractor.bifpn={min_level: 3 max_level: 7 num_iterations: 3}",
        ],
    )
    ssd = config.model.ssd
    assert ssd.num_classes == 1
    assert ssd.matcher.WhichOneof("matcher_oneof") == "bipartite_matcher"
    assert ssd.matcher.bipartite_matcher.use_matmul_gather
    assert ssd.feature_extractor.WhichOneof("feature_pyramid_oneof") == "bifpn"
    # the checks read the builder's table (config.supported): both refuse ssd for one reason
    with pytest.raises(ValueError, match=r"^model: not supported: ssd \(supported: faster_rcnn\)"):
        model_builder.build(config.model, is_training=False)
    with pytest.raises(config_lib.ConfigError,
                       match=r"model: not supported: ssd \(supported: faster_rcnn\)"):
        config_lib.validate(config)


@pytest.mark.parametrize(
    "old, new, words",
    [
        ("num_layers: 6", "num_layer: 6",
         'unknown field "num_layer" in object_detection.protos.SsdAnchorGenerator at '
         'model.ssd.anchor_generator.ssd_anchor_generator (did you mean "num_layers"?)'),
        ("iou_similarity { }", "iou_similarty { }",
         "model.ssd.similarity_calculator.iou_similarty is not supported (supported: "
         "neg_sq_dist_similarity, iou_similarity, ioa_similarity, thresholded_iou_similarity)"),
        ("argmax_matcher {", "hungarian_matcher {",
         "model.ssd.matcher.hungarian_matcher is not supported "
         "(supported: argmax_matcher, bipartite_matcher)"),
        ("  ssd {", "  faster_rcnn { }\n  ssd {",
         "field model.ssd is set along with model.faster_rcnn"),
    ],
)
def test_ssd_config_errors_name_the_field(tmp_path, old, new, words):
    assert old in SSD_MOBILENET_CONFIG
    path = _write(tmp_path, SSD_MOBILENET_CONFIG.replace(old, new, 1))
    with pytest.raises(config_lib.ConfigError) as info:
        config_lib.load_pipeline_config(path)
    assert str(info.value).startswith(f"{path}:")
    assert words in str(info.value)


@pytest.mark.parametrize(
    "message, name, number, default",
    [
        # Looked up in the OD API's research/object_detection/protos.
        (model_pb2.DetectionModel, "ssd", 2, None),
        (anchor_generator_pb2.AnchorGenerator, "ssd_anchor_generator", 2, None),
        (ssd_pb2.Ssd, "encode_background_as_zeros", 12, False),
        (ssd_pb2.Ssd, "negative_class_weight", 13, 1.0),
        (ssd_pb2.Ssd, "normalize_loss_by_num_matches", 10, True),
        (ssd_pb2.Ssd, "freeze_batchnorm", 16, False),
        (ssd_pb2.Ssd, "add_background_class", 21, True),
        (ssd_pb2.Ssd, "implicit_example_weight", 23, 1.0),
        (ssd_pb2.Ssd, "mask_head_config", 25, None),
        (ssd_pb2.Ssd, "return_raw_detections_during_predict", 26, False),
        (ssd_pb2.Ssd.MaskHead, "masks_are_class_agnostic", 3, True),
        (ssd_pb2.Ssd.MaskHead, "mask_loss_weight", 7, 5.0),
        (ssd_pb2.Ssd.MaskHead, "initial_crop_size", 10, 15),
        (ssd_pb2.SsdFeatureExtractor, "min_depth", 3, 16),
        (ssd_pb2.SsdFeatureExtractor, "override_base_feature_extractor_hyperparams", 9, False),
        (ssd_pb2.SsdFeatureExtractor, "pad_to_multiple", 5, 1),
        (ssd_pb2.SsdFeatureExtractor, "bifpn", 19, None),
        (ssd_pb2.SsdFeatureExtractor, "num_layers", 12, 6),
        (ssd_anchor_generator_pb2.SsdAnchorGenerator, "max_scale", 3, pytest.approx(0.95)),
        (ssd_anchor_generator_pb2.SsdAnchorGenerator, "scales", 12, None),
        (ssd_anchor_generator_pb2.SsdAnchorGenerator, "interpolated_scale_aspect_ratio", 13, 1.0),
        (ssd_anchor_generator_pb2.SsdAnchorGenerator, "width_offset", 11, None),
        (box_coder_pb2.BoxCoder, "keypoint_box_coder", 4, None),
        (box_coder_pb2.FasterRcnnBoxCoder, "height_scale", 3, 5.0),
        (box_coder_pb2.MeanStddevBoxCoder, "stddev", 1, pytest.approx(0.01)),
        (box_coder_pb2.SquareBoxCoder, "length_scale", 3, 5.0),
        (box_coder_pb2.KeypointBoxCoder, "y_scale", 2, 10.0),
        (matcher_pb2.ArgMaxMatcher, "force_match_for_each_row", 5, False),
        (matcher_pb2.BipartiteMatcher, "use_matmul_gather", 6, False),
        (region_similarity_calculator_pb2.RegionSimilarityCalculator,
         "thresholded_iou_similarity", 4, None),
        (region_similarity_calculator_pb2.ThresholdedIouSimilarity, "iou_threshold", 1, 0.5),
    ],
)
def test_ssd_field_numbers_and_defaults(message, name, number, default):
    test_field_numbers_and_defaults(message, name, number, default)


def test_ssd_feature_extractor_leaves_number_6_free():
    numbers = [field.number for field in ssd_pb2.SsdFeatureExtractor.DESCRIPTOR.fields]
    assert 6 not in numbers
    assert sorted(numbers) == [1, 2, 3, 4, 5, 7, 8, 9, 10, 11, 12, 19]


def test_ssd_wire_format_matches_hand_encoded_bytes():
    # Tag byte = (field number << 3) | wire type (0 = varint, 2 = length-delimited).
    model = model_pb2.DetectionModel()
    model.ssd.num_classes = 1
    assert model.SerializeToString() == bytes([(2 << 3) | 2, 2, 1 << 3, 1])
    anchors = anchor_generator_pb2.AnchorGenerator()
    anchors.ssd_anchor_generator.num_layers = 4
    assert anchors.SerializeToString() == bytes([(2 << 3) | 2, 2, 1 << 3, 4])
    coder = box_coder_pb2.BoxCoder()
    coder.keypoint_box_coder.num_keypoints = 17
    assert coder.SerializeToString() == bytes([(4 << 3) | 2, 2, 1 << 3, 17])
    head = ssd_pb2.Ssd(mask_head_config=ssd_pb2.Ssd.MaskHead(mask_loss_sample_size=9))
    # Field 25 needs a two-byte varint tag: (25 << 3) | 2 = 202 = 0xCA 0x01.
    assert head.SerializeToString() == bytes([0xCA, 0x01, 2, 8 << 3, 9])
