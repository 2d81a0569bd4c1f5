"""Choosing the checkpoint and config of a run folder: best, latest, a step, the default, and
the messages for what is missing."""

from __future__ import annotations

import os

import pytest
import tensorflow as tf

from object_detection.export import run_folder
from object_detection.training import checkpoints as ckpt_lib


def _run(tmp_path, steps=(100, 200, 300, 400), best: int | None = 200, max_to_keep: int = 2):
    """A run folder with one-variable checkpoints saved as training does (the last
    ``max_to_keep`` kept) and ``best/`` holding ``best``."""
    variable = tf.Variable(0.0)
    saver = ckpt_lib.RunCheckpoints(tmp_path, tf.train.Checkpoint(v=variable),
                                    max_to_keep=max_to_keep)
    paths = {}
    for step in steps:
        variable.assign(float(step))
        paths[step] = saver.save(step)
        if step == best:
            ckpt_lib.copy_to_best(tmp_path, paths[step],
                                  ckpt_lib.Best(step, "metric", 0.5, f"ckpt-{step}"))
    return paths


def test_best_latest_step_and_default(tmp_path):
    _run(tmp_path)
    best = run_folder.choose_checkpoint(tmp_path, "best")
    assert (best.step, best.how) == (200, "best")
    assert best.path == os.path.join(tmp_path, "best", "ckpt-200")
    latest = run_folder.choose_checkpoint(tmp_path, "latest")
    assert (latest.step, latest.path) == (400, os.path.join(tmp_path, "ckpt-400"))
    assert run_folder.choose_checkpoint(tmp_path).how == "best"
    # Step 200 is no longer kept in the run folder (max_to_keep 2) but best/ has it.
    assert run_folder.choose_checkpoint(tmp_path, "200").path == best.path
    assert not (tmp_path / "ckpt-200.index").exists()
    assert run_folder.choose_checkpoint(tmp_path, "400").path == latest.path
    assert run_folder.choose_checkpoint(tmp_path, "300").path == os.path.join(tmp_path, "ckpt-300")
    assert "step 400 (latest" in latest.describe()


def test_default_without_best_is_latest(tmp_path):
    _run(tmp_path, best=None)
    chosen = run_folder.choose_checkpoint(tmp_path)
    assert (chosen.step, chosen.how) == (400, "latest")
    with pytest.raises(FileNotFoundError, match="no best checkpoint .*steps 300, 400; no best"):
        run_folder.choose_checkpoint(tmp_path, "best")


def test_missing_step_lists_what_there_is(tmp_path):
    _run(tmp_path)
    with pytest.raises(FileNotFoundError, match=r"no checkpoint of step 100 \(steps 300, 400; "
                                                r"best: step 200\)"):
        run_folder.choose_checkpoint(tmp_path, "100")


@pytest.mark.parametrize("which", ["newest", "-5", "1e3", "", "²"])
def test_unknown_checkpoint_value(tmp_path, which):
    _run(tmp_path, steps=(1,), best=None)
    with pytest.raises(ValueError, match="must be 'best', 'latest' or a step number"):
        run_folder.choose_checkpoint(tmp_path, which)


def test_empty_and_missing_run_folders(tmp_path):
    with pytest.raises(FileNotFoundError, match="run folder not found"):
        run_folder.choose_checkpoint(tmp_path / "missing")
    with pytest.raises(FileNotFoundError, match="no checkpoint in the run folder"):
        run_folder.choose_checkpoint(tmp_path)
    with pytest.raises(FileNotFoundError, match="no pipeline.config in the run folder"):
        run_folder.pipeline_config_path(tmp_path)
