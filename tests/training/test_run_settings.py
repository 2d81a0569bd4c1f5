"""Run folders: their settings files (pipeline.config, run.json) written once and whole, read
back equal, refused when they hold other settings, and named in one line when torn."""

from __future__ import annotations

import errno
import json
import os
from pathlib import Path

import pytest

from object_detection import config as config_lib
from object_detection.config import ConfigError
from object_detection.training import experiment as experiment_lib
from object_detection.training import run_settings
from tests.training.test_experiment import _tiny


def _snapshot(folder: Path) -> dict[Path, tuple[int, bytes]]:
    """{file: (modification time, content)} of every file under ``folder``."""
    return {p: (p.stat().st_mtime_ns, p.read_bytes()) for p in folder.rglob("*") if p.is_file()}


def test_run_folders_are_written_once_and_read_back_equal(tmp_path):
    runs = experiment_lib.expand(_tiny(tmp_path))
    paths = run_settings.prepare_run_dirs(runs)
    assert paths == [run.run_dir / "pipeline.config" for run in runs]
    for run, path in zip(runs, paths):
        assert config_lib.load_pipeline_config(path) == run.pipeline_config
        info = json.loads((run.run_dir / "run.json").read_text())
        assert info == {
            "name": run.name, "run": run.run, "dataset": "toy", "stride": 16,
            "scales": list(run.scales), "seed": run.seed, "num_steps": 5,
            "steps_per_epoch": 2, "best_checkpoint_metric": "DetectionMasks_Precision/mAP@.50IOU",
        }
    before = _snapshot(tmp_path / "runs")
    assert len(before) == 8
    # The same grid again (expanded anew): nothing changes, nothing is rewritten.
    assert run_settings.prepare_run_dirs(experiment_lib.expand(_tiny(tmp_path))) == paths
    assert _snapshot(tmp_path / "runs") == before


def test_changed_grid_for_an_existing_run_folder_is_refused(tmp_path):
    run_settings.prepare_run_dirs(experiment_lib.expand(_tiny(tmp_path)))
    first = tmp_path / "runs" / "a_run_toy_stride16_0.5_1.0" / "pipeline.config"
    written = first.read_bytes()

    changed = experiment_lib.expand(_tiny(tmp_path, **{"total_steps: 5": "total_steps: 6"}))
    with pytest.raises(ConfigError) as info:
        run_settings.prepare_run_dirs(changed)
    assert info.value.field == "train_config.num_steps"
    assert info.value.file == str(first)
    assert "train_config.num_steps is 5 there, 6 in the grid" in str(info.value)
    assert str(info.value).count("written for other settings") == 4  # every run is named
    assert first.read_bytes() == written

    # A grid that adds a run but changes an old one writes nothing, not even the new run.
    grown = _tiny(tmp_path, **{'run: ["a", "b"]': 'run: ["a", "b", "c"]', "seed: 7": "seed: 8"})
    with pytest.raises(ConfigError) as info:
        run_settings.prepare_run_dirs(experiment_lib.expand(grown))
    assert info.value.field == "seed"
    assert "seed is 7 there, 8 in the grid" in str(info.value)
    assert not (tmp_path / "runs" / "c_run_toy_stride16_0.5_1.0").exists()

    # write_run_config refuses the same way, naming the field.
    moved = _tiny(tmp_path, **{
        "total_steps: 5": 'total_steps: 5\neval_input_path: "elsewhere-*.tfrecord"'
    })
    with pytest.raises(ConfigError, match=r"eval_input_reader\[0\]\.tf_record_input_reader\."
                       r"input_path is \[.*\] there, \[\"elsewhere-\*\.tfrecord\"\] in the grid"):
        run_settings.write_run_config(experiment_lib.expand(moved)[0])


@pytest.mark.parametrize("name, text, problem", [
    ("run.json", '{"name": "a_run_toy_stride16_0.5_1.0", "ru', "is not valid JSON"),
    ("run.json", "[1, 2]", "is not a JSON object"),
    ("pipeline.config", "model { faster_rcnn { num_classes: 1", "does not parse"),
    ("pipeline.config", "", "is empty"),
])
def test_a_torn_settings_file_in_a_run_folder_is_named_in_one_line(tmp_path, name, text,
                                                                   problem):
    run = experiment_lib.expand(_tiny(tmp_path))[0]
    run_settings.write_run_config(run)
    path = run.run_dir / name
    path.write_text(text)
    with pytest.raises(ConfigError) as info:
        run_settings.write_run_config(run)
    message = str(info.value)
    assert message.startswith(f"{path} {problem} (truncated or edited?)")
    assert message.endswith("; restore it, or delete it to have it written anew from the "
                            "current settings")
    assert "\n" not in message and info.value.file == str(path)
    path.unlink()                         # as the message says: written anew, then accepted
    run_settings.write_run_config(run)
    run_settings.write_run_config(run)


def test_settings_files_are_written_whole_or_not_at_all(tmp_path, monkeypatch):
    """A full disk is simulated at the fsync of each write: nothing is left at the path."""
    run = experiment_lib.expand(_tiny(tmp_path))[0]

    def full(fd):
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(os, "fsync", full)
    with pytest.raises(OSError, match="No space left on device"):
        run_settings.write_run_config(run)
    assert list(run.run_dir.iterdir()) == []
    monkeypatch.undo()
    run_settings.write_run_config(run)
    (run.run_dir / "run.json").unlink()
    monkeypatch.setattr(os, "fsync", full)
    with pytest.raises(OSError):
        run_settings.write_run_config(run)
    assert sorted(p.name for p in run.run_dir.iterdir()) == ["pipeline.config"]


