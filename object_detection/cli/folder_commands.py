"""The bodies of the commands that apply an exported model to a folder of maps.

``evaluation.py`` (``evaluate``), ``extract_characters_for_animation.py``
(``extract_for_animation``) and ``extract_characters_for_training.py``
(``extract_for_training``) run the same shape (``_folder_run``): check the thresholds (and the
batch size), check the inputs, load the model, run it over the folder, print the summary, and
fail when no map could be read. Each takes its script's parsed arguments (``--model``,
``--output_dir``, ``--score_threshold``, ``--mask_threshold``, ``--batch_size`` where the
script has it, the ``--tile_*`` flags, and its own) and returns the exit code. With
``--tile_size`` each map is run in tiles (``--batch_size`` of them per model call) with a
progress bar over its tiles on stderr.
"""

from __future__ import annotations

import argparse
import logging
from collections.abc import Callable
from typing import Any

from object_detection.apps import extract_folder, folder_evaluation, folder_runs
from object_detection.cli.exits import fail
from object_detection.cli.flags import check_run_options, tile_options


def _folder_run(args: argparse.Namespace, input_dir: str, prepare: Callable[[], Any],
                apply: Callable[[Any, Any], Any], batch_size: bool = True,
                summary_of: Callable[[Any], folder_runs.RunSummary] = lambda result: result,
                finish: Callable[[Any, Any], int] | None = None) -> int:
    """Checks the options, ``prepare()`` (checks and reads the inputs), loads ``--model``,
    ``apply(model, prepared)``, prints the result's lines; 1 when no map of ``input_dir`` could
    be read, else ``finish(result, prepared)`` (default 0)."""
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    problem = check_run_options(args.score_threshold, args.mask_threshold,
                                args.batch_size if batch_size else None)
    if problem:
        return fail(problem)
    args.tiles = tile_options(args)
    from object_detection.export import inference
    logging.getLogger("tensorflow").setLevel(logging.ERROR)
    prepared = prepare()
    model = inference.load_model(args.model)
    result = apply(model, prepared)
    print("\n".join(result.lines()))
    if not summary_of(result).maps:
        return fail(f"{input_dir}: no map could be read (see the skipped files above)")
    return finish(result, prepared) if finish is not None else 0


def extract_for_animation(args: argparse.Namespace) -> int:
    """``extract_characters_for_animation.py``: one folder per map of ``--images``."""
    def prepare() -> None:
        folder_runs.check_separate_folders(args.output_dir, args.images)
        extract_folder.check_image_folder(args.images)

    def apply(model, _):
        return extract_folder.extract_folder_for_animation(
            model, args.images, args.output_dir, score_threshold=args.score_threshold,
            mask_threshold=args.mask_threshold, batch_size=args.batch_size, progress=print,
            tiles=args.tiles, fill=args.fill)

    return _folder_run(args, args.images, prepare, apply)


def extract_for_training(args: argparse.Namespace) -> int:
    """``extract_characters_for_training.py``: the figures of the figure folder ``--data``
    matched to its ground truth, in ``--image_format``."""
    def prepare() -> None:
        folder_runs.check_separate_folders(args.output_dir, args.data)
        extract_folder.list_figure_maps(args.data)

    def apply(model, _):
        return extract_folder.extract_folder_for_training(
            model, args.data, args.output_dir, score_threshold=args.score_threshold,
            mask_threshold=args.mask_threshold, image_format=args.image_format, progress=print,
            tiles=args.tiles)

    return _folder_run(args, args.data, prepare, apply, batch_size=False)


def evaluate(args: argparse.Namespace) -> int:
    """``evaluation.py``: the maps of ``--images`` drawn with their detections (class names
    from ``--label_map``) and, with ``--ground_truth``, scored."""
    def prepare():
        from object_detection import label_map
        from object_detection.evaluation.coco_groundtruth_file import CocoGroundTruthFile
        categories = label_map.load_categories(args.label_map)
        ground_truth = CocoGroundTruthFile(args.ground_truth) if args.ground_truth else None
        folder_evaluation.check_inputs(args.images, args.output_dir, ground_truth)
        return {c["id"]: c["display_name"] for c in categories}, ground_truth

    def apply(model, prepared):
        names, ground_truth = prepared
        return folder_evaluation.evaluate_folder(
            model, args.images, args.output_dir, names, ground_truth=ground_truth,
            score_threshold=args.score_threshold, mask_threshold=args.mask_threshold,
            batch_size=args.batch_size, progress=print, tiles=args.tiles)

    def finish(result, prepared) -> int:
        if prepared[1] is None:
            return 0
        if result.metrics is None:
            return fail(f"{args.ground_truth}: no image could be evaluated (see above)")
        print("\n".join(folder_evaluation.metric_lines(result.metrics)))
        print(f"wrote {result.results_json}")
        print(f"wrote {result.metrics_json}")
        return 0

    return _folder_run(args, args.images, prepare, apply,
                       summary_of=lambda result: result.summary, finish=finish)
