"""Matching detections to the ground-truth figures of a map by mask overlap.

As the published ``extract_characters_for_training.py``: each detection goes to the figure
whose mask shares the most pixels with its mask (ties: the lowest figure index), or to none
when it overlaps no figure. It is not a one-to-one assignment: two detections of the same
figure (e.g. a whole figure and its upper half) both match it, and a figure may match nothing.
The published script took a figure's mask from its body-part labels; here it is the instance
channel (``FigureMap.instances == k``), the same pixels in a consistent figure folder.
"""

from __future__ import annotations

import numpy as np

NO_MATCH = -1


def overlap_counts(detection_masks: np.ndarray, instances: np.ndarray, num_figures: int) -> np.ndarray:
    """int64 [K, num_figures]: pixels that detection k's bool mask [K, H, W] shares with figure
    j + 1 of the instance map ``instances`` [H, W] (0 background, 1..num_figures figures)."""
    if detection_masks.shape[1:] != instances.shape:
        raise ValueError(f"matching: detection masks are {detection_masks.shape[1:]} but the "
                         f"instance map is {instances.shape} (height, width)")
    counts = np.zeros((len(detection_masks), num_figures), np.int64)
    labels = instances.astype(np.int64)
    for k, mask in enumerate(detection_masks):
        per_label = np.bincount(labels[mask], minlength=num_figures + 1)
        counts[k] = per_label[1:num_figures + 1]
    return counts


def match_by_largest_overlap(detection_masks: np.ndarray, instances: np.ndarray,
                             num_figures: int) -> np.ndarray:
    """int64 [K]: the 0-based figure index each detection matches (largest pixel overlap,
    lowest index on ties), or ``NO_MATCH`` (-1) where it overlaps no figure."""
    counts = overlap_counts(detection_masks, instances, num_figures)
    if num_figures == 0:
        return np.full(len(detection_masks), NO_MATCH, np.int64)
    best = np.argmax(counts, axis=1)  # argmax returns the first maximum: the lowest index
    return np.where(counts.max(axis=1) > 0, best, NO_MATCH).astype(np.int64)
