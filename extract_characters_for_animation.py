#!/usr/bin/env python
"""Cuts the figures found by an exported model out of every map of a folder, for animation.

For every image of --images, writes a folder --output_dir/<map name>/ in the published layout:
extracted_map.png (the map with its figures removed: painted white, as published, or with
--fill inpaint filled from their surroundings by OpenCV's Telea inpainting), config.json
(numberOfCharacters, width, height) and for every figure (score above --score_threshold)
char0/, char1/, ... with image.png (the figure inside its mask on a transparent background,
padded to a square), padding.json ([x, y] of the figure in the square) and topLeftCorner.json
([left, top] of the figure on the map). Maps whose names differ only in extension or case get
distinct folders.
"""

from __future__ import annotations

import argparse
import os
import sys

from object_detection import cli
from object_detection.cli import folder_commands
from object_detection.apps.map_fill import DEFAULT_FILL, FILLS
from object_detection.core.detections import DEFAULT_SCORE_THRESHOLD

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")  # keep TensorFlow's start-up chatter out


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog="Example: python extract_characters_for_animation.py --model models/quickstart "
               "--images maps --output_dir characters")
    cli.add_model_argument(parser)
    cli.add_images_argument(parser)
    parser.add_argument("--output_dir", required=True, metavar="DIR",
                        help="where to write one folder per map (nothing is written anywhere "
                             "else)")
    cli.add_threshold_arguments(
        parser, score_help="cut out the detections scoring above this (default "
                           f"{DEFAULT_SCORE_THRESHOLD})")
    parser.add_argument("--fill", choices=FILLS, default=DEFAULT_FILL,
                        help="how extracted_map.png fills the removed figures: white (default, "
                             "as published) or inpaint (each figure, grown by a few pixels, "
                             "filled from its surroundings)")
    cli.add_tile_arguments(parser)
    cli.add_debug_flag(parser)
    return parser


@cli.error_exit
def main(argv: list[str] | None = None) -> int:
    return folder_commands.extract_for_animation(build_parser().parse_args(argv))


if __name__ == "__main__":
    sys.exit(main())
