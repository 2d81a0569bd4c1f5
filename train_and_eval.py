#!/usr/bin/env python
"""Trains and evaluates Mask R-CNN on pictorial maps (the project's main job).

With no arguments it runs the quickstart: it generates synthetic pictorial maps and their
records under data/quickstart/ (once), then checks configs/quickstart.config against them.

This version prepares the data and the configuration only: the model, training and the COCO
evaluation land with the next milestones (see README, "Status").
"""

from __future__ import annotations

import argparse
import logging
import os
import sys

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")  # keep TensorFlow's start-up chatter out

from object_detection import config as config_lib
from object_detection.dataset_tools.synthetic_dataset import ensure_synthetic_dataset

DEFAULT_CONFIG = "configs/quickstart.config"
DEFAULT_DATA_DIR = "data/quickstart"


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--pipeline_config", default=DEFAULT_CONFIG,
                        help=f"pipeline config of the run (default {DEFAULT_CONFIG})")
    parser.add_argument("--override", action="append", default=[], metavar="KEY=VALUE",
                        help="change a config field, e.g. model.faster_rcnn.num_classes=1 "
                             "(repeatable)")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    try:
        if args.pipeline_config == DEFAULT_CONFIG:
            ensure_synthetic_dataset(DEFAULT_DATA_DIR)  # the paths the default config reads
        config = config_lib.load_pipeline_config(args.pipeline_config, args.override)
        config_lib.validate(config, for_training=True, for_eval=True)
    except (ValueError, FileNotFoundError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    print(f"data and config ready: {args.pipeline_config} reads "
          f"{list(config.train_input_reader.tf_record_input_reader.input_path)} for training.")
    print("training and evaluation are not part of this version yet (README, Status): stopping here.")
    return 0


if __name__ == "__main__":
    sys.exit(main())
