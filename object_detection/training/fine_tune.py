"""``train_config.fine_tune_checkpoint``: starting a run from another model's weights.

Two kinds of checkpoint are read, told apart by their contents:

* **TF1 name-based** (slim / OD API ``model.ckpt``, e.g. the published COCO model): variables
  are found by their TF1 names (``model.checkpoint_variable_map(layout)``) and loaded with
  ``models.slim_checkpoint.load_slim_checkpoint``.
* **Ours** (object-based ``tf.train.Checkpoint``, e.g. ``runs/x/ckpt-1500`` or ``runs/x/best``):
  a checkpoint holding ``_CHECKPOINTABLE_OBJECT_GRAPH`` whose root has the ``variables`` entry
  that ``checkpoints.make_checkpoint`` writes: every model variable under its TF1 name. The
  same TF1 names as above select what is loaded.

``fine_tune_checkpoint_type`` (or the old ``from_detection_checkpoint: true``) chooses what is
loaded, with the TF1 OD API's meaning for both kinds:

* ``classification``: the backbone, from an ImageNet classification checkpoint (TF1 names
  ``resnet_v1_101/...``) or the feature extractor of one of ours;
* ``detection``: the feature extractor (first and second stage) of a detection model; with
  ``load_all_detection_checkpoint_vars: true`` every model variable (heads included);
* ``full``: every model variable.

Variables that are missing in the checkpoint or have another shape (e.g. another number of
classes) keep their initial values; the report lists them (logged as a warning).
"""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping

import tensorflow as tf
from tensorflow.core.protobuf import trackable_object_graph_pb2

from object_detection.models import slim_checkpoint
from object_detection.models.slim_checkpoint import RestoreReport, SkippedVariable
from object_detection.protos import train_pb2

logger = logging.getLogger(__name__)

OBJECT_GRAPH_KEY = "_CHECKPOINTABLE_OBJECT_GRAPH"
VARIABLES_ROOT = "variables"
TYPES = ("classification", "detection", "full")
# TF1 OD API scopes of the two feature-extractor stages (restored by "detection").
FEATURE_EXTRACTOR_SCOPES = ("FirstStageFeatureExtractor/", "SecondStageFeatureExtractor/")


def fine_tune_type(config: train_pb2.TrainConfig) -> str | None:
    """The type to load, None when no ``fine_tune_checkpoint`` is set; ValueError for an
    unknown type."""
    if not config.fine_tune_checkpoint:
        return None
    kind = config.fine_tune_checkpoint_type
    if not kind:
        kind = "detection" if config.from_detection_checkpoint else "classification"
    if kind not in TYPES:
        raise ValueError(f"train_config.fine_tune_checkpoint_type: not supported: {kind!r} "
                         f"(supported: {', '.join(TYPES)})")
    return kind


def _object_graph(prefix: str) -> trackable_object_graph_pb2.TrackableObjectGraph | None:
    reader = tf.train.load_checkpoint(prefix)
    if not reader.has_tensor(OBJECT_GRAPH_KEY):
        return None
    graph = trackable_object_graph_pb2.TrackableObjectGraph()
    graph.ParseFromString(reader.get_tensor(OBJECT_GRAPH_KEY))
    return graph


def is_our_checkpoint(path: str | os.PathLike) -> bool:
    """Whether ``path`` (prefix or folder) is one of ours: object-based, with the flat
    ``variables`` entry that ``checkpoints.make_checkpoint`` writes."""
    graph = _object_graph(slim_checkpoint.resolve_checkpoint(path))
    return graph is not None and any(c.local_name == VARIABLES_ROOT
                                     for c in graph.nodes[0].children)


def saved_variable_keys(prefix: str) -> dict[str, str]:
    """TF1 name -> checkpoint key of the variables in one of our checkpoints (its flat
    ``variables`` entry, see ``checkpoints.make_checkpoint``)."""
    graph = _object_graph(prefix)
    if graph is None:
        raise ValueError(f"{prefix}: not an object-based (TF2) checkpoint")
    top = [c.node_id for c in graph.nodes[0].children if c.local_name == VARIABLES_ROOT]
    if not top:
        raise ValueError(f"{prefix}: the checkpoint has no '{VARIABLES_ROOT}' entry (not written "
                         "by this project)")
    keys = {}
    for child in graph.nodes[top[0]].children:
        for attribute in graph.nodes[child.node_id].attributes:
            if attribute.name == "VARIABLE_VALUE":
                keys[child.local_name] = attribute.checkpoint_key
    return keys


def load_object_checkpoint(prefix: str, name_to_variable: Mapping[str, object]) -> RestoreReport:
    """Like ``load_slim_checkpoint`` for one of our checkpoints: each variable is looked up by
    its TF1 name in the checkpoint's ``variables`` entry (shape checked, floats cast)."""
    keys = saved_variable_keys(prefix)
    reader = tf.train.load_checkpoint(prefix)
    shapes = reader.get_variable_to_shape_map()
    report = RestoreReport(checkpoint=prefix)
    for name, variable in name_to_variable.items():
        shape = tuple(int(d) for d in variable.shape)
        key = keys.get(name)
        if key is None:
            report.skipped.append(SkippedVariable(name, slim_checkpoint.MISSING, None, shape))
            continue
        stored = tuple(int(d) for d in shapes[key])
        if stored != shape:
            report.skipped.append(SkippedVariable(name, slim_checkpoint.SHAPE_MISMATCH, stored,
                                                  shape))
            continue
        variable.assign(tf.cast(reader.get_tensor(key), variable.dtype))
        report.restored.append(name)
    report.unused = sorted(set(keys) - set(name_to_variable))
    return report


def _wanted_names(model, kind: str, load_all: bool, ours: bool) -> Mapping[str, object]:
    """TF1 name -> variable of what ``kind`` loads (see the module docstring)."""
    if kind == "classification" and not ours:
        return model.checkpoint_variable_map("classification")
    names = model.checkpoint_variable_map("detection")
    if kind == "classification" or (kind == "detection" and not load_all):
        names = {n: v for n, v in names.items() if n.startswith(FEATURE_EXTRACTOR_SCOPES)}
    return names


def load_fine_tune_checkpoint(model, config: train_pb2.TrainConfig) -> RestoreReport | None:
    """Loads ``config.fine_tune_checkpoint`` into the built ``model`` as the module docstring
    says and logs the report; None when no checkpoint is configured. FileNotFoundError when
    the checkpoint does not exist; ValueError when nothing at all could be restored."""
    kind = fine_tune_type(config)
    if kind is None:
        return None
    prefix = slim_checkpoint.resolve_checkpoint(config.fine_tune_checkpoint)
    model.ensure_built()
    ours = is_our_checkpoint(prefix)
    names = _wanted_names(model, kind, config.load_all_detection_checkpoint_vars, ours)
    if ours:
        report = load_object_checkpoint(prefix, names)
    else:
        report = slim_checkpoint.load_slim_checkpoint(prefix, names)
    slim_checkpoint.log_restore_report(report, logger)
    if not report.restored:
        raise ValueError(f"train_config.fine_tune_checkpoint {prefix}: no variable of the model "
                         f"found as fine_tune_checkpoint_type {kind!r} "
                         f"({report.summary(3).splitlines()[-1]})")
    return report
