"""Safe file names and writing only inside the output folder."""

from __future__ import annotations

import errno
import os

import numpy as np
import pytest

from object_detection.apps.outputs import OutputFolder, safe_name


@pytest.mark.parametrize("text, expected", [
    ("map 1", "map 1"),
    ("Karte Zürich 地図", "Karte Zürich 地図"),
    ("../../etc/passwd", ".._.._etc_passwd"),
    ("a\\b", "a_b"),
    ("tab\there\x00", "tab_here_"),
    ("..", "__"),
    (".", "_"),
    ("  ", "_"),
])
def test_safe_name(text, expected):
    assert safe_name(text) == expected
    assert os.sep not in safe_name(text)


def test_output_folder_writes_and_lists(tmp_path):
    out = OutputFolder(str(tmp_path / "a b" / "ü"))
    written = out.write_image("x/y.png", np.full((2, 3), 7, np.uint8))
    out.write_json("z.json", {"k": [1, 2]})
    assert out.written == [written, str(tmp_path / "a b" / "ü" / "z.json")]
    assert written == str(tmp_path / "a b" / "ü" / "x" / "y.png")


@pytest.mark.parametrize("relative", ["../x.png", "/tmp/x.png", "a/../../x.png", "a//b.png", "./x.png"])
def test_paths_leaving_the_folder_are_refused(tmp_path, relative):
    out = OutputFolder(str(tmp_path / "out"))
    with pytest.raises(ValueError, match="refusing"):
        out.write_json(relative, 1)
    assert not (tmp_path / "x.png").exists()


def test_symbolic_link_out_of_the_folder_is_refused(tmp_path):
    (tmp_path / "out").mkdir()
    (tmp_path / "elsewhere").mkdir()
    os.symlink(tmp_path / "elsewhere", tmp_path / "out" / "sub")
    with pytest.raises(ValueError, match="outside the output folder"):
        OutputFolder(str(tmp_path / "out")).write_json("sub/x.json", 1)
    assert os.listdir(tmp_path / "elsewhere") == []


def test_a_file_as_output_folder_is_refused(tmp_path):
    (tmp_path / "f").write_text("")
    with pytest.raises(ValueError, match="not a folder"):
        OutputFolder(str(tmp_path / "f"))


def test_a_failed_rewrite_keeps_the_old_file_and_leaves_no_temporary(tmp_path, monkeypatch):
    """The disk fills up as each new version is flushed: the old images and JSON stay."""
    out = OutputFolder(str(tmp_path))
    out.write_image("a.png", np.full((2, 3), 7, np.uint8))
    out.write_image("b.jpg", np.full((8, 8, 3), 9, np.uint8))
    out.write_json("c.json", {"k": 1})
    before = {p.name: p.read_bytes() for p in tmp_path.iterdir()}

    def full_disk(fd):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(os, "fsync", full_disk)
    for write in (lambda: out.write_image("a.png", np.zeros((5, 5), np.uint8)),
                  lambda: out.write_image("b.jpg", np.zeros((5, 5, 3), np.uint8)),
                  lambda: out.write_json("c.json", {"k": 2})):
        with pytest.raises(OSError, match="No space left on device"):
            write()
    monkeypatch.undo()
    assert {p.name: p.read_bytes() for p in tmp_path.iterdir()} == before
    assert len(out.written) == 3


def test_json_is_written_compact_as_published(tmp_path):
    OutputFolder(str(tmp_path)).write_json("p.json", [3, 4])
    assert (tmp_path / "p.json").read_bytes() == b"[3, 4]"


def test_remove(tmp_path):
    out = OutputFolder(str(tmp_path))
    out.write_json("x.json", 1)
    assert out.remove("x.json") and not (tmp_path / "x.json").exists()
    assert not out.remove("x.json")
