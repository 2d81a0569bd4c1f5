"""Exporting a trained checkpoint: SavedModel, frozen graph, ONNX, OpenVINO IR, TFLite,
pipeline config, model checkpoint.

``export_model`` writes into ``output_dir`` (the OD API's layout, and the formats asked for,
``export_formats``; by default saved_model and frozen_graph)::

    saved_model/                  SavedModel, signature "serving_default": input_tensor -> outputs
                                  (one variable per weight: every loader reads it, TF Serving too)
    frozen_inference_graph.pb     GraphDef, image_tensor:0 -> num_detections:0, ... (TF1 names)
    model.onnx                    ONNX (tf2onnx, opset 17): input_tensor -> outputs
    openvino/model.xml, .bin      OpenVINO IR, float32 weights: input_tensor -> outputs
    model.tflite                  TFLite, builtin ops only, float32: input_tensor -> outputs
                                  (only with a resizer of one output size: a
                                  fixed_shape_resizer, ``tflite_format``)
    pipeline.config               the pipeline config the model was built from
    checkpoint/ckpt-0.*, checkpoint/checkpoint   the model's variables only (no optimizer)
    export.json                   written last: every other file with its size, the
                                  checkpoint and its step, the time (``export_record``)

The export is written into a hidden temporary sibling of ``output_dir`` and renamed into place
only when complete (``atomic_files.atomic_directory``): a process killed or failing part-way
leaves no folder (first export) or the previous export as it was, never a mix. Temporary
siblings left by killed exports are removed when the next export of that folder starts.

Outputs are described in ``detection_module``; both models resize raw images with the
resizer of the pipeline config, so they take images of any size. The weights are the
checkpoint's model part, or the optimizer's moving averages of them where the evaluation used
those (``checkpoints.restore_inference_weights``), so that an export scores what the
evaluation scored.
"""

from __future__ import annotations

import dataclasses
import logging
import os
from pathlib import Path

import tensorflow as tf

from object_detection import atomic_files
from object_detection import config as config_lib
from object_detection.builders import input_builder, model_builder
from object_detection.core import precision as precision_lib
from object_detection.data import resizer as resizers
from object_detection.export import (export_formats, export_record, frozen_graph, onnx_format,
                                     openvino_format, run_folder, tflite_format)
from object_detection.export.detection_module import (IMAGE_TENSOR, SAVED_MODEL_DIR,
                                                      DetectionModule, check_input_type)
from object_detection.protos import pipeline_pb2
from object_detection.export.export_record import CHECKPOINT_DIR
from object_detection.training import checkpoints as ckpt_lib
from object_detection.training.run_settings import PIPELINE_CONFIG_NAME

logger = logging.getLogger(__name__)

_BUILD_SIZE = (64, 64)


@dataclasses.dataclass(frozen=True)
class ExportedFiles:
    """Where ``export_model`` wrote: the folder and each of its parts."""

    output_dir: Path
    saved_model: Path | None  # None where the format was not asked for
    frozen_graph: Path | None
    pipeline_config: Path
    checkpoint: Path  # the prefix, .../checkpoint/ckpt-0
    record: Path  # export.json
    onnx: Path | None = None  # model.onnx
    openvino: Path | None = None  # openvino/model.xml
    tflite: Path | None = None  # model.tflite

    def paths(self) -> list[Path]:
        models = [self.saved_model, self.frozen_graph, self.onnx, self.openvino, self.tflite]
        return [path for path in models if path is not None] + [
            self.pipeline_config, self.checkpoint.parent, self.record]


