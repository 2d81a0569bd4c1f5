"""Bad input: named errors, or counted skips (errors when strict)."""

from __future__ import annotations

import json
import os
import shutil

import numpy as np
import pytest
from PIL import Image

from object_detection.dataset_tools import figure_folder as ff
from object_detection.dataset_tools.conversion import convert, make_source

H, W = 32, 48


def _folder(root, keypoints=None, instances=None) -> str:
    inst = np.zeros((H, W), np.uint8)
    inst[2:8, 2:8] = 1
    inst[10:20, 30:40] = 2
    inst = inst if instances is None else instances
    kps = [{"head": (4.0, 4.0)}, {}] if keypoints is None else keypoints
    folder = str(root / "maps")
    for stem in ("m0", "m1"):
        ff.write_map(folder, stem, ff.FigureMap(np.zeros((H, W, 3), np.uint8), inst,
                                                np.zeros((H, W), np.uint8), kps))
    return folder


def _convert(folder, tmp_path, strict=False):
    return convert(make_source("figure_folder", folder, strict=strict), str(tmp_path / "rec"), 1)


def test_corrupt_image_names_the_file(tmp_path):
    folder = _folder(tmp_path)
    with open(os.path.join(folder, "images", "m1.png"), "wb") as f:
        f.write(b"\x89PNG\r\n\x1a\n not really a png")
    with pytest.raises(ValueError, match=r"images/m1.png: not a readable image"):
        _convert(folder, tmp_path)


