"""Checkpoints: a round trip of EVERY model and optimizer variable into fresh objects, the
model-only restore, the inference weights (moving averages by name, and from checkpoints written
before they had names), step names, the choice and copy of the best checkpoint, and faults: a full
disk while saving, damaged checkpoint files, copies of best/ killed half-way."""

from __future__ import annotations

import errno
import json
import os
import shutil
import subprocess

import keras
import numpy as np
import pytest
import tensorflow as tf

from object_detection.builders import model_builder, optimizer_builder
from object_detection.evaluation import results_log
from object_detection.training import checkpoints as ckpt_lib
from object_detection.training.trainer import select_trainable_variables

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


# ------------------------------------------------------------------------- moving averages

EMA = ("train_config.optimizer.use_moving_average=true",
       "train_config.optimizer.moving_average_decay=0.5")
FROZEN = "FirstStageFeatureExtractor/"


def _trained_with_averages(config, freeze: tuple[str, ...] = ()):
    """(model, optimizer built on the variables a run trains, {name: average}); each
    average is its weight + 0.5, set where Keras keeps the averages."""
    model = model_builder.build(config.model, is_training=True, seed=1)
    model.ensure_built()
    variables = select_trainable_variables(model, (), freeze)
    optimizer, _ = optimizer_builder.build_optimizer(config.train_config.optimizer)
    optimizer.build(variables)
    averages = optimizer._model_variables_moving_average  # the old way to read them
    assert len(averages) == len(variables)
    names = {id(v): n for n, v in ckpt_lib.variable_map(model).items()}
    expected = {}
    for variable, average in zip(variables, averages):
        average.assign(variable + 0.5)
        expected[names[id(variable)]] = average.numpy()
    return model, optimizer, expected


def _old_layout_checkpoint(model, optimizer) -> tf.train.Checkpoint:
    """The checkpoint as make_checkpoint wrote it before the averages had their own names."""
    return tf.train.Checkpoint(step=optimizer.iterations, model=model, optimizer=optimizer,
                               variables=ckpt_lib.variable_map(model))


def _inference_weights(config, path) -> tuple[dict[str, np.ndarray], bool]:
    model = model_builder.build(config.model, is_training=False)
    model.ensure_built()
    averaged = ckpt_lib.restore_inference_weights(model, path, config)
    return {n: v.numpy() for n, v in ckpt_lib.variable_map(model).items()}, averaged


def _assert_inference_weights(weights, trained_model, averages) -> None:
    """The averaged variables hold their averages, every other one its own value."""
    for name, variable in ckpt_lib.variable_map(trained_model).items():
        want = averages.get(name, variable.numpy())
        np.testing.assert_allclose(weights[name], want, atol=1e-6, err_msg=name)


@pytest.mark.parametrize("layout", ["named", "old"])
def test_inference_weights_are_the_averages_of_the_trained_variables(tiny_config, tmp_path,
                                                                     layout):
    """optimizer.use_moving_average + eval_config.use_moving_averages: the averages replace the
    weights of the variables the run trained (frozen ones keep theirs), read by name from a
    checkpoint of today, through a rebuilt optimizer from one written the old way."""
    config = tiny_config(EMA + ("eval_config.use_moving_averages=true",
                                f"train_config.freeze_variables=['{FROZEN}']"))
    model, optimizer, averages = _trained_with_averages(config, freeze=(FROZEN,))
    assert averages and not any(name.startswith(FROZEN) for name in averages)
    checkpoint = (ckpt_lib.make_checkpoint(model, optimizer) if layout == "named"
                  else _old_layout_checkpoint(model, optimizer))
    path = ckpt_lib.RunCheckpoints(tmp_path, checkpoint).save(3)
    entries = ckpt_lib._entry_names(path, ckpt_lib.AVERAGES_ENTRY)
    assert entries == (set(averages) if layout == "named" else None)

    weights, averaged = _inference_weights(config, path)
    assert averaged
    _assert_inference_weights(weights, model, averages)
    raw, averaged = _inference_weights(tiny_config(EMA), path)  # the evaluation used no averages
    assert not averaged
    _assert_inference_weights(raw, model, {})
    if layout == "named":  # by name: the config's freeze patterns are not needed to find them
        weights, _ = _inference_weights(tiny_config(EMA + ("eval_config.use_moving_averages=true",
                                                           )), path)
        _assert_inference_weights(weights, model, averages)


