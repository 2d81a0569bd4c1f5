"""benchmarks/model_speed.py on a tiny model: the training step it times is the project's
Trainer step, inference is broken down into its three stages, FLOPs are reported per image,
the benchmark weights are a function of the variable names that keeps activations of order
one, they round-trip through a TF1 checkpoint, and a package without ``precision`` times
float32 only."""

from __future__ import annotations

import contextlib
import importlib.util
import io
import json
import math
import sys

import numpy as np
import pytest
import tensorflow as tf

from object_detection import config as config_lib
from object_detection.builders import model_builder
from object_detection.models import slim_checkpoint
from object_detection.training import fine_tune
from object_detection.training import trainer as trainer_lib
from tests.export.conftest import (
    NMS,
    QUICKSTART,
    REPO,
    TINY_ANCHORS,
    TINY_MODEL_OVERRIDES,
)

PUBLISHED = REPO / "configs" / "mask_rcnn_resnet101_atrous_pictorial_maps.config"
# The tiny model of the export tests, but with the benchmark's own detection overrides (its
# default --detections 30) in place of the tiny NMS settings; 5 detections at most.
BENCH_OVERRIDES = (TINY_ANCHORS, *[o for o in TINY_MODEL_OVERRIDES if not o.startswith(NMS)],
                   f"{NMS}.max_total_detections=5")
SMALL_PROBE = (1, 16, 16, 32)


def _load_benchmark():
    """benchmarks/model_speed.py as a module (benchmarks/ is no package), loaded anew."""
    name = "benchmarks_model_speed"
    spec = importlib.util.spec_from_file_location(name, REPO / "benchmarks" / "model_speed.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module          # dataclasses look their module up there
    spec.loader.exec_module(module)
    return module


def _tiny_model(model_speed):
    config = config_lib.load_pipeline_config(QUICKSTART, list(BENCH_OVERRIDES))
    model = model_builder.build(config.model, is_training=True, seed=0)
    model.ensure_built((64, 64))
    return model


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory):
    """One benchmark run of the tiny model (batch 2, 2 steps, JSON and a checkpoint written),
    with the Trainer's steps recorded: (module, stdout, JSON, checkpoint folder, steps)."""
    model_speed = _load_benchmark()
    out = tmp_path_factory.mktemp("model_speed")
    steps = []

    class CountingTrainer(trainer_lib.Trainer):
        def train_step(self, batch):
            losses = super().train_step(batch)
            steps.append((self.step, type(self.optimizer).__name__, self.settings.clip_norm))
            return losses

    overrides = [f"--override={o}" for o in BENCH_OVERRIDES]
    argv = ["--config", str(QUICKSTART), "--size", "64x64", "--batch_size", "2", "--steps",
            "2", "--json", str(out / "speed.json"), "--write_checkpoint", str(out / "weights"),
            "--profile", str(out / "profile"), *overrides]
    printed = io.StringIO()
    with pytest.MonkeyPatch.context() as patch, contextlib.redirect_stdout(printed):
        patch.setattr(model_speed, "Trainer", CountingTrainer)
        patch.setattr(model_speed, "PROBE_SHAPE", SMALL_PROBE)
        assert model_speed.main(argv) == 0
    figures = json.loads((out / "speed.json").read_text(encoding="utf-8"))
    return model_speed, printed.getvalue(), figures, out / "weights", steps


def test_the_training_step_is_the_trainers_and_flops_are_per_image(tiny_run):
    _, out, figures, _, steps = tiny_run
    # one warm-up and two timed steps of the quickstart's Adam, clipped at 10, as training does
    assert steps == [(1, "Adam", 10.0), (2, "Adam", 10.0), (3, "Adam", 10.0)]
    assert "GFLOP/image" in out and "Trainer.train_step" in out
    assert "machine probe (float32 3x3 conv [1, 16, 16, 32] -> 32 channels, GFLOP/s):" in out
    assert "after training" in out
    probes = figures["probe"]["gflop_per_second"]
    assert set(probes) == {"before_inference", "before_training", "after_training"}
    assert all(value > 0 for value in probes.values())
    training = figures["timings"]["training_step"]
    assert training["seconds_per_image"] == pytest.approx(training["seconds_per_call"] / 2)
    assert (figures["batch"], figures["size"], figures["precision"]) == (2, [64, 64], "float32")
    assert figures["tf_version"] == tf.__version__ and figures["device"]
    assert figures["package"] == str((REPO / "object_detection").resolve())


