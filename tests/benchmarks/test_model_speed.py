"""benchmarks/model_speed.py on a tiny model: the training step it times is the project's
Trainer step, FLOPs are reported per image, and a machine probe is printed."""

from __future__ import annotations

import importlib.util
import sys

import pytest

from object_detection.training import trainer as trainer_lib
from tests.export.conftest import QUICKSTART, REPO, TINY_OVERRIDES


def _load_benchmark():
    """benchmarks/model_speed.py as a module (benchmarks/ is no package), loaded anew."""
    name = "benchmarks_model_speed"
    spec = importlib.util.spec_from_file_location(name, REPO / "benchmarks" / "model_speed.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module          # dataclasses look their module up there
    spec.loader.exec_module(module)
    return module


def test_the_training_step_is_the_trainers_and_flops_are_per_image(monkeypatch, capsys):
    model_speed = _load_benchmark()
    steps = []

    class CountingTrainer(trainer_lib.Trainer):
        def train_step(self, batch):
            losses = super().train_step(batch)
            steps.append((self.step, type(self.optimizer).__name__, self.settings.clip_norm))
            return losses

    monkeypatch.setattr(model_speed, "Trainer", CountingTrainer)
    monkeypatch.setattr(model_speed, "PROBE_SIZE", 256)
    overrides = [f"--override={o}" for o in TINY_OVERRIDES]
    assert model_speed.main(["--config", str(QUICKSTART), "--size", "64x64", "--batch_size",
                             "2", "--steps", "2", *overrides]) == 0
    # one warm-up and two timed steps of the quickstart's Adam, clipped at 10, as training does
    assert steps == [(1, "Adam", 10.0), (2, "Adam", 10.0), (3, "Adam", 10.0)]
    out = capsys.readouterr().out
    assert "GFLOP/image" in out and "Trainer.train_step" in out
    assert "machine probe (256 x 256 float32 matmul, GFLOP/s):" in out and "after training" in out


def test_timings_per_image_divide_by_the_batch():
    model_speed = _load_benchmark()
    timing = model_speed.Timing("inference", seconds=0.5, batch=2, flops=8e9)
    assert timing.per_image == 0.25 and timing.flops_per_image == 4e9
    assert "4.00" in model_speed.format_table([timing], 2)
    assert model_speed.machine_probe(size=128, rounds=2, calls=1) > 0


@pytest.mark.parametrize("size", ["64", "10x10"])
def test_a_bad_size_is_refused(size):
    with pytest.raises(ValueError, match="--size"):
        _load_benchmark().parse_size(size)
