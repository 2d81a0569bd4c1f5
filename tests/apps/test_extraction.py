"""Extraction for animation and for training: files, crops, paddings, corners, matching."""

from __future__ import annotations

import errno
import json
import os

import numpy as np
import pytest
from PIL import Image

from object_detection.dataset_tools.figure_folder import FigureMap
from object_detection.core.detections import ImageDetections
from object_detection.apps.extraction import extract_for_animation, extract_for_training
from object_detection.apps.outputs import OutputFolder
from tests.apps.handmade import (BOX_A, BOX_B, HEIGHT, PIXEL_BOX_A, PIXEL_BOX_B, WIDTH,
                                    detections, mask_a, mask_b, smooth_map, two_figures)

ODD_NAME = "Karte Zürich 地図 #1 (copy)"


def _read(path):
    return np.asarray(Image.open(path))


def _json(path):
    with open(path, encoding="utf-8") as f:
        return json.load(f)


def _tree(root):
    return sorted(os.path.relpath(os.path.join(d, f), root)
                  for d, _, files in os.walk(root) for f in files)


def _with_empty_between():
    """A, an empty-mask detection, B: the empty one is skipped, B becomes char1."""
    empty = np.full((HEIGHT, WIDTH), 0.1, np.float32)
    return detections([BOX_A, [0.1, 0.1, 0.2, 0.2], BOX_B], [mask_a(), empty, mask_b()])


def test_animation_layout_and_contents(tmp_path):
    image = smooth_map()
    out = tmp_path / ODD_NAME
    summary = extract_for_animation(image, _with_empty_between(), str(out))
    assert (summary.figures, summary.skipped_empty) == (2, 1)
    assert _tree(out) == ["char0/image.png", "char0/padding.json", "char0/topLeftCorner.json",
                          "char1/image.png", "char1/padding.json", "char1/topLeftCorner.json",
                          "config.json", "extracted_map.png"]
    assert sorted(summary.files) == sorted(str(out / p) for p in _tree(out))
    assert _json(out / "config.json") == {"numberOfCharacters": 2, "width": WIDTH, "height": HEIGHT}
    # A: 16 x 20 crop at (7, 10) -> square 20, round(4 / 2) = 2 columns on the left
    assert _json(out / "char0/topLeftCorner.json") == [7, 10]
    assert _json(out / "char0/padding.json") == [2, 0]
    # B: 27 x 15 crop at (30, 20) -> square 27, round(12 / 2) = 6 rows on top
    assert _json(out / "char1/topLeftCorner.json") == [30, 20]
    assert _json(out / "char1/padding.json") == [0, 6]
    masks = np.stack(list(two_figures().image_masks()))
    for k, (box, (dx, dy), side) in enumerate([(PIXEL_BOX_A, (2, 0), 20), (PIXEL_BOX_B, (0, 6), 27)]):
        figure = Image.open(out / f"char{k}/image.png")
        assert figure.mode == "RGBA" and figure.size == (side, side)
        pixels = np.asarray(figure)
        expected = np.zeros((side, side, 4), np.uint8)
        left, top, right, bottom = box
        inside = masks[k][top:bottom, left:right]
        window = expected[dy:dy + bottom - top, dx:dx + right - left]
        window[inside, :3] = image[top:bottom, left:right][inside]
        window[inside, 3] = 255
        np.testing.assert_array_equal(pixels, expected)
    extracted = _read(out / "extracted_map.png")
    removed = masks[0] | masks[1]
    assert np.all(extracted[removed] == 255)                       # white holes, as published
    np.testing.assert_array_equal(extracted[~removed], image[~removed])


def test_animation_without_detections_writes_the_map_and_zero_characters(tmp_path):
    empty = detections([], [])
    summary = extract_for_animation(smooth_map(), empty, str(tmp_path / "m"))
    assert summary.figures == 0 and _tree(tmp_path / "m") == ["config.json", "extracted_map.png"]
    np.testing.assert_array_equal(_read(tmp_path / "m/extracted_map.png"), smooth_map())
    assert _json(tmp_path / "m/config.json")["numberOfCharacters"] == 0


def test_animation_rerun_removes_stale_figures_only(tmp_path):
    out = tmp_path / "m"
    extract_for_animation(smooth_map(), two_figures(), str(out))
    (out / "notes.txt").write_text("mine")
    extract_for_animation(smooth_map(), two_figures().select([1]), str(out))
    assert _tree(out) == ["char0/image.png", "char0/padding.json", "char0/topLeftCorner.json",
                          "config.json", "extracted_map.png", "notes.txt"]
    assert _json(out / "char0/topLeftCorner.json") == [30, 20]


