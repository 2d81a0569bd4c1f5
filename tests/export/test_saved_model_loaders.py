"""The exported SavedModel reads the same in every loader, not only TF's Python one: the TF1
graph loader (``tf.compat.v1.saved_model.loader.load``, which restores the variables from the
MetaGraph's saver as TF Serving's C++ loader does) and ``saved_model_cli run`` give the
checkpoint's own inference; the SavedModel holds one variable per weight (Keras 3 models saved
as objects hold two, the signature reading one and the restore filling the other:
tensorflow#72963, keras#20095); and its ``serving_default`` SignatureDef is the documented one.
"""

from __future__ import annotations

import subprocess
import sys

import keras
import numpy as np
import pytest
import tensorflow as tf
from tensorflow.core.protobuf import saved_model_pb2

import convert_model
from object_detection.builders import input_builder
from object_detection.export import exporter
from object_detection.export.detection_module import DetectionModule, backing_variable
from object_detection.export.inference import model_input
from object_detection.training import checkpoints as ckpt_lib

from tests.export.conftest import BEST_STEP, KEYS, assert_outputs_close

OBJECT_GRAPH_KEY = "_CHECKPOINTABLE_OBJECT_GRAPH"
MAX_DETECTIONS, MASK_SIZE = 5, 15  # the tiny model's max_total_detections and mask size


def _tf1_loader_run(path, inputs: dict[str, np.ndarray]):
    """(outputs by signature key, the serving_default SignatureDef): the SavedModel loaded into a
    ``tf.Graph`` session by the TF1 loader, its signature's tensors fed and fetched by name."""
    graph = tf.Graph()
    with tf.compat.v1.Session(graph=graph) as session:
        meta_graph = tf.compat.v1.saved_model.loader.load(session, ["serve"], str(path))
        signature = meta_graph.signature_def["serving_default"]
        feed = {signature.inputs[key].name: value for key, value in inputs.items()}
        fetches = {key: info.name for key, info in signature.outputs.items()}
        return session.run(fetches, feed), signature


