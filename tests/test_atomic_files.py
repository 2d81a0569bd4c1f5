"""atomic_files: a write is all or nothing, and a failed one leaves the old content and no
temporaries behind."""

from __future__ import annotations

import errno
import json
import os
import subprocess
import sys

import pytest

from object_detection import atomic_files


def _listing(folder) -> list[str]:
    return sorted(os.listdir(folder))


def test_write_json_round_trip_and_no_temporaries(tmp_path):
    path = atomic_files.write_json(tmp_path / "a.json", {"x": [1, 2]}, indent=1)
    assert json.loads(path.read_text(encoding="utf-8")) == {"x": [1, 2]}
    assert path.read_text(encoding="utf-8").endswith("\n")
    assert _listing(tmp_path) == ["a.json"]


def test_error_inside_block_keeps_old_content(tmp_path):
    path = tmp_path / "run.json"
    path.write_text("old", encoding="utf-8")
    with pytest.raises(RuntimeError, match="boom"):
        with atomic_files.open_atomic(path) as f:
            f.write("half of the new")
            raise RuntimeError("boom")
    assert path.read_text(encoding="utf-8") == "old"
    assert _listing(tmp_path) == ["run.json"]


def test_full_disk_while_writing_keeps_old_content(tmp_path, monkeypatch):
    """A disk that fills up is simulated by an fsync raising ENOSPC."""
    path = tmp_path / "pipeline.config"
    path.write_text("old", encoding="utf-8")

    def full(fd):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(os, "fsync", full)
    with pytest.raises(OSError) as error:
        atomic_files.write_text(path, "new")
    assert error.value.errno == errno.ENOSPC
    monkeypatch.undo()
    assert path.read_text(encoding="utf-8") == "old"
    assert _listing(tmp_path) == ["pipeline.config"]


def test_kill_mid_write_leaves_old_file_and_only_a_hidden_temporary(tmp_path):
    """A child process killed (os._exit, no clean-up) inside the block: the target keeps its old
    content; what is left is a hidden temporary that remove_stale_temporaries clears."""
    path = tmp_path / "best.json"
    path.write_text('{"step": 1}', encoding="utf-8")
    code = ("import os, sys; from object_detection import atomic_files\n"
            "with atomic_files.open_atomic(sys.argv[1]) as f:\n"
            "    f.write('{\"step\": 2, \"tru'); f.flush(); os._exit(9)\n")
    result = subprocess.run([sys.executable, "-c", code, str(path)], check=False)
    assert result.returncode == 9
    assert path.read_text(encoding="utf-8") == '{"step": 1}'
    left = [name for name in _listing(tmp_path) if name != "best.json"]
    assert len(left) == 1 and atomic_files.is_temporary(left[0]), left
    removed = atomic_files.remove_stale_temporaries(tmp_path, "best.json")
    assert [p.name for p in removed] == left
    assert _listing(tmp_path) == ["best.json"]


def test_remove_stale_temporaries_keeps_those_of_live_processes(tmp_path):
    live = atomic_files.temporary_sibling(tmp_path / "x")     # this process's pid: alive
    live.write_text("", encoding="utf-8")
    assert atomic_files.remove_stale_temporaries(tmp_path, "x") == []
    assert live.exists()


def test_atomic_directory_replaces_old_folder_only_when_complete(tmp_path):
    target = tmp_path / "export"
    with atomic_files.atomic_directory(target) as tmp:
        (tmp / "a").write_text("1", encoding="utf-8")
    assert (target / "a").read_text(encoding="utf-8") == "1"

    with pytest.raises(RuntimeError):
        with atomic_files.atomic_directory(target) as tmp:
            (tmp / "b").write_text("2", encoding="utf-8")
            raise RuntimeError("killed half-way")
    assert _listing(target) == ["a"]
    assert _listing(tmp_path) == ["export"]

    with atomic_files.atomic_directory(target) as tmp:
        (tmp / "c").write_text("3", encoding="utf-8")
    assert _listing(target) == ["c"]          # the new export whole, nothing of the old
    assert _listing(tmp_path) == ["export"]


def test_open_atomic_refuses_append_mode(tmp_path):
    with pytest.raises(ValueError, match="mode"):
        with atomic_files.open_atomic(tmp_path / "x", "a"):
            pass


def test_a_kill_between_the_two_renames_puts_the_old_folder_back(tmp_path):
    """The state a kill between atomic_directory's renames leaves (target moved aside by a dead
    process, the new folder not yet in place) is made by hand with a dead pid."""
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"],
                          capture_output=True, text=True, check=True)
    pid = int(dead.stdout)
    aside = tmp_path / f".export.old-{pid}-abcd1234"
    new = tmp_path / f".export.tmp-{pid}-abcd1234"
    aside.mkdir()
    (aside / "a").write_text("old", encoding="utf-8")
    new.mkdir()
    removed = atomic_files.remove_stale_temporaries(tmp_path, "export")
    assert removed == [new]
    assert _listing(tmp_path) == ["export"]
    assert (tmp_path / "export" / "a").read_text(encoding="utf-8") == "old"


def test_a_failed_write_names_the_file_being_written(tmp_path):
    path = tmp_path / "detections.json"
    with pytest.raises(OSError) as error:
        with atomic_files.open_atomic(path) as f:
            f.write("x")
            raise OSError(errno.ENOSPC, "No space left on device")
    assert error.value.errno == errno.ENOSPC and error.value.filename == str(path)