def test_animation_rerun_interrupted_leaves_the_map_folder_without_config(tmp_path,
                                                                         monkeypatch):
    """config.json is removed first and written last: a run that fails part-way leaves a map
    folder marked incomplete (no config.json), never an old config over new figures."""
    out = tmp_path / "m"
    first = extract_for_animation(smooth_map(), two_figures(), str(out))
    assert first.files[-1] == str(out / "config.json")
    original, calls = OutputFolder.write_image, []

    def full_disk_at_the_second_image(self, relative, pixels):
        calls.append(relative)
        if len(calls) == 2:
            raise OSError(errno.ENOSPC, "No space left on device", relative)
        return original(self, relative, pixels)

    monkeypatch.setattr(OutputFolder, "write_image", full_disk_at_the_second_image)
    with pytest.raises(OSError, match="No space left"):
        extract_for_animation(smooth_map(), two_figures().select([1]), str(out))
    assert not (out / "config.json").exists()
    assert not [name for name in os.listdir(out) if name.startswith(".")]
    monkeypatch.undo()
    extract_for_animation(smooth_map(), two_figures().select([1]), str(out))
    assert _json(out / "config.json")["numberOfCharacters"] == 1
    assert _tree(out) == ["char0/image.png", "char0/padding.json", "char0/topLeftCorner.json",
                          "config.json", "extracted_map.png"]


def test_animation_bad_inputs(tmp_path):
    with pytest.raises(ValueError, match="masks are of a 60x40 image .* image is 61x40"):
        extract_for_animation(np.zeros((HEIGHT, WIDTH + 1, 3), np.uint8), two_figures(), str(tmp_path))
    no_masks = ImageDetections([BOX_A], [0.9], [1])
    with pytest.raises(ValueError, match="no masks"):
        extract_for_animation(smooth_map(), no_masks, str(tmp_path))
    with pytest.raises(ValueError, match="uint8"):
        extract_for_animation(smooth_map()[..., 0], two_figures(), str(tmp_path))
    assert os.listdir(tmp_path) == []


def _figure_map():
    """Figure 1 under A's mask (rows 11..28, columns 9..20; head rows 11..15, torso below),
    figure 2 under B's mask (rows 22..33, columns 33..50, all 'right_foot' = 7), figure 3 at the
    bottom left; keypoints for 1 and 2."""
    instances = np.zeros((HEIGHT, WIDTH), np.uint8)
    body_parts = np.full((HEIGHT, WIDTH), 255, np.uint8)
    instances[11:29, 9:21] = 1
    body_parts[11:16, 9:21] = 1
    body_parts[16:29, 9:21] = 0
    instances[22:34, 33:51] = 2
    body_parts[22:34, 33:51] = 7
    instances[34:40, 0:5] = 3
    body_parts[34:40, 0:5] = 0
    keypoints = [
        {"head": (12.0, 13.5), "pelvis": (15, 25), "right_ankle": (5.0, 30.0),
         "left_ankle": (23.5, 12), "left_knee": (23, 30)},
        {"right_ankle": (40.0, 30.0), "head": (35.5, 19.0)},
    ]
    return FigureMap(smooth_map(), instances, body_parts, keypoints)


def _training_detections():
    """A (figure 1), E overlapping only background (unmatched), B (figure 2), and D: box A's
    region but a mask with 2 pixels on figure 1 and 3 on figure 2 -> figure 2."""
    e_mask = np.zeros((HEIGHT, WIDTH), np.float32)
    e_mask[1:5, 50:58] = 1.0
    d_mask = np.zeros((HEIGHT, WIDTH), np.float32)
    d_mask[28, 19:21] = 1.0                             # figure 1
    d_mask[22, 22:23] = 1.0                             # background
    d_mask[22, 33:36] = 1.0                             # figure 2
    box_d = [0.5, 0.25, 0.75, 0.625]                    # pixels (15, 20, 38, 30)
    return detections([BOX_A, [0.0, 0.8, 0.15, 1.0], BOX_B, box_d],
                      [mask_a(), e_mask, mask_b(), d_mask])


