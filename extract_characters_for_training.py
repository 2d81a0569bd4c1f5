#!/usr/bin/env python
"""Cuts the figures found by an exported model out of the maps of a figure folder, as training
data for other networks (body-part segmentation, pose estimation).

--data is a figure folder (images/, masks/, keypoints/; see
object_detection/dataset_tools/figure_folder.py). Each detection scoring above
--score_threshold is matched to the ground-truth figure its mask overlaps most; for every
matched detection, numbered N = 0, 1, ... across all maps (in name order), --output_dir gets
images_with_background/N.jpg (the box's crop of the map), images_with_some_background/N.jpg
(the same, white outside the detected mask), masks/N.png (the matched figure's body-part
labels in the crop, 255 elsewhere) and keypoints/N.json (its keypoints moved into the crop,
those outside dropped). Detections that overlap no figure are counted and not written.
"""

from __future__ import annotations

import argparse
import os
import sys

from object_detection import cli
from object_detection.cli import folder_commands
from object_detection.core.detections import DEFAULT_SCORE_THRESHOLD

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")  # keep TensorFlow's start-up chatter out

IMAGE_FORMATS = ("jpg", "png")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog="Example: python extract_characters_for_training.py --model models/quickstart "
               "--data data/synthetic/test --output_dir training_figures")
    cli.add_model_argument(parser)
    parser.add_argument("--data", required=True, metavar="DIR",
                        help="figure folder with the maps and their ground truth (images/, "
                             "masks/, optional keypoints/)")
    parser.add_argument("--output_dir", required=True, metavar="DIR",
                        help="where to write the four sub-folders (nothing is written "
                             "anywhere else; files of the same number are replaced)")
    cli.add_threshold_arguments(
        parser, score_help="use the detections scoring above this (default "
                           f"{DEFAULT_SCORE_THRESHOLD})",
        batch_size=False)
    parser.add_argument("--image_format", choices=IMAGE_FORMATS, default="jpg",
                        help="format of the two image crops (default jpg, as published; the "
                             "body-part masks are always png)")
    cli.add_tile_arguments(parser)
    cli.add_debug_flag(parser)
    return parser


@cli.error_exit
def main(argv: list[str] | None = None) -> int:
    return folder_commands.extract_for_training(build_parser().parse_args(argv))


if __name__ == "__main__":
    sys.exit(main())