def restore_inference_model(pipeline: pipeline_pb2.TrainEvalPipelineConfig,
                            checkpoint: str | os.PathLike,
                            precision: str = precision_lib.FLOAT32):
    """(MaskRCNN built for inference with the checkpoint's weights, its image resizer).
    ``precision``: "float32" or "bfloat16" (mixed; the checkpoint is float32 either way).

    Only the model part of the checkpoint is read (with ``checkpoints.uses_moving_averages``,
    the optimizer's averages instead of the raw weights: ``restore_inference_weights``).
    Raises FileNotFoundError when the checkpoint does not exist and ValueError when it does
    not fit the model.
    """
    checkpoint = os.fspath(checkpoint)
    if not tf.io.gfile.exists(checkpoint + ".index"):
        raise FileNotFoundError(f"checkpoint not found: {checkpoint} (no {checkpoint}.index)")
    resizer = input_builder.build_image_resizer(pipeline.model.faster_rcnn.image_resizer)
    model = model_builder.build(pipeline.model, is_training=False, precision=precision)
    model.ensure_built(resizers.resized_static_shape(resizer) or _BUILD_SIZE)
    try:
        averaged = ckpt_lib.restore_inference_weights(model, checkpoint, pipeline)
    except (AssertionError, ValueError, tf.errors.OpError) as error:
        text = str(error).strip()
        first_line = text.splitlines()[0] if text else type(error).__name__
        raise ValueError(f"{checkpoint}: does not fit the model of the pipeline config "
                         f"({first_line})") from None
    if averaged:
        logger.info("%s: exporting the moving averages of the weights "
                    "(eval_config.use_moving_averages)", checkpoint)
    return model, resizer


def _output_folder(output_dir: str | os.PathLike) -> Path:
    """``output_dir`` as an absolute path (where it is a symbolic link, the folder it points
    to), checked to be replaceable by an export (``export_record.check_replaceable``) and not
    below a file (``atomic_files.check_output_folder``)."""
    out = Path(os.path.abspath(output_dir))
    if out.is_symlink():
        out = Path(os.path.realpath(out))
    export_record.check_replaceable(out)
    atomic_files.check_output_folder(out)
    return out


def _write_models(folder: Path, module: DetectionModule, input_type: str,
                  formats: tuple[str, ...]) -> dict[str, Path]:
    """The models of ``formats`` into ``folder``: {format: path written}."""
    written = {}
    if export_formats.SAVED_MODEL in formats:
        root, signatures = module.saved_model_root(input_type)
        written[export_formats.SAVED_MODEL] = folder / SAVED_MODEL_DIR
        tf.saved_model.save(root, os.fspath(folder / SAVED_MODEL_DIR), signatures=signatures)
        logger.info("wrote the SavedModel (%s input) to %s", input_type, folder / SAVED_MODEL_DIR)
    if export_formats.FROZEN_GRAPH in formats:
        written[export_formats.FROZEN_GRAPH] = frozen_graph.write_frozen_graph(
            frozen_graph.freeze(module), folder / frozen_graph.FROZEN_GRAPH_NAME)
        logger.info("wrote the frozen graph to %s", written[export_formats.FROZEN_GRAPH])
    if export_formats.ONNX in formats:
        written[export_formats.ONNX] = onnx_format.write_onnx(
            module, folder / export_record.ONNX_NAME)
    if export_formats.OPENVINO in formats:
        written[export_formats.OPENVINO] = openvino_format.write_openvino(
            module, folder / export_record.OPENVINO_DIR)
    if export_formats.TFLITE in formats:
        written[export_formats.TFLITE] = tflite_format.write_tflite(
            module, folder / export_record.TFLITE_NAME)
    return written


def _write_checkpoint(folder: Path, model) -> Path:
    """The model's variables (no optimizer) as ``folder/checkpoint/ckpt-0``; the prefix."""
    manager = tf.train.CheckpointManager(ckpt_lib.make_checkpoint(model),
                                         os.fspath(folder / CHECKPOINT_DIR), max_to_keep=1)
    prefix = manager.save(checkpoint_number=0)
    logger.info("wrote the model checkpoint to %s", prefix)
    return Path(prefix)


def _step_of(checkpoint: str) -> int | None:
    try:
        return ckpt_lib.checkpoint_step(checkpoint)
    except ValueError:
        return None


