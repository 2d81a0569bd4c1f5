"""The COCO metric names, as the TF Object Detection API reports them.

Each name is a prefix (``DetectionBoxes_`` or ``DetectionMasks_``) and one of the twelve
``COCOeval.stats`` entries, in pycocotools' order, e.g. ``DetectionMasks_Precision/mAP@.50IOU``.
"""

from __future__ import annotations

BOXES = "DetectionBoxes_"
MASKS = "DetectionMasks_"

# The 12 entries of pycocotools' COCOeval.stats, in that order.
STATS = (
    "Precision/mAP",
    "Precision/mAP@.50IOU",
    "Precision/mAP@.75IOU",
    "Precision/mAP (small)",
    "Precision/mAP (medium)",
    "Precision/mAP (large)",
    "Recall/AR@1",
    "Recall/AR@10",
    "Recall/AR@100",
    "Recall/AR@100 (small)",
    "Recall/AR@100 (medium)",
    "Recall/AR@100 (large)",
)

# The precision entries that the experiments compare (the paper's table).
PRECISION = STATS[:6]

# What picks the best evaluation of a run by default (the paper's choice).
BEST_METRIC = MASKS + "Precision/mAP@.50IOU"


# Short labels for tables and the training log: "box mAP", "mask @.50", "box S", ...
PREFIX_LABELS = {BOXES: "box ", MASKS: "mask "}
STAT_LABELS = {"Precision/mAP": "mAP", "Precision/mAP@.50IOU": "@.50",
               "Precision/mAP@.75IOU": "@.75", "Precision/mAP (small)": "S",
               "Precision/mAP (medium)": "M", "Precision/mAP (large)": "L"}


def short_label(metric: str) -> str:
    """E.g. ``DetectionMasks_Precision/mAP@.50IOU`` -> ``mask @.50`` (other names unchanged)."""
    for prefix, label in PREFIX_LABELS.items():
        if metric.startswith(prefix):
            stat = metric[len(prefix):]
            return label + STAT_LABELS.get(stat, stat)
    return metric


def names(stats: tuple[str, ...], include_masks: bool = True) -> list[str]:
    """The box metrics of ``stats`` (entries of ``STATS``), then (optionally) the mask ones."""
    prefixes = (BOXES, MASKS) if include_masks else (BOXES,)
    return [prefix + stat for prefix in prefixes for stat in stats]


def metric_names(include_masks: bool = True) -> list[str]:
    """All box metric names, then (optionally) all mask metric names."""
    return names(STATS, include_masks)


def report_metrics() -> list[str]:
    """The precision metrics of boxes and masks that aggregation reports (12 names)."""
    return names(PRECISION)
