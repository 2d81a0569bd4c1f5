"""TFLite: writing the exported computation with TFLite's builtin ops, running it with
``tf.lite.Interpreter``.

``write_tflite`` converts the float32 ``image_tensor`` serving function of a
``DetectionModule`` into one ``model.tflite`` (``tf.lite.TFLiteConverter``, builtin ops only:
no Flex / Select TF ops, no custom ops; float32, no optimizations): input ``input_tensor``
uint8 [B, H, W, 3] of any batch and size (resized in the model as in training), outputs named
as the SavedModel's (``detection_module.OUTPUT_KEYS``), signature ``serving_default``.
``load_tflite`` gives the runner of ``inference.load_model``.

Three parts of the TF graph have no builtin op, and the conversion traces them otherwise:

* the crop of ``roi_ops.crop_and_resize`` (TF's CropAndResize): traced under
  ``roi_ops.gather_crops()``, the same formula from gathers;
* the per-image ``tf.TensorArray``s of ``DetectionModule.preprocess``: TFLite lowers a
  TensorArray into builtin ops only with a static element shape, which they have when the
  resizer gives every image one size (``resizers.resized_static_shape``): a
  ``fixed_shape_resizer`` (or a ``keep_aspect_ratio_resizer`` with ``pad_to_max_dimension``).
  Other resizers (``keep_aspect_ratio_resizer`` without it, ...) resize each image to its own
  size, so ``write_tflite`` refuses them (``check_resizer``);
* a bool new-axis slice of ``MaskRCNN._detection_masks`` (``tf.expand_dims`` there).

And TFLite's NMS kernel orders tied scores unlike TF's, so the NMS is traced under
``post_processing.nms_in_rank_order()`` (no ties; TF's selection).

Nothing is needed beyond TensorFlow; the ``.tflite`` also runs on LiteRT (``ai-edge-litert``,
``ai_edge_litert.interpreter.Interpreter``) with the same calls.
"""

from __future__ import annotations

import logging
import os
import warnings
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np
import tensorflow as tf
from tensorflow.python.framework.convert_to_constants import convert_variables_to_constants_v2

from object_detection import errors
from object_detection.core import post_processing, roi_ops
from object_detection.data import resizer as resizers
from object_detection.export.detection_module import IMAGE_TENSOR, OUTPUT_KEYS, SIGNATURE

logger = logging.getLogger(__name__)


def resizer_problem(static_size: tuple[int, int] | None, kind: str | None = None) -> str | None:
    """Why a model whose resizer outputs ``static_size`` (``resizers.resized_static_shape``;
    None: each image its own size) of ``kind`` (the pipeline config's resizer, for the
    message) cannot be written as TFLite, or None when it can."""
    if static_size is not None:
        return None
    what = f"this model's is a {kind}" if kind else "this model's gives each image its own size"
    return ("--format tflite needs a fixed_shape_resizer (or a keep_aspect_ratio_resizer with "
            f"pad_to_max_dimension): {what} (its per-image sizes make TensorArrays of unknown "
            "element shape in the exported preprocessing, which the TFLite converter cannot "
            "lower into builtin ops)")


def check_resizer(resizer_config) -> None:
    """ValueError of one sentence (``resizer_problem``) unless the ``ImageResizer`` config
    gives every image one size; builds the resizer only, not the model."""
    from object_detection.builders import input_builder

    resizer = input_builder.build_image_resizer(resizer_config)
    problem = resizer_problem(resizers.resized_static_shape(resizer),
                              resizer_config.WhichOneof("image_resizer_oneof"))
    if problem:
        raise ValueError(problem)


def convert(module) -> bytes:
    """The ``.tflite`` flatbuffer of ``module``'s (a ``DetectionModule`` of a float32 model)
    ``image_tensor`` serving function, builtin ops only."""
    problem = resizer_problem(resizers.resized_static_shape(module._resizer))
    if problem:
        raise ValueError(problem)
    # Traced here: no CropAndResize op; NMS without ties, which TFLite's orders its own way.
    with roi_ops.gather_crops(), post_processing.nms_in_rank_order():
        function = module.serving_function(IMAGE_TENSOR).get_concrete_function()
    # The weights as constants: given the variables, the converter keeps them as resource
    # variables (VAR_HANDLE / READ_VARIABLE), which the interpreter starts as zeros.
    frozen = convert_variables_to_constants_v2(function)
    structure = function.structured_outputs

    @tf.function(input_signature=function.structured_input_signature[0])
    def serve(input_tensor):  # the outputs by name again (the frozen function's are flat)
        return tf.nest.pack_sequence_as(structure, tf.nest.flatten(frozen(input_tensor)))

    converter = tf.lite.TFLiteConverter.from_concrete_functions(
        [serve.get_concrete_function()], module)
    converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS]
    converter.target_spec.supported_types = [tf.float32]
    converter.optimizations = []
    return converter.convert()


def write_tflite(module, path: str | os.PathLike) -> Path:
    """Converts ``module``'s (a ``DetectionModule`` of a float32 model) ``image_tensor``
    serving function into the TFLite file ``path``; returns it. ValueError of one sentence
    (before converting) unless its resizer gives every image one size (``resizer_problem``)."""
    path = Path(path)
    path.write_bytes(convert(module))
    logger.info("wrote the TFLite model (%d bytes) to %s", path.stat().st_size, path)
    return path


def _interpreter(**kwargs) -> tf.lite.Interpreter:
    with warnings.catch_warnings():  # "tf.lite.Interpreter is deprecated ... use LiteRT"
        warnings.simplefilter("ignore", UserWarning)
        return tf.lite.Interpreter(**kwargs)


def load_tflite(path: str | os.PathLike,
                ) -> Callable[[Sequence[np.ndarray]], dict[str, np.ndarray]]:
    """A runner of the TFLite model ``path`` on ``tf.lite.Interpreter`` (its signature
    runner, one thread per core this process may use; the input is resized to each batch's
    shape): uint8 [H, W, 3] images of one size
    -> {output name: array}. ValueError (one sentence naming the path) for a file that is not
    a detection model of this project."""
    path = Path(path)
    try:
        interpreter = _interpreter(model_path=os.fspath(path),
                                   num_threads=len(os.sched_getaffinity(0)))
        signatures = interpreter.get_signature_list()
        runner = interpreter.get_signature_runner(
            SIGNATURE if SIGNATURE in signatures else next(iter(signatures), None))
    except Exception as error:  # the interpreter raises ValueError / RuntimeError with long texts
        raise ValueError(f"{path}: not a loadable TFLite model "
                         f"({errors.first_line(error)})") from None
    inputs = runner.get_input_details()
    detail = next(iter(inputs.values()), None)
    if len(inputs) != 1 or detail["dtype"] != np.uint8 or len(detail["shape"]) != 4:
        taken = [(name, d["dtype"].__name__, list(d["shape"])) for name, d in inputs.items()]
        raise ValueError(f"{path}: not an exported detection model: it must take one uint8 "
                         f"[B, H, W, 3] input, it takes {taken}")
    input_name = next(iter(inputs))
    names = list(runner.get_output_details())
    keys = [key for key in OUTPUT_KEYS if key in names]

    def run(images: Sequence[np.ndarray]) -> dict[str, np.ndarray]:
        outputs = runner(**{input_name: np.stack(images).astype(np.uint8)})
        return {key: np.array(outputs[key]) for key in keys}

    run.output_names = names
    run.keep_alive = interpreter
    return run
