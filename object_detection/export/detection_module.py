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

``saved_model_root`` gives what ``exporter`` saves: not the Keras model but its backing
``tf.Variable``s, one per weight (as ``keras.export.ExportArchive`` does). A Keras 3 variable
saved as part of a Keras model is written twice into a SavedModel's graph (its
``_export_to_saved_model_graph`` adds a second ``tf.Variable`` copied from the first): the
signature reads one copy and the restore fills the other, so that every loader but TF's Python
one (TF Serving, ``saved_model_cli run``, ``tf.compat.v1.saved_model.loader.load``) fails with
"Could not find variable ..." (tensorflow#72963, keras#20095).
"""

from __future__ import annotations

from collections.abc import Mapping
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


def backing_variable(variable) -> tf.Variable:
    """The ``tf.Variable`` holding a Keras variable's value (a ``tf.Variable``: itself)."""
    if isinstance(variable, tf.Variable):
        return variable
    value = variable.value  # outside an autocast scope: the backing variable itself
    if not isinstance(value, tf.Variable):
        raise TypeError(f"variable {getattr(variable, 'path', variable)!r} is not backed by a "
                        f"tf.Variable (its value is a {type(value).__name__})")
    return value


def backing_variables(variables: Mapping[str, object]) -> dict[str, tf.Variable]:
    """``{name: backing_variable(variable)}``; ValueError when two names share one."""
    backed = {name: backing_variable(variable) for name, variable in variables.items()}
    if len({id(v) for v in backed.values()}) != len(backed):
        raise ValueError("two variable names share one tf.Variable")
    return backed


class DetectionModule(tf.Module):
    """A restored model and its resizer, with serving functions per input type.

    ``variables_by_name``: every model variable by name (``checkpoints.variable_map``; Keras 3
    does not track layers that a model holds in Python lists), whose backing ``tf.Variable``s
    ``saved_model_root`` saves. The module itself is not saved (see the module docstring).
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
        # With a resizer of static output size, so are the images' TensorArrays (which the
        # TFLite converter needs, to lower them into builtin ops: export.tflite_format).
        image_shape = tf.TensorShape([*(self._static_size or (None, None)), 3])
        resized = tf.TensorArray(tf.float32, size=count, infer_shape=False,
                                 element_shape=image_shape)
        sizes = tf.TensorArray(tf.int32, size=count, element_shape=tf.TensorShape([2]))
        true_shapes = tf.TensorArray(tf.int32, size=count, element_shape=tf.TensorShape([3]))
        for i in tf.range(count):
            image, _, true_shape = self._resizer(read(inputs[i]), None)
            resized = resized.write(i, image)
            sizes = sizes.write(i, tf.shape(image)[:2])
            true_shapes = true_shapes.write(i, tf.cast(true_shape, tf.int32))
        if self._static_size is not None:  # every image of that size: nothing to pad
            return resized.stack(), true_shapes.stack()
        largest = tf.reduce_max(sizes.stack(), axis=0)
        padded = tf.TensorArray(tf.float32, size=count,
                                element_shape=tf.TensorShape([None, None, 3]))
        for i in tf.range(count):
            image = resized.read(i)
            shape = tf.shape(image)
            padded = padded.write(i, tf.pad(image, [[0, largest[0] - shape[0]],
                                                    [0, largest[1] - shape[1]], [0, 0]]))
        return padded.stack(), true_shapes.stack()

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

    def saved_model_root(self, input_type: str) -> tuple[tf.Module, dict[str, object]]:
        """(the object for ``tf.saved_model.save``, its signatures ``{SIGNATURE: ...}``).

        The object holds ``variables_by_name`` (the backing ``tf.Variable`` of every model
        variable, by the names of ``checkpoints.variable_map``: one variable per weight in the
        SavedModel, which every loader reads) and ``input_type`` (a string variable, so that a
        loader can tell encoded images from tf.Examples); not the Keras model. ValueError when
        the signature reads a variable that is not among them.
        """
        serve = self.serving_function(input_type).get_concrete_function()
        root = tf.Module(name="detection_model")
        root.variables_by_name = backing_variables(self.variables_by_name)
        root.input_type = tf.Variable(check_input_type(input_type), trainable=False,
                                      name="input_type")
        saved = {id(v) for v in root.variables_by_name.values()}
        unsaved = [v.name for v in serve.variables if id(v) not in saved]
        if unsaved:
            raise ValueError(f"the serving function reads variables that are not the model's: "
                             f"{', '.join(unsaved[:5])}")
        return root, {SIGNATURE: serve}
