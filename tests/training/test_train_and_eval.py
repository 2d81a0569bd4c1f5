"""train_and_eval.py end to end on tiny data: a grid of two runs x two anchor-scale sets (logs,
checkpoints, best/, summary tags, the table, complete runs skipped), a non-finite loss, and the
command line itself (--help, override routing, errors)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

import train_and_eval
from object_detection import config as config_lib
from object_detection.dataset_tools.synthetic_dataset import record_pattern
from object_detection.evaluation import metric_names, results_log
from object_detection.training import checkpoints as ckpt_lib
from object_detection.training import run_specs
from object_detection.training.summaries import read_scalars
from tests.training.conftest import QUICKSTART, tiny_model_overrides, tiny_overrides

METRIC = "DetectionMasks_Precision/mAP@.50IOU"
LOSSES = ["Loss/RPNLoss/localization_loss", "Loss/RPNLoss/objectness_loss",
          "Loss/BoxClassifierLoss/localization_loss",
          "Loss/BoxClassifierLoss/classification_loss", "Loss/BoxClassifierLoss/mask_loss",
          "Loss/total_loss"]
RUN_NAMES = ["1st_run_tiny_stride8_0.125_0.25", "1st_run_tiny_stride8_0.25_0.5",
             "2nd_run_tiny_stride8_0.125_0.25", "2nd_run_tiny_stride8_0.25_0.5"]


def _grid(tmp_path: Path, data: Path) -> Path:
    overrides = "\n".join(f'override: "{o}"' for o in tiny_model_overrides())
    text = f"""
