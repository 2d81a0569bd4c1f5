"""Bad COCO input: each case an error naming the file and the annotation (earlier outputs kept),
or a counted skip."""

from __future__ import annotations

import json
import re

import numpy as np
import pytest
from PIL import Image

from object_detection.dataset_tools.coco_segmentation import mask_to_rle
from object_detection.dataset_tools.conversion import make_source

H, W = 32, 48
GOOD = {"id": 1, "image_id": 1, "category_id": 1, "iscrowd": 0,
        "segmentation": [[2, 2, 10, 2, 10, 6, 2, 6]]}


def _coco(tmp_path, bad: list | None = None, **overrides) -> str:
    """a.png with one good annotation, b.png with the ``bad`` ones; keys of the JSON replaced
    by ``overrides``."""
    for name in ("a.png", "b.png"):
        Image.fromarray(np.zeros((H, W, 3), np.uint8)).save(tmp_path / name)
    data = {"images": [{"id": 1, "file_name": "a.png", "height": H, "width": W},
                       {"id": 2, "file_name": "b.png", "height": H, "width": W}],
            "annotations": [GOOD] + [dict({"image_id": 2, "category_id": 1}, **a)
                                     if isinstance(a, dict) else a for a in bad or []],
            "categories": [{"id": 1, "name": "figure"}]}
    data.update(overrides)
    path = tmp_path / "coco.json"
    path.write_text(json.dumps(data))
    return str(path)


def _fails(earlier_output, path, message, strict=False):
    """Converting ``path`` fails with ``path: message`` and leaves the earlier outputs."""
    with pytest.raises(ValueError, match=re.escape(path) + ": " + message):
        earlier_output.convert(make_source("coco", path, strict=strict))
    earlier_output.assert_intact()


def test_uncompressed_rle_whose_runs_fall_short_is_refused(tmp_path, earlier_output):
    # pycocotools would decode these 20 pixels and leave the other 1516 uninitialised.
    rle = {"size": [H, W], "counts": [5, 10, 5]}
    _fails(earlier_output, _coco(tmp_path, [{"id": 7, "segmentation": rle, "iscrowd": 1}]),
           r"annotation 7: RLE counts add up to 20 pixels but the mask is 48x32 = 1536 pixels")


def test_uncompressed_rle_whose_runs_overflow_is_refused(tmp_path, earlier_output):
    rle = {"size": [H, W], "counts": [1000, 1000]}
    _fails(earlier_output, _coco(tmp_path, [{"id": 8, "segmentation": rle, "iscrowd": 1}]),
           r"annotation 8: RLE counts add up to 2000 pixels")


@pytest.mark.parametrize("counts, shown", [([5, -3, 1534], "-3"), ([5.5, 1530.5], "5.5"),
                                           ([5, "7", 1524], "'7'")])
def test_uncompressed_rle_with_runs_that_are_not_counts(tmp_path, earlier_output, counts, shown):
    rle = {"size": [H, W], "counts": counts}
    _fails(earlier_output, _coco(tmp_path, [{"id": 9, "segmentation": rle, "iscrowd": 1}]),
           "annotation 9: RLE counts must be non-negative integers, got " + re.escape(shown))


def test_compressed_rle_with_characters_outside_the_code(tmp_path, earlier_output):
    rle = {"size": [H, W], "counts": "0?~~"}
    _fails(earlier_output, _coco(tmp_path, [{"id": 10, "segmentation": rle, "iscrowd": 1}]),
           r"annotation 10: RLE counts string has the character '~' at 2")


def test_compressed_rle_cut_inside_a_run(tmp_path, earlier_output):
    # "Q" is 0x21 above '0': a group with the continuation bit set, and nothing follows.
    rle = {"size": [H, W], "counts": "Q"}
    _fails(earlier_output, _coco(tmp_path, [{"id": 11, "segmentation": rle, "iscrowd": 1}]),
           r"annotation 11: RLE counts string ends inside a run length")


def test_compressed_rle_of_another_mask_size(tmp_path, earlier_output):
    other = np.zeros((10, 10), np.uint8)
    other[2:5, 3:7] = 1
    rle = {"size": [H, W], "counts": mask_to_rle(other)["counts"]}   # 100 pixels, not 1536
    _fails(earlier_output, _coco(tmp_path, [{"id": 12, "segmentation": rle, "iscrowd": 1}]),
           r"annotation 12: RLE counts add up to 100 pixels but the mask is 48x32")


