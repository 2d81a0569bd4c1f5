"""CocoEvaluator on hand-made cases whose COCO numbers are known."""

from __future__ import annotations

import errno
import functools
import json
import os
from pathlib import Path

import numpy as np
import pytest
from pycocotools import mask as mask_utils
from pycocotools.coco import COCO
from pycocotools.cocoeval import COCOeval

from object_detection.data import dataset, resizer
from object_detection.dataset_tools.annotated_image import AnnotatedImage
from object_detection.dataset_tools.coco_ground_truth import records_to_coco
from object_detection.dataset_tools.coco_segmentation import segmentation_to_mask
from object_detection.dataset_tools.image_io import encode_image_bytes
from object_detection.dataset_tools.tf_example import build_example
from object_detection.evaluation import metric_names
from object_detection.evaluation.coco_evaluator import CocoEvaluator
from object_detection.fields import InputFields
from tests.data import example_records as er

CATEGORIES = [{"id": 1, "name": "figure"}]
SIZE = 200  # square test images; boxes of 100 x 100 pixels are "large" (> 96^2)
# COCO interpolates precision at 101 recall points 0, 0.01, ..., 1: with one of two objects
# found (precision 1 up to recall 0.5, nothing after) 51 of them have precision 1.
HALF_FOUND_AP = 51 / 101

B = metric_names.BOXES
M = metric_names.MASKS


def square_mask(top: int, left: int, height: int, width: int, size: int = SIZE) -> np.ndarray:
    mask = np.zeros((size, size), np.uint8)
    mask[top:top + height, left:left + width] = 1
    return mask


def two_objects() -> tuple[np.ndarray, np.ndarray]:
    """Boxes (normalized) and masks of two 100 x 100 squares: top left and bottom right."""
    boxes = np.array([[0.0, 0.0, 0.5, 0.5], [0.5, 0.5, 1.0, 1.0]], np.float32)
    masks = np.stack([square_mask(0, 0, 100, 100), square_mask(100, 100, 100, 100)])
    return boxes, masks


def evaluator_with_two_objects() -> CocoEvaluator:
    evaluator = CocoEvaluator(CATEGORIES)
    boxes, masks = two_objects()
    evaluator.add_groundtruth("7", boxes, [1, 1], SIZE, SIZE, masks=masks)
    return evaluator


def test_metric_names_are_the_od_api_ones():
    names = metric_names.metric_names()
    assert len(names) == 24
    assert names[:3] == ["DetectionBoxes_Precision/mAP", "DetectionBoxes_Precision/mAP@.50IOU",
                         "DetectionBoxes_Precision/mAP@.75IOU"]
    assert "DetectionMasks_Recall/AR@100 (medium)" in names
    assert metric_names.metric_names(include_masks=False) == names[:12]


def test_perfect_detections_score_one():
    evaluator = evaluator_with_two_objects()
    boxes, masks = two_objects()
    evaluator.add_detections("7", boxes, [0.9, 0.8], [1, 1], masks=masks)
    metrics = evaluator.evaluate()
    assert set(metrics) == set(metric_names.metric_names())
    for prefix in (B, M):
        for stat in ("Precision/mAP", "Precision/mAP@.50IOU", "Precision/mAP@.75IOU",
                     "Precision/mAP (large)", "Recall/AR@10", "Recall/AR@100"):
            assert metrics[prefix + stat] == pytest.approx(1.0)
        assert metrics[prefix + "Recall/AR@1"] == pytest.approx(0.5)  # one det per image
        assert metrics[prefix + "Precision/mAP (small)"] == -1.0       # no small objects
        assert metrics[prefix + "Precision/mAP (medium)"] == -1.0


def test_one_of_two_found_gives_the_101_point_interpolated_ap():
    evaluator = evaluator_with_two_objects()
    boxes, masks = two_objects()
    evaluator.add_detections("7", boxes[:1], [0.9], [1], masks=masks[:1])
    metrics = evaluator.evaluate()
    for prefix in (B, M):
        assert metrics[prefix + "Precision/mAP"] == pytest.approx(HALF_FOUND_AP)
        assert metrics[prefix + "Precision/mAP@.50IOU"] == pytest.approx(HALF_FOUND_AP)
        assert metrics[prefix + "Precision/mAP@.75IOU"] == pytest.approx(HALF_FOUND_AP)
        assert metrics[prefix + "Recall/AR@100"] == pytest.approx(0.5)


