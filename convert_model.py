#!/usr/bin/env python
"""Exports trained runs for inference: SavedModel, frozen graph, pipeline config, checkpoint.

For a run folder (--model_dir, as train_and_eval.py writes it) or every run of an experiment
grid (--experiment), writes into --output_dir (with a grid: --output_dir/<run name>/):
saved_model/ (signature serving_default: input_tensor -> num_detections, detection_boxes,
detection_scores, detection_classes, detection_masks), frozen_inference_graph.pb (the TF1 OD
API names image_tensor:0 -> detection_boxes:0, ...), pipeline.config and checkpoint/ (the
model's weights only), and last export.json (every file with its size, the checkpoint and its
step). Both models resize raw images as in training, so they take images of any size; boxes
are normalized to the input image and masks are box-relative, as the OD API's.

An export is written into a hidden temporary folder beside its output folder and renamed into
place when complete: interrupted or failed, it leaves no output folder, or the previous export
as it was. An output folder that holds anything but an earlier export is refused.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
from pathlib import Path

from object_detection import cli, errors

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")  # keep TensorFlow's start-up chatter out

INPUT_TYPES = ("image_tensor", "encoded_image_string_tensor", "tf_example", "float_image_tensor")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog="Examples: python convert_model.py --model_dir "
               "runs/quickstart/1st_run_synthetic_stride8_0.125_0.25_0.5_1.0 --output_dir "
               "models/quickstart | python convert_model.py --experiment "
               "configs/experiments/paper.config --output_dir models/paper")
    what = parser.add_mutually_exclusive_group(required=True)
    what.add_argument("--model_dir", metavar="RUN",
                      help="run folder to export (holds pipeline.config, ckpt-STEP.*, best/)")
    what.add_argument("--experiment", metavar="PATH",
                      help="experiment grid whose runs to export, each into "
                           "OUTPUT_DIR/<run name>/")
    parser.add_argument("--output_dir", required=True, metavar="DIR",
                        help="where to write (nothing is written anywhere else)")
    parser.add_argument("--checkpoint", metavar="best|latest|STEP",
                        help="which checkpoint: best (best/), latest, or a step number "
                             "(default: best when the run has one, else latest)")
    parser.add_argument("--input_type", default="image_tensor", choices=INPUT_TYPES,
                        help="input of the SavedModel: uint8 images, encoded image strings, "
                             "serialized tf.Examples or float32 images (default image_tensor; "
                             "the frozen graph always takes image_tensor)")
    parser.add_argument("--pipeline_config", metavar="PATH",
                        help="with --model_dir: the pipeline config to build the model from "
                             "(default RUN/pipeline.config)")
    parser.add_argument("--runs_dir", metavar="DIR",
                        help="with --experiment: the folder holding the run folders "
                             "(default: the grid's output_dir)")
    parser.add_argument("--only", action="append", default=[], metavar="PATTERN",
                        help="with --experiment: export only the runs whose name contains "
                             "PATTERN (or matches it as a glob); repeatable")
    cli.add_debug_flag(parser)
    return parser


def _check_args(args: argparse.Namespace) -> str | None:
    if args.checkpoint is not None and args.checkpoint not in ("best", "latest") \
            and not (args.checkpoint.isascii() and args.checkpoint.isdigit()):
        return f"--checkpoint must be best, latest or a step number, got {args.checkpoint!r}"
    if args.experiment and args.pipeline_config:
        return "--pipeline_config goes with --model_dir (a grid's runs have their own)"
    if args.model_dir and (args.runs_dir or args.only):
        return "--runs_dir and --only go with --experiment"
    return None


def _grid_runs(args: argparse.Namespace) -> list[tuple[str, Path, Path]]:
    """(name, run folder, output folder) of each selected run of the grid."""
    from object_detection.training import experiment as experiment_lib
    quoted = '"' + (args.runs_dir or "").replace("\\", "\\\\").replace('"', '\\"') + '"'
    overrides = [f"output_dir={quoted}"] if args.runs_dir else []
    experiment = experiment_lib.load_experiment(args.experiment, overrides)
    runs = experiment_lib.select(experiment_lib.expand(experiment), args.only)
    return [(run.name, run.run_dir, Path(args.output_dir) / run.name) for run in runs]


def _export(run_dir: Path, output_dir: Path, args: argparse.Namespace) -> None:
    from object_detection.export.exporter import export_run
    files, chosen = export_run(run_dir, output_dir, args.checkpoint, args.input_type,
                               args.pipeline_config)
    print(f"{run_dir}: exported {chosen.describe()}")
    for path in files.paths():
        print(f"wrote {path}")


@cli.error_exit
def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    problem = _check_args(args)
    if problem:
        print(f"error: {problem}", file=sys.stderr)
        return 1
    import tensorflow as tf
    tf.get_logger().setLevel(logging.ERROR)
    if args.model_dir:
        _export(Path(args.model_dir), Path(args.output_dir), args)
        return 0
    runs = _grid_runs(args)
    print(f"{args.experiment}: {len(runs)} run(s) into {args.output_dir}")
    failed = []
    for index, (name, run_dir, output_dir) in enumerate(runs, start=1):
        print(f"[{index}/{len(runs)}] {name}", flush=True)
        try:
            _export(run_dir, output_dir, args)
        except errors.expected_errors() as error:  # report the run, go on with the next
            print(f"error: {errors.describe(error)}", file=sys.stderr)
            failed.append(name)
    if failed:
        print(f"error: {len(failed)} of {len(runs)} runs not exported: {', '.join(failed)}",
              file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
