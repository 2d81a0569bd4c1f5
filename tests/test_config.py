"""Tests of object_detection.config: reading with located errors, overrides, checks, writing."""

from __future__ import annotations

import errno
import logging
import os
from pathlib import Path

import pytest

from object_detection import config as config_lib
from object_detection.config import ConfigError, supported
from object_detection.protos import input_reader_pb2, pipeline_pb2

from tests.odapi_reference import REFERENCE_CONFIGS, REFERENCE_DIR

# A small Mask R-CNN config; {train}, {val} and {label_map} are filled with paths in tmp_path.
CONFIG_TEMPLATE = """\
# Mask R-CNN for tests.
model {
  faster_rcnn {
    num_classes: 1
    number_of_stages: 3
    image_resizer {
      keep_aspect_ratio_resizer {
        min_dimension: 64
        max_dimension: 128
      }
    }
    feature_extractor {
      type: 'faster_rcnn_resnet101'
      first_stage_features_stride: 8
    }
    first_stage_anchor_generator {
      grid_anchor_generator {
        scales: [0.25, 0.5, 1.0, 2.0]
        aspect_ratios: [0.5, 1.0, 2.0]
        height_stride: 8
        width_stride: 8
      }
    }
    first_stage_max_proposals: 100
    initial_crop_size: 14
    maxpool_kernel_size: 2
    maxpool_stride: 2
    second_stage_batch_size: 32
    second_stage_box_predictor {
      mask_rcnn_box_predictor {
        predict_instance_masks: true
        mask_height: 33
        mask_width: 33
      }
    }
    second_stage_post_processing {
      batch_non_max_suppression {
        iou_threshold: 0.6
      }
      score_converter: SOFTMAX
    }
  }
}
train_config: {
  batch_size: 2
  num_steps: 10
  data_augmentation_options {
    random_horizontal_flip {
    }
  }
}
train_input_reader: {
  tf_record_input_reader {
    input_path: "{train}"
  }
  label_map_path: "{label_map}"
  load_instance_masks: true
  mask_type: PNG_MASKS
}
eval_config: {
  metrics_set: "coco_detection_metrics"
  metrics_set: "coco_mask_metrics"
}
eval_input_reader: {
  tf_record_input_reader {
    input_path: "{val}"
  }
  label_map_path: "{label_map}"
  load_instance_masks: true
  shuffle: false
}
"""


def _config_text(
    train: str = "train.record", val: str = "val.record", label_map: str = "map.pbtxt"
) -> str:
    return (
        CONFIG_TEMPLATE.replace("{train}", train)
        .replace("{val}", val)
        .replace("{label_map}", label_map)
    )


def _line_and_column(text: str, needle: str) -> tuple[int, int]:
    """1-based line and column of the first ``needle`` in ``text``."""
    before = text[: text.index(needle)]
    return before.count("\n") + 1, len(before) - before.rfind("\n")


@pytest.fixture
def config_file(tmp_path: Path) -> Path:
    """A config whose inputs (train, val records and label map) exist in tmp_path."""
    for name in ("train.record", "val.record", "map.pbtxt"):
        (tmp_path / name).write_text("x")
    path = tmp_path / "pipeline.config"
    train, val, label_map = (str(tmp_path / n) for n in ("train.record", "val.record", "map.pbtxt"))
    path.write_text(_config_text(train, val, label_map))
    return path


@pytest.fixture
def config(config_file: Path) -> pipeline_pb2.TrainEvalPipelineConfig:
    return config_lib.load_pipeline_config(config_file)


def _load_broken(tmp_path: Path, old: str, new: str) -> tuple[ConfigError, str, Path]:
    """Loads the test config with ``old`` replaced by ``new``; returns the error, text, path."""
    text = _config_text()
    assert old in text
    text = text.replace(old, new, 1)
    path = tmp_path / "broken.config"
    path.write_text(text)
    with pytest.raises(ConfigError) as info:
        config_lib.load_pipeline_config(path)
    return info.value, text, path


