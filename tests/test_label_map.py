"""Label maps: round trips, display names, and errors that name the file and the problem."""

from __future__ import annotations

import errno
import os

import pytest

from object_detection import label_map

COCO_STYLE = """
item {
  name: "/m/01g317"
  id: 1
  display_name: "person"
}
item {
  name: "/m/0199g"
  id: 3
  display_name: "bicycle"
}
item {
  id: 2
  name: "/m/0k4j"
}
"""


def test_write_then_load_round_trip(tmp_path):
    names = ["figure", 'sign "A"', "Zoë", "tree"]
    path = label_map.write_label_map(tmp_path / "sub" / "labels.pbtxt", names)
    assert path.is_file()
    assert label_map.load_label_map(path) == {"figure": 1, 'sign "A"': 2, "Zoë": 3, "tree": 4}
    assert [c["id"] for c in label_map.load_categories(path)] == [1, 2, 3, 4]


def test_written_text_is_od_api_format(tmp_path):
    path = label_map.write_label_map(tmp_path / "labels.pbtxt", ["figure"])
    assert path.read_text() == 'item {\n  name: "figure"\n  id: 1\n}\n'


def test_load_keys_by_name_and_optionally_by_display_name(tmp_path):
    path = tmp_path / "coco.pbtxt"
    path.write_text(COCO_STYLE)
    assert label_map.load_label_map(path) == {"/m/01g317": 1, "/m/0199g": 3, "/m/0k4j": 2}
    assert label_map.load_label_map(path, use_display_name=True) == {
        "person": 1, "bicycle": 3, "/m/0k4j": 2,
    }


def test_categories_sorted_by_id_with_display_name_fallback(tmp_path):
    path = tmp_path / "coco.pbtxt"
    path.write_text(COCO_STYLE)
    assert label_map.load_categories(path) == [
        {"id": 1, "name": "/m/01g317", "display_name": "person"},
        {"id": 2, "name": "/m/0k4j", "display_name": "/m/0k4j"},
        {"id": 3, "name": "/m/0199g", "display_name": "bicycle"},
    ]


def test_missing_file(tmp_path):
    with pytest.raises(FileNotFoundError, match="nope.pbtxt"):
        label_map.load_label_map(tmp_path / "nope.pbtxt")


def test_syntax_error_names_file_and_line(tmp_path):
    path = tmp_path / "bad.pbtxt"
    path.write_text('item {\n  name: "a"\n  id: 1\n}\nitem {\n  nmae: "b"\n  id: 2\n}\n')
    with pytest.raises(ValueError, match=r"bad\.pbtxt: line 6: .*nmae"):
        label_map.load_label_map(path)


@pytest.mark.parametrize(
    "text, message",
    [
        ("", "no items"),
        ('item { name: "a" id: 0 }', r"item 1 \('a'\) has id 0; ids must be >= 1"),
        ('item { name: "a" id: -2 }', "ids must be >= 1"),
        ('item { name: "a" }', r"item 1 \('a'\) has no id"),
        ("item { id: 1 }", r"item 1 \(id 1\) has no name"),
        ('item { name: "a" id: 1 } item { name: "b" id: 1 }', r"item 2 \('b'\) repeats id 1 of 'a'"),
        ('item { name: "a" id: 1 } item { name: "a" id: 2 }', r"item 2 repeats name 'a' \(id 1\)"),
    ],
)
def test_invalid_items_are_rejected(tmp_path, text, message):
    path = tmp_path / "labels.pbtxt"
    path.write_text(text)
    with pytest.raises(ValueError, match=message) as error:
        label_map.load_label_map(path)
    assert str(path) in str(error.value)
    with pytest.raises(ValueError, match=message):
        label_map.load_categories(path)


def test_repeated_display_name_is_rejected_only_when_used(tmp_path):
    path = tmp_path / "labels.pbtxt"
    path.write_text(
        'item { name: "a" id: 1 display_name: "x" } item { name: "b" id: 2 display_name: "x" }'
    )
    assert label_map.load_label_map(path) == {"a": 1, "b": 2}
    with pytest.raises(ValueError, match="display name 'x' is used by ids 1 and 2"):
        label_map.load_label_map(path, use_display_name=True)


@pytest.mark.parametrize(
    "names, message",
    [([], "no class names"), (["a", "b", "a"], "'a' is given twice"), (["a", ""], "class 2")],
)
def test_write_rejects_bad_names_and_writes_nothing(tmp_path, names, message):
    path = tmp_path / "labels.pbtxt"
    with pytest.raises(ValueError, match=message):
        label_map.write_label_map(path, names)
    assert not path.exists()


def test_a_failed_rewrite_keeps_the_old_label_map(tmp_path, monkeypatch):
    path = label_map.write_label_map(tmp_path / "labels.pbtxt", ["figure"])
    before = path.read_bytes()

    def full_disk(fd):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(os, "fsync", full_disk)
    with pytest.raises(OSError) as error:
        label_map.write_label_map(path, ["figure", "text"])
    monkeypatch.undo()
    assert error.value.filename == str(path)
    assert path.read_bytes() == before and os.listdir(tmp_path) == ["labels.pbtxt"]
