"""Running an exported model: load it, detect on an image, an image file or a whole folder.

``load_model(path)`` takes an export folder (``convert_model.py``'s ``--output_dir``), a
SavedModel folder, a frozen graph ``.pb``, an ONNX ``.onnx`` file (run with ONNX Runtime) or
an OpenVINO IR ``.xml`` (or the export's ``openvino/`` folder; run on OpenVINO's CPU plugin in
float32 unless asked for bfloat16) or a TFLite ``.tflite`` file (run with
``tf.lite.Interpreter``), and returns an ``ExportedModel``; an export folder loads its first
model of saved_model, frozen_graph, onnx, openvino, tflite (``export_formats.FORMATS``), or
the one named by ``model_format``. An export folder must be complete: its ``export.json`` present and every file it lists there at its size
(``export_record.check_export``); temporary folders of an interrupted export are refused.
Its ``detect`` gives ``ImageDetections`` of one image: normalized boxes, scores, 1-based
classes, and mask probabilities over each box's pixel crop, pasted from the box-relative masks
as the OD API reframes them (``ImageDetections.from_model_output``); with ``tile_size`` the
map is run in overlapping tiles whose detections are merged (``tiled_detection``).
``detect_folder`` goes over the images of a folder in name order, in batches (of tiles, when
tiling), logging progress and every file it skips.

Any model of another kind (no ``serving_default`` signature, missing detection outputs, a
graph without ``image_tensor``) is refused with a ValueError of one sentence naming the path.
"""

from __future__ import annotations

import dataclasses
import io
import logging
import os
import re
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Callable

import numpy as np
import tensorflow as tf
from PIL import Image

from object_detection import atomic_files, errors
from object_detection.export import (export_formats, export_record, frozen_graph, image_files,
                                     onnx_format, openvino_format, tflite_format,
                                     tiled_detection)
from object_detection.export.detection_module import (ENCODED_IMAGE_STRING_TENSOR,
                                                      FLOAT_IMAGE_TENSOR, IMAGE_TENSOR,
                                                      SAVED_MODEL_DIR, SIGNATURE, TF_EXAMPLE)
from object_detection.fields import DetectionResultFields as Fields
from object_detection.fields import TfExampleKeys
from object_detection.core.detections import ImageDetections, check_image
from object_detection.core.tiling import DEFAULT_TILE_OVERLAP, TileOptions
from object_detection.training.run_settings import PIPELINE_CONFIG_NAME

logger = logging.getLogger(__name__)

REQUIRED_OUTPUTS = (Fields.detection_boxes, Fields.detection_scores, Fields.detection_classes)
_OPTIONAL_OUTPUTS = (Fields.num_detections, Fields.detection_masks)
_SAVED_MODEL_FILE = "saved_model.pb"

Runner = Callable[[list[np.ndarray]], dict[str, np.ndarray]]


# ------------------------------------------------------------------------------ encoding


