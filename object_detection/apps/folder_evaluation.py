"""Evaluating an exported model on a folder of maps: the detections drawn on every map, and with
COCO ground truth the detections as a COCO results file and the COCO box and mask metrics.

For every image of the folder ``output_dir/<map name>.png`` (``folder_runs.OutputNames``) shows
the detections scoring above ``score_threshold``: translucent masks (pixels above
``mask_threshold``), box outlines and "name: 87%" labels (``figures.drawing``).

With a ``CocoGroundTruthFile``, the images found in it (by file name) are scored with
``CocoEvaluator`` on every detection the model gives, whatever its score, as the OD API's COCO
evaluation does (a score threshold only lowers the average precision). ``detections.json``
holds those detections in the COCO results format (``image_id`` and ``category_id`` of the
ground-truth file, ``bbox`` in pixels, ``segmentation`` as compressed RLE, ``score``), and
``metrics.json`` the metrics under the OD API's names (``metric_names``). Note that
pycocotools' ``loadRes`` takes an entry's area from its bbox when it has one; the mask metrics
computed here use the masks' areas (for COCO's small / medium / large).
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from object_detection.evaluation import metric_names
from object_detection.evaluation.coco_evaluator import CocoEvaluator
from object_detection.evaluation.coco_groundtruth_file import CocoGroundTruthFile
from object_detection.core.detections import (DEFAULT_MASK_THRESHOLD, DEFAULT_SCORE_THRESHOLD,
                                                 ImageDetections)
from object_detection.core.tiling import TileOptions
from object_detection.apps.drawing import draw_detections
from object_detection.apps.extract_folder import check_image_folder
from object_detection.apps.folder_runs import OutputNames, RunSummary, check_separate_folders
from object_detection.apps.outputs import OutputFolder

if TYPE_CHECKING:
    from object_detection.export.inference import ExportedModel

DETECTIONS_JSON = "detections.json"
METRICS_JSON = "metrics.json"

Progress = Callable[[str], None]


def _quiet(line: str) -> None:
    del line


@dataclasses.dataclass
class FolderEvaluation:
    """What ``evaluate_folder`` did.

    Attributes:
      summary: maps processed (drawn), detections drawn, files written, files skipped.
      metrics: the COCO metrics by name, or None without ground truth.
      results_json, metrics_json: the files written with ground truth, else None.
      evaluated: the image files scored against the ground truth.
      not_evaluated: ``(path, reason)`` of images drawn but not scored (not in the ground
        truth, or of another size than it declares).
      missing_images: ground-truth file names without an image in the folder.
      skipped_detections: the evaluator's skips by reason (e.g. a class not among the
        ground truth's categories).
    """

    summary: RunSummary
    metrics: dict[str, float] | None = None
    results_json: str | None = None
    metrics_json: str | None = None
    evaluated: list[str] = dataclasses.field(default_factory=list)
    not_evaluated: list[tuple[str, str]] = dataclasses.field(default_factory=list)
    missing_images: list[str] = dataclasses.field(default_factory=list)
    skipped_detections: dict[str, int] = dataclasses.field(default_factory=dict)

    def lines(self) -> list[str]:
        """The summary to print (the metrics are printed apart, ``metric_lines``)."""
        lines = self.summary.lines()
        if self.metrics is None and not self.not_evaluated:
            return lines
        lines.append(f"{len(self.evaluated)} image(s) evaluated against the ground truth")
        lines += [f"  not evaluated: {path}: {reason}" for path, reason in self.not_evaluated]
        if self.missing_images:
            lines.append(f"{len(self.missing_images)} ground-truth image(s) not in the folder "
                         f"(not evaluated): {', '.join(self.missing_images)}")
        for reason, count in sorted(self.skipped_detections.items()):
            lines.append(f"{count} detection(s) not evaluated: {reason.replace('_', ' ')}")
        return lines


def metric_lines(metrics: Mapping[str, float]) -> list[str]:
    """``"DetectionBoxes_Precision/mAP: 0.4321"`` per metric, boxes then masks (-1: not
    defined, e.g. no ground truth of that size)."""
    return [f"{name}: {metrics[name]:.4f}" for name in metric_names.metric_names()
            if name in metrics]


def check_inputs(images_dir: str | os.PathLike, output_dir: str | os.PathLike,
                 ground_truth: CocoGroundTruthFile | None = None) -> list[str]:
    """Checks what can be checked before loading a model: the folder has images, it is not the
    output folder, and with ground truth at least one image is in it (ValueError /
    FileNotFoundError naming the folder). Returns the image file names."""
    check_separate_folders(output_dir, images_dir)
    listing = check_image_folder(images_dir)
    if ground_truth is not None and not any(p.name in ground_truth for p in listing.images):
        raise ValueError(f"{ground_truth.path}: none of the images of {images_dir} is in the "
                         f"ground truth (image file names must match its 'file_name's)")
    return [path.name for path in listing.images]


def evaluate_folder(model: ExportedModel, images_dir: str | os.PathLike,
                    output_dir: str | os.PathLike, category_names: Mapping[int, str], *,
                    ground_truth: CocoGroundTruthFile | None = None,
                    score_threshold: float = DEFAULT_SCORE_THRESHOLD,
                    mask_threshold: float = DEFAULT_MASK_THRESHOLD, batch_size: int = 1,
                    progress: Progress = _quiet,
                    tiles: TileOptions | None = None) -> FolderEvaluation:
    """Draws the detections of every image of ``images_dir`` into ``output_dir`` and, with
    ``ground_truth``, writes and scores them (see the module docstring).

    Args:
      model: the exported model (``inference.load_model``).
      images_dir: the maps; other files and unreadable images are skipped and reported.
      output_dir: where everything is written (nothing is written elsewhere).
      category_names: class id -> name for the labels.
      ground_truth: COCO ground truth of (some of) the images, matched by file name.
      score_threshold: detections above it are drawn.
      mask_threshold: mask probabilities above it are drawn and scored as the figure.
      batch_size: images per model call.
      progress: gets one line per map.
      tiles: run each map in tiles (``core.tiling.TileOptions``), with a progress bar over
        them; the COCO metrics then see the merged detections scoring above
        ``tiled_detection.TILE_MIN_SCORE``.
    """
    from object_detection.export.inference import FolderReport  # TensorFlow, as the model

    image_names = set(check_inputs(images_dir, output_dir, ground_truth))
    out = OutputFolder(os.fspath(output_dir))
    result = FolderEvaluation(RunSummary(out.root, figure_verb="drawn",
                                         input_dir=os.fspath(images_dir)))
    evaluator = None
    if ground_truth is not None:
        evaluator = CocoEvaluator(ground_truth.categories, mask_threshold)
    with_masks = ground_truth is not None and ground_truth.has_masks
    names, report = OutputNames(), FolderReport()
    for path, image, detections in model.detect_folder(images_dir, batch_size, report=report,
                                                       tiles=tiles, show_progress=True):
        shown = detections.filter(score_threshold)
        drawn = out.write_image(names.name_for(path) + ".png",
                                draw_detections(image, shown, category_names,
                                                mask_threshold=mask_threshold))
        result.summary.maps.append(os.fspath(path))
        result.summary.detections += len(shown)
        result.summary.figures += len(shown)
        result.summary.files.append(drawn)
        progress(f"{path.name}: {len(shown)} detection(s) drawn -> {drawn}")
        if evaluator is not None and _add_image(result, evaluator, ground_truth, path, image,
                                                detections):
            with_masks = with_masks and detections.masks is not None
    result.summary.add_folder_report(report)
    if evaluator is not None:
        result.missing_images = [n for n in ground_truth.file_names() if n not in image_names]
        if evaluator.num_images:
            _score(result, evaluator, out, with_masks)
    return result


def _add_image(result: FolderEvaluation, evaluator: CocoEvaluator,
               ground_truth: CocoGroundTruthFile, path: Path, image: np.ndarray,
               detections: ImageDetections) -> bool:
    """Adds one image's ground truth and every detection to ``evaluator``; records it as not
    evaluated (and returns False) when it is not in the ground truth or of another size."""
    if path.name not in ground_truth:
        result.not_evaluated.append((os.fspath(path), "not in the ground truth"))
        return False
    try:
        image_id = ground_truth.add_to(evaluator, path.name, *image.shape[:2])
    except ValueError as error:
        result.not_evaluated.append((os.fspath(path), str(error)))
        return False
    evaluator.add_image_detections(image_id, detections)
    result.evaluated.append(os.fspath(path))
    return True


def _score(result: FolderEvaluation, evaluator: CocoEvaluator, out: OutputFolder,
           with_masks: bool) -> None:
    """Fills in the metrics and writes the results and metrics files."""
    result.metrics = evaluator.evaluate(include_masks=with_masks)
    result.skipped_detections = dict(evaluator.skipped)
    result.results_json = evaluator.write_results_json(out.path(DETECTIONS_JSON), "both")
    out.written.append(result.results_json)
    result.metrics_json = out.write_json(METRICS_JSON, result.metrics)
    result.summary.files += [result.results_json, result.metrics_json]
