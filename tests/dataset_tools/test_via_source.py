"""VIA 1.x and 2.x polygon JSON -> records: masks, boxes, classes, skips."""

from __future__ import annotations

import json

import numpy as np
import pytest
from PIL import Image

from object_detection.dataset_tools.conversion import convert, make_source
from object_detection.fields import TfExampleKeys as K

H, W = 32, 48


def _polygon(xs, ys):
    return {"name": "polygon", "all_points_x": xs, "all_points_y": ys}


def _regions_a():
    # An L shape along pixel edges: rows 3..5 x cols 2..9 and rows 6..11 x cols 2..4.
    l_shape = _polygon([2, 10, 10, 5, 5, 2], [3, 3, 6, 6, 12, 12])
    rect = {"name": "rect", "x": 20, "y": 4, "width": 8, "height": 10}
    circle = {"name": "circle", "cx": 40, "cy": 20, "r": 3}
    return [
        {"shape_attributes": l_shape, "region_attributes": {"kind": "figure"}},
        {"shape_attributes": rect, "region_attributes": {"kind": {"house": True, "figure": False}}},
        {"shape_attributes": circle, "region_attributes": {"kind": "figure"}},
        {"shape_attributes": rect, "region_attributes": {}},
    ]


def _regions_b():
    return [{"shape_attributes": _polygon([30, 44, 37], [20, 20, 31]),
             "region_attributes": {"kind": "figure"}}]


def _expected_masks_a():
    l_mask = np.zeros((H, W), np.uint8)
    l_mask[3:6, 2:10] = 1
    l_mask[6:12, 2:5] = 1
    rect = np.zeros((H, W), np.uint8)
    rect[4:14, 20:28] = 1
    return [l_mask, rect]


def _write_images(root):
    rng = np.random.default_rng(5)
    Image.fromarray(rng.integers(0, 256, (H, W, 3), dtype=np.uint8)).save(root / "a.png")
    Image.fromarray(rng.integers(0, 256, (H, W, 3), dtype=np.uint8)).save(root / "b.jpg")


def _via1(root):
    data = {
        "a.png1000": {"filename": "a.png", "size": 1000, "file_attributes": {},
                      "regions": {str(i): r for i, r in enumerate(_regions_a())}},
        "b.jpg2000": {"filename": "b.jpg", "size": 2000, "file_attributes": {},
                      "regions": {"0": _regions_b()[0]}},
    }
    path = root / "via1.json"
    path.write_text(json.dumps(data))
    return str(path)


def _via2(root):
    data = {
        "_via_settings": {"ui": {}},
        "_via_img_metadata": {
            "a.png1000": {"filename": "a.png", "size": 1000, "file_attributes": {},
                          "regions": _regions_a()},
            "b.jpg2000": {"filename": "b.jpg", "size": 2000, "file_attributes": {},
                          "regions": _regions_b()},
        },
        "_via_attributes": {"region": {"kind": {"type": "text"}}, "file": {}},
    }
    path = root / "via2.json"
    path.write_text(json.dumps(data))
    return str(path)


def _record_paths(stats):
    return [p for p in stats.outputs if p.endswith(".tfrecord")]


@pytest.mark.parametrize("layout", [_via1, _via2])
def test_via_layouts_convert(tmp_path, records, layout):
    _write_images(tmp_path)
    source = make_source("via", layout(tmp_path), class_attribute="kind")
    assert source.categories == [{"id": 1, "name": "figure"}, {"id": 2, "name": "house"}]
    stats = convert(source, str(tmp_path / "out" / "rec"), 1)
    assert (stats.images_read, stats.instances_read) == (2, 5)
    assert (stats.images_written, stats.instances_written) == (2, 3)
    assert stats.skip_reasons == {"unsupported shape": 1, "no class attribute": 1}
    a, b = records(_record_paths(stats))
    assert a[K.filename] == b"a.png" and a[K.source_id] == b"a"
    for got, expected in zip(a["masks"], _expected_masks_a()):
        np.testing.assert_array_equal(got, expected)
    np.testing.assert_allclose(a["boxes_yx"], [[3 / H, 2 / W, 12 / H, 10 / W],
                                               [4 / H, 20 / W, 14 / H, 28 / W]], atol=1e-6)
    assert a[K.class_label].tolist() == [1, 2]
    assert a[K.class_text].tolist() == [b"figure", b"house"]
    assert a[K.area].tolist() == [42.0, 80.0]
    assert b[K.class_label].tolist() == [1] and b["masks"].shape == (1, H, W)
    triangle = b["masks"][0]
    assert triangle[25, 37] == 1 and triangle[30, 31] == 0 and triangle[10, 37] == 0
    assert abs(int(triangle.sum()) - 77) <= 10          # the triangle's area is 14 * 11 / 2


def test_via_1x_and_2x_give_identical_records(tmp_path):
    _write_images(tmp_path)
    outputs = []
    for name, layout in (("one", _via1), ("two", _via2)):
        stats = convert(make_source("via", layout(tmp_path), class_attribute="kind"),
                        str(tmp_path / name), 2)
        outputs.append([open(p, "rb").read() for p in _record_paths(stats)])
    assert outputs[0] == outputs[1]


def test_via_single_class_and_label_map(tmp_path, records):
    _write_images(tmp_path)
    stats = convert(make_source("via", _via2(tmp_path)), str(tmp_path / "rec"), 1)
    assert stats.instances_written == 4 and stats.skip_reasons == {"unsupported shape": 1}
    assert {t for r in records(_record_paths(stats)) for t in r[K.class_text]} == {b"character"}
    restricted = make_source("via", _via2(tmp_path), class_attribute="kind",
                             label_map={"house": 5})
    stats = convert(restricted, str(tmp_path / "rec2"), 1)
    assert stats.skip_reasons == {"class not in label map": 3, "no class attribute": 1}
    assert [r[K.class_label].tolist() for r in records(_record_paths(stats))] == [[5], []]


def test_via_zero_size_rect_is_skipped_and_duplicate_stem_is_an_error(tmp_path):
    _write_images(tmp_path)
    data = {"x": {"filename": "a.png", "regions": [
        {"shape_attributes": {"name": "rect", "x": 3, "y": 3, "width": 0, "height": 5},
         "region_attributes": {}}]}}
    (tmp_path / "zero.json").write_text(json.dumps(data))
    stats = convert(make_source("via", str(tmp_path / "zero.json")), str(tmp_path / "rec"), 1)
    assert stats.skip_reasons == {"zero-size box": 1} and stats.instances_written == 0
    data["y"] = {"filename": "a.jpg", "regions": []}
    (tmp_path / "dup.json").write_text(json.dumps(data))
    with pytest.raises(ValueError, match="dup.json: duplicate file name 'a': a.png and a.jpg"):
        make_source("via", str(tmp_path / "dup.json"))
