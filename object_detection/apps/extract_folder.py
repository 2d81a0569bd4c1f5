"""Cutting the figures out of every map of a folder with an exported model.

``extract_folder_for_animation``: for every image of a folder, its figures in the "for
animation" layout (``extraction.extract_for_animation``) in ``output_dir/<map name>/``
(``folder_runs.OutputNames``).

``extract_folder_for_training``: for every map of a figure folder
(``dataset_tools.figure_folder``), the detections that match a ground-truth figure in the "for
training" layout (``extraction.extract_for_training``), all in ``output_dir``, numbered on
from one map to the next.

Both score each detection against ``score_threshold`` (kept when above it) and each mask
pixel against ``mask_threshold``; both return a ``folder_runs.RunSummary`` in which every file
not processed appears with its reason. ``model`` is an ``export.inference.ExportedModel``.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from object_detection.dataset_tools import figure_folder
from object_detection.export import image_files
from object_detection.core.detections import DEFAULT_MASK_THRESHOLD, DEFAULT_SCORE_THRESHOLD
from object_detection.core.tiling import TileOptions
from object_detection.apps.extraction import extract_for_animation, extract_for_training
from object_detection.apps.map_fill import DEFAULT_FILL, check_fill
from object_detection.apps.folder_runs import OutputNames, RunSummary, check_separate_folders
from object_detection.apps.outputs import OutputFolder

if TYPE_CHECKING:
    from object_detection.export.inference import ExportedModel

logger = logging.getLogger(__name__)

Progress = Callable[[str], None]


def _quiet(line: str) -> None:
    del line


def check_image_folder(folder: str | os.PathLike) -> image_files.FolderListing:
    """The listing of an image folder; FileNotFoundError when it is missing, ValueError when
    it holds no image files (for checking inputs before a model is loaded)."""
    listing = image_files.list_folder(folder)
    if not listing.images:
        raise ValueError(f"{folder}: no image files (looked for "
                         f"{', '.join(image_files.IMAGE_EXTENSIONS)})")
    return listing


def extract_folder_for_animation(model: ExportedModel, images_dir: str | os.PathLike,
                                 output_dir: str | os.PathLike, *,
                                 score_threshold: float = DEFAULT_SCORE_THRESHOLD,
                                 mask_threshold: float = DEFAULT_MASK_THRESHOLD,
                                 batch_size: int = 1, progress: Progress = _quiet,
                                 tiles: TileOptions | None = None,
                                 fill: str = DEFAULT_FILL) -> RunSummary:
    """Writes ``output_dir/<map name>/`` (extracted_map.png, config.json, charN/) for every
    image of ``images_dir``; ``progress`` gets one line per map. With ``tiles`` (enabled) each
    map is run in tiles, with a progress bar over them. ``fill``: how extracted_map.png fills
    the removed figures ("white", as published, or "inpaint": ``apps.map_fill``).

    FileNotFoundError / ValueError (naming the folder) when ``images_dir`` is missing or holds
    no images, or when ``output_dir`` is ``images_dir``.
    """
    from object_detection.export.inference import FolderReport  # TensorFlow, as the model

    check_fill(fill)
    check_separate_folders(output_dir, images_dir)
    out = OutputFolder(os.fspath(output_dir))
    summary = RunSummary(out.root, input_dir=os.fspath(images_dir))
    names = OutputNames()
    report = FolderReport()
    for path, image, detections in model.detect_folder(
            images_dir, batch_size, score_threshold=score_threshold, report=report, tiles=tiles,
            show_progress=True):
        map_dir = out.path(names.name_for(path))
        extraction = extract_for_animation(image, detections, map_dir,
                                           mask_threshold=mask_threshold, fill=fill)
        summary.add_extraction(path, len(detections), extraction)
        progress(f"{path.name}: {extraction.figures} figure(s) -> {map_dir}")
    summary.add_folder_report(report)
    return summary


def list_figure_maps(data_dir: str | os.PathLike
                     ) -> tuple[list[tuple[str, str]], list[tuple[Path, str]]]:
    """``(stem, image file name)`` of every map of a figure folder, and ``(path, reason)`` of
    the entries of its ``images/`` that are not maps. FileNotFoundError without ``images/``,
    ValueError when it holds no maps."""
    data_dir = os.fspath(data_dir)
    maps = figure_folder.list_maps(data_dir)
    images_dir = Path(data_dir, figure_folder.IMAGES_DIR)
    map_names = {name for _, name in maps}
    others = []
    for entry in sorted(images_dir.iterdir(), key=lambda p: p.name):
        if entry.name not in map_names:
            what = "a folder" if entry.is_dir() else "not a map image"
            reason = (f"{what} (maps of a figure folder end in "
                      f"{', '.join(figure_folder.IMAGE_EXTENSIONS)})")
            others.append((entry, reason))
    if not maps:
        raise ValueError(f"{images_dir}: no map images (looked for "
                         f"{', '.join(figure_folder.IMAGE_EXTENSIONS)})")
    return maps, others


def extract_folder_for_training(model: ExportedModel, data_dir: str | os.PathLike,
                                output_dir: str | os.PathLike, *,
                                score_threshold: float = DEFAULT_SCORE_THRESHOLD,
                                mask_threshold: float = DEFAULT_MASK_THRESHOLD,
                                image_format: str = "jpg", progress: Progress = _quiet,
                                tiles: TileOptions | None = None) -> RunSummary:
    """Writes the training crops (images_with_background/, images_with_some_background/,
    masks/, keypoints/) of the figures detected on every map of the figure folder
    ``data_dir``, numbered from 0 across all maps; ``progress`` gets one line per map. With
    ``tiles`` (enabled) each map is run in tiles, with a progress bar over them.

    A map whose image, mask or keypoints cannot be read is skipped with the reason.
    FileNotFoundError / ValueError when ``data_dir`` is not a figure folder or has no maps, or
    when ``output_dir`` is ``data_dir``.
    """
    check_separate_folders(output_dir, data_dir)
    out = OutputFolder(os.fspath(output_dir))
    images_dir = os.path.join(os.fspath(data_dir), figure_folder.IMAGES_DIR)
    summary = RunSummary(out.root, input_dir=images_dir)
    maps, others = list_figure_maps(data_dir)
    for path, reason in others:
        summary.skip(path, reason)
    summary.links = image_files.image_links(images_dir,
                                            [Path(images_dir, name) for _, name in maps])
    for link in summary.links:
        if link.outside:
            logger.warning("%s: reading a map from outside %s", link.describe(), images_dir)
    next_index = 0
    for index, (stem, name) in enumerate(maps, start=1):
        path = os.path.join(images_dir, name)
        try:
            figure_map = figure_folder.read_map(os.fspath(data_dir), stem, name)
        except (ValueError, FileNotFoundError, OSError) as error:
            summary.skip(path, str(error))
            continue
        detections = model.detect(figure_map.image, score_threshold, tiles=tiles,
                                  show_progress=True)
        extraction = extract_for_training(figure_map.image, detections, figure_map, out.root,
                                          next_index, mask_threshold=mask_threshold,
                                          image_format=image_format)
        summary.add_extraction(path, len(detections), extraction)
        progress(f"[{index}/{len(maps)}] {name}: {extraction.figures} figure(s), files "
                 f"{next_index}..{extraction.next_index - 1}" if extraction.figures else
                 f"[{index}/{len(maps)}] {name}: no figure written")
        next_index = extraction.next_index
    return summary
