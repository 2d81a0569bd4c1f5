"""convert_model.py --precision bfloat16: both exported graphs compute their convolutions in
bfloat16, take and give what the float32 export does (float32 outputs), and their detections
match the float32 export's.

Tolerance: each float32 detection is matched to the bfloat16 detection of highest box IoU; the
matches must have IoU >= 0.9, scores within 0.02 and masks within 0.05 on average (bfloat16
keeps 8 significant bits, ~0.4 % per rounding). Detections whose scores lie within 0.02 of
another's may swap places in the output, hence matching rather than row-by-row comparison.
"""

from __future__ import annotations

import json

import numpy as np
import pytest
import tensorflow as tf

import convert_model
from object_detection.core import box_ops

from tests.export.conftest import KEYS

IOU, SCORE, MASK = 0.9, 0.02, 0.05


@pytest.fixture(scope="module")
def bfloat16_export(tiny_export, tmp_path_factory):
    out = tmp_path_factory.mktemp("bf16") / "export"
    assert convert_model.main(["--model_dir", str(tiny_export.run_dir), "--output_dir", str(out),
                               "--precision", "bfloat16"]) == 0
    return out


def _matched(expected, actual):
    """(IoU, |score difference|, mean |mask difference|) of each expected detection matched to
    the actual one of highest IoU."""
    n, m = int(expected["num_detections"][0]), int(actual["num_detections"][0])
    assert n > 0 and m > 0
    iou = box_ops.iou(tf.constant(expected["detection_boxes"][0, :n]),
                      tf.constant(actual["detection_boxes"][0, :m])).numpy()
    best = iou.argmax(axis=1)
    scores = np.abs(expected["detection_scores"][0, :n] - actual["detection_scores"][0, best])
    masks = np.abs(expected["detection_masks"][0, :n] - actual["detection_masks"][0, best])
    return iou.max(axis=1), scores, masks.mean(axis=(1, 2))


def test_export_record_says_bfloat16(bfloat16_export):
    record = json.loads((bfloat16_export / "export.json").read_text(encoding="utf-8"))
    assert record["precision"] == "bfloat16"


def test_saved_model_detections_match_float32(tiny_export, bfloat16_export):
    serve = tf.saved_model.load(str(bfloat16_export / "saved_model")).signatures[
        "serving_default"]
    outputs = {k: v.numpy() for k, v in serve(
        input_tensor=tf.constant(tiny_export.image[np.newaxis])).items()}
    assert {outputs[k].dtype for k in KEYS} == {np.dtype("float32")}
    iou, scores, masks = _matched(tiny_export.reference, outputs)
    assert iou.min() >= IOU and scores.max() <= SCORE and masks.max() <= MASK, (iou, scores,
                                                                                 masks)


def test_frozen_graph_computes_in_bfloat16_and_matches_float32(tiny_export, bfloat16_export):
    graph_def = tf.compat.v1.GraphDef()
    graph_def.ParseFromString((bfloat16_export / "frozen_inference_graph.pb").read_bytes())
    nodes = list(graph_def.node) + [n for f in graph_def.library.function for n in f.node_def]
    convs = {n.attr["T"].type for n in nodes if n.op == "Conv2D"}
    assert convs == {tf.bfloat16.as_datatype_enum}
    graph = tf.Graph()
    with graph.as_default():
        tf.compat.v1.import_graph_def(graph_def, name="")
    with tf.compat.v1.Session(graph=graph) as session:
        outputs = session.run({k: f"{k}:0" for k in KEYS},
                              {"image_tensor:0": tiny_export.image[np.newaxis]})
    iou, scores, masks = _matched(tiny_export.reference, outputs)
    assert iou.min() >= IOU and scores.max() <= SCORE and masks.max() <= MASK, (iou, scores,
                                                                                 masks)


def test_help_names_the_precisions(capsys):
    with pytest.raises(SystemExit):
        convert_model.main(["--help"])
    assert "--precision {float32,bfloat16}" in capsys.readouterr().out
