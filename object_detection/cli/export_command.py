"""The body of ``convert_model.py``: export a run folder, or every selected run of a grid.

``convert(args)`` takes the script's parsed arguments (``--model_dir`` or ``--experiment``,
``--output_dir``, ``--format``, ``--checkpoint``, ``--input_type``, ``--precision``,
``--pipeline_config``,
``--runs_dir``, ``--only``) and returns the exit code. A grid's runs (``export.grid_exports``) are exported one
after the other; a run that fails is named and the next one exported, and the command ends
with exit code 1 naming the runs not exported.
"""

from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path

from object_detection import errors
from object_detection.cli.exits import fail
from object_detection.export import export_formats

CHECKPOINT_CHOICES = ("best", "latest")  # export.run_folder.BEST, LATEST; kept free of TensorFlow
PRECISION_CHOICES = ("float32", "bfloat16")  # core.precision.PRECISIONS, kept free of TensorFlow


def check_args(args: argparse.Namespace) -> str | None:
    """The one-sentence problem with the combination of flags, or None."""
    if args.checkpoint is not None and args.checkpoint not in CHECKPOINT_CHOICES \
            and not (args.checkpoint.isascii() and args.checkpoint.isdigit()):
        return f"--checkpoint must be best, latest or a step number, got {args.checkpoint!r}"
    if args.experiment and args.pipeline_config:
        return "--pipeline_config goes with --model_dir (a grid's runs have their own)"
    if args.model_dir and (args.runs_dir or args.only):
        return "--runs_dir and --only go with --experiment"
    try:
        export_formats.check_formats(args.format, args.precision)
    except ValueError as error:
        return str(error)
    return None


def _export(run_dir: Path, output_dir: Path, args: argparse.Namespace) -> None:
    from object_detection.export.exporter import export_run
    files, chosen = export_run(run_dir, output_dir, args.checkpoint, args.input_type,
                               args.pipeline_config, args.precision,
                               export_formats.parse_formats(args.format))
    print(f"{run_dir}: exported {chosen.describe()}")
    for path in files.paths():
        print(f"wrote {path}")


def convert(args: argparse.Namespace) -> int:
    """Exports ``--model_dir`` into ``--output_dir``, or each run of ``--experiment`` into
    ``--output_dir/<run name>``."""
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    problem = check_args(args)
    if problem:
        return fail(problem)
    import tensorflow as tf
    tf.get_logger().setLevel(logging.ERROR)
    if args.model_dir:
        _export(Path(args.model_dir), Path(args.output_dir), args)
        return 0
    from object_detection.export.grid_exports import grid_exports
    runs = grid_exports(args.experiment, args.output_dir, args.runs_dir, args.only)
    print(f"{args.experiment}: {len(runs)} run(s) into {args.output_dir}")
    failed = []
    for index, run in enumerate(runs, start=1):
        print(f"[{index}/{len(runs)}] {run.name}", flush=True)
        try:
            _export(run.run_dir, run.output_dir, args)
        except errors.expected_errors() as error:  # report the run, go on with the next
            print(f"error: {errors.describe(error)}", file=sys.stderr)
            failed.append(run.name)
    if failed:
        return fail(f"{len(failed)} of {len(runs)} runs not exported: {', '.join(failed)}")
    return 0
