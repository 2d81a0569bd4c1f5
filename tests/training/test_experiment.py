"""Experiment grids: the shipped grids, names and order, overrides landing in each run's
pipeline config, --only, located errors, and a command line's overrides split between the grid
and the pipeline configs."""

from __future__ import annotations

from pathlib import Path

import pytest

from object_detection import config as config_lib
from object_detection.config import ConfigError
from object_detection.protos import pipeline_pb2
from object_detection import run_names
from object_detection.training import experiment as experiment_lib

REPO = Path(__file__).resolve().parents[2]
QUICKSTART_BASE = REPO / "configs" / "quickstart.config"
PAPER_BASE = REPO / "configs" / "mask_rcnn_resnet101_atrous_pictorial_maps.config"

ANCHORS = "model.faster_rcnn.first_stage_anchor_generator.grid_anchor_generator"


def _anchors(config: pipeline_pb2.TrainEvalPipelineConfig):
    return config.model.faster_rcnn.first_stage_anchor_generator.grid_anchor_generator


def _strides(config: pipeline_pb2.TrainEvalPipelineConfig) -> tuple[int, int, int]:
    grid = _anchors(config)
    stride = config.model.faster_rcnn.feature_extractor.first_stage_features_stride
    return stride, grid.height_stride, grid.width_stride


def _without_grid_fields(config: pipeline_pb2.TrainEvalPipelineConfig):
    """A copy with every field a grid may set cleared (to compare the rest with the base)."""
    copy = pipeline_pb2.TrainEvalPipelineConfig()
    copy.CopyFrom(config)
    copy.train_input_reader.tf_record_input_reader.ClearField("input_path")
    copy.eval_input_reader[0].tf_record_input_reader.ClearField("input_path")
    copy.model.faster_rcnn.feature_extractor.ClearField("first_stage_features_stride")
    for field in ("height_stride", "width_stride", "scales"):
        _anchors(copy).ClearField(field)
    copy.train_config.ClearField("num_steps")
    return copy


def _write_grid(tmp_path: Path, body: str, name: str = "grid.config") -> Path:
    path = tmp_path / name
    path.write_text(body, encoding="utf-8")
    return path


TINY_GRID = """\
base_pipeline_config: "@BASE@"
dataset {
  name: "toy"
  train_input_path: "@TRAIN@"
}
run: ["a", "b"]
stride: 16
anchor_scales { scale: [0.5, 1.0] }
anchor_scales { scale: [0.1, 0.2] }
override: "train_config.batch_size=1"
override: "eval_input_reader[0].num_readers=2"
steps_per_epoch: 2
total_steps: 5
output_dir: "@OUT@"
seed: 7
"""


def _grid_text(train: object = "t", out: object = "o", base: object = QUICKSTART_BASE) -> str:
    """TINY_GRID with its paths filled in."""
    return (TINY_GRID.replace("@BASE@", str(base)).replace("@TRAIN@", str(train))
            .replace("@OUT@", str(out)))


def _tiny(tmp_path: Path, **replace: str):
    body = _grid_text(train=tmp_path / "toy-*.tfrecord", out=tmp_path / "runs")
    for old, new in replace.items():
        body = body.replace(old, new)
    return experiment_lib.load_experiment(_write_grid(tmp_path, body))


# --------------------------------------------------------------------------------------------
# The shipped grids