def test_a_checkpoint_of_the_old_layout_resumes_with_its_averages(tiny_config, tmp_path):
    config = tiny_config(EMA)
    model, optimizer, _ = _trained_with_averages(config)
    path = ckpt_lib.RunCheckpoints(tmp_path, _old_layout_checkpoint(model, optimizer)).save(3)
    fresh, fresh_optimizer = _model_and_optimizer(config, seed=7)
    restored = ckpt_lib.RunCheckpoints(tmp_path, ckpt_lib.make_checkpoint(fresh, fresh_optimizer))
    assert restored.restore_latest() == 3 and path == restored.latest
    for want, got in zip(optimizer._model_variables_moving_average,
                         fresh_optimizer._model_variables_moving_average):
        np.testing.assert_array_equal(got.numpy(), want.numpy())
    # The next save holds them by name too, and resumes with them.
    named = restored.save(4)
    assert ckpt_lib._entry_names(named, ckpt_lib.AVERAGES_ENTRY) == {
        n for n, v in ckpt_lib.variable_map(fresh).items()
        if any(v is t for t in fresh.trainable_variables)}
    third, third_optimizer = _model_and_optimizer(config, seed=9)
    again = ckpt_lib.RunCheckpoints(tmp_path, ckpt_lib.make_checkpoint(third, third_optimizer))
    assert again.restore_latest() == 4
    for want, got in zip(optimizer._model_variables_moving_average,
                         third_optimizer._model_variables_moving_average):
        np.testing.assert_array_equal(got.numpy(), want.numpy())


def test_an_unbuilt_optimizer_with_averages_is_refused(tiny_config):
    config = tiny_config(EMA)
    model = model_builder.build(config.model, is_training=True, seed=1)
    model.ensure_built()
    optimizer, _ = optimizer_builder.build_optimizer(config.train_config.optimizer)
    with pytest.raises(ValueError, match="build the optimizer"):
        ckpt_lib.make_checkpoint(model, optimizer)


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


def _dead_pid() -> int:
    process = subprocess.Popen(["true"])
    process.wait()
    return process.pid


def test_best_follows_the_log_after_a_crash_between_log_and_copy(tmp_path):
    _run_with_checkpoints(tmp_path, [(1, 0.3)])
    assert ckpt_lib.sync_best(tmp_path, METRIC).step == 1
    _run_with_checkpoints(tmp_path, [(2, 0.6)])        # logged, but best/ not updated (crash)
    half_made = tmp_path / f".best.tmp-{_dead_pid()}-0a1b2c3d"   # a copy killed half-way
    half_made.mkdir()
    shutil.copy(tmp_path / "ckpt-2.index", half_made)
    (tmp_path / "best.tmp").mkdir()                     # the same, of an earlier version
    assert ckpt_lib.read_best(tmp_path).step == 1
    assert ckpt_lib.sync_best(tmp_path, METRIC).step == 2
    assert sorted(p.name for p in tmp_path.iterdir() if "best" in p.name) == ["best"]
    assert _restored_step(ckpt_lib.best_checkpoint(tmp_path)) == 2.0


def test_a_failed_copy_to_best_leaves_the_old_best_whole(tmp_path, monkeypatch):
    _run_with_checkpoints(tmp_path, [(1, 0.3), (2, 0.6)])
    ckpt_lib.copy_to_best(tmp_path, str(tmp_path / "ckpt-1"),
                          ckpt_lib.Best(1, METRIC, 0.3, "ckpt-1"))
    before = {p.name: p.read_bytes() for p in (tmp_path / "best").iterdir()}
    copied = []

    def copy_then_full(source, target, **kwargs):
        if copied:
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), str(target))
        copied.append(target)
        return shutil.copy(source, target)

    monkeypatch.setattr(shutil, "copyfile", copy_then_full)
    with pytest.raises(OSError, match="No space left on device"):
        ckpt_lib.sync_best(tmp_path, METRIC)
    monkeypatch.undo()
    assert copied  # the copy had begun
    assert {p.name: p.read_bytes() for p in (tmp_path / "best").iterdir()} == before
    assert sorted(p.name for p in tmp_path.iterdir() if "best" in p.name) == ["best"]


