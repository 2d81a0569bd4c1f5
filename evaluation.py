#!/usr/bin/env python
"""Shows what an exported model finds on a folder of maps and, with ground truth, scores it.

For every image of --images, writes --output_dir/<map name>.png: the map with the detections
scoring above --score_threshold drawn on it (translucent masks, boxes, "name: 87%" labels).
With --ground_truth (a COCO instances JSON whose images' file_name are the names of the image
files), also writes --output_dir/detections.json (every detection of the images in the ground
truth, in the COCO results format: bbox in pixels, segmentation as compressed RLE) and
metrics.json, and prints the COCO box and mask metrics under the OD API's names
(DetectionBoxes_Precision/mAP, ..., DetectionMasks_Recall/AR@100 (large)). Images that are not
in the ground truth are drawn and reported, not scored.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from object_detection import cli
from object_detection.cli import folder_commands
from object_detection.core.detections import DEFAULT_SCORE_THRESHOLD

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")  # keep TensorFlow's start-up chatter out

DEFAULT_LABEL_MAP = Path(__file__).resolve().parent / "configs" / "pictorial_maps_label_map.pbtxt"


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog="Example: python evaluation.py --model models/quickstart --images maps "
               "--ground_truth maps/coco.json --output_dir evaluated")
    cli.add_model_argument(parser)
    cli.add_images_argument(parser)
    parser.add_argument("--output_dir", required=True, metavar="DIR",
                        help="where to write (nothing is written anywhere else)")
    parser.add_argument("--ground_truth", metavar="COCO_JSON",
                        help="COCO ground truth of the maps, matched by file name: also write "
                             "detections.json and print the COCO metrics")
    parser.add_argument("--label_map", default=str(DEFAULT_LABEL_MAP), metavar="PBTXT",
                        help="class names for the labels (default "
                             "configs/pictorial_maps_label_map.pbtxt)")
    cli.add_threshold_arguments(
        parser, score_help="draw the detections scoring above this (default "
                           f"{DEFAULT_SCORE_THRESHOLD}; the COCO metrics use every detection, "
                           "as the OD API's evaluation)")
    cli.add_tile_arguments(parser)
    cli.add_debug_flag(parser)
    return parser


@cli.error_exit
def main(argv: list[str] | None = None) -> int:
    return folder_commands.evaluate(build_parser().parse_args(argv))


if __name__ == "__main__":
    sys.exit(main())
