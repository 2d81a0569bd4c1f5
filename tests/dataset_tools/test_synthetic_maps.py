"""The synthetic pictorial-map generator: determinism, valid maps, sprites, paste mode, CLI."""

from __future__ import annotations

import importlib.util
import json
import os
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from object_detection.dataset_tools import figure_folder as ff
from object_detection.dataset_tools import synthetic_maps as sm
from object_detection.dataset_tools.synthetic import compose, figures, palettes, sprite

_SCRIPT = Path(__file__).resolve().parents[2] / "generate_synthetic_maps.py"
_PART = {name: i for i, name in enumerate(ff.BODY_PART_NAMES)}
_BG = ff.BACKGROUND_BODY_PART


def _files(folder) -> dict[str, bytes]:
    out = {}
    for root, _, names in os.walk(folder):
        for name in names:
            path = os.path.join(root, name)
            with open(path, "rb") as f:
                out[os.path.relpath(path, folder)] = f.read()
    return out


def _read(folder, stem) -> ff.FigureMap:
    image_name = [n for s, n in ff.list_maps(str(folder)) if s == stem][0]
    return ff.read_map(str(folder), stem, image_name)


def _check_map(fm: ff.FigureMap, keypoint_tolerance: int = 0) -> int:
    """Asserts the guarantees of a map; returns how many keypoints sit on their own figure.

    A keypoint of figure k must lie inside the map and, within ``keypoint_tolerance`` px,
    on figure k or under a figure drawn later (id > k) that covers it.
    """
    h, w = fm.instances.shape
    n = len(fm.keypoints)
    counts = np.bincount(fm.instances.ravel(), minlength=n + 1)
    assert counts.size == n + 1, "instance ids above the number of keypoint entries"
    assert np.all(counts[1:] > 0), "an instance id without pixels"
    figure = fm.instances > 0
    np.testing.assert_array_equal(fm.body_parts != _BG, figure)
    assert fm.body_parts[figure].max(initial=0) < len(ff.BODY_PART_NAMES)
    on_own = 0
    for k, points in enumerate(fm.keypoints, start=1):
        assert set(points) <= set(ff.KEYPOINT_NAMES)
        for name, (x, y) in points.items():
            assert 0 <= x < w and 0 <= y < h, (k, name, x, y)
            r, c = int(np.floor(y)), int(np.floor(x))
            t = keypoint_tolerance
            window = fm.instances[max(r - t, 0):r + t + 1, max(c - t, 0):c + t + 1]
            if (window == k).any():
                on_own += 1
            else:
                assert fm.instances[r, c] > k, (k, name, x, y, fm.instances[r, c])
    return on_own


# ---------------------------------------------------------------- determinism


def test_same_seed_same_map_other_seed_or_index_other_map():
    a = sm.generate_map(3, 128, 128)
    b = sm.generate_map(3, 128, 128)
    for field in ("image", "instances", "body_parts"):
        np.testing.assert_array_equal(getattr(a, field), getattr(b, field))
    assert a.keypoints == b.keypoints
    assert not np.array_equal(a.image, sm.generate_map(4, 128, 128).image)
    assert not np.array_equal(a.image, sm.generate_map(3, 128, 128, index=1).image)


def test_folder_files_are_byte_identical_and_independent_of_num_maps(tmp_path):
    stats = sm.generate_folder(tmp_path / "a", 3, seed=7, height=96, width=128)
    sm.generate_folder(tmp_path / "b", 3, seed=7, height=96, width=128)
    sm.generate_folder(tmp_path / "c", 2, seed=7, height=96, width=128)
    sm.generate_folder(tmp_path / "d", 2, seed=8, height=96, width=128)
    a, b, c, d = (_files(tmp_path / x) for x in "abcd")
    assert sorted(a) == sorted(f"{sub}/map_{i:05d}.{ext}" for i in range(3)
                               for sub, ext in (("images", "png"), ("masks", "png"),
                                                ("keypoints", "json")))
    assert a == b
    assert all(a[name] == data for name, data in c.items())
    assert all(d[name] != a[name] for name in d if name.startswith("images/"))
    # Map i of a folder is generate_map(seed, index=i), and the stats count what was written.
    fm = sm.generate_map(7, 96, 128, index=2)
    back = _read(tmp_path / "a", "map_00002")
    np.testing.assert_array_equal(back.instances, fm.instances)
    np.testing.assert_array_equal(back.body_parts, fm.body_parts)
    np.testing.assert_array_equal(back.image, fm.image)
    assert back.keypoints == fm.keypoints  # already rounded to what the file holds
    assert _check_map(back) > 0
    written = [json.loads(a[f"keypoints/map_{i:05d}.json"]) for i in range(3)]
    assert stats.maps == 3
    assert stats.figures == sum(len(k) for k in written)
    assert stats.keypoints == sum(len(e) for k in written for e in k)
    assert stats.output_dir == os.path.abspath(tmp_path / "a")


