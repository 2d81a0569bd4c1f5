#!/usr/bin/env python
"""Converts an annotated dataset into sharded TFRecords for Mask R-CNN (and COCO ground truth).

Example:
  python create_mask_tf_record.py --input_type figure_folder --input data/train \
      --output_path data/records/train --num_shards 4 --coco_gt_json data/records/train_gt.json

A bad input stops with one line naming the file (and the annotation) and exit code 1; what a
user expects to be left out is skipped with a warning and counted in the summary (``--strict``
makes those errors too). The summary also names files read from outside the input folder and
images whose EXIF orientation was ignored. The outputs appear only when the whole conversion
has succeeded (an earlier output is otherwise left as it was).

With ``--tile_size N`` each map is cut into overlapping N x N tiles, one record each, with the
instances visible enough in them (training at the scale of tiled inference; see
``object_detection/dataset_tools/record_tiling.py``):
  python create_mask_tf_record.py --input_type figure_folder --input data/train \
      --output_path data/records/train_tiles --tile_size 512 --tile_overlap 0.2 --min_visible 0.5
"""

from __future__ import annotations

import argparse
import logging
import os
import sys

from object_detection import cli
from object_detection.cli.flags import tile_flags_problem

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")  # keep TensorFlow's start-up chatter out

from object_detection.core.tiling import DEFAULT_TILE_OVERLAP
from object_detection.dataset_tools.conversion import INPUT_TYPES, convert, make_source
from object_detection.dataset_tools.figure_folder_source import DEFAULT_CLASS_NAME
from object_detection.dataset_tools.record_tiling import (
    DEFAULT_MIN_VISIBLE,
    RecordTiling,
)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        description="Write sharded TFRecords (TF Object Detection API keys, PNG instance masks) "
                    "from a figure folder, COCO JSON, VIA JSON, Pascal VOC, CVAT XML, LabelMe or "
                    "Label Studio dataset.")
    parser.add_argument("--input_type", required=True, choices=INPUT_TYPES,
                        help="layout of --input: figure_folder (images/, masks/, keypoints/), "
                             "coco (instances JSON), via (VIA 1.x or 2.x JSON), voc (VOC root "
                             "with Annotations/, JPEGImages/, SegmentationObject/), cvat (CVAT "
                             "for images 1.1 annotations.xml), labelme (folder of LabelMe JSON "
                             "files), label_studio (Label Studio JSON export)")
    parser.add_argument("--input", required=True,
                        help="the figure folder, the COCO, VIA or Label Studio JSON file, the VOC "
                             "root folder, the CVAT XML file, or the LabelMe folder")
    parser.add_argument("--output_path", required=True,
                        help="record prefix: writes PREFIX-00000-of-0000N.tfrecord ...")
    parser.add_argument("--num_shards", type=int, default=1,
                        help="number of record files; image i goes to shard i %% N (default 1)")
    parser.add_argument("--label_map", default=None,
                        help="label map (.pbtxt) giving class ids by name; classes not in it are "
                             "skipped (default: the source's own classes)")
    parser.add_argument("--class_name", default=DEFAULT_CLASS_NAME,
                        help="class of every instance of a figure folder, and of VIA regions "
                             f"without --class_attribute (default {DEFAULT_CLASS_NAME!r})")
    parser.add_argument("--coco_gt_json", default=None,
                        help="also write the COCO ground truth of the written records here")
    parser.add_argument("--segmentation", choices=("rle", "polygon"), default="rle",
                        help="segmentation format of --coco_gt_json (default rle, exact)")
    parser.add_argument("--image_dir", default=None,
                        help="coco / via / cvat / label_studio: folder of the images (default: "
                             "the annotation file's folder; cvat: its images/ subfolder when "
                             "there is one)")
    parser.add_argument("--class_attribute", default=None,
                        help="via: region attribute that holds the class name (default: every "
                             "region is --class_name)")
    parser.add_argument("--image_set", default=None,
                        help="voc: ImageSets list to convert, e.g. 'train' (default: every XML)")
    parser.add_argument("--skip_difficult", action="store_true",
                        help="voc: leave out objects marked difficult (counted as skipped)")
    parser.add_argument("--strict", action="store_true",
                        help="turn every skip (empty instance, zero-size box, class not in the "
                             "label map, ...) into an error")
    parser.add_argument("--tile_size", type=int, default=0,
                        help="cut each map into tiles of this many pixels (of the original "
                             "map), one record each, as tiled inference sees it; 0 = whole "
                             "maps (default)")
    parser.add_argument("--tile_overlap", type=float, default=DEFAULT_TILE_OVERLAP,
                        help="fraction of a tile shared with its neighbour, at least 0 and "
                             f"below 1 (default {DEFAULT_TILE_OVERLAP})")
    parser.add_argument("--min_visible", type=float, default=DEFAULT_MIN_VISIBLE,
                        help="a tile keeps an instance cut by its border when at least this "
                             "fraction of its mask (box, without masks) is inside, above 0 "
                             f"and at most 1 (default {DEFAULT_MIN_VISIBLE})")
    parser.add_argument("--keep_empty_tiles", action="store_true",
                        help="also write tiles without instances (default: left out and "
                             "counted in the summary)")
    cli.add_debug_flag(parser)
    return parser


@cli.error_exit
def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(message)s")
    problem = tile_flags_problem(args.tile_size, args.tile_overlap)
    if problem:
        return cli.fail(problem)
    if not 0.0 < args.min_visible <= 1.0:
        return cli.fail(f"--min_visible must be above 0 and at most 1, got {args.min_visible}")
    tiling = RecordTiling(args.tile_size, args.tile_overlap, args.min_visible,
                          args.keep_empty_tiles)
    source = make_source(args.input_type, args.input, args.label_map, args.class_name,
                         args.strict, args.image_dir, args.class_attribute, args.image_set,
                         args.skip_difficult)
    stats = convert(source, args.output_path, args.num_shards, args.coco_gt_json,
                    args.segmentation, tiling)
    print(stats.summary())
    return 0


if __name__ == "__main__":
    sys.exit(main())