def test_a_box_with_iou_062_counts_at_050_not_at_075():
    evaluator = CocoEvaluator(CATEGORIES)
    evaluator.add_groundtruth(1, [[0.0, 0.0, 0.5, 0.5]], [1], SIZE, SIZE)
    # 62 x 100 pixels inside the 100 x 100 ground truth: IoU 0.62.
    evaluator.add_detections(1, [[0.0, 0.0, 0.31, 0.5]], [0.9], [1])
    metrics = evaluator.evaluate(include_masks=False)
    assert set(metrics) == set(metric_names.metric_names(include_masks=False))
    assert metrics[B + "Precision/mAP@.50IOU"] == pytest.approx(1.0)
    assert metrics[B + "Precision/mAP@.75IOU"] == 0.0
    # IoU thresholds 0.50, 0.55, ..., 0.95: matched at 0.50, 0.55 and 0.60 only.
    assert metrics[B + "Precision/mAP"] == pytest.approx(0.3)
    assert metrics[B + "Recall/AR@100"] == pytest.approx(0.3)


def test_mask_metrics_differ_from_box_metrics_when_only_the_mask_is_wrong():
    evaluator = CocoEvaluator(CATEGORIES)
    evaluator.add_groundtruth(1, [[0.0, 0.0, 0.5, 0.5]], [1], SIZE, SIZE,
                              masks=square_mask(0, 0, 100, 100)[None])
    # The box is perfect; the mask covers only the top 72 rows: mask IoU 0.72.
    evaluator.add_detections(1, [[0.0, 0.0, 0.5, 0.5]], [0.9], [1],
                             masks=square_mask(0, 0, 72, 100)[None])
    metrics = evaluator.evaluate()
    assert metrics[B + "Precision/mAP"] == pytest.approx(1.0)
    assert metrics[B + "Precision/mAP@.75IOU"] == pytest.approx(1.0)
    assert metrics[M + "Precision/mAP@.50IOU"] == pytest.approx(1.0)
    assert metrics[M + "Precision/mAP@.75IOU"] == 0.0
    assert metrics[M + "Precision/mAP"] == pytest.approx(0.5)  # 0.50 ... 0.70 of 10


def test_size_ranges_use_the_given_area_else_the_mask_area():
    evaluator = CocoEvaluator(CATEGORIES)
    masks = np.stack([square_mask(0, 0, 20, 20), square_mask(100, 100, 100, 100)])
    boxes = np.array([[0.0, 0.0, 0.1, 0.1], [0.5, 0.5, 1.0, 1.0]])
    evaluator.add_groundtruth(1, boxes, [1, 1], SIZE, SIZE, masks=masks)
    evaluator.add_detections(1, boxes[:1], [0.9], [1], masks=masks[:1])  # the small one
    metrics = evaluator.evaluate()
    for prefix in (B, M):
        assert metrics[prefix + "Precision/mAP (small)"] == pytest.approx(1.0)  # 400 px
        assert metrics[prefix + "Precision/mAP (large)"] == 0.0
        assert metrics[prefix + "Precision/mAP (medium)"] == -1.0
        assert metrics[prefix + "Precision/mAP"] == pytest.approx(HALF_FOUND_AP)
    # A given area overrides: both objects "medium" now.
    evaluator = CocoEvaluator(CATEGORIES)
    evaluator.add_groundtruth(1, boxes, [1, 1], SIZE, SIZE, masks=masks, area=[2000.0, 2000.0])
    evaluator.add_detections(1, boxes[:1], [0.9], [1], masks=masks[:1])
    metrics = evaluator.evaluate()
    assert metrics[B + "Precision/mAP (medium)"] == pytest.approx(HALF_FOUND_AP)
    assert metrics[B + "Precision/mAP (small)"] == -1.0


