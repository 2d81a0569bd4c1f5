"""COCO JSON -> records -> COCO JSON gives back the input (masks through pycocotools)."""

from __future__ import annotations

import contextlib
import io
import json
import os

import numpy as np
import pytest
from PIL import Image
from pycocotools import mask as mask_utils
from pycocotools.coco import COCO
from pycocotools.cocoeval import COCOeval

from object_detection.dataset_tools.coco_ground_truth import records_to_coco
from object_detection.dataset_tools.conversion import convert, make_source
from object_detection.fields import TfExampleKeys as K

H, W = 32, 48


def _rle(mask: np.ndarray) -> dict:
    rle = mask_utils.encode(np.asfortranarray(mask.astype(np.uint8)))
    return {"size": [H, W], "counts": rle["counts"].decode("ascii")}


def _uncompressed_rle(mask: np.ndarray) -> dict:
    flat = mask.astype(np.uint8).flatten(order="F")
    counts, value, run = [], 0, 0
    for v in flat:
        if v == value:
            run += 1
        else:
            counts.append(run)
            value, run = v, 1
    counts.append(run)
    return {"size": [H, W], "counts": counts}


def _ann(ann_id, image_id, category_id, segmentation, iscrowd=0):
    if isinstance(segmentation, list):
        rle = mask_utils.merge(mask_utils.frPyObjects(segmentation, H, W))
    else:
        rle = mask_utils.frPyObjects(segmentation, H, W) if isinstance(
            segmentation["counts"], list) else dict(segmentation, counts=segmentation["counts"].encode())
    return {"id": ann_id, "image_id": image_id, "category_id": category_id,
            "segmentation": segmentation, "iscrowd": iscrowd,
            "area": float(mask_utils.area(rle)) + 0.25,   # distinct from the pixel count: kept
            "bbox": [float(v) for v in mask_utils.toBbox(rle)]}


def _write_dataset(root: str) -> str:
    os.makedirs(os.path.join(root, "images"))
    rng = np.random.default_rng(3)
    blob = np.zeros((H, W), bool)
    blob[5:20, 25:40] = rng.random((15, 15)) < 0.7
    crowd = np.zeros((H, W), bool)
    crowd[22:30, 2:20] = True
    crowd[25, 5:9] = False
    other = np.zeros((H, W), bool)
    other[1:4, 1:45] = True
    images = [{"id": 10, "file_name": "images/a.png", "height": H, "width": W},
              {"id": 20, "file_name": "images/b.jpg", "height": H, "width": W},
              {"id": 30, "file_name": "images/c.png", "height": H, "width": W}]
    for info in images:
        pixels = rng.integers(0, 256, (H, W, 3), dtype=np.uint8)
        Image.fromarray(pixels).save(os.path.join(root, info["file_name"]))
    annotations = [
        _ann(1, 10, 3, [[2.5, 3.0, 20.2, 4.1, 11.0, 18.7]]),
        _ann(2, 10, 7, _rle(blob)),
        _ann(3, 10, 3, _uncompressed_rle(crowd), iscrowd=1),
        _ann(4, 20, 7, [[30.0, 10.0, 44.0, 10.0, 44.0, 28.0, 30.0, 28.0],
                        [5.2, 20.0, 15.0, 20.5, 9.0, 30.0]]),
        _ann(5, 20, 3, _rle(other)),
    ]
    data = {"images": images, "annotations": annotations,
            "categories": [{"id": 3, "name": "cat"}, {"id": 7, "name": "dog"}]}
    path = os.path.join(root, "instances.json")
    with open(path, "w") as f:
        json.dump(data, f)
    return path


def _quiet_coco(path: str) -> COCO:
    with contextlib.redirect_stdout(io.StringIO()):
        return COCO(path)


def _iou(a: np.ndarray, b: np.ndarray) -> float:
    return np.logical_and(a, b).sum() / np.logical_or(a, b).sum()


@pytest.mark.parametrize("segmentation", ["rle", "polygon"])
def test_coco_round_trip(tmp_path, segmentation):
    source_json = _write_dataset(str(tmp_path / "coco"))
    out_json = str(tmp_path / "gt.json")
    stats = convert(make_source("coco", source_json), str(tmp_path / "rec"), 2, out_json,
                    segmentation)
    assert (stats.images_written, stats.instances_written, stats.instances_skipped) == (3, 5, 0)
    src, out = _quiet_coco(source_json), _quiet_coco(out_json)
    assert out.dataset["categories"] == src.dataset["categories"]
    assert sorted(out.imgs) == [10, 20, 30]
    for image_id in (10, 20, 30):
        assert {k: out.imgs[image_id][k] for k in ("file_name", "height", "width")} == \
            {k: src.imgs[image_id][k] for k in ("file_name", "height", "width")}
        src_anns = src.loadAnns(src.getAnnIds(imgIds=image_id))
        out_anns = out.loadAnns(out.getAnnIds(imgIds=image_id))
        assert len(out_anns) == len(src_anns)
        for a, b in zip(src_anns, out_anns):
            assert (b["category_id"], b["iscrowd"]) == (a["category_id"], a["iscrowd"])
            assert b["area"] == pytest.approx(a["area"], rel=1e-6)
            src_mask, out_mask = src.annToMask(a), out.annToMask(b)
            if isinstance(a["segmentation"], list):
                np.testing.assert_allclose(b["bbox"], a["bbox"], atol=1.0)
            else:
                assert b["bbox"] == a["bbox"]
            if segmentation == "rle" or b["iscrowd"]:
                assert isinstance(b["segmentation"], dict)
                np.testing.assert_array_equal(out_mask, src_mask)   # RLE: exact
            else:
                assert isinstance(b["segmentation"], list)
                assert _iou(src_mask, out_mask) >= 0.9
                assert (out_mask >= src_mask).all()   # polygons only fill holes


