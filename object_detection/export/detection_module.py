"""The exported computation: raw inputs -> resized, padded batch -> model -> detections.

``DetectionModule`` wraps a built, restored ``MaskRCNN`` and the image resizer it was trained
with. Its serving functions take one of the OD API input types (``input_types``):

* ``image_tensor``: uint8 ``[B, H, W, 3]`` RGB;
* ``float_image_tensor``: float32 ``[B, H, W, 3]`` RGB in 0..255;
* ``encoded_image_string_tensor``: string ``[B]`` of encoded PNG / JPEG / BMP / GIF files;
* ``tf_example``: string ``[B]`` of serialized ``tf.train.Example`` with ``image/encoded``.

Each image is resized on its own exactly as in training (``input_builder.build_image_resizer``),
then the batch is zero-padded at the bottom / right to its largest image (encoded images of a
batch may differ in size) and run with the unpadded sizes as ``true_image_shapes``. Outputs
(``DetectionResultFields``): ``num_detections`` float32 [B], ``detection_boxes`` float32
[B, K, 4] normalized [ymin, xmin, ymax, xmax] (normalized to the unpadded resized image, hence
to the original image too), ``detection_scores`` [B, K], ``detection_classes`` float32 [B, K]
(1-based), and for Mask R-CNN ``detection_masks`` [B, K, mask_h, mask_w] box-relative.
"""

from __future__ import annotations

from typing import Callable

import tensorflow as tf

from object_detection.data import decoder
from object_detection.data import resizer as resizers
from object_detection.fields import DetectionResultFields as Fields
from object_detection.fields import TfExampleKeys
from object_detection.export.input_types import (  # noqa: F401 (INPUT_TYPES: with the rest)
    ENCODED_IMAGE_STRING_TENSOR, FLOAT_IMAGE_TENSOR, IMAGE_TENSOR, INPUT_TYPES, TF_EXAMPLE,
    check_input_type)
from object_detection.export.export_record import SAVED_MODEL_DIR  # noqa: F401 (its home)
from object_detection.training.checkpoints import variable_map

SIGNATURE = "serving_default"
INPUT_NAME = "input_tensor"  # the signature's input, as the OD API's TF2 exporter names it
OUTPUT_KEYS = (Fields.num_detections, Fields.detection_boxes, Fields.detection_scores,
               Fields.detection_classes, Fields.detection_masks)

_DTYPES = {IMAGE_TENSOR: tf.uint8, FLOAT_IMAGE_TENSOR: tf.float32,
           ENCODED_IMAGE_STRING_TENSOR: tf.string, TF_EXAMPLE: tf.string}


def input_spec(input_type: str, name: str = INPUT_NAME) -> tf.TensorSpec:
    """The serving input: [None, None, None, 3] images or [None] strings, named ``name``."""
    dtype = _DTYPES[check_input_type(input_type)]
    shape = [None] if dtype == tf.string else [None, None, None, 3]
    return tf.TensorSpec(shape, dtype, name=name)


def _decode_example(serialized: tf.Tensor) -> tf.Tensor:
    spec = {TfExampleKeys.image_encoded: tf.io.FixedLenFeature([], tf.string)}
    parsed = tf.io.parse_single_example(serialized, spec)
    return decoder.decode_image(parsed[TfExampleKeys.image_encoded])


_IMAGE_READERS: dict[str, Callable[[tf.Tensor], tf.Tensor]] = {
    IMAGE_TENSOR: lambda image: tf.cast(image, tf.float32),
    FLOAT_IMAGE_TENSOR: lambda image: tf.cast(image, tf.float32),
    ENCODED_IMAGE_STRING_TENSOR: decoder.decode_image,
    TF_EXAMPLE: _decode_example,
}


class DetectionModule(tf.Module):
    """A restored model and its resizer, with serving functions per input type.

    ``variables_by_name`` keeps every model variable tracked for saving (Keras 3 does not
    track layers that a model holds in Python lists), as ``checkpoints.make_checkpoint``.
    """

    def __init__(self, model, resizer: resizers.Resizer) -> None:
        super().__init__(name="detection_module")
        self.model = model
        self.variables_by_name = variable_map(model)
        self._resizer = resizer
        self._static_size = resizers.resized_static_shape(resizer)

    def preprocess(self, inputs: tf.Tensor, input_type: str) -> tuple[tf.Tensor, tf.Tensor]:
        """Inputs of ``input_type`` -> (float32 [B, H', W', 3] resized images zero-padded at the
        bottom / right to the batch's largest, int32 [B, 3] their unpadded sizes)."""
        read = _IMAGE_READERS[check_input_type(input_type)]
        count = tf.shape(inputs)[0]
        resized = tf.TensorArray(tf.float32, size=count, infer_shape=False,
                                 element_shape=tf.TensorShape([None, None, 3]))
        sizes = tf.TensorArray(tf.int32, size=count, element_shape=tf.TensorShape([2]))
        true_shapes = tf.TensorArray(tf.int32, size=count, element_shape=tf.TensorShape([3]))
        for i in tf.range(count):
            image, _, true_shape = self._resizer(read(inputs[i]), None)
            resized = resized.write(i, image)
            sizes = sizes.write(i, tf.shape(image)[:2])
            true_shapes = true_shapes.write(i, tf.cast(true_shape, tf.int32))
        largest = tf.reduce_max(sizes.stack(), axis=0)
        padded = tf.TensorArray(tf.float32, size=count,
                                element_shape=tf.TensorShape([None, None, 3]))
        for i in tf.range(count):
            image = resized.read(i)
            shape = tf.shape(image)
            padded = padded.write(i, tf.pad(image, [[0, largest[0] - shape[0]],
                                                    [0, largest[1] - shape[1]], [0, 0]]))
        images = padded.stack()
        if self._static_size is not None:
            images.set_shape([None, *self._static_size, 3])
        return images, true_shapes.stack()

    def detect(self, inputs: tf.Tensor, input_type: str) -> dict[str, tf.Tensor]:
        """Detections (see the module docstring) for a batch of ``input_type`` inputs."""
        images, true_shapes = self.preprocess(inputs, input_type)
        outputs = self.model(images, true_shapes, training=False)
        return {key: outputs[key] for key in OUTPUT_KEYS if key in outputs}

    def serving_function(self, input_type: str, input_name: str = INPUT_NAME):
        """A ``tf.function`` of one ``input_type`` argument named ``input_name``."""
        spec = input_spec(input_type, input_name)

        @tf.function(input_signature=[spec])
        def serve(input_tensor):
            return self.detect(input_tensor, input_type)

        return serve
