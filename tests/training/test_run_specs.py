"""run_specs: one pipeline config's run made by the rules of a grid run, a grid's runs with a
command line's changes, the grid runs convert_model.py exports, and the check for the
quickstart data."""

from __future__ import annotations

from pathlib import Path

import pytest

from object_detection.dataset_tools.synthetic_dataset import QUICKSTART_DIR, reads_records_under
from object_detection.evaluation import metric_names
from object_detection.export.grid_exports import grid_exports
from object_detection.protos import pipeline_pb2
from object_detection.training import run_specs

REPO = Path(__file__).resolve().parents[2]
QUICKSTART_GRID = "configs/experiments/quickstart.config"
QUICKSTART_RUN = "1st_run_synthetic_stride8_0.125_0.25_0.5_1.0"


@pytest.fixture(autouse=True)
def _in_repo(monkeypatch):
    monkeypatch.chdir(REPO)


def test_a_single_config_is_a_run_of_its_own_settings():
    run = run_specs.single_run("configs/quickstart.config", ["train_config.batch_size=3"])
    assert (run.name, run.run_dir) == ("quickstart", Path("runs") / "quickstart")
    assert (run.stride, run.scales, run.num_steps) == (8, (0.125, 0.25, 0.5, 1.0), 4000)
    assert run.steps_per_epoch == 0 and run.eval_steps() == [4000]
    assert run.best_checkpoint_metric == metric_names.BEST_METRIC
    assert run.pipeline_config.train_config.batch_size == 3


def test_a_single_config_takes_the_command_lines_steps_and_folder(tmp_path):
    run = run_specs.single_run("configs/quickstart.config", num_steps=6, steps_per_epoch=4,
                               run_dir=tmp_path / "mine")
    assert (run.name, run.run_dir, run.num_steps) == ("mine", tmp_path / "mine", 6)
    assert run.pipeline_config.train_config.num_steps == 6
    assert run.eval_steps() == [4, 6]
    with pytest.raises(ValueError, match="num_steps is 0 .no limit.; give --num_train_steps"):
        run_specs.single_run("configs/quickstart.config", ["train_config.num_steps=0"])


def test_a_grid_takes_the_command_lines_steps_and_folder(tmp_path):
    runs, output_dir = run_specs.grid_runs(
        QUICKSTART_GRID, ["train_config.batch_size=3", "seed=5"], num_steps=8,
        steps_per_epoch=4, output_dir=str(tmp_path / 'it "quoted"'))
    assert output_dir == str(tmp_path / 'it "quoted"')
    (run,) = runs
    assert run.run_dir == tmp_path / 'it "quoted"' / QUICKSTART_RUN
    assert (run.num_steps, run.steps_per_epoch, run.seed) == (8, 4, 5)
    assert run.pipeline_config.train_config.batch_size == 3


def test_grid_exports_go_into_one_folder_per_run(tmp_path):
    (export,) = grid_exports(QUICKSTART_GRID, tmp_path / "models", runs_dir=str(tmp_path))
    assert export.name == QUICKSTART_RUN
    assert export.run_dir == tmp_path / QUICKSTART_RUN
    assert export.output_dir == tmp_path / "models" / QUICKSTART_RUN
    with pytest.raises(ValueError, match="--only 'nope' matches none"):
        grid_exports(QUICKSTART_GRID, tmp_path, only=["nope"])


def test_quickstart_data_is_found_in_training_or_evaluation_records():
    config = pipeline_pb2.TrainEvalPipelineConfig()
    config.train_input_reader.tf_record_input_reader.input_path.append("data/mine/x.tfrecord")
    assert not reads_records_under([config], QUICKSTART_DIR)
    reader = config.eval_input_reader.add().tf_record_input_reader
    reader.input_path.append("./data/quickstart/records/eval-?????-of-?????.tfrecord")
    assert reads_records_under([config], QUICKSTART_DIR)
    assert not reads_records_under([config], "data/quick")  # a folder, not a name prefix
