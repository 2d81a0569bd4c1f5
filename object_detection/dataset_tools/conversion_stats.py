"""Counts of what a dataset conversion read, wrote and skipped, and the one way to skip.

Every reader and writer of ``object_detection.dataset_tools`` counts into one
``ConversionStats``; a skipped image or instance goes through ``skip``, which either logs a
warning and counts the reason, or (strict conversions) raises ``ValueError`` naming the file.
"""

from __future__ import annotations

import collections
import dataclasses
import logging

_LOG = logging.getLogger(__name__)


@dataclasses.dataclass
class ConversionStats:
    """What one conversion did.

    Attributes:
      images_read / instances_read: found in the source (instances before any skip).
      images_written / instances_written: stored in the output records.
      images_skipped / instances_skipped: left out, each with a reason counted in
        ``skip_reasons`` (reason -> count, instances and images together).
      box_only_images: images written without instance masks (no segmentation in the source).
      outputs: the files written.
      strict: when True, ``skip`` raises instead of skipping.
    """

    images_read: int = 0
    instances_read: int = 0
    images_written: int = 0
    instances_written: int = 0
    images_skipped: int = 0
    instances_skipped: int = 0
    box_only_images: int = 0
    skip_reasons: collections.Counter = dataclasses.field(default_factory=collections.Counter)
    outputs: list[str] = dataclasses.field(default_factory=list)
    strict: bool = False

    def summary(self) -> str:
        """One human-readable paragraph: read, written, skipped and why."""
        lines = [
            f"images: read {self.images_read}, written {self.images_written}, "
            f"skipped {self.images_skipped}",
            f"instances: read {self.instances_read}, written {self.instances_written}, "
            f"skipped {self.instances_skipped}",
        ]
        if self.box_only_images:
            lines.append(f"images written without masks (box only): {self.box_only_images}")
        for reason, count in sorted(self.skip_reasons.items()):
            lines.append(f"  skipped ({reason}): {count}")
        for path in self.outputs:
            lines.append(f"wrote {path}")
        return "\n".join(lines)


def skip(stats: ConversionStats, path: str, reason: str, detail: str = "",
         what: str = "instance", logger: logging.Logger | None = None,
         requested: bool = False) -> None:
    """Skips one instance (``what='instance'``) or image (``what='image'``) of ``path``.

    ``reason`` is the short category counted in ``stats.skip_reasons``; ``detail`` says which
    one. Raises ValueError("path: detail: reason") instead when ``stats.strict``, unless the
    user asked for this skip (``requested``, e.g. difficult VOC objects), which is logged at
    INFO level and counted.
    """
    if what not in ("instance", "image"):
        raise ValueError(f"what must be 'instance' or 'image', got {what!r}")
    where = f"{path}: {detail}: " if detail else f"{path}: "
    if stats.strict and not requested:
        raise ValueError(f"{where}{reason} (strict conversion: not skipped)")
    (logger or _LOG).log(logging.INFO if requested else logging.WARNING,
                         "%sskipping %s: %s", where, what, reason)
    stats.skip_reasons[reason] += 1
    if what == "instance":
        stats.instances_skipped += 1
    else:
        stats.images_skipped += 1
