"""Inference speed and agreement of one export in each runtime: TensorFlow, ONNX Runtime,
OpenVINO float32 and bfloat16, TFLite.

What is timed. ``inference.load_model(EXPORT, format[, openvino_precision])`` for each of
``saved_model`` (TensorFlow's SavedModel signature), ``onnx`` (ONNX Runtime, CPU provider),
``openvino`` f32 and ``openvino`` bf16 (OpenVINO's CPU plugin with that
``INFERENCE_PRECISION_HINT``), ``tflite`` (``tf.lite.Interpreter``, one thread per core;
models with a fixed-size resizer only); formats missing from the export, or whose extra is not
installed, are skipped with a note. Each model's ``run([image])`` (the exported graph on one
uint8 image: resizing, both stages, NMS, masks; what ``detect`` calls) is called once on the
first image to warm up, then on every image ``--rounds`` times; the median seconds per image
is reported (batch 1, the images' own size). Load time (reading and compiling) is printed too.
``--bfloat16_model EXPORT2`` (an export of the same checkpoint with ``--precision bfloat16``)
adds TensorFlow's mixed-bfloat16 SavedModel, to compare with OpenVINO's bf16.

Each runtime runs in a child process of its own (this script again), so that one runtime's
threads, memory and libraries do not touch the next one's timing (TF's and OpenVINO's oneDNN
in one process crashed once here).

Agreement. On each image, each runtime's raw outputs are compared with TensorFlow's: the most
a box coordinate or score differs (rows in output order; NMS can reorder rows whose scores
are near-equal, which then shows as a large difference) and the number of detections scoring
above 0.5. With ``--ground_truth`` (a COCO file of the ``--images`` maps) each runtime is also
scored with ``evaluation.py``'s code (``folder_evaluation.evaluate_folder``, every detection):
box and mask mAP@.50 (the project's headline metric).

Images. ``--images DIR``: the first ``--count`` maps of the folder in name order. Or
``--size HxW``: ``--count`` images of uniform noise (seed 0), for an export with benchmark
weights, whose detections do not need real maps.

``--write_benchmark_export CONFIG`` first writes EXPORT: the model of CONFIG with the
benchmark weights of ``benchmarks/model_speed.py`` (O(1) activations through ResNet-101; every
variable set from its TF1 name), second-stage post-processing keeping ``--detections`` (30) a
map at score threshold 0 (``model_speed.detection_overrides``), exported in every format it
takes (tflite only with a fixed-size resizer)
(and, with ``--bfloat16_model``, its SavedModel in mixed bfloat16 there).

A machine probe (``model_speed.machine_probe``: a float32 3 x 3 convolution, GFLOP/s) is
timed before and after, in the same process.

  python benchmarks/runtime_speed.py --model exported/quickstart_all \\
      --images data/quickstart/eval/images --ground_truth data/quickstart/records/eval_coco_gt.json
  python benchmarks/runtime_speed.py --model /tmp/published_export --size 800x1365 --count 3 \\
      --write_benchmark_export configs/mask_rcnn_resnet101_atrous_pictorial_maps.config
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "benchmarks"))

import numpy as np  # noqa: E402

import model_speed  # noqa: E402
from object_detection import config as config_lib  # noqa: E402
from object_detection.export import export_formats, image_files, inference  # noqa: E402

RUNTIMES = (  # (label, format, OpenVINO inference precision)
    ("TensorFlow (SavedModel)", export_formats.SAVED_MODEL, None),
    ("ONNX Runtime", export_formats.ONNX, None),
    ("OpenVINO f32", export_formats.OPENVINO, "f32"),
    ("OpenVINO bf16", export_formats.OPENVINO, "bf16"),
    ("TFLite (tf.lite.Interpreter)", export_formats.TFLITE, None),
)
ALL_FORMATS = ",".join(export_formats.FORMATS)


def write_benchmark_export(config_path: str, output_dir: str, detections: int,
                           bfloat16_dir: str | None = None) -> None:
    """The model of ``config_path`` with the benchmark weights, exported in every format (and
    as a mixed-bfloat16 SavedModel into ``bfloat16_dir``)."""
    from object_detection.builders import model_builder
    from object_detection.export import exporter
    from object_detection.training import checkpoints as ckpt_lib

    pipeline = config_lib.load_pipeline_config(config_path,
                                               model_speed.detection_overrides(detections))
    model = model_builder.build(pipeline.model, is_training=False)
    model_speed.assign_benchmark_weights(model, (64, 64))
    with tempfile.TemporaryDirectory() as folder:
        prefix = ckpt_lib.make_checkpoint(model).save(os.path.join(folder, "ckpt"))
        formats = [f for f in export_formats.FORMATS if f != export_formats.TFLITE
                   or pipeline.model.faster_rcnn.image_resizer.HasField("fixed_shape_resizer")]
        exporter.export_model(pipeline, prefix, output_dir, formats=formats)
        if bfloat16_dir:
            exporter.export_model(pipeline, prefix, bfloat16_dir, precision="bfloat16",
                                  formats=[export_formats.SAVED_MODEL])
    print(f"wrote the benchmark export of {config_path} to {output_dir}")


def read_images(args) -> tuple[list[np.ndarray], list[str]]:
    if args.images:
        listing = image_files.list_folder(args.images)
        paths = listing.images[:args.count]
        if not paths:
            raise SystemExit(f"error: no images in {args.images}")
        return [image_files.read_rgb(p) for p in paths], [p.name for p in paths]
    height, width = model_speed.parse_size(args.size)
    rng = np.random.default_rng(0)
    images = [rng.integers(0, 256, [height, width, 3], dtype=np.uint8)
              for _ in range(args.count)]
    return images, [f"noise_{i}" for i in range(args.count)]


def time_runtime(model, images: list[np.ndarray], rounds: int) -> tuple[float, list[dict]]:
    """(median seconds per image, each image's outputs)."""
    model.run([images[0]])
    seconds, outputs = [], []
    for image in images:
        for _ in range(rounds):
            start = time.perf_counter()
            result = model.run([image])
            seconds.append(time.perf_counter() - start)
        outputs.append(result)
    return float(np.median(seconds)), outputs


def agreement(outputs: list[dict], reference: list[dict]) -> dict[str, float]:
    boxes = max(float(np.abs(o["detection_boxes"] - r["detection_boxes"]).max())
                for o, r in zip(outputs, reference))
    scores = max(float(np.abs(o["detection_scores"] - r["detection_scores"]).max())
                 for o, r in zip(outputs, reference))
    above = float(np.mean([(o["detection_scores"] > 0.5).sum() for o in outputs]))
    return {"max_box_difference": boxes, "max_score_difference": scores,
            "detections_above_0.5": above}


def coco_scores(model, args) -> dict[str, float]:
    from object_detection.apps.folder_evaluation import evaluate_folder
    from object_detection.evaluation.coco_groundtruth_file import CocoGroundTruthFile

    ground_truth = CocoGroundTruthFile(args.ground_truth)
    names = {c["id"]: c["name"] for c in ground_truth.categories}
    with tempfile.TemporaryDirectory() as out:
        result = evaluate_folder(model, args.images, Path(out) / "eval", names,
                                 ground_truth=ground_truth)
    metrics = result.metrics
    return {"box_mAP@.50": 100 * metrics["DetectionBoxes_Precision/mAP@.50IOU"],
            "mask_mAP@.50": 100 * metrics.get("DetectionMasks_Precision/mAP@.50IOU", float("nan"))}


def _runtimes(args) -> list[tuple[str, str, str, str | None]]:
    """(label, export, format, OpenVINO precision) of each runtime to time."""
    runtimes = [(label, args.model, fmt, precision) for label, fmt, precision in RUNTIMES]
    if args.bfloat16_model:
        runtimes.insert(1, ("TensorFlow bfloat16 (SavedModel)", args.bfloat16_model,
                            export_formats.SAVED_MODEL, None))
    return runtimes


def run_one(runtime, images: list[np.ndarray], args) -> int:
    """In a child process: time one runtime; its row into ``--row_out``.json and its outputs
    into ``--row_out``.npz. Exit code 3 when it is skipped (reason printed)."""
    label, path, model_format, precision = runtime
    start = time.perf_counter()
    try:
        model = inference.load_model(path, model_format, precision)
    except ValueError as error:
        print(f"{label}: skipped ({error})")
        return 3
    load = time.perf_counter() - start
    seconds, outputs = time_runtime(model, images, args.rounds)
    row = {"runtime": label, "seconds_per_image": seconds, "load_seconds": load}
    if args.ground_truth:
        row.update(coco_scores(model, args))
    np.savez(args.row_out + ".npz", **{f"{i}/{key}": value for i, result in enumerate(outputs)
                                       for key, value in result.items()})
    Path(args.row_out + ".json").write_text(json.dumps(row), encoding="utf-8")
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", required=True, metavar="EXPORT",
                        help="export folder (convert_model.py --format " + ALL_FORMATS + ")")
    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument("--images", metavar="DIR", help="maps to run on")
    source.add_argument("--size", metavar="HxW", help="noise images of this size")
    parser.add_argument("--bfloat16_model", metavar="EXPORT2",
                        help="an export of the same model with --precision bfloat16, timed too")
    parser.add_argument("--count", type=int, default=5, help="images (default 5)")
    parser.add_argument("--rounds", type=int, default=2, help="timed calls per image (2)")
    parser.add_argument("--ground_truth", metavar="JSON",
                        help="with --images: COCO ground truth, to score every runtime")
    parser.add_argument("--write_benchmark_export", metavar="CONFIG",
                        help="first export CONFIG's model with benchmark weights to --model")
    parser.add_argument("--detections", type=int, default=30,
                        help="with --write_benchmark_export: detections kept a map (30)")
    parser.add_argument("--json", metavar="PATH", help="write every figure here")
    parser.add_argument("--runtime", type=int, help=argparse.SUPPRESS)  # a child's runtime
    parser.add_argument("--row_out", help=argparse.SUPPRESS)  # where a child writes
    args = parser.parse_args(argv)
    if args.ground_truth and not args.images:
        parser.error("--ground_truth goes with --images")

    if args.write_benchmark_export and args.runtime is None:
        write_benchmark_export(args.write_benchmark_export, args.model, args.detections,
                               args.bfloat16_model)
    images, names = read_images(args)
    if args.runtime is not None:
        return run_one(_runtimes(args)[args.runtime], images, args)
    probe_before = model_speed.machine_probe()
    print(f"machine probe ({model_speed.probe_description()}): {probe_before:.0f} GFLOP/s; "
          f"{model_speed.device_description()}")
    print(f"{len(images)} image(s) of {images[0].shape[0]}x{images[0].shape[1]} px "
          f"(first: {names[0]}), batch 1, median of {args.rounds} call(s) per image")

    runtimes = _runtimes(args)
    rows, reference = [], None
    with tempfile.TemporaryDirectory() as folder:
        for index, (label, _, model_format, _) in enumerate(runtimes):
            reason = export_formats.missing_reason(model_format)
            if reason:
                print(f"{label}: skipped ({reason})")
                continue
            out = os.path.join(folder, str(index))
            child = subprocess.run([sys.executable, __file__, *(argv or sys.argv[1:]),
                                    "--runtime", str(index), "--row_out", out])
            if child.returncode == 3:  # skipped: the child said why
                continue
            if child.returncode != 0 or not os.path.exists(out + ".json"):
                print(f"{label}: failed (exit code {child.returncode})")
                continue
            row = json.loads(Path(out + ".json").read_text(encoding="utf-8"))
            with np.load(out + ".npz") as saved:
                outputs = [{key.split("/", 1)[1]: saved[key] for key in saved
                            if key.startswith(f"{i}/")} for i in range(len(images))]
            if reference is None:
                reference = outputs
            row.update(agreement(outputs, reference))
            rows.append(row)
            print(f"{label}: {row['seconds_per_image']:.3f} s/image (load "
                  f"{row['load_seconds']:.1f} s), max |d box| {row['max_box_difference']:.1e}, "
                  f"max |d score| {row['max_score_difference']:.1e}"
                  + (f", box mAP@.50 {row['box_mAP@.50']:.1f} %, mask mAP@.50 "
                     f"{row['mask_mAP@.50']:.1f} %" if args.ground_truth else ""), flush=True)
    probe_after = model_speed.machine_probe()
    print(f"machine probe after: {probe_after:.0f} GFLOP/s")

    base = rows[0]["seconds_per_image"] if rows else float("nan")
    print("\n| runtime | s / image | vs TensorFlow | max box diff | max score diff |"
          + (" box mAP@.50 | mask mAP@.50 |" if args.ground_truth else ""))
    print("|---|---|---|---|---|" + ("---|---|" if args.ground_truth else ""))
    for row in rows:
        line = (f"| {row['runtime']} | {row['seconds_per_image']:.3f} | "
                f"{base / row['seconds_per_image']:.2f}x | {row['max_box_difference']:.1e} | "
                f"{row['max_score_difference']:.1e} |")
        if args.ground_truth:
            line += f" {row['box_mAP@.50']:.1f} % | {row['mask_mAP@.50']:.1f} % |"
        print(line)
    if args.json:
        Path(args.json).write_text(json.dumps({
            "model": args.model, "images": names, "size": list(images[0].shape[:2]),
            "rounds": args.rounds, "probe_gflops": [probe_before, probe_after],
            "probe": model_speed.probe_description(), "rows": rows}, indent=2) + "\n",
            encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
