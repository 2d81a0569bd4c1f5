"""Bad VIA and VOC input: errors naming the file, the image and the region (earlier outputs
kept)."""

from __future__ import annotations

import json
import re

import numpy as np
import pytest
from lxml import etree
from PIL import Image

from object_detection.dataset_tools.conversion import make_source

H, W = 32, 48
RECT = {"name": "rect", "x": 20, "y": 4, "width": 8, "height": 10}


def _via(tmp_path, regions, filename="b.png", **entry) -> str:
    """VIA 2 JSON: a.png with one good rect, ``filename`` with ``regions``."""
    for name in ("a.png", "b.png"):
        Image.fromarray(np.zeros((H, W, 3), np.uint8)).save(tmp_path / name)
    data = {"_via_img_metadata": {
        "a.png1": {"filename": "a.png", "regions": [{"shape_attributes": RECT,
                                                     "region_attributes": {"kind": "figure"}}]},
        "b.png2": dict({"filename": filename, "regions": regions}, **entry)}}
    path = tmp_path / "via.json"
    path.write_text(json.dumps(data))
    return str(path)


def _fails(earlier_output, path, message, **source_args):
    with pytest.raises(ValueError, match=re.escape(path) + ": " + message):
        earlier_output.convert(make_source("via", path, **source_args))
    earlier_output.assert_intact()


def _region(shape, attributes=None):
    return {"shape_attributes": shape, "region_attributes": attributes or {}}


@pytest.mark.parametrize("missing", ["x", "y", "width", "height"])
def test_rect_without_a_coordinate(tmp_path, earlier_output, missing):
    shape = {k: v for k, v in RECT.items() if k != missing}
    _fails(earlier_output, _via(tmp_path, [_region(RECT), _region(shape)]),
           f"image b.png region 1: rect has no '{missing}' in shape_attributes")


@pytest.mark.parametrize("missing", ["all_points_x", "all_points_y"])
def test_polygon_without_its_points(tmp_path, earlier_output, missing):
    shape = {"name": "polygon", "all_points_x": [1, 5, 5], "all_points_y": [1, 1, 5]}
    del shape[missing]
    _fails(earlier_output, _via(tmp_path, [_region(shape)]),
           f"image b.png region 0: polygon has no '{missing}'")


@pytest.mark.parametrize("shape, message", [
    ({"name": "polygon", "all_points_x": [1, "5", 5], "all_points_y": [1, 1, 5]},
     r"all_points_x must hold finite numbers, got '5'"),
    ({"name": "polygon", "all_points_x": [1, 5, 5], "all_points_y": [1, None, 5]},
     r"all_points_y must hold finite numbers, got None"),
    ({"name": "polygon", "all_points_x": 5, "all_points_y": [1, 1, 5]},
     r"all_points_x must be a list of numbers, got 5"),
    (dict(RECT, x="20"), r"x must be a finite number, got '20'"),
    (dict(RECT, width=float("nan")), r"width must be a finite number, got nan"),
    (dict(RECT, y=True), r"y must be a finite number, got True"),
])
def test_coordinates_that_are_not_finite_numbers(tmp_path, earlier_output, shape, message):
    _fails(earlier_output, _via(tmp_path, [_region(shape)]), "image b.png region 0: " + message)


@pytest.mark.parametrize("region, message", [
    (7, r"region 1: a region must be an object, got 7"),
    ([RECT], r"region 1: a region must be an object, got \[\{"),
    ({"shape_attributes": [RECT]}, r"region 1: 'shape_attributes' must be an object"),
    ({"shape_attributes": RECT, "region_attributes": "figure"},
     r"region 1: 'region_attributes' must be an object"),
])
def test_regions_that_are_not_objects(tmp_path, earlier_output, region, message):
    _fails(earlier_output, _via(tmp_path, [_region(RECT), region]), "image b.png " + message)


def test_class_attribute_that_is_a_list(tmp_path, earlier_output):
    path = _via(tmp_path, [_region(RECT, {"kind": ["figure", "house"]})])
    _fails(earlier_output, path, r"image b.png region 0: attribute 'kind' must be a text or an "
           r"option object", class_attribute="kind")


def test_numeric_or_empty_filename(tmp_path, earlier_output):
    _fails(earlier_output, _via(tmp_path, [], filename=5),
           r"entry 'b.png2': filename must be a non-empty string, got 5")
    _fails(earlier_output, _via(tmp_path, [], filename=""),
           r"entry 'b.png2': filename must be a non-empty string, got ''")


