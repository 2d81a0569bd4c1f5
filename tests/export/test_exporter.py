"""Export round trips: the SavedModel and the frozen graph (read with TF1 APIs only) give the
checkpoint's own inference; the exported pipeline config and model-only checkpoint."""

from __future__ import annotations

import json

import keras
import numpy as np
import pytest
import tensorflow as tf

from object_detection import config as config_lib
from object_detection.builders import model_builder, optimizer_builder
from object_detection.export import export_record, exporter, run_folder
from object_detection.training import checkpoints as ckpt_lib
from object_detection.training.trainer import Trainer, TrainSettings, select_trainable_variables

from tests.export.conftest import KEYS, assert_outputs_close, reference_outputs, tiny_pipeline
from tests.meta_architectures.model_helpers import box_batch

def test_export_folder_layout(tiny_export):
    out = tiny_export.files.output_dir
    names = sorted(p.name for p in out.iterdir())
    assert names == ["checkpoint", "export.json", "frozen_inference_graph.pb", "pipeline.config",
                     "saved_model"]
    assert set(names) <= set(export_record.PARTS)
    assert (out / "saved_model" / "saved_model.pb").is_file()
    assert tiny_export.files.checkpoint == out / "checkpoint" / "ckpt-0"
    # The checkpoint state file holds relative paths: it still works after the rename.
    assert tf.train.latest_checkpoint(str(out / "checkpoint")) == str(out / "checkpoint" / "ckpt-0")
    assert not [p for p in out.parent.iterdir() if p.name.startswith(f".{out.name}.")]


def test_export_record_lists_every_file_with_its_size(tiny_export):
    out = tiny_export.files.output_dir
    record = json.loads((out / "export.json").read_text(encoding="utf-8"))
    assert record["step"] == 10
    assert record["checkpoint"] == run_folder.choose_checkpoint(tiny_export.run_dir).path
    assert record["input_type"] == "image_tensor" and record["time"].endswith("+00:00")
    on_disk = {p.relative_to(out).as_posix(): p.stat().st_size
               for p in out.rglob("*") if p.is_file() and p.name != "export.json"}
    assert record["files"] == on_disk
    assert {"saved_model/saved_model.pb", "frozen_inference_graph.pb", "pipeline.config",
            "checkpoint/checkpoint", "checkpoint/ckpt-0.index"} <= set(on_disk)
    assert export_record.check_export(out) == record


def test_saved_model_reload_gives_the_checkpoints_own_inference(tiny_export):
    loaded = tf.saved_model.load(str(tiny_export.files.saved_model))
    serve = loaded.signatures["serving_default"]
    spec = serve.structured_input_signature[1]["input_tensor"]
    assert spec.dtype == tf.uint8 and spec.shape.as_list() == [None, None, None, 3]
    assert set(serve.structured_outputs) == set(KEYS)
    # 80 x 100 raw image: the SavedModel resizes it to 64 x 64 itself, as in training.
    outputs = serve(input_tensor=tf.constant(tiny_export.image[np.newaxis]))
    assert_outputs_close({k: v.numpy() for k, v in outputs.items()}, tiny_export.reference)
    masks = outputs["detection_masks"].numpy()
    assert masks.shape[2:] == (15, 15) and 0.0 <= masks.min() and masks.max() <= 1.0


def test_frozen_graph_runs_with_tf1_graph_import_only(tiny_export):
    """A consumer written as for the OD API's frozen_inference_graph.pb."""
    graph_def = tf.compat.v1.GraphDef()
    with tf.io.gfile.GFile(str(tiny_export.files.frozen_graph), "rb") as f:
        graph_def.ParseFromString(f.read())
    assert not any(node.op in ("VarHandleOp", "VariableV2") for node in graph_def.node)
    placeholders = [node.name for node in graph_def.node if node.op == "Placeholder"]
    assert placeholders == ["image_tensor"]
    graph = tf.Graph()
    with graph.as_default():
        tf.compat.v1.import_graph_def(graph_def, name="")
    image_tensor = graph.get_tensor_by_name("image_tensor:0")
    assert image_tensor.dtype == tf.uint8 and image_tensor.shape.as_list() == [None, None, None, 3]
    fetches = {key: graph.get_tensor_by_name(f"{key}:0") for key in KEYS}
    with tf.compat.v1.Session(graph=graph) as session:
        outputs = session.run(fetches, feed_dict={image_tensor: tiny_export.image[np.newaxis]})
    assert_outputs_close(outputs, tiny_export.reference)