def test_paper_grid_expands_to_the_published_75_runs(monkeypatch):
    monkeypatch.chdir(REPO)
    experiment = experiment_lib.load_experiment("configs/experiments/paper.config")
    runs = experiment_lib.expand(experiment)
    base = config_lib.load_pipeline_config(PAPER_BASE)

    datasets = ["real", "synthetic", "separated", "mixed", "separated_mixed"]
    run_labels = ["1st", "2nd", "3rd", "4th", "5th"]
    scale_sets = ["0.25_0.5_1.0_2.0", "0.125_0.25_0.5_1.0", "0.0625_0.125_0.25_0.5"]
    expected = [f"{r}_run_{d}_stride8_{s}" for d in datasets for r in run_labels for s in scale_sets]
    assert [run.name for run in runs] == expected
    assert runs[0].name == "1st_run_real_stride8_0.25_0.5_1.0_2.0"
    assert runs[3].name == "2nd_run_real_stride8_0.25_0.5_1.0_2.0"

    scale_values = {
        "0.25_0.5_1.0_2.0": [0.25, 0.5, 1.0, 2.0],
        "0.125_0.25_0.5_1.0": [0.125, 0.25, 0.5, 1.0],
        "0.0625_0.125_0.25_0.5": [0.0625, 0.125, 0.25, 0.5],
    }
    for run in runs:
        config = run.pipeline_config
        scales_text = run.name.split("_stride8_")[1]
        assert run.run_dir == Path("runs/paper") / run.name
        assert run.dataset in run.name and run.name.startswith(f"{run.run}_run_{run.dataset}_")
        assert list(config.train_input_reader.tf_record_input_reader.input_path) == [
            f"data/records/{run.dataset}-?????-of-?????.tfrecord"
        ]
        assert list(config.eval_input_reader[0].tf_record_input_reader.input_path) == [
            "data/records/eval-?????-of-?????.tfrecord"
        ]
        assert _strides(config) == (8, 8, 8) and run.stride == 8
        assert list(_anchors(config).scales) == scale_values[scales_text]
        assert list(run.scales) == scale_values[scales_text]
        assert config.train_config.num_steps == 2304 == run.num_steps
        assert run.seed == 1 + run_labels.index(run.run)
        assert run.eval_steps() == [576, 1152, 1728, 2304]
        assert run.best_checkpoint_metric == "DetectionMasks_Precision/mAP@.50IOU"
        # Everything the grid does not set is the base config's.
        assert _without_grid_fields(config) == _without_grid_fields(base)


def test_quickstart_grid_is_one_run_equal_to_the_quickstart_config(monkeypatch):
    monkeypatch.chdir(REPO)
    experiment = experiment_lib.load_experiment("configs/experiments/quickstart.config")
    (run,) = experiment_lib.expand(experiment)
    assert run.name == "1st_run_synthetic_stride8_0.125_0.25_0.5_1.0"
    assert run.run_dir == Path("runs/quickstart/1st_run_synthetic_stride8_0.125_0.25_0.5_1.0")
    assert (run.num_steps, run.steps_per_epoch, run.eval_steps()) == (4000, 2000, [2000, 4000])
    # The grid restates configs/quickstart.config, so the run's config is that file unchanged.
    assert run.pipeline_config == config_lib.load_pipeline_config(QUICKSTART_BASE)


# --------------------------------------------------------------------------------------------
# A tiny grid: names, order, overrides


def test_tiny_grid_expands_to_four_runs_with_exact_names_and_settings(tmp_path):
    runs = experiment_lib.expand(_tiny(tmp_path))
    assert [run.name for run in runs] == [
        "a_run_toy_stride16_0.5_1.0",
        "a_run_toy_stride16_0.1_0.2",
        "b_run_toy_stride16_0.5_1.0",
        "b_run_toy_stride16_0.1_0.2",
    ]
    assert [run.seed for run in runs] == [7, 7, 8, 8]
    assert [run.run_index for run in runs] == [0, 0, 1, 1]
    assert [run.scales for run in runs] == [(0.5, 1.0), (0.1, 0.2)] * 2
    base = config_lib.load_pipeline_config(QUICKSTART_BASE)
    for run in runs:
        config = run.pipeline_config
        assert run.run_dir == tmp_path / "runs" / run.name
        assert _strides(config) == (16, 16, 16)
        assert list(_anchors(config).scales) == pytest.approx(run.scales, rel=1e-7)
        assert list(config.train_input_reader.tf_record_input_reader.input_path) == [
            str(tmp_path / "toy-*.tfrecord")
        ]
        # No eval_input_path in the grid: the base config's records stay.
        assert list(config.eval_input_reader[0].tf_record_input_reader.input_path) == list(
            base.eval_input_reader[0].tf_record_input_reader.input_path
        )
        assert config.train_config.num_steps == 5
        assert config.train_config.batch_size == 1 != base.train_config.batch_size
        assert config.eval_input_reader[0].num_readers == 2
        assert run.eval_steps() == [2, 4, 5]
    # Each run owns its config: changing one leaves the others alone.
    runs[0].pipeline_config.train_config.batch_size = 9
    assert runs[1].pipeline_config.train_config.batch_size == 1