def test_a_replacement_of_best_killed_between_its_renames_is_undone(tmp_path):
    """The kill is simulated: best/ moved aside under a dead process's name, the new copy
    complete beside it."""
    _run_with_checkpoints(tmp_path, [(1, 0.3), (2, 0.6)])
    ckpt_lib.copy_to_best(tmp_path, str(tmp_path / "ckpt-1"),
                          ckpt_lib.Best(1, METRIC, 0.3, "ckpt-1"))
    pid = _dead_pid()
    (tmp_path / "best").rename(tmp_path / f".best.old-{pid}-00000000")
    (tmp_path / f".best.tmp-{pid}-00000000").mkdir()
    assert ckpt_lib.best_checkpoint(tmp_path) is None
    assert ckpt_lib.sync_best(tmp_path, METRIC).step == 2
    assert sorted(p.name for p in tmp_path.iterdir() if "best" in p.name) == ["best"]
    assert _restored_step(ckpt_lib.best_checkpoint(tmp_path)) == 2.0


def test_an_unreadable_best_json_is_rebuilt_from_the_log(tmp_path, caplog):
    _run_with_checkpoints(tmp_path, [(1, 0.3), (2, 0.6)])
    ckpt_lib.sync_best(tmp_path, METRIC)
    (tmp_path / "best" / "best.json").write_text('{"step": 2, "met')
    assert ckpt_lib.sync_best(tmp_path, METRIC) == ckpt_lib.Best(2, METRIC, 0.6, "ckpt-2")
    assert "best.json: not a best-checkpoint record" in caplog.text
    assert ckpt_lib.read_best(tmp_path).step == 2


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


# ------------------------------------------------------------------------------------ faults


def _saver(run_dir, max_to_keep: int = 3):
    variable = tf.Variable(tf.zeros([1000]))
    return variable, ckpt_lib.RunCheckpoints(run_dir, tf.train.Checkpoint(v=variable),
                                             max_to_keep=max_to_keep)


def _save_steps(run_dir, steps) -> None:
    variable, saver = _saver(run_dir)
    for step in steps:
        variable.assign(tf.fill([1000], float(step)))
        saver.save(step)


def _restored(saver_variable) -> float:
    return float(saver_variable.numpy()[0])


def test_a_full_disk_while_saving_removes_the_partial_save_and_keeps_the_others(tmp_path,
                                                                               monkeypatch):
    """Simulated the way TensorFlow fails on a full disk (seen on a 200 KB tmpfs): the shard
    in ckpt-N_temp/ fails with ResourceExhaustedError '...; No space left on device'."""
    variable, saver = _saver(tmp_path)
    saver.save(1)
    real_save = tf.train.CheckpointManager.save

    def full_disk(self, checkpoint_number=None, **kwargs):
        temp = tmp_path / f"ckpt-{checkpoint_number}_temp"
        temp.mkdir()
        part = temp / "part-00000-of-00001.data-00000-of-00001"
        part.write_bytes(b"\0" * 100)
        (tmp_path / f"ckpt-{checkpoint_number}.index").write_bytes(b"half")
        raise tf.errors.ResourceExhaustedError(None, None, f"{part}; No space left on device")

    monkeypatch.setattr(tf.train.CheckpointManager, "save", full_disk)
    with pytest.raises(ckpt_lib.CheckpointSaveError) as failed:
        saver.save(2)
    assert str(failed.value) == (
        f"{tmp_path}: cannot save ckpt-2 (no space left on device); its partial files are "
        f"removed, the earlier checkpoints are intact (the latest is {tmp_path / 'ckpt-1'})")
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "checkpoint", "ckpt-1.data-00000-of-00001", "ckpt-1.index"]
    monkeypatch.setattr(tf.train.CheckpointManager, "save", real_save)
    variable.assign(tf.fill([1000], 2.0))
    assert saver.save(2).endswith("ckpt-2")
    assert ckpt_lib.kept_checkpoints(tmp_path) == [str(tmp_path / "ckpt-1"),
                                                   str(tmp_path / "ckpt-2")]


def test_a_save_interrupted_by_ctrl_c_leaves_nothing_half_written(tmp_path, monkeypatch):
    _, saver = _saver(tmp_path)
    saver.save(1)

    def interrupted(self, checkpoint_number=None, **kwargs):
        (tmp_path / f"ckpt-{checkpoint_number}_temp").mkdir()
        raise KeyboardInterrupt

    monkeypatch.setattr(tf.train.CheckpointManager, "save", interrupted)
    with pytest.raises(KeyboardInterrupt):
        saver.save(2)
    assert ckpt_lib.latest_step(tmp_path) == 1 and not (tmp_path / "ckpt-2_temp").exists()