def export_model(pipeline: pipeline_pb2.TrainEvalPipelineConfig, checkpoint: str | os.PathLike,
                 output_dir: str | os.PathLike, input_type: str = IMAGE_TENSOR,
                 precision: str = precision_lib.FLOAT32,
                 formats=export_formats.DEFAULT_FORMATS) -> ExportedFiles:
    """Exports the model of ``pipeline`` with the weights of ``checkpoint`` (a prefix such as
    ``run/ckpt-1500``) into ``output_dir``, all or nothing (see the module docstring).

    ``formats``: which models to write (``export_formats.FORMATS``; the pipeline config, the
    checkpoint and ``export.json`` are always written). ``input_type`` chooses the
    SavedModel's input (``detection_module.INPUT_TYPES``); the frozen graph, ONNX, OpenVINO and
    TFLite always take ``image_tensor``. ``precision`` "bfloat16": the TF graphs compute in mixed
    bfloat16 (convolutions and matrix products; inputs, outputs and the checkpoint stay
    float32). ValueError, before anything is written, when ``output_dir`` holds anything but
    an earlier export (it is replaced as a whole), ``export_formats.check_formats`` refuses,
    or TFLite is asked for a model whose resizer does not give every image one size
    (``tflite_format.check_resizer``).
    """
    check_input_type(input_type)
    precision_lib.check_precision(precision)
    formats = export_formats.check_formats(formats, precision)
    if pipeline.model.WhichOneof("model") != "faster_rcnn":
        raise ValueError("pipeline config: the model is not a faster_rcnn (Mask R-CNN) model")
    if export_formats.TFLITE in formats:
        tflite_format.check_resizer(pipeline.model.faster_rcnn.image_resizer)
    out = _output_folder(output_dir)
    model, resizer = restore_inference_model(pipeline, checkpoint, precision)
    module = DetectionModule(model, resizer)
    for stale in atomic_files.remove_stale_temporaries(out.parent, out.name):
        logger.warning("removed %s, left by an interrupted export", stale)
    checkpoint = os.fspath(checkpoint)
    openvino_precision = (export_formats.OPENVINO_DEFAULT_PRECISION
                          if export_formats.OPENVINO in formats else None)
    with atomic_files.atomic_directory(out) as folder:
        written = _write_models(folder, module, input_type, formats)
        config_lib.write_pipeline_config(pipeline, folder / PIPELINE_CONFIG_NAME)
        prefix = _write_checkpoint(folder, model)
        export_record.write_record(folder, checkpoint, _step_of(checkpoint), input_type,
                                   precision, formats, openvino_precision)
    logger.info("exported %s to %s", checkpoint, out)

    def final(name: str) -> Path | None:  # where a part lies after the rename
        return out / written[name].relative_to(folder) if name in written else None

    return ExportedFiles(out, final(export_formats.SAVED_MODEL),
                         final(export_formats.FROZEN_GRAPH), out / PIPELINE_CONFIG_NAME,
                         out / CHECKPOINT_DIR / prefix.name, out / export_record.MARKER,
                         final(export_formats.ONNX), final(export_formats.OPENVINO),
                         final(export_formats.TFLITE))


def export_run(run_dir: str | os.PathLike, output_dir: str | os.PathLike,
               checkpoint: str | None = None, input_type: str = IMAGE_TENSOR,
               pipeline_config: str | os.PathLike | None = None,
               precision: str = precision_lib.FLOAT32,
               formats=export_formats.DEFAULT_FORMATS,
               ) -> tuple[ExportedFiles, run_folder.ChosenCheckpoint]:
    """Exports a checkpoint of a run folder (``run_folder.choose_checkpoint``: "best",
    "latest", a step, or None for best-else-latest) with the run's ``pipeline.config`` (or
    ``pipeline_config``), in ``precision``, as ``formats``. Everything is checked before
    anything is written."""
    check_input_type(input_type)
    precision_lib.check_precision(precision)
    export_formats.check_formats(formats, precision)
    chosen = run_folder.choose_checkpoint(run_dir, checkpoint)
    config_path = pipeline_config or run_folder.pipeline_config_path(run_dir)
    pipeline = config_lib.load_pipeline_config(config_path)
    return (export_model(pipeline, chosen.path, output_dir, input_type, precision, formats),
            chosen)
