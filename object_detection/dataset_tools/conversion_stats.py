"""Counts of what a dataset conversion read, wrote and skipped, and the one way to skip.

Every reader and writer of ``object_detection.dataset_tools`` counts into one
``ConversionStats``; a skipped image or instance goes through ``skip``, which either logs a
warning and counts the reason, or (strict conversions) raises ``ValueError`` naming the file.

Two things are announced in the summary without refusing anything: files read from outside the
input folder (``..`` or absolute names in an annotation file, symlinks out of the folder), and
images whose EXIF orientation was ignored.
"""

from __future__ import annotations

import collections
import dataclasses
import logging
import os

_LOG = logging.getLogger(__name__)

LISTED = 5  # names shown per announcement; the rest are counted ("and 3 more")


def _some(names: list[str]) -> str:
    shown = ", ".join(names[:LISTED])
    return shown + (f" and {len(names) - LISTED} more" if len(names) > LISTED else "")


def _under(path: str, root: str) -> bool:
    return path == root or path.startswith(root.rstrip(os.sep) + os.sep)


def outside_description(path: str, root: str, name: str | None = None) -> str | None:
    """How ``path`` (written ``name`` in an annotation file, if so) leaves the folder ``root``,
    or None when it resolves inside: the name as written when it climbs out (``..``, an
    absolute path), "NAME (symlink to TARGET)" when a symlink takes it out."""
    real = os.path.realpath(path)
    if _under(real, os.path.realpath(root)):
        return None
    shown = name if name is not None else os.path.relpath(path, root)
    lexical = os.path.normpath(os.path.abspath(path))
    if not _under(lexical, os.path.normpath(os.path.abspath(root))) and real == lexical:
        return shown
    return f"{shown} (symlink to {real})"


@dataclasses.dataclass
class ConversionStats:
    """What one conversion did.

    Attributes:
      images_read / instances_read: found in the source (instances before any skip).
      images_written / instances_written: stored in the output records.
      images_skipped / instances_skipped: left out, each with a reason counted in
        ``skip_reasons`` (reason -> count, instances and images together).
      box_only_images: images written without instance masks (no segmentation in the source).
      tiling: the tile options of a tiled conversion ("" when maps are not cut into tiles);
        tiles_cut: tiles cut from the maps read (each written one is an image written);
        empty_tiles_dropped: tiles without instances, left out; tile_pieces_dropped: parts of
        instances inside a tile but under the minimum visible fraction, left out of that tile
        (an instance that no tile keeps is a skipped instance).
      outputs: the files written.
      strict: when True, ``skip`` raises instead of skipping.
      outside_reads: input folder -> the files read from outside it (``note_read``).
      exif_ignored: images with an EXIF orientation other than 1 (``note_orientation``).
      notes: further lines for the summary (e.g. older shards beside the output).
    """

    images_read: int = 0
    instances_read: int = 0
    images_written: int = 0
    instances_written: int = 0
    images_skipped: int = 0
    instances_skipped: int = 0
    box_only_images: int = 0
    tiling: str = ""
    tiles_cut: int = 0
    empty_tiles_dropped: int = 0
    tile_pieces_dropped: int = 0
    skip_reasons: collections.Counter = dataclasses.field(default_factory=collections.Counter)
    outputs: list[str] = dataclasses.field(default_factory=list)
    strict: bool = False
    outside_reads: dict[str, list[str]] = dataclasses.field(default_factory=dict)
    exif_ignored: list[str] = dataclasses.field(default_factory=list)
    notes: list[str] = dataclasses.field(default_factory=list)

    def note_read(self, path: str, root: str, name: str | None = None) -> None:
        """Records ``path`` when it resolves outside the input folder ``root``; ``name`` is
        how the annotation file wrote it."""
        description = outside_description(path, root, name)
        if description is None:
            return
        reads = self.outside_reads.setdefault(root, [])
        if description not in reads:
            reads.append(description)
            _LOG.info("%s: read from outside %s", description, root)

    def note_orientation(self, name: str, orientation: int) -> None:
        """Records an image whose EXIF orientation (other than 1) is ignored."""
        if orientation != 1:
            self.exif_ignored.append(f"{name} (orientation {orientation})")

    def summary(self) -> str:
        """One human-readable paragraph: read, written, skipped and why."""
        lines = [
            f"images: read {self.images_read}, written {self.images_written}, "
            f"skipped {self.images_skipped}",
            f"instances: read {self.instances_read}, written {self.instances_written}, "
            f"skipped {self.instances_skipped}",
        ]
        if self.tiling:
            lines.append(f"tiles ({self.tiling}): cut {self.tiles_cut}, empty left out "
                         f"{self.empty_tiles_dropped}, instance parts under the minimum visible "
                         f"fraction left out {self.tile_pieces_dropped}")
        if self.box_only_images:
            lines.append(f"images written without masks (box only): {self.box_only_images}")
        for reason, count in sorted(self.skip_reasons.items()):
            lines.append(f"  skipped ({reason}): {count}")
        for root, reads in self.outside_reads.items():
            lines.append(f"{len(reads)} file{'s' if len(reads) != 1 else ''} read from outside "
                         f"{root}: {_some(reads)}")
        if self.exif_ignored:
            n = len(self.exif_ignored)
            lines.append(f"{n} image{'s' if n != 1 else ''} with an EXIF orientation, ignored "
                         "(pixels and annotations are taken as stored, as TensorFlow decodes "
                         f"them): {_some(self.exif_ignored)}")
        lines.extend(self.notes)
        for path in self.outputs:
            lines.append(f"wrote {path}")
        return "\n".join(lines)


# Skip reasons that several sources share (each source keeps the ones only it has).
UNSUPPORTED_SHAPE = "unsupported shape"
MISSING_LABEL = "no label"


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