def test_ground_truth_evaluates_perfectly_against_itself(tmp_path):
    source_json = _write_dataset(str(tmp_path / "coco"))
    out_json = str(tmp_path / "gt.json")
    convert(make_source("coco", source_json), str(tmp_path / "rec"), 1, out_json)
    gt = _quiet_coco(out_json)
    results = [dict(a, score=1.0) for a in gt.dataset["annotations"] if not a["iscrowd"]]
    with contextlib.redirect_stdout(io.StringIO()):
        detections = gt.loadRes(results)
        evaluation = COCOeval(gt, detections, "segm")
        evaluation.evaluate()
        evaluation.accumulate()
        evaluation.summarize()
    assert evaluation.stats[0] == pytest.approx(1.0)


def test_label_map_maps_by_name_and_skips_other_classes(tmp_path, records):
    source_json = _write_dataset(str(tmp_path / "coco"))
    source = make_source("coco", source_json, label_map={"dog": 1, "bird": 2})
    stats = convert(source, str(tmp_path / "rec"), 1)
    assert stats.instances_read == 5 and stats.instances_written == 2
    assert stats.instances_skipped == 3
    assert stats.skip_reasons == {"class not in label map": 3}
    decoded = records(stats.outputs)
    assert [r[K.class_label].tolist() for r in decoded] == [[1], [1], []]
    assert [r[K.class_text].tolist() for r in decoded] == [[b"dog"], [b"dog"], []]
    assert source.categories == [{"id": 1, "name": "dog"}, {"id": 2, "name": "bird"}]
    strict = make_source("coco", source_json, label_map={"dog": 1}, strict=True)
    with pytest.raises(ValueError, match="annotation 1 class 'cat': class not in label map"):
        convert(strict, str(tmp_path / "rec_strict"), 1)


def test_box_only_annotations(tmp_path, records):
    root = tmp_path / "coco"
    root.mkdir()
    Image.fromarray(np.zeros((H, W, 3), np.uint8)).save(root / "a.png")
    data = {"images": [{"id": 1, "file_name": "a.png", "height": H, "width": W}],
            "annotations": [{"id": 1, "image_id": 1, "category_id": 1, "bbox": [4.0, 2.0, 10.5, 6.0],
                             "area": 63.0, "iscrowd": 0}],
            "categories": [{"id": 1, "name": "figure"}]}
    (root / "box.json").write_text(json.dumps(data))
    out_json = str(tmp_path / "gt.json")
    stats = convert(make_source("coco", str(root / "box.json")), str(tmp_path / "rec"), 1, out_json)
    assert stats.box_only_images == 1
    r = records([p for p in stats.outputs if p.endswith(".tfrecord")])[0]
    assert K.instance_masks not in r["present"]
    np.testing.assert_allclose(r["boxes_yx"], [[2 / H, 4 / W, 8 / H, 14.5 / W]], atol=1e-6)
    out = _quiet_coco(out_json)
    assert out.dataset["annotations"][0]["bbox"] == [4.0, 2.0, 10.5, 6.0]
    assert out.dataset["annotations"][0]["area"] == 63.0


def test_records_to_coco_from_prefix_and_with_given_categories(tmp_path):
    source_json = _write_dataset(str(tmp_path / "coco"))
    convert(make_source("coco", source_json), str(tmp_path / "rec"), 2)
    stats = records_to_coco(str(tmp_path / "rec"), str(tmp_path / "gt.json"),
                            categories={"cat": 3, "dog": 7, "bird": 9})
    assert (stats.images_written, stats.instances_written) == (3, 5)
    out = _quiet_coco(str(tmp_path / "gt.json"))
    assert [c["name"] for c in out.dataset["categories"]] == ["cat", "dog", "bird"]
    with pytest.raises(ValueError, match=r"class ids \[7\]"):
        records_to_coco(str(tmp_path / "rec"), str(tmp_path / "x.json"), categories={"cat": 3})


def test_records_to_coco_names_a_broken_record_file(tmp_path):
    bad = tmp_path / "bad-00000-of-00001.tfrecord"
    bad.write_bytes(b"this is not a record file at all")
    with pytest.raises(ValueError, match="bad-00000-of-00001.tfrecord: not a readable TFRecord"):
        records_to_coco([str(bad)], str(tmp_path / "gt.json"))
    with pytest.raises(FileNotFoundError, match="nothing: no record files match"):
        records_to_coco(str(tmp_path / "nothing"), str(tmp_path / "gt.json"))