def test_jpg_format_writes_jpg_images_and_exact_masks(tmp_path):
    sm.generate_folder(tmp_path, 1, seed=1, height=64, width=64, image_format="jpg")
    assert os.listdir(tmp_path / "images") == ["map_00000.jpg"]
    np.testing.assert_array_equal(_read(tmp_path, "map_00000").instances,
                                  sm.generate_map(1, 64, 64).instances)


# ---------------------------------------------------------------- validity


@pytest.mark.parametrize("max_occlusion", [0.5, 1.0])
def test_generated_maps_keep_their_guarantees(max_occlusion):
    low, high = 16, 0.4 * 128
    own = total = 0
    for index in range(25):
        fm, placed, canvas = sm.generate_map_details(
            11, 128, 128, index=index, max_figures=10, max_occlusion=max_occlusion)
        own += _check_map(fm)
        total += sum(len(k) for k in fm.keypoints)
        assert len(placed) == len(fm.keypoints)
        assert canvas.num_placed == len(placed) + canvas.hidden
        for k, (where, points) in enumerate(zip(placed, fm.keypoints), start=1):
            assert low <= where.size <= high
            top, left, bottom, right = where.box
            assert max(bottom - top, right - left) == where.size
            ys, xs = np.nonzero(fm.instances == k)
            assert where.visible == ys.size
            assert where.visible >= (1 - max_occlusion) * where.pixels
            # The visible mask lies inside the drawing's box, and fills it when nothing
            # covers or clips the figure (the drawn sprite is cropped tight).
            assert top <= ys.min() and ys.max() < bottom and left <= xs.min() and xs.max() < right
            inside = top >= 0 and left >= 0 and bottom <= 128 and right <= 128
            if inside:
                assert len(points) == len(ff.KEYPOINT_NAMES)
            if inside and where.visible == where.pixels:
                assert (ys.min(), xs.min(), ys.max() + 1, xs.max() + 1) == where.box
            for x, y in points.values():
                assert left <= x < right and top <= y < bottom
    assert own > 0.8 * total  # most joints are not covered by other figures
    if max_occlusion < 1:
        assert canvas.hidden == 0


def test_drawn_figures_have_every_joint_on_their_own_pixels_and_sizes_in_range():
    rng = np.random.default_rng(0)
    for _ in range(150):
        low, high = (16, 24) if rng.random() < 0.5 else (30, 200)
        fig = figures.render_figure(rng, palettes.sample_palette(rng), low, high)
        assert low <= fig.size <= high
        assert set(fig.keypoints) == set(ff.KEYPOINT_NAMES)
        mask = fig.mask
        assert mask[0].any() and mask[-1].any() and mask[:, 0].any() and mask[:, -1].any()
        for x, y in fig.keypoints.values():
            assert mask[int(np.floor(y)), int(np.floor(x))]