base_pipeline_config: "{QUICKSTART}"
dataset {{ name: "tiny" train_input_path: "{record_pattern(str(data), 'train')}" }}
eval_input_path: "{record_pattern(str(data), 'eval')}"
run: ["1st", "2nd"]
stride: 8
anchor_scales {{ scale: [0.125, 0.25] }}
anchor_scales {{ scale: [0.25, 0.5] }}
{overrides}
steps_per_epoch: 2
total_steps: 4
output_dir: "{tmp_path / 'runs'}"
best_checkpoint_metric: "{METRIC}"
seed: 3
"""
    path = tmp_path / "grid.config"
    path.write_text(text, encoding="utf-8")
    return path


@pytest.mark.slow
def test_a_tiny_grid_end_to_end_then_skipped_when_complete(tiny_data, tmp_path, capsys):
    grid = _grid(tmp_path, tiny_data)
    cosine = (config_lib.load_pipeline_config(QUICKSTART).train_config.optimizer.adam_optimizer
              .learning_rate.cosine_decay_learning_rate)
    warm, base = cosine.warmup_learning_rate, cosine.learning_rate_base
    warmup_steps = cosine.warmup_steps
    assert warmup_steps > 4
    assert train_and_eval.main(["--experiment", str(grid), "--log_every_n_steps", "1"]) == 0
    out = capsys.readouterr().out
    runs = tmp_path / "runs"
    assert sorted(p.name for p in runs.iterdir()) == RUN_NAMES
    first_losses = {}
    for name in RUN_NAMES:
        run_dir = runs / name
        evaluations = results_log.read_evaluations(str(run_dir))
        assert [e.step for e in evaluations] == [2, 4]
        assert [e.checkpoint for e in evaluations] == ["ckpt-2", "ckpt-4"]
        assert set(evaluations[0].metrics) == set(metric_names.metric_names(True))
        assert ckpt_lib.latest_step(run_dir) == 4
        assert ckpt_lib.read_best(run_dir) == ckpt_lib.best_from_log(run_dir, METRIC)
        assert ckpt_lib.best_checkpoint(run_dir) is not None

        train = read_scalars(run_dir / "train")
        assert set(LOSSES + ["learning_rate", "steps_per_sec"]) <= set(train)
        assert [step for step, _ in train["Loss/total_loss"]] == [1, 2, 3, 4]
        # The warm-up of quickstart.config's cosine_decay_learning_rate rises linearly from
        # warmup_learning_rate to learning_rate_base; step s reports the rate of its update,
        # schedule(s - 1).
        rates = [value for _, value in train["learning_rate"]]
        assert rates == pytest.approx([warm + (base - warm) * s / warmup_steps
                                       for s in range(4)], rel=1e-5)
        total = dict(train["Loss/total_loss"])[1]
        parts = sum(dict(train[name])[1] for name in LOSSES[:-1])
        assert total == pytest.approx(parts, rel=1e-5)
        first_losses[name] = total

        eval_scalars = read_scalars(run_dir / "eval")
        assert set(metric_names.metric_names(True)) | set(LOSSES) <= set(eval_scalars)
        for evaluation in evaluations:
            logged = {tag: dict(values)[evaluation.step] for tag, values in eval_scalars.items()}
            for metric, value in evaluation.metrics.items():
                assert logged[metric] == pytest.approx(value, abs=1e-6)
    # Run names have their own seeds (grid seed + run index): "1st" and "2nd" differ.
    assert first_losses[RUN_NAMES[0]] != first_losses[RUN_NAMES[2]]
    table = out[out.index("Best evaluation of each run"):]
    for name in RUN_NAMES:
        assert re.search(rf"^{name}\s+trained\s+4\s+[24]\s", table, re.M), table
    assert f"python coco_metrics.py --log_dir {runs}" in out

    # Again: everything is complete, nothing is trained or evaluated twice.
    events = sorted(runs.rglob("events.out.tfevents.*"))
    assert train_and_eval.main(["--experiment", str(grid)]) == 0
    out = capsys.readouterr().out
    assert out.count("complete (step 4 saved and evaluated), skipped") == 4
    assert sorted(runs.rglob("events.out.tfevents.*")) == events
    for name in RUN_NAMES:
        assert [e.step for e in results_log.read_evaluations(str(runs / name))] == [2, 4]
    assert train_and_eval.main(["--experiment", str(grid), "--only", "2nd*0.25_0.5",
                                "--eval_only"]) == 0
    out = capsys.readouterr().out
    assert "1 run(s)" in out and "kept checkpoint(s) are evaluated already" in out

    # --eval_only evaluates the kept checkpoints missing from a log (here: a lost log).
    lost = runs / RUN_NAMES[0]
    before = results_log.read_evaluations(str(lost))
    (lost / results_log.EVALUATIONS_FILE).unlink()
    assert train_and_eval.main(["--experiment", str(grid), "--only", RUN_NAMES[0],
                                "--eval_only"]) == 0
    after = results_log.read_evaluations(str(lost))
    assert [e.step for e in after] == [2, 4]
    for old, new in zip(before, after):  # the restored checkpoints give the same numbers
        assert new.metrics == pytest.approx(old.metrics, abs=1e-6)


@pytest.mark.slow
def test_a_non_finite_loss_stops_the_run_and_keeps_the_checkpoints(tiny_data, tmp_path, capsys):
    run_dir = tmp_path / "diverging"
    args = ["--pipeline_config", str(QUICKSTART), "--model_dir", str(run_dir),
            "--num_train_steps", "3", "--steps_per_epoch", "1"]
    rate = ("train_config.optimizer={momentum_optimizer {learning_rate {constant_learning_rate "
            "{learning_rate: 1e30}} momentum_optimizer_value: 0.0}}")
    for override in tiny_overrides(tiny_data) + [rate, "train_config.gradient_clipping_by_norm=0"]:
        args += ["--override", override]
    assert train_and_eval.main(args) == 1
    captured = capsys.readouterr()
    error = captured.err.strip().splitlines()[-1]
    assert error.startswith("error: diverging: non-finite loss at step 2: Loss/RPNLoss/")
    assert error.endswith(f"training stopped, nothing saved after it; the latest checkpoint is "
                          f"{run_dir / 'ckpt-1'}")
    assert ckpt_lib.latest_step(run_dir) == 1 and not list(run_dir.glob("ckpt-2*"))
    assert [e.step for e in results_log.read_evaluations(str(run_dir))] == [1]
    assert re.search(r"^diverging\s+failed\s+1\s", captured.out, re.M)


def test_help_explains_every_flag(capsys):
    with pytest.raises(SystemExit) as caught:
        train_and_eval.main(["--help"])
    assert caught.value.code == 0
    text = capsys.readouterr().out
    for flag in ("--experiment", "--pipeline_config", "--model_dir", "--override", "--only",
                 "--num_train_steps", "--steps_per_epoch", "--eval_only", "--log_every_n_steps",
                 "--cpu_replicas"):
        assert flag in text
    assert "configs/experiments/quickstart.config" in text


def test_pipeline_overrides_on_the_command_line_reach_every_run_of_a_grid(tiny_data, tmp_path):
    grid = _grid(tmp_path, tiny_data)
    args = train_and_eval.build_parser().parse_args(
        ["--experiment", str(grid), "--override", "model.faster_rcnn.maxpool_stride=1",
         "--override", "steps_per_epoch=1", "--override", "train_config.batch_size=3"])
    runs, _ = run_specs.grid_runs(args.experiment, args.override, args.only)
    assert [r.name for r in runs] == RUN_NAMES
    for run in runs:
        assert run.pipeline_config.model.faster_rcnn.maxpool_stride == 1
        assert run.pipeline_config.train_config.batch_size == 3
        assert run.steps_per_epoch == 1
        # the grid's own overrides still apply
        assert run.pipeline_config.model.faster_rcnn.first_stage_max_proposals == 10


def test_wrong_inputs_exit_with_one_sentence(tmp_path, capsys):
    assert train_and_eval.main(["--experiment", str(tmp_path / "missing.config")]) == 1
    assert capsys.readouterr().err.startswith(f"error: experiment grid not found: {tmp_path}")
    assert train_and_eval.main(["--pipeline_config", str(QUICKSTART), "--override",
                                "train_config.num_steps=0"]) == 1
    assert "train_config.num_steps is 0 (no limit); give --num_train_steps" in \
        capsys.readouterr().err
