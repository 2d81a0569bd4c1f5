"""Loading TF1 slim-named checkpoints (written here with a tf.compat.v1 Saver) by name."""

from __future__ import annotations

import logging

import numpy as np
import pytest
import tensorflow as tf

from object_detection.models import slim_checkpoint as sc
from object_detection.models.faster_rcnn_resnet_v1_feature_extractor import (
    FasterRcnnResnetV1FeatureExtractor as Extractor,
)
from tests.models import resnet_reference as ref

ARCH = "resnet_tiny"


def _values_for(extractor: Extractor, layout: str, seed: int = 0) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    return {name: ref.random_value(name, tuple(var.shape), rng)
            for name, var in extractor.checkpoint_variable_map(layout).items()}


@pytest.mark.parametrize("layout", ["detection", "classification"])
def test_every_variable_gets_the_value_written_under_its_slim_name(tmp_path, layout):
    extractor = Extractor(ARCH, 8)
    values = _values_for(extractor, layout)
    extra = {"global_step": np.array(7, np.int64)}
    prefix = ref.write_tf1_checkpoint(tmp_path / "model.ckpt", {**values, **extra})
    report = sc.load_slim_checkpoint(prefix, extractor.checkpoint_variable_map(layout))
    assert sorted(report.restored) == sorted(values) and not report.skipped
    assert report.unused == ["global_step"]
    slim = extractor.slim_variables()
    stage_prefix = {"detection": {"first": "FirstStageFeatureExtractor/",
                                  "second": "SecondStageFeatureExtractor/"},
                    "classification": {"first": "", "second": ""}}[layout]
    for stage in ("first", "second"):
        for name, variable in extractor.slim_variables(stage).items():
            np.testing.assert_array_equal(variable.numpy(), values[stage_prefix[stage] + name])
    # The layers got them: conv1's kernel and block4's shortcut moving mean, looked up directly.
    np.testing.assert_array_equal(extractor.first_stage_network.root.kernel.numpy(),
                                  values[stage_prefix["first"] + f"{ARCH}/conv1/weights"])
    shortcut = extractor.second_stage_network.units[0][0].shortcut
    np.testing.assert_array_equal(shortcut.moving_mean.numpy(), values[
        stage_prefix["second"]
        + f"{ARCH}/block4/unit_1/bottleneck_v1/shortcut/BatchNorm/moving_mean"])
    assert slim[f"{ARCH}/conv1/weights"] is extractor.first_stage_network.root.kernel


def test_loaded_extractor_computes_the_same_features(tmp_path):
    source = Extractor(ARCH, 16)
    values = ref.randomize(source.checkpoint_variable_map("detection"), seed=5)
    prefix = ref.write_tf1_checkpoint(tmp_path / "model.ckpt", values)
    target = Extractor(ARCH, 16)
    sc.load_slim_checkpoint(tmp_path, target.checkpoint_variable_map("detection"))
    images = tf.random.uniform([1, 48, 48, 3], 0, 255, seed=1)
    np.testing.assert_allclose(target.first_stage(target.preprocess(images)),
                               source.first_stage(source.preprocess(images)), rtol=1e-6)
    assert sc.resolve_checkpoint(tmp_path) == prefix


def test_shape_mismatch_and_missing_names_start_fresh(tmp_path, caplog):
    extractor = Extractor(ARCH, 8)
    mapping = extractor.checkpoint_variable_map("classification")
    values = _values_for(extractor, "classification")
    bad = f"{ARCH}/block2/unit_1/bottleneck_v1/conv2/weights"
    values[bad] = np.zeros((3, 3, 16, 99), np.float32)
    missing = f"{ARCH}/block4/unit_1/bottleneck_v1/conv3/BatchNorm/beta"
    del values[missing]
    prefix = ref.write_tf1_checkpoint(tmp_path / "model.ckpt", values)
    before = mapping[bad].numpy()
    report = sc.load_slim_checkpoint(prefix, mapping)
    assert report.shape_mismatches == [
        sc.SkippedVariable(bad, sc.SHAPE_MISMATCH, (3, 3, 16, 99), (3, 3, 16, 16))]
    assert report.missing == [missing]
    assert sorted(report.fresh) == sorted([bad, missing])
    assert len(report.restored) == len(mapping) - 2
    np.testing.assert_array_equal(mapping[bad].numpy(), before)
    np.testing.assert_array_equal(mapping[missing].numpy(), np.zeros(256))  # initial beta
    with caplog.at_level(logging.INFO, logger=sc.__name__):
        sc.log_restore_report(report)
    assert caplog.records[0].levelno == logging.WARNING
    text = caplog.text
    assert f"restored {len(mapping) - 2} of {len(mapping)} variables" in text
    assert f"{bad}: checkpoint [3, 3, 16, 99] vs model [3, 3, 16, 16]" in text
    assert "1 missing in checkpoint" in text and missing in text


def test_wrong_layout_restores_nothing_and_says_so(tmp_path, caplog):
    extractor = Extractor(ARCH, 8)
    prefix = ref.write_tf1_checkpoint(tmp_path / "model.ckpt",
                                      _values_for(extractor, "classification"))
    assert sc.detect_layout(prefix, ARCH) == "classification"
    report = sc.load_slim_checkpoint(prefix, extractor.checkpoint_variable_map("detection"))
    assert not report.restored and len(report.missing) == len(report.unused)
    with caplog.at_level(logging.WARNING, logger=sc.__name__):
        sc.log_restore_report(report)
    assert "nothing was restored" in caplog.text


def test_detect_layout_and_dtype_cast(tmp_path):
    prefix = ref.write_tf1_checkpoint(tmp_path / "det.ckpt", {
        f"FirstStageFeatureExtractor/{ARCH}/conv1/weights": np.ones((7, 7, 3, 8), np.float64),
        "step": np.array(3, np.int64)})
    assert sc.detect_layout(prefix, ARCH) == "detection"
    with pytest.raises(ValueError, match="resnet_v1_101"):
        sc.detect_layout(prefix, "resnet_v1_101")
    weights, step = tf.Variable(tf.zeros((7, 7, 3, 8))), tf.Variable(0.0)
    report = sc.load_slim_checkpoint(prefix, {
        f"FirstStageFeatureExtractor/{ARCH}/conv1/weights": weights, "step": step})
    assert weights.dtype == tf.float32 and float(tf.reduce_min(weights)) == 1.0
    assert [s.reason for s in report.skipped] == [sc.DTYPE_MISMATCH]


def test_missing_and_unreadable_checkpoints(tmp_path):
    with pytest.raises(FileNotFoundError, match="nothing.ckpt"):
        sc.load_slim_checkpoint(tmp_path / "nothing.ckpt", {})
    with pytest.raises(FileNotFoundError, match="no checkpoint in this directory"):
        sc.resolve_checkpoint(tmp_path)
    (tmp_path / "broken.ckpt.index").write_bytes(b"not a checkpoint")
    with pytest.raises(ValueError, match="broken.ckpt: cannot read"):
        sc.load_slim_checkpoint(tmp_path / "broken.ckpt", {})
