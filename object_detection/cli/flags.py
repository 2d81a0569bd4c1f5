"""The flags the command lines share, with their help text and their checks.

* ``add_debug_flag``: ``--debug``, the traceback of an error as well as its one-line message
  (``exits.error_exit`` reads it);
* ``add_model_argument``, ``add_images_argument``, ``add_threshold_arguments`` and
  ``check_run_options``: the flags of the commands that apply an exported model to a folder of
  maps (``evaluation.py``, ``extract_characters_for_*.py``); the thresholds default to
  ``core.detections.DEFAULT_SCORE_THRESHOLD`` and ``DEFAULT_MASK_THRESHOLD``.
"""

from __future__ import annotations

import argparse

from object_detection.cli.exits import DEBUG_FLAG
from object_detection.core.detections import DEFAULT_MASK_THRESHOLD, DEFAULT_SCORE_THRESHOLD

DEFAULT_BATCH_SIZE = 1


def add_debug_flag(parser: argparse.ArgumentParser) -> None:
    """Adds ``--debug``: show the traceback of an error as well as its one-line message."""
    parser.add_argument(DEBUG_FLAG, action="store_true",
                        help="on an error, also print the Python traceback")


def add_model_argument(parser: argparse.ArgumentParser) -> None:
    """``--model OUT``, the exported model to apply."""
    parser.add_argument("--model", required=True, metavar="OUT",
                        help="exported model: convert_model.py's output folder, a SavedModel "
                             "folder or a frozen_inference_graph.pb")


def add_images_argument(parser: argparse.ArgumentParser) -> None:
    """``--images DIR``, the folder of maps to go over."""
    parser.add_argument("--images", required=True, metavar="DIR",
                        help="folder of maps (.png, .jpg, ...; other files are reported and "
                             "skipped, sub-folders are not searched)")


def add_threshold_arguments(parser: argparse.ArgumentParser, score_help: str,
                            batch_size: bool = True) -> None:
    """``--score_threshold`` (default ``DEFAULT_SCORE_THRESHOLD``, described by
    ``score_help``), ``--mask_threshold`` (``DEFAULT_MASK_THRESHOLD``) and, with
    ``batch_size``, ``--batch_size`` (1); see ``check_run_options``."""
    parser.add_argument("--score_threshold", type=float, default=DEFAULT_SCORE_THRESHOLD,
                        help=score_help)
    parser.add_argument("--mask_threshold", type=float, default=DEFAULT_MASK_THRESHOLD,
                        help="mask probabilities above this belong to the figure (default "
                             f"{DEFAULT_MASK_THRESHOLD})")
    if batch_size:
        parser.add_argument("--batch_size", type=int, default=DEFAULT_BATCH_SIZE,
                            help=f"images per model call (default {DEFAULT_BATCH_SIZE})")


def check_run_options(score_threshold: float, mask_threshold: float,
                      batch_size: int | None = None) -> str | None:
    """The one-sentence problem with the thresholds / batch size of a folder run, or None."""
    if not 0.0 <= score_threshold <= 1.0:
        return f"--score_threshold must be between 0 and 1, got {score_threshold}"
    if not 0.0 <= mask_threshold < 1.0:
        return f"--mask_threshold must be at least 0 and below 1, got {mask_threshold}"
    if batch_size is not None and batch_size < 1:
        return f"--batch_size must be at least 1, got {batch_size}"
    return None