def _png_bytes(image: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(image).save(buffer, format="PNG")
    return buffer.getvalue()


def _example_bytes(image: np.ndarray) -> bytes:
    feature = {
        TfExampleKeys.image_encoded: tf.train.Feature(
            bytes_list=tf.train.BytesList(value=[_png_bytes(image)])),
        TfExampleKeys.image_format: tf.train.Feature(
            bytes_list=tf.train.BytesList(value=[b"png"])),
    }
    return tf.train.Example(features=tf.train.Features(feature=feature)).SerializeToString()


def model_input(images: Sequence[np.ndarray], input_type: str) -> tf.Tensor:
    """A batch of uint8 [H, W, 3] images as the input of an ``input_type`` model (tensor inputs
    need images of one size; strings are lossless PNGs)."""
    if input_type in (ENCODED_IMAGE_STRING_TENSOR, TF_EXAMPLE):
        encode = _png_bytes if input_type == ENCODED_IMAGE_STRING_TENSOR else _example_bytes
        return tf.constant([encode(image) for image in images], tf.string)
    sizes = {image.shape for image in images}
    if len(sizes) != 1:
        raise ValueError(f"a batch of {input_type} images must have one size, got "
                         f"{sorted(sizes)}")
    batch = np.stack(images)
    return tf.constant(batch, tf.float32 if input_type == FLOAT_IMAGE_TENSOR else tf.uint8)


# ------------------------------------------------------------------------------ loading


def _outputs_problem(path: Path, names: Sequence[str], what: str) -> ValueError | None:
    missing = [key for key in REQUIRED_OUTPUTS if key not in names]
    if not missing:
        return None
    return ValueError(f"{path}: not an exported detection model: {what} has no "
                      f"{', '.join(missing)} output (it has: {', '.join(sorted(names)) or 'none'})")


def _input_type_of(spec: tf.TensorSpec, loaded) -> str | None:
    if spec.dtype == tf.uint8 and spec.shape.rank == 4:
        return IMAGE_TENSOR
    if spec.dtype == tf.float32 and spec.shape.rank == 4:
        return FLOAT_IMAGE_TENSOR
    if spec.dtype == tf.string and spec.shape.rank == 1:
        saved = getattr(loaded, "input_type", None)
        saved = saved.numpy().decode() if saved is not None else ENCODED_IMAGE_STRING_TENSOR
        return saved if saved in (ENCODED_IMAGE_STRING_TENSOR, TF_EXAMPLE) else None
    return None


def _load_saved_model(path: Path) -> tuple[Runner, str]:
    try:
        loaded = tf.saved_model.load(os.fspath(path))
    except Exception as error:  # TF raises many kinds for a broken or foreign SavedModel
        raise ValueError(f"{path}: not a loadable SavedModel "
                         f"({errors.first_line(error)})") from None
    if SIGNATURE not in loaded.signatures:
        raise ValueError(f"{path}: not an exported detection model: the SavedModel has no "
                         f"'{SIGNATURE}' signature (it has: "
                         f"{', '.join(loaded.signatures) or 'none'})")
    function = loaded.signatures[SIGNATURE]
    problem = _outputs_problem(path, list(function.structured_outputs), f"'{SIGNATURE}'")
    if problem:
        raise problem
    inputs = function.structured_input_signature[1]
    input_type = _input_type_of(next(iter(inputs.values())), loaded) if len(inputs) == 1 else None
    if input_type is None:
        raise ValueError(f"{path}: not an exported detection model: '{SIGNATURE}' must take one "
                         f"uint8 or float32 [B, H, W, 3] image tensor or a string [B] tensor, "
                         f"it takes {inputs}")
    input_name = next(iter(inputs))
    keys = [k for k in REQUIRED_OUTPUTS + _OPTIONAL_OUTPUTS if k in function.structured_outputs]

    def run(images: list[np.ndarray]) -> dict[str, np.ndarray]:
        outputs = function(**{input_name: model_input(images, input_type)})
        return {key: outputs[key].numpy() for key in keys}

    run.keep_alive = loaded  # the signature needs its SavedModel object alive
    return run, input_type


def _load_frozen_graph(path: Path) -> tuple[Runner, str]:
    graph_def = frozen_graph.read_frozen_graph(path)
    names = {node.name for node in graph_def.node}
    if frozen_graph.INPUT_NODE not in names:
        raise ValueError(f"{path}: not a detection frozen graph: it has no "
                         f"'{frozen_graph.INPUT_NODE}' input node")
    problem = _outputs_problem(path, [n for n in names if n in REQUIRED_OUTPUTS],
                               "the frozen graph")
    if problem:
        raise problem
    keys = [k for k in REQUIRED_OUTPUTS + _OPTIONAL_OUTPUTS if k in names]
    wrapped = tf.compat.v1.wrap_function(
        lambda: tf.compat.v1.import_graph_def(graph_def, name=""), [])
    function = wrapped.prune(f"{frozen_graph.INPUT_NODE}:0", {k: f"{k}:0" for k in keys})

    def run(images: list[np.ndarray]) -> dict[str, np.ndarray]:
        outputs = function(model_input(images, IMAGE_TENSOR))
        return {key: outputs[key].numpy() for key in keys}

    return run, IMAGE_TENSOR


_ONNX_SUFFIX, _OPENVINO_SUFFIX, _TFLITE_SUFFIX = ".onnx", ".xml", ".tflite"


def _model_in(folder: Path, kind: str) -> Path | None:
    """Where an export folder holds its model of format ``kind``, or None."""
    path = {export_formats.SAVED_MODEL: folder / SAVED_MODEL_DIR,
            export_formats.FROZEN_GRAPH: folder / frozen_graph.FROZEN_GRAPH_NAME,
            export_formats.ONNX: folder / export_record.ONNX_NAME,
            export_formats.OPENVINO: folder / export_record.OPENVINO_DIR
            / openvino_format.MODEL_XML,
            export_formats.TFLITE: folder / export_record.TFLITE_NAME}[kind]
    if kind == export_formats.SAVED_MODEL:
        return path if (path / _SAVED_MODEL_FILE).is_file() else None
    return path if path.is_file() else None


def _resolve(path: Path, model_format: str | None) -> tuple[str, Path, dict | None]:
    """(format, the path to load, the export record or None) for an export folder (checked
    to be complete), a SavedModel folder, an OpenVINO folder or a model file."""
    if path.is_file():
        if path.name == _SAVED_MODEL_FILE:
            return export_formats.SAVED_MODEL, path.parent, None
        if path.suffix == _ONNX_SUFFIX:
            return export_formats.ONNX, path, None
        if path.suffix == _OPENVINO_SUFFIX:
            return export_formats.OPENVINO, path, None
        if path.suffix == _TFLITE_SUFFIX:
            return export_formats.TFLITE, path, None
        return export_formats.FROZEN_GRAPH, path, None
    if (path / _SAVED_MODEL_FILE).is_file():
        return export_formats.SAVED_MODEL, path, None
    if (path / openvino_format.MODEL_XML).is_file():
        return export_formats.OPENVINO, path / openvino_format.MODEL_XML, None
    if not export_record.looks_like_export(path):
        hint = (" (a run folder? export it first with convert_model.py --model_dir)"
                if (path / PIPELINE_CONFIG_NAME).is_file() else "")
        raise ValueError(f"{path}: not an exported model: no {_SAVED_MODEL_FILE}, "
                         f"{SAVED_MODEL_DIR}/, {frozen_graph.FROZEN_GRAPH_NAME}, "
                         f"{export_record.ONNX_NAME}, {export_record.OPENVINO_DIR}/ or "
                         f"{export_record.TFLITE_NAME} in the folder{hint}")
    record = export_record.check_export(path)
    kinds = [model_format] if model_format else export_formats.FORMATS
    for kind in kinds:
        found = _model_in(path, kind)
        if found is not None:
            return kind, found, record
    wanted = f"no {model_format} model" if model_format else "no model"
    raise ValueError(f"{path}: not an exported model: its {export_record.MARKER} lists "
                     f"{wanted} (formats there: {', '.join(record.get('formats', [])) or '?'})")


# The names atomic_files.temporary_sibling gives: .NAME.tmp-PID-RANDOM (or .old-).
_TEMPORARY_NAME = re.compile(r"\..+\.(tmp|old)-\d+-[0-9a-f]+")


def _check_not_temporary(path: Path) -> None:
    """ValueError when ``path`` lies in a temporary folder of an interrupted write."""
    for part in path.absolute().parts:
        if atomic_files.is_temporary(part) and _TEMPORARY_NAME.fullmatch(part):
            raise ValueError(f"{path}: a temporary folder left by an interrupted export "
                             "(convert_model.py), not an export — export again")


def _load_portable(kind: str, path: Path, record: dict | None,
                   openvino_precision: str | None) -> Runner:
    """The runner of an ONNX, OpenVINO or TFLite model, its outputs checked."""
    if kind == export_formats.ONNX:
        run = onnx_format.load_onnx(path)
    elif kind == export_formats.TFLITE:
        run = tflite_format.load_tflite(path)
    else:
        precision = (openvino_precision or (record or {}).get("openvino_inference_precision")
                     or export_formats.OPENVINO_DEFAULT_PRECISION)
        run = openvino_format.load_openvino(path, precision)
    problem = _outputs_problem(path, run.output_names, f"the {kind} model")
    if problem:
        raise problem
    return run


def load_model(path: str | os.PathLike, model_format: str | None = None,
               openvino_precision: str | None = None) -> ExportedModel:
    """Loads an export folder, a SavedModel folder, a frozen graph file, an ONNX file, an
    OpenVINO IR (``.xml``, or its folder) or a TFLite file (``.tflite``).

    ``model_format``: which model of an export folder to load (``export_formats.FORMATS``;
    default the first there). ``openvino_precision``: "f32" or "bf16" for an OpenVINO model
    (default what the export recorded, else "f32"). ONNX and OpenVINO need their optional
    extras (ValueError naming what to install). Raises FileNotFoundError when ``path`` does
    not exist and ValueError (one sentence naming the path) when it is not a detection model,
    an incomplete export folder (no or a broken ``export.json``, a listed file missing or cut
    short) or inside a temporary folder left by an interrupted export.
    """
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"model not found: {path}")
    if model_format is not None:
        export_formats.parse_formats(model_format)  # ValueError for an unknown name
    if openvino_precision is not None:
        export_formats.check_openvino_precision(openvino_precision)
    _check_not_temporary(path)
    kind, target, record = _resolve(path, model_format)
    if kind == export_formats.SAVED_MODEL:
        run, input_type = _load_saved_model(target)
    elif kind == export_formats.FROZEN_GRAPH:
        run, input_type = _load_frozen_graph(target)
    else:
        run, input_type = _load_portable(kind, target, record, openvino_precision), IMAGE_TENSOR
    logger.info("loaded the %s %s (%s input)", kind.replace("_", " "), target, input_type)
    return ExportedModel(run, input_type, target, kind)


