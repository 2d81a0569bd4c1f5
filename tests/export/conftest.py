"""Shared fixtures of the export tests: a tiny run folder in the layout of
``training.checkpoints`` and one export of it.

The model is configs/quickstart.config shrunk by overrides (64 x 64 fixed resize, 10
proposals, 5 detections). The run folder holds ``pipeline.config``, two kept checkpoints
(steps 10 and 20, with an optimizer, as training saves them) whose weights differ, and
``best/`` holding step 10.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

import keras
import numpy as np
import pytest
import tensorflow as tf

from object_detection import config as config_lib
from object_detection.builders import input_builder, model_builder, optimizer_builder
from object_detection.export import exporter
from object_detection.training import checkpoints as ckpt_lib

REPO = Path(__file__).resolve().parents[2]
QUICKSTART = REPO / "configs" / "quickstart.config"
NMS = "model.faster_rcnn.second_stage_post_processing.batch_non_max_suppression"
# Anchors of 16 to 128 px for the 64 px images (a grid sets them from its anchor_scales).
TINY_ANCHORS = ("model.faster_rcnn.first_stage_anchor_generator.grid_anchor_generator.scales="
                "[0.0625, 0.125, 0.25, 0.5]")
TINY_MODEL_OVERRIDES = (
    "model.faster_rcnn.image_resizer={fixed_shape_resizer {height: 64 width: 64}}",
    "model.faster_rcnn.first_stage_max_proposals=10",
    "model.faster_rcnn.second_stage_batch_size=8",
    f"{NMS}.max_total_detections=5",
    f"{NMS}.max_detections_per_class=5",
    f"{NMS}.score_threshold=0.0",
)
TINY_OVERRIDES = (TINY_ANCHORS, *TINY_MODEL_OVERRIDES)
BEST_STEP, LATEST_STEP = 10, 20
KEYS = ("num_detections", "detection_boxes", "detection_scores", "detection_classes",
        "detection_masks")


def tiny_pipeline(*extra: str):
    return config_lib.load_pipeline_config(QUICKSTART, list(TINY_OVERRIDES) + list(extra))


def _perturb(variables, seed: int) -> None:
    """Adds noise to every trainable variable (so that checkpoints differ). The stem
    convolution (7 x 7 x 3, the first) is scaled down to take 0..255 pixels to activations of
    order one, as trained batch-norm statistics would: an untrained backbone's features run
    into the thousands, where float32 rounding differs between eager and graph execution by
    more than the 1e-4 the tests compare with. The second stage's class logits and box codes are
    scaled down too, so that scores spread over (0, 1) and boxes keep inside the image."""
    rng = np.random.default_rng(seed)
    for index, variable in enumerate(variables):
        value = variable.numpy() + rng.normal(0.0, 0.05, variable.shape)
        if index == 0:
            assert tuple(variable.shape[:3]) == (7, 7, 3), variable.path
            value = value * 0.02
        if variable.path.endswith(("ClassPredictor/kernel", "BoxEncodingPredictor/kernel")):
            value = value * 0.1
        variable.assign(value.astype(variable.numpy().dtype))


def make_run_folder(run_dir: Path, pipeline) -> dict[int, str]:
    """Writes a run folder as training does (pipeline.config, ckpt-10, ckpt-20, best/ =
    step 10); returns {step: checkpoint prefix}."""
    keras.utils.set_random_seed(3)
    model = model_builder.build(pipeline.model, is_training=True, seed=3)
    model.ensure_built()
    optimizer, _ = optimizer_builder.build_optimizer(pipeline.train_config.optimizer)
    optimizer.build(model.trainable_variables)
    config_lib.write_pipeline_config(pipeline, run_dir / "pipeline.config")
    saver = ckpt_lib.RunCheckpoints(run_dir, ckpt_lib.make_checkpoint(model, optimizer))
    paths = {}
    for step in (BEST_STEP, LATEST_STEP):
        _perturb(model.trainable_variables, step)
        optimizer.iterations.assign(step)
        paths[step] = saver.save(step)
    best = ckpt_lib.Best(BEST_STEP, "metric", 0.5, f"ckpt-{BEST_STEP}")
    ckpt_lib.copy_to_best(run_dir, paths[BEST_STEP], best)
    return paths


def reference_outputs(pipeline, checkpoint: str, image: np.ndarray) -> dict[str, np.ndarray]:
    """The checkpoint's own inference on one uint8 image: the model restored directly, the
    image resized with the configured resizer in eager mode."""
    model = model_builder.build(pipeline.model, is_training=False)
    model.ensure_built()
    ckpt_lib.restore_model(model, checkpoint)
    resizer = input_builder.build_image_resizer(pipeline.model.faster_rcnn.image_resizer)
    resized, _, true_shape = resizer(tf.constant(image, tf.float32), None)
    outputs = model(resized[tf.newaxis], tf.cast(true_shape, tf.int32)[tf.newaxis])
    return {key: value.numpy() for key, value in outputs.items()}


def assert_outputs_close(actual, expected, atol: float = 1e-4) -> None:
    """Every output of ``KEYS`` of the same shape and within ``atol``."""
    assert set(KEYS) <= set(actual), sorted(actual)
    for key in KEYS:
        got, want = np.asarray(actual[key]), np.asarray(expected[key])
        assert got.shape == want.shape, (key, got.shape, want.shape)
        np.testing.assert_allclose(got, want, atol=atol, rtol=0, err_msg=key)


def sample_image(seed: int = 0, height: int = 80, width: int = 100) -> np.ndarray:
    """A uint8 image with some structure (blocks of colour over noise)."""
    rng = np.random.default_rng(seed)
    image = rng.integers(0, 60, [height, width, 3]).astype(np.uint8)
    image[height // 4: height // 2, width // 5: width // 2] = (220, 40, 40)
    image[height // 2: height - 5, width // 2: width - 10] = (30, 200, 90)
    return image


@dataclasses.dataclass
class TinyExport:
    run_dir: Path
    checkpoints: dict[int, str]
    pipeline: object
    files: exporter.ExportedFiles
    image: np.ndarray
    reference: dict[str, np.ndarray]  # the best checkpoint's own inference on ``image``


@pytest.fixture(scope="session")
def tiny_export(tmp_path_factory) -> TinyExport:
    """The tiny run folder, exported (best checkpoint, image_tensor input) once."""
    run_dir = tmp_path_factory.mktemp("run")
    pipeline = tiny_pipeline()
    paths = make_run_folder(run_dir, pipeline)
    out = tmp_path_factory.mktemp("exported")
    files, chosen = exporter.export_run(run_dir, out)
    assert chosen.step == BEST_STEP and chosen.how == "best"
    image = sample_image()
    reference = reference_outputs(pipeline, paths[BEST_STEP], image)
    assert reference["num_detections"][0] > 0, "the tiny model should detect something"
    return TinyExport(run_dir, paths, pipeline, files, image, reference)
