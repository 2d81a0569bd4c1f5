"""extract_characters_for_training.py end to end on the tiny exported model and a figure folder
of two maps: the matched detections' crops, body-part masks and keypoints, numbered on from one
map to the next, worked out independently from the detections; what it prints; one-sentence
errors with exit status 1 that write nothing."""

from __future__ import annotations

import json

import numpy as np
import pytest
from PIL import Image

import extract_characters_for_training as cli
from object_detection.dataset_tools import figure_folder
from tests.cli.conftest import error_line, read_rgb, tree
from tests.export.conftest import sample_image

THRESHOLD = 0.2
BACKGROUND = figure_folder.BACKGROUND_BODY_PART


def _figure_map(height: int, width: int, figures: list[tuple[slice, slice, int]],
                keypoints: list[dict], seed: int) -> figure_folder.FigureMap:
    """A map whose figure k + 1 covers the rows and columns of ``figures[k]``, all of it the
    given body part."""
    instances = np.zeros((height, width), np.uint8)
    body_parts = np.full((height, width), BACKGROUND, np.uint8)
    for index, (rows, columns, part) in enumerate(figures, start=1):
        instances[rows, columns] = index
        body_parts[rows, columns] = part
    return figure_folder.FigureMap(sample_image(seed, height, width), instances, body_parts,
                                   keypoints)


def _write_folder(data) -> dict[str, figure_folder.FigureMap]:
    maps = {
        # Two figures side by side over the lower half, where the tiny model finds things.
        "map one": _figure_map(80, 100, [(slice(40, 80), slice(0, 50), 0),
                                         (slice(40, 80), slice(50, 100), 1)],
                               [{"head": (30.0, 70.0), "neck": (5.0, 5.0)},
                                {"pelvis": (55.0, 60.0)}], seed=0),
        # One figure in the lower left corner only.
        "Zürich #2": _figure_map(64, 90, [(slice(50, 64), slice(0, 30), 2)],
                                 [{"head": (25.0, 58.0)}], seed=1),
    }
    figure_folder.write_map(str(data), "map one", maps["map one"], "png")
    figure_folder.write_map(str(data), "Zürich #2", maps["Zürich #2"], "jpg")
    (data / "images" / "notes.txt").write_text("not a map", encoding="utf-8")
    Image.fromarray(sample_image(3, 20, 20)).save(data / "images" / "no mask.png")
    return maps


def _expected(model, figure_map, image: np.ndarray) -> list[tuple[tuple[int, ...], int]]:
    """(pixel box, matched 0-based figure) of every detection above THRESHOLD with a mask pixel
    in its box that shares pixels with a figure (the figure sharing the most, lowest first)."""
    detections = model.detect(image, THRESHOLD)
    height, width = image.shape[:2]
    result = []
    for box, mask in zip(detections.pixel_boxes(height, width), detections.image_masks(0.5)):
        left, top, right, bottom = (int(v) for v in box)
        if not mask[top:bottom, left:right].any():
            continue
        shared = [int(np.sum(mask & (figure_map.instances == k + 1)))
                  for k in range(len(figure_map.keypoints))]
        if max(shared) > 0:
            result.append(((left, top, right, bottom), shared.index(max(shared))))
    return result