def test_training_matches_crops_and_keypoints(tmp_path):
    image, figure_map = smooth_map(), _figure_map()
    out = tmp_path / ODD_NAME
    summary = extract_for_training(image, _training_detections(), figure_map, str(out),
                                   start_index=5, image_format="png")
    assert (summary.figures, summary.skipped_unmatched, summary.skipped_empty) == (3, 1, 0)
    assert summary.next_index == 8
    names = [f"{d}/{i}.{ext}" for i in (5, 6, 7)
             for d, ext in (("images_with_background", "png"), ("images_with_some_background", "png"),
                            ("masks", "png"), ("keypoints", "json"))]
    assert _tree(out) == sorted(names)
    masks = np.stack(list(_training_detections().image_masks()))
    box_d = (15, 20, 38, 30)
    for index, k, box, figure in ((5, 0, PIXEL_BOX_A, 1), (6, 2, PIXEL_BOX_B, 2), (7, 3, box_d, 2)):
        left, top, right, bottom = box
        crop = image[top:bottom, left:right]
        np.testing.assert_array_equal(_read(out / f"images_with_background/{index}.png"), crop)
        some = np.where(masks[k][top:bottom, left:right, None], crop, 255)
        np.testing.assert_array_equal(_read(out / f"images_with_some_background/{index}.png"), some)
        parts = np.where(figure_map.instances == figure, figure_map.body_parts, 255)
        np.testing.assert_array_equal(_read(out / f"masks/{index}.png"), parts[top:bottom, left:right])
    # figure 1 in A's box (7, 10): head (12, 13.5) -> (5, 3.5), pelvis -> (8, 15); right_ankle
    # (x -2) and left_ankle (x 16.5 > 16) dropped, left_knee on the far corner (16, 20) kept
    assert _json(out / "keypoints/5.json") == {"head": [5.0, 3.5], "pelvis": [8.0, 15.0],
                                               "left_knee": [16.0, 20.0]}
    # figure 2 in B's box (30, 20): (40, 30) -> (10, 10), (35.5, 19) -> y -1: dropped
    assert _json(out / "keypoints/6.json") == {"right_ankle": [10.0, 10.0]}
    # figure 2 in D's box (15, 20): (40, 30) -> (25, 10) is outside the 23-wide crop; head too
    assert _json(out / "keypoints/7.json") == {}
    body = _read(out / "masks/5.png")
    assert body[1, 5] == 1 and body[10, 5] == 0 and body[0, 0] == 255    # head, torso, none


def test_training_default_jpeg_files(tmp_path):
    summary = extract_for_training(smooth_map(), two_figures(), _figure_map(), str(tmp_path / "t"))
    assert summary.next_index == 2
    assert _tree(tmp_path / "t") == sorted(
        ["images_with_background/0.jpg", "images_with_background/1.jpg",
         "images_with_some_background/0.jpg", "images_with_some_background/1.jpg",
         "masks/0.png", "masks/1.png", "keypoints/0.json", "keypoints/1.json"])
    left, top, right, bottom = PIXEL_BOX_A
    crop = _read(tmp_path / "t/images_with_background/0.jpg").astype(int)
    assert crop.shape == (bottom - top, right - left, 3)
    assert np.abs(crop - smooth_map()[top:bottom, left:right]).mean() < 3


def test_training_without_keypoints_and_with_nothing_matched(tmp_path):
    figure_map = _figure_map()
    figure_map.keypoints = []                            # a folder without keypoints/
    summary = extract_for_training(smooth_map(), two_figures(), figure_map, str(tmp_path / "a"),
                                   image_format="png")
    assert summary.figures == 2 and _json(tmp_path / "a/keypoints/0.json") == {}
    figure_map.instances[:] = 0
    summary = extract_for_training(smooth_map(), two_figures(), figure_map, str(tmp_path / "b"))
    assert (summary.figures, summary.skipped_unmatched) == (0, 2)
    assert _tree(tmp_path / "b") == []


def test_training_bad_inputs(tmp_path):
    figure_map = _figure_map()
    with pytest.raises(ValueError, match="image_format"):
        extract_for_training(smooth_map(), two_figures(), figure_map, str(tmp_path), image_format="gif")
    with pytest.raises(ValueError, match="start_index"):
        extract_for_training(smooth_map(), two_figures(), figure_map, str(tmp_path), start_index=-1)
    figure_map.instances = figure_map.instances[:-1]
    with pytest.raises(ValueError, match="ground-truth masks"):
        extract_for_training(smooth_map(), two_figures(), figure_map, str(tmp_path))
    assert os.listdir(tmp_path) == []


def test_nothing_is_written_outside_the_output_folder(tmp_path):
    (tmp_path / "elsewhere").mkdir()
    out = tmp_path / "out"
    out.mkdir()
    os.symlink(tmp_path / "elsewhere", out / "char0")   # a trap left in the output folder
    with pytest.raises(ValueError, match="outside the output folder"):
        extract_for_animation(smooth_map(), two_figures(), str(out))
    assert os.listdir(tmp_path / "elsewhere") == []
    before = set(_tree(tmp_path))
    extract_for_animation(smooth_map(), two_figures(), str(tmp_path / "ok"))
    extract_for_training(smooth_map(), two_figures(), _figure_map(), str(tmp_path / "ok2"))
    assert all(p.startswith(("ok/", "ok2/")) for p in set(_tree(tmp_path)) - before)
