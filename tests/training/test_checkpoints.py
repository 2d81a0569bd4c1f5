"""Checkpoints: a round trip of EVERY model and optimizer variable into fresh objects, the
model-only restore, step names, and the choice and copy of the best checkpoint."""

from __future__ import annotations

import json

import keras
import numpy as np
import pytest
import tensorflow as tf

from object_detection.builders import model_builder, optimizer_builder
from object_detection.evaluation import results_log
from object_detection.training import checkpoints as ckpt_lib

METRIC = "DetectionMasks_Precision/mAP@.50IOU"


def _model_and_optimizer(config, seed: int):
    keras.utils.set_random_seed(seed)
    model = model_builder.build(config.model, is_training=True, seed=seed)
    model.ensure_built()
    optimizer, _ = optimizer_builder.build_optimizer(config.train_config.optimizer)
    optimizer.build(model.trainable_variables)
    return model, optimizer


def _values(variables) -> list[np.ndarray]:
    return [np.array(v.numpy()) for v in variables]


def _scramble(variables, rng: np.random.Generator) -> None:
    """Gives every variable values unlike any initializer's (so a skipped one shows)."""
    for variable in variables:
        dtype = variable.dtype if isinstance(variable.dtype, str) else variable.dtype.name
        if "int" in dtype:
            variable.assign(rng.integers(1, 1000, size=variable.shape).astype(dtype))
        else:
            variable.assign(rng.normal(size=variable.shape).astype(dtype))


def test_every_model_and_optimizer_variable_round_trips(tiny_config, tmp_path):
    config = tiny_config()
    model, optimizer = _model_and_optimizer(config, seed=1)
    rng = np.random.default_rng(0)
    _scramble(model.variables, rng)          # weights, batch-norm statistics, the seed state
    _scramble(optimizer.variables, rng)      # iterations, Adam slots
    optimizer.iterations.assign(2)
    saved = ckpt_lib.RunCheckpoints(tmp_path, ckpt_lib.make_checkpoint(model, optimizer))
    path = saved.save(2)
    assert path.endswith("ckpt-2") and ckpt_lib.latest_step(tmp_path) == 2

    fresh_model, fresh_optimizer = _model_and_optimizer(config, seed=7)
    before = _values(fresh_model.variables)
    restored = ckpt_lib.RunCheckpoints(tmp_path,
                                       ckpt_lib.make_checkpoint(fresh_model, fresh_optimizer))
    assert restored.restore_latest() == 2
    assert int(fresh_optimizer.iterations.numpy()) == 2
    names = [v.path for v in model.variables]
    changed = [n for n, a, b in zip(names, before, _values(model.variables))
               if not np.array_equal(a, b)]
    assert len(changed) > len(names) // 2  # the fresh model really started elsewhere
    mismatched = [n for n, a, b in zip(names, _values(model.variables),
                                       _values(fresh_model.variables)) if not np.array_equal(a, b)]
    assert mismatched == [], f"variables not saved or not restored: {mismatched}"
    opt_names = [v.path for v in optimizer.variables]
    slots = [n for n, a, b in zip(opt_names, _values(optimizer.variables),
                                  _values(fresh_optimizer.variables)) if not np.array_equal(a, b)]
    assert len(optimizer.variables) == len(fresh_optimizer.variables) and slots == []

    # Model only (evaluation, export): every model variable, without the optimizer.
    third, _ = _model_and_optimizer(config, seed=9)
    ckpt_lib.restore_model(third, path)
    mismatched = [n for n, a, b in zip(names, _values(model.variables),
                                       _values(third.variables)) if not np.array_equal(a, b)]
    assert mismatched == [], f"not restored without the optimizer: {mismatched}"


def test_the_variable_map_names_every_model_variable_once(tiny_config):
    model, _ = _model_and_optimizer(tiny_config(), seed=1)
    names = ckpt_lib.variable_map(model)
    assert sorted(id(v) for v in names.values()) == sorted(id(v) for v in model.variables)
    assert [n for n in names if n.startswith(ckpt_lib.EXTRA_PREFIX)] == ["extra/0"]  # seed state