def test_writes_matched_figures_numbered_across_maps(exported_model, model, tmp_path, capsys):
    data = tmp_path / "figure folder"
    maps = _write_folder(data)
    out = tmp_path / "training data"
    before = tree(tmp_path, exported_model, skip=out)
    code = cli.main(["--model", str(exported_model), "--data", str(data), "--output_dir",
                     str(out), "--score_threshold", str(THRESHOLD)])
    printed = capsys.readouterr().out
    assert code == 0, printed
    assert tree(tmp_path, exported_model, skip=out) == before

    index, written = 0, {}
    for stem, name in (("Zürich #2", "Zürich #2.jpg"), ("map one", "map one.png")):  # name order
        figure_map = maps[stem]
        image = read_rgb(data / "images" / name)
        expected = _expected(model, figure_map, image)
        assert expected, f"{name}: the tiny model should find a figure"
        first = index
        for (left, top, right, bottom), figure in expected:
            written[index] = (image, figure_map, (left, top, right, bottom), figure)
            index += 1
        assert f"{name}: {len(expected)} figure(s), files {first}..{index - 1}" in printed

    names = {f"{i}.jpg" for i in written}
    assert {p.name for p in (out / "images_with_background").iterdir()} == names
    assert {p.name for p in (out / "images_with_some_background").iterdir()} == names
    assert {p.name for p in (out / "masks").iterdir()} == {f"{i}.png" for i in written}
    assert {p.name for p in (out / "keypoints").iterdir()} == {f"{i}.json" for i in written}
    kept = 0
    for i, (image, figure_map, (left, top, right, bottom), figure) in written.items():
        with Image.open(out / "images_with_background" / f"{i}.jpg") as crop:
            assert crop.size == (right - left, bottom - top)
        labels = np.where(figure_map.instances == figure + 1, figure_map.body_parts, BACKGROUND)
        with Image.open(out / "masks" / f"{i}.png") as mask:
            np.testing.assert_array_equal(np.asarray(mask), labels[top:bottom, left:right])
        moved = {key: [x - left, y - top] for key, (x, y) in figure_map.keypoints[figure].items()
                 if 0 <= x - left <= right - left and 0 <= y - top <= bottom - top}
        assert json.loads((out / "keypoints" / f"{i}.json").read_text()) == moved
        kept += len(moved)
    assert kept > 0  # some keypoints fall inside the crops

    assert "2 map(s) processed" in printed and f"{len(written)} figure(s) written" in printed
    assert f"  {data / 'images' / 'notes.txt'}: not a map image" in printed
    assert f"  {data / 'images' / 'no mask.png'}: " in printed and "mask file missing" in printed


def test_png_crops(exported_model, tmp_path, capsys):
    data = tmp_path / "data"
    _write_folder(data)
    out = tmp_path / "out"
    code = cli.main(["--model", str(exported_model), "--data", str(data), "--output_dir",
                     str(out), "--score_threshold", str(THRESHOLD), "--image_format", "png"])
    assert code == 0
    crops = sorted(p.suffix for p in (out / "images_with_background").iterdir())
    assert crops and set(crops) == {".png"}
    capsys.readouterr()


@pytest.mark.parametrize("case", ["wrong model", "not a figure folder", "no maps",
                                  "same folder"])
def test_wrong_inputs_write_nothing(exported_model, wrong_model, tmp_path, capsys, case):
    data = tmp_path / "data"
    out = tmp_path / "out"
    if case in ("wrong model", "same folder"):
        _write_folder(data)
    elif case == "not a figure folder":
        data.mkdir()
        Image.fromarray(sample_image(0, 20, 20)).save(data / "a map.png")
    else:
        (data / "images").mkdir(parents=True)
        (data / "images" / "readme.txt").write_text("x")
    if case == "same folder":
        out = data
    model = wrong_model if case == "wrong model" else exported_model
    before = tree(tmp_path)
    code = cli.main(["--model", str(model), "--data", str(data), "--output_dir", str(out)])
    err = capsys.readouterr().err
    assert code == 1, err
    err = error_line(err)
    expected = {"wrong model": f"{model}: not an exported detection model",
                "not a figure folder": f"{data}: no 'images/' folder",
                "no maps": f"{data / 'images'}: no map images",
                "same folder": "the output folder must not be the input folder"}[case]
    assert expected in err
    assert tree(tmp_path) == before


def test_help_describes_every_flag(capsys):
    with pytest.raises(SystemExit) as exit_info:
        cli.main(["--help"])
    assert exit_info.value.code == 0
    text = capsys.readouterr().out
    for flag in ("--model", "--data", "--output_dir", "--score_threshold", "--mask_threshold",
                 "--image_format", "images_with_some_background", "keypoints"):
        assert flag in text
