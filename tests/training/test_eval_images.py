"""The evaluation pictures of a run in TensorBoard: after a tiny training run with one
evaluation, ``eval/`` holds the OD API's ``eval_side_by_side_{batch}_{index}`` images of the
first ``eval_config.num_visualizations`` maps (detections left, ground truth right), and none
with ``num_visualizations: 0``; the evaluator on the tiny records with a stand-in model that
detects one fixed box draws it on the left.

(A model trained for a few steps on the tiny maps detects nothing yet, so the left half of the
training run's pictures is the bare map; the stand-in model shows what is drawn there.)"""

from __future__ import annotations

import io
import os

import numpy as np
import tensorflow as tf
from PIL import Image

from object_detection import label_map
from object_detection.builders import input_builder
from object_detection.evaluation import model_evaluator, side_by_side
from object_detection.fields import DetectionResultFields as D
from object_detection.fields import InputFields
from object_detection.training import distribution, run_specs, runner
from object_detection.training.summaries import RunSummaries, read_images, read_scalars
from tests.training.conftest import LABEL_MAP, QUICKSTART, tiny_overrides

METRIC = "DetectionMasks_Precision/mAP@.50IOU"
SAVE_TO = os.environ.get("EVAL_IMAGES_SAVE_TO")     # a folder: keep the pictures to look at


def _train(tiny_data, run_dir, extra):
    run = run_specs.single_run(QUICKSTART, tiny_overrides(tiny_data) + extra, num_steps=1,
                               run_dir=run_dir)
    outcome = runner.train_and_evaluate(run, distribution.make_strategy(),
                                        runner.RunOptions(log_every_n_steps=1),
                                        out=lambda line: None)
    assert outcome.status == runner.TRAINED
    return run_dir / "eval"


def _has(image, colour):
    return bool(np.any(np.all(image == np.asarray(colour, np.uint8), axis=-1)))


def _decode(png):
    return np.asarray(Image.open(io.BytesIO(png)).convert("RGB"))


def test_each_evaluation_writes_side_by_side_pictures_of_the_first_maps(tiny_data, tmp_path):
    eval_dir = _train(tiny_data, tmp_path / "run", ["eval_config.min_score_threshold=0.0"])
    assert METRIC in read_scalars(eval_dir)
    images = read_images(eval_dir)
    # the 2 evaluation maps (one batch of 2) of 64 x 64, under the default of 10
    assert sorted(images) == ["eval_side_by_side_0_0", "eval_side_by_side_0_1"]
    colour = side_by_side.class_colour(1)          # the one class, "character"
    for tag, written in images.items():
        assert [step for step, _ in written] == [1]
        picture = _decode(written[0][1])
        if SAVE_TO:
            Image.fromarray(picture).save(os.path.join(SAVE_TO, f"{tag}.png"))
        assert picture.shape == (64, 128, 3)
        assert _has(picture[:, 64:], colour)       # the ground truth's boxes, masks, labels


def test_no_pictures_with_num_visualizations_0(tiny_data, tmp_path):
    eval_dir = _train(tiny_data, tmp_path / "run", ["eval_config.num_visualizations=0"])
    assert METRIC in read_scalars(eval_dir)
    assert read_images(eval_dir) == {}


class _OneBoxModel:
    """Stands in for Mask R-CNN: one detection per image, box (0.1, 0.1, 0.6, 0.6), class 1,
    score 0.9, a full mask."""

    predicts_masks = True

    def __call__(self, images, true_image_shape, training=False):
        batch = tf.shape(images)[0]
        return {D.num_detections: tf.ones([batch], tf.float32),
                D.detection_boxes: tf.tile(tf.constant([[[0.1, 0.1, 0.6, 0.6]]]), [batch, 1, 1]),
                D.detection_scores: tf.fill([batch, 1], 0.9),
                D.detection_classes: tf.ones([batch, 1], tf.float32),
                D.detection_masks: tf.fill([batch, 1, 15, 15], 0.9)}


def _evaluate(config, visualizations=True):
    dataset = input_builder.build_input_from_pipeline(config, training=False)
    settings = side_by_side.Settings.from_config(config.eval_config) if visualizations else None
    evaluator = model_evaluator.ModelEvaluator(
        _OneBoxModel(), dataset, label_map.load_categories(str(LABEL_MAP)), masks=True,
        losses=False, visualizations=settings)
    return evaluator.evaluate(), dataset


def test_pictures_of_the_first_num_visualizations_maps(tiny_config):
    for wanted, tags in [(0, []), (1, ["eval_side_by_side_0_0"]),
                         (10, ["eval_side_by_side_0_0", "eval_side_by_side_0_1"])]:
        result, _ = _evaluate(tiny_config([f"eval_config.num_visualizations={wanted}"]))
        assert [p.tag for p in result.pictures] == tags
    assert _evaluate(tiny_config(), visualizations=False)[0].pictures == []


def test_the_evaluator_draws_detections_left_and_ground_truth_right(tiny_config, tmp_path):
    result, dataset = _evaluate(tiny_config(["eval_config.num_visualizations=3"]))
    assert [(p.tag, p.height, p.width) for p in result.pictures] == [
        ("eval_side_by_side_0_0", 64, 128), ("eval_side_by_side_0_1", 64, 128)]   # 2 maps < 3
    summaries = RunSummaries(tmp_path)
    summaries.write_eval(7, result.metrics, result.losses, result.pictures)
    summaries.close()
    written = read_images(tmp_path / "eval")
    assert sorted(written) == ["eval_side_by_side_0_0", "eval_side_by_side_0_1"]
    maps = [np.clip(np.rint(batch[InputFields.image].numpy()), 0, 255).astype(np.uint8)
            for batch in dataset]
    maps = np.concatenate(maps)
    colour = np.asarray(side_by_side.class_colour(1), np.uint8)
    for index in range(2):
        (step, png), = written[f"eval_side_by_side_0_{index}"]
        picture = _decode(png)
        if SAVE_TO:
            Image.fromarray(picture).save(os.path.join(SAVE_TO, f"one_box_{index}.png"))
        assert step == 7 and picture.shape == (64, 128, 3)
        left, right = picture[:, :64], picture[:, 64:]
        # the detection's pixel box is (left, top, right, bottom) = (6, 6, 39, 39); its label
        # sits inside at the top (no room above), its outline 2 pixels wide
        np.testing.assert_array_equal(left[30, 6], colour)
        np.testing.assert_array_equal(left[30, 38], colour)
        np.testing.assert_array_equal(left[38, 20], colour)
        # inside: the mask blended in, 0.6 * map + 0.4 * colour
        expected = np.rint(0.6 * maps[index][30, 20].astype(np.float32) + 0.4 * colour)
        np.testing.assert_allclose(left[30, 20], expected, atol=1)
        # outside the box the map is untouched on the left
        np.testing.assert_array_equal(left[45:, :], maps[index][45:, :])
        assert _has(right, colour) and not np.array_equal(left, right)
