"""The completeness marker of an export folder: ``export.json``, written last.

``convert_model.py`` builds an export in a hidden temporary sibling folder and renames it into
place only when it is complete (``atomic_files.atomic_directory``); the last file it writes
there is ``export.json``::

    {"format": "mask-rcnn-export", "version": 1, "checkpoint": "runs/x/best/ckpt-1500",
     "step": 1500, "input_type": "image_tensor", "precision": "float32",
     "formats": ["saved_model", "frozen_graph", "onnx", "openvino", "tflite"],
     "openvino_inference_precision": "f32", "time": "2026-12-01T09:19:32+00:00",
     "files": {"saved_model/saved_model.pb": 123456, "frozen_inference_graph.pb": ..., ...}}

``formats`` lists the model formats written (``export_formats``; records without it are
exports of saved_model and frozen_graph); ``openvino_inference_precision`` is there with an
OpenVINO IR.

``files`` maps every other file of the export (relative ``/`` path) to its size in bytes.
``check_export`` refuses a folder without the marker, with a marker that does not parse, or
whose listed files are missing or of another size, in one sentence naming the folder.
"""

from __future__ import annotations

import datetime
import json
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from object_detection import atomic_files
from object_detection.export.export_formats import DEFAULT_FORMATS
from object_detection.training.run_settings import PIPELINE_CONFIG_NAME

# The names of an export folder's parts: their one home (the modules writing them import them).
SAVED_MODEL_DIR = "saved_model"
FROZEN_GRAPH_NAME = "frozen_inference_graph.pb"
ONNX_NAME = "model.onnx"
OPENVINO_DIR = "openvino"            # openvino/model.xml + model.bin
TFLITE_NAME = "model.tflite"
CHECKPOINT_DIR = "checkpoint"        # the model checkpoint, checkpoint/ckpt-0
MARKER = "export.json"
FORMAT = "mask-rcnn-export"
VERSION = 1
# The parts of an export folder (a folder holding only these may be replaced by an export);
# pipeline.config has the name it has in a run folder (training.run_settings).
_MODEL_PARTS = (SAVED_MODEL_DIR, FROZEN_GRAPH_NAME, ONNX_NAME, OPENVINO_DIR, TFLITE_NAME,
                MARKER)  # not in a run folder
PARTS = (*_MODEL_PARTS, PIPELINE_CONFIG_NAME, CHECKPOINT_DIR)
_NAMED = 3  # missing files named in a message; the rest counted


def list_files(folder: str | os.PathLike) -> dict[str, int]:
    """Every file under ``folder`` but the marker: ``{relative "/" path: size}``, sorted."""
    folder = Path(folder)
    files = {}
    for path in sorted(folder.rglob("*")):
        if path.is_file() and path != folder / MARKER:
            files[path.relative_to(folder).as_posix()] = path.stat().st_size
    return files


def write_record(folder: str | os.PathLike, checkpoint: str, step: int | None,
                 input_type: str, precision: str = "float32",
                 formats: Sequence[str] = DEFAULT_FORMATS,
                 openvino_precision: str | None = None) -> Path:
    """Writes ``folder/export.json`` listing the files now in ``folder``; returns its path.
    Call it last, once every part of the export is written. ``precision``: what the exported
    graphs compute in ("float32", or "bfloat16": mixed, float32 inputs and outputs);
    ``formats``: the model formats written; ``openvino_precision``: the inference precision
    to compile an OpenVINO IR with."""
    folder = Path(folder)
    record = {
        "format": FORMAT, "version": VERSION, "checkpoint": os.fspath(checkpoint),
        "step": step, "input_type": input_type, "precision": precision,
        "formats": list(formats),
        **({"openvino_inference_precision": openvino_precision} if openvino_precision else {}),
        "time": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "files": list_files(folder),
    }
    return atomic_files.write_json(folder / MARKER, record, indent=2)


def _incomplete(folder: Path, what: str) -> ValueError:
    return ValueError(f"{folder} is an incomplete export ({what}) — export again")


def read_record(folder: str | os.PathLike) -> dict[str, Any]:
    """The parsed ``export.json`` of ``folder``; ValueError naming the folder when it is
    missing or not an export record (nothing else is checked)."""
    folder = Path(folder)
    path = folder / MARKER
    if not path.is_file():
        raise ValueError(f"{folder} is an incomplete export (no {MARKER}: was convert_model.py "
                         f"interrupted?) — export again, or give its {SAVED_MODEL_DIR}/ or "
                         f"{FROZEN_GRAPH_NAME} to load that alone")
    try:
        record = json.loads(path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as error:
        raise _incomplete(folder, f"{MARKER} does not parse: {error}") from None
    files = record.get("files") if isinstance(record, dict) else None
    if (not isinstance(record, dict) or record.get("format") != FORMAT
            or not isinstance(files, dict) or not files
            or not all(isinstance(size, int) for size in files.values())):
        raise _incomplete(folder, f"{MARKER} is not an export record of convert_model.py")
    return record


def _problems(folder: Path, files: Mapping[str, int]) -> list[str]:
    problems = []
    for relative, size in files.items():
        path = folder / relative
        if ".." in Path(relative).parts or Path(relative).is_absolute():
            problems.append(f"{relative} (not inside the export)")
        elif not path.is_file():
            problems.append(f"{relative} missing")
        elif path.stat().st_size != size:
            problems.append(f"{relative} has {path.stat().st_size} bytes, not {size}")
    return problems


def check_export(folder: str | os.PathLike) -> dict[str, Any]:
    """The record of a complete export folder; ValueError naming the folder and what is
    missing otherwise (no marker, a marker that does not parse, a listed file missing or of
    another size)."""
    folder = Path(folder)
    record = read_record(folder)
    problems = _problems(folder, record["files"])
    if problems:
        named = ", ".join(problems[:_NAMED])
        more = f" and {len(problems) - _NAMED} more" if len(problems) > _NAMED else ""
        raise _incomplete(folder, f"{named}{more}")
    return record


def looks_like_export(folder: str | os.PathLike) -> bool:
    """Whether ``folder`` holds a part of an export that a run folder does not have (a model
    or the marker)."""
    folder = Path(folder)
    return any((folder / name).exists() for name in _MODEL_PARTS)


def check_replaceable(folder: str | os.PathLike) -> None:
    """ValueError when ``folder`` exists and holds anything but the parts of an export, or is
    not a folder: an export replaces its whole output folder."""
    folder = Path(folder)
    if not folder.exists():
        return
    if not folder.is_dir():
        raise ValueError(f"{folder}: the output folder exists and is not a folder")
    others = sorted(entry.name for entry in folder.iterdir() if entry.name not in PARTS)
    if others:
        shown = ", ".join(others[:_NAMED]) + (f" and {len(others) - _NAMED} more"
                                               if len(others) > _NAMED else "")
        raise ValueError(f"{folder}: the output folder holds other files than an export "
                         f"({shown}); an export replaces the whole folder, so give a new or "
                         "empty folder, or an earlier export")
