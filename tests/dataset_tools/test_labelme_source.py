"""A folder of LabelMe JSON files -> AnnotatedImages, records and COCO ground truth (images beside
the JSON or embedded); group_id instances; bad input as one line naming the file."""

from __future__ import annotations

import base64
import io
import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from pycocotools import mask as mask_utils

import create_mask_tf_record as cli
from object_detection.dataset_tools.conversion import convert, make_source
from object_detection.fields import TfExampleKeys as K


H, W = 32, 48


def _shape(label, points, shape_type="polygon", group_id=None):
    shape = {"label": label, "points": points, "group_id": group_id, "description": "",
             "flags": {}}
    if shape_type is not None:
        shape["shape_type"] = shape_type
    return shape


def _doc(shapes, image_path, image_data=None, size=(W, H)):
    return {"version": "5.4.1", "flags": {}, "shapes": shapes, "imagePath": image_path,
            "imageData": image_data, "imageHeight": size[1], "imageWidth": size[0]}


def _png_base64(pixels: np.ndarray) -> str:
    buffer = io.BytesIO()
    Image.fromarray(pixels).save(buffer, format="PNG")
    return base64.b64encode(buffer.getvalue()).decode("ascii")


def _write(root, docs: dict) -> str:
    folder = root / "labelme"
    folder.mkdir(exist_ok=True)
    rng = np.random.default_rng(6)
    for name in ("a.png", "c.png"):
        Image.fromarray(rng.integers(0, 256, (H, W, 3), dtype=np.uint8)).save(folder / name)
    for stem, doc in docs.items():
        (folder / f"{stem}.json").write_text(json.dumps(doc))
    return str(folder)


def _docs():
    l_shape = [[2, 3], [10, 3], [10, 6], [5, 6], [5, 12], [2, 12]]
    a = _doc([_shape("figure", l_shape, shape_type=None),          # old files: no shape_type
              _shape("house", [[28, 14], [20, 4]], "rectangle"),    # corners in any order
              _shape("figure", [[40, 20], [43, 20]], "circle"),     # centre, point on circle
              _shape("figure", [[1, 1], [9, 9]], "line")], "a.png")
    embedded = np.full((H, W, 3), 80, np.uint8)
    b = _doc([_shape("figure", [[30, 20], [44, 20], [37, 31]])], "..\\photos\\b.png",
             _png_base64(embedded))
    c = _doc([_shape("figure", [[1, 1], [5, 5]], "rectangle", group_id=1),
              _shape("figure", [[10, 1], [14, 5]], "rectangle", group_id=1),
              _shape("house", [[20, 1], [30, 1], [30, 9], [20, 9]], group_id=1),
              _shape("figure", [[40, 1], [44, 5]], "rectangle", group_id=2),
              _shape("figure", [[1, 20], [8, 20]], group_id=2)],     # degenerate part of a group
             "c.png")
    return {"a": a, "b": b, "c": c}


def _expected():
    l_mask = np.zeros((H, W), np.uint8)
    l_mask[3:6, 2:10] = 1
    l_mask[6:12, 2:5] = 1
    rect = np.zeros((H, W), np.uint8)
    rect[4:14, 20:28] = 1
    circle = np.zeros((H, W), np.uint8)   # pixel centres within 3 of (40, 20)
    circle[17, 38:42] = circle[22, 38:42] = 1
    circle[18:22, 37:43] = 1
    pair = np.zeros((H, W), np.uint8)
    pair[1:5, 1:5] = pair[1:5, 10:14] = 1
    house = np.zeros((H, W), np.uint8)
    house[1:9, 20:30] = 1
    single = np.zeros((H, W), np.uint8)
    single[1:5, 40:44] = 1
    return {"a": [l_mask, rect, circle], "c": [pair, house, single]}


def test_labelme_import_gives_the_shapes_masks(tmp_path):
    source = make_source("labelme", _write(tmp_path, _docs()))
    assert source.categories == [{"id": 1, "name": "figure"}, {"id": 2, "name": "house"}]
    a, b, c = list(source)
    assert [(i.filename, i.source_id) for i in (a, b, c)] == [("a.png", "a"), ("b.png", "b"),
                                                              ("c.png", "c")]
    expected = _expected()
    np.testing.assert_array_equal(a.masks, expected["a"])
    np.testing.assert_array_equal(c.masks, expected["c"])
    assert a.class_names == ["figure", "house", "figure"]
    assert c.class_names == ["figure", "house", "figure"]
    assert a.areas.tolist() == [42.0, 80.0, 32.0]
    np.testing.assert_allclose(a.boxes[2], [17 / H, 37 / W, 23 / H, 43 / W], atol=1e-6)
    triangle = b.masks[0]
    assert triangle[25, 37] == 1 and triangle[30, 31] == 0 and abs(int(triangle.sum()) - 77) <= 10
    assert b.image.image_format == "png"
    decoded = np.asarray(Image.open(io.BytesIO(b.image.encoded)))
    assert (decoded == 80).all()                       # the embedded image, not a file
    stats = source.stats
    assert (stats.images_read, stats.instances_read) == (3, 8)   # groups count once
    assert stats.skip_reasons == {"unsupported shape": 1}


