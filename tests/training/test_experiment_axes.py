"""Generic grid axes: expansion order and names, overrides reaching each run's pipeline config,
the refusals, old names unchanged, run.json's axes, and the shipped hyperparameters grid."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from object_detection.config import ConfigError
from object_detection.run_names import Setting, format_run_name, parse_run_name
from object_detection.training import experiment as experiment_lib
from object_detection.training import run_settings, run_specs
from tests.training.test_experiment import REPO, _grid_text, _write_grid

LR = "train_config.optimizer.adam_optimizer.learning_rate.cosine_decay_learning_rate"
L2 = "regularizer.l2_regularizer.weight"
HEADS = ("model.faster_rcnn.first_stage_box_predictor_conv_hyperparams",
         "model.faster_rcnn.second_stage_box_predictor.mask_rcnn_box_predictor.fc_hyperparams",
         "model.faster_rcnn.second_stage_box_predictor.mask_rcnn_box_predictor.conv_hyperparams")

AXES = f"""\
axis {{
  name: "lr"
  value {{ label: "0.01" override: "{LR}.learning_rate_base=0.01" }}
  value {{ label: "0.001" override: "{LR}.learning_rate_base=0.001" }}
}}
axis {{
  name: "aug"
  value {{ label: "none" override: "train_config.data_augmentation_options=[]" }}
  value {{ label: "flip" }}
  value {{
    label: "flip-rotate"
    override: "train_config.data_augmentation_options[1]={{random_rotation90 {{}}}}"
  }}
}}
"""


def _axes_grid(tmp_path: Path, axes: str = AXES, extra: str = "") -> Path:
    """The tiny grid of test_experiment (runs a, b; scale sets 0.5_1.0 and 0.1_0.2) with
    ``axes`` and ``extra`` appended."""
    body = _grid_text(train=tmp_path / "toy-*.tfrecord", out=tmp_path / "runs")
    return _write_grid(tmp_path, body + extra + axes)


def _load(tmp_path: Path, axes: str = AXES, extra: str = ""):
    return experiment_lib.load_experiment(_axes_grid(tmp_path, axes, extra))


def _problems(tmp_path: Path, axes: str, extra: str = "") -> list[tuple[str, str]]:
    path = _axes_grid(tmp_path, axes, extra)
    with pytest.raises(ConfigError) as info:
        experiment_lib.load_experiment(path)
    assert str(info.value).startswith(f"{path}: ")
    assert info.value.file == str(path)
    return list(info.value.problems)


def _flips(config) -> list[str]:
    return [o.WhichOneof("preprocessing_step")
            for o in config.train_config.data_augmentation_options]


# --------------------------------------------------------------------------------------------
# Expansion


def test_axes_are_crossed_innermost_in_the_order_of_the_file(tmp_path):
    runs = experiment_lib.expand(_load(tmp_path))
    expected = [
        f"{run}_run_toy_stride16_{scales}_lr-{lr}_aug-{aug}"
        for run in ("a", "b")
        for scales in ("0.5_1.0", "0.1_0.2")
        for lr in ("0.01", "0.001")
        for aug in ("none", "flip", "flip-rotate")
    ]
    assert [run.name for run in runs] == expected
    assert runs[0].axes == (("lr", "0.01"), ("aug", "none"))
    assert runs[-1].axes == (("lr", "0.001"), ("aug", "flip-rotate"))
    assert [run.seed for run in runs] == [7] * 12 + [8] * 12
    assert all(run.run_dir == tmp_path / "runs" / run.name for run in runs)


def test_axis_overrides_reach_each_runs_pipeline_config(tmp_path):
    runs = experiment_lib.expand(_load(tmp_path))
    plain = {run.name: run for run in experiment_lib.expand(_load(tmp_path, axes=""))}
    for run in runs:
        axes = dict(run.axes)
        config = run.pipeline_config
        rate = config.train_config.optimizer.adam_optimizer.learning_rate
        assert rate.cosine_decay_learning_rate.learning_rate_base == pytest.approx(
            float(axes["lr"]))
        assert _flips(config) == {"none": [], "flip": ["random_horizontal_flip"],
                                  "flip-rotate": ["random_horizontal_flip",
                                                  "random_rotation90"]}[axes["aug"]]
        # The grid's own settings and overrides are there as in the run without axes.
        old = plain[run.name.split("_lr-")[0]].pipeline_config
        assert config.train_config.batch_size == 1 and config.train_config.num_steps == 5
        assert config.model == old.model and config.train_input_reader == old.train_input_reader
        config.train_config.ClearField("optimizer")
        config.train_config.ClearField("data_augmentation_options")
        old_train = type(old.train_config)()
        old_train.CopyFrom(old.train_config)
        old_train.ClearField("optimizer")
        old_train.ClearField("data_augmentation_options")
        assert config.train_config == old_train


def test_a_grid_without_axes_names_its_runs_as_before(tmp_path):
    """The published names: run folders of older grids still resume."""
    runs = experiment_lib.expand(_load(tmp_path, axes=""))
    assert [run.name for run in runs] == [
        "a_run_toy_stride16_0.5_1.0", "a_run_toy_stride16_0.1_0.2",
        "b_run_toy_stride16_0.5_1.0", "b_run_toy_stride16_0.1_0.2",
    ]
    assert all(run.axes == () and "axes" not in run.info() for run in runs)
    assert format_run_name("1st", "separated", 8, [0.25, 0.5, 1.0, 2.0]) == (
        "1st_run_separated_stride8_0.25_0.5_1.0_2.0")
    quickstart, = run_specs.grid_runs(REPO / "configs/experiments/quickstart.config")[0]
    assert quickstart.name == "1st_run_synthetic_stride8_0.125_0.25_0.5_1.0"


def test_an_old_run_folder_is_accepted_as_it_was_written(tmp_path):
    """run.json as written before axes existed (no "axes" key) matches the same grid."""
    run = experiment_lib.expand(_load(tmp_path, axes=""))[0]
    run_settings.write_run_config(run)
    old = {"name": run.name, "run": "a", "dataset": "toy", "stride": 16, "scales": [0.5, 1.0],
           "seed": 7, "num_steps": 5, "steps_per_epoch": 2,
           "best_checkpoint_metric": "DetectionMasks_Precision/mAP@.50IOU"}
    assert json.loads((run.run_dir / "run.json").read_text()) == old
    (run.run_dir / "run.json").write_text(json.dumps(old))
    assert run_settings.run_dir_conflict(run) is None


def test_run_names_with_axes_parse_back():
    axes = (("lr", "0.01"), ("wd", "1e-4"), ("aug", "flip-rotate"))
    name = format_run_name("1st", "separated_mixed", 8, [0.125, 0.25, 0.5, 1.0], axes)
    assert name == ("1st_run_separated_mixed_stride8_0.125_0.25_0.5_1.0"
                    "_lr-0.01_wd-1e-4_aug-flip-rotate")
    parsed = parse_run_name(name)
    assert parsed.run == "1st"
    assert parsed.setting == Setting("separated_mixed", 8, (0.125, 0.25, 0.5, 1.0), axes)
    assert parsed.setting.label() == ("separated_mixed, stride 8, scales 0.125, 0.25, 0.5, 1.0, "
                                      "lr 0.01, wd 1e-4, aug flip-rotate")
    assert parse_run_name("1st_run_real_stride8_0.5").setting == Setting("real", 8, (0.5,))
    with pytest.raises(ValueError, match="no '_'"):
        format_run_name("1st", "real", 8, [0.5], (("aug", "flip_rotate"),))
    with pytest.raises(ValueError, match="start with a letter"):
        format_run_name("1st", "real", 8, [0.5], (("l-r", "1"),))


# --------------------------------------------------------------------------------------------
# run.json


def test_run_json_records_the_axes_and_refuses_other_ones(tmp_path):
    runs = experiment_lib.expand(_load(tmp_path))
    run_settings.prepare_run_dirs(runs)
    run = runs[2]
    info = json.loads((run.run_dir / "run.json").read_text())
    assert info["axes"] == {"lr": "0.01", "aug": "flip-rotate"}
    assert list(info["axes"]) == ["lr", "aug"]
    assert run_settings.prepare_run_dirs(runs)        # the same grid again: accepted
    info["axes"] = {"lr": "0.02", "aug": "flip-rotate"}
    (run.run_dir / "run.json").write_text(json.dumps(info))
    with pytest.raises(ConfigError) as error:
        run_settings.prepare_run_dirs(runs)
    assert error.value.field == "axes"
    assert 'axes is {"lr": "0.02", "aug": "flip-rotate"} there, {"lr": "0.01", ' in str(
        error.value)


def test_a_changed_axis_override_is_refused_in_an_existing_folder(tmp_path):
    run_settings.prepare_run_dirs(experiment_lib.expand(_load(tmp_path)))
    changed = AXES.replace("learning_rate_base=0.01", "learning_rate_base=0.02")
    with pytest.raises(ConfigError) as error:
        run_settings.prepare_run_dirs(experiment_lib.expand(_load(tmp_path, changed)))
    assert error.value.field == f"{LR}.learning_rate_base"
    assert str(error.value).count("written for other settings") == 12   # every lr-0.01 run


# --------------------------------------------------------------------------------------------
# Refusals


def test_wrong_axes_are_all_named_with_their_fields(tmp_path):
    axes = """\