def test_interrupted_saves_of_a_killed_process_are_removed(tmp_path, caplog):
    _save_steps(tmp_path, [1])
    (tmp_path / "ckpt-2_temp").mkdir()
    (tmp_path / "ckpt-2_temp" / "part-00000-of-00001.index").write_bytes(b"x")
    (tmp_path / "notes_temp").mkdir()                  # not a checkpoint's: left alone
    assert ckpt_lib.remove_interrupted_saves(tmp_path) == [tmp_path / "ckpt-2_temp"]
    assert f"{tmp_path / 'ckpt-2_temp'}: removed the half-written checkpoint" in caplog.text
    assert (tmp_path / "notes_temp").exists() and ckpt_lib.latest_step(tmp_path) == 1


def _truncate(path, size=None) -> None:
    os.truncate(path, os.path.getsize(path) // 2 if size is None else size)


def test_a_damaged_latest_checkpoint_is_named_with_the_earlier_one_that_restores(tmp_path):
    _save_steps(tmp_path, [1, 2, 3])
    _truncate(tmp_path / "ckpt-3.data-00000-of-00001")   # cut short
    _truncate(tmp_path / "ckpt-2.index", 0)              # emptied
    variable, saver = _saver(tmp_path)
    with pytest.raises(ckpt_lib.CheckpointRestoreError) as failed:
        saver.restore_latest()
    assert str(failed.value) == (
        f"{tmp_path / 'ckpt-3'}: cannot restore this checkpoint, its files are missing, "
        "truncated or corrupted (Read less bytes than requested); the earlier "
        f"{tmp_path / 'ckpt-1'} restores: move ckpt-3.index and ckpt-3.data-* out of "
        f"{tmp_path} to resume from step 1")
    # The advice works: without ckpt-3 and the damaged ckpt-2 the run resumes from step 1 and
    # saves on.
    for path in tmp_path.glob("ckpt-[23].*"):
        path.unlink()
    variable, saver = _saver(tmp_path)
    assert saver.restore_latest() == 1 and _restored(variable) == 1.0
    assert saver.save(2).endswith("ckpt-2") and ckpt_lib.latest_step(tmp_path) == 2


def test_a_damaged_checkpoint_without_an_earlier_one_and_for_eval_only(tmp_path):
    _save_steps(tmp_path, [1, 2])
    data = tmp_path / "ckpt-2.data-00000-of-00001"
    with open(data, "r+b") as f:                         # flipped bytes: a bad checksum
        f.seek(100)
        f.write(b"\xff" * 64)
    _truncate(tmp_path / "ckpt-1.index")
    _, saver = _saver(tmp_path)
    with pytest.raises(ckpt_lib.CheckpointRestoreError,
                       match=r"ckpt-2: cannot restore this checkpoint, its files are missing, "
                             r"truncated or corrupted \(TensorFlow data loss: .*Checksum does "
                             r"not match.*\); no earlier checkpoint of the run restores$"):
        saver.restore_latest()
    with pytest.raises(ckpt_lib.CheckpointRestoreError,
                       match=rf"ckpt-1: cannot restore .*\(TensorFlow op: not an sstable "
                             rf"\(bad magic number\)\); move ckpt-1.index and ckpt-1.data-\* "
                             rf"out of {tmp_path} to skip it$"):
        saver.restore(str(tmp_path / "ckpt-1"))


def test_checkpoints_the_state_file_does_not_list_are_not_started_over(tmp_path):
    _save_steps(tmp_path, [1, 2])
    (tmp_path / "checkpoint").write_text("model_checkpoint_path: ")     # torn by an edit
    variable, saver = _saver(tmp_path)
    with pytest.raises(ckpt_lib.CheckpointRestoreError) as failed:
        saver.restore_latest()
    assert str(failed.value) == (
        f"{tmp_path / 'checkpoint'} is missing or unreadable, yet {tmp_path} holds ckpt-1, "
        'ckpt-2; restore it, or write the line model_checkpoint_path: "ckpt-2" into it to '
        "resume from ckpt-2")
    (tmp_path / "checkpoint").write_text('model_checkpoint_path: "ckpt-2"\n')
    variable, saver = _saver(tmp_path)
    assert saver.restore_latest() == 2 and _restored(variable) == 2.0
    assert _saver(tmp_path / "fresh")[1].restore_latest() is None
