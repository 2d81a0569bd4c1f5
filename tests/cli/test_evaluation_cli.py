"""evaluation.py end to end on the tiny exported model: drawn maps with the expected names,
the COCO results file checked with pycocotools itself, the metrics printed, what is reported,
and one-sentence errors with exit status 1 that write nothing."""

from __future__ import annotations

import contextlib
import io
import json

import numpy as np
import pytest
from PIL import Image
from pycocotools import mask as mask_utils
from pycocotools.coco import COCO
from pycocotools.cocoeval import COCOeval

import evaluation
from object_detection.evaluation import metric_names
from tests.cli.conftest import (MAP_ONE, MAP_TWO, NOTES, error_line, read_rgb, tree,
                                write_maps)
from tests.export.conftest import sample_image

EXTRA = "extra map.png"  # an image without ground truth
ABSENT = "absent.png"  # ground truth without an image


def _ground_truth(path, model, maps) -> dict:
    """COCO ground truth of MAP_ONE (its one figure: the model's own best detection, so that
    the metrics are not all 0), MAP_TWO (a square, under a folder in file_name) and ABSENT."""
    image = read_rgb(maps[MAP_ONE])
    height, width = image.shape[:2]
    best = model.detect(image)
    ymin, xmin, ymax, xmax = best.boxes[0].astype(float)
    rle = mask_utils.encode(np.asfortranarray(best.image_mask(0, 0.5).astype(np.uint8)))
    assert mask_utils.area(rle) > 0
    data = {
        "images": [{"id": 7, "file_name": MAP_ONE, "height": height, "width": width},
                   {"id": 9, "file_name": f"some/folder/{MAP_TWO}", "height": 64, "width": 90},
                   {"id": 11, "file_name": ABSENT, "height": 10, "width": 10}],
        "annotations": [
            {"id": 1, "image_id": 7, "category_id": 1, "iscrowd": 0,
             "bbox": [xmin * width, ymin * height, (xmax - xmin) * width, (ymax - ymin) * height],
             "area": float(mask_utils.area(rle)),
             "segmentation": {"size": [height, width], "counts": rle["counts"].decode()}},
            {"id": 2, "image_id": 9, "category_id": 1, "iscrowd": 0,
             "bbox": [20, 40, 30, 20], "area": 600.0,
             "segmentation": [[20, 40, 50, 40, 50, 60, 20, 60]]}],
        "categories": [{"id": 1, "name": "character"}],
    }
    path.write_text(json.dumps(data), encoding="utf-8")
    return data


def _printed_metrics(text: str) -> dict[str, float]:
    values = {}
    for line in text.splitlines():
        name, _, value = line.rpartition(": ")
        if name.startswith(("DetectionBoxes_", "DetectionMasks_")):
            values[name] = float(value)
    return values


def _coco_stats(gt_path, results: list[dict], iou_type: str) -> np.ndarray:
    with contextlib.redirect_stdout(io.StringIO()):
        truth = COCO(str(gt_path))
        evaluation_ = COCOeval(truth, truth.loadRes(results), iouType=iou_type)
        evaluation_.evaluate()
        evaluation_.accumulate()
        evaluation_.summarize()
    return evaluation_.stats