axis { name: "lr" value { label: "1" } value { label: "1" } value { label: "a_b" } }
axis { name: "lr" value { label: "x/y" } }
axis { name: "wd" }
axis { name: "2x" value { label: "" } }
axis { name: "stride" value { label: "s" } }
axis { value { label: "q" } }
"""
    problems = _problems(tmp_path, axes)
    assert problems == [
        ("axis[0].value[1].label", "'1' is given twice in axis 'lr'"),
        ("axis[0].value[2].label", "'a_b': use letters, digits, '.', '+' and '-' only (no '_')"),
        ("axis[1].name", "'lr' is given twice"),
        ("axis[1].value[0].label", "'x/y': use letters, digits, '.', '+' and '-' only (no '_')"),
        ("axis[2].value", "axis 'wd' has no values"),
        ("axis[3].name", "'2x': start with a letter, then letters and digits only"),
        ("axis[3].value[0].label", "not set"),
        ("axis[4].name", "'stride' is a built-in axis (dataset, run, stride, scales)"),
        ("axis[5].name", "not set"),
    ]


def test_axis_overrides_may_not_set_what_the_grid_sets_per_run(tmp_path):
    scales = "model.faster_rcnn.first_stage_anchor_generator.grid_anchor_generator.scales"
    axes = f"""\