def test_rle_size_that_is_not_height_width(tmp_path, earlier_output):
    rle = {"size": "32x48", "counts": [H * W]}
    _fails(earlier_output, _coco(tmp_path, [{"id": 13, "segmentation": rle}]),
           r"annotation 13: RLE size must be \[height, width\], got '32x48'")
    rle = {"size": [W, H], "counts": [H * W]}
    _fails(earlier_output, _coco(tmp_path, [{"id": 14, "segmentation": rle}]),
           r"annotation 14: RLE mask is 32x48 pixels \(width x height\) but its image is 48x32")


def test_good_rles_decode_exactly(tmp_path, records, earlier_output):
    mask = np.zeros((H, W), np.uint8)
    mask[3:9, 40:46] = 1
    # The same mask as uncompressed runs, column-major: 40 columns of zeros and 3 rows, then
    # six columns of (6 ones, 26 zeros) minus the last 23 zeros, then the remaining columns.
    counts = [40 * H + 3] + [6, 26] * 5 + [6, 26 + 2 * H - 3]
    assert sum(counts) == H * W
    annotations = [{"id": 20, "segmentation": mask_to_rle(mask), "iscrowd": 1},
                   {"id": 21, "segmentation": {"size": [H, W], "counts": counts}, "iscrowd": 1}]
    stats = earlier_output.convert(make_source("coco", _coco(tmp_path, annotations)))
    second = records([p for p in stats.outputs if p.endswith(".tfrecord")])[1]
    np.testing.assert_array_equal(second["masks"], [mask, mask])
    assert second["image/object/area"].tolist() == [36.0, 36.0]


def test_annotation_that_is_not_an_object(tmp_path, earlier_output):
    _fails(earlier_output, _coco(tmp_path, [17]), r"annotation #2 is not an object: 17")


@pytest.mark.parametrize("key, value", [("annotations", {"1": GOOD}), ("images", "a.png"),
                                        ("categories", None)])
def test_top_level_lists_that_are_not_lists(tmp_path, earlier_output, key, value):
    _fails(earlier_output, _coco(tmp_path, **{key: value}),
           rf"not a COCO annotation file \(no '{key}' list\)")


@pytest.mark.parametrize("image, message", [
    ({"file_name": "a.png"}, r"image #1 has no 'id'"),
    ({"id": 1}, r"image #1 has no 'file_name'"),
    ({"id": [1], "file_name": "a.png"}, r"image #1: id must be an integer or a non-empty string"),
    ({"id": 1, "file_name": 5}, r"image #1: file_name must be a non-empty string, got 5"),
    ("a.png", r"image #1 is not an object: a.png"),
    ({"id": 1, "file_name": "a.png", "height": "32"},
     r"image a.png: height must be a positive integer, got '32'"),
])
def test_image_entries_without_id_or_file_name(tmp_path, earlier_output, image, message):
    _fails(earlier_output, _coco(tmp_path, images=[image]), message)


@pytest.mark.parametrize("segmentation, message", [
    ("2 2 10 2 10 6", r"segmentation is neither polygons nor an RLE dict"),
    (5, r"segmentation is neither polygons nor an RLE dict"),
    ({}, r"segmentation is neither polygons nor an RLE dict"),
    ([2, 2, 10, 2, 10, 6], r"polygon segmentation must be a list of \[x, y, ...\] lists"),
    ([[2, 2, "10", 2, 10, 6]], r"polygon must hold finite numbers, got '10'"),
    ([[2, 2, float("nan"), 2, 10, 6]], r"polygon must hold finite numbers, got nan"),
    ([[2, 2, 10, 2, 10, 6, 2]], r"polygon has an odd number of coordinates \(7\)"),
    ([[2, 2, 1e9, 2, 10, 6]], r"polygon point \(1e\+09, 2\) lies far outside the 48x32 image"),
])
def test_segmentations_of_the_wrong_type_or_values(tmp_path, earlier_output, segmentation,
                                                   message):
    _fails(earlier_output, _coco(tmp_path, [{"id": 31, "segmentation": segmentation}]),
           r"annotation 31: " + message)


