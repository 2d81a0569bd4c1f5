"""Frozen inference graphs: one ``GraphDef`` with the weights as constants, OD API tensor names.

The graph takes ``image_tensor:0`` (uint8 [None, None, None, 3] RGB) and gives
``num_detections:0``, ``detection_boxes:0``, ``detection_scores:0``, ``detection_classes:0``
and, for Mask R-CNN, ``detection_masks:0`` (box-relative), so TF1 code written for the OD
API's ``frozen_inference_graph.pb`` runs it unchanged::

    graph_def = tf.compat.v1.GraphDef.FromString(open(path, "rb").read())
    with tf.Graph().as_default() as graph:
        tf.compat.v1.import_graph_def(graph_def, name="")
    with tf.compat.v1.Session(graph=graph) as session:
        boxes = session.run("detection_boxes:0", {"image_tensor:0": images})
"""

from __future__ import annotations

import os
from pathlib import Path

import tensorflow as tf
from tensorflow.python.framework.convert_to_constants import convert_variables_to_constants_v2

from object_detection import atomic_files
from object_detection.export.detection_module import IMAGE_TENSOR, DetectionModule
from object_detection.export.export_record import FROZEN_GRAPH_NAME  # noqa: F401 (its home)

INPUT_NODE = IMAGE_TENSOR


def _node_names(graph_def: tf.compat.v1.GraphDef) -> set[str]:
    return {node.name for node in graph_def.node}


def _rename_node(graph_def: tf.compat.v1.GraphDef, old: str, new: str) -> None:
    """Renames node ``old`` to ``new`` and every reference to it (``old``, ``old:k``,
    ``^old``) in the graph's nodes."""
    for node in graph_def.node:
        if node.name == old:
            node.name = new
        for i, name in enumerate(node.input):
            control = name.startswith("^")
            base, sep, index = name.lstrip("^").partition(":")
            if base == old:
                node.input[i] = ("^" if control else "") + new + sep + index


def _needed_by(graph_def: tf.compat.v1.GraphDef, outputs: list[str]) -> tf.compat.v1.GraphDef:
    """A copy of ``graph_def`` with only the nodes that ``outputs`` depend on (data or control
    inputs), in their order; the function library and versions are kept."""
    nodes = {node.name: node for node in graph_def.node}
    needed, stack = set(), list(outputs)
    while stack:
        name = stack.pop()
        if name in needed:
            continue
        needed.add(name)
        stack.extend(i.lstrip("^").partition(":")[0] for i in nodes[name].input)
    pruned = tf.compat.v1.GraphDef()
    pruned.versions.CopyFrom(graph_def.versions)
    pruned.library.CopyFrom(graph_def.library)
    pruned.node.extend(node for node in graph_def.node if node.name in needed)
    return pruned


def _free_name(graph_def: tf.compat.v1.GraphDef, name: str) -> str | None:
    """Moves a node called ``name`` (if any) out of the way, to ``name/original``; returns
    its new name (None when there was none)."""
    taken = _node_names(graph_def)
    if name not in taken:
        return None
    new = f"{name}/original"
    while new in taken:
        new += "_"
    _rename_node(graph_def, name, new)
    return new


def _add_identity(graph_def: tf.compat.v1.GraphDef, name: str, source: str, index: str,
                  dtype: tf.DType) -> None:
    node = graph_def.node.add()
    node.name = name
    node.op = "Identity"
    node.input.append(source if index in ("", "0") else f"{source}:{index}")
    node.attr["T"].type = dtype.as_datatype_enum


def freeze(module: DetectionModule) -> tf.compat.v1.GraphDef:
    """The ``image_tensor`` serving function of ``module`` as a GraphDef: variables folded
    into constants, control flow lowered to TF1 ops, pruned to what the outputs need, with
    ``image_tensor`` as its only placeholder and one Identity node per output name."""
    function = module.serving_function(IMAGE_TENSOR, INPUT_NODE).get_concrete_function()
    frozen = convert_variables_to_constants_v2(function)
    graph_def = frozen.graph.as_graph_def()
    keys = tf.nest.flatten({key: key for key in function.structured_outputs})
    outputs = dict(zip(keys, frozen.outputs))
    placeholder = frozen.inputs[0].name.partition(":")[0]
    if placeholder != INPUT_NODE:
        _free_name(graph_def, INPUT_NODE)
        _rename_node(graph_def, placeholder, INPUT_NODE)
    renamed = {}
    for key in outputs:
        moved = _free_name(graph_def, key)
        if moved is not None:
            renamed[key] = moved
    for key, tensor in outputs.items():
        source, _, index = tensor.name.partition(":")
        _add_identity(graph_def, key, renamed.get(source, source), index, tensor.dtype)
    # The OD API's consumers feed only image_tensor: drop the unused placeholders that
    # lowering the control flow leaves behind.
    return _needed_by(graph_def, list(outputs))


def write_frozen_graph(graph_def: tf.compat.v1.GraphDef, path: str | os.PathLike) -> Path:
    """Writes the binary GraphDef to ``path`` (atomically); returns the path."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    return atomic_files.write_bytes(path, graph_def.SerializeToString())


def read_frozen_graph(path: str | os.PathLike) -> tf.compat.v1.GraphDef:
    """Reads a binary GraphDef; ValueError naming the file when it is not one."""
    data = Path(path).read_bytes()
    graph_def = tf.compat.v1.GraphDef()
    try:
        graph_def.ParseFromString(data)
    except Exception as error:  # protobuf's DecodeError and friends
        raise ValueError(f"{path}: not a frozen graph (it does not parse as a TensorFlow "
                         f"GraphDef: {error})") from None
    if not graph_def.node:
        raise ValueError(f"{path}: not a frozen graph (no nodes)")
    return graph_def
