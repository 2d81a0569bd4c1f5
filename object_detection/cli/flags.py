"""The flags the command lines share, with their help text and their checks.

* ``add_debug_flag``: ``--debug``, the traceback of an error as well as its one-line message
  (``exits.error_exit`` reads it);
* ``add_model_argument``, ``add_images_argument``, ``add_threshold_arguments``,
  ``add_tile_arguments``, ``check_run_options`` and ``tile_options``: the flags of the
  commands that apply an exported model to a folder of maps (``evaluation.py``,
  ``extract_characters_for_*.py``); the thresholds default to
  ``core.detections.DEFAULT_SCORE_THRESHOLD`` and ``DEFAULT_MASK_THRESHOLD``, the tiling to
  off (``core.tiling.TileOptions``).
"""

from __future__ import annotations

import argparse

from object_detection.cli.exits import DEBUG_FLAG
from object_detection.core import tiling
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


def add_tile_arguments(parser: argparse.ArgumentParser) -> None:
    """``--tile_size`` (0: off), ``--tile_overlap``, ``--tile_full_pass`` and the merging
    flags ``--tile_merge``, ``--tile_match_metric``, ``--tile_match_threshold``
    (``core.tiling.TileOptions``; read back with ``tile_options``)."""
    group = parser.add_argument_group(
        "tiled inference", "run large maps in overlapping tiles (SAHI's sliced inference) and "
        "merge the detections across tiles")
    group.add_argument("--tile_size", type=int, default=0, metavar="PIXELS",
                       help="tile side in pixels of the original map; 0 (default) runs the "
                            "whole map, resized by the model")
    group.add_argument("--tile_overlap", type=float, default=tiling.DEFAULT_TILE_OVERLAP,
                       metavar="FRACTION",
                       help=f"fraction of a tile shared with its neighbour (default "
                            f"{tiling.DEFAULT_TILE_OVERLAP})")
    group.add_argument("--tile_full_pass", action=argparse.BooleanOptionalAction, default=True,
                       help="when tiling, also run the whole map resized and merge its "
                            "detections (default: on)")
    group.add_argument("--tile_merge", choices=tiling.MERGE_METHODS,
                       default=tiling.DEFAULT_MERGE_METHOD,
                       help="how detections of overlapping tiles are combined (SAHI's "
                            f"post-processing; default {tiling.DEFAULT_MERGE_METHOD})")
    group.add_argument("--tile_match_metric", choices=tiling.MATCH_METRICS,
                       default=tiling.DEFAULT_MATCH_METRIC,
                       help="box overlap measure for matching (default "
                            f"{tiling.DEFAULT_MATCH_METRIC}: intersection over the smaller box)")
    group.add_argument("--tile_match_threshold", type=float,
                       default=tiling.DEFAULT_MATCH_THRESHOLD, metavar="FRACTION",
                       help="boxes overlapping at least this much are merged (default "
                            f"{tiling.DEFAULT_MATCH_THRESHOLD})")


def tile_flags_problem(tile_size: int, tile_overlap: float) -> str | None:
    """The one-sentence problem with ``--tile_size`` / ``--tile_overlap``, or None (shared by
    the folder commands and ``create_mask_tf_record.py``)."""
    if tile_size < 0:
        return f"--tile_size must be 0 (off) or a positive number of pixels, got {tile_size}"
    if not 0.0 <= tile_overlap < 1.0:
        return f"--tile_overlap must be at least 0 and below 1, got {tile_overlap}"
    return None


def tile_options(args: argparse.Namespace) -> tiling.TileOptions:
    """The ``TileOptions`` of parsed ``add_tile_arguments`` flags (``--batch_size`` tiles per
    model call where the command has it); ValueError naming the flag for a bad value."""
    problem = tile_flags_problem(args.tile_size, args.tile_overlap)
    if problem:
        raise ValueError(problem)
    if not 0.0 <= args.tile_match_threshold <= 1.0:
        raise ValueError(f"--tile_match_threshold must be between 0 and 1, got "
                         f"{args.tile_match_threshold}")
    return tiling.TileOptions(args.tile_size, args.tile_overlap, args.tile_full_pass,
                              args.tile_merge, args.tile_match_metric, args.tile_match_threshold,
                              batch_size=max(1, getattr(args, "batch_size", 1)))


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