def test_exported_pipeline_config_and_model_only_checkpoint(tiny_export):
    files = tiny_export.files
    assert config_lib.load_pipeline_config(files.pipeline_config) == tiny_export.pipeline
    names = [name for name, _ in tf.train.list_variables(str(files.checkpoint))]
    assert not any(name.startswith(("optimizer", "step")) for name in names)
    model, _ = exporter.restore_inference_model(tiny_export.pipeline, str(files.checkpoint))
    saved = [name for name in names if name.startswith("variables/")]
    assert len(saved) == len(ckpt_lib.variable_map(model)) == len(model.variables)
    assert_outputs_close(reference_outputs(tiny_export.pipeline, str(files.checkpoint),
                                           tiny_export.image), tiny_export.reference)


def test_export_of_another_checkpoint_differs(tiny_export, tmp_path):
    """The exported weights are the chosen checkpoint's: the latest one gives other scores."""
    latest = tiny_export.checkpoints[20]
    model, resizer = exporter.restore_inference_model(tiny_export.pipeline, latest)
    resized, _, shape = resizer(tf.constant(tiny_export.image, tf.float32), None)
    scores = model(resized[None], shape[None])["detection_scores"].numpy()
    assert np.abs(scores - tiny_export.reference["detection_scores"]).max() > 1e-3


def test_checkpoint_of_another_model_is_refused(tiny_export):
    other = tiny_pipeline("model.faster_rcnn.first_stage_box_predictor_depth=64")
    with pytest.raises(ValueError, match="ckpt-10: does not fit the model"):
        exporter.restore_inference_model(other, tiny_export.checkpoints[10])


def test_missing_checkpoint_is_named_and_nothing_written(tmp_path):
    out = tmp_path / "out"
    with pytest.raises(FileNotFoundError, match="ckpt-5"):
        exporter.export_model(tiny_pipeline(), tmp_path / "ckpt-5", out)
    assert not out.exists()


def test_unknown_input_type_is_refused(tiny_export, tmp_path):
    with pytest.raises(ValueError, match="input type not supported: 'jpeg'.*image_tensor"):
        exporter.export_model(tiny_export.pipeline, tiny_export.checkpoints[10], tmp_path / "o",
                              input_type="jpeg")
    assert not (tmp_path / "o").exists()


def test_moving_averages_are_exported_when_the_evaluation_used_them(tmp_path):
    """With optimizer.use_moving_average and eval_config.use_moving_averages the exported
    weights are the optimizer's averages (what the evaluation scored); otherwise the raw ones."""
    averaged = tiny_pipeline("train_config.optimizer.use_moving_average=true",
                             "eval_config.use_moving_averages=true")
    model = model_builder.build(averaged.model, is_training=True)
    model.ensure_built()
    optimizer, _ = optimizer_builder.build_optimizer(averaged.train_config.optimizer)
    optimizer.build(model.trainable_variables)
    averages = optimizer._model_variables_moving_average  # where Keras keeps them
    for variable, average in zip(model.trainable_variables, averages):
        average.assign(variable + 0.5)
    path = ckpt_lib.RunCheckpoints(tmp_path, ckpt_lib.make_checkpoint(model, optimizer)).save(1)

    exported, _ = exporter.restore_inference_model(averaged, path)
    raw, _ = exporter.restore_inference_model(
        tiny_pipeline("train_config.optimizer.use_moving_average=true"), path)
    trained = model.trainable_variables  # the same order in every build of one config
    assert len(exported.trainable_variables) == len(raw.trainable_variables) == len(trained)
    for original, average, plain in zip(trained, exported.trainable_variables,
                                        raw.trainable_variables):
        np.testing.assert_allclose(average.numpy(), original.numpy() + 0.5, atol=1e-6,
                                   err_msg=original.path)
        np.testing.assert_array_equal(plain.numpy(), original.numpy())