def test_outline_pixels_belong_to_the_part_they_outline():
    shape = figures.Shape("left_hand", (200, 10, 10), "capsule",
                          np.array([[0.0, 0.0], [10.0, 0.0]]), radius=1.25)
    fig = figures.render_shapes([shape], {n: np.zeros(2) for n in ff.KEYPOINT_NAMES},
                                scale=1.0, outline_width=1, outline=(0, 0, 0))
    # A segment 10 px long, int(2.5) | 1 = 3 px wide with round 3 x 3 caps (no corners),
    # grown by a 1 px outline: 5 x 15 px with round 5 x 5 caps (no corner pixels).
    mask = np.ones((5, 15), bool)
    mask[[0, 0, 4, 4], [0, 14, 0, 14]] = False
    fill = np.zeros((5, 15), bool)
    fill[1:4, 2:13] = True
    fill[2, 1] = fill[2, 13] = True
    np.testing.assert_array_equal(fig.mask, mask)
    np.testing.assert_array_equal(fig.labels, np.where(mask, _PART["left_hand"], _BG))
    np.testing.assert_array_equal(fig.rgb[fill], [[200, 10, 10]] * fill.sum())
    np.testing.assert_array_equal(fig.rgb[mask & ~fill], [[0, 0, 0]] * (mask & ~fill).sum())
    # The segment's first end point (a joint) lies on the centre of the left cap.
    x, y = fig.keypoints["pelvis"]
    assert (int(np.floor(y)), int(np.floor(x))) == (2, 2)


def test_bad_options_are_rejected(tmp_path):
    with pytest.raises(ValueError, match="min_size <= max_size"):
        sm.generate_map(0, 64, 64, min_size=40, max_size=20)
    with pytest.raises(ValueError, match="image_format"):
        sm.generate_folder(tmp_path, 1, 0, 64, 64, image_format="gif")
    with pytest.raises(ValueError, match="palette"):
        sm.generate_map(0, 64, 64, palette="neon")
    with pytest.raises(ValueError, match="seed"):
        sm.generate_map(-1, 64, 64)
    with pytest.raises(ValueError, match="max_figures <= 255"):
        sm.generate_map(0, 64, 64, max_figures=300)


# ---------------------------------------------------------------- occlusion and sprites


def _block(height, width, part="torso", color=(255, 0, 0), keypoints=None) -> sprite.Sprite:
    return sprite.Sprite(np.full((height, width, 3), color, np.uint8),
                         np.full((height, width), _PART[part], np.uint8), keypoints or {})


def test_canvas_occlusion_limit_and_removal_of_hidden_figures():
    background = np.zeros((20, 20, 3), np.uint8)
    strict = compose.MapCanvas(background, max_occlusion=0.5)
    strict.place(_block(4, 4), 2, 2)  # 16 px
    assert strict.fits(_block(4, 2), 2, 2)  # would hide 8 of 16: allowed
    assert not strict.fits(_block(4, 3), 2, 2)  # 12 of 16: refused
    assert not strict.fits(_block(4, 4), 30, 30)  # nowhere in the map
    loose = compose.MapCanvas(background, max_occlusion=1.0)
    loose.place(_block(3, 3, keypoints={"head": (1.5, 1.5)}), 0, 0)
    loose.place(_block(2, 2, "head", keypoints={"head": (0.5, 0.5)}), 10, 10)
    loose.place(_block(5, 5, "left_foot", (0, 0, 255), {"neck": (4.5, 1.5), "head": (0.5, 0.5)}),
                -1, -1)  # hides the first figure; its "head" falls outside the map
    fm, placed = loose.finish()
    assert loose.hidden == 1
    expected = np.zeros((20, 20), np.uint8)
    expected[10:12, 10:12] = 1
    expected[0:4, 0:4] = 2
    np.testing.assert_array_equal(fm.instances, expected)
    assert fm.body_parts[0, 0] == _PART["left_foot"] and fm.body_parts[10, 10] == _PART["head"]
    np.testing.assert_array_equal(fm.image[3, 3], [0, 0, 255])
    assert fm.keypoints == [{"head": (10.5, 10.5)}, {"neck": (3.5, 0.5)}]
    assert [p.box for p in placed] == [(10, 10, 12, 12), (-1, -1, 4, 4)]
    assert [p.pixels for p in placed] == [4, 16] and [p.visible for p in placed] == [4, 16]


def test_flip_swaps_sides_and_mirrors_keypoints():
    labels = np.array([[_PART["right_hand"], _PART["torso"], _BG]], np.uint8)
    rgb = np.array([[[1, 1, 1], [2, 2, 2], [3, 3, 3]]], np.uint8)
    fig = sprite.Sprite(rgb, labels, {"right_wrist": (0.5, 0.5), "neck": (2.0, 1.0)})
    flipped = sprite.flip_sprite(fig)
    np.testing.assert_array_equal(flipped.labels, [[_BG, _PART["torso"], _PART["left_hand"]]])
    np.testing.assert_array_equal(flipped.rgb[0, :, 0], [3, 2, 1])
    assert flipped.keypoints == {"left_wrist": (2.5, 0.5), "neck": (1.0, 1.0)}
    twice = sprite.flip_sprite(flipped)
    np.testing.assert_array_equal(twice.labels, labels)
    assert twice.keypoints == fig.keypoints


