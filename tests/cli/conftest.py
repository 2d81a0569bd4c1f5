"""Shared fixtures of the command-line tests: one tiny exported model for the session, folders
of tiny maps with awkward names, a SavedModel of the wrong kind, a snapshot of files, and the
check of a one-line error.

The model is tests/export's tiny run (configs/quickstart.config at 64 x 64, 5 detections, random
weights spread so that scores lie around 0.15..0.3 and masks are not empty), exported with
``exporter.export_run`` once per session.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest
import tensorflow as tf
from PIL import Image

from object_detection import cli
from object_detection.export import exporter, inference
from tests.export.conftest import make_run_folder, sample_image, tiny_pipeline

# Two maps whose names have a space, a non-ASCII letter and a '#', in two formats.
MAP_ONE = "map one.png"
MAP_TWO = "Zürich #2.jpg"
NOTES = "notes.txt"
DEBUG_HINT = f"(run again with {cli.DEBUG_FLAG} for the traceback)"


def error_line(err: str) -> str:
    """The ``error: ...`` line of a command's stderr, checked to be its only line but for
    ``cli.error_exit``'s hint on ``--debug``."""
    lines = err.splitlines()
    assert lines and lines[0].startswith("error: "), err
    assert lines[1:] in ([], [DEBUG_HINT]), err
    return lines[0]


@pytest.fixture(scope="session")
def exported_model(tmp_path_factory) -> Path:
    """The export folder of the tiny model (saved_model/, frozen_inference_graph.pb, ...)."""
    run_dir = tmp_path_factory.mktemp("cli_run")
    make_run_folder(run_dir, tiny_pipeline())
    out = tmp_path_factory.mktemp("cli_model")
    exporter.export_run(run_dir, out)
    return out


@pytest.fixture(scope="session")
def model(exported_model) -> inference.ExportedModel:
    """The tiny model loaded in the test process (to compute what the commands should write)."""
    return inference.load_model(exported_model)


class _Other(tf.Module):
    """A SavedModel that is not a detector: one signature with other inputs and outputs."""

    @tf.function(input_signature=[tf.TensorSpec([None], tf.float32)])
    def double(self, x):
        return {"y": 2.0 * x}


@pytest.fixture(scope="session")
def wrong_model(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("wrong") / "not a detector"
    module = _Other()
    tf.saved_model.save(module, os.fspath(path),
                        signatures={"serving_default": module.double.get_concrete_function()})
    return path


def write_maps(folder: Path) -> dict[str, Path]:
    """Writes MAP_ONE (80 x 100 PNG), MAP_TWO (64 x 90 JPEG) and a text file into ``folder``;
    returns {name: path}."""
    folder.mkdir(parents=True, exist_ok=True)
    paths = {name: folder / name for name in (MAP_ONE, MAP_TWO, NOTES)}
    Image.fromarray(sample_image(0, 80, 100)).save(paths[MAP_ONE])
    Image.fromarray(sample_image(1, 64, 90)).save(paths[MAP_TWO], quality=95)
    paths[NOTES].write_text("not a map\n", encoding="utf-8")
    return paths


def read_rgb(path: Path) -> np.ndarray:
    with Image.open(path) as image:
        return np.asarray(image.convert("RGB"))


def tree(*roots: Path, skip: Path | None = None) -> dict[str, tuple[int, int]]:
    """Every file under ``roots`` (but not under ``skip``) with its size and mtime."""
    files = {}
    for root in roots:
        for folder, _, names in os.walk(root):
            if skip is not None and Path(folder).is_relative_to(skip):
                continue
            for name in names:
                stat = os.stat(os.path.join(folder, name))
                files[os.path.join(folder, name)] = (stat.st_size, stat.st_mtime_ns)
    return files