# ------------------------------------------------------------------------------ detecting


@dataclasses.dataclass
class FolderReport:
    """What ``detect_folder`` did: images processed, detections found, files skipped (with
    the reason), images that could not be read (with the error) and image entries that are
    symbolic links (``image_files.Link``; read like the others)."""

    processed: list[str] = dataclasses.field(default_factory=list)
    detections: int = 0
    skipped: list[tuple[str, str]] = dataclasses.field(default_factory=list)
    unreadable: list[tuple[str, str]] = dataclasses.field(default_factory=list)
    links: list[image_files.Link] = dataclasses.field(default_factory=list)

    def summary(self) -> str:
        return (f"{len(self.processed)} images, {self.detections} detections, "
                f"{len(self.skipped)} other files skipped, {len(self.unreadable)} unreadable")


class ExportedModel:
    """A loaded exported model (see ``load_model``). ``input_type``: what it takes;
    ``path``: what was loaded; ``kind``: its format, one of ``export_formats.FORMATS``."""

    def __init__(self, run: Runner, input_type: str, path: Path, kind: str) -> None:
        self._run = run
        self.input_type = input_type
        self.path = path
        self.kind = kind

    def run(self, images: Sequence[np.ndarray]) -> dict[str, np.ndarray]:
        """The model's raw batched outputs (``DetectionResultFields``, masks box-relative) for
        uint8 [H, W, 3] images (of one size, unless the model takes encoded strings)."""
        images = [check_image(image) for image in images]
        if not images:
            raise ValueError("no images to run the model on")
        return self._run(images)

    def detect_batch(self, images: Sequence[np.ndarray],
                     score_threshold: float | None = None) -> list[ImageDetections]:
        """``ImageDetections`` of each image, masks of its own size; with ``score_threshold``
        only the detections scoring above it."""
        outputs = self.run(images)
        result = []
        for index, image in enumerate(images):
            result.append(ImageDetections.from_model_output(
                outputs, index, image.shape[0], image.shape[1], score_threshold))
        return result

    def detect(self, image: np.ndarray | str | os.PathLike,
               score_threshold: float | None = None, *, tile_size: int = 0,
               tile_overlap: float = DEFAULT_TILE_OVERLAP, tile_full_pass: bool = True,
               tiles: TileOptions | None = None, show_progress: bool = False
               ) -> ImageDetections:
        """Detections of one uint8 [H, W, 3] RGB image or image file.

        With ``tile_size`` > 0 (pixels of the image) the image is run in tiles overlapping
        by ``tile_overlap`` (a fraction), plus the whole image when ``tile_full_pass``, and
        the detections merged (``tiled_detection.detect_tiled``); ``tiles`` gives every
        tiling option at once instead (merge method, batch size, ...). ``show_progress``:
        a progress bar over the tiles on stderr.
        """
        name = "tiles"
        if isinstance(image, (str, os.PathLike)):
            name = Path(image).name
            image = image_files.read_rgb(image)
        image = check_image(image)
        if tiles is None:
            tiles = TileOptions(tile_size, tile_overlap, tile_full_pass)
        if tiles.enabled:
            return tiled_detection.detect_tiled(self.run, image, tiles, score_threshold,
                                                description=name, show_progress=show_progress)
        return self.detect_batch([image], score_threshold)[0]

    def _batchable(self, batch: list[np.ndarray], image: np.ndarray) -> bool:
        strings = self.input_type in (ENCODED_IMAGE_STRING_TENSOR, TF_EXAMPLE)
        return not batch or strings or batch[0].shape == image.shape

    def detect_folder(self, folder: str | os.PathLike, batch_size: int = 1, *,
                      score_threshold: float | None = None,
                      report: FolderReport | None = None, tiles: TileOptions | None = None,
                      show_progress: bool = False
                      ) -> Iterator[tuple[Path, np.ndarray, ImageDetections]]:
        """Yields ``(path, image uint8 [H, W, 3], detections)`` for each image file of
        ``folder`` in name order.

        Images go to the model ``batch_size`` at a time (for tensor inputs, consecutive images
        of one size). With ``tiles`` (enabled), each image is run on its own, in tiles
        (``detect``; ``batch_size`` is then ignored: ``tiles.batch_size`` tiles go to the model
        at a time), with a progress bar over its tiles when ``show_progress``. Other files and
        sub-folders are skipped and unreadable images reported,
        each with a logged warning, and recorded in ``report`` when given, as are images that
        are symbolic links (a warning for those leading outside ``folder``). FileNotFoundError
        when the folder is missing, ValueError when it holds no image files.
        """
        if batch_size < 1:
            raise ValueError(f"batch_size must be >= 1, got {batch_size}")
        report = report if report is not None else FolderReport()
        listing = image_files.list_folder(folder)
        for path in listing.other_files:
            reason = (f"not an image file (image files end in "
                      f"{', '.join(image_files.IMAGE_EXTENSIONS)})")
            if atomic_files.is_temporary(path.name):
                reason = "a temporary file left by an interrupted write"
            logger.warning("skipping %s: %s", path, reason)
            report.skipped.append((os.fspath(path), reason))
        for path in listing.folders:
            logger.warning("skipping %s: a folder (sub-folders are not searched)", path)
            report.skipped.append((os.fspath(path), "a folder"))
        if not listing.images:
            raise ValueError(f"{folder}: no image files (looked for "
                             f"{', '.join(image_files.IMAGE_EXTENSIONS)})")
        for link in listing.links:
            if link.outside:
                logger.warning("%s: reading an image from outside %s", link.describe(), folder)
        report.links += listing.links
        total = len(listing.images)
        batch: list[tuple[Path, np.ndarray]] = []
        for path in listing.images:
            try:
                image = image_files.read_rgb(path)
            except (ValueError, OSError) as error:
                logger.warning("skipping %s", error)
                report.unreadable.append((os.fspath(path), str(error)))
                continue
            if tiles is not None and tiles.enabled:
                detections = tiled_detection.detect_tiled(
                    self.run, image, tiles, score_threshold, description=path.name,
                    show_progress=show_progress)
                yield self._report(path, image, detections, report, total)
                continue
            if len(batch) == batch_size or not self._batchable([b[1] for b in batch], image):
                yield from self._finish(batch, score_threshold, report, total)
                batch = []
            batch.append((path, image))
        yield from self._finish(batch, score_threshold, report, total)
        logger.info("%s: %s", folder, report.summary())

    def _finish(self, batch: list[tuple[Path, np.ndarray]], score_threshold: float | None,
                report: FolderReport, total: int
                ) -> Iterator[tuple[Path, np.ndarray, ImageDetections]]:
        if not batch:
            return
        results = self.detect_batch([image for _, image in batch], score_threshold)
        for (path, image), detections in zip(batch, results):
            yield self._report(path, image, detections, report, total)

    @staticmethod
    def _report(path: Path, image: np.ndarray, detections: ImageDetections,
                report: FolderReport, total: int
                ) -> tuple[Path, np.ndarray, ImageDetections]:
        report.processed.append(os.fspath(path))
        report.detections += len(detections)
        logger.info("[%d/%d] %s: %d detections", len(report.processed), total, path.name,
                    len(detections))
        return path, image, detections
