"""Exports are all or nothing: convert_model.py killed with SIGKILL part-way, or failing
part-way, leaves no output folder (first export) or the previous export as it was; the hidden
temporary folder it leaves is refused by load_model and removed by the next export; an output
folder holding other files is never replaced."""

from __future__ import annotations

import errno
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

import convert_model
from object_detection.export import export_record, exporter, frozen_graph, inference

from tests.cli.conftest import error_line
from tests.export.conftest import BEST_STEP, LATEST_STEP, REPO, sample_image

KILL_TIMEOUT_S = 300


def _temporaries(out: Path) -> list[Path]:
    return sorted(out.parent.glob(f".{out.name}.*"))


def _tree(root: Path) -> dict[str, tuple[int, int]]:
    return {p.relative_to(root).as_posix(): (p.stat().st_size, p.stat().st_mtime_ns)
            for p in root.rglob("*") if p.is_file()}


def _command(run_dir: Path, out: Path, *extra: str) -> list[str]:
    return [sys.executable, "convert_model.py", "--model_dir", str(run_dir), "--output_dir",
            str(out), *extra]


def _kill_once_the_saved_model_is_written(command: list[str], out: Path) -> Path:
    """Starts ``command``, waits until its temporary folder holds saved_model/saved_model.pb
    (the frozen graph, config, checkpoint and export.json are still to come), kills it with
    SIGKILL; returns its temporary folder."""
    process = subprocess.Popen(command, cwd=REPO, stdout=subprocess.PIPE,
                               stderr=subprocess.STDOUT)
    pattern = f".{out.name}.tmp-{process.pid}-*/saved_model/saved_model.pb"
    deadline = time.monotonic() + KILL_TIMEOUT_S
    try:
        while not list(out.parent.glob(pattern)):
            assert process.poll() is None, (
                "the export ended before it could be killed:\n"
                + process.stdout.read().decode(errors="replace"))
            assert time.monotonic() < deadline, "no SavedModel written in time"
            time.sleep(0.01)
        process.send_signal(signal.SIGKILL)
    finally:
        if process.poll() is None:
            process.kill()
        process.wait()
        process.stdout.close()
    assert process.returncode == -signal.SIGKILL
    (saved_model,) = out.parent.glob(pattern)
    return saved_model.parents[1]


def _detect(out: Path):
    return inference.load_model(out).detect(sample_image())


def test_kill_9_mid_export_leaves_nothing_or_the_previous_export(tiny_export, tmp_path, capsys):
    run_dir, out = tiny_export.run_dir, tmp_path / "model"

    # 1. The first export, killed: no output folder, only a hidden temporary folder.
    temporary = _kill_once_the_saved_model_is_written(_command(run_dir, out), out)
    assert not out.exists() and _temporaries(out) == [temporary]
    assert temporary.name.startswith(".") and not (temporary / "export.json").exists()
    with pytest.raises(FileNotFoundError, match="model not found"):
        inference.load_model(out)
    with pytest.raises(ValueError, match="a temporary folder left by an interrupted export"):
        inference.load_model(temporary / "saved_model")

    # 2. The same command again: completes, and removes what the killed one left.
    done = subprocess.run(_command(run_dir, out), cwd=REPO, capture_output=True, text=True,
                          timeout=KILL_TIMEOUT_S, check=False)
    assert done.returncode == 0, done.stderr
    assert f"removed {temporary}, left by an interrupted export" in done.stderr
    assert _temporaries(out) == []
    assert json.loads((out / "export.json").read_text())["step"] == BEST_STEP
    before, first = _tree(out), _detect(out)
    assert len(first) > 0

    # 3. A re-export of another checkpoint, killed: the previous export, whole and unchanged.
    temporary = _kill_once_the_saved_model_is_written(
        _command(run_dir, out, "--checkpoint", "latest"), out)
    assert _temporaries(out) == [temporary]
    assert _tree(out) == before
    assert export_record.check_export(out)["step"] == BEST_STEP
    again = _detect(out)
    np.testing.assert_array_equal(again.boxes, first.boxes)
    np.testing.assert_array_equal(again.scores, first.scores)
    np.testing.assert_array_equal(again.pixel_boxes(), first.pixel_boxes())
    assert again.image_size == first.image_size and len(again.masks) == len(first.masks)
    for again_mask, first_mask in zip(again.masks, first.masks):
        np.testing.assert_array_equal(again_mask, first_mask)

    # 4. The same command again completes: the latest checkpoint's export, nothing left over.
    code = convert_model.main(_command(run_dir, out, "--checkpoint", "latest")[2:])
    assert code == 0, capsys.readouterr().err
    assert _temporaries(out) == []
    assert export_record.check_export(out)["step"] == LATEST_STEP
    assert np.abs(_detect(out).scores - first.scores).max() > 1e-3