def test_box_relative_masks_are_reframed_and_thresholded_at_half():
    boxes = np.array([[0.25, 0.25, 0.75, 0.75]], np.float32)
    gt_mask = square_mask(50, 50, 100, 100)[None]
    for probability, expected in ((0.6, 1.0), (0.4, 0.0)):
        evaluator = CocoEvaluator(CATEGORIES)
        evaluator.add_groundtruth(1, boxes, [1], SIZE, SIZE, masks=gt_mask)
        evaluator.add_detections(1, boxes, [0.9], [1],
                                 masks=np.full((1, 8, 8), probability, np.float32))
        metrics = evaluator.evaluate()
        assert metrics[M + "Precision/mAP"] == pytest.approx(expected)
        assert metrics[B + "Precision/mAP"] == pytest.approx(1.0)
    # The reframed 0.6 mask is exactly the box's pixels (rows/cols 50..149).
    evaluator = CocoEvaluator(CATEGORIES)
    evaluator.add_groundtruth(1, boxes, [1], SIZE, SIZE, masks=gt_mask)
    evaluator.add_detections(1, boxes, [0.9], [1], masks=np.full((1, 8, 8), 0.6, np.float32))
    rle = dict(evaluator.results("segm")[0]["segmentation"])
    rle["counts"] = rle["counts"].encode("ascii")
    np.testing.assert_array_equal(mask_utils.decode(rle), gt_mask[0])


def test_no_detections_at_all_gives_zero_and_minus_one():
    evaluator = evaluator_with_two_objects()
    boxes, masks = two_objects()
    evaluator.add_groundtruth("8", boxes, [1, 1], SIZE, SIZE, masks=masks)
    evaluator.add_detections("8", np.zeros((0, 4)), [], [], masks=np.zeros((0, 15, 15)))
    metrics = evaluator.evaluate()  # image "7" has no detections added at all
    for prefix in (B, M):
        assert metrics[prefix + "Precision/mAP"] == 0.0
        assert metrics[prefix + "Recall/AR@100"] == 0.0
        assert metrics[prefix + "Precision/mAP (small)"] == -1.0
    assert evaluator.results() == []


def test_image_ids_follow_the_ground_truth_writer_rule():
    digits = CocoEvaluator(CATEGORIES)
    strings = CocoEvaluator(CATEGORIES)
    boxes, _ = two_objects()
    for image_id in ("12", b"5"):
        digits.add_groundtruth(image_id, boxes, [1, 1], SIZE, SIZE)
    for image_id in ("map_b", "map_a"):
        strings.add_groundtruth(image_id, boxes, [1, 1], SIZE, SIZE)
    assert [img["id"] for img in digits.groundtruth_dict()["images"]] == [12, 5]
    assert [img["id"] for img in strings.groundtruth_dict()["images"]] == [1, 2]
    annotations = strings.groundtruth_dict()["annotations"]
    assert [a["id"] for a in annotations] == [1, 2, 3, 4]  # COCOeval needs ids from 1
    assert annotations[1]["bbox"] == [100.0, 100.0, 100.0, 100.0]
    assert annotations[1]["area"] == 10000.0


def test_a_failed_rewrite_of_the_results_keeps_the_old_file(tmp_path, monkeypatch):
    """The disk fills up while the new results are flushed: the old file is left whole and the
    error names it."""
    evaluator = evaluator_with_two_objects()
    boxes, masks = two_objects()
    evaluator.add_detections("7", boxes, [0.9, 0.8], [1, 1], masks=masks)
    path = evaluator.write_results_json(str(tmp_path / "results.json"))
    before = Path(path).read_bytes()
    evaluator.add_detections("7", boxes[:1], [0.5], [1], masks=masks[:1])

    def full_disk(fd):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(os, "fsync", full_disk)
    with pytest.raises(OSError) as error:
        evaluator.write_results_json(path)
    monkeypatch.undo()
    assert error.value.filename == path and error.value.errno == errno.ENOSPC
    assert Path(path).read_bytes() == before and os.listdir(tmp_path) == ["results.json"]