def test_loop_order_is_dataset_run_stride_scales(tmp_path):
    extra = 'dataset { name: "second" train_input_path: "x" }\nstride: 8\n'
    experiment = _tiny(tmp_path, **{"seed: 7\n": "seed: 7\n" + extra})
    names = [run.name for run in experiment_lib.expand(experiment)]
    expected = [
        f"{run}_run_{dataset}_stride{stride}_{scales}"
        for dataset in ("toy", "second")
        for run in ("a", "b")
        for stride in (16, 8)
        for scales in ("0.5_1.0", "0.1_0.2")
    ]
    assert names == expected


def test_without_strides_scales_or_steps_the_base_config_decides(tmp_path):
    grid = _write_grid(tmp_path, f"""\
base_pipeline_config: "{PAPER_BASE}"
dataset {{ name: "d" train_input_path: "d.tfrecord" }}
run: "1st"
output_dir: "out"
""")
    (run,) = experiment_lib.expand(experiment_lib.load_experiment(grid))
    assert run.name == "1st_run_d_stride8_0.25_0.5_1.0_2.0"
    assert (run.num_steps, run.eval_steps(), run.seed) == (2304, [2304], 0)
    assert run.best_checkpoint_metric == "DetectionMasks_Precision/mAP@.50IOU"


def test_eval_steps_end_at_num_steps():
    def spec(steps_per_epoch: int, num_steps: int) -> experiment_lib.RunSpec:
        return experiment_lib.RunSpec(
            name="n", run_dir=Path("n"), pipeline_config=pipeline_pb2.TrainEvalPipelineConfig(),
            run="1st", run_index=0, dataset="d", stride=8, scales=(1.0,), seed=0,
            num_steps=num_steps, steps_per_epoch=steps_per_epoch, best_checkpoint_metric="m",
        )

    assert spec(500, 1200).eval_steps() == [500, 1000, 1200]
    assert spec(400, 1200).eval_steps() == [400, 800, 1200]
    assert spec(0, 1200).eval_steps() == [1200]
    assert spec(5000, 1200).eval_steps() == [1200]


def test_scales_print_as_python_prints_them():
    assert run_names.format_run_name("1st", "separated", 8, [0.25, 0.5, 1.0, 2.0]) == (
        "1st_run_separated_stride8_0.25_0.5_1.0_2.0"
    )
    # Proto floats are float32: 0.1 is stored as 0.10000000149011612 and still prints 0.1.
    assert run_names.format_float32(0.10000000149011612) == "0.1"
    assert run_names.format_float32(3.0) == "3.0"
    assert run_names.format_float32(0.0625) == "0.0625"
    assert run_names.format_float32(1e-5) == "1e-05"


# --------------------------------------------------------------------------------------------
# --only


def test_select_by_substring_glob_and_comma(tmp_path):
    runs = experiment_lib.expand(_tiny(tmp_path))

    def names(selected):
        return [run.name for run in selected]

    assert names(experiment_lib.select(runs, [])) == names(runs)
    assert names(experiment_lib.select(runs, ["0.1_0.2"])) == [
        "a_run_toy_stride16_0.1_0.2", "b_run_toy_stride16_0.1_0.2",
    ]
    assert names(experiment_lib.select(runs, ["b_*_0.5_*"])) == ["b_run_toy_stride16_0.5_1.0"]
    # A glob matches the whole name, so "a_*" does not match "b_run_..." through "a_run".
    assert names(experiment_lib.select(runs, ["a_*"])) == names(runs[:2])
    # Several patterns (or one with commas): the union, in grid order.
    both = ["b_run_toy_stride16_0.5_1.0", "a_run_toy_stride16_0.1_0.2"]
    expected = ["a_run_toy_stride16_0.1_0.2", "b_run_toy_stride16_0.5_1.0"]
    assert names(experiment_lib.select(runs, both)) == expected
    assert names(experiment_lib.select(runs, ",".join(both))) == expected


def test_select_names_a_pattern_that_matches_nothing(tmp_path):
    runs = experiment_lib.expand(_tiny(tmp_path))
    with pytest.raises(ValueError, match=r"'seperated' matches none of the 4 runs"):
        experiment_lib.select(runs, ["0.5_1.0", "seperated"])