def test_truncated_jpeg_names_the_file(tmp_path):
    folder = _folder(tmp_path)
    path = os.path.join(folder, "images", "m1.jpg")
    os.remove(os.path.join(folder, "images", "m1.png"))
    Image.fromarray(np.random.default_rng(0).integers(0, 256, (H, W, 3), dtype=np.uint8)).save(path)
    data = open(path, "rb").read()
    open(path, "wb").write(data[: len(data) // 2])
    with pytest.raises(ValueError, match=r"images/m1.jpg: not a readable image"):
        _convert(folder, tmp_path)


def test_mask_of_the_wrong_size(tmp_path):
    folder = _folder(tmp_path)
    Image.fromarray(np.zeros((H - 2, W, 3), np.uint8)).save(ff.mask_path(folder, "m1"))
    with pytest.raises(ValueError, match=r"masks/m1.png: mask is 48x30 pixels .* image \S*images/m1.png is 48x32"):
        _convert(folder, tmp_path)


def test_instances_without_pixels_are_skipped_or_strict_errors(tmp_path):
    inst = np.zeros((H, W), np.uint8)
    inst[2:8, 2:8] = 1
    inst[10:20, 30:40] = 3          # no pixels of figure 2; figure 4 only has keypoints
    folder = _folder(tmp_path, keypoints=[{}, {"head": (1.0, 1.0)}, {}, {"neck": (2.0, 2.0)}],
                     instances=inst)
    stats = _convert(folder, tmp_path)
    assert (stats.instances_read, stats.instances_written, stats.instances_skipped) == (8, 4, 4)
    assert stats.skip_reasons == {"empty instance (no pixels)": 4}
    assert "skipped (empty instance (no pixels)): 4" in stats.summary()
    with pytest.raises(ValueError, match=r"masks/m0.png: figure 2: empty instance \(no pixels\)"):
        _convert(folder, tmp_path, strict=True)


def test_missing_mask_and_keypoints_files(tmp_path):
    folder = _folder(tmp_path)
    os.remove(ff.keypoints_path(folder, "m1"))
    with pytest.raises(FileNotFoundError, match=r"keypoints/m1.json: keypoints file missing for image m1.png"):
        _convert(folder, tmp_path)
    os.remove(ff.mask_path(folder, "m0"))
    with pytest.raises(FileNotFoundError, match=r"masks/m0.png: mask file missing for image m0.png"):
        _convert(folder, tmp_path)


def test_unknown_keypoint_name(tmp_path):
    folder = _folder(tmp_path, keypoints=[{"nose": (1.0, 1.0)}, {}])
    with pytest.raises(ValueError, match=r"keypoints/m0.json: figure 1: unknown keypoint name\(s\) nose"):
        _convert(folder, tmp_path)


def test_duplicate_stem_in_figure_folder(tmp_path):
    folder = _folder(tmp_path)
    shutil.copy(os.path.join(folder, "images", "m0.png"), os.path.join(folder, "images", "m0.jpg"))
    with pytest.raises(ValueError, match=r"duplicate file name 'm0': m0.jpg and m0.png"):
        _convert(folder, tmp_path)


def _coco(tmp_path, annotations, images=None):
    Image.fromarray(np.zeros((H, W, 3), np.uint8)).save(tmp_path / "a.png")
    data = {"images": images or [{"id": 1, "file_name": "a.png", "height": H, "width": W}],
            "annotations": annotations, "categories": [{"id": 1, "name": "figure"}]}
    (tmp_path / "coco.json").write_text(json.dumps(data))
    return str(tmp_path / "coco.json")


def test_coco_duplicate_file_name(tmp_path):
    images = [{"id": 1, "file_name": "a.png", "height": H, "width": W},
              {"id": 2, "file_name": "a.png", "height": H, "width": W}]
    with pytest.raises(ValueError, match=r"coco.json: duplicate image file_name 'a.png'"):
        make_source("coco", _coco(tmp_path, [], images))


def test_coco_zero_size_box_and_box_beside_masks(tmp_path):
    annotations = [
        {"id": 1, "image_id": 1, "category_id": 1, "bbox": [3, 3, 0, 5], "iscrowd": 0},
        {"id": 2, "image_id": 1, "category_id": 1, "bbox": [3, 3, 4, 4], "iscrowd": 0,
         "segmentation": [[3, 3, 7, 3, 7, 7, 3, 7]]},
        {"id": 3, "image_id": 1, "category_id": 1, "bbox": [1, 1, 2, 2], "iscrowd": 0},
    ]
    stats = convert(make_source("coco", _coco(tmp_path, annotations)), str(tmp_path / "rec"), 1)
    assert stats.instances_written == 1
    assert stats.skip_reasons == {"no mask beside masked instances": 2}
    stats = convert(make_source("coco", _coco(tmp_path, annotations[:1])), str(tmp_path / "rec"), 1)
    assert stats.skip_reasons == {"zero-size box": 1} and stats.instances_written == 0
    with pytest.raises(ValueError, match=r"coco.json: annotation 1 box .*: zero-size box"):
        convert(make_source("coco", _coco(tmp_path, annotations[:1]), strict=True),
                str(tmp_path / "rec"), 1)


def test_coco_rle_of_the_wrong_size_and_wrong_declared_size(tmp_path):
    rle = {"size": [H, W + 1], "counts": [5, 10, H * (W + 1) - 15]}
    annotations = [{"id": 7, "image_id": 1, "category_id": 1, "segmentation": rle, "iscrowd": 1}]
    with pytest.raises(ValueError, match=r"annotation 7: RLE mask is 49x32 .* image is 48x32"):
        list(make_source("coco", _coco(tmp_path, annotations)))
    images = [{"id": 1, "file_name": "a.png", "height": H, "width": 50}]
    with pytest.raises(ValueError, match=r"image a.png is declared 50x32 .* the file is 48x32"):
        list(make_source("coco", _coco(tmp_path, [], images)))


def test_coco_missing_image_and_unknown_category(tmp_path):
    images = [{"id": 1, "file_name": "nothere.png", "height": H, "width": W}]
    with pytest.raises(FileNotFoundError, match="nothere.png: image file not found"):
        list(make_source("coco", _coco(tmp_path, [], images)))
    annotations = [{"id": 1, "image_id": 1, "category_id": 9, "bbox": [1, 1, 2, 2]}]
    with pytest.raises(ValueError, match="annotation 1 has category id 9, which is not in"):
        make_source("coco", _coco(tmp_path, annotations))