# ---------------------------------------------------------------------------------------------
# Reading


def test_load_reads_values(config):
    frcnn = config.model.faster_rcnn
    assert frcnn.num_classes == 1
    assert list(frcnn.first_stage_anchor_generator.grid_anchor_generator.scales) == [
        0.25, 0.5, 1.0, 2.0
    ]
    assert frcnn.image_resizer.keep_aspect_ratio_resizer.max_dimension == 128
    assert config.eval_input_reader[0].shuffle is False
    assert config.train_input_reader.mask_type == input_reader_pb2.PNG_MASKS


def test_typo_in_field_name_reports_file_line_column_field_and_suggestion(tmp_path):
    error, text, path = _load_broken(
        tmp_path, "first_stage_features_stride: 8", "first_stage_feature_stride: 8"
    )
    line, column = _line_and_column(text, "first_stage_feature_stride")
    assert (error.file, error.line, error.column) == (str(path), line, column)
    assert str(error) == (
        f'{path}:{line}:{column}: unknown field "first_stage_feature_stride" in '
        "object_detection.protos.FasterRcnnFeatureExtractor at model.faster_rcnn.feature_extractor"
        ' (did you mean "first_stage_features_stride"?)'
    )
    assert error.field == "model.faster_rcnn.feature_extractor.first_stage_feature_stride"
    assert isinstance(error, ValueError)


def test_unknown_enum_value_lists_valid_names(tmp_path):
    error, text, path = _load_broken(tmp_path, "mask_type: PNG_MASKS", "mask_type: PNG_MASK")
    line, column = _line_and_column(text, "PNG_MASK")
    assert str(error).startswith(f"{path}:{line}:{column}: bad value for field ")
    assert error.field == "train_input_reader.mask_type"
    assert "no value \"PNG_MASK\" (valid: DEFAULT, NUMERICAL_MASKS, PNG_MASKS)" in str(error)
    assert 'did you mean "PNG_MASKS"' in str(error)


def test_string_for_int_is_a_bad_value_of_that_field(tmp_path):
    error, text, path = _load_broken(tmp_path, "num_classes: 1", 'num_classes: "one"')
    line, column = _line_and_column(text, '"one"')
    assert (error.line, error.column) == (line, column)
    assert error.field == "model.faster_rcnn.num_classes"
    assert "bad value for field model.faster_rcnn.num_classes (int32)" in str(error)


@pytest.mark.parametrize(
    "old, new, field, words",
    [
        ("num_steps: 10", "num_steps: -1", "train_config.num_steps", "out of range"),
        ("shuffle: false", "shuffle: maybe", "eval_input_reader[0].shuffle", "(bool)"),
        ("mask_height: 33", "mask_height: 3.5", "model.faster_rcnn.second_stage_box_predictor."
         "mask_rcnn_box_predictor.mask_height", "Couldn't parse integer"),
        ("scales: [0.25,", "scales: [0.25, x,", "model.faster_rcnn.first_stage_anchor_generator."
         "grid_anchor_generator.scales", "(repeated float)"),
    ],
)
def test_bad_values_name_the_field(tmp_path, old, new, field, words):
    error, _, _ = _load_broken(tmp_path, old, new)
    assert error.field == field
    assert f"bad value for field {field}" in str(error)
    assert words in str(error)


def test_model_outside_the_schema_is_not_supported(tmp_path):
    # center_net is an OD API model this schema leaves out (ssd reads; the builder refuses it).
    error, text, path = _load_broken(tmp_path, "  faster_rcnn {", "  center_net {")
    line, column = _line_and_column(text, "center_net")
    assert str(error) == (
        f"{path}:{line}:{column}: model.center_net is not supported "
        "(supported: faster_rcnn, ssd, experimental_model)"
    )


def test_field_in_second_repeated_message_gets_its_index(tmp_path):
    error, _, _ = _load_broken(
        tmp_path,
        "  shuffle: false\n}",
        "  shuffle: false\n}\neval_input_reader {\n  shufle: true\n}",
    )
    assert error.field == "eval_input_reader[1].shufle"
    assert 'did you mean "shuffle"' in str(error)