def test_labelme_round_trip_through_records_and_coco_ground_truth(tmp_path, records):
    gt = str(tmp_path / "gt.json")
    folder = _write(tmp_path, {k: v for k, v in _docs().items() if k != "c"})
    stats = convert(make_source("labelme", folder), str(tmp_path / "rec"), 1, gt)
    assert (stats.images_written, stats.instances_written, stats.instances_skipped) == (2, 4, 1)
    decoded = records([p for p in stats.outputs if p.endswith(".tfrecord")])
    np.testing.assert_array_equal(decoded[0]["masks"], _expected()["a"])
    assert decoded[0][K.class_text].tolist() == [b"figure", b"house", b"figure"]
    coco = json.loads(Path(gt).read_text())
    anns = [a for a in coco["annotations"] if a["image_id"] == coco["images"][0]["id"]]
    for ann, mask in zip(anns, _expected()["a"], strict=True):
        np.testing.assert_array_equal(mask_utils.decode(ann["segmentation"]), mask)
    assert [i["file_name"] for i in coco["images"]] == ["a.png", "b.png"]


def test_labelme_label_map_and_skips(tmp_path, records):
    docs = _docs()
    docs["a"]["shapes"].append(_shape("figure", [[3, 3], [3, 3]], "circle"))
    docs["a"]["shapes"].append(_shape("figure", [[3, 3], [9, 3]], "rectangle"))
    docs["a"]["shapes"].append(_shape("", [[3, 3], [9, 3], [9, 9]]))
    stats = convert(make_source("labelme", _write(tmp_path, docs), label_map={"figure": 7}),
                    str(tmp_path / "r"), 1)
    assert stats.skip_reasons == {"class not in label map": 2, "unsupported shape": 1,
                                  "circle or ellipse of radius 0": 1, "zero-size box": 1,
                                  "no label": 1}
    assert [r[K.class_label].tolist() for r in records(stats.outputs)] == [[7, 7], [7], [7, 7]]


def _fails(folder: str, message: str, named: str, **kwargs):
    with pytest.raises((ValueError, FileNotFoundError)) as info:
        list(make_source("labelme", folder, **kwargs))
    text = str(info.value)
    assert "\n" not in text and text.startswith(named + ": ") and message in text, text


@pytest.mark.parametrize("shape, message", [
    (_shape("f", [[1, 1], [5, "x"], [5, 5]]), "shape 0: point [x, y] must hold finite numbers"),
    (_shape("f", [[1, 1], [5]]), "shape 0: point [x, y] must have 2 numbers"),
    (_shape("f", 5), "shape 0: 'points' must be a list of [x, y], got 5"),
    (_shape("f", [[1, 1], [5, 5], [6, 6]], "rectangle"), "shape 0: a rectangle needs 2 points"),
    (_shape("f", [[1, 1]], "circle"), "shape 0: a circle needs 2 points, got 1"),
    (_shape(["f"], [[1, 1], [5, 5]], "rectangle"), "shape 0: label must be a text"),
    (_shape("f", [[1, 1], [5, 5]], "rectangle", group_id=[1]),
     "shape 0: group_id must be a number, a text or null"),
    (7, "shape 0: a shape must be an object, got 7"),
])
def test_labelme_bad_shapes(tmp_path, shape, message):
    folder = _write(tmp_path, {"z": _doc([shape], "a.png")})
    _fails(folder, message, named=str(tmp_path / "labelme" / "z.json"))


def test_labelme_bad_files(tmp_path):
    folder = _write(tmp_path, {"z": _doc([], "a.png", size=(W, H + 1))})
    z = str(tmp_path / "labelme" / "z.json")
    _fails(folder, f"imageHeight is {H + 1} but image a.png is {W}x{H}", named=z)
    _write(tmp_path, {"z": _doc([], "missing.png")})
    _fails(folder, "image file not found", named=str(tmp_path / "labelme" / "missing.png"))
    _write(tmp_path, {"z": _doc([], "x.png", image_data="not base64!")})
    _fails(folder, "imageData is not valid base64", named=z)
    _write(tmp_path, {"z": _doc([], "x.png", image_data=base64.b64encode(b"junk").decode())})
    _fails(folder, "imageData: not a readable image", named=z)
    _write(tmp_path, {"z": _doc([], None)})
    _fails(folder, "imagePath must be a non-empty string, got None", named=z)
    _write(tmp_path, {"z": {"imagePath": "a.png"}})
    _fails(folder, "not a LabelMe file (no 'shapes' list)", named=z)
    (tmp_path / "labelme" / "z.json").write_text("{")
    _fails(folder, "not a JSON file", named=z)
    _write(tmp_path, {"z": _doc([], "a.png"), "y": _doc([], "sub/a.png")})
    _fails(folder, "duplicate image file name 'a.png'", named=z)
    empty = tmp_path / "empty"
    empty.mkdir()
    _fails(str(empty), "no LabelMe JSON files in the folder", named=str(empty))
    _fails(str(tmp_path / "nowhere"), "LabelMe folder not found", named=str(tmp_path / "nowhere"))


def test_labelme_command_line_and_a_failure_leaves_earlier_outputs(tmp_path, capsys,
                                                                   earlier_output):
    folder = _write(tmp_path, _docs())
    code = cli.main(["--input_type", "labelme", "--input", folder, "--output_path",
                      str(tmp_path / "cli" / "rec")])
    assert code == 0
    assert "images: read 3, written 3, skipped 0" in capsys.readouterr().out
    _write(tmp_path, {"z": _doc([_shape("f", [[1, 1], [2, None], [3, 3]])], "c.png")})
    (tmp_path / "labelme" / "c.json").unlink()
    with pytest.raises(ValueError, match="z.json: shape 0: point"):
        earlier_output.convert(make_source("labelme", folder))
    earlier_output.assert_intact()
    code = cli.main(["--input_type", "labelme", "--input", folder, "--output_path",
                      str(tmp_path / "cli" / "rec")])
    err = capsys.readouterr().err
    first = err.splitlines()[0]
    assert code == 1 and first.startswith("error: ") and "z.json: shape 0: point" in first