def test_written_json_loads_in_pycocotools_and_gives_the_same_numbers(tmp_path):
    evaluator = evaluator_with_two_objects()
    boxes, masks = two_objects()
    wrong = masks.copy()
    wrong[1, 100:140] = 0  # second mask: IoU 0.6
    shifted = boxes + np.array([0.0, 0.02, 0.0, 0.02])  # slightly shifted second box
    evaluator.add_detections("7", np.stack([boxes[0], shifted[1]]), [0.9, 0.95], [1, 1],
                             masks=np.stack([masks[0], wrong[1]]))
    metrics = evaluator.evaluate()
    gt_path = evaluator.write_groundtruth_json(str(tmp_path / "gt" / "groundtruth.json"))
    segm_path = evaluator.write_results_json(str(tmp_path / "segm.json"), iou_type="segm")
    both_path = evaluator.write_results_json(str(tmp_path / "both.json"))
    both = json.loads(Path(both_path).read_text())
    assert set(both[0]) == {"image_id", "category_id", "score", "bbox", "segmentation"}
    assert both[0]["image_id"] == 7
    for path, iou_type, prefix in ((both_path, "bbox", B), (segm_path, "segm", M)):
        groundtruth = COCO(gt_path)
        evaluation = COCOeval(groundtruth, groundtruth.loadRes(path), iou_type)
        evaluation.evaluate()
        evaluation.accumulate()
        evaluation.summarize()
        for name, value in zip(metric_names.STATS, evaluation.stats):
            assert metrics[prefix + name] == pytest.approx(value), name
    assert 0.0 < metrics[M + "Precision/mAP"] < metrics[B + "Precision/mAP"] < 1.0


def test_add_batch_scales_to_the_original_image_and_skips_padding():
    # Original 200 x 100 (H x W), resized to 100 x 50, padded to 112 x 64.
    gt_boxes = np.zeros((1, 2, 4), np.float32)
    gt_boxes[0, 0] = [0.25, 0.2, 0.75, 0.6]   # original pixels: rows 50..149, cols 20..59
    resized_masks = np.zeros((1, 2, 112, 64), np.uint8)
    resized_masks[0, 0, 25:75, 10:30] = 1
    inputs = {
        InputFields.source_id: np.array([b"42"]),
        InputFields.true_image_shape: np.array([[100, 50, 3]], np.int32),
        InputFields.original_image_spatial_shape: np.array([[200, 100]], np.int32),
        InputFields.num_groundtruth_boxes: np.array([1], np.int32),
        InputFields.groundtruth_boxes: gt_boxes,
        InputFields.groundtruth_classes: np.array([[1, 0]], np.int32),
        InputFields.groundtruth_instance_masks: resized_masks,
        InputFields.groundtruth_is_crowd: np.zeros((1, 2), bool),
        InputFields.groundtruth_area: np.array([[4000.0, 0.0]], np.float32),
    }
    det_boxes = np.zeros((1, 3, 4), np.float32)
    det_boxes[0, 0] = gt_boxes[0, 0]
    det_boxes[0, 1] = [0.0, 0.0, 0.1, 0.1]  # past num_detections: must be ignored
    detections = {
        "num_detections": np.array([1.0], np.float32),
        "detection_boxes": det_boxes,
        "detection_scores": np.array([[0.9, 0.8, 0.0]], np.float32),
        "detection_classes": np.array([[1.0, 1.0, 0.0]], np.float32),
        "detection_masks": np.full((1, 3, 6, 6), 0.9, np.float32),
    }
    evaluator = CocoEvaluator(CATEGORIES)
    evaluator.add_batch(detections, inputs)
    groundtruth = evaluator.groundtruth_dict()
    assert groundtruth["images"] == [{"id": 42, "height": 200, "width": 100, "file_name": "42"}]
    (annotation,) = groundtruth["annotations"]
    assert annotation["bbox"] == pytest.approx([20.0, 50.0, 40.0, 100.0])
    assert annotation["area"] == 4000.0
    assert annotation["segmentation"]["size"] == [200, 100]
    assert len(evaluator.results()) == 1
    metrics = evaluator.evaluate()
    assert metrics[B + "Precision/mAP"] == pytest.approx(1.0)
    assert metrics[M + "Precision/mAP"] == pytest.approx(1.0)


