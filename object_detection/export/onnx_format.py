"""ONNX: writing the exported computation with tf2onnx, running it with ONNX Runtime.

``write_onnx`` converts the float32 ``image_tensor`` serving function of a
``DetectionModule`` (opset ``OPSET``) into one ``.onnx`` file: input ``input_tensor`` uint8
[B, H, W, 3], outputs named as the SavedModel's (``detection_module.OUTPUT_KEYS``). The
ResNet's dilated convolutions carry explicit padding (``resnet_v1.conv2d_same``), which ONNX
Runtime's CPU kernels take. ``load_onnx`` gives the runner of ``inference.load_model``.

tf2onnx and onnxruntime are the optional extra ``pip install -e ".[onnx]"``.
"""

from __future__ import annotations

import contextlib
import io
import logging
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Callable

import numpy as np

from object_detection import errors
from object_detection.export import export_formats
from object_detection.export.detection_module import IMAGE_TENSOR, OUTPUT_KEYS, input_spec

logger = logging.getLogger(__name__)

OPSET = 17

def _require() -> None:
    reason = export_formats.missing_reason(export_formats.ONNX)
    if reason:
        raise ValueError(reason)

def write_onnx(module, path: str | os.PathLike) -> Path:
    """Converts ``module``'s (a ``DetectionModule`` of a float32 model) ``image_tensor``
    serving function into the ONNX file ``path``; returns it."""
    _require()
    import tf2onnx  # optional extra

    path = Path(path)
    serve = module.serving_function(IMAGE_TENSOR)
    # tf2onnx prints its progress through logging and absl; keep the command's output short.
    with contextlib.redirect_stdout(io.StringIO()):
        tf2onnx.convert.from_function(serve, input_signature=[input_spec(IMAGE_TENSOR)],
                                      opset=OPSET, output_path=os.fspath(path))
    logger.info("wrote the ONNX model (opset %d) to %s", OPSET, path)
    return path

def load_onnx(path: str | os.PathLike) -> Callable[[Sequence[np.ndarray]], dict[str, np.ndarray]]:
    """A runner of the ONNX model ``path`` on ONNX Runtime's CPU provider: uint8 [H, W, 3]
    images of one size -> {output name: array}. ValueError (one sentence naming the path) for
    a file that is not a detection model of this project."""
    _require()
    import onnxruntime  # optional extra

    path = Path(path)
    try:
        session = onnxruntime.InferenceSession(os.fspath(path),
                                               providers=["CPUExecutionProvider"])
    except Exception as error:  # ONNX Runtime raises its own kinds for a broken file
        raise ValueError(f"{path}: not a loadable ONNX model "
                         f"({errors.first_line(error)})") from None
    inputs = session.get_inputs()
    if len(inputs) != 1 or inputs[0].type != "tensor(uint8)" or len(inputs[0].shape) != 4:
        raise ValueError(f"{path}: not an exported detection model: it must take one uint8 "
                         f"[B, H, W, 3] input, it takes "
                         f"{[(i.name, i.type, i.shape) for i in inputs]}")
    names = [output.name for output in session.get_outputs()]
    keys = [key for key in OUTPUT_KEYS if key in names]
    input_name = inputs[0].name

    def run(images: Sequence[np.ndarray]) -> dict[str, np.ndarray]:
        values = session.run(keys, {input_name: np.stack(images).astype(np.uint8)})
        return dict(zip(keys, values))

    run.output_names = names
    return run