def test_missing_closing_brace_is_hinted(tmp_path):
    error, text, _ = _load_broken(tmp_path, "    random_horizontal_flip {\n    }\n  }\n}",
                                  "    random_horizontal_flip {\n    }\n  }\n")
    assert error.line == _line_and_column(text, "train_input_reader")[0]
    assert 'unknown field "train_input_reader"' in str(error)
    assert 'is a "}" missing before it?' in str(error)


def test_field_set_twice_and_oneof_conflict(tmp_path):
    error, _, _ = _load_broken(tmp_path, "num_classes: 1", "num_classes: 1\n    num_classes: 2")
    assert "field model.faster_rcnn.num_classes is set twice" in str(error)
    error, _, _ = _load_broken(
        tmp_path, "      keep_aspect_ratio_resizer {", "      fixed_shape_resizer {}\n"
        "      keep_aspect_ratio_resizer {"
    )
    assert error.field == "model.faster_rcnn.image_resizer.keep_aspect_ratio_resizer"
    assert "set along with model.faster_rcnn.image_resizer.fixed_shape_resizer" in str(error)


def test_syntax_error_names_file_and_line(tmp_path):
    error, text, path = _load_broken(tmp_path, "batch_size: 2", "batch_size: 2 }}")
    line, column = _line_and_column(text, "batch_size: 2 }}")
    assert str(error) == (
        f"{path}:{line}:{column + len('batch_size: 2 }')}: syntax error near field train_config: "
        "Expected identifier or number, got }."
    )


def test_missing_file_raises_file_not_found(tmp_path):
    with pytest.raises(FileNotFoundError, match="nothere.config"):
        config_lib.load_pipeline_config(tmp_path / "nothere.config")


@pytest.mark.skipif(not REFERENCE_CONFIGS, reason=f"no configs in {REFERENCE_DIR}")
@pytest.mark.parametrize("path", REFERENCE_CONFIGS, ids=lambda p: p.name)
def test_reference_configs_load_and_round_trip(path, tmp_path):
    loaded = config_lib.load_pipeline_config(path)
    assert loaded.model.HasField("faster_rcnn")
    if loaded.model.faster_rcnn.feature_extractor.type in supported.FEATURE_EXTRACTORS:
        config_lib.validate(loaded)  # the model settings of every ResNet reference are sound
    else:  # other backbones: refused, as the model builder refuses them
        with pytest.raises(ConfigError, match="feature_extractor.type: not supported"):
            config_lib.validate(loaded)
    written = config_lib.write_pipeline_config(loaded, tmp_path / "run" / "pipeline.config")
    assert config_lib.load_pipeline_config(written) == loaded
    with pytest.raises(ConfigError, match="PATH_TO_BE_CONFIGURED"):
        config_lib.validate(loaded, for_training=True)  # its paths point nowhere


@pytest.mark.skipif(not REFERENCE_DIR.is_dir(), reason=f"no folder {REFERENCE_DIR}")
def test_reference_configs_exist():
    assert len(REFERENCE_CONFIGS) >= 7


# ---------------------------------------------------------------------------------------------
# Writing


def test_write_and_read_round_trip(config, tmp_path):
    changed = config_lib.apply_overrides(
        config, ["eval_config.metrics_set=['coco_detection_metrics']", "train_config.batch_size=3"]
    )
    path = config_lib.write_pipeline_config(changed, tmp_path / "a" / "b" / "pipeline.config")
    assert path == tmp_path / "a" / "b" / "pipeline.config"
    assert path.read_text() == config_lib.config_to_text(changed)
    assert config_lib.load_pipeline_config(path) == changed
    assert config_lib.load_pipeline_config(path) != config