EMA = ("train_config.optimizer.use_moving_average=true",
       "train_config.optimizer.moving_average_decay=0.5",
       "train_config.optimizer.adam_optimizer.learning_rate="
       "{constant_learning_rate {learning_rate: 0.01}}")


def _trained_with_moving_averages(pipeline, steps: int = 3):
    """Three steps of the project's Trainer (the config's Adam, clipping, losses) on one batch;
    returns (model, optimizer, {TF1 name: average} read where Keras keeps them)."""
    keras.utils.set_random_seed(5)
    model = model_builder.build(pipeline.model, is_training=True, seed=5)
    model.ensure_built()
    settings = TrainSettings.from_config(pipeline.train_config)
    variables = select_trainable_variables(model, settings.update_trainable_variables,
                                           settings.freeze_variables)
    optimizer, _ = optimizer_builder.build_optimizer(pipeline.train_config.optimizer)
    optimizer.build(variables)
    batch = box_batch([[[0.1, 0.1, 0.6, 0.5]], [[0.3, 0.2, 0.9, 0.8]]], 64, 64)
    spec = {key: tf.TensorSpec.from_tensor(value) for key, value in batch.items()}
    trainer = Trainer(model, optimizer, tf.distribute.get_strategy(), spec, settings=settings,
                      variables=variables)
    for _ in range(steps):
        trainer.train_step(batch)
    names = {id(v): n for n, v in ckpt_lib.variable_map(model).items()}
    averages = {names[id(v)]: a.numpy()  # the old way: Keras' own attribute
                for v, a in zip(variables, optimizer._model_variables_moving_average)}
    return model, optimizer, averages


def _exported_weights(pipeline, files: exporter.ExportedFiles) -> dict[str, np.ndarray]:
    """The variables of an export's model-only checkpoint, by TF1 name."""
    model = model_builder.build(pipeline.model, is_training=False)
    model.ensure_built()
    ckpt_lib.restore_model(model, files.checkpoint)
    return {name: v.numpy() for name, v in ckpt_lib.variable_map(model).items()}


def test_an_export_of_a_run_trained_with_moving_averages_holds_the_averages(tmp_path):
    """Trained with optimizer.use_moving_average: with eval_config.use_moving_averages the
    export holds the optimizer's averages (read here the old way, from the optimizer), without
    it the raw weights; a checkpoint written before the averages had names exports the same."""
    averaged = tiny_pipeline(*EMA, "eval_config.use_moving_averages=true")
    model, optimizer, averages = _trained_with_moving_averages(averaged)
    raw = {name: v.numpy() for name, v in ckpt_lib.variable_map(model).items()}
    moved = [n for n, a in averages.items() if np.abs(a - raw[n]).max() > 1e-3]
    assert len(moved) > len(averages) // 2, "the averages should differ from the weights"
    path = ckpt_lib.RunCheckpoints(tmp_path / "run",
                                   ckpt_lib.make_checkpoint(model, optimizer)).save(3)

    files = exporter.export_model(averaged, path, tmp_path / "averaged")
    exported = _exported_weights(averaged, files)
    assert set(exported) == set(raw)
    for name, value in exported.items():
        np.testing.assert_allclose(value, averages.get(name, raw[name]), atol=1e-6,
                                   err_msg=name)

    plain = tiny_pipeline(*EMA, "eval_config.use_moving_averages=false")
    files = exporter.export_model(plain, path, tmp_path / "raw")
    for name, value in _exported_weights(plain, files).items():
        np.testing.assert_array_equal(value, raw[name], err_msg=name)

    old = tf.train.Checkpoint(step=optimizer.iterations, model=model, optimizer=optimizer,
                              variables=ckpt_lib.variable_map(model))  # the earlier layout
    old_path = ckpt_lib.RunCheckpoints(tmp_path / "old_run", old).save(3)
    restored, _ = exporter.restore_inference_model(averaged, old_path)
    for name, variable in ckpt_lib.variable_map(restored).items():
        np.testing.assert_allclose(variable.numpy(), averages.get(name, raw[name]), atol=1e-6,
                                   err_msg=name)
