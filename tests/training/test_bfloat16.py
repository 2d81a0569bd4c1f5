"""Mixed bfloat16 training (``train_config.use_bfloat16``): the convolutions really run in
bfloat16, variables and losses stay float32, a few steps train with finite, falling losses, and
the checkpoint is a float32 one (it loads into a float32 model); train_and_eval.py runs it."""

from __future__ import annotations

import keras
import numpy as np
import tensorflow as tf

import train_and_eval
from object_detection import config as config_lib
from object_detection.builders import model_builder, optimizer_builder
from object_detection.evaluation import results_log
from object_detection.export import exporter
from object_detection.protos import train_pb2
from object_detection.training import checkpoints as ckpt_lib
from object_detection.training.trainer import Trainer, TrainSettings
from tests.meta_architectures.model_helpers import box_batch
from tests.training.conftest import QUICKSTART, tiny_overrides

BOXES = [[[0.1, 0.1, 0.6, 0.5], [0.5, 0.4, 0.95, 0.9]]]


def _conv_dtypes(function, *args) -> set[str]:
    """The data types of every convolution of a traced function (and its inner functions)."""
    graph = function.get_concrete_function(*args).graph
    graphs = [graph] + [f.graph for f in getattr(graph, "_functions", {}).values()
                        if getattr(f, "graph", None) is not None]
    return {op.get_attr("T").name for g in graphs for op in g.get_operations()
            if op.type == "Conv2D"}


def test_use_bfloat16_selects_mixed_bfloat16():
    settings = TrainSettings.from_config(train_pb2.TrainConfig(use_bfloat16=True))
    assert settings.precision == "bfloat16"
    assert TrainSettings.from_config(train_pb2.TrainConfig()).precision == "float32"


def test_convolutions_in_bfloat16_variables_and_outputs_in_float32(tiny_config):
    model = model_builder.build(tiny_config().model, is_training=True, seed=0,
                                precision="bfloat16")
    model.ensure_built()
    assert model.precision == "bfloat16"
    assert {v.dtype for v in model.variables if "float" in v.dtype} == {"float32"}
    images = tf.zeros([1, 64, 64, 3])
    infer = tf.function(lambda x: model(x))
    assert _conv_dtypes(infer, images) == {"bfloat16"}
    assert {t.dtype for t in infer(images).values()} == {tf.float32}
    fp32 = model_builder.build(tiny_config().model, is_training=True, seed=0)
    assert _conv_dtypes(tf.function(lambda x: fp32(x)), images) == {"float32"}


def test_a_few_bfloat16_steps_train_and_the_checkpoint_loads_into_float32(tiny_config, tmp_path):
    config = tiny_config(["train_config.use_bfloat16=true"])
    settings = TrainSettings.from_config(config.train_config)
    keras.utils.set_random_seed(0)
    model = model_builder.build(config.model, is_training=True, seed=0,
                                precision=settings.precision)
    model.ensure_built()
    optimizer, _ = optimizer_builder.build_optimizer(config.train_config.optimizer)
    optimizer.build(model.trainable_variables)
    batch = box_batch(BOXES, 64, 64)
    spec = {key: tf.TensorSpec(value.shape, value.dtype) for key, value in batch.items()}
    trainer = Trainer(model, optimizer, tf.distribute.get_strategy(), spec, settings=settings)
    totals = []
    for _ in range(8):
        losses = trainer.train_step(batch)
        assert all(np.isfinite(v) for v in losses.values()), losses
        totals.append(losses["Loss/total_loss"])
    assert min(totals[-3:]) < totals[0], totals          # it learns the one batch
    assert {v.dtype for v in model.variables if "float" in v.dtype} == {"float32"}

    prefix = ckpt_lib.make_checkpoint(model).save(str(tmp_path / "ckpt"))
    fp32 = model_builder.build(config.model, is_training=False)
    fp32.ensure_built()
    ckpt_lib.restore_model(fp32, prefix)
    for restored, trained in zip(fp32.variables, model.variables):
        np.testing.assert_array_equal(restored.numpy(), trained.numpy())
    # the same weights in both precisions: RPN objectness within bfloat16's rounding
    image = batch["image"]
    logits32 = fp32.predict_first_stage(image)["rpn_objectness_predictions_with_background"]
    logits16 = model.predict_first_stage(image)["rpn_objectness_predictions_with_background"]
    scale = float(tf.reduce_max(tf.abs(logits32)))
    assert float(tf.reduce_max(tf.abs(logits32 - logits16))) < 0.05 * scale


def test_train_and_eval_trains_and_evaluates_in_bfloat16(tiny_data, tmp_path):
    run_dir = tmp_path / "run"
    args = ["--pipeline_config", str(QUICKSTART), "--model_dir", str(run_dir),
            "--num_train_steps", "2", "--steps_per_epoch", "1"]
    for override in tiny_overrides(tiny_data) + ["train_config.use_bfloat16=true"]:
        args += ["--override", override]
    assert train_and_eval.main(args) == 0
    assert [e.step for e in results_log.read_evaluations(str(run_dir))] == [1, 2]
    pipeline = config_lib.load_pipeline_config(run_dir / "pipeline.config")
    assert pipeline.train_config.use_bfloat16
    model, _ = exporter.restore_inference_model(pipeline, str(run_dir / "ckpt-2"))
    assert model.precision == "float32"        # a bfloat16 run's checkpoint is float32


def test_a_tf1_detection_checkpoint_fine_tunes_into_a_bfloat16_model(tiny_config, tmp_path):
    """A TF1 name-based checkpoint (plain names, float32, as the OD API's model.ckpt) loads
    into the float32 variables of a bfloat16 model by TF1 names, values unchanged."""
    from object_detection.training import fine_tune
    rng = np.random.default_rng(4)
    source = model_builder.build(tiny_config().model, is_training=True, seed=1)
    names = source.checkpoint_variable_map("detection")
    values = {n: rng.normal(size=v.shape).astype(np.float32) for n, v in names.items()}
    prefix = str(tmp_path / "model.ckpt")
    tf.raw_ops.SaveV2(prefix=prefix, tensor_names=sorted(values),
                      shape_and_slices=[""] * len(values),
                      tensors=[tf.constant(values[n]) for n in sorted(values)])
    model = model_builder.build(tiny_config().model, is_training=True, seed=2,
                                precision="bfloat16")
    model.ensure_built()
    report = fine_tune.load_fine_tune_checkpoint(model, train_pb2.TrainConfig(
        fine_tune_checkpoint=prefix, fine_tune_checkpoint_type="full"))
    assert set(report.restored) == set(values)
    for name, variable in model.checkpoint_variable_map("detection").items():
        assert variable.dtype == "float32"
        np.testing.assert_array_equal(variable.numpy(), values[name])