@pytest.mark.parametrize("bbox, message", [
    ([1, 2, "3", 4], r"bbox \[x, y, width, height\] must hold finite numbers, got '3'"),
    ([1, 2, float("inf"), 4], r"bbox .* must hold finite numbers, got inf"),
    ([1, 2, 3], r"bbox .* must have 4 numbers"),
    ("1 2 3 4", r"bbox .* must be a list of numbers"),
])
def test_box_only_annotations_with_bad_boxes(tmp_path, earlier_output, bbox, message):
    path = _coco(tmp_path, [{"id": 41, "bbox": bbox}],
                 annotations=[{"id": 41, "image_id": 2, "category_id": 1, "bbox": bbox}])
    _fails(earlier_output, path, r"annotation 41: " + message)


@pytest.mark.parametrize("fields, message", [
    ({"iscrowd": 2}, r"iscrowd must be 0 or 1, got 2"),
    ({"iscrowd": "1"}, r"iscrowd must be 0 or 1, got '1'"),
    ({"area": "big"}, r"area must be a finite number, got 'big'"),
    ({"area": -4}, r"area must not be negative, got -4"),
])
def test_crowd_flag_and_area_values(tmp_path, earlier_output, fields, message):
    ann = dict({"id": 51, "segmentation": [[2, 2, 10, 2, 10, 6, 2, 6]]}, **fields)
    _fails(earlier_output, _coco(tmp_path, [ann]), r"annotation 51: " + message)


def test_category_ids_not_in_categories(tmp_path, earlier_output):
    _fails(earlier_output, _coco(tmp_path, [{"id": 61, "category_id": 9, "bbox": [1, 1, 2, 2]}]),
           r"annotation 61 has category id 9, which is not in 'categories'")
    _fails(earlier_output, _coco(tmp_path, [{"id": 62, "category_id": [1], "bbox": [1, 1, 2, 2]}]),
           r"annotation 62 has category id \[1\], which is not in 'categories'")
    no_id = {"category_id": 1, "image_id": 5, "bbox": [1, 1, 2, 2]}
    _fails(earlier_output, _coco(tmp_path, [no_id]),
           r"annotation #2 \(no id\) refers to image id 5, which is not in 'images'")


def test_degenerate_and_zero_area_polygons_are_counted_skips(tmp_path):
    annotations = [{"id": 71, "segmentation": [[3, 3, 9, 9]]},                 # 2 points
                   {"id": 72, "segmentation": [[3, 3, 6, 6, 9, 9]]},           # collinear
                   {"id": 73, "segmentation": [[60, 40, 70, 40, 70, 50]]}]     # off the image
    path = _coco(tmp_path, annotations)
    source = make_source("coco", path)
    images = list(source)
    assert [im.num_instances for im in images] == [1, 0]
    assert source.stats.skip_reasons == {"polygon with fewer than 3 points": 1,
                                         "empty instance (no pixels)": 2}
    with pytest.raises(ValueError, match=re.escape(path) + r": annotation 71: polygon with fewer"
                       r" than 3 points \(strict conversion: not skipped\)"):
        list(make_source("coco", path, strict=True))


def test_boxes_outside_and_across_the_image_border(tmp_path):
    annotations = [{"id": 81, "bbox": [-4, -2, 10, 6]},      # clipped to x 0..6, y 0..4
                   {"id": 82, "bbox": [50, 5, 10, 10]},      # right of the 48 px wide image
                   {"id": 83, "bbox": [5, 5, -3, 4]}]        # negative width
    path = _coco(tmp_path, [], annotations=[dict(a, image_id=2, category_id=1)
                                            for a in annotations])
    source = make_source("coco", path)
    second = list(source)[1]
    np.testing.assert_allclose(second.boxes, [[0, 0, 4 / H, 6 / W]])
    assert second.areas.tolist() == [24.0]
    assert source.stats.skip_reasons == {"box outside the image": 1, "zero-size box": 1}


def test_declared_size_swapped_by_an_exif_rotation_says_so(tmp_path, earlier_output):
    path = _coco(tmp_path, images=[{"id": 1, "file_name": "r.jpg", "height": W, "width": H}],
                 annotations=[])
    exif = Image.Exif()
    exif[0x0112] = 6
    Image.fromarray(np.zeros((H, W, 3), np.uint8)).save(tmp_path / "r.jpg", exif=exif.tobytes())
    _fails(earlier_output, path, r"image r.jpg is declared 32x48 \(width x height\) but the file "
           r"is 48x32 \(its EXIF orientation 6 shows it turned by 90 degrees; annotations must "
           r"be in the stored pixel order")
