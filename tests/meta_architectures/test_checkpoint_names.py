"""Head weights from a TF1 OD API-style (slim-named) checkpoint land in the right layers."""

from __future__ import annotations

import numpy as np
import tensorflow as tf

from object_detection.models.slim_checkpoint import SHAPE_MISMATCH, load_slim_checkpoint
from tests.meta_architectures.model_helpers import build_model


def _write_tf1_checkpoint(path: str, values: dict[str, np.ndarray]) -> str:
    graph = tf.Graph()
    with graph.as_default():
        variables = [tf.compat.v1.get_variable(name, initializer=tf.constant(value))
                     for name, value in values.items()]
        saver = tf.compat.v1.train.Saver(variables)
        with tf.compat.v1.Session(graph=graph) as session:
            session.run(tf.compat.v1.global_variables_initializer())
            return saver.save(session, path)


def test_head_weights_load_by_od_api_names(tmp_path):
    model = build_model()          # quickstart: 1 class, 12 anchors, tiny ResNet (256-d block4)
    model.ensure_built((64, 64))
    rng = np.random.default_rng(0)
    names = model.slim_variable_names()
    stored = {name: rng.normal(size=names[name].shape).astype(np.float32)
              for name in ("Conv/weights", "Conv/biases",
                           "FirstStageBoxPredictor/ClassPredictor/weights",
                           "SecondStageBoxPredictor/BoxEncodingPredictor/weights",
                           "SecondStageBoxPredictor/Conv_1/biases")}
    # A COCO head (90 classes + background) does not fit the 1-class model.
    stored["SecondStageBoxPredictor/ClassPredictor/weights"] = np.zeros([256, 91], np.float32)
    prefix = _write_tf1_checkpoint(str(tmp_path / "model.ckpt"), stored)

    report = load_slim_checkpoint(prefix, names)

    assert set(report.restored) == set(stored) - {"SecondStageBoxPredictor/ClassPredictor/weights"}
    [mismatch] = report.shape_mismatches
    assert (mismatch.name, mismatch.reason, mismatch.checkpoint_shape, mismatch.variable_shape) \
        == ("SecondStageBoxPredictor/ClassPredictor/weights", SHAPE_MISMATCH, (256, 91), (256, 2))
    np.testing.assert_array_equal(model.rpn_head.conv.kernel.numpy(), stored["Conv/weights"])
    np.testing.assert_array_equal(model.rpn_head.conv.bias.numpy(), stored["Conv/biases"])
    np.testing.assert_array_equal(model.rpn_head.class_conv.kernel.numpy(),
                                  stored["FirstStageBoxPredictor/ClassPredictor/weights"])
    np.testing.assert_array_equal(model.box_head.box_fc.kernel.numpy(),
                                  stored["SecondStageBoxPredictor/BoxEncodingPredictor/weights"])
    np.testing.assert_array_equal(model.mask_head.convs[1].bias.numpy(),
                                  stored["SecondStageBoxPredictor/Conv_1/biases"])
    # Everything else starts fresh and is reported as missing.
    assert len(report.missing) == len(names) - len(stored)
