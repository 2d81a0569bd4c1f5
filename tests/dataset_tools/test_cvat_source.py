"""CVAT for images 1.1 XML -> AnnotatedImages, records and COCO ground truth; its mask RLE;
bad input as one line naming the file."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from pycocotools import mask as mask_utils

import create_mask_tf_record as cli
from object_detection.dataset_tools.conversion import convert, make_source
from object_detection.dataset_tools.cvat_source import cvat_rle_to_mask
from object_detection.fields import TfExampleKeys as K


H, W = 32, 48

# The hand-made 4 x 3 mask of the RLE "1, 2, 1, 4, 3, 1" (row-major, 0s first).
HAND_MASK = np.array([[0, 1, 1, 0],
                      [1, 1, 1, 1],
                      [0, 0, 0, 1]], np.uint8)


def encode_cvat_rle(mask: np.ndarray) -> list[int]:
    """Independent encoder: row-major runs of a box mask, alternating 0s and 1s from 0s."""
    counts, value, run = [], 0, 0
    for v in mask.reshape(-1).tolist():
        if v == value:
            run += 1
        else:
            counts.append(run)
            value, run = v, 1
    counts.append(run)
    return counts


def _expected():
    l_mask = np.zeros((H, W), np.uint8)
    l_mask[3:6, 2:10] = 1
    l_mask[6:12, 2:5] = 1
    box = np.zeros((H, W), np.uint8)
    box[4:14, 20:28] = 1
    rle = np.zeros((H, W), np.uint8)
    rle[5:8, 30:34] = HAND_MASK
    turned = np.zeros((H, W), np.uint8)
    turned[10:20, 13:17] = 1          # a 10 x 4 box around (15, 15) turned by 90 degrees
    return {"a.png": [l_mask, box, rle], "b.png": [turned]}


def _write(root, images_xml: str, size=(W, H)) -> str:
    rng = np.random.default_rng(2)
    (root / "images").mkdir(exist_ok=True)
    for name in ("a.png", "b.png"):
        Image.fromarray(rng.integers(0, 256, (H, W, 3), dtype=np.uint8)).save(
            root / "images" / name)
    path = root / "annotations.xml"
    path.write_text(f'<?xml version="1.0" encoding="utf-8"?>\n<annotations>\n'
                    f'<version>1.1</version><meta><task><name>t</name></task></meta>\n'
                    f'{images_xml}</annotations>\n')
    return str(path)


GOOD = f"""
<image id="0" name="a.png" width="{W}" height="{H}">
  <polygon label="figure" source="manual" occluded="0" z_order="0"
           points="2.00,3.00;10.00,3.00;10.00,6.00;5.00,6.00;5.00,12.00;2.00,12.00">
    <attribute name="pose">standing</attribute>
  </polygon>
  <box label="house" occluded="0" xtl="20.00" ytl="4.00" xbr="28.00" ybr="14.00" z_order="0"/>
  <mask label="figure" source="manual" rle="1, 2, 1, 4, 3, 1" left="30" top="5" width="4"
        height="3" z_order="0"/>
  <polyline label="figure" points="1.00,1.00;5.00,5.00"/>
  <tag label="daytime" source="manual"/>
</image>
<image id="1" name="b.png" width="{W}" height="{H}">
  <box label="figure" xtl="10.00" ytl="13.00" xbr="20.00" ybr="17.00" rotation="90.00"/>
