"""OpenVINO: writing the exported computation as OpenVINO IR, running it on OpenVINO's CPU.

``write_openvino`` converts the float32 ``image_tensor`` serving function of a
``DetectionModule`` with ``openvino.convert_model`` and saves the IR (``model.xml`` +
``model.bin``, float32 weights: no compression to float16) into a folder. Input
``input_tensor`` uint8 [B, H, W, 3], outputs named as the SavedModel's. The masks are computed
on all ``max_total_detections`` rows (``mask_rcnn.masks_on_every_row``; the same values): with
the TF graph's dynamic number of mask rows, OpenVINO 2026.4.1's CPU plugin (f32) crashed with a
segmentation fault on the 16th of the quickstart's evaluation maps run in a row.

OpenVINO's CPU plugin computes in bfloat16 by default where the CPU has AVX512_BF16 or AMX,
which moves scores by up to about 0.01 on the tiny test model and more on a trained one. The
IR carries no precision that the plugin honours, so ``load_openvino`` compiles with an explicit
``INFERENCE_PRECISION_HINT``: ``"f32"`` (what an export records in ``export.json``) unless
asked for ``"bf16"``. Compiling the IR yourself, pass ``{"INFERENCE_PRECISION_HINT": "f32"}``.

openvino is the optional extra ``pip install -e ".[openvino]"``.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Callable

import numpy as np

from object_detection import errors
from object_detection.export import export_formats
from object_detection.export.detection_module import IMAGE_TENSOR, OUTPUT_KEYS
from object_detection.meta_architectures import mask_rcnn

logger = logging.getLogger(__name__)

MODEL_XML = "model.xml"  # in the export's openvino/ folder, with model.bin beside it


def _require() -> None:
    reason = export_formats.missing_reason(export_formats.OPENVINO)
    if reason:
        raise ValueError(reason)


def write_openvino(module, folder: str | os.PathLike) -> Path:
    """Converts ``module``'s (a ``DetectionModule`` of a float32 model) ``image_tensor``
    serving function into OpenVINO IR in ``folder`` (created); returns the ``.xml`` path."""
    _require()
    import openvino  # optional extra

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    with mask_rcnn.masks_on_every_row():  # traced here: a static number of mask rows
        function = module.serving_function(IMAGE_TENSOR).get_concrete_function()
    model = openvino.convert_model(function)
    path = folder / MODEL_XML
    openvino.save_model(model, os.fspath(path), compress_to_fp16=False)
    logger.info("wrote the OpenVINO IR to %s", path)
    return path


def load_openvino(path: str | os.PathLike,
                  precision: str = export_formats.OPENVINO_DEFAULT_PRECISION,
                  ) -> Callable[[Sequence[np.ndarray]], dict[str, np.ndarray]]:
    """A runner of the OpenVINO IR ``path`` (``.xml``) compiled for the CPU with inference
    precision ``precision`` ("f32" or "bf16"): uint8 [H, W, 3] images of one size ->
    {output name: array}. ValueError (one sentence naming the path) for a file that is not a
    detection model of this project."""
    _require()
    export_formats.check_openvino_precision(precision)
    import openvino  # optional extra

    path = Path(path)
    core = openvino.Core()
    try:
        model = core.read_model(os.fspath(path))
    except Exception as error:  # OpenVINO raises RuntimeError with a long text
        raise ValueError(f"{path}: not a loadable OpenVINO IR "
                         f"({errors.first_line(error)})") from None
    inputs = model.inputs
    if (len(inputs) != 1 or inputs[0].get_element_type() != openvino.Type.u8
            or inputs[0].get_partial_shape().rank.get_length() != 4):
        raise ValueError(f"{path}: not an exported detection model: it must take one uint8 "
                         f"[B, H, W, 3] input")
    compiled = core.compile_model(model, "CPU", {"INFERENCE_PRECISION_HINT": precision})
    names = [name for output in compiled.outputs for name in output.get_names()]
    outputs = {key: compiled.output(key) for key in OUTPUT_KEYS if key in names}
    request = compiled.create_infer_request()

    def run(images: Sequence[np.ndarray]) -> dict[str, np.ndarray]:
        results = request.infer([np.stack(images).astype(np.uint8)])
        return {key: np.array(results[port]) for key, port in outputs.items()}

    run.output_names = names
    run.precision = precision
    logger.info("compiled %s for the CPU in %s", path, precision)
    return run

