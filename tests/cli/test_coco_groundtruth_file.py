"""CocoGroundTruthFile: a COCO ground-truth JSON read by file name into the package's
conventions, checked on hand-made files, and scored with CocoEvaluator."""

from __future__ import annotations

import json

import numpy as np
import pytest

from object_detection.evaluation.coco_evaluator import CocoEvaluator
from object_detection.evaluation.coco_groundtruth_file import CocoGroundTruthFile

CATEGORIES = [{"id": 2, "name": "b"}, {"id": 1, "name": "character"}]


def _write(path, images, annotations, categories=CATEGORIES):
    path.write_text(json.dumps({"images": images, "annotations": annotations,
                                "categories": categories}), encoding="utf-8")
    return path


def _two_images(tmp_path):
    images = [{"id": 3, "file_name": "maps/a b.png", "height": 20, "width": 40},
              {"id": 0, "file_name": "Zürich.jpg", "height": 10, "width": 10}]
    annotations = [
        # A 10 x 4 rectangle along pixel edges at x 8..18, y 4..8.
        {"id": 1, "image_id": 3, "category_id": 1, "bbox": [8, 4, 10, 4], "area": 40,
         "segmentation": [[8, 4, 18, 4, 18, 8, 8, 8]]},
        # No bbox: taken from the mask (x 0..5, y 0..2), crowd, no area.
        {"id": 2, "image_id": 3, "category_id": 2, "iscrowd": 1,
         "segmentation": [[0, 0, 5, 0, 5, 2, 0, 2]]},
    ]
    return _write(tmp_path / "gt.json", images, annotations)


def test_reads_images_by_file_name(tmp_path):
    truth = CocoGroundTruthFile(_two_images(tmp_path))
    assert truth.file_names() == ["a b.png", "Zürich.jpg"] and "maps/a b.png" not in truth
    assert truth.categories == [{"id": 1, "name": "character"}, {"id": 2, "name": "b"}]
    assert truth.has_masks
    image = truth.image("a b.png")
    assert (image.image_id, image.height, image.width) == (3, 20, 40)
    np.testing.assert_allclose(image.boxes, [[4 / 20, 8 / 40, 8 / 20, 18 / 40],
                                             [0, 0, 2 / 20, 5 / 40]])
    assert image.classes.tolist() == [1, 2] and image.is_crowd.tolist() == [False, True]
    assert image.area.tolist() == [40.0, 0.0]
    expected = np.zeros((2, 20, 40), np.uint8)
    expected[0, 4:8, 8:18] = 1
    expected[1, 0:2, 0:5] = 1
    np.testing.assert_array_equal(image.masks, expected)
    empty = truth.image("Zürich.jpg")
    assert empty.boxes.shape == (0, 4) and empty.masks.shape == (0, 10, 10)


def test_perfect_detections_score_one(tmp_path):
    truth = CocoGroundTruthFile(_two_images(tmp_path))
    evaluator = CocoEvaluator(truth.categories)
    image_id = truth.add_to(evaluator, "a b.png", 20, 40)
    image = truth.image("a b.png")
    evaluator.add_detections(image_id, image.boxes[:1], [0.9], [1], masks=image.masks[:1],
                             box_relative_masks=False)
    metrics = evaluator.evaluate()
    assert metrics["DetectionBoxes_Precision/mAP"] == pytest.approx(1.0)
    assert metrics["DetectionMasks_Precision/mAP"] == pytest.approx(1.0)
    assert evaluator.results()[0]["image_id"] == 3
    with pytest.raises(ValueError, match=r"image 'Zürich.jpg' is declared 10x10 \(width x "
                                         r"height\) but the file is 12x10"):
        truth.add_to(evaluator, "Zürich.jpg", 10, 12)


def test_box_only_ground_truth_has_no_masks(tmp_path):
    path = _write(tmp_path / "boxes.json", [{"id": 1, "file_name": "a.png", "height": 10,
                                             "width": 10}],
                  [{"id": 1, "image_id": 1, "category_id": 1, "bbox": [0, 0, 5, 5]}])
    truth = CocoGroundTruthFile(path)
    assert not truth.has_masks and truth.image("a.png").masks is None


@pytest.mark.parametrize("images, annotations, categories, message", [
    ([{"id": "x", "file_name": "a.png", "height": 1, "width": 1}], [], CATEGORIES,
     "an image needs an integer id >= 0 and a file_name"),
    ([{"id": 1, "file_name": "a/x.png", "height": 1, "width": 1},
      {"id": 2, "file_name": "b/x.png", "height": 1, "width": 1}], [], CATEGORIES,
     "file name 'x.png' appears twice"),
    ([{"id": 1, "file_name": "x.png", "width": 1}], [], CATEGORIES,
     "image 'x.png' has no positive integer 'height'"),
    ([{"id": 1, "file_name": "x.png", "height": 1, "width": 1}],
     [{"id": 5, "image_id": 1, "category_id": 9, "bbox": [0, 0, 1, 1]}], CATEGORIES,
     "annotation 5 has category id 9, not in 'categories'"),
    ([{"id": 1, "file_name": "x.png", "height": 1, "width": 1}],
     [{"id": 5, "image_id": 4, "category_id": 1}], CATEGORIES,
     "annotation 5 refers to image id 4, not in 'images'"),
    ([], [], [{"id": 0, "name": "bg"}], "category ids must be integers >= 1, got 0"),
])
def test_bad_files_are_refused_naming_the_file(tmp_path, images, annotations, categories,
                                               message):
    path = _write(tmp_path / "bad.json", images, annotations, categories)
    with pytest.raises(ValueError, match=message) as error:
        CocoGroundTruthFile(path)
    assert str(error.value).startswith(f"{path}: ")


def test_missing_or_not_coco(tmp_path):
    with pytest.raises(FileNotFoundError, match="ground-truth file not found"):
        CocoGroundTruthFile(tmp_path / "nothing.json")
    (tmp_path / "list.json").write_text("[]")
    with pytest.raises(ValueError, match="not a COCO ground-truth file"):
        CocoGroundTruthFile(tmp_path / "list.json")