</image>
"""


def test_cvat_rle_decoder_against_hand_mask_and_independent_encoder():
    np.testing.assert_array_equal(cvat_rle_to_mask([1, 2, 1, 4, 3, 1], 3, 4, "x"), HAND_MASK)
    assert encode_cvat_rle(HAND_MASK) == [1, 2, 1, 4, 3, 1]
    full = np.ones((2, 3), np.uint8)
    assert encode_cvat_rle(full) == [0, 6]
    np.testing.assert_array_equal(cvat_rle_to_mask([0, 6], 2, 3, "x"), full)
    rng = np.random.default_rng(0)
    for _ in range(20):
        h, w = rng.integers(1, 9, 2)
        mask = (rng.random((h, w)) < 0.5).astype(np.uint8)
        np.testing.assert_array_equal(cvat_rle_to_mask(encode_cvat_rle(mask), h, w, "x"), mask)
    with pytest.raises(ValueError, match="x: mask RLE runs add up to 11 pixels but its box is "
                                         "4x3 = 12 pixels"):
        cvat_rle_to_mask([1, 2, 1, 4, 3], 3, 4, "x")
    with pytest.raises(ValueError, match="x: mask RLE runs must be non-negative integers"):
        cvat_rle_to_mask([13, -1], 3, 4, "x")


def test_cvat_import_gives_the_shapes_masks(tmp_path):
    source = make_source("cvat", _write(tmp_path, GOOD))
    assert source.categories == [{"id": 1, "name": "figure"}, {"id": 2, "name": "house"}]
    a, b = list(source)
    expected = _expected()
    assert (a.filename, a.source_id, b.filename) == ("a.png", "a", "b.png")
    np.testing.assert_array_equal(a.masks, expected["a.png"])
    np.testing.assert_array_equal(b.masks, expected["b.png"])
    assert a.class_names == ["figure", "house", "figure"] and a.class_ids.tolist() == [1, 2, 1]
    np.testing.assert_allclose(a.boxes, [[3 / H, 2 / W, 12 / H, 10 / W],
                                         [4 / H, 20 / W, 14 / H, 28 / W],
                                         [5 / H, 30 / W, 8 / H, 34 / W]], atol=1e-6)
    assert a.areas.tolist() == [42.0, 80.0, 7.0]
    assert (source.stats.images_read, source.stats.instances_read) == (2, 5)
    assert source.stats.skip_reasons == {"unsupported shape": 1}


def test_cvat_round_trip_through_records_and_coco_ground_truth(tmp_path, records):
    path = _write(tmp_path, GOOD)
    gt = str(tmp_path / "gt.json")
    stats = convert(make_source("cvat", path), str(tmp_path / "rec"), 2, gt)
    assert (stats.images_written, stats.instances_written, stats.instances_skipped) == (2, 4, 1)
    decoded = {r[K.filename].decode(): r
               for r in records([p for p in stats.outputs if p.endswith(".tfrecord")])}
    coco = json.loads(Path(gt).read_text())
    assert coco["categories"] == [{"id": 1, "name": "figure"}, {"id": 2, "name": "house"}]
    for name, masks in _expected().items():
        np.testing.assert_array_equal(decoded[name]["masks"], masks)
        image_id = next(i["id"] for i in coco["images"] if i["file_name"] == name)
        anns = [a for a in coco["annotations"] if a["image_id"] == image_id]
        assert len(anns) == len(masks)
        for ann, mask in zip(anns, masks, strict=True):
            np.testing.assert_array_equal(mask_utils.decode(ann["segmentation"]), mask)


def test_cvat_label_map_restricts_and_strict_refuses(tmp_path, records):
    path = _write(tmp_path, GOOD)
    stats = convert(make_source("cvat", path, label_map={"house": 3}), str(tmp_path / "r"), 1)
    assert stats.skip_reasons == {"class not in label map": 3, "unsupported shape": 1}
    assert [r[K.class_label].tolist() for r in records(stats.outputs)] == [[3], []]
    with pytest.raises(ValueError, match=r"annotations.xml: image a.png polyline 3 \(polyline\): "
                                         r"unsupported shape \(strict"):
        list(make_source("cvat", path, strict=True))


def _fails(path: str, message: str, named: str | None = None, **kwargs):
    """The conversion stops with one line that starts with the file ``named`` (default: the
    annotation file) and says ``message``."""
    with pytest.raises((ValueError, FileNotFoundError)) as info:
        list(make_source("cvat", path, **kwargs))
    text = str(info.value)
    assert "\n" not in text and text.startswith((named or path) + ": ") and message in text, text


@pytest.mark.parametrize("shape, message", [
    ('<polygon label="f" points="1,1;5,x;5,5"/>',
     "image b.png polygon 0: points must be 'x1,y1;x2,y2;...' with finite numbers, got '5,x'"),
    ('<polygon label="f"/>', "image b.png polygon 0: <polygon> has no 'points'"),
    ('<box label="f" xtl="1" ytl="1" xbr="nan" ybr="5"/>',
     "image b.png box 0: 'xbr' must be a finite number, got 'nan'"),
    ('<box label="f" xtl="1" ytl="1" ybr="5"/>', "image b.png box 0: <box> has no 'xbr'"),
    ('<mask label="f" rle="1, 2, 1, 4, 3" left="30" top="5" width="4" height="3"/>',
     "image b.png mask 0: mask RLE runs add up to 11 pixels but its box is 4x3 = 12 pixels"),
    ('<mask label="f" rle="1, two" left="30" top="5" width="4" height="3"/>',
     "image b.png mask 0: rle must be comma-separated integers, got '1, two'"),
    ('<mask label="f" rle="0, 12" left="46" top="5" width="4" height="3"/>',
     "image b.png mask 0: mask box (left 46, top 5, 4x3) lies outside the 48x32 image"),
    ('<mask label="f" rle="0, 12" left="-1" top="5" width="4" height="3"/>',
     "image b.png mask 0: 'left' must be an integer >= 0, got '-1'"),
])
def test_cvat_bad_shapes(tmp_path, shape, message):
    xml = f'<image id="0" name="a.png"/><image id="1" name="b.png">{shape}</image>'
    _fails(_write(tmp_path, xml), message)


def test_cvat_bad_files(tmp_path):
    path = _write(tmp_path, f'<image id="0" name="a.png" width="{W + 1}" height="{H}"/>')
    _fails(path, f"image a.png is declared {W + 1}x{H} (width x height) but the file is {W}x{H}")
    _fails(_write(tmp_path, '<image id="0" name="c.png"/>'), "image file not found",
           named=str(tmp_path / "images" / "c.png"))
    _fails(_write(tmp_path, '<image id="0"/>'), "image #1 has no 'name'")
    _fails(_write(tmp_path, '<image id="0" name="a.png"/><image id="1" name="a.jpg"/>'),
           "duplicate file name 'a': a.png and a.jpg")
    _fails(_write(tmp_path, '<track id="0" label="f"/>'), "has <track> elements (CVAT for video")
    bad = tmp_path / "broken.xml"
    bad.write_text("<annotations><image name='a.png'></annotations>")
    _fails(str(bad), "not a readable XML file")
    bad.write_text("<root/>")
    _fails(str(bad), "not a CVAT XML file (root element <root>")
    _fails(str(tmp_path / "none.xml"), "CVAT annotation file not found")


def test_cvat_image_dir_defaults_to_images_subfolder_or_xml_folder(tmp_path):
    path = _write(tmp_path, '<image id="0" name="a.png"/>')
    assert [i.filename for i in make_source("cvat", path)] == ["a.png"]
    other = tmp_path / "elsewhere"
    other.mkdir()
    Image.fromarray(np.zeros((4, 5, 3), np.uint8)).save(other / "a.png")
    assert [i.width for i in make_source("cvat", path, image_dir=str(other))] == [5]


def test_cvat_command_line_and_a_failure_leaves_earlier_outputs(tmp_path, capsys,
                                                                earlier_output):
    path = _write(tmp_path, GOOD)
    code = cli.main(["--input_type", "cvat", "--input", path, "--output_path",
                      str(tmp_path / "cli" / "rec"), "--coco_gt_json", str(tmp_path / "gt.json")])
    assert code == 0
    out = capsys.readouterr().out
    assert "images: read 2, written 2, skipped 0" in out and "skipped (unsupported shape): 1" in out
    bad = _write(tmp_path, '<image id="0" name="a.png"><box label="f" xtl="x"/></image>')
    with pytest.raises(ValueError, match="annotations.xml: image a.png box 0: 'xtl' must be"):
        earlier_output.convert(make_source("cvat", bad))
    earlier_output.assert_intact()
    code = cli.main(["--input_type", "cvat", "--input", bad, "--output_path",
                      str(tmp_path / "cli" / "rec")])
    err = capsys.readouterr().err
    first = err.splitlines()[0]
    assert code == 1 and first.startswith("error: ")
    assert "annotations.xml: image a.png box 0" in first


def _ellipse_masks():
    flat = np.zeros((H, W), np.uint8)
    flat[24:26, 7:13] = 1         # pixel centres inside x: 10 +- 3, y: 25 +- 1
    turned = np.zeros((H, W), np.uint8)
    turned[22:28, 9:11] = 1       # the same turned by 90 degrees
    return [flat, turned]


def test_cvat_ellipses(tmp_path):
    xml = ('<image id="0" name="a.png">'
           '<ellipse label="f" cx="10.00" cy="25.00" rx="3.00" ry="1.00"/>'
           '<ellipse label="f" cx="10.00" cy="25.00" rx="3.00" ry="1.00" rotation="90.00"/>'
           '<ellipse label="f" cx="10.00" cy="25.00" rx="0.00" ry="1.00"/></image>')
    source = make_source("cvat", _write(tmp_path, xml))
    (image,) = list(source)
    np.testing.assert_array_equal(image.masks, _ellipse_masks())
    assert source.stats.skip_reasons == {"circle or ellipse of radius 0": 1}
