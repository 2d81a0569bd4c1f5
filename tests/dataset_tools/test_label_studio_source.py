"""Label Studio JSON export -> AnnotatedImages, records and COCO ground truth; its brush RLE;
the image file name rule; bad input as one line naming the file."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from pycocotools import mask as mask_utils

import create_mask_tf_record as cli
from object_detection.dataset_tools.conversion import convert, make_source
from object_detection.dataset_tools.label_studio_source import (
    brush_rle_to_mask,
    decode_brush_rle,
    image_file_name,
)
from object_detection.fields import TfExampleKeys as K


H, W = 32, 48
SIZES = (3, 4, 8, 16)   # the run-length field sizes this encoder writes


def encode_brush(values: np.ndarray) -> list[int]:
    """Independent encoder of Label Studio's brush RLE: runs of 2 or more values as repeated
    blocks, single values gathered (up to 8) into literal blocks."""
    values = [int(v) for v in np.asarray(values, np.uint8).reshape(-1)]
    bits = [f"{len(values):032b}", f"{8 - 1:05b}"] + [f"{s - 1:04b}" for s in SIZES]

    def block(kind: int, n: int, words: list[int]):
        index = next(k for k, s in enumerate(SIZES) if n - 1 < 2 ** s)
        bits.append(f"{kind}{index:02b}{n - 1:0{SIZES[index]}b}"
                    + "".join(f"{w:08b}" for w in words))

    singles: list[int] = []
    i = 0
    while i < len(values):
        j = i
        while j < len(values) and values[j] == values[i]:
            j += 1
        if j - i == 1:
            singles.append(values[i])
            if len(singles) == 8:
                block(0, 8, singles)
                singles = []
        else:
            if singles:
                block(0, len(singles), singles)
                singles = []
            for start in range(i, j, 2 ** 16):
                block(1, min(j, start + 2 ** 16) - start, [values[i]])
        i = j
    if singles:
        block(0, len(singles), singles)
    stream = "".join(bits)
    stream += "0" * (-len(stream) % 8)
    return [int(stream[k:k + 8], 2) for k in range(0, len(stream), 8)]


def brush_of(mask: np.ndarray) -> list[int]:
    """The RLE of a mask as Label Studio paints it: RGBA, alpha 255 on the stroke."""
    rgba = np.zeros(mask.shape + (4,), np.uint8)
    rgba[mask > 0] = (255, 0, 0, 255)
    return encode_brush(rgba)


def test_brush_decoder_against_hand_computed_bits_and_independent_encoder():
    # 1 x 2 RGBA image: a transparent pixel, then one with alpha 255 (8 values).
    stream = ("00000000000000000000000000001000" "00111" "0010" "0011" "0111" "1111"
              "1" "00" "110" "00000000"      # 7 zeros, repeated block
              "0" "00" "000" "11111111")     # one literal 255
    stream += "0" * (-len(stream) % 8)
    rle = [int(stream[k:k + 8], 2) for k in range(0, len(stream), 8)]
    assert decode_brush_rle(rle, "x").tolist() == [0, 0, 0, 0, 0, 0, 0, 255]
    assert encode_brush(np.array([0] * 7 + [255])) == rle
    np.testing.assert_array_equal(brush_rle_to_mask(rle, 1, 2, "x"), [[0, 1]])
    rng = np.random.default_rng(1)
    for _ in range(10):
        values = rng.choice([0, 0, 0, 7, 255], size=int(rng.integers(1, 300))).astype(np.uint8)
        np.testing.assert_array_equal(decode_brush_rle(encode_brush(values), "x"), values)
    long = np.zeros(70000, np.uint8)            # runs longer than a 16-bit length field
    long[-5:] = 3
    np.testing.assert_array_equal(decode_brush_rle(encode_brush(long), "x"), long)


def test_brush_decoder_errors():
    rle = brush_of(np.ones((2, 2), np.uint8))
    with pytest.raises(ValueError, match="x: brush RLE ends early"):
        decode_brush_rle(rle[:-2], "x")
    with pytest.raises(ValueError, match="x: brush rle must be a list of byte values"):
        decode_brush_rle([1, 300], "x")
    with pytest.raises(ValueError, match="x: brush RLE holds 16 values but a 3x2 RGBA image "
                                         "has 24"):
        brush_rle_to_mask(rle, 2, 3, "x")


@pytest.mark.parametrize("url, name, unprefixed", [
    ("/data/upload/1/abc12345-map.png", "abc12345-map.png", "map.png"),
    ("http://host:8080/data/upload/3/0f0f0f0f-my%20map.jpg", "0f0f0f0f-my map.jpg", "my map.jpg"),
    ("/data/local-files/?d=maps/2020/a.png", "a.png", None),
    ("s3://bucket/dir/abc12345-x.png", "abc12345-x.png", None),
    ("b.png", "b.png", None),
])
def test_image_file_name_rule(url, name, unprefixed):
    assert image_file_name(url) == (name, unprefixed)


def _pct(x, y):
    return [x * 100 / W, y * 100 / H]


def _brush_mask():
    mask = np.zeros((H, W), np.uint8)
    mask[24:30, 36:44] = 1
    mask[26, 38:40] = 0
    return mask


def _result(kind, value, **extra):
    return dict({"type": kind, "from_name": "tag", "to_name": "image", "value": value,
                 "original_width": W, "original_height": H}, **extra)


def _tasks():
    l_shape = [_pct(2, 3), _pct(10, 3), _pct(10, 6), _pct(5, 6), _pct(5, 12), _pct(2, 12)]
    results_a = [
        _result("polygonlabels", {"points": l_shape, "polygonlabels": ["figure"]}),
        _result("rectanglelabels", {"x": 20 * 100 / W, "y": 4 * 100 / H, "width": 8 * 100 / W,
                                    "height": 10 * 100 / H, "rotation": 0,
                                    "rectanglelabels": ["house"]}),
        _result("brushlabels", {"format": "rle", "rle": brush_of(_brush_mask()),
                                "brushlabels": ["figure"]}),
        _result("rectanglelabels", {"x": 30 * 100 / W, "y": 20 * 100 / H, "width": 8 * 100 / W,
                                    "height": 4 * 100 / H, "rotation": 90,
                                    "rectanglelabels": ["house"]}),
        _result("keypointlabels", {"x": 10, "y": 10, "keypointlabels": ["figure"]}),
        {"type": "choices", "value": {"choices": ["day"]}, "from_name": "c", "to_name": "image"},
    ]
    triangle = [_pct(30, 20), _pct(44, 20), _pct(37, 31)]
    return [
        {"id": 11, "data": {"image": "/data/upload/1/abc12345-a.png"},
         "annotations": [{"id": 1, "was_cancelled": True, "result": [results_a[0]]},
                         {"id": 2, "was_cancelled": False, "result": results_a}],
         "predictions": [{"result": [results_a[1]]}]},
        {"id": 12, "data": {"image": "/data/local-files/?d=maps/b.png"},
         "annotations": [{"result": [_result("polygonlabels", {"points": triangle,
                                                               "polygonlabels": ["figure"]})]}]},
        {"id": 13, "data": {"image": "c.png"}, "annotations": []},
    ]


def _expected_a():
    l_mask = np.zeros((H, W), np.uint8)
    l_mask[3:6, 2:10] = 1
    l_mask[6:12, 2:5] = 1
    rect = np.zeros((H, W), np.uint8)
    rect[4:14, 20:28] = 1
    turned = np.zeros((H, W), np.uint8)
    turned[20:28, 26:30] = 1      # 8 x 4 at (30, 20) turned 90 degrees clockwise around (30, 20)
    return [l_mask, rect, _brush_mask(), turned]


def _write(root, tasks=None) -> str:
    rng = np.random.default_rng(4)
    for name in ("a.png", "b.png", "c.png"):
        Image.fromarray(rng.integers(0, 256, (H, W, 3), dtype=np.uint8)).save(root / name)
    path = root / "export.json"
    path.write_text(json.dumps(_tasks() if tasks is None else tasks))
    return str(path)


def test_label_studio_import_gives_the_regions_masks(tmp_path):
    source = make_source("label_studio", _write(tmp_path))
    assert source.categories == [{"id": 1, "name": "figure"}, {"id": 2, "name": "house"}]
    a, b, c = list(source)
    assert [(i.filename, i.source_id) for i in (a, b, c)] == [("a.png", "11"), ("b.png", "12"),
                                                              ("c.png", "13")]
    np.testing.assert_array_equal(a.masks, _expected_a())
    assert a.class_names == ["figure", "house", "figure", "house"]
    np.testing.assert_allclose(a.boxes[3], [20 / H, 26 / W, 28 / H, 30 / W], atol=1e-6)
    assert a.areas.tolist()[:2] == [42.0, 80.0]
    triangle = b.masks[0]
    assert triangle[25, 37] == 1 and triangle[30, 31] == 0 and abs(int(triangle.sum()) - 77) <= 10
    assert c.masks.shape == (0, H, W)
    stats = source.stats
    assert (stats.images_read, stats.instances_read) == (3, 6)
    assert stats.skip_reasons == {"unsupported shape": 1}


def test_label_studio_round_trip_through_records_and_coco_ground_truth(tmp_path, records):
    gt = str(tmp_path / "gt.json")
    stats = convert(make_source("label_studio", _write(tmp_path)), str(tmp_path / "rec"), 2, gt)
    assert (stats.images_written, stats.instances_written, stats.instances_skipped) == (3, 5, 1)
    decoded = {r[K.filename].decode(): r
               for r in records([p for p in stats.outputs if p.endswith(".tfrecord")])}
    np.testing.assert_array_equal(decoded["a.png"]["masks"], _expected_a())
    coco = json.loads(Path(gt).read_text())
    image_id = next(i["id"] for i in coco["images"] if i["file_name"] == "a.png")
    anns = [a for a in coco["annotations"] if a["image_id"] == image_id]
    for ann, mask in zip(anns, _expected_a(), strict=True):
        np.testing.assert_array_equal(mask_utils.decode(ann["segmentation"]), mask)
    assert [c["name"] for c in coco["categories"]] == ["figure", "house"]


def test_label_studio_prefixed_upload_file_is_used_when_present(tmp_path):
    path = _write(tmp_path)
    Image.fromarray(np.zeros((H, W, 3), np.uint8)).save(tmp_path / "abc12345-a.png")
    assert next(iter(make_source("label_studio", path))).filename == "abc12345-a.png"


def _fails(path: str, message: str, named: str | None = None, **kwargs):
    with pytest.raises((ValueError, FileNotFoundError)) as info:
        list(make_source("label_studio", path, **kwargs))
    text = str(info.value)
    assert "\n" not in text and text.startswith((named or path) + ": ") and message in text, text


def _one(result) -> list[dict]:
    return [{"id": 5, "data": {"image": "a.png"}, "annotations": [{"result": [result]}]}]


@pytest.mark.parametrize("result, message", [
    (_result("polygonlabels", {"points": [[1, 1], [5, "x"], [5, 5]], "polygonlabels": ["f"]}),
     "task 5 result 0: point [x, y] must hold finite numbers, got 'x'"),
    (_result("polygonlabels", {"points": 3, "polygonlabels": ["f"]}),
     "task 5 result 0: 'points' must be a list of [x, y]"),
    (_result("rectanglelabels", {"x": 1, "width": 5, "height": 5, "rectanglelabels": ["f"]}),
     "task 5 result 0: y must be a finite number, got None"),
    (_result("rectanglelabels", {"x": 1, "y": 1, "width": 5, "height": 5, "rotation": "9",
                                 "rectanglelabels": ["f"]}),
     "task 5 result 0: rotation must be a finite number, got '9'"),
    (_result("polygonlabels", {"points": [[1, 1], [5, 1], [5, 5]],
                               "polygonlabels": ["f", "g"]}),
     "task 5 result 0: region has several labels: f, g"),
    (_result("brushlabels", {"format": "rle", "rle": [0, 0, 0, 16, 0xE0, 0x0, 0x0],
                             "brushlabels": ["f"]}),
     "task 5 result 0: brush RLE word size is 29 bits (expected 8)"),
    (_result("brushlabels", {"format": "rle", "rle": brush_of(_brush_mask())[:-3],
                             "brushlabels": ["f"]}),
     "task 5 result 0: brush RLE ends early"),
    (_result("brushlabels", {"format": "rle", "rle": brush_of(np.ones((2, 2))),
                             "brushlabels": ["f"]}),
     f"task 5 result 0: brush RLE holds 16 values but a {W}x{H} RGBA image has {W * H * 4}"),
    (_result("brushlabels", {"format": "png", "rle": [], "brushlabels": ["f"]}),
     "task 5 result 0: brush format 'png' is not supported"),
    (_result("brushlabels", {"format": "rle", "brushlabels": ["f"]}),
     "task 5 result 0: brushlabels region has no 'rle'"),
    (dict(_result("polygonlabels", {"points": [], "polygonlabels": ["f"]}), original_width=50),
     f"task 5 result 0: original_width is 50 but the image is {W}x{H}"),
    (_result("polygonlabels", []), "task 5 result 0: 'value' must be an object"),
    (7, "task 5 result 0: a result must be an object, got 7"),
])
def test_label_studio_bad_results(tmp_path, result, message):
    _fails(_write(tmp_path, _one(result)), message)


def test_label_studio_bad_files(tmp_path):
    _fails(_write(tmp_path, {"tasks": 3}), "task #0: expected a task object with 'data'")
    _fails(_write(tmp_path, 5), "expected a Label Studio export (a list of tasks)")
    _fails(_write(tmp_path, [{"data": {"text": "x"}}]),
           "task #0: data.image must be a non-empty string, got None")
    _fails(_write(tmp_path, [{"data": {"image": "a.png"}, "annotations": {}}]),
           "task #0: 'annotations' must be a list of objects")
    _fails(_write(tmp_path, [{"id": 1, "data": {"image": "a.png"}},
                             {"id": 2, "data": {"image": "/data/upload/1/abcdef01-a.png"}}]),
           "duplicate image 'a.png' (task 1 and task 2)")
    _fails(_write(tmp_path, [{"data": {"image": "d.png"}}]), "image file not found",
           named=str(tmp_path / "d.png"))
    broken = tmp_path / "broken.json"
    broken.write_text("[{")
    _fails(str(broken), "not a JSON file")
    _fails(str(tmp_path / "none.json"), "Label Studio export not found")


def test_label_studio_label_map_and_empty_labels(tmp_path, records):
    tasks = _tasks()
    tasks[1]["annotations"][0]["result"][0]["value"]["polygonlabels"] = []
    path = _write(tmp_path, tasks)
    stats = convert(make_source("label_studio", path, label_map={"house": 4}),
                    str(tmp_path / "r"), 1)
    assert stats.skip_reasons == {"class not in label map": 2, "no label": 1,
                                  "unsupported shape": 1}
    assert [r[K.class_label].tolist() for r in records(stats.outputs)] == [[4, 4], [], []]


def test_label_studio_command_line_and_a_failure_leaves_earlier_outputs(tmp_path, capsys,
                                                                        earlier_output):
    path = _write(tmp_path)
    code = cli.main(["--input_type", "label_studio", "--input", path, "--image_dir",
                      str(tmp_path), "--output_path", str(tmp_path / "cli" / "rec")])
    assert code == 0
    assert "images: read 3, written 3, skipped 0" in capsys.readouterr().out
    bad = _write(tmp_path, _one({"type": "rectanglelabels",
                                 "value": {"x": 1, "rectanglelabels": ["f"]}}))
    with pytest.raises(ValueError, match="export.json: task 5 result 0: y must be"):
        earlier_output.convert(make_source("label_studio", bad))
    earlier_output.assert_intact()
    code = cli.main(["--input_type", "label_studio", "--input", bad, "--output_path",
                      str(tmp_path / "cli" / "rec")])
    err = capsys.readouterr().err
    first = err.splitlines()[0]
    assert code == 1 and first.startswith("error: ") and "export.json: task 5 result 0" in first


def test_label_studio_ellipses(tmp_path):
    value = {"x": 10 * 100 / W, "y": 25 * 100 / H, "radiusX": 3 * 100 / W,
             "radiusY": 1 * 100 / H, "ellipselabels": ["f"]}
    results = [_result("ellipselabels", value),
               _result("ellipselabels", dict(value, rotation=90)),
               _result("ellipselabels", dict(value, radiusY=0))]
    tasks = [{"id": 1, "data": {"image": "a.png"}, "annotations": [{"result": results}]}]
    source = make_source("label_studio", _write(tmp_path, tasks))
    (image,) = list(source)
    flat = np.zeros((H, W), np.uint8)
    flat[24:26, 7:13] = 1         # pixel centres inside x: 10 +- 3, y: 25 +- 1
    turned = np.zeros((H, W), np.uint8)
    turned[22:28, 9:11] = 1       # the same turned by 90 degrees around the centre
    np.testing.assert_array_equal(image.masks, [flat, turned])
    assert source.stats.skip_reasons == {"circle or ellipse of radius 0": 1}
