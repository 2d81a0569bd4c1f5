"""Bad figure folders: keypoint files, mask encodings, entries that are not maps."""

from __future__ import annotations

import os
import re

import numpy as np
import pytest
from PIL import Image

from object_detection.dataset_tools import figure_folder as ff
from object_detection.dataset_tools.conversion import convert, make_source

H, W = 16, 24


def _instances() -> np.ndarray:
    inst = np.zeros((H, W), np.uint8)
    inst[2:6, 3:9] = 1
    inst[8:14, 12:20] = 2
    return inst


def _folder(tmp_path, keypoints=None) -> str:
    folder = str(tmp_path / "maps")
    for stem in ("m0", "m1"):
        ff.write_map(folder, stem, ff.FigureMap(
            np.full((H, W, 3), 50, np.uint8), _instances(), np.zeros((H, W), np.uint8),
            [{"head": (4.0, 3.0)}, {}] if keypoints is None else keypoints))
    return folder


def _fails(earlier_output, folder, path, message):
    with pytest.raises(ValueError, match=re.escape(path) + ": " + message):
        earlier_output.convert(make_source("figure_folder", folder))
    earlier_output.assert_intact()


@pytest.mark.parametrize("text, message", [
    ("[{\"head\": [1, 2]}", r"keypoints file is not a JSON file \(Expecting"),
    ("{\"head\": [1, 2]}", r"expected a JSON list of \{keypoint name: \[x, y\]\} objects"),
    ("[[1, 2]]", r"expected a JSON list of \{keypoint name: \[x, y\]\} objects"),
    ("[{\"head\": [1, 2, 3]}]", r"figure 1, keypoint 'head': expected \[x, y\], got \[1, 2, 3\]"),
    ("[{}, {\"neck\": 4}]", r"figure 2, keypoint 'neck': expected \[x, y\], got 4"),
    ("[{\"head\": [\"1\", 2]}]", r"figure 1, keypoint 'head': \[x, y\] must hold finite "
                                 r"numbers, got '1'"),
    ("[{\"head\": [NaN, 2]}]", r"figure 1, keypoint 'head': \[x, y\] must hold finite numbers, "
                               r"got nan"),
])
def test_malformed_keypoint_files(tmp_path, earlier_output, text, message):
    folder = _folder(tmp_path)
    path = ff.keypoints_path(folder, "m1")
    with open(path, "w", encoding="utf-8") as f:
        f.write(text)
    _fails(earlier_output, folder, path, message)


def test_keypoint_file_that_is_not_utf8(tmp_path, earlier_output):
    folder = _folder(tmp_path)
    path = ff.keypoints_path(folder, "m1")
    with open(path, "wb") as f:
        f.write(b"[{\"h\xe9ad\": [1, 2]}]")
    _fails(earlier_output, folder, path, r"keypoints file is not a JSON file \('utf-8' codec")


def test_instance_ids_beyond_the_keypoint_list_keep_their_mask_without_keypoints(tmp_path):
    folder = _folder(tmp_path, keypoints=[{"head": (4.0, 3.0)}])   # 1 entry, 2 instances
    images = list(make_source("figure_folder", folder))
    first = images[0]
    assert first.num_instances == 2
    head = ff.KEYPOINT_NAMES.index("head")
    assert first.keypoint_visibilities[:, head].tolist() == [2, 0]
    assert first.keypoint_visibilities[1].sum() == 0
    np.testing.assert_allclose(first.keypoints[0, head], (3.0 / H, 4.0 / W))
    np.testing.assert_allclose(first.boxes[1], (8 / H, 12 / W, 14 / H, 20 / W))


def _save_mask(folder, stem, image: Image.Image) -> None:
    image.save(ff.mask_path(folder, stem))


def test_palette_and_grayscale_masks_are_read_by_their_colours(tmp_path):
    folder = _folder(tmp_path)
    palette = Image.fromarray(_instances(), "P")
    palette.putpalette([0, 0, 0, 1, 7, 0, 2, 9, 0] + [0] * 759)   # index k -> red k
    _save_mask(folder, "m0", palette)
    _save_mask(folder, "m1", Image.fromarray(_instances(), "L"))
    for image in make_source("figure_folder", folder):
        assert image.num_instances == 2
        np.testing.assert_array_equal(image.masks, [_instances() == 1, _instances() == 2])


@pytest.mark.parametrize("mode, problem", [("1", r"a 1-bit image \(instance indices need 8 "
                                                 r"bits\) \(mode 1\)"),
                                           ("I;16", r"a 16-bit image \(mode I;16\)")])
def test_masks_whose_values_are_not_8_bit_indices(tmp_path, earlier_output, mode, problem):
    folder = _folder(tmp_path)
    values = _instances() > 0 if mode == "1" else _instances().astype(np.uint16) * 257
    _save_mask(folder, "m1", Image.fromarray(values, mode if mode == "1" else None))
    _fails(earlier_output, folder, ff.mask_path(folder, "m1"),
           r"mask is " + problem + "; expected an 8-bit RGB PNG")


def test_mask_of_another_size_names_mask_image_and_both_sizes(tmp_path, earlier_output):
    folder = _folder(tmp_path)
    _save_mask(folder, "m1", Image.fromarray(np.zeros((H, W + 2, 3), np.uint8)))
    image = os.path.join(folder, "images", "m1.png")
    _fails(earlier_output, folder, ff.mask_path(folder, "m1"),
           r"mask is 26x16 pixels \(width x height\) but its image " + re.escape(image)
           + " is 24x16")


def test_entries_that_are_not_maps_and_masks_without_images_are_counted(tmp_path):
    folder = _folder(tmp_path)
    images_dir = os.path.join(folder, "images")
    with open(os.path.join(images_dir, "notes.txt"), "w") as f:
        f.write("drawn by hand")
    os.mkdir(os.path.join(images_dir, "old.png"))        # a folder, despite its name
    with open(os.path.join(images_dir, ".DS_Store"), "wb") as f:
        f.write(b"\0")                                   # hidden: ignored
    _save_mask(folder, "lost", Image.fromarray(_instances()))
    source = make_source("figure_folder", folder)
    stats = convert(source, str(tmp_path / "rec"), 1)
    assert (stats.images_read, stats.images_written, stats.images_skipped) == (2, 2, 3)
    assert stats.skip_reasons == {"not a map image": 2, "annotation without an image": 1}
    assert "skipped (not a map image): 2" in stats.summary()
    with pytest.raises(ValueError, match=re.escape(os.path.join(images_dir, "notes.txt"))
                       + r": extension not one of .jpg, .*: not a map image \(strict"):
        convert(make_source("figure_folder", folder, strict=True), str(tmp_path / "rec"), 1)


def test_broken_symlink_in_images_names_its_target(tmp_path, earlier_output):
    folder = _folder(tmp_path)
    link = os.path.join(folder, "images", "m1.png")
    os.remove(link)
    os.symlink(str(tmp_path / "gone.png"), link)
    with pytest.raises(FileNotFoundError, match=re.escape(link) + r": image file not found "
                       r"\(broken symlink to " + re.escape(str(tmp_path / "gone.png"))):
        earlier_output.convert(make_source("figure_folder", folder))
    earlier_output.assert_intact()