def _python_loader_run(path, inputs: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    serve = tf.saved_model.load(str(path)).signatures["serving_default"]
    outputs = serve(**{key: tf.constant(value) for key, value in inputs.items()})
    return {key: value.numpy() for key, value in outputs.items()}


def _meta_graph(path) -> saved_model_pb2.MetaGraphDef:
    saved = saved_model_pb2.SavedModel()
    saved.ParseFromString((path / "saved_model.pb").read_bytes())
    assert len(saved.meta_graphs) == 1
    return saved.meta_graphs[0]


def _escaped(name: str) -> str:
    """A name as the object graph writes it in checkpoint keys."""
    return name.replace(".", "..").replace("/", ".S")


@pytest.fixture(scope="module")
def restored_model(tiny_export):
    model, _ = exporter.restore_inference_model(tiny_export.pipeline,
                                                tiny_export.checkpoints[BEST_STEP])
    return model


@pytest.fixture(scope="module")
def tf_example_export(tiny_export, tmp_path_factory):
    out = tmp_path_factory.mktemp("tf_example") / "export"
    exporter.export_run(tiny_export.run_dir, out, input_type="tf_example")
    return out / "saved_model"


@pytest.fixture(scope="module")
def bfloat16_export(tiny_export, tmp_path_factory):
    out = tmp_path_factory.mktemp("bf16_loaders") / "export"
    assert convert_model.main(["--model_dir", str(tiny_export.run_dir), "--output_dir", str(out),
                               "--precision", "bfloat16"]) == 0
    return out / "saved_model"


def test_tf1_graph_loader_gives_the_checkpoints_own_inference(tiny_export):
    outputs, _ = _tf1_loader_run(tiny_export.files.saved_model,
                                 {"input_tensor": tiny_export.image[np.newaxis]})
    assert_outputs_close(outputs, tiny_export.reference)


def test_tf1_graph_loader_reads_encoded_tf_examples(tiny_export, tf_example_export):
    examples = model_input([tiny_export.image], "tf_example").numpy()
    outputs, signature = _tf1_loader_run(tf_example_export, {"input_tensor": examples})
    assert signature.inputs["input_tensor"].dtype == tf.string.as_datatype_enum
    assert_outputs_close(outputs, tiny_export.reference)


def test_bfloat16_export_reads_the_same_in_both_loaders(tiny_export, bfloat16_export):
    inputs = {"input_tensor": tiny_export.image[np.newaxis]}
    outputs, _ = _tf1_loader_run(bfloat16_export, inputs)
    assert {outputs[k].dtype for k in KEYS} == {np.dtype("float32")}
    assert outputs["num_detections"][0] > 0
    assert_outputs_close(outputs, _python_loader_run(bfloat16_export, inputs))


def test_saved_model_cli_run_gives_the_checkpoints_own_inference(tiny_export, tmp_path):
    """The command TF Serving users check a model with; it failed with "Could not find variable
    ..." when the SavedModel held the Keras model object."""
    image = tmp_path / "image.npy"
    np.save(image, tiny_export.image[np.newaxis])
    out = tmp_path / "outputs"
    result = subprocess.run(
        [sys.executable, "-m", "tensorflow.python.tools.saved_model_cli", "run",
         "--dir", str(tiny_export.files.saved_model), "--tag_set", "serve",
         "--signature_def", "serving_default", "--inputs", f"input_tensor={image}",
         "--outdir", str(out)],
        capture_output=True, text=True, timeout=300, check=False)
    assert result.returncode == 0, result.stderr[-3000:]
    outputs = {key: np.load(out / f"{key}.npy") for key in KEYS}
    assert_outputs_close(outputs, tiny_export.reference)


def test_saved_model_holds_one_variable_per_weight(tiny_export, restored_model):
    """Every model weight once (by its TF1 name, with its value), plus ``input_type``; as many
    variables in the graph the TF1 loaders restore into."""
    path = tiny_export.files.saved_model
    weights = ckpt_lib.variable_map(restored_model)
    assert len(weights) == len(restored_model.variables)
    reader = tf.train.load_checkpoint(str(path / "variables" / "variables"))
    keys = set(reader.get_variable_to_shape_map()) - {OBJECT_GRAPH_KEY}
    expected = {f"variables_by_name/{_escaped(name)}/.ATTRIBUTES/VARIABLE_VALUE": variable
                for name, variable in weights.items()}
    assert keys == set(expected) | {"input_type/.ATTRIBUTES/VARIABLE_VALUE"}
    for key, variable in expected.items():
        np.testing.assert_array_equal(reader.get_tensor(key), variable.numpy(), err_msg=key)
    assert reader.get_tensor("input_type/.ATTRIBUTES/VARIABLE_VALUE") == b"image_tensor"

    meta_graph = _meta_graph(path)
    saved_variables = [node for node in meta_graph.object_graph_def.nodes
                       if node.WhichOneof("kind") == "variable"]
    handles = [node for node in meta_graph.graph_def.node if node.op == "VarHandleOp"]
    assert len(saved_variables) == len(handles) == len(weights) + 1


def test_serving_signature_is_the_documented_one(tiny_export):
    """What the README documents for TF Serving (``saved_model_cli show --all``)."""
    signature = _meta_graph(tiny_export.files.saved_model).signature_def["serving_default"]
    assert signature.method_name == "tensorflow/serving/predict"
    assert list(signature.inputs) == ["input_tensor"]
    image = signature.inputs["input_tensor"]
    assert image.dtype == tf.uint8.as_datatype_enum
    assert [d.size for d in image.tensor_shape.dim] == [-1, -1, -1, 3]
    shapes = {key: [d.size for d in info.tensor_shape.dim]
              for key, info in signature.outputs.items()}
    assert shapes == {
        "num_detections": [-1],
        "detection_boxes": [-1, MAX_DETECTIONS, 4],
        "detection_scores": [-1, MAX_DETECTIONS],
        "detection_classes": [-1, MAX_DETECTIONS],
        "detection_masks": [-1, MAX_DETECTIONS, MASK_SIZE, MASK_SIZE],
    }
    assert {info.dtype for info in signature.outputs.values()} == {tf.float32.as_datatype_enum}


def test_backing_variable_is_the_keras_variables_own():
    weight = keras.Variable(np.ones([2], np.float32), name="weight")
    backing = backing_variable(weight)
    assert isinstance(backing, tf.Variable) and backing_variable(backing) is backing
    backing.assign([2.0, 3.0])
    np.testing.assert_array_equal(weight.numpy(), [2.0, 3.0])


def test_a_variable_read_but_not_saved_is_refused(tiny_export, restored_model):
    """The signature must read only the saved variables (else the SavedModel would hold, or
    miss, a copy that no restore fills)."""
    resizer = input_builder.build_image_resizer(
        tiny_export.pipeline.model.faster_rcnn.image_resizer)
    module = DetectionModule(restored_model, resizer)
    root, _ = module.saved_model_root("image_tensor")
    assert len(root.variables_by_name) == len(restored_model.variables)
    first = next(iter(module.variables_by_name))
    del module.variables_by_name[first]
    with pytest.raises(ValueError, match="reads variables that are not the model's"):
        module.saved_model_root("image_tensor")
