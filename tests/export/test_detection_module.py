"""The exported computation for every input type, batches of several images, and batches of
encoded images of different sizes (resized each as in training, then zero-padded)."""

from __future__ import annotations

import io

import numpy as np
import pytest
import tensorflow as tf
from PIL import Image

from object_detection.export import exporter
from object_detection.export.detection_module import INPUT_TYPES, DetectionModule, input_spec

from tests.data import legacy_resize
from tests.export.conftest import (BEST_STEP, KEYS, assert_outputs_close, reference_outputs,
                                   sample_image, tiny_pipeline)


def _png(image: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(image).save(buffer, format="PNG")
    return buffer.getvalue()


def _example(image: np.ndarray) -> bytes:
    encoded = tf.train.Feature(bytes_list=tf.train.BytesList(value=[_png(image)]))
    feature = {"image/encoded": encoded}
    return tf.train.Example(features=tf.train.Features(feature=feature)).SerializeToString()


def _inputs(images: list[np.ndarray], input_type: str) -> tf.Tensor:
    if input_type == "encoded_image_string_tensor":
        return tf.constant([_png(image) for image in images])
    if input_type == "tf_example":
        return tf.constant([_example(image) for image in images])
    dtype = tf.uint8 if input_type == "image_tensor" else tf.float32
    return tf.constant(np.stack(images), dtype)


@pytest.fixture(scope="module")
def module(tiny_export):
    model, resizer = exporter.restore_inference_model(tiny_export.pipeline,
                                                      tiny_export.checkpoints[BEST_STEP])
    return DetectionModule(model, resizer)


def test_input_specs():
    assert input_spec("image_tensor").dtype == tf.uint8
    assert input_spec("float_image_tensor").dtype == tf.float32
    assert input_spec("float_image_tensor").shape.as_list() == [None, None, None, 3]
    for kind in ("encoded_image_string_tensor", "tf_example"):
        assert input_spec(kind).dtype == tf.string and input_spec(kind).shape.as_list() == [None]
    with pytest.raises(ValueError, match="not supported: 'png'"):
        input_spec("png")


@pytest.mark.parametrize("input_type", INPUT_TYPES)
def test_every_input_type_gives_the_checkpoints_inference_per_image(module, tiny_export,
                                                                    input_type):
    second = sample_image(seed=5)
    expected = [tiny_export.reference,
                reference_outputs(tiny_export.pipeline, tiny_export.checkpoints[BEST_STEP],
                                  second)]
    serve = module.serving_function(input_type)
    outputs = serve(_inputs([tiny_export.image, second], input_type))
    for index, want in enumerate(expected):
        assert_outputs_close({k: outputs[k].numpy()[index:index + 1] for k in KEYS}, want)


def test_encoded_images_of_different_sizes_are_resized_each_then_padded(tiny_export):
    """keep_aspect_ratio_resizer (64..96): 80 x 100 -> 64 x 80 and 100 x 60 -> 96 x 58 (the
    long side capped: 60 * 0.96 = 57.6), padded at the bottom / right to 96 x 80."""
    pipeline = tiny_pipeline("model.faster_rcnn.image_resizer={keep_aspect_ratio_resizer "
                             "{min_dimension: 64 max_dimension: 96}}")
    model, resizer = exporter.restore_inference_model(pipeline,
                                                      tiny_export.checkpoints[BEST_STEP])
    module = DetectionModule(model, resizer)
    first, second = sample_image(0, 80, 100), sample_image(1, 100, 60)
    images, true_shapes = module.preprocess(_inputs([first, second], "encoded_image_string_tensor"),
                                            "encoded_image_string_tensor")
    assert images.shape == (2, 96, 80, 3)
    np.testing.assert_array_equal(true_shapes.numpy(), [[64, 80, 3], [96, 58, 3]])
    expected = np.zeros([2, 96, 80, 3], np.float32)
    expected[0, :64, :80] = legacy_resize.bilinear(first.astype(np.float32), 64, 80)
    expected[1, :96, :58] = legacy_resize.bilinear(second.astype(np.float32), 96, 58)
    np.testing.assert_allclose(images.numpy(), expected, atol=1e-3)

    outputs = module.serving_function("encoded_image_string_tensor")(
        _inputs([first, second], "encoded_image_string_tensor"))
    direct = model(tf.constant(expected), tf.constant([[64, 80, 3], [96, 58, 3]]))
    assert_outputs_close({k: v.numpy() for k, v in outputs.items()},
                         {k: v.numpy() for k, v in direct.items()})


def test_a_record_without_an_image_fails_in_the_graph(module):
    empty = tf.train.Example().SerializeToString()
    with pytest.raises(tf.errors.InvalidArgumentError):
        module.serving_function("tf_example")(tf.constant([empty]))