def test_a_failed_write_leaves_the_old_config_whole(config, tmp_path, monkeypatch):
    """A full disk is simulated at the fsync: the old file stays, no temporary is left."""
    path = config_lib.write_pipeline_config(config, tmp_path / "run" / "pipeline.config")
    before = path.read_bytes()
    changed = config_lib.apply_overrides(config, ["train_config.batch_size=3"])

    def full(fd):
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(os, "fsync", full)
    with pytest.raises(OSError, match="No space left on device"):
        config_lib.write_pipeline_config(changed, path)
    monkeypatch.undo()
    assert path.read_bytes() == before and os.listdir(path.parent) == ["pipeline.config"]


def test_config_to_text_is_text_format(config):
    text = config_lib.config_to_text(config)
    assert "num_classes: 1\n" in text
    assert config_lib.parse_pipeline_config(text) == config


# ---------------------------------------------------------------------------------------------
# Overrides

GRID = "model.faster_rcnn.first_stage_anchor_generator.grid_anchor_generator"
NMS = "model.faster_rcnn.second_stage_post_processing.batch_non_max_suppression"
TRAIN_PATHS = "train_input_reader.tf_record_input_reader.input_path"


def test_override_scalar_bool_enum(config):
    out = config_lib.apply_overrides(
        config,
        [
            "model.faster_rcnn.num_classes=5",
            "train_config.batch_size = 4",
            "eval_input_reader[0].shuffle=true",
            "train_input_reader.mask_type=NUMERICAL_MASKS",
            "model.faster_rcnn.second_stage_post_processing.batch_non_max_suppression."
            "iou_threshold=0.25",
        ],
    )
    assert out.model.faster_rcnn.num_classes == 5
    assert out.train_config.batch_size == 4
    assert out.eval_input_reader[0].shuffle is True
    assert out.train_input_reader.mask_type == input_reader_pb2.NUMERICAL_MASKS
    assert out.model.faster_rcnn.second_stage_post_processing.batch_non_max_suppression \
        .iou_threshold == pytest.approx(0.25)
    # The input is left as it was.
    assert config.model.faster_rcnn.num_classes == 1
    assert config.eval_input_reader[0].shuffle is False


def test_override_list_replaces_repeated_field(config):
    out = config_lib.apply_overrides(
        config, [f"{GRID}.scales=[0.5,1.0]", f"{GRID}.aspect_ratios=2"]
    )
    grid = out.model.faster_rcnn.first_stage_anchor_generator.grid_anchor_generator
    assert list(grid.scales) == [0.5, 1.0]
    assert list(grid.aspect_ratios) == [2.0]


def test_override_strings_quoted_unquoted_and_lists(config):
    reader = "train_input_reader.tf_record_input_reader.input_path"
    out = config_lib.apply_overrides(config, [f'{reader}=["a","b"]'])
    assert list(out.train_input_reader.tf_record_input_reader.input_path) == ["a", "b"]
    out = config_lib.apply_overrides(config, [f"{reader}=/data/my maps/train-*.record"])
    assert list(out.train_input_reader.tf_record_input_reader.input_path) == [
        "/data/my maps/train-*.record"
    ]
    out = config_lib.apply_overrides(config, [f"{reader}=[x/a.record, 'y/b.record']"])
    assert list(out.train_input_reader.tf_record_input_reader.input_path) == [
        "x/a.record", "y/b.record"
    ]
    out = config_lib.apply_overrides(
        config, ['train_input_reader.label_map_path=C:\\maps\\"l".txt']
    )
    assert out.train_input_reader.label_map_path == 'C:\\maps\\"l".txt'


def test_override_sub_message_snippet_replaces_it(config):
    out = config_lib.apply_overrides(
        config, ["model.faster_rcnn.image_resizer={fixed_shape_resizer {height: 64 width: 32}}"]
    )
    resizer = out.model.faster_rcnn.image_resizer
    assert resizer.WhichOneof("image_resizer_oneof") == "fixed_shape_resizer"
    assert (resizer.fixed_shape_resizer.height, resizer.fixed_shape_resizer.width) == (64, 32)
    # Braces may be left out; the whole sub-message is replaced, not merged.
    out = config_lib.apply_overrides(
        config,
        ["model.faster_rcnn.second_stage_box_predictor=mask_rcnn_box_predictor {mask_height: 7}"],
    )
    predictor = out.model.faster_rcnn.second_stage_box_predictor.mask_rcnn_box_predictor
    assert predictor.mask_height == 7
    assert not predictor.HasField("mask_width") and not predictor.predict_instance_masks


