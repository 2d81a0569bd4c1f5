"""Going over a folder of maps: one output name per map, and what was processed and skipped.

The command lines that apply an exported model to every map of a folder (``evaluation.py``,
``extract_characters_for_*.py``) share this bookkeeping:

* ``OutputNames`` gives each input file a name in the output folder: ``outputs.safe_name`` of
  its stem, unique among the maps of the run without regard to case (so that "a.jpg" and
  "a.png", or "Map.png" and "map.png", do not overwrite each other's results);
* ``RunSummary`` counts maps, detections, figures and files, keeps every skipped input with
  its reason (nothing is left out silently) and names the input images that are symbolic
  links, those read from outside the input folder first, and prints as a few lines;
* ``check_separate_folders`` refuses an output folder that is one of the input folders, or
  that cannot be a folder.

Their common flags and error exit are ``object_detection.cli``'s (``cli.flags``, ``cli.fail``),
their shared main body ``cli.folder_commands``.
"""

from __future__ import annotations

import collections
import dataclasses
import logging
import os

from object_detection.export.image_files import Link
from object_detection.apps.extraction import ExtractionSummary
from object_detection import atomic_files
from object_detection.apps.outputs import safe_name

logger = logging.getLogger(__name__)

EMPTY_MASK = "mask empty inside the box"
UNMATCHED = "overlapping no ground-truth figure"
NAMED_LINKS = 5  # symbolic links named in a summary line; the rest counted


class OutputNames:
    """Unique output names (without extension) for the input files of one run.

    The first file with a stem gets ``safe_name(stem)``; a later one whose name is taken gets
    ``safe_name(file name)`` ("a.png" -> "a.png"), then ``<stem>_2``, ``<stem>_3``, ...
    Names are compared case-insensitively.
    """

    def __init__(self) -> None:
        self._taken: set[str] = set()

    def name_for(self, path: str | os.PathLike) -> str:
        file_name = os.path.basename(os.fspath(path))
        stem = safe_name(os.path.splitext(file_name)[0])
        candidates = [stem, safe_name(file_name)]
        number = 2
        while all(c.casefold() in self._taken for c in candidates):
            candidates.append(f"{stem}_{number}")
            number += 1
        name = next(c for c in candidates if c.casefold() not in self._taken)
        if name != stem:
            logger.warning("%s: written as '%s' (the name '%s' is taken by another map)",
                           path, name, stem)
        self._taken.add(name.casefold())
        return name


@dataclasses.dataclass
class RunSummary:
    """What a run over a folder did.

    Attributes:
      output_dir: the absolute output folder.
      maps: the input files processed, in order.
      detections: detections used (above the score threshold), all maps together.
      figures: figures written (or drawn).
      files: absolute paths of the files written.
      skipped_files: ``(path, reason)`` of every input not processed.
      skipped_detections: how many detections were not written, by reason.
      figure_verb: "written" or "drawn", for the summary line.
      input_dir: the input image folder, as given (for the lines on symbolic links).
      links: the input images that are symbolic links (``image_files.Link``).
    """

    output_dir: str
    maps: list[str] = dataclasses.field(default_factory=list)
    detections: int = 0
    figures: int = 0
    files: list[str] = dataclasses.field(default_factory=list)
    skipped_files: list[tuple[str, str]] = dataclasses.field(default_factory=list)
    skipped_detections: collections.Counter = dataclasses.field(
        default_factory=collections.Counter)
    figure_verb: str = "written"
    input_dir: str = ""
    links: list[Link] = dataclasses.field(default_factory=list)

    def skip(self, path: str | os.PathLike, reason: str, log: bool = True) -> None:
        """Records an input that is not processed (with a logged warning unless ``log`` is
        False, for inputs already reported by whoever found them)."""
        if log:
            logger.warning("skipping %s: %s", path, reason)
        self.skipped_files.append((os.fspath(path), reason))

    def add_extraction(self, path: str | os.PathLike, detections: int,
                       extraction: ExtractionSummary) -> None:
        """Counts one map whose ``detections`` were written as ``extraction``."""
        self.maps.append(os.fspath(path))
        self.detections += detections
        self.figures += extraction.figures
        self.files += extraction.files
        if extraction.skipped_empty:
            self.skipped_detections[EMPTY_MASK] += extraction.skipped_empty
        if extraction.skipped_unmatched:
            self.skipped_detections[UNMATCHED] += extraction.skipped_unmatched

    def add_folder_report(self, report) -> None:
        """Takes over the skipped and unreadable files and the symbolic links of an
        ``inference.FolderReport`` (they were logged when found)."""
        for path, reason in list(report.skipped) + list(report.unreadable):
            prefix = f"{path}: "  # errors name their file; the summary names it already
            self.skip(path, reason.removeprefix(prefix), log=False)
        self.links += report.links

    def _link_lines(self) -> list[str]:
        folder = self.input_dir or "the input folder"
        lines = []
        for outside, what in ((True, f"read from outside {folder}"),
                              (False, f"read through symbolic links within {folder}")):
            links = [link for link in self.links if link.outside == outside]
            if not links:
                continue
            named = ", ".join(link.describe() for link in links[:NAMED_LINKS])
            more = len(links) - NAMED_LINKS
            lines.append(f"{len(links)} image(s) {what}: {named}"
                         + (f" and {more} more" if more > 0 else ""))
        return lines

    def lines(self) -> list[str]:
        """The summary to print: counts, then each skipped input with its reason."""
        lines = [(f"{len(self.maps)} map(s) processed, {self.detections} detection(s), "
                  f"{self.figures} figure(s) {self.figure_verb}, {len(self.files)} file(s) "
                  f"written in {self.output_dir}")]
        if self.skipped_detections:
            reasons = ", ".join(f"{count} {reason}"
                                for reason, count in sorted(self.skipped_detections.items()))
            lines.append(f"detections not written: {reasons}")
        lines += self._link_lines()
        lines.append(f"{len(self.skipped_files)} file(s) skipped"
                     + (":" if self.skipped_files else ""))
        lines += [f"  {path}: {reason}" for path, reason in self.skipped_files]
        return lines


def check_separate_folders(output_dir: str | os.PathLike, *inputs: str | os.PathLike) -> None:
    """ValueError when ``output_dir`` cannot be a folder (``atomic_files.check_output_folder``) or
    is one of the input folders (its results would mix with, or overwrite, the inputs)."""
    atomic_files.check_output_folder(output_dir)
    output = os.path.realpath(output_dir)
    for folder in inputs:
        if output == os.path.realpath(folder):
            raise ValueError(f"{output_dir}: the output folder must not be the input folder "
                             f"{folder}")
