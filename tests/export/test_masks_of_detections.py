"""The mask path runs on the detections that exist only (``max(num_detections)`` rows, not
``max_total_detections``), and its masks equal those of running it on every row, as the model
did before, on the rows that exist: in eager inference, the SavedModel and the frozen graph."""

from __future__ import annotations

import numpy as np
import pytest
import tensorflow as tf

from object_detection.export import exporter
from object_detection.meta_architectures import mask_rcnn

from tests.export.conftest import BEST_STEP, NMS, make_run_folder, sample_image, tiny_pipeline

# 10 proposals and one class: at most 10 detections among 20 rows.
MAX_DETECTIONS = 20
OVERRIDES = (f"{NMS}.max_total_detections={MAX_DETECTIONS}",
             f"{NMS}.max_detections_per_class={MAX_DETECTIONS}")


def masks_on_every_row(model, prediction, detections) -> np.ndarray:
    """[B, K, mh, mw]: block4 and the mask head on all K detection rows (the model's former
    path), rows past ``num_detections`` zeroed."""
    boxes = detections["detection_boxes"]
    features = model._box_classifier_features(
        prediction["rpn_features_to_crop"], boxes, prediction["image_shape"],
        prediction["true_image_shapes"], training=False)
    head = model.mask_head
    batch, rows = boxes.shape[0], boxes.shape[1]
    logits = tf.reshape(head(features), [batch, rows, head.num_masks, head.mask_height,
                                         head.mask_width])
    classes = tf.cast(detections["detection_classes"], tf.int32)     # 1-based, 0 past the end
    masks = tf.sigmoid(mask_rcnn._pick_class(logits, classes)).numpy()
    count = detections["num_detections"].numpy().astype(int)
    for b in range(batch):
        masks[b, count[b]:] = 0.0
    return masks


@pytest.fixture(scope="module")
def export(tmp_path_factory):
    """A tiny run with 20 detection rows, exported; its model restored eagerly; an image."""
    run_dir = tmp_path_factory.mktemp("run")
    pipeline = tiny_pipeline(*OVERRIDES)
    paths = make_run_folder(run_dir, pipeline)
    files, _ = exporter.export_run(run_dir, tmp_path_factory.mktemp("exported"))
    model, resizer = exporter.restore_inference_model(pipeline, paths[BEST_STEP])
    return files, model, resizer


def _resized(resizer, image: np.ndarray):
    resized, _, true_shape = resizer(tf.constant(image, tf.float32), None)
    return resized[tf.newaxis], tf.cast(true_shape, tf.int32)[tf.newaxis]


def test_eager_masks_equal_those_on_every_row_and_the_rest_are_zero(export):
    _, model, resizer = export
    images, shapes = zip(*(_resized(resizer, sample_image(seed)) for seed in (0, 1)))
    images, shapes = tf.concat(images, 0), tf.concat(shapes, 0)
    prediction = model.predict(images, shapes)
    detections = model.postprocess(prediction)
    count = detections["num_detections"].numpy().astype(int)
    assert 0 < count.max() < MAX_DETECTIONS, count    # the dynamic path is really exercised
    masks = detections["detection_masks"].numpy()
    assert masks.shape == (2, MAX_DETECTIONS, 15, 15)
    np.testing.assert_allclose(masks, masks_on_every_row(model, prediction, detections),
                               atol=1e-6, rtol=0)
    assert all(masks[b, count[b]:].max(initial=0.0) == 0.0 for b in range(2))


def test_no_detection_at_all_gives_zero_masks(export):
    _, model, resizer = export
    prediction = model.predict(*_resized(resizer, sample_image(0)))
    prediction["num_proposals"] = tf.zeros_like(prediction["num_proposals"])  # nothing to keep
    detections = model.postprocess(prediction)
    assert detections["num_detections"].numpy().tolist() == [0.0]
    assert detections["detection_masks"].shape == (1, MAX_DETECTIONS, 15, 15)
    assert not detections["detection_masks"].numpy().any()


def _reference(model, resizer, image):
    images, shapes = _resized(resizer, image)
    prediction = model.predict(images, shapes)
    detections = model.postprocess(prediction)
    return detections, masks_on_every_row(model, prediction, detections)


def test_saved_model_masks_equal_those_on_every_row(export):
    files, model, resizer = export
    image = sample_image(2)
    detections, expected = _reference(model, resizer, image)
    serve = tf.saved_model.load(str(files.saved_model)).signatures["serving_default"]
    outputs = serve(input_tensor=tf.constant(image[np.newaxis]))
    count = int(outputs["num_detections"][0])
    assert count == int(detections["num_detections"][0]) and 0 < count < MAX_DETECTIONS
    np.testing.assert_allclose(outputs["detection_masks"].numpy(), expected, atol=1e-4, rtol=0)


def test_frozen_graph_masks_equal_those_on_every_row(export):
    files, model, resizer = export
    image = sample_image(3)
    detections, expected = _reference(model, resizer, image)
    graph_def = tf.compat.v1.GraphDef()
    graph_def.ParseFromString(files.frozen_graph.read_bytes())
    graph = tf.Graph()
    with graph.as_default():
        tf.compat.v1.import_graph_def(graph_def, name="")
    with tf.compat.v1.Session(graph=graph) as session:
        masks, count = session.run(["detection_masks:0", "num_detections:0"],
                                   {"image_tensor:0": image[np.newaxis]})
    assert int(count[0]) == int(detections["num_detections"][0]) and count[0] < MAX_DETECTIONS
    np.testing.assert_allclose(masks, expected, atol=1e-4, rtol=0)


def test_masks_on_every_row_mode_gives_the_same_masks(export):
    """``mask_rcnn.masks_on_every_row()`` (how the OpenVINO IR is traced: a static number of
    mask rows, since OpenVINO 2026.4's CPU plugin crashed on the dynamic one) changes nothing
    but the work: the same masks, zero past num_detections; the flag is restored after."""
    _, model, resizer = export
    images, shapes = _resized(resizer, sample_image(0))
    prediction = model.predict(images, shapes)
    want = model.postprocess(prediction)["detection_masks"].numpy()
    with mask_rcnn.masks_on_every_row():
        got = model.postprocess(prediction)["detection_masks"].numpy()
    np.testing.assert_allclose(got, want, atol=1e-6, rtol=0)
    assert not mask_rcnn._every_row
