"""The evaluation pictures of ``evaluation.side_by_side``: detections on the left, ground truth
on the right, the OD API's selection (first max boxes, scores strictly above the threshold)."""

from __future__ import annotations

import io

import numpy as np
from PIL import Image

from object_detection.evaluation import side_by_side
from object_detection.fields import DetectionResultFields as D
from object_detection.fields import InputFields as I
from object_detection.protos import eval_pb2

NAMES = {1: "character", 2: "text"}


def _batch():
    """One 40 x 60 image padded to 48 x 64; one ground-truth instance (class 1) with a mask."""
    image = np.full((1, 48, 64, 3), 200.0, np.float32)
    masks = np.zeros((1, 2, 48, 64), np.uint8)
    masks[0, 0, 20:30, 6:30] = 1
    return {
        I.image: image, I.true_image_shape: np.array([[40, 60, 3]], np.int32),
        I.groundtruth_boxes: np.array([[[0.5, 0.1, 0.75, 0.5], [0, 0, 0, 0]]], np.float32),
        I.groundtruth_classes: np.array([[1, 0]], np.int32),
        I.num_groundtruth_boxes: np.array([1], np.int32),
        I.groundtruth_instance_masks: masks,
    }


def _outputs(scores):
    k = len(scores)
    boxes = np.tile(np.array([[0.5, 0.5, 0.9, 0.9]], np.float32), (k, 1))
    boxes[:, 0] -= np.arange(k) * 0.05
    return {D.num_detections: np.array([k], np.float32), D.detection_boxes: boxes[None],
            D.detection_scores: np.array([scores], np.float32),
            D.detection_classes: np.full((1, k), 2, np.float32),
            D.detection_masks: np.ones((1, k, 8, 8), np.float32)}


def _decode(picture):
    return np.asarray(Image.open(io.BytesIO(picture.png)).convert("RGB"))


def _has(image, colour):
    return bool(np.any(np.all(image == np.asarray(colour, np.uint8), axis=-1)))


def test_settings_are_the_od_api_fields_and_defaults():
    assert side_by_side.Settings.from_config(eval_pb2.EvalConfig()) == side_by_side.Settings(
        10, 0.5, 20, False, False)
    config = eval_pb2.EvalConfig(num_visualizations=0, min_score_threshold=0.25,
                                 max_num_boxes_to_visualize=3, skip_scores=True)
    assert side_by_side.Settings.from_config(config) == side_by_side.Settings(0, 0.25, 3, True, False)
    assert side_by_side.tag(3, 1) == "eval_side_by_side_3_1"


def test_detections_left_ground_truth_right_at_the_unpadded_size():
    pictures = side_by_side.batch_pictures(_outputs([0.9]), _batch(), 4, NAMES,
                                           side_by_side.Settings(), limit=5)
    assert [(p.tag, p.height, p.width) for p in pictures] == [("eval_side_by_side_4_0", 40, 120)]
    image = _decode(pictures[0])
    assert image.shape == (40, 120, 3)
    left, right = image[:, :60], image[:, 60:]
    detection, truth = side_by_side.class_colour(2), side_by_side.class_colour(1)
    assert _has(left, detection) and not _has(left, truth)
    assert _has(right, truth) and not _has(right, detection)
    # ground-truth box outline: pixels (left, top) = (6, 20) .. (30, 30) of the 40 x 60 map,
    # its label above it
    np.testing.assert_array_equal(right[25, 6], truth)
    # its mask is blended in: 0.6 * 200 + 0.4 * colour, inside the box, off the outline
    expected = np.rint(0.6 * 200 + 0.4 * np.asarray(truth, np.float32))
    np.testing.assert_array_equal(right[25, 15], expected)
    assert np.all(right[31:, :] == 200)         # below the box: untouched


def test_the_first_max_boxes_above_the_threshold_are_drawn():
    batch = _batch()
    drawn = lambda scores, settings: _decode(side_by_side.batch_pictures(
        _outputs(scores), batch, 0, NAMES, settings, 1)[0])[:, :60]
    colour = side_by_side.class_colour(2)
    assert not _has(drawn([0.5, 0.4], side_by_side.Settings()), colour)   # strictly above
    assert _has(drawn([0.51], side_by_side.Settings()), colour)
    assert not _has(drawn([0.9], side_by_side.Settings(max_num_boxes_to_visualize=0)), colour)
    assert _has(drawn([0.1], side_by_side.Settings(min_score_threshold=0.0)), colour)


def test_the_limit_counts_images_of_the_batch():
    batch = {k: np.concatenate([v, v]) for k, v in _batch().items()}
    outputs = {k: np.concatenate([v, v]) for k, v in _outputs([0.9]).items()}
    settings = side_by_side.Settings()
    assert [p.tag for p in side_by_side.batch_pictures(outputs, batch, 1, NAMES, settings, 5)] == [
        "eval_side_by_side_1_0", "eval_side_by_side_1_1"]
    assert len(side_by_side.batch_pictures(outputs, batch, 1, NAMES, settings, 1)) == 1
