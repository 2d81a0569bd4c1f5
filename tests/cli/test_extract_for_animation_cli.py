"""extract_characters_for_animation.py end to end on the tiny exported model: one folder per
map in the published layout, corners and paddings worked out from the detections, what it
prints, and one-sentence errors with exit status 1 that write nothing."""

from __future__ import annotations

import json

import numpy as np
import pytest
from PIL import Image

import extract_characters_for_animation as cli
from tests.cli.conftest import (MAP_ONE, MAP_TWO, NOTES, error_line, read_rgb, tree,
                                write_maps)

THRESHOLD = 0.2


def _expected_figures(model, image: np.ndarray) -> list[tuple[int, int, int, int]]:
    """Pixel boxes (left, top, right, bottom) of the detections above THRESHOLD whose mask has
    a pixel inside the box, as the published scripts round them."""
    detections = model.detect(image, THRESHOLD)
    height, width = image.shape[:2]
    boxes = []
    for (ymin, xmin, ymax, xmax), mask in zip(np.clip(detections.boxes, 0, 1),
                                              detections.image_masks(0.5)):
        left, top = int(np.float32(width) * xmin), int(np.float32(height) * ymin)
        right = min(int(np.float32(width) * xmax) + 1, width)
        bottom = min(int(np.float32(height) * ymax) + 1, height)
        if mask[top:bottom, left:right].any():
            boxes.append((left, top, right, bottom))
    return boxes


def _read_json(path):
    return json.loads(path.read_text(encoding="utf-8"))


def test_one_folder_per_map_in_the_published_layout(exported_model, model, tmp_path, capsys):
    images = tmp_path / "maps"
    maps = write_maps(images)
    (images / "broken.png").write_bytes(b"not a png")
    out = tmp_path / "characters"
    before = tree(tmp_path, exported_model, skip=out)
    code = cli.main(["--model", str(exported_model), "--images", str(images),
                     "--output_dir", str(out), "--score_threshold", str(THRESHOLD)])
    printed = capsys.readouterr().out
    assert code == 0, printed
    assert tree(tmp_path, exported_model, skip=out) == before
    assert sorted(p.name for p in out.iterdir()) == ["Zürich #2", "map one"]

    total = 0
    for name, folder in ((MAP_ONE, out / "map one"), (MAP_TWO, out / "Zürich #2")):
        image = read_rgb(maps[name])
        height, width = image.shape[:2]
        boxes = _expected_figures(model, image)
        assert boxes, "the tiny model should find something above the threshold"
        total += len(boxes)
        assert _read_json(folder / "config.json") == {"numberOfCharacters": len(boxes),
                                                      "width": width, "height": height}
        assert sorted(p.name for p in folder.iterdir()) == sorted(
            ["config.json", "extracted_map.png"] + [f"char{i}" for i in range(len(boxes))])
        extracted = read_rgb(folder / "extracted_map.png")
        assert extracted.shape == image.shape and np.any(np.all(extracted == 255, axis=-1))
        for index, (left, top, right, bottom) in enumerate(boxes):
            char = folder / f"char{index}"
            assert sorted(p.name for p in char.iterdir()) == ["image.png", "padding.json",
                                                              "topLeftCorner.json"]
            assert _read_json(char / "topLeftCorner.json") == [left, top]
            box_width, box_height = right - left, bottom - top
            side = max(box_width, box_height)
            # The shorter side is centred (Python's round, as published).
            expected_padding = ([0, round((box_width - box_height) / 2)] if box_width > box_height
                                else [round((box_height - box_width) / 2), 0])
            assert _read_json(char / "padding.json") == expected_padding
            with Image.open(char / "image.png") as figure:
                assert figure.mode == "RGBA" and figure.size == (side, side)
        assert f"{name}: {len(boxes)} figure(s) -> {folder}" in printed
    assert "2 map(s) processed" in printed and f"{total} figure(s) written" in printed
    assert f"  {images / NOTES}: not an image file" in printed
    assert f"  {images / 'broken.png'}: not a readable image" in printed


def test_default_threshold_and_rerun_replace_the_folders(exported_model, tmp_path, capsys):
    """At the default 0.3 the tiny model finds nothing: every map is written without figures,
    and the figure folders of an earlier run at 0.2 are removed."""
    images = tmp_path / "maps"
    write_maps(images)
    out = tmp_path / "out"
    args = ["--model", str(exported_model), "--images", str(images), "--output_dir", str(out)]
    assert cli.main(args + ["--score_threshold", str(THRESHOLD)]) == 0
    assert (out / "map one" / "char0").is_dir()
    assert cli.main(args) == 0
    printed = capsys.readouterr().out
    assert "2 map(s) processed, 0 detection(s), 0 figure(s) written" in printed
    for folder in ("map one", "Zürich #2"):
        assert sorted(p.name for p in (out / folder).iterdir()) == ["config.json",
                                                                    "extracted_map.png"]
        assert _read_json(out / folder / "config.json")["numberOfCharacters"] == 0


@pytest.mark.parametrize("case", ["wrong model", "empty folder", "only text", "same folder",
                                  "bad mask threshold", "missing folder"])
def test_wrong_inputs_write_nothing(exported_model, wrong_model, tmp_path, capsys, case):
    images = tmp_path / "maps"
    out = tmp_path / "out"
    model = wrong_model if case == "wrong model" else exported_model
    extra = []
    if case in ("wrong model", "same folder", "bad mask threshold"):
        write_maps(images)
    elif case == "empty folder":
        images.mkdir()
    elif case == "only text":
        images.mkdir()
        (images / NOTES).write_text("x")
    if case == "same folder":
        out = images
    if case == "bad mask threshold":
        extra = ["--mask_threshold", "1"]
    before = tree(tmp_path)
    code = cli.main(["--model", str(model), "--images", str(images), "--output_dir", str(out)]
                    + extra)
    err = capsys.readouterr().err
    assert code == 1, err
    err = error_line(err)
    expected = {"wrong model": f"{model}: not an exported detection model",
                "empty folder": f"{images}: no image files",
                "only text": f"{images}: no image files",
                "same folder": "the output folder must not be the input folder",
                "bad mask threshold": "--mask_threshold must be at least 0 and below 1, got 1.0",
                "missing folder": f"image folder not found: {images}"}[case]
    assert expected in err
    assert tree(tmp_path) == before


def test_help_describes_every_flag(capsys):
    with pytest.raises(SystemExit) as exit_info:
        cli.main(["--help"])
    assert exit_info.value.code == 0
    text = capsys.readouterr().out
    for flag in ("--model", "--images", "--output_dir", "--score_threshold", "--mask_threshold",
                 "--batch_size", "extracted_map.png", "topLeftCorner.json"):
        assert flag in text