def test_bad_input_and_skips(caplog):
    evaluator = CocoEvaluator(CATEGORIES)
    with pytest.raises(ValueError, match="no ground truth"):
        evaluator.evaluate()
    boxes, masks = two_objects()
    with pytest.raises(ValueError, match=r"image 'a'.*class ids \[3\]"):
        evaluator.add_groundtruth("a", boxes, [1, 3], SIZE, SIZE)
    with pytest.raises(ValueError, match="masks have shape"):
        evaluator.add_groundtruth("a", boxes, [1, 1], SIZE, SIZE, masks=masks[:, :100])
    with caplog.at_level("WARNING"):
        evaluator.add_detections("never", boxes, [0.5, 0.5], [1, 1])
    assert evaluator.skipped["detections_without_groundtruth"] == 1
    assert "'never'" in caplog.text
    evaluator.add_groundtruth("a", boxes, [1, 1], SIZE, SIZE)  # box-only ground truth
    evaluator.add_detections("a", boxes, [0.5, 0.5], [1, 2])   # class 2 is unknown
    assert evaluator.skipped["unknown_class"] == 1
    assert len(evaluator.results()) == 1
    with pytest.raises(ValueError, match="image 'a' has ground truth without masks"):
        evaluator.evaluate()
    assert evaluator.evaluate(include_masks=False)[B + "Precision/mAP"] == pytest.approx(
        HALF_FOUND_AP)
    with pytest.raises(ValueError, match="distinct 1-based ids"):
        CocoEvaluator([{"id": 0, "name": "background"}])


def test_batches_of_the_input_pipeline_match_the_ground_truth_writer(tmp_path):
    """Records -> resized, padded batches -> add_batch gives the same COCO ground truth as
    records_to_coco writes from those records, and GT-perfect detections score 1."""
    scene = er.make_scene()
    encoded = encode_image_bytes(er.encode(scene.image), "scene")
    path = er.write_records(tmp_path / "eval.record", [build_example(AnnotatedImage(
        f"map{source_id}.png", source_id, encoded, scene.classes, ["one", "two"], scene.boxes,
        scene.masks, np.zeros(2, bool), scene.masks.sum((1, 2)).astype(np.float32)
    )).SerializeToString() for source_id in ("3", "9")])
    options = dataset.ReaderOptions(input_paths=(path,), shuffle=False, num_epochs=1,
                                    load_instance_masks=True, max_number_of_boxes=4)
    resize = functools.partial(resizer.resize_keep_aspect_ratio, min_dimension=48,
                               max_dimension=80, pad_to_max_dimension=True)  # 24x32 -> 48x64
    (batch,) = list(dataset.build_dataset(options, batch_size=2, resizer=resize))
    assert batch[InputFields.groundtruth_instance_masks].shape[2:] == (80, 80)
    num_gt = 2
    detections = {
        "num_detections": np.array([num_gt, num_gt], np.float32),
        "detection_boxes": batch[InputFields.groundtruth_boxes],
        "detection_scores": np.full((2, 4), 0.9, np.float32),
        "detection_classes": batch[InputFields.groundtruth_classes].numpy().astype(np.float32),
        "detection_masks": np.ones((2, 4, 7, 7), np.float32),
    }
    categories = [{"id": 1, "name": "one"}, {"id": 2, "name": "two"}]
    evaluator = CocoEvaluator(categories)
    evaluator.add_batch(detections, batch)
    ours = evaluator.groundtruth_dict()
    records_to_coco(path, str(tmp_path / "gt.json"), categories)
    written = json.loads((tmp_path / "gt.json").read_text())
    assert [(i["id"], i["height"], i["width"]) for i in ours["images"]] == [
        (i["id"], i["height"], i["width"]) for i in written["images"]] == [(3, 24, 32), (9, 24, 32)]
    assert len(ours["annotations"]) == len(written["annotations"]) == 4
    for mine, theirs in zip(ours["annotations"], written["annotations"]):
        assert mine["bbox"] == pytest.approx(theirs["bbox"], abs=1e-3)
        assert mine["area"] == theirs["area"]
        assert mine["category_id"] == theirs["category_id"]
        np.testing.assert_array_equal(segmentation_to_mask(mine["segmentation"], 24, 32, "ours"),
                                      segmentation_to_mask(theirs["segmentation"], 24, 32, "gt"))
    metrics = evaluator.evaluate()
    assert metrics[B + "Precision/mAP"] == pytest.approx(1.0)
    assert metrics[M + "Precision/mAP"] == pytest.approx(1.0)