def test_draws_writes_results_and_prints_metrics(exported_model, model, tmp_path, capsys):
    images = tmp_path / "maps"
    maps = write_maps(images)
    Image.fromarray(sample_image(2, 70, 70)).save(images / EXTRA)
    gt_path = tmp_path / "ground truth.json"
    _ground_truth(gt_path, model, maps)
    out = tmp_path / "evaluated"
    before = tree(tmp_path, exported_model, skip=out)
    code = evaluation.main(["--model", str(exported_model), "--images", str(images),
                            "--ground_truth", str(gt_path), "--output_dir", str(out),
                            "--score_threshold", "0.2", "--batch_size", "2"])
    printed = capsys.readouterr().out
    assert code == 0, printed
    assert tree(tmp_path, exported_model, skip=out) == before  # nothing written elsewhere

    drawn = {"map one.png", "Zürich #2.png", "extra map.png"}
    assert {p.name for p in out.iterdir()} == drawn | {"detections.json", "metrics.json"}
    for name in (MAP_ONE, MAP_TWO, EXTRA):
        image = read_rgb(images / name)
        picture = read_rgb(out / (name.rsplit(".", 1)[0] + ".png"))
        assert picture.shape == image.shape
        shown = len(model.detect(image, 0.2))
        assert (shown > 0) == bool(np.any(picture != image)), name  # drawn on it iff detections
        assert f"{name}: {shown} detection(s) drawn -> {out}" in printed
    assert "3 map(s) processed" in printed
    assert f"{images / NOTES}: not an image file" in printed
    assert f"not evaluated: {images / EXTRA}: not in the ground truth" in printed
    assert f"1 ground-truth image(s) not in the folder (not evaluated): {ABSENT}" in printed
    assert "2 image(s) evaluated against the ground truth" in printed
    assert f"wrote {out / 'detections.json'}" in printed

    # The results file: every detection of the two evaluated maps, ids of the ground truth.
    results = json.loads((out / "detections.json").read_text(encoding="utf-8"))
    expected = {7: len(model.detect(read_rgb(maps[MAP_ONE]))),
                9: len(model.detect(read_rgb(maps[MAP_TWO])))}
    assert {i: sum(r["image_id"] == i for r in results) for i in (7, 9)} == expected
    assert all(set(r) == {"image_id", "category_id", "bbox", "score", "segmentation"}
               and set(r["segmentation"]) == {"size", "counts"} for r in results)

    # The printed metrics are pycocotools' own on the files: boxes, and masks (segmentations
    # only, so that loadRes takes their areas from the masks).
    metrics = _printed_metrics(printed)
    assert list(metrics) == metric_names.metric_names()
    boxes = _coco_stats(gt_path, results, "bbox")
    masks = _coco_stats(gt_path, [{k: v for k, v in r.items() if k != "bbox"} for r in results],
                        "segm")
    for index, stat in enumerate(metric_names.STATS):
        assert metrics["DetectionBoxes_" + stat] == pytest.approx(boxes[index], abs=6e-5)
        assert metrics["DetectionMasks_" + stat] == pytest.approx(masks[index], abs=6e-5)
    assert metrics["DetectionMasks_Precision/mAP@.50IOU"] > 0  # the figure of MAP_ONE is found
    saved = json.loads((out / "metrics.json").read_text(encoding="utf-8"))
    assert saved["DetectionBoxes_Precision/mAP"] == pytest.approx(boxes[0])


def test_without_ground_truth_only_draws(exported_model, tmp_path, capsys):
    images = tmp_path / "maps"
    write_maps(images)
    out = tmp_path / "out"
    code = evaluation.main(["--model", str(exported_model / "frozen_inference_graph.pb"),
                            "--images", str(images), "--output_dir", str(out)])
    printed = capsys.readouterr().out
    assert code == 0
    assert sorted(p.name for p in out.iterdir()) == ["Zürich #2.png", "map one.png"]
    assert "DetectionBoxes_" not in printed and "2 map(s) processed" in printed


def _error(capsys, args) -> str:
    code = evaluation.main(args)
    err = capsys.readouterr().err
    assert code == 1, err
    return error_line(err)


def test_wrong_inputs_write_nothing(exported_model, wrong_model, tmp_path, capsys):
    images = tmp_path / "maps"
    write_maps(images)
    out = tmp_path / "out"
    common = ["--images", str(images), "--output_dir", str(out)]
    err = _error(capsys, ["--model", str(wrong_model)] + common)
    assert "not an exported detection model" in err and str(wrong_model) in err
    empty = tmp_path / "empty"
    empty.mkdir()
    err = _error(capsys, ["--model", str(exported_model), "--images", str(empty),
                          "--output_dir", str(out)])
    assert f"{empty}: no image files" in err
    other = tmp_path / "other.json"
    other.write_text(json.dumps({"images": [{"id": 1, "file_name": "x.png", "height": 5,
                                             "width": 5}],
                                 "annotations": [], "categories": [{"id": 1, "name": "c"}]}))
    err = _error(capsys, ["--model", str(exported_model), "--ground_truth", str(other)] + common)
    assert "none of the images of" in err and "is in the ground truth" in err
    (tmp_path / "broken.json").write_text("{", encoding="utf-8")
    err = _error(capsys, ["--model", str(exported_model), "--ground_truth",
                          str(tmp_path / "broken.json")] + common)
    assert "broken.json: not a JSON file" in err
    err = _error(capsys, ["--model", str(exported_model), "--images", str(images),
                          "--output_dir", str(images)])
    assert "the output folder must not be the input folder" in err
    err = _error(capsys, ["--model", str(exported_model), "--score_threshold", "1.5"] + common)
    assert "--score_threshold must be between 0 and 1, got 1.5" in err
    assert not out.exists() and sorted(p.name for p in images.iterdir()) == sorted(
        [MAP_ONE, MAP_TWO, NOTES])


def test_help_describes_every_flag(capsys):
    with pytest.raises(SystemExit) as exit_info:
        evaluation.main(["--help"])
    assert exit_info.value.code == 0
    text = capsys.readouterr().out
    for flag in ("--model", "--images", "--ground_truth", "--output_dir", "--score_threshold",
                 "--mask_threshold", "--label_map", "--batch_size", "detections.json"):
        assert flag in text