@pytest.mark.parametrize("regions", ["0 1", 3, None])
def test_regions_neither_list_nor_object(tmp_path, earlier_output, regions):
    _fails(earlier_output, _via(tmp_path, regions),
           r"image b.png: 'regions' must be a list or an object")


def test_entry_that_is_not_an_image_entry(tmp_path, earlier_output):
    path = _via(tmp_path, [])
    data = json.loads(open(path).read())
    data["_via_img_metadata"]["c.png3"] = ["c.png"]
    open(path, "w").write(json.dumps(data))
    _fails(earlier_output, path, r"entry 'c.png3': expected a VIA image entry with 'filename' "
           r"and 'regions'")


def test_rect_across_the_border_is_clipped_and_degenerate_shapes_skipped(tmp_path):
    regions = [_region({"name": "rect", "x": -3, "y": 28, "width": 8, "height": 10}),
               _region({"name": "polygon", "all_points_x": [1, 5], "all_points_y": [1, 5]}),
               _region({"name": "rect", "x": 60, "y": 5, "width": 4, "height": 4})]
    source = make_source("via", _via(tmp_path, regions))
    second = list(source)[1]
    expected = np.zeros((H, W), np.uint8)
    expected[28:32, 0:5] = 1
    np.testing.assert_array_equal(second.masks, [expected])
    assert source.stats.skip_reasons == {"polygon with fewer than 3 points": 1,
                                         "empty instance (no pixels)": 1}


def _voc(tmp_path, box=("4", "5", "10", "12"), filename="a.jpg") -> str:
    for sub in ("Annotations", "JPEGImages"):
        (tmp_path / "voc" / sub).mkdir(parents=True, exist_ok=True)
    Image.fromarray(np.zeros((H, W, 3), np.uint8)).save(tmp_path / "voc/JPEGImages/a.jpg")
    root = etree.Element("annotation")
    etree.SubElement(root, "filename").text = filename
    obj = etree.SubElement(root, "object")
    etree.SubElement(obj, "name").text = "person"
    bndbox = etree.SubElement(obj, "bndbox")
    for tag, value in zip(("xmin", "ymin", "xmax", "ymax"), box):
        etree.SubElement(bndbox, tag).text = value
    path = tmp_path / "voc/Annotations/a.xml"
    etree.ElementTree(root).write(str(path))
    return str(path)


@pytest.mark.parametrize("value", ["nan", "inf", "-Infinity"])
def test_voc_box_that_is_not_a_finite_number(tmp_path, earlier_output, value):
    xml = _voc(tmp_path, box=("4", value, "10", "12"))
    with pytest.raises(ValueError, match=re.escape(xml) + f": <ymin> is not a finite number: "
                                                          f"'{value}'"):
        earlier_output.convert(make_source("voc", str(tmp_path / "voc")))
    earlier_output.assert_intact()


def test_voc_segmentation_png_of_another_size_names_both_files(tmp_path, earlier_output):
    _voc(tmp_path)
    (tmp_path / "voc/SegmentationObject").mkdir()
    seg = tmp_path / "voc/SegmentationObject/a.png"
    Image.fromarray(np.zeros((H, W - 1), np.uint8), mode="L").save(seg)
    with pytest.raises(ValueError, match=re.escape(str(seg)) + r": SegmentationObject PNG is "
                       r"47x32 pixels \(width x height\) but its image "
                       + re.escape(str(tmp_path / "voc/JPEGImages/a.jpg")) + " is 48x32"):
        earlier_output.convert(make_source("voc", str(tmp_path / "voc")))
    earlier_output.assert_intact()


def test_via_and_voc_file_names_out_of_the_folder_are_named(tmp_path):
    (tmp_path / "shared").mkdir()
    Image.fromarray(np.zeros((H, W, 3), np.uint8)).save(tmp_path / "shared" / "s.png")
    (tmp_path / "v").mkdir()
    via = _via(tmp_path / "v", [_region(RECT)], filename="../shared/s.png")
    source = make_source("via", via)
    assert [im.num_instances for im in source] == [1, 1]
    assert (f"1 file read from outside {tmp_path / 'v'}: ../shared/s.png"
            in source.stats.summary().splitlines())
    _voc(tmp_path, filename="../../shared/s.png")
    voc = make_source("voc", str(tmp_path / "voc"))
    assert [im.filename for im in voc] == ["../../shared/s.png"]
    assert (f"1 file read from outside {tmp_path / 'voc'}: JPEGImages/../../shared/s.png"
            in voc.stats.summary().splitlines())