def test_a_reexport_failing_part_way_keeps_the_old_export(tiny_export, tmp_path, capsys,
                                                          monkeypatch):
    """The disk fills up while the frozen graph is written (after the SavedModel)."""
    out = tmp_path / "model"
    exporter.export_run(tiny_export.run_dir, out)
    before, first = _tree(out), _detect(out)

    def full_disk(graph_def, path):
        Path(path).write_bytes(b"half a graph")
        raise OSError(errno.ENOSPC, "No space left on device", str(path))

    monkeypatch.setattr(frozen_graph, "write_frozen_graph", full_disk)
    code = convert_model.main(["--model_dir", str(tiny_export.run_dir), "--output_dir", str(out),
                               "--checkpoint", "latest"])
    assert code == 1
    line = error_line(capsys.readouterr().err)
    assert line.startswith("error: ") and line.endswith("frozen_inference_graph.pb: no space "
                                                       "left on device")
    assert _tree(out) == before and _temporaries(out) == []
    np.testing.assert_array_equal(_detect(out).scores, first.scores)


def test_an_output_folder_with_other_files_is_never_replaced(tiny_export, tmp_path, capsys):
    out = tmp_path / "models"
    out.mkdir()
    (out / "notes.txt").write_text("mine", encoding="utf-8")
    code = convert_model.main(["--model_dir", str(tiny_export.run_dir), "--output_dir", str(out)])
    assert code == 1
    assert error_line(capsys.readouterr().err) == (
        f"error: {out}: the output folder holds other files than an export (notes.txt); an "
        "export replaces the whole folder, so give a new or empty folder, or an earlier export")
    assert sorted(os.listdir(out)) == ["notes.txt"] and _temporaries(out) == []

    a_file = tmp_path / "model.pb"
    a_file.write_bytes(b"x")
    assert convert_model.main(["--model_dir", str(tiny_export.run_dir), "--output_dir",
                               str(a_file)]) == 1
    assert error_line(capsys.readouterr().err) == (
        f"error: {a_file}: the output folder exists and is not a folder")
    assert a_file.read_bytes() == b"x"


def test_an_output_folder_that_cannot_be_created_is_one_clean_error(tiny_export, tmp_path,
                                                                    capsys):
    """An output location that cannot be written (simulated: the tests run as root, whom chmod
    does not stop, so the folder above the output folder is a regular file): refused before
    the model is built, naming both."""
    (tmp_path / "file").write_bytes(b"")
    out = tmp_path / "file" / "model"
    code = convert_model.main(["--model_dir", str(tiny_export.run_dir), "--output_dir", str(out)])
    assert code == 1
    assert error_line(capsys.readouterr().err) == (
        f"error: {out}: cannot be the output folder, {tmp_path / 'file'} is a file, not a folder")
    assert (tmp_path / "file").read_bytes() == b""


def test_export_into_a_symbolic_link_writes_where_it_points(tiny_export, tmp_path):
    target = tmp_path / "real"
    link = tmp_path / "link"
    link.symlink_to(target, target_is_directory=True)
    files, _ = exporter.export_run(tiny_export.run_dir, link)
    assert link.is_symlink() and files.output_dir == target.resolve()
    assert inference.load_model(link).kind == "saved_model"
