"""coco_metrics.py: table, CSV, JSON and PNG from run folders; clear message without runs."""

from __future__ import annotations

import csv
import errno
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

import coco_metrics
from object_detection.evaluation import metric_names, results_log
from object_detection.run_names import format_run_name
from tests.cli.conftest import error_line

REPO = Path(__file__).resolve().parents[2]
MASK50 = metric_names.BEST_METRIC
MASK_MAP = metric_names.MASKS + "Precision/mAP"


@pytest.fixture
def log_dir(tmp_path):
    """Five runs of one setting (best mask mAP@.50 0.1 ... 0.9) and one of another."""
    for run, value in zip(("1st", "2nd", "3rd", "4th", "5th"), (0.1, 0.2, 0.3, 0.4, 0.9)):
        folder = tmp_path / "runs" / format_run_name(run, "separated", 8, (0.25, 0.5, 1.0, 2.0))
        for step, factor in ((50, 0.5), (100, 1.0), (150, 0.8)):
            metrics = {name: -1.0 if "(small)" in name else 0.5
                       for name in metric_names.metric_names()}
            metrics[MASK50] = value * factor
            metrics[MASK_MAP] = value * factor / 2
            results_log.append_evaluation(str(folder), step, metrics, f"ckpt-{step}")
    results_log.append_evaluation(
        str(tmp_path / "runs" / format_run_name("1st", "real", 8, (0.5, 1.0))), 10,
        {MASK50: 0.75})
    return tmp_path / "runs"


def test_table_csv_json_and_plot(log_dir, tmp_path, capsys):
    out = tmp_path / "out"
    code = coco_metrics.main(["--log_dir", str(log_dir), "--csv", str(out / "r.csv"),
                              "--json", str(out / "r.json"), "--plot", str(out / "r.png")])
    assert code == 0
    printed = capsys.readouterr().out
    assert "separated, stride 8, scales 0.25, 0.5, 1.0, 2.0" in printed
    mean_line = next(line for line in printed.splitlines() if line.startswith("mean")
                     and "30.00" in line)
    assert "15.00" in mean_line and "-" in mean_line.split()  # mask mAP, undefined small
    assert f"wrote {out / 'r.png'}" in printed

    rows = list(csv.DictReader((out / "r.csv").read_text().splitlines()))
    separated = [r for r in rows if r["dataset"] == "separated"]
    assert [r["row"] for r in separated] == ["1st", "2nd", "3rd", "4th", "5th", "mean", "std"]
    assert all(r["step"] == "100" and r["checkpoint"] == "ckpt-100" for r in separated[:5])
    assert float(separated[5][MASK50]) == pytest.approx(0.3)
    assert float(separated[6][MASK50]) == pytest.approx(0.1)
    assert float(separated[5][MASK_MAP]) == pytest.approx(0.15)
    assert separated[5][metric_names.MASKS + "Precision/mAP (small)"] == ""
    real = [r for r in rows if r["dataset"] == "real"]
    assert float(real[1][MASK50]) == 0.75 and real[2][MASK50] == ""  # one run: no std

    report = json.loads((out / "r.json").read_text())
    assert report["selection_metric"] == MASK50
    setting = next(s for s in report["settings"] if s["dataset"] == "separated")
    assert setting["scales"] == [0.25, 0.5, 1.0, 2.0] and setting["stride"] == 8
    assert setting["mean"][MASK50] == pytest.approx(0.3)
    assert setting["values_averaged"][MASK50] == 3
    assert [r["step"] for r in setting["runs"]] == [100] * 5

    png = (out / "r.png").read_bytes()
    assert png.startswith(b"\x89PNG\r\n\x1a\n") and len(png) > 10_000


def test_another_selection_metric(log_dir, capsys):
    box_map = metric_names.BOXES + "Precision/mAP"
    assert coco_metrics.main(["--log_dir", str(log_dir), "--metric", box_map]) == 0
    printed = capsys.readouterr().out
    assert f"by {box_map}" in printed
    assert "skipped 1st_run_real_stride8_0.5_1.0: no evaluation has" in printed


def test_no_runs_gives_a_clear_message(tmp_path, capsys):
    assert coco_metrics.main(["--log_dir", str(tmp_path)]) == 1
    error = capsys.readouterr().err
    assert "no run folder with an evaluation log" in error and str(tmp_path) in error
    assert coco_metrics.main(["--log_dir", str(tmp_path / "absent")]) == 1
    assert "no such folder" in capsys.readouterr().err


def test_help_runs_as_a_script():
    result = subprocess.run([sys.executable, "coco_metrics.py", "--help"], cwd=REPO,
                            capture_output=True, text=True, timeout=60, check=False)
    assert result.returncode == 0
    assert "--log_dir" in result.stdout and "--plot" in result.stdout


