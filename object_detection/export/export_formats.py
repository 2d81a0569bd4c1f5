"""The formats ``convert_model.py --format`` writes, and the packages each needs.

* ``saved_model``: ``saved_model/``, the TF2 SavedModel (any input type; TF Serving);
* ``frozen_graph``: ``frozen_inference_graph.pb``, the TF1 OD API's frozen GraphDef;
* ``onnx``: ``model.onnx`` (tf2onnx; run with ONNX Runtime), input ``input_tensor``;
* ``openvino``: ``openvino/model.xml`` + ``model.bin``, OpenVINO IR (``openvino.convert_model``)
  with float32 weights, input ``input_tensor``; OpenVINO's CPU plugin computes in bfloat16 by
  default where the CPU has it, so the export records ``"f32"`` as its inference precision and
  the inference library compiles with it;
* ``tflite``: ``model.tflite``, TFLite's builtin ops only (``tf.lite.TFLiteConverter``; run with
  ``tf.lite.Interpreter`` or LiteRT), float32, input ``input_tensor``; only for a model whose
  resizer gives every image one size: a ``fixed_shape_resizer``, or a
  ``keep_aspect_ratio_resizer`` with ``pad_to_max_dimension`` (``tflite_format``).

ONNX, OpenVINO and TFLite take uint8 ``[B, H, W, 3]`` images (``image_tensor``) and give the
outputs of ``detection_module`` under the same names. ONNX's and OpenVINO's packages are
optional extras (``pip install -e ".[onnx]"``, ``".[openvino]"``; TFLite needs only
TensorFlow); this module names what is missing without importing TensorFlow, so the command
line can refuse before it builds anything.
"""

from __future__ import annotations

import importlib.util
from collections.abc import Sequence

SAVED_MODEL = "saved_model"
FROZEN_GRAPH = "frozen_graph"
ONNX = "onnx"
OPENVINO = "openvino"
TFLITE = "tflite"
FORMATS = (SAVED_MODEL, FROZEN_GRAPH, ONNX, OPENVINO, TFLITE)
DEFAULT_FORMATS = (SAVED_MODEL, FROZEN_GRAPH)
# Formats converted from the float32 image_tensor graph (not from a bfloat16 one, nor from
# the SavedModel's other input types).
PORTABLE_FORMATS = (ONNX, OPENVINO, TFLITE)

# Python modules needed to write (and to load, the runtime) each optional format, and the
# extra of pyproject.toml that installs them (TFLite: none beyond TensorFlow).
_MODULES = {ONNX: ("tf2onnx", "onnx", "onnxruntime"), OPENVINO: ("openvino",)}
EXTRAS = {ONNX: "onnx", OPENVINO: "openvino"}

OPENVINO_PRECISIONS = ("f32", "bf16")  # INFERENCE_PRECISION_HINT values the library takes
OPENVINO_DEFAULT_PRECISION = "f32"


def parse_formats(text: str) -> tuple[str, ...]:
    """``"saved_model,onnx"`` -> ("saved_model", "onnx"), in the order of ``FORMATS``.
    ValueError of one sentence for an empty list or an unknown name."""
    names = [name.strip() for name in text.split(",") if name.strip()]
    unknown = [name for name in names if name not in FORMATS]
    if unknown or not names:
        shown = ", ".join(repr(name) for name in unknown) or "nothing"
        raise ValueError(f"--format takes a comma-separated list of {', '.join(FORMATS)}; "
                         f"got {shown}")
    return tuple(name for name in FORMATS if name in names)


def missing_modules(export_format: str) -> list[str]:
    """The Python modules ``export_format`` needs that are not installed (none for the TF
    formats)."""
    return [name for name in _MODULES.get(export_format, ())
            if importlib.util.find_spec(name) is None]


def missing_reason(export_format: str) -> str | None:
    """Why ``export_format`` cannot be written or run here (the modules to install, and how),
    or None when it can."""
    missing = missing_modules(export_format)
    if not missing:
        return None
    return (f"the {export_format} format needs {', '.join(missing)} (install the extra: "
            f"pip install -e \".[{EXTRAS[export_format]}]\")")


def check_formats(formats: str | Sequence[str], precision: str = "float32") -> tuple[str, ...]:
    """``formats`` (a comma-separated string or names) checked, in the order of ``FORMATS``.
    ValueError of one sentence for an unknown or empty list, a format whose packages are not
    installed, or ONNX / OpenVINO / TFLite with a ``precision`` (``core.precision``) other
    than float32: they are converted from the float32 graph (OpenVINO computes in bfloat16
    itself when asked at loading, ``openvino_format``)."""
    names = parse_formats(formats if isinstance(formats, str) else ",".join(formats))
    for name in names:
        reason = missing_reason(name)
        if reason:
            raise ValueError(reason)
    portable = [name for name in names if name in PORTABLE_FORMATS]
    if portable and precision != "float32":
        raise ValueError(f"--format {','.join(portable)} is exported from the float32 model: "
                         f"export it without --precision {precision} (OpenVINO can compute "
                         "in bfloat16 when loading)")
    return names


def check_openvino_precision(precision: str) -> str:
    if precision not in OPENVINO_PRECISIONS:
        raise ValueError(f"OpenVINO inference precision must be one of "
                         f"{', '.join(OPENVINO_PRECISIONS)}, got {precision!r}")
    return precision