def test_inference_is_broken_down_into_three_stages(tiny_run):
    _, out, figures, _, _ = tiny_run
    timings = figures["timings"]
    assert figures["stages"] is True
    assert set(timings) == {"inference", "first_stage", "box_classifier", "postprocess_masks",
                            "training_step"}
    for line in ("first stage", "box classifier", "postprocess + masks", "(stages summed)"):
        assert line in out
    assert all(t["seconds_per_image"] > 0 for t in timings.values())
    # The mask path is sized by the detections: counted from the measured count (2 x 5 rows),
    # and the stages' FLOPs add up to those of the whole inference.
    assert figures["mask_rows"] == 10
    assert timings["postprocess_masks"]["gflop_from_detection_count"]
    assert not timings["first_stage"]["gflop_from_detection_count"]
    stages = sum(timings[k]["gflop_per_image"]
                 for k in ("first_stage", "box_classifier", "postprocess_masks"))
    assert stages == pytest.approx(timings["inference"]["gflop_per_image"], rel=0.01)


def test_the_profile_lists_op_types_by_self_time_and_convolutions_lead(tiny_run):
    _, out, figures, _, _ = tiny_run
    profile = figures["inference_op_profile"]
    assert sum(entry["share"] for entry in profile) == pytest.approx(1.0)
    times = [entry["ms_per_call"] for entry in profile]
    assert times == sorted(times, reverse=True) and times[0] > 0
    assert any("Conv2D" in entry["type"] for entry in profile[:5]), profile[:5]
    assert "IDLE" not in {entry["type"] for entry in profile}
    assert "inference profile" in out and "op types by self time per call" in out


def test_the_benchmark_weights_keep_activations_of_order_one_and_give_detections(tiny_run):
    _, out, figures, _, _ = tiny_run
    assert figures["detections_per_image"] == 5.0           # max_total_detections
    assert "detections per image: 5.0" in out and "WARNING" not in out
    activations = figures["activations"]
    assert all(math.isfinite(v) for v in activations.values())
    assert 0.1 < activations["block3_features_std"] < 10
    assert activations["block3_features_max_abs"] < 100
    assert 0 < activations["class_logits_max_abs"] < 10
    assert activations["rpn_objectness_logits_max_abs"] < 10
    assert 0 < activations["max_detection_score"] < 1


def test_the_detection_overrides_keep_30_boxes_a_map_by_default():
    model_speed = _load_benchmark()
    assert model_speed.detection_overrides(0) == []
    nms = config_lib.load_pipeline_config(
        PUBLISHED, model_speed.detection_overrides(model_speed.DETECTIONS)
    ).model.faster_rcnn.second_stage_post_processing.batch_non_max_suppression
    assert (nms.score_threshold, nms.max_detections_per_class) == (0.0, 30)
    with pytest.raises(ValueError, match="--detections"):
        model_speed.detection_overrides(-1)


def test_the_benchmark_weights_are_a_function_of_the_name():
    model_speed = _load_benchmark()
    weight = model_speed.benchmark_weight
    name = "FirstStageFeatureExtractor/resnet_v1_101/block3/unit_7/bottleneck_v1/conv2/weights"
    np.testing.assert_array_equal(weight(name, [3, 3, 64, 64]), weight(name, [3, 3, 64, 64]))
    other = name.replace("unit_7", "unit_8")
    assert not np.array_equal(weight(name, [3, 3, 64, 64]), weight(other, [3, 3, 64, 64]))
    assert not np.array_equal(weight(name, [3, 3, 64, 64]), weight(name, [3, 3, 64, 64], 1))
    # He normal, residual branches' last conv and the stem scaled down, heads small
    he = np.sqrt(2.0 / (3 * 3 * 64))
    assert weight(name, [3, 3, 64, 256]).std() == pytest.approx(he, rel=0.05)
    conv3 = name.replace("conv2", "conv3")
    assert weight(conv3, [1, 1, 256, 1024]).std() == pytest.approx(
        model_speed.RESIDUAL_SCALE * np.sqrt(2.0 / 256), rel=0.05)
    stem = "FirstStageFeatureExtractor/resnet_v1_101/conv1/weights"
    assert weight(stem, [7, 7, 3, 64]).std() == pytest.approx(
        model_speed.STEM_SCALE * np.sqrt(2.0 / 147), rel=0.05)
    head = "SecondStageBoxPredictor/ClassPredictor/weights"
    assert weight(head, [2048, 2]).std() == pytest.approx(model_speed.HEAD_STD, rel=0.1)
    batch_norm = name.replace("weights", "BatchNorm/")
    for leaf, value in (("gamma", 1), ("beta", 0), ("moving_mean", 0), ("moving_variance", 1)):
        np.testing.assert_array_equal(weight(batch_norm + leaf, [8]), np.full(8, value))
    np.testing.assert_array_equal(weight("Conv/biases", [4]), np.zeros(4))
    with pytest.raises(ValueError, match="no rule"):
        weight("Something/else", [2])


