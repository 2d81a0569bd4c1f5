"""The --tile_* flags of evaluation.py and the extraction tools, end to end on the tiny export:
the commands write what the library's tiled detection gives, nothing outside --output_dir,
the published layouts, and one-line errors for bad tile flags."""

from __future__ import annotations

import json

import numpy as np
import pytest

import evaluation
import extract_characters_for_animation as animation
import extract_characters_for_training as training
from object_detection.core.tiling import TileOptions
from tests.cli.conftest import MAP_ONE, error_line, read_rgb, tree, write_maps

THRESHOLD = 0.2
TILE_FLAGS = ["--tile_size", "48", "--tile_overlap", "0.25", "--batch_size", "3"]


def test_extraction_in_tiles_writes_the_tiled_detections(exported_model, model, tmp_path,
                                                        capsys):
    images = tmp_path / "maps"
    write_maps(images)
    out = tmp_path / "out"
    before = tree(tmp_path, exported_model, skip=out)
    code = animation.main(["--model", str(exported_model), "--images", str(images),
                           "--output_dir", str(out), "--score_threshold", str(THRESHOLD),
                           *TILE_FLAGS])
    assert code == 0, capsys.readouterr()
    assert tree(tmp_path, exported_model, skip=out) == before
    image = read_rgb(images / MAP_ONE)
    expected = model.detect(image, THRESHOLD, tiles=TileOptions(48, 0.25, batch_size=3))
    written = [k for k in range(len(expected)) if expected.mask_crop(k).any()]
    config = json.loads((out / "map one" / "config.json").read_text(encoding="utf-8"))
    assert config == {"numberOfCharacters": len(written), "width": 100, "height": 80}
    boxes = expected.pixel_boxes()
    for index, k in enumerate(written):
        corner = json.loads((out / "map one" / f"char{index}" / "topLeftCorner.json").read_text())
        assert corner == [int(boxes[k][0]), int(boxes[k][1])]


def test_evaluation_in_tiles_scores_the_merged_detections(exported_model, model, tmp_path,
                                                         capsys):
    from object_detection.dataset_tools.coco_segmentation import mask_to_rle

    images = tmp_path / "maps"
    write_maps(images)
    mask = np.zeros((80, 100), np.uint8)
    mask[20:50, 30:60] = 1
    ground_truth = tmp_path / "gt.json"
    ground_truth.write_text(json.dumps({
        "images": [{"id": 1, "file_name": MAP_ONE, "height": 80, "width": 100}],
        "annotations": [{"id": 1, "image_id": 1, "category_id": 1, "bbox": [30, 20, 30, 30],
                         "area": 900, "iscrowd": 0, "segmentation": mask_to_rle(mask)}],
        "categories": [{"id": 1, "name": "character"}]}), encoding="utf-8")
    out = tmp_path / "out"
    code = evaluation.main(["--model", str(exported_model), "--images", str(images),
                            "--ground_truth", str(ground_truth), "--output_dir", str(out),
                            *TILE_FLAGS, "--no-tile_full_pass"])
    assert code == 0, capsys.readouterr()
    results = json.loads((out / "detections.json").read_text(encoding="utf-8"))
    expected = model.detect(read_rgb(images / MAP_ONE),
                            tiles=TileOptions(48, 0.25, full_pass=False, batch_size=3))
    assert len(results) == len(expected)
    assert sorted(round(r["score"], 5) for r in results) == \
        sorted(round(float(s), 5) for s in expected.scores)


def test_training_extraction_in_tiles_writes_the_matched_tiled_detections(
        exported_model, model, tmp_path, capsys):
    from tests.cli.test_extract_for_training_cli import _write_folder

    data = tmp_path / "data"
    maps = _write_folder(data)
    code = training.main(["--model", str(exported_model), "--data", str(data),
                          "--output_dir", str(tmp_path / "out"), "--score_threshold", "0.0",
                          "--tile_size", "32"])
    assert code == 0, capsys.readouterr()
    written = len(list((tmp_path / "out" / "masks").iterdir()))
    expected = 0
    for figure_map in maps.values():
        found = model.detect(figure_map.image, 0.0, tile_size=32)
        for k, (left, top, right, bottom) in enumerate(found.pixel_boxes()):
            crop = found.mask_crop(k)
            expected += bool(crop.any() and figure_map.instances[top:bottom, left:right][crop].any())
    assert written == expected


@pytest.mark.parametrize("flags, problem", [
    (["--tile_size", "-1"], "--tile_size must be 0 (off) or a positive number of pixels"),
    (["--tile_size", "64", "--tile_overlap", "1"], "--tile_overlap must be at least 0 and below 1"),
    (["--tile_size", "64", "--tile_match_threshold", "2"],
     "--tile_match_threshold must be between 0 and 1"),
])
def test_bad_tile_flags_stop_with_one_line(exported_model, tmp_path, capsys, flags, problem):
    images = tmp_path / "maps"
    write_maps(images)
    code = animation.main(["--model", str(exported_model), "--images", str(images),
                           "--output_dir", str(tmp_path / "out"), *flags])
    assert code == 1
    assert problem in error_line(capsys.readouterr().err)
    assert not (tmp_path / "out").exists()
