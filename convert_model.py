#!/usr/bin/env python
"""Exports trained runs for inference: SavedModel, frozen graph, ONNX, OpenVINO IR, TFLite,
pipeline config, checkpoint.

For a run folder (--model_dir, as train_and_eval.py writes it) or every run of an experiment
grid (--experiment), writes into --output_dir (with a grid: --output_dir/<run name>/) the
models of --format: saved_model/ (signature serving_default: input_tensor -> num_detections,
detection_boxes, detection_scores, detection_classes, detection_masks),
frozen_inference_graph.pb (the TF1 OD API names image_tensor:0 -> detection_boxes:0, ...),
model.onnx (ONNX Runtime), openvino/model.xml + model.bin (OpenVINO IR; compile it with
INFERENCE_PRECISION_HINT f32) and model.tflite (TFLite builtin ops only, float32; run it with
tf.lite.Interpreter or LiteRT; only for a model with a fixed_shape_resizer, or a
keep_aspect_ratio_resizer with pad_to_max_dimension); then
pipeline.config and checkpoint/ (the model's weights only), and last export.json (every file
with its size, the checkpoint and its step). All models resize raw images as in training, so
they take images of any size; boxes are normalized to the input image and masks are
box-relative, as the OD API's.

An export is written into a hidden temporary folder beside its output folder and renamed into
place when complete: interrupted or failed, it leaves no output folder, or the previous export
as it was. An output folder that holds anything but an earlier export is refused.
"""

from __future__ import annotations

import argparse
import os
import sys

from object_detection import cli
from object_detection.cli import export_command
from object_detection.export import export_formats
from object_detection.export.input_types import IMAGE_TENSOR, INPUT_TYPES

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")  # keep TensorFlow's start-up chatter out


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
    parser.add_argument("--format", default=",".join(export_formats.DEFAULT_FORMATS),
                        metavar="LIST",
                        help="comma-separated models to write: "
                             f"{', '.join(export_formats.FORMATS)} (default "
                             f"{','.join(export_formats.DEFAULT_FORMATS)}; onnx needs "
                             "pip install -e \".[onnx]\", openvino "
                             "pip install -e \".[openvino]\"; tflite needs a "
                             "fixed_shape_resizer)")
    parser.add_argument("--input_type", default=IMAGE_TENSOR, choices=INPUT_TYPES,
                        help="input of the SavedModel: uint8 images, encoded image strings, "
                             "serialized tf.Examples or float32 images (default image_tensor; "
                             "the other formats always take image_tensor)")
    parser.add_argument("--precision", default="float32",
                        choices=export_command.PRECISION_CHOICES,
                        help="what the exported graphs compute in: float32, or bfloat16 (mixed: "
                             "convolutions and matrix products in bfloat16; inputs, outputs and "
                             "the checkpoint float32; fast on GPUs from Ampere on and CPUs with "
                             "AVX512_BF16 or AMX, a warning elsewhere). Default float32")
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


@cli.error_exit
def main(argv: list[str] | None = None) -> int:
    return export_command.convert(build_parser().parse_args(argv))


if __name__ == "__main__":
    sys.exit(main())