def test_override_repeated_index_and_append(config):
    out = config_lib.apply_overrides(
        config,
        [
            "eval_input_reader[1].shuffle=true",  # index == length appends
            "eval_input_reader[1].label_map_path=other.pbtxt",
            f"{GRID}.scales[-1]=4.0",
            f"{GRID}.aspect_ratios[0]=0.25",
            "eval_config.metrics_set[2]=coco_extra",
        ],
    )
    assert len(out.eval_input_reader) == 2
    assert out.eval_input_reader[0].shuffle is False
    assert out.eval_input_reader[1].shuffle is True
    assert out.eval_input_reader[1].label_map_path == "other.pbtxt"
    grid = out.model.faster_rcnn.first_stage_anchor_generator.grid_anchor_generator
    assert list(grid.scales) == [0.25, 0.5, 1.0, 4.0]
    assert list(grid.aspect_ratios) == [0.25, 1.0, 2.0]
    assert list(out.eval_config.metrics_set)[-1] == "coco_extra"
    replaced = config_lib.apply_overrides(config, ["eval_input_reader[0]={shuffle: true}"])
    assert replaced.eval_input_reader[0] == input_reader_pb2.InputReader(shuffle=True)


def test_load_applies_overrides(config_file):
    loaded = config_lib.load_pipeline_config(config_file, ["model.faster_rcnn.num_classes=3"])
    assert loaded.model.faster_rcnn.num_classes == 3


def test_override_switching_a_oneof_warns(config, caplog):
    with caplog.at_level(logging.WARNING, logger="object_detection.config"):
        out = config_lib.apply_overrides(
            config, ["model.faster_rcnn.image_resizer.fixed_shape_resizer.height=40"]
        )
    assert out.model.faster_rcnn.image_resizer.fixed_shape_resizer.height == 40
    assert not out.model.faster_rcnn.image_resizer.HasField("keep_aspect_ratio_resizer")
    assert "drops model.faster_rcnn.image_resizer.keep_aspect_ratio_resizer" in caplog.text


@pytest.mark.parametrize(
    "override, words",
    [
        ("model.faster_rcnn.num_clases=1",
         'unknown field "num_clases" in object_detection.protos.FasterRcnn at model.faster_rcnn '
         '(did you mean "num_classes"?)'),
        ("model.center_net.num_classes=1",
         "model.center_net is not supported (supported: faster_rcnn, ssd"),
        ("model.faster_rcnn.num_classes=many",
         "bad value for field model.faster_rcnn.num_classes (int32)"),
        ("train_input_reader.mask_type=PNG", 'no value "PNG"'),
        ("eval_input_reader[0].shuffle=sometimes",
         "bad value for field eval_input_reader[0].shuffle (bool)"),
        ("model.faster_rcnn.image_resizer={fixed_shape_resizer {heigth: 3}}",
         'unknown field "heigth" in object_detection.protos.FixedShapeResizer at '
         'model.faster_rcnn.image_resizer.fixed_shape_resizer (did you mean "height"?)'),
        ("eval_input_reader[5].shuffle=true",
         "index 5 out of range for eval_input_reader, which has 1 element(s)"),
        (f"{GRID}.scales[9]=1.0", "index 9 out of range"),
        (f"{GRID}.scales[0]=[1.0, 2.0]", "takes one value, got 2"),
        ("eval_input_reader.shuffle=true", "eval_input_reader is repeated; give an index"),
        ("train_config[0].batch_size=1", "train_config is not repeated and cannot be indexed"),
        ("model.faster_rcnn.num_classes.value=1",
         'model.faster_rcnn.num_classes (int32) has no field "value"'),
        ("model.faster_rcnn.num_classes", "expected PATH=VALUE"),
        ("model..num_classes=1", '"" is not a field name'),
    ],
)
def test_bad_override_names_override_and_part(config, override, words):
    with pytest.raises(ConfigError) as info:
        config_lib.apply_overrides(config, [override])
    assert str(info.value).startswith(f'override "{override}": ')
    assert words in str(info.value)