def test_two_fresh_models_get_the_same_benchmark_weights():
    model_speed = _load_benchmark()
    values = model_speed.assign_benchmark_weights(_tiny_model(model_speed), (64, 64))
    again = _tiny_model(model_speed)
    before = {n: v.numpy() for n, v in again.slim_variable_names().items()}
    assert any(not np.array_equal(before[n], values[n]) for n in values)   # a fresh init
    assert set(model_speed.assign_benchmark_weights(again, (64, 64))) == set(values)
    for name, variable in again.slim_variable_names().items():
        np.testing.assert_array_equal(variable.numpy(), values[name], err_msg=name)


def test_the_written_checkpoint_loads_back_name_by_name(tiny_run):
    model_speed, out, _, folder, _ = tiny_run
    assert f"benchmark weights written to {folder / 'model.ckpt'}" in out
    model = _tiny_model(model_speed)
    variables = model.slim_variable_names()
    report = slim_checkpoint.load_slim_checkpoint(folder, variables)
    assert sorted(report.restored) == sorted(variables)
    assert not report.skipped and not report.unused
    for name, variable in variables.items():
        np.testing.assert_array_equal(variable.numpy(),
                                      model_speed.benchmark_weight(name, variable.shape),
                                      err_msg=name)
    # ... and as a fine-tune start of type "detection" (the feature extractor).
    config = config_lib.load_pipeline_config(QUICKSTART, list(BENCH_OVERRIDES)).train_config
    config.fine_tune_checkpoint = str(folder)
    config.fine_tune_checkpoint_type = "detection"
    report = fine_tune.load_fine_tune_checkpoint(_tiny_model(model_speed), config)
    assert report.restored and not report.skipped
    assert all(n.startswith(fine_tune.FEATURE_EXTRACTOR_SCOPES) for n in report.restored)


def test_a_package_without_precision_times_float32_only(monkeypatch, capsys):
    model_speed = _load_benchmark()
    calls = []

    def old_build(model_config, is_training, *, seed=None, add_groundtruth_to_proposals=False):
        calls.append((is_training, seed))
        return "model"

    monkeypatch.setattr(model_speed.model_builder, "build", old_build)
    assert not model_speed.build_takes_precision()
    model_config = config_lib.load_pipeline_config(QUICKSTART).model
    assert model_speed.build_model(model_config, "float32") == "model"
    assert calls == [(True, 0)]
    with pytest.raises(ValueError, match="takes no 'precision' keyword"):
        model_speed.build_model(model_config, "bfloat16")
    assert model_speed.main(["--config", str(QUICKSTART), "--size", "64x64",
                             "--precision", "bfloat16"]) == 2
    assert "--precision bfloat16" in capsys.readouterr().err

    def new_build(model_config, is_training, *, seed=None, precision="float32"):
        calls.append(precision)
        return "model"

    monkeypatch.setattr(model_speed.model_builder, "build", new_build)
    assert model_speed.build_model(model_config, "bfloat16") == "model"
    assert calls[-1] == "bfloat16"


def test_timings_per_image_divide_by_the_batch():
    model_speed = _load_benchmark()
    timing = model_speed.Timing("inference", seconds=0.5, batch=2, flops=8e9)
    assert timing.per_image == 0.25 and timing.flops_per_image == 4e9
    assert "4.00" in model_speed.format_table([timing], 2)
    assert model_speed.machine_probe(SMALL_PROBE, rounds=2) > 0


def test_flops_of_a_dynamic_leading_dimension_are_counted_per_row():
    model_speed = _load_benchmark()
    kernel = tf.ones([3, 3, 4, 8])

    @tf.function(input_signature=[tf.TensorSpec([None, 5, 5, 4])])
    def convolve(x):
        return tf.nn.conv2d(x, kernel, 1, "SAME")

    count = model_speed.count_flops(convolve.get_concrete_function())
    assert (count.known, count.per_row, count.unknown) == (0.0, 2.0 * 5 * 5 * 8 * 36, 0)
    assert count.total(3) == 3 * count.per_row and count.total(None) is None


@pytest.mark.parametrize("size", ["64", "10x10"])
def test_a_bad_size_is_refused(size):
    with pytest.raises(ValueError, match="--size"):
        _load_benchmark().parse_size(size)
