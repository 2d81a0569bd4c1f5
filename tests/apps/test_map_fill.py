"""The extracted map's fill (``apps.map_fill``, ``--fill``): white as published, and inpainting
each figure from its surroundings on a crop around it, leaving the rest of the map untouched."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

import extract_characters_for_animation as animation_cli
from object_detection.apps import cutout, extract_folder, map_fill
from object_detection.apps.extraction import extract_for_animation
from tests.apps.handmade import PIXEL_BOX_A, PIXEL_BOX_B, smooth_map, two_figures

WHITE = np.array(cutout.WHITE, np.uint8)


@pytest.fixture
def cv2():
    """OpenCV, which comes with the required sahi; the inpainting tests skip without it."""
    return pytest.importorskip("cv2", reason="OpenCV (cv2, installed with sahi) is absent: "
                                             "--fill inpaint cannot run")


def _background(height: int = 80, width: int = 120) -> np.ndarray:
    """uint8 [H, W, 3], nowhere white and nowhere red: a smooth green-blue gradient with a
    fine diagonal stripe, like a map's hatching."""
    y, x = np.mgrid[0:height, 0:width]
    stripe = 12 * (((x + y) // 3) % 2)
    return np.stack([30 + stripe, 90 + x // 2, 200 - y - stripe], axis=-1).astype(np.uint8)


def _disc(height: int, width: int, cx: float, cy: float, r: float) -> np.ndarray:
    y, x = np.mgrid[0:height, 0:width]
    return (x - cx) ** 2 + (y - cy) ** 2 <= r * r


def _as_crop(mask: np.ndarray) -> tuple[np.ndarray, tuple[int, int, int, int]]:
    """A bool image-sized mask as the crop over its pixel box (left, top, right, bottom)."""
    rows, cols = np.flatnonzero(mask.any(axis=1)), np.flatnonzero(mask.any(axis=0))
    box = (int(cols[0]), int(rows[0]), int(cols[-1]) + 1, int(rows[-1]) + 1)
    return cutout.crop(mask, box).copy(), box


def _square_dilation(mask: np.ndarray, pixels: int) -> np.ndarray:
    """``mask`` grown by ``pixels`` in every direction including diagonals (a superset of the
    elliptical dilation map_fill uses)."""
    grown = mask.copy()
    height, width = mask.shape
    padded = np.pad(mask, pixels)
    for dy in range(-pixels, pixels + 1):
        for dx in range(-pixels, pixels + 1):
            grown |= padded[pixels + dy:pixels + dy + height, pixels + dx:pixels + dx + width]
    return grown


def _painted_figure(image: np.ndarray, figure: np.ndarray, colour) -> np.ndarray:
    """``image`` with ``figure`` painted ``colour`` and a one-pixel dark fringe around it (the
    anti-aliased edge a mask at 0.5 leaves out)."""
    painted = image.copy()
    painted[_square_dilation(figure, 1) & ~figure] = (40, 20, 20)
    painted[figure] = colour
    return painted


def test_white_fill_is_the_published_one():
    image, found = smooth_map(), two_figures()
    boxes = found.pixel_boxes(*image.shape[:2])
    masks = [found.mask_crop(k) for k in range(len(found))]
    expected = cutout.remove_figures(image, masks, boxes)
    assert np.array_equal(map_fill.fill_figures(image, masks, boxes), expected)
    assert np.array_equal(map_fill.fill_figures(image, masks, boxes, "white"), expected)
    assert map_fill.DEFAULT_FILL == "white"


def test_extraction_writes_the_white_fill_by_default(tmp_path):
    image, found = smooth_map(), two_figures()
    extract_for_animation(image, found, str(tmp_path / "default"))
    extract_for_animation(image, found, str(tmp_path / "white"), fill="white")
    boxes = found.pixel_boxes(*image.shape[:2])
    expected = cutout.remove_figures(image, [found.mask_crop(k) for k in range(len(found))], boxes)
    for name in ("default", "white"):
        written = np.asarray(Image.open(tmp_path / name / "extracted_map.png"))
        assert np.array_equal(written, expected), name


def test_an_unknown_fill_is_refused_before_anything_is_written(tmp_path):
    with pytest.raises(ValueError, match="fill must be one of white, inpaint, got 'black'"):
        extract_for_animation(smooth_map(), two_figures(), str(tmp_path / "out"), fill="black")
    assert not (tmp_path / "out").exists()
    with pytest.raises(ValueError, match="fill must be one of"):
        map_fill.fill_figures(smooth_map(), [], [], "inpaint ")


def test_inpaint_leaves_no_white_where_the_figure_was_and_the_rest_untouched(cv2):
    background = _background()
    figure = _disc(*background.shape[:2], cx=50, cy=40, r=14)
    image = _painted_figure(background, figure, cutout.WHITE)
    mask, box = _as_crop(figure)
    result = map_fill.fill_figures(image, [mask], [box], "inpaint")
    assert result.shape == image.shape and result.dtype == np.uint8
    assert not np.all(result == WHITE, axis=-1).any()
    # The hole is filled from the background around it (no white, no fringe colour).
    difference = np.abs(result.astype(int) - background.astype(int))[figure]
    assert difference.mean() < 12 and difference.max() < 60
    # Outside the figure's grown mask the map is bit-identical.
    region = _square_dilation(figure, map_fill.HOLE_DILATION)
    assert np.array_equal(result[~region], image[~region])
    # The fringe inside the grown mask went too.
    fringe = _square_dilation(figure, 1) & ~figure
    assert not np.all(result[fringe] == (40, 20, 20), axis=-1).any()


def test_inpaint_takes_no_colour_from_an_overlapping_figure(cv2):
    background = _background()
    height, width = background.shape[:2]
    first = _disc(height, width, cx=40, cy=40, r=12)
    second = _disc(height, width, cx=58, cy=40, r=12)
    image = _painted_figure(background, first, cutout.WHITE)
    image = _painted_figure(image, second & ~first, (255, 0, 0))
    crops = [_as_crop(first), _as_crop(second)]
    for order in (crops, crops[::-1]):
        result = map_fill.inpaint_figures(image, [m for m, _ in order], [b for _, b in order])
        union = first | second
        assert not np.all(result == WHITE, axis=-1).any()
        red = (result[..., 0] > 150) & (result[..., 1] < 80)
        assert not red.any(), "the red figure was used as a source"
        region = _square_dilation(union, map_fill.HOLE_DILATION)
        assert np.array_equal(result[~region], image[~region])
        if order is crops:
            first_result = result
        else:
            assert np.array_equal(result, first_result), "the result depends on the order"


def test_a_crop_inpaints_as_the_whole_map_would(cv2):
    """One crop per group of touching figures (here an overlapping pair and one alone) gives
    what cv2.inpaint of the whole map with every grown mask gives."""
    background = _background(120, 200)
    figures = [_disc(120, 200, cx=50, cy=60, r=10), _disc(120, 200, cx=66, cy=56, r=9),
               _disc(120, 200, cx=150, cy=70, r=12)]
    image = background
    for figure in figures:
        image = _painted_figure(image, figure, cutout.WHITE)
    crops = [_as_crop(figure) for figure in figures]
    result = map_fill.inpaint_figures(image, [m for m, _ in crops], [b for _, b in crops])
    kernel = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * map_fill.HOLE_DILATION + 1,) * 2)
    hole = cv2.dilate(np.any(figures, axis=0).astype(np.uint8), kernel)
    whole = cv2.inpaint(image, hole, map_fill.INPAINT_RADIUS, cv2.INPAINT_TELEA)
    assert np.array_equal(result, whole)


def test_inpaint_at_the_map_edge_and_of_a_map_covered_by_figures(cv2, caplog):
    background = _background(40, 60)
    corner = np.zeros((40, 60), bool)
    corner[:10, :12] = True
    image = _painted_figure(background, corner, cutout.WHITE)
    result = map_fill.inpaint_figures(image, [np.ones((10, 12), bool)], [(0, 0, 12, 10)])
    assert not np.all(result == WHITE, axis=-1).any()
    assert np.array_equal(result[14:, 16:], image[14:, 16:])
    # Nothing to inpaint from: white, with a warning.
    everything = map_fill.inpaint_figures(background, [np.ones((40, 60), bool)], [(0, 0, 60, 40)])
    assert np.all(everything == WHITE)
    assert "no map pixel around them" in caplog.text


def test_inpaint_with_no_figures_or_empty_masks_is_the_map(cv2):
    image = _background()
    assert np.array_equal(map_fill.inpaint_figures(image, [], []), image)
    empty = np.zeros((5, 5), bool)
    assert np.array_equal(map_fill.inpaint_figures(image, [empty], [(3, 3, 8, 8)]), image)


def test_inpaint_refuses_bad_settings(cv2):
    image, mask, box = _background(), np.ones((4, 4), bool), (1, 1, 5, 5)
    with pytest.raises(ValueError, match="method must be one of telea, ns"):
        map_fill.inpaint_figures(image, [mask], [box], method="biharmonic")
    with pytest.raises(ValueError, match="dilation must be"):
        map_fill.inpaint_figures(image, [mask], [box], dilation=-1)
    with pytest.raises(ValueError, match="mask crop is"):
        map_fill.inpaint_figures(image, [np.ones((3, 4), bool)], [box])
    ns = map_fill.inpaint_figures(image, [mask], [box], method="ns")
    assert np.array_equal(ns[8:], image[8:])


def test_inpaint_without_opencv_says_what_is_missing(monkeypatch):
    monkeypatch.setitem(sys.modules, "cv2", None)  # import cv2 then raises ImportError
    with pytest.raises(ImportError, match="--fill inpaint needs OpenCV"):
        map_fill.fill_figures(_background(), [np.ones((4, 4), bool)], [(1, 1, 5, 5)], "inpaint")
    # The white fill needs nothing.
    map_fill.fill_figures(_background(), [np.ones((4, 4), bool)], [(1, 1, 5, 5)], "white")


def test_an_extraction_without_opencv_stops_before_writing(monkeypatch, tmp_path):
    monkeypatch.setitem(sys.modules, "cv2", None)
    with pytest.raises(ImportError, match="--fill inpaint needs OpenCV"):
        extract_for_animation(smooth_map(), two_figures(), str(tmp_path / "out"), fill="inpaint")
    assert not (tmp_path / "out").exists()


def test_extraction_with_inpaint_writes_no_white_hole(cv2, tmp_path):
    image, found = smooth_map(), two_figures()
    summary = extract_for_animation(image, found, str(tmp_path), fill="inpaint")
    assert summary.figures == 2
    written = np.asarray(Image.open(tmp_path / "extracted_map.png"))
    assert not np.all(written == WHITE, axis=-1).any()
    changed = np.any(written != image, axis=-1)
    region = np.zeros(changed.shape, bool)
    for k, (left, top, right, bottom) in enumerate((PIXEL_BOX_A, PIXEL_BOX_B)):
        mask = np.zeros(changed.shape, bool)
        mask[top:bottom, left:right] = found.mask_crop(k)
        region |= _square_dilation(mask, map_fill.HOLE_DILATION)
    assert changed.any() and not (changed & ~region).any()
    # The figures themselves are cut out as before.
    with Image.open(tmp_path / "char0" / "image.png") as figure:
        assert figure.mode == "RGBA"


def test_the_fill_flag_is_parsed():
    base = ["--model", "m", "--images", "i", "--output_dir", "o"]
    assert animation_cli.build_parser().parse_args(base).fill == "white"
    assert animation_cli.build_parser().parse_args(base + ["--fill", "inpaint"]).fill == "inpaint"
    with pytest.raises(SystemExit) as exit_info:
        animation_cli.build_parser().parse_args(base + ["--fill", "black"])
    assert exit_info.value.code == 2


class _FakeModel:
    """``detect_folder`` of an exported model, yielding the hand-made detections per image."""

    def detect_folder(self, images_dir, batch_size, *, score_threshold, report, tiles,
                      show_progress):
        del batch_size, score_threshold, report, tiles, show_progress
        for path in sorted(Path(images_dir).iterdir()):
            yield path, np.asarray(Image.open(path).convert("RGB")), two_figures()


def test_the_folder_run_passes_the_fill_on(cv2, tmp_path):
    images = tmp_path / "maps"
    images.mkdir()
    Image.fromarray(smooth_map()).save(images / "one.png")
    for fill in ("white", "inpaint"):
        out = tmp_path / fill
        summary = extract_folder.extract_folder_for_animation(_FakeModel(), images, out, fill=fill)
        assert summary.maps
        written = np.asarray(Image.open(out / "one" / "extracted_map.png"))
        assert np.all(written == WHITE, axis=-1).any() == (fill == "white")
    with pytest.raises(ValueError, match="fill must be one of"):
        extract_folder.extract_folder_for_animation(_FakeModel(), images, tmp_path / "x",
                                                    fill="grey")


def test_the_command_line_passes_the_fill_on(tmp_path, monkeypatch):
    from object_detection.export import inference

    images = tmp_path / "maps"
    images.mkdir()
    Image.fromarray(smooth_map()).save(images / "one.png")
    calls = []
    real = extract_folder.extract_folder_for_animation

    def recording(*args, **kwargs):
        calls.append(kwargs.get("fill"))
        return real(*args, **kwargs)

    monkeypatch.setattr(inference, "load_model", lambda path: _FakeModel())
    monkeypatch.setattr(extract_folder, "extract_folder_for_animation", recording)
    code = animation_cli.main(["--model", str(tmp_path), "--images", str(images),
                               "--output_dir", str(tmp_path / "out"), "--fill", "inpaint"])
    assert code == 0 and calls == ["inpaint"]
    written = np.asarray(Image.open(tmp_path / "out" / "one" / "extracted_map.png"))
    assert not np.all(written == WHITE, axis=-1).any()