def test_override_string_instead_of_list_is_rejected(config):
    with pytest.raises(TypeError):
        config_lib.apply_overrides(config, "train_config.batch_size=1")


# ---------------------------------------------------------------------------------------------
# Meaning checks


def test_valid_config_passes_all_checks(config):
    config_lib.validate(config, for_training=True, for_eval=True)


def test_paths_are_checked_only_for_the_run_that_needs_them(tmp_path):
    config = config_lib.parse_pipeline_config(_config_text(str(tmp_path / "none.record")))
    config_lib.validate(config)
    with pytest.raises(ConfigError) as info:
        config_lib.validate(config, for_training=True)
    fields = [f for f, _ in info.value.problems]
    assert fields == [
        "train_input_reader.tf_record_input_reader.input_path[0]",
        "train_input_reader.label_map_path",
    ]
    with pytest.raises(ConfigError) as info:
        config_lib.validate(config, for_eval=True)
    assert [f for f, _ in info.value.problems] == [
        "eval_input_reader[0].tf_record_input_reader.input_path[0]",
        "eval_input_reader[0].label_map_path",
    ]


@pytest.mark.parametrize(
    "overrides, field",
    [
        (["model.faster_rcnn.num_classes=0"], "model.faster_rcnn.num_classes"),
        # boxes only (a warning of the builder), so the config's mask metrics cannot be
        (["model.faster_rcnn.number_of_stages=2"], "eval_config"),
        (["model.faster_rcnn.number_of_stages=4"], "model.faster_rcnn.number_of_stages"),
        (["model.faster_rcnn.second_stage_box_predictor.mask_rcnn_box_predictor.mask_width=0"],
         "model.faster_rcnn.second_stage_box_predictor.mask_rcnn_box_predictor.mask_width"),
        (["train_config.batch_size=0"], "train_config.batch_size"),
        (["eval_config.batch_size=0"], "eval_config.batch_size"),
        (["model.faster_rcnn.second_stage_batch_size=101"],
         "model.faster_rcnn.second_stage_batch_size"),
        (["model.faster_rcnn.first_stage_max_proposals=0"],
         "model.faster_rcnn.first_stage_max_proposals"),
        (["model.faster_rcnn.first_stage_nms_iou_threshold=0"],
         "model.faster_rcnn.first_stage_nms_iou_threshold"),
        ([f"{NMS}.iou_threshold=1.5"], f"{NMS}.iou_threshold"),
        (["model.faster_rcnn.second_stage_balance_fraction=1.5"],
         "model.faster_rcnn.second_stage_balance_fraction"),
        ([f"{GRID}.scales=[1.0, -0.5]"], f"{GRID}.scales"),
        ([f"{GRID}.height_stride=0"], f"{GRID}.height_stride"),
        (["model.faster_rcnn.image_resizer.keep_aspect_ratio_resizer.min_dimension=200"],
         "model.faster_rcnn.image_resizer.keep_aspect_ratio_resizer"),
        (["model.faster_rcnn.image_resizer={fixed_shape_resizer {height: 0 width: 8}}"],
         "model.faster_rcnn.image_resizer.fixed_shape_resizer"),
        (["model.faster_rcnn.image_resizer={}"], "model.faster_rcnn.image_resizer"),
        (["model={}"], "model"),
        (["model.faster_rcnn.second_stage_box_predictor.mask_rcnn_box_predictor."
          "predict_instance_masks=false"], "eval_config"),
    ],
)
def test_meaning_checks(config, overrides, field):
    bad = config_lib.apply_overrides(config, overrides)
    with pytest.raises(ConfigError) as info:
        config_lib.validate(bad)
    assert [f for f, _ in info.value.problems] == [field]
    assert info.value.field == field
    assert f"  {field}: " in str(info.value)