def test_scale_keeps_labels_keypoints_and_no_background_colour():
    labels = np.array([[_PART["head"], _BG], [_PART["torso"], _PART["torso"]]], np.uint8)
    rgb = np.array([[[255, 0, 0], [0, 255, 0]], [[255, 0, 0], [255, 0, 0]]], np.uint8)
    fig = sprite.Sprite(rgb, labels, {"head": (0.5, 0.5), "pelvis": (2.0, 2.0)})
    big = sprite.scale_sprite(fig, 6, 6)
    np.testing.assert_array_equal(big.labels, np.kron(labels, np.ones((3, 3), np.uint8)))
    assert big.keypoints == {"head": (1.5, 1.5), "pelvis": (6.0, 6.0)}
    assert np.all(big.rgb[big.mask][:, 1] == 0)  # the green background never bleeds in


# ---------------------------------------------------------------- paste mode


def test_paste_transforms_one_known_figure_exactly(tmp_path):
    source = str(tmp_path / "source")
    instances = np.zeros((20, 30), np.uint8)
    instances[5:11, 8:12] = 1  # a 6 x 4 figure: right hand on its left column
    parts = np.full((20, 30), _BG, np.uint8)
    parts[5:11, 8:12] = _PART["torso"]
    parts[5:11, 8] = _PART["right_hand"]
    image = np.zeros((20, 30, 3), np.uint8)
    image[5:11, 8:12] = (250, 120, 0)
    ff.write_map(source, "m", ff.FigureMap(image, instances, parts,
                                           [{"right_wrist": (8.5, 6.0), "pelvis": (10.0, 10.5)}]))
    stats = sm.paste_figures(source, str(tmp_path / "out"), 2, seed=5, height=32, width=32,
                             min_figures=1, max_figures=1, min_size=4, max_size=12,
                             scale_range=(1.0, 1.0), flip_probability=1.0, plain_probability=1.0,
                             edge_probability=0.0)
    assert stats.maps == 2 and stats.figures == 2
    for stem in ("map_00000", "map_00001"):
        out = _read(tmp_path / "out", stem)
        ys, xs = np.nonzero(out.instances)
        top, left = ys.min(), xs.min()
        assert (ys.max() - top + 1, xs.max() - left + 1, ys.size) == (6, 4, 24)
        assert np.all(out.body_parts[top:top + 6, left + 3] == _PART["left_hand"])
        assert np.all(out.body_parts[top:top + 6, left:left + 3] == _PART["torso"])
        np.testing.assert_array_equal(out.image[top:top + 6, left:left + 4].reshape(-1, 3),
                                      [[250, 120, 0]] * 24)
        background = out.image[out.instances == 0]
        assert np.all(background == background[0])  # a plain background
        assert out.keypoints == [{"left_wrist": (left + 4 - 0.5, top + 1.0),
                                  "pelvis": (left + 4 - 2.0, top + 5.5)}]


def test_paste_from_generated_folder_gives_valid_maps_deterministically(tmp_path):
    sm.generate_folder(tmp_path / "src", 3, seed=2, height=128, width=128, max_occlusion=0.0,
                       edge_probability=0.0)
    kwargs = dict(height=128, width=128, max_figures=5, max_occlusion=0.0)
    stats = sm.paste_figures(str(tmp_path / "src"), str(tmp_path / "a"), 4, 9, **kwargs)
    sm.paste_figures(str(tmp_path / "src"), str(tmp_path / "b"), 4, 9, **kwargs)
    assert _files(tmp_path / "a") == _files(tmp_path / "b")
    assert stats.maps == 4 and stats.figures > 0
    for i in range(4):
        fm = _read(tmp_path / "a", f"map_{i:05d}")
        # No occlusion in source or output: every joint is on (within 2 px of, after
        # nearest-neighbour scaling) its own figure.
        assert _check_map(fm, keypoint_tolerance=2) == sum(len(k) for k in fm.keypoints)
        for k in range(1, len(fm.keypoints) + 1):
            ys, xs = np.nonzero(fm.instances == k)
            size = max(ys.max() - ys.min(), xs.max() - xs.min()) + 1
            assert 16 <= size <= 0.4 * 128


