"""folder_runs: unique output names for awkward file names, the printed summary, and refusing
an output folder that is the input folder."""

from __future__ import annotations

import pytest

from object_detection.apps.extraction import ExtractionSummary
from object_detection.apps.folder_runs import OutputNames, RunSummary, check_separate_folders


def test_output_names_are_safe_and_unique_without_regard_to_case():
    names = OutputNames()
    assert names.name_for("maps/a b.jpg") == "a b"
    assert names.name_for("maps/a b.png") == "a b.png"  # same stem: the extension is kept
    assert names.name_for("other/a b.png") == "a b_2"  # that too: numbered
    assert names.name_for("A B.tif") == "A B.tif"  # "A B" is "a b" on a case-blind disk
    assert names.name_for("Zürich #2.jpg") == "Zürich #2"
    assert names.name_for("maps/tab\there.png") == "tab_here"  # control characters replaced
    assert names.name_for(" padded .png") == "padded"


def test_summary_lines_count_and_name_every_skip():
    summary = RunSummary("/out")
    summary.add_extraction("/in/a.png", 3, ExtractionSummary("/out/a", files=["/out/a/x.png"],
                                                            figures=2, skipped_empty=1))
    summary.add_extraction("/in/b.png", 2, ExtractionSummary("/out", files=["/out/1.jpg"],
                                                            figures=1, skipped_unmatched=1))
    summary.skip("/in/c.txt", "not an image file", log=False)
    assert summary.lines() == [
        "2 map(s) processed, 5 detection(s), 3 figure(s) written, 2 file(s) written in /out",
        ("detections not written: 1 mask empty inside the box, 1 overlapping no ground-truth "
         "figure"),
        "1 file(s) skipped:",
        "  /in/c.txt: not an image file",
    ]
    assert RunSummary("/o").lines()[-1] == "0 file(s) skipped"


def test_output_folder_must_not_be_an_input_folder(tmp_path):
    (tmp_path / "maps").mkdir()
    check_separate_folders(tmp_path / "out", tmp_path / "maps")
    check_separate_folders(tmp_path / "maps" / "out", tmp_path / "maps")  # inside is fine
    with pytest.raises(ValueError, match="must not be the input folder"):
        check_separate_folders(tmp_path / "maps" / ".." / "maps", tmp_path / "maps")