@pytest.mark.parametrize(
    "overrides, field, for_training",
    [
        (["train_input_reader.load_instance_masks=false"],
         "train_input_reader.load_instance_masks", True),
        (["eval_input_reader[0].load_instance_masks=false"],
         "eval_input_reader[0].load_instance_masks", False),
        (["train_input_reader.tf_record_input_reader={}"],
         "train_input_reader.tf_record_input_reader.input_path", True),
        (["train_input_reader.tf_record_input_reader.input_path=[]"],
         "train_input_reader.tf_record_input_reader.input_path", True),
        (["train_input_reader={load_instance_masks: true}"], "train_input_reader", True),
        (["train_config.fine_tune_checkpoint=nowhere/ckpt-0"],
         "train_config.fine_tune_checkpoint", True),
        (["eval_input_reader=[]"], "eval_input_reader", False),
    ],
)
def test_run_checks(config, overrides, field, for_training):
    bad = config_lib.apply_overrides(config, overrides)
    config_lib.validate(bad, for_training=not for_training, for_eval=for_training)
    with pytest.raises(ConfigError) as info:
        config_lib.validate(bad, for_training=for_training, for_eval=not for_training)
    assert [f for f, _ in info.value.problems] == [field]


def test_missing_train_sections_for_training(config):
    bare = pipeline_pb2.TrainEvalPipelineConfig()
    bare.model.CopyFrom(config.model)
    with pytest.raises(ConfigError) as info:
        config_lib.validate(bare, for_training=True)
    assert [f for f, _ in info.value.problems] == ["train_config", "train_input_reader"]


def test_globs_checkpoints_and_remote_paths(config, tmp_path):
    for shard in range(2):
        (tmp_path / f"maps.record-{shard:05d}-of-00002").write_text("x")
    (tmp_path / "ckpt-3.index").write_text("x")
    ok = config_lib.apply_overrides(
        config,
        [
            f"{TRAIN_PATHS}=[{tmp_path}/maps.record-?????-of-00002, gs://bucket/maps-*.record]",
            f"train_config.fine_tune_checkpoint={tmp_path}/ckpt-3",
        ],
    )
    config_lib.validate(ok, for_training=True)
    bad = config_lib.apply_overrides(
        config,
        [f"{TRAIN_PATHS}={tmp_path}/maps.record-?????-of-00003"],
    )
    with pytest.raises(ConfigError, match=r"input_path\[0\]: no file matches"):
        config_lib.validate(bad, for_training=True)


def test_all_problems_are_reported_together(config):
    bad = config_lib.apply_overrides(
        config, ["model.faster_rcnn.num_classes=0", "train_config.batch_size=0"]
    )
    with pytest.raises(ConfigError) as info:
        config_lib.validate(bad)
    assert [f for f, _ in info.value.problems] == [
        "model.faster_rcnn.num_classes", "train_config.batch_size"
    ]
    assert str(info.value).startswith("invalid pipeline config (2 problem(s)):\n")


def test_masks_loaded_but_not_predicted_warns(config, caplog):
    boxes_only = config_lib.apply_overrides(
        config,
        [
            "model.faster_rcnn.second_stage_box_predictor.mask_rcnn_box_predictor."
            "predict_instance_masks=false",
            "eval_config.metrics_set=coco_detection_metrics",
        ],
    )
    with caplog.at_level(logging.WARNING, logger="object_detection.config"):
        config_lib.validate(boxes_only, for_training=True)
    assert "train_input_reader.load_instance_masks is true but the model predicts no masks" in (
        caplog.text
    )
    assert config_lib.predicts_masks(config) and not config_lib.predicts_masks(boxes_only)