axis {{
  name: "a"
  value {{ label: "1" override: "{scales}=[1.0]" }}
  value {{ label: "2" override: "train_config.num_steps=9" }}
  value {{ label: "3" override: "train_input_reader.tf_record_input_reader.input_path=['x']" }}
  value {{ label: "4" override: "no equals sign" }}
}}
axis {{ name: "b" value {{ label: "1" override: "{LR}={{learning_rate_base: 0.1}}" }} }}
axis {{ name: "c" value {{ label: "1" override: "{LR}.learning_rate_base=0.2" }} }}
"""
    problems = _problems(tmp_path, axes, extra=f'override: "{LR}.warmup_steps=1"\n')
    assert problems == [
        ("override[2]", f'"{LR}.warmup_steps=1" sets {LR}, which the grid sets per run from '
                        "axis b"),
        ("axis[0].value[0].override[0]", f'"{scales}=[1.0]" sets {scales}, which the grid sets '
                                         "per run from anchor_scales (an axis may not set it)"),
        ("axis[0].value[1].override[0]", '"train_config.num_steps=9" sets train_config.'
                                         "num_steps, which the grid sets per run from "
                                         "total_steps (an axis may not set it)"),
        ("axis[0].value[2].override[0]",
         "\"train_input_reader.tf_record_input_reader.input_path=['x']\" sets train_input_reader"
         ".tf_record_input_reader.input_path, which the grid sets per run from dataset (an "
         "axis may not set it)"),
        ("axis[0].value[3].override[0]", '"no equals sign": expected PATH=VALUE'),
        ("axis[2].value[0].override[0]", f'"{LR}.learning_rate_base=0.2" sets {LR}, which axis '
                                         "'b' sets too"),
    ]


def test_axis_overrides_that_do_not_apply_are_named(tmp_path):
    axes = f"""\
