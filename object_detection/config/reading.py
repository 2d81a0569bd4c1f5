"""Reading pipeline config text (errors located and named) and writing it back."""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

from google.protobuf import message as pb_message
from google.protobuf import text_format

from object_detection import atomic_files
from object_detection.config.errors import translate_parse_error
from object_detection.config.overrides import apply_overrides
from object_detection.protos import pipeline_pb2


def load_pipeline_config(
    path: str | os.PathLike, overrides: Sequence[str] = ()
) -> pipeline_pb2.TrainEvalPipelineConfig:
    """Reads the text-format pipeline config at ``path``, then applies ``overrides``.

    Raises FileNotFoundError when ``path`` does not exist and ``ConfigError`` when the text does
    not parse (message ``FILE:LINE:COLUMN: problem``) or an override is wrong.
    """
    path = os.fspath(path)
    if not os.path.isfile(path):
        raise FileNotFoundError(f"pipeline config not found: {path}")
    with open(path, encoding="utf-8") as f:
        text = f.read()
    return parse_pipeline_config(text, source=path, overrides=overrides)


def parse_pipeline_config(
    text: str, *, source: str = "<text>", overrides: Sequence[str] = ()
) -> pipeline_pb2.TrainEvalPipelineConfig:
    """Parses pipeline config ``text``; ``source`` names it in error messages."""
    config = pipeline_pb2.TrainEvalPipelineConfig()
    parse_text(text, config, source=source)
    return apply_overrides(config, overrides) if overrides else config


def parse_text(text: str, message: pb_message.Message, *, source: str = "<text>") -> None:
    """Parses text format into ``message`` (cleared first), translating parse errors.

    Works for any message type; ``ConfigError`` carries ``source``, line, column and field path.
    """
    try:
        text_format.Parse(text, message)
    except text_format.ParseError as err:
        line, column = err.GetLine(), err.GetColumn()
        where = f"{source}:{line}:{column}" if line is not None else source
        raise translate_parse_error(err, text, message.DESCRIPTOR, where, file=source) from None


def config_to_text(config: pb_message.Message) -> str:
    """Text format of ``config``; ``parse_pipeline_config`` of it gives an equal message."""
    return text_format.MessageToString(config)


def write_pipeline_config(config: pb_message.Message, path: str | os.PathLike) -> Path:
    """Writes ``config`` as text format to ``path`` (parent folders created) atomically: a
    crash or a full disk leaves the old file or none, never a part; returns the path."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    return atomic_files.write_text(path, config_to_text(config))
