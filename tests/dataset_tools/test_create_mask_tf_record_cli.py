"""The create_mask_tf_record.py command line."""

from __future__ import annotations

import importlib.util
import json
import os
from pathlib import Path

import numpy as np
import pytest

from object_detection.dataset_tools import figure_folder as ff

_SCRIPT = Path(__file__).resolve().parents[2] / "create_mask_tf_record.py"


def _cli():
    spec = importlib.util.spec_from_file_location("create_mask_tf_record", _SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _folder(root) -> str:
    inst = np.zeros((32, 48), np.uint8)
    inst[2:8, 2:8] = 1
    folder = str(root / "maps")
    for stem in ("a", "b", "c"):
        ff.write_map(folder, stem, ff.FigureMap(np.zeros((32, 48, 3), np.uint8), inst,
                                                np.zeros((32, 48), np.uint8), [{}]))
    return folder


def test_help_describes_every_flag(capsys):
    with pytest.raises(SystemExit) as exit_info:
        _cli().main(["--help"])
    assert exit_info.value.code == 0
    text = capsys.readouterr().out
    for flag in ("--input_type", "--input", "--output_path", "--num_shards", "--label_map",
                 "--class_name", "--coco_gt_json", "--strict", "--image_dir",
                 "--class_attribute", "--image_set", "--skip_difficult", "--segmentation"):
        assert flag in text


def test_converts_and_prints_summary_and_outputs(tmp_path, capsys):
    folder = _folder(tmp_path)
    prefix = str(tmp_path / "out" / "train")
    gt = str(tmp_path / "out" / "gt.json")
    code = _cli().main(["--input_type", "figure_folder", "--input", folder, "--output_path", prefix,
                        "--num_shards", "2", "--coco_gt_json", gt])
    assert code == 0
    out = capsys.readouterr().out
    assert "images: read 3, written 3, skipped 0" in out
    for path in (f"{prefix}-00000-of-00002.tfrecord", f"{prefix}-00001-of-00002.tfrecord", gt):
        assert f"wrote {path}" in out and os.path.isfile(path)
    assert len(json.load(open(gt))["annotations"]) == 3


def test_bad_input_exits_non_zero_with_one_sentence(tmp_path, capsys):
    folder = _folder(tmp_path)
    os.remove(ff.mask_path(folder, "b"))
    code = _cli().main(["--input_type", "figure_folder", "--input", folder,
                        "--output_path", str(tmp_path / "rec")])
    assert code == 1
    err = capsys.readouterr().err
    assert err.startswith("error: ") and "masks/b.png: mask file missing for image b.png" in err


def test_label_map_file_and_strict(tmp_path, capsys, records):
    folder = _folder(tmp_path)
    label_map = tmp_path / "labels.pbtxt"
    label_map.write_text('item { name: "house" id: 1 }\nitem { name: "figure" id: 2 }\n')
    prefix = str(tmp_path / "rec")
    code = _cli().main(["--input_type", "figure_folder", "--input", folder, "--output_path", prefix,
                        "--label_map", str(label_map), "--class_name", "figure", "--strict"])
    assert code == 0
    decoded = records([f"{prefix}-00000-of-00001.tfrecord"])
    assert [r["image/object/class/label"].tolist() for r in decoded] == [[2], [2], [2]]
    code = _cli().main(["--input_type", "figure_folder", "--input", folder, "--output_path", prefix,
                        "--label_map", str(label_map)])
    assert code == 1
    assert "class 'character' is not in the label map" in capsys.readouterr().err
