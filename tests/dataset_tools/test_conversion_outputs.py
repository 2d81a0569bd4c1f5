"""Outputs appear together at the end or not at all; reads from outside the input are named."""

from __future__ import annotations

import importlib.util
import json
import os
import re
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from object_detection import atomic_files
from object_detection.dataset_tools import figure_folder as ff
from object_detection.dataset_tools.conversion import convert, make_source

_SCRIPT = Path(__file__).resolve().parents[2] / "create_mask_tf_record.py"
H, W = 16, 24


def _cli():
    spec = importlib.util.spec_from_file_location("create_mask_tf_record", _SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _folder(root, stems=("m0", "m1", "m2")) -> str:
    instances = np.zeros((H, W), np.uint8)
    instances[2:6, 3:9] = 1
    folder = str(root / "maps")
    for stem in stems:
        ff.write_map(folder, stem, ff.FigureMap(np.full((H, W, 3), 80, np.uint8), instances,
                                                np.zeros((H, W), np.uint8), [{}]))
    return folder


class _Watched:
    """A source that calls ``check`` after handing out each image."""

    def __init__(self, source, check):
        self.source, self.check = source, check
        self.stats, self.categories = source.stats, source.categories

    def __iter__(self):
        for image in self.source:
            yield image
            self.check()


def test_outputs_replace_the_earlier_ones_only_at_the_end(tmp_path, earlier_output, records):
    def unchanged_so_far():
        snapshot = earlier_output.snapshot()
        assert {n: c for n, c in snapshot.items() if not n.startswith(".")} == earlier_output.files
        assert any(atomic_files.is_temporary(n) for n in snapshot)       # being written aside

    source = _Watched(make_source("figure_folder", _folder(tmp_path, ("n0", "n1"))),
                      unchanged_so_far)
    stats = earlier_output.convert(source)
    assert sorted(earlier_output.snapshot()) == sorted(earlier_output.files)  # no temporaries
    assert [r["image/filename"] for r in records(stats.outputs[:2])] == [b"n0.png", b"n1.png"]
    gt = json.loads(Path(earlier_output.gt).read_text())
    assert [image["file_name"] for image in gt["images"]] == ["n0.png", "n1.png"]


def test_an_error_in_the_ground_truth_leaves_the_earlier_outputs(tmp_path, earlier_output):
    source = make_source("figure_folder", _folder(tmp_path))
    source.categories = [{"id": 5, "name": "house"}]      # the records' class 1 is missing
    with pytest.raises(ValueError, match=r"records have class ids \[1\] that the given "
                                         r"categories lack"):
        earlier_output.convert(source)
    earlier_output.assert_intact()


def test_a_failed_first_conversion_leaves_no_folder_and_no_file(tmp_path):
    folder = _folder(tmp_path)
    os.remove(ff.mask_path(folder, "m2"))
    out = tmp_path / "new" / "records"
    with pytest.raises(FileNotFoundError, match=r"masks/m2.png: mask file missing"):
        convert(make_source("figure_folder", folder), str(out / "train"), 2,
                str(out / "gt.json"))
    assert not (tmp_path / "new").exists()


def test_temporaries_of_a_killed_conversion_are_removed(tmp_path, earlier_output):
    dead_pid = 4194305   # above Linux's largest pid_max: no such process
    stale = earlier_output.folder / f".rec-00000-of-00002.tfrecord.tmp-{dead_pid}-0badc0de"
    stale.write_bytes(b"half a shard")
    earlier_output.convert(make_source("figure_folder", _folder(tmp_path)))
    assert not stale.exists()
    assert sorted(earlier_output.snapshot()) == sorted(earlier_output.files)


def test_shards_of_another_shard_count_are_noted(tmp_path, earlier_output):
    stats = convert(make_source("figure_folder", _folder(tmp_path)), earlier_output.prefix, 3)
    assert ("note: 2 shards of an earlier conversion with another shard count match the same "
            "record pattern and were left in place: " + earlier_output.prefix
            + "-00000-of-00002.tfrecord") in stats.summary()


def test_ground_truth_may_not_overwrite_the_input_annotations(tmp_path):
    Image.fromarray(np.zeros((H, W, 3), np.uint8)).save(tmp_path / "a.png")
    coco = tmp_path / "coco.json"
    coco.write_text(json.dumps({"images": [{"id": 1, "file_name": "a.png"}], "annotations": [],
                                "categories": [{"id": 1, "name": "figure"}]}))
    before = coco.read_bytes()
    with pytest.raises(ValueError, match=re.escape(str(coco)) + ": the COCO ground truth would "
                                                                "overwrite the input"):
        convert(make_source("coco", str(coco)), str(tmp_path / "rec"), 1, str(coco))
    assert coco.read_bytes() == before and not list(tmp_path.glob("rec*"))


def test_coco_reads_outside_the_image_folder_are_named(tmp_path):
    data = tmp_path / "data"
    data.mkdir()
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    for path in (tmp_path / "up.png", elsewhere / "abs.png", elsewhere / "linked.png",
                 data / "inside.png"):
        Image.fromarray(np.zeros((H, W, 3), np.uint8)).save(path)
    os.symlink(elsewhere / "linked.png", data / "link.png")
    os.symlink(data / "inside.png", data / "inner_link.png")           # stays inside: fine
    names = ["../up.png", str(elsewhere / "abs.png"), "link.png", "inside.png",
             "inner_link.png"]
    coco = data / "coco.json"
    coco.write_text(json.dumps({
        "images": [{"id": i, "file_name": n} for i, n in enumerate(names, start=1)],
        "annotations": [], "categories": [{"id": 1, "name": "figure"}]}))
    stats = convert(make_source("coco", str(coco)), str(tmp_path / "rec"), 1)
    assert stats.images_written == 5
    assert (f"3 files read from outside {data}: ../up.png, {elsewhere / 'abs.png'}, link.png "
            f"(symlink to {elsewhere / 'linked.png'})") in stats.summary().splitlines()


def test_figure_folder_symlinks_out_of_the_folder_are_named_and_counted(tmp_path):
    folder = Path(_folder(tmp_path, stems=[f"m{i}" for i in range(7)]))
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    for i in range(6):                      # 6 images and 1 mask moved out, linked back
        os.replace(folder / "images" / f"m{i}.png", elsewhere / f"m{i}.png")
        os.symlink(elsewhere / f"m{i}.png", folder / "images" / f"m{i}.png")
    os.replace(folder / "masks" / "m6.png", elsewhere / "mask6.png")
    os.symlink(elsewhere / "mask6.png", folder / "masks" / "m6.png")
    stats = convert(make_source("figure_folder", str(folder)), str(tmp_path / "rec"), 1)
    assert stats.images_written == 7
    line = next(text for text in stats.summary().splitlines() if "read from outside" in text)
    assert line == (f"7 files read from outside {folder}: "
                    + ", ".join(f"images/m{i}.png (symlink to {elsewhere / f'm{i}.png'})"
                                for i in range(5)) + " and 2 more")


def test_cli_names_the_file_and_annotation_and_keeps_the_earlier_output(tmp_path, capsys,
                                                                        earlier_output):
    Image.fromarray(np.zeros((H, W, 3), np.uint8)).save(tmp_path / "a.png")
    coco = tmp_path / "coco.json"
    coco.write_text(json.dumps({
        "images": [{"id": 1, "file_name": "a.png", "height": H, "width": W}],
        "annotations": [{"id": 7, "image_id": 1, "category_id": 1, "iscrowd": 1,
                         "segmentation": {"size": [H, W], "counts": [5, 10, 5]}}],
        "categories": [{"id": 1, "name": "figure"}]}))
    code = _cli().main(["--input_type", "coco", "--input", str(coco), "--output_path",
                        earlier_output.prefix, "--num_shards", "2",
                        "--coco_gt_json", earlier_output.gt])
    assert code == 1
    err = capsys.readouterr().err.splitlines()
    assert err[0] == (f"error: {coco}: annotation 7: RLE counts add up to 20 pixels but the mask "
                      f"is {W}x{H} = {H * W} pixels")
    earlier_output.assert_intact()


def test_cli_summary_names_reads_from_outside(tmp_path, capsys):
    folder = Path(_folder(tmp_path, stems=["m0"]))
    os.replace(folder / "masks" / "m0.png", tmp_path / "m0_mask.png")
    os.symlink(tmp_path / "m0_mask.png", folder / "masks" / "m0.png")
    code = _cli().main(["--input_type", "figure_folder", "--input", str(folder),
                        "--output_path", str(tmp_path / "out" / "rec")])
    assert code == 0
    assert (f"1 file read from outside {folder}: masks/m0.png (symlink to "
            f"{tmp_path / 'm0_mask.png'})") in capsys.readouterr().out.splitlines()