# --------------------------------------------------------------------------------------------
# Errors


def test_typo_in_a_grid_names_file_line_and_field(tmp_path):
    body = _grid_text().replace(
        "  train_input_path:", "  train_input_paths:"
    )
    path = _write_grid(tmp_path, body)
    with pytest.raises(ConfigError) as info:
        experiment_lib.load_experiment(path)
    error = info.value
    assert (error.file, error.line, error.field) == (
        str(path), 4, "dataset[0].train_input_paths"
    )
    assert str(error).startswith(f"{path}:4:")
    assert 'did you mean "train_input_path"' in str(error)


def test_bad_value_names_line_and_field(tmp_path):
    path = _write_grid(tmp_path, _grid_text().replace(
        "scale: [0.1, 0.2]", "scale: [0.1, x]"
    ))
    with pytest.raises(ConfigError) as info:
        experiment_lib.load_experiment(path)
    assert (info.value.line, info.value.field) == (9, "anchor_scales[1].scale")


def test_wrong_values_are_all_named_with_their_fields(tmp_path):
    path = _write_grid(tmp_path, f"""\
base_pipeline_config: "{QUICKSTART_BASE}"
dataset {{ name: "a/b" train_input_path: "x" }}
dataset {{ name: "c" }}
run: ["1st", "1st"]
anchor_scales {{ scale: [0.5, -1.0] }}
stride: 0
override: "model.faster_rcnn.first_stage_anchor_generator.grid_anchor_generator.scales=[1.0]"
override: "no equals sign"
""")
    with pytest.raises(ConfigError) as info:
        experiment_lib.load_experiment(path)
    fields = [field for field, _ in info.value.problems]
    assert fields == [
        "output_dir", "dataset[0].name", "dataset[1].train_input_path", "run[1]",
        "stride[0]", "anchor_scales[0].scale", "override[0]", "override[1]",
    ]
    assert str(info.value).startswith(f"{path}: output_dir: not set")
    assert "which the grid sets per run from anchor_scales" in str(info.value)


def test_grid_overrides_are_checked_like_the_file(tmp_path):
    grid = _write_grid(tmp_path, _grid_text())
    experiment = experiment_lib.load_experiment(grid, ["total_steps=9", 'run=["z"]'])
    assert [run.name for run in experiment_lib.expand(experiment)] == [
        "z_run_toy_stride16_0.5_1.0", "z_run_toy_stride16_0.1_0.2",
    ]
    assert experiment_lib.expand(experiment)[0].num_steps == 9
    with pytest.raises(ConfigError, match=r'grid.config: override "total_step=9": unknown field'):
        experiment_lib.load_experiment(grid, ["total_step=9"])


def test_missing_grid_or_base_config(tmp_path):
    with pytest.raises(FileNotFoundError, match="experiment grid not found"):
        experiment_lib.load_experiment(tmp_path / "nope.config")
    grid = _write_grid(tmp_path, _grid_text(base=tmp_path / "missing.config"))
    with pytest.raises(FileNotFoundError, match=r"grid.config: base_pipeline_config not found"):
        experiment_lib.load_experiment(grid)


def test_base_config_without_grid_anchors_is_refused(tmp_path):
    base = config_lib.load_pipeline_config(QUICKSTART_BASE)
    anchors = base.model.faster_rcnn.first_stage_anchor_generator
    anchors.multiscale_anchor_generator.min_level = 3
    base_path = config_lib.write_pipeline_config(base, tmp_path / "base.config")
    grid = _write_grid(tmp_path, _grid_text(base=base_path))
    with pytest.raises(ConfigError, match="needs a faster_rcnn model with a grid_anchor_generator"):
        experiment_lib.expand(experiment_lib.load_experiment(grid))


def test_overrides_go_to_the_grid_or_to_every_pipeline_config():
    grid, pipeline = experiment_lib.split_overrides(
        ["steps_per_epoch=5", "run=[\"1st\"]", "train_config.batch_size=4",
         "eval_input_reader[0].shuffle=false", "anchor_scales[0].scale=[1.0]"])
    assert grid == ["steps_per_epoch=5", "run=[\"1st\"]", "anchor_scales[0].scale=[1.0]"]
    assert pipeline == ["train_config.batch_size=4", "eval_input_reader[0].shuffle=false"]
