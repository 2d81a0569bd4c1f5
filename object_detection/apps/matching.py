"""Matching detections to the ground-truth figures of a map by mask overlap.

As the published ``extract_characters_for_training.py``: each detection goes to the figure
whose mask shares the most pixels with its mask (ties: the lowest figure index), or to none
when it overlaps no figure. It is not a one-to-one assignment: two detections of the same
figure (e.g. a whole figure and its upper half) both match it, and a figure may match nothing.
The published script took a figure's mask from its body-part labels; here it is the instance
channel (``FigureMap.instances == k``), the same pixels in a consistent figure folder.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

NO_MATCH = -1


def overlap_counts(mask_crops: Sequence[np.ndarray], pixel_boxes: np.ndarray,
                   instances: np.ndarray, num_figures: int) -> np.ndarray:
    """int64 [K, num_figures]: pixels that detection k's bool mask crop (over its pixel box
    ``(left, top, right, bottom)`` of ``pixel_boxes`` [K, 4]) shares with figure j + 1 of the
    instance map ``instances`` [H, W] (0 background, 1..num_figures figures)."""
    counts = np.zeros((len(mask_crops), num_figures), np.int64)
    height, width = instances.shape
    for k, (mask, (left, top, right, bottom)) in enumerate(zip(mask_crops, pixel_boxes)):
        if right > width or bottom > height or mask.shape != (bottom - top, right - left):
            raise ValueError(f"matching: detection mask {k} of {mask.shape} at box "
                             f"{[int(left), int(top), int(right), int(bottom)]} does not fit the "
                             f"instance map of {instances.shape} (height, width)")
        labels = instances[top:bottom, left:right].astype(np.int64)
        per_label = np.bincount(labels[mask], minlength=num_figures + 1)
        counts[k] = per_label[1:num_figures + 1]
    return counts


def match_by_largest_overlap(mask_crops: Sequence[np.ndarray], pixel_boxes: np.ndarray,
                             instances: np.ndarray, num_figures: int) -> np.ndarray:
    """int64 [K]: the 0-based figure index each detection matches (largest pixel overlap,
    lowest index on ties), or ``NO_MATCH`` (-1) where it overlaps no figure."""
    counts = overlap_counts(mask_crops, pixel_boxes, instances, num_figures)
    if num_figures == 0:
        return np.full(len(mask_crops), NO_MATCH, np.int64)
    best = np.argmax(counts, axis=1)  # argmax returns the first maximum: the lowest index
    return np.where(counts.max(axis=1) > 0, best, NO_MATCH).astype(np.int64)