axis {{
  name: "lr"
  value {{ label: "1" override: "{LR}.learning_rate_bas=0.1" }}
  value {{
    label: "2"
    override: "train_config.gradient_clipping_by_norm=5"
    override: "{LR}.total_steps=x"
  }}
  value {{
    label: "3"
    override: "train_config.data_augmentation_options[5]={{random_rotation90 {{}}}}"
  }}
}}
"""
    problems = _problems(tmp_path, axes)
    assert [field for field, _ in problems] == [
        "axis[0].value[0].override[0]", "axis[0].value[1].override[1]",
        "axis[0].value[2].override[0]"]
    assert 'did you mean "learning_rate_base"' in problems[0][1]
    assert f"bad value for field {LR}.total_steps" in problems[1][1]
    assert "index 5 out of range" in problems[2][1]


def test_a_command_lines_override_of_what_an_axis_sets_is_refused(tmp_path):
    path = _axes_grid(tmp_path)
    with pytest.raises(ConfigError, match=rf"override\[2\]: \"{LR}.learning_rate_base=0.5\" "
                                          rf"sets {LR}.learning_rate_base, which the grid sets "
                                          "per run from axis lr"):
        run_specs.grid_runs(path, [f"{LR}.learning_rate_base=0.5"])
    runs, _ = run_specs.grid_runs(path, ["train_config.batch_size=3"], only=["lr-0.001_aug-flip"])
    assert [run.name for run in runs] == [
        f"{r}_run_toy_stride16_{s}_lr-0.001_aug-flip{t}"
        for r in ("a", "b") for s in ("0.5_1.0", "0.1_0.2") for t in ("", "-rotate")]
    assert all(run.pipeline_config.train_config.batch_size == 3 for run in runs)


# --------------------------------------------------------------------------------------------
# The shipped worked example


def test_hyperparameters_grid_is_the_quickstart_over_lr_and_weight_decay(monkeypatch):
    monkeypatch.chdir(REPO)
    runs, output_dir = run_specs.grid_runs("configs/experiments/hyperparameters.config")
    assert output_dir == "runs/hyperparameters"
    base = "synthetic_stride8_0.125_0.25_0.5_1.0"
    assert [run.name for run in runs] == [
        f"{run}_run_{base}_lr-{lr}_wd-{wd}"
        for run in ("1st", "2nd", "3rd") for lr in ("0.001", "0.003") for wd in ("0", "0.0001")]
    for run in runs:
        lr, wd = (float(label) for _, label in run.axes)
        config = run.pipeline_config
        assert (run.num_steps, run.eval_steps(), run.seed) == (
            300, [150, 300], 1 + ["1st", "2nd", "3rd"].index(run.run))
        cosine = config.train_config.optimizer.adam_optimizer.learning_rate
        cosine = cosine.cosine_decay_learning_rate
        assert cosine.learning_rate_base == pytest.approx(lr)
        assert (cosine.total_steps, cosine.warmup_steps) == (300, 30)
        assert cosine.warmup_learning_rate == pytest.approx(1e-4)
        assert config.train_config.num_steps == 300
        for head in HEADS:
            hyperparams = config.model.faster_rcnn
            for part in head.split(".")[2:]:
                hyperparams = getattr(hyperparams, part)
            assert hyperparams.regularizer.l2_regularizer.weight == pytest.approx(wd)
        assert run.info()["axes"] == dict(run.axes)
