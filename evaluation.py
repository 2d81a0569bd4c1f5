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
import logging
import os
import sys
from pathlib import Path

from object_detection import cli
from object_detection.apps import folder_runs

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")  # keep TensorFlow's start-up chatter out

DEFAULT_LABEL_MAP = Path(__file__).resolve().parent / "configs" / "pictorial_maps_label_map.pbtxt"


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog="Example: python evaluation.py --model models/quickstart --images maps "
               "--ground_truth maps/coco.json --output_dir evaluated")
    folder_runs.add_model_argument(parser)
    folder_runs.add_images_argument(parser)
    parser.add_argument("--output_dir", required=True, metavar="DIR",
                        help="where to write (nothing is written anywhere else)")
    parser.add_argument("--ground_truth", metavar="COCO_JSON",
                        help="COCO ground truth of the maps, matched by file name: also write "
                             "detections.json and print the COCO metrics")
    parser.add_argument("--label_map", default=str(DEFAULT_LABEL_MAP), metavar="PBTXT",
                        help="class names for the labels (default "
                             "configs/pictorial_maps_label_map.pbtxt)")
    folder_runs.add_threshold_arguments(
        parser, score_help="draw the detections scoring above this (default 0.3; the COCO "
                           "metrics use every detection, as the OD API's evaluation)")
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
    from object_detection import label_map
    from object_detection.apps import folder_evaluation
    from object_detection.evaluation.coco_groundtruth_file import CocoGroundTruthFile
    from object_detection.export import inference
    logging.getLogger("tensorflow").setLevel(logging.ERROR)
    categories = label_map.load_categories(args.label_map)
    ground_truth = CocoGroundTruthFile(args.ground_truth) if args.ground_truth else None
    folder_evaluation.check_inputs(args.images, args.output_dir, ground_truth)
    model = inference.load_model(args.model)
    result = folder_evaluation.evaluate_folder(
        model, args.images, args.output_dir, {c["id"]: c["display_name"] for c in categories},
        ground_truth=ground_truth, score_threshold=args.score_threshold,
        mask_threshold=args.mask_threshold, batch_size=args.batch_size, progress=print)
    print("\n".join(result.lines()))
    if not result.summary.maps:
        return folder_runs.fail(f"{args.images}: no map could be read (see the skipped files "
                                "above)")
    if ground_truth is not None:
        if result.metrics is None:
            return folder_runs.fail(f"{args.ground_truth}: no image could be evaluated (see "
                                    "above)")
        print("\n".join(folder_evaluation.metric_lines(result.metrics)))
        print(f"wrote {result.results_json}")
        print(f"wrote {result.metrics_json}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