def test_paste_onto_given_backgrounds_skips_unreadable_ones(tmp_path, caplog):
    sm.generate_folder(tmp_path / "src", 1, seed=4, height=64, width=64)
    backgrounds = tmp_path / "backgrounds"
    backgrounds.mkdir()
    Image.new("RGB", (50, 40), (10, 200, 30)).save(backgrounds / "green.png")
    (backgrounds / "broken.jpg").write_bytes(b"not an image")
    stats = sm.paste_figures(str(tmp_path / "src"), str(tmp_path / "out"), 6, 0,
                             backgrounds_dir=str(backgrounds), height=64, width=64,
                             min_size=8, max_size=24)
    assert stats.skipped == {"unreadable background image": 1}
    assert "broken.jpg" in caplog.text
    for i in range(6):
        fm = _read(tmp_path / "out", f"map_{i:05d}")
        _check_map(fm, keypoint_tolerance=2)
        np.testing.assert_array_equal(np.unique(fm.image[fm.instances == 0], axis=0),
                                      [[10, 200, 30]])


def test_paste_skips_source_maps_without_a_readable_mask(tmp_path, caplog):
    sm.generate_folder(tmp_path / "src", 1, seed=4, height=64, width=64)
    Image.new("RGB", (64, 64)).save(tmp_path / "src" / "images" / "orphan.png")
    stats = sm.paste_figures(str(tmp_path / "src"), str(tmp_path / "out"), 2, 0, height=64,
                             width=64, min_size=8, max_size=24)
    assert stats.skipped == {"source map without a readable mask": 1}
    assert "orphan.png" in caplog.text
    assert stats.maps == 2


def test_paste_errors_name_the_folder(tmp_path):
    with pytest.raises(FileNotFoundError, match="nowhere"):
        sm.paste_figures(str(tmp_path / "nowhere"), str(tmp_path / "out"), 1, 0)
    empty = str(tmp_path / "empty")
    ff.write_map(empty, "m", ff.FigureMap(np.zeros((8, 8, 3), np.uint8),
                                          np.zeros((8, 8), np.uint8),
                                          np.full((8, 8), _BG, np.uint8), []))
    with pytest.raises(ValueError, match="no figures found"):
        sm.paste_figures(empty, str(tmp_path / "out"), 1, 0)


# ---------------------------------------------------------------- command line


def _cli():
    spec = importlib.util.spec_from_file_location("generate_synthetic_maps", _SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_cli_writes_maps_and_says_where(tmp_path, capsys):
    cli = _cli()
    out = str(tmp_path / "maps")
    assert cli.main(["--output_dir", out, "--num_maps", "2", "--seed", "3", "--height", "64",
                     "--width", "80", "--format", "jpg"]) == 0
    text = capsys.readouterr().out
    assert "wrote 2 maps" in text and os.path.abspath(out) in text
    assert sorted(os.listdir(os.path.join(out, "images"))) == ["map_00000.jpg", "map_00001.jpg"]
    assert Image.open(os.path.join(out, "masks", "map_00001.png")).size == (80, 64)
    pasted = str(tmp_path / "pasted")
    assert cli.main(["--output_dir", pasted, "--num_maps", "1", "--height", "64", "--width",
                     "64", "--paste_from", out]) == 0
    assert "wrote 1 maps" in capsys.readouterr().out


def test_cli_help_and_bad_input(tmp_path, capsys):
    cli = _cli()
    with pytest.raises(SystemExit) as exit_info:
        cli.main(["--help"])
    assert exit_info.value.code == 0
    text = capsys.readouterr().out
    for flag in ("--output_dir", "--num_maps", "--seed", "--height", "--width", "--format",
                 "--paste_from", "--backgrounds"):
        assert flag in text
    assert cli.main(["--output_dir", str(tmp_path), "--num_maps", "1",
                     "--paste_from", str(tmp_path / "missing")]) == 2
    assert "missing" in capsys.readouterr().err
