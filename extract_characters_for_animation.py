#!/usr/bin/env python
"""Cuts the figures found by an exported model out of every map of a folder, for animation.

For every image of --images, writes a folder --output_dir/<map name>/ in the published layout:
extracted_map.png (the map with its figures painted white), config.json (numberOfCharacters,
width, height) and for every figure (score above --score_threshold) char0/, char1/, ... with
image.png (the figure inside its mask on a transparent background, padded to a square),
padding.json ([x, y] of the figure in the square) and topLeftCorner.json ([left, top] of the
figure on the map). Maps whose names differ only in extension or case get distinct folders.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys

from object_detection import cli
from object_detection.apps import folder_runs

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")  # keep TensorFlow's start-up chatter out


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog="Example: python extract_characters_for_animation.py --model models/quickstart "
               "--images maps --output_dir characters")
    folder_runs.add_model_argument(parser)
    folder_runs.add_images_argument(parser)
    parser.add_argument("--output_dir", required=True, metavar="DIR",
                        help="where to write one folder per map (nothing is written anywhere "
                             "else)")
    folder_runs.add_threshold_arguments(
        parser, score_help="cut out the detections scoring above this (default 0.3)")
    cli.add_debug_flag(parser)
    return parser


@cli.error_exit
def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    problem = folder_runs.check_run_options(args.score_threshold, args.mask_threshold,
                                            args.batch_size)
    if problem:
        return folder_runs.fail(problem)
    from object_detection.export import inference
    from object_detection.apps import extract_folder
    logging.getLogger("tensorflow").setLevel(logging.ERROR)
    folder_runs.check_separate_folders(args.output_dir, args.images)
    extract_folder.check_image_folder(args.images)
    model = inference.load_model(args.model)
    summary = extract_folder.extract_folder_for_animation(
        model, args.images, args.output_dir, score_threshold=args.score_threshold,
        mask_threshold=args.mask_threshold, batch_size=args.batch_size, progress=print)
    print("\n".join(summary.lines()))
    if not summary.maps:
        return folder_runs.fail(f"{args.images}: no map could be read (see the skipped files "
                                "above)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
