"""Fine-tuning: which variables each fine_tune_checkpoint_type loads, from one of our
checkpoints and from a TF1 name-based one, with shape mismatches left fresh and reported."""

from __future__ import annotations

import keras
import numpy as np
import pytest
import tensorflow as tf

from object_detection.builders import model_builder
from object_detection.protos import train_pb2
from object_detection.training import checkpoints as ckpt_lib
from object_detection.training import fine_tune
from object_detection.training.fine_tune import FEATURE_EXTRACTOR_SCOPES


def _model(config, seed: int):
    keras.utils.set_random_seed(seed)
    model = model_builder.build(config.model, is_training=True, seed=seed)
    model.ensure_built()
    return model


def _by_name(model) -> dict[str, np.ndarray]:
    return {n: np.array(v.numpy()) for n, v in model.checkpoint_variable_map("detection").items()}


def _same(a: np.ndarray, b: np.ndarray) -> bool:
    return a.shape == b.shape and np.array_equal(a, b)


@pytest.fixture(scope="module")
def source(tiny_config, tmp_path_factory):
    """One of our checkpoints (a model with scrambled weights) and the values it holds."""
    model = _model(tiny_config(), seed=3)
    rng = np.random.default_rng(1)
    for variable in model.variables:
        if variable.dtype == "float32":
            variable.assign(rng.normal(size=variable.shape).astype("float32"))
    path = ckpt_lib.make_checkpoint(model).save(str(tmp_path_factory.mktemp("src") / "ckpt"))
    return path, _by_name(model)


def _config(path: str, kind: str = "", **fields) -> train_pb2.TrainConfig:
    return train_pb2.TrainConfig(fine_tune_checkpoint=path, fine_tune_checkpoint_type=kind,
                                 **fields)


def test_detection_loads_the_feature_extractor_only(tiny_config, source):
    path, saved = source
    model = _model(tiny_config(), seed=5)
    before = _by_name(model)
    report = fine_tune.load_fine_tune_checkpoint(model, _config(path, "detection"))
    after = _by_name(model)
    backbone = {n for n in saved if n.startswith(FEATURE_EXTRACTOR_SCOPES)}
    assert set(report.restored) == backbone and report.skipped == []
    assert all(_same(after[n], saved[n]) for n in backbone)
    assert all(_same(after[n], before[n]) for n in after if n not in backbone)


def test_full_loads_everything_and_leaves_other_shapes_fresh(tiny_config, source):
    path, saved = source
    model = _model(tiny_config(["model.faster_rcnn.num_classes=2"]), seed=5)
    before = _by_name(model)
    report = fine_tune.load_fine_tune_checkpoint(model, _config(path, "full"))
    after = _by_name(model)
    mismatched = {s.name for s in report.shape_mismatches}
    # The class-dependent layers: box classes and codes, and the per-class mask conv.
    assert mismatched == {"SecondStageBoxPredictor/ClassPredictor/weights",
                          "SecondStageBoxPredictor/ClassPredictor/biases",
                          "SecondStageBoxPredictor/BoxEncodingPredictor/weights",
                          "SecondStageBoxPredictor/BoxEncodingPredictor/biases",
                          "SecondStageBoxPredictor/Conv_1/weights",
                          "SecondStageBoxPredictor/Conv_1/biases"}
    assert set(report.restored) == set(saved) - mismatched
    assert all(_same(after[n], saved[n]) for n in report.restored)
    assert all(_same(after[n], before[n]) for n in mismatched)
    assert "6 shape mismatch, starting fresh" in report.summary()


def test_load_all_detection_vars_equals_full(tiny_config, source):
    path, saved = source
    model = _model(tiny_config(), seed=5)
    config = _config(path, "detection", load_all_detection_checkpoint_vars=True)
    report = fine_tune.load_fine_tune_checkpoint(model, config)
    assert set(report.restored) == set(saved)
    assert all(_same(v, saved[n]) for n, v in _by_name(model).items())


def test_a_tf1_name_based_checkpoint_loads_by_tf1_names(tiny_config, tmp_path, source):
    _, saved = source
    # A TF1-style checkpoint: plain names, no object graph (as the OD API's model.ckpt).
    backbone = sorted(n for n in saved if n.startswith("FirstStageFeatureExtractor/"))
    prefix = str(tmp_path / "model.ckpt")
    tf.raw_ops.SaveV2(prefix=prefix, tensor_names=backbone, shape_and_slices=[""] * len(backbone),
                      tensors=[tf.constant(saved[n]) for n in backbone])
    assert not fine_tune.is_our_checkpoint(prefix)
    model = _model(tiny_config(), seed=5)
    report = fine_tune.load_fine_tune_checkpoint(model, _config(prefix, "detection"))
    after = _by_name(model)
    assert set(report.restored) == set(backbone)
    assert all(_same(after[n], saved[n]) for n in backbone)
    assert set(report.missing) == {n for n in saved if n.startswith(
        "SecondStageFeatureExtractor/")}


def test_types_and_refusals(source, tiny_config, tmp_path):
    path, _ = source
    assert fine_tune.is_our_checkpoint(path)
    assert fine_tune.fine_tune_type(train_pb2.TrainConfig()) is None
    old = train_pb2.TrainConfig(fine_tune_checkpoint=path, from_detection_checkpoint=True)
    assert fine_tune.fine_tune_type(old) == "detection"
    assert fine_tune.fine_tune_type(_config(path)) == "classification"
    with pytest.raises(ValueError, match="fine_tune_checkpoint_type: not supported: 'all'"):
        fine_tune.fine_tune_type(_config(path, "all"))
    with pytest.raises(FileNotFoundError, match="no checkpoint"):
        fine_tune.load_fine_tune_checkpoint(_model(tiny_config(), 5),
                                            _config(str(tmp_path / "nothing"), "full"))