def test_runs_of_one_name_from_two_grids_are_told_apart_by_folder(tmp_path, capsys):
    name = format_run_name("1st", "synthetic", 8, (0.125, 0.25, 0.5, 1.0))
    for grid, value in (("quickstart", 0.775), ("seed2", 0.784)):
        results_log.append_evaluation(str(tmp_path / grid / name), 4000, {MASK50: value})
    assert coco_metrics.main(["--log_dir", str(tmp_path)]) == 0
    rows = [line.split() for line in capsys.readouterr().out.splitlines()]
    by_label = {row[0]: row for row in rows if row and row[0] in
                (f"quickstart/{name}", f"seed2/{name}", "1st", "mean")}
    assert set(by_label) == {f"quickstart/{name}", f"seed2/{name}", "mean"}
    assert by_label[f"seed2/{name}"][1] == "4000"
    assert "78.40" in by_label[f"seed2/{name}"] and "77.95" in by_label["mean"]


def _error(capsys, argv) -> str:
    assert coco_metrics.main(argv) == 1
    return error_line(capsys.readouterr().err)


def test_a_torn_last_line_is_skipped_a_bad_line_inside_is_one_error(log_dir, capsys):
    folder = next(log_dir.iterdir())
    log = folder / results_log.EVALUATIONS_FILE
    with open(log, "a", encoding="utf-8") as f:
        f.write('{"step": 200, "metr')  # an append cut short by a crash
    assert coco_metrics.main(["--log_dir", str(log_dir)]) == 0
    capsys.readouterr()
    lines = log.read_text(encoding="utf-8").splitlines()
    log.write_text("\n".join([lines[0], "{not json", *lines[1:]]) + "\n", encoding="utf-8")
    line = _error(capsys, ["--log_dir", str(log_dir)])
    assert line.startswith(f"error: {log}, line 2: not a JSON evaluation record")


def test_log_dir_problems(tmp_path, capsys):
    a_file = tmp_path / "runs.txt"
    a_file.write_text("x", encoding="utf-8")
    assert _error(capsys, ["--log_dir", str(a_file)]) == (
        f"error: {a_file}: not a folder (give the folder holding the run folders)")
    hidden = tmp_path / "runs" / ".1st_run_real_stride8_0.5.tmp-1-abcdef01"
    results_log.append_evaluation(str(hidden), 10, {MASK50: 0.5})
    line = _error(capsys, ["--log_dir", str(tmp_path / "runs")])
    assert line.startswith(f"error: {tmp_path / 'runs'}: no run folder with an evaluation log")


@pytest.mark.parametrize("flag", ["--csv", "--json", "--plot"])
def test_output_files_that_cannot_be_written_are_refused_before_anything(log_dir, tmp_path,
                                                                        capsys, flag):
    (tmp_path / "a folder").mkdir()
    (tmp_path / "a file").write_text("x", encoding="utf-8")
    others = [f for f in ("--csv", "--json", "--plot") if f != flag]
    written = [tmp_path / f"other{f}" for f in others]
    common = ["--log_dir", str(log_dir), others[0], str(written[0]), others[1], str(written[1])]
    assert _error(capsys, common + [flag, str(tmp_path / "a folder")]) == (
        f"error: {tmp_path / 'a folder'}: is a folder; give a file name to write")
    target = tmp_path / "a file" / "out"
    assert _error(capsys, common + [flag, str(target)]) == (
        f"error: {target}: cannot be written, {tmp_path / 'a file'} is a file, not a folder")
    assert not any(path.exists() for path in written)


def test_a_failed_rewrite_keeps_the_old_files(log_dir, tmp_path, capsys, monkeypatch):
    """The disk fills up while each file is flushed: the CSV, JSON and PNG of the run before
    are left whole, and no temporary file remains."""
    paths = {"--csv": tmp_path / "r.csv", "--json": tmp_path / "r.json",
             "--plot": tmp_path / "r.png"}
    argv = ["--log_dir", str(log_dir)] + [a for f, p in paths.items() for a in (f, str(p))]
    assert coco_metrics.main(argv) == 0
    before = {p.name: p.read_bytes() for p in tmp_path.iterdir() if p.is_file()}
    assert sorted(before) == ["r.csv", "r.json", "r.png"]

    def full_disk(fd):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(os, "fsync", full_disk)
    for flag, path in paths.items():
        assert _error(capsys, ["--log_dir", str(log_dir), flag, str(path)]) == (
            f"error: {path}: no space left on device")
    monkeypatch.undo()
    assert {p.name: p.read_bytes() for p in tmp_path.iterdir() if p.is_file()} == before