def test_kept_checkpoints_of_a_relative_run_folder(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    _run_with_checkpoints("runs/a", [(5, 0.1), (10, 0.2)])
    assert ckpt_lib.kept_checkpoints("runs/a") == ["runs/a/ckpt-5", "runs/a/ckpt-10"]
    assert ckpt_lib.latest_step("runs/a") == 10
    assert ckpt_lib.sync_best("runs/a", METRIC).step == 10
    assert ckpt_lib.best_checkpoint("runs/a") == "runs/a/best/ckpt-10"


def test_checkpoint_step_from_names():
    assert ckpt_lib.checkpoint_step("runs/a/ckpt-1500") == 1500
    with pytest.raises(ValueError, match="not a checkpoint of a run"):
        ckpt_lib.checkpoint_step("runs/a/model.ckpt")
    assert ckpt_lib.latest_step("/nonexistent/run") is None


# ------------------------------------------------------------------------------------ best


def _run_with_checkpoints(run_dir, steps_and_values):
    """A run folder with ckpt-STEP files (a variable holding the step) and a logged evaluation
    per step with the given metric value."""
    variable = tf.Variable(0.0)
    manager = tf.train.CheckpointManager(tf.train.Checkpoint(v=variable), str(run_dir),
                                         max_to_keep=None, checkpoint_name="ckpt")
    for step, value in steps_and_values:
        variable.assign(float(step))
        path = manager.save(checkpoint_number=step)
        results_log.append_evaluation(str(run_dir), step, {METRIC: value, "other": step / 10},
                                      checkpoint=path.rsplit("/", 1)[-1])
    return variable


def _restored_step(prefix: str) -> float:
    variable = tf.Variable(-1.0)
    tf.train.Checkpoint(v=variable).restore(prefix).expect_partial()
    return float(variable.numpy())


def test_best_is_the_highest_value_earliest_on_ties_and_undefined_ignored(tmp_path):
    _run_with_checkpoints(tmp_path, [(1, 0.2), (2, 0.5), (3, -1.0), (4, 0.5), (5, 0.1)])
    best = ckpt_lib.sync_best(tmp_path, METRIC)
    assert best == ckpt_lib.Best(2, METRIC, 0.5, "ckpt-2")
    assert json.loads((tmp_path / "best" / "best.json").read_text()) == best.to_json()
    prefix = tf.train.latest_checkpoint(str(tmp_path / "best"))
    assert prefix == ckpt_lib.best_checkpoint(tmp_path) and prefix.endswith("best/ckpt-2")
    assert _restored_step(prefix) == 2.0
    # Another metric picks another checkpoint; best/ is replaced, not added to.
    other = ckpt_lib.sync_best(tmp_path, "other")
    assert other.step == 5 and _restored_step(ckpt_lib.best_checkpoint(tmp_path)) == 5.0
    assert sorted(p.name for p in (tmp_path / "best").iterdir() if ".data-" not in p.name) == [
        "best.json", "checkpoint", "ckpt-5.index"]


def test_best_follows_the_log_after_a_crash_between_log_and_copy(tmp_path):
    _run_with_checkpoints(tmp_path, [(1, 0.3)])
    assert ckpt_lib.sync_best(tmp_path, METRIC).step == 1
    _run_with_checkpoints(tmp_path, [(2, 0.6)])        # logged, but best/ not updated (crash)
    (tmp_path / "best.tmp").mkdir()                     # and a half-made copy left over
    assert ckpt_lib.read_best(tmp_path).step == 1
    assert ckpt_lib.sync_best(tmp_path, METRIC).step == 2
    assert not (tmp_path / "best.tmp").exists()
    assert _restored_step(ckpt_lib.best_checkpoint(tmp_path)) == 2.0


def test_best_keeps_what_it_has_when_the_better_checkpoint_is_gone(tmp_path, caplog):
    _run_with_checkpoints(tmp_path, [(1, 0.3)])
    ckpt_lib.sync_best(tmp_path, METRIC)
    results_log.append_evaluation(str(tmp_path), 9, {METRIC: 0.9}, checkpoint="ckpt-9")
    assert ckpt_lib.sync_best(tmp_path, METRIC).step == 1
    assert "has no checkpoint left" in caplog.text


def test_no_best_without_a_defined_value(tmp_path):
    _run_with_checkpoints(tmp_path, [(1, -1.0)])
    assert ckpt_lib.sync_best(tmp_path, METRIC) is None
    assert ckpt_lib.best_checkpoint(tmp_path) is None
