"""The inference library: loading an export folder, a SavedModel or a frozen graph, detections
with box-crop masks (the OD API's reframing over each pixel box), going over a folder (odd names, other files, broken images, batches),
and models of the wrong kind."""

from __future__ import annotations

import logging
import shutil

import numpy as np
import pytest
import tensorflow as tf
from PIL import Image

from object_detection.export import inference
from object_detection.core.detections import ImageDetections
from object_detection.core.mask_ops import reframe_box_masks_to_image_masks

from tests.export.conftest import sample_image


@pytest.fixture(scope="module")
def saved_model(tiny_export):
    return inference.load_model(tiny_export.files.output_dir)


def _expected(tiny_export) -> ImageDetections:
    image = tiny_export.image
    return ImageDetections.from_model_output(tiny_export.reference, 0, *image.shape[:2])


def _float_image_masks(detections: ImageDetections) -> np.ndarray:
    """float32 [K, H, W]: each box crop of mask probabilities placed in the image, 0 elsewhere."""
    masks = np.zeros((len(detections),) + detections.image_size, np.float32)
    for k, (left, top, right, bottom) in enumerate(detections.pixel_boxes()):
        masks[k, top:bottom, left:right] = detections.masks[k]
    return masks


def _assert_same(actual: ImageDetections, expected: ImageDetections, atol: float = 1e-4) -> None:
    assert len(actual) == len(expected) > 0
    np.testing.assert_allclose(actual.boxes, expected.boxes, atol=atol)
    np.testing.assert_allclose(actual.scores, expected.scores, atol=atol)
    np.testing.assert_array_equal(actual.classes, expected.classes)
    assert actual.image_size == expected.image_size
    # (placed in the image: boxes a hair apart may crop a pixel more or less)
    np.testing.assert_allclose(_float_image_masks(actual), _float_image_masks(expected), atol=1e-3)


def test_load_chooses_by_path(tiny_export, saved_model):
    files = tiny_export.files
    assert saved_model.kind == "saved_model" and saved_model.path == files.saved_model
    assert saved_model.input_type == "image_tensor"
    assert inference.load_model(files.saved_model / "saved_model.pb").kind == "saved_model"
    frozen = inference.load_model(files.frozen_graph)
    assert frozen.kind == "frozen_graph" and frozen.input_type == "image_tensor"


def test_detect_gives_box_crops_of_the_reframed_masks(tiny_export, saved_model):
    image = tiny_export.image
    detections = saved_model.detect(image)
    _assert_same(detections, _expected(tiny_export))
    assert detections.image_size == (80, 100) and len(detections.masks) == len(detections)
    # Each crop is the OD API's reframing (TensorFlow, image-sized) of the model's own
    # box-relative mask, over the box's pixel crop; outside it the reframing is 0.
    raw = saved_model.run([image])
    count = int(raw["num_detections"][0])
    assert count == len(detections)
    reframed = reframe_box_masks_to_image_masks(
        raw["detection_masks"][0, :count], raw["detection_boxes"][0, :count], 80, 100).numpy()
    np.testing.assert_array_equal(detections.boxes, raw["detection_boxes"][0, :count])
    for k, (left, top, right, bottom) in enumerate(detections.pixel_boxes()):
        crop = detections.masks[k]
        assert crop.dtype == np.float32 and crop.shape == (bottom - top, right - left)
        np.testing.assert_allclose(crop, reframed[k, top:bottom, left:right], rtol=0, atol=1e-6)
        outside = np.ones((80, 100), bool)
        outside[top:bottom, left:right] = False
        assert np.all(reframed[k][outside] == 0)
        np.testing.assert_array_equal(detections.image_mask(k), reframed[k] > 0.5)
    assert any(detections.mask_crop(k).any() for k in range(len(detections)))
    kept = saved_model.detect(image, score_threshold=0.47)
    assert len(kept) == int(np.sum(detections.scores > 0.47)) and np.all(kept.scores > 0.47)


def test_frozen_graph_detects_the_same(tiny_export):
    frozen = inference.load_model(tiny_export.files.frozen_graph)
    _assert_same(frozen.detect(tiny_export.image), _expected(tiny_export))


def test_detect_folder_odd_names_other_files_broken_images_batches(tiny_export, saved_model,
                                                                   tmp_path, caplog):
    images = {"Karte Zürich 1.png": sample_image(0), "b map.jpg": None,
              "c.png": sample_image(1), "d small.png": sample_image(2, 40, 50)}
    for name, pixels in images.items():
        if pixels is not None:
            Image.fromarray(pixels).save(tmp_path / name)
    (tmp_path / "b map.jpg").write_bytes(b"not really a jpeg")
    (tmp_path / "notes.txt").write_text("hello", encoding="utf-8")
    (tmp_path / ".c.png.tmp-999-0a1b2c3d").write_bytes(b"half a png")  # left by kill -9
    (tmp_path / "sub folder").mkdir()
    report = inference.FolderReport()
    with caplog.at_level(logging.INFO, logger=inference.__name__):
        results = list(saved_model.detect_folder(tmp_path, batch_size=2, report=report))
    names = [path.name for path, _, _ in results]
    assert names == ["Karte Zürich 1.png", "c.png", "d small.png"]
    for path, image, detections in results:
        np.testing.assert_array_equal(image, images[path.name])
        _assert_same(detections, saved_model.detect(image))  # batched = one by one
        assert detections.image_size == image.shape[:2]
    assert report.skipped[0] == (str(tmp_path / ".c.png.tmp-999-0a1b2c3d"),
                                 "a temporary file left by an interrupted write")
    assert [p for p, _ in report.skipped[1:]] == [str(tmp_path / "notes.txt"),
                                                  str(tmp_path / "sub folder")]
    assert report.unreadable[0][0] == str(tmp_path / "b map.jpg")
    assert "b map.jpg: not a readable image" in report.unreadable[0][1]
    assert report.detections == sum(len(d) for _, _, d in results)
    assert report.summary() == (f"3 images, {report.detections} detections, 3 other files "
                                "skipped, 1 unreadable")
    log = caplog.text
    assert "notes.txt: not an image file" in log and "b map.jpg: not a readable image" in log
    assert "[3/4] d small.png" in log


def test_detect_from_a_file_with_spaces_and_unicode(tiny_export, saved_model, tmp_path):
    path = tmp_path / "Ä map (1).png"
    Image.fromarray(tiny_export.image).save(path)
    _assert_same(saved_model.detect(path), _expected(tiny_export))


def test_folder_problems(saved_model, tmp_path):
    with pytest.raises(FileNotFoundError, match="image folder not found"):
        list(saved_model.detect_folder(tmp_path / "missing"))
    (tmp_path / "readme.md").write_text("x", encoding="utf-8")
    with pytest.raises(ValueError, match="no image files"):
        list(saved_model.detect_folder(tmp_path))
    with pytest.raises(ValueError, match="batch_size must be >= 1"):
        list(saved_model.detect_folder(tmp_path, batch_size=0))


def test_bad_images_given_directly(saved_model, tmp_path):
    with pytest.raises(ValueError, match=r"expected a uint8 \[H, W, 3\] RGB array"):
        saved_model.detect(np.zeros([10, 10], np.uint8))
    with pytest.raises(FileNotFoundError, match="image file not found"):
        saved_model.detect(tmp_path / "none.png")


# --------------------------------------------------------------------------- wrong kinds


class _Other(tf.Module):
    """Two functions with signatures, so tf.saved_model.save picks no default signature."""

    @tf.function(input_signature=[tf.TensorSpec([None], tf.float32)])
    def double(self, x):
        return {"y": 2.0 * x}

    @tf.function(input_signature=[tf.TensorSpec([None], tf.float32)])
    def triple(self, x):
        return {"y": 3.0 * x}


def test_saved_model_without_serving_default(tmp_path):
    tf.saved_model.save(_Other(), str(tmp_path / "m"))
    with pytest.raises(ValueError, match=r"m: not an exported detection model: the SavedModel "
                                         r"has no 'serving_default' signature"):
        inference.load_model(tmp_path / "m")


def test_saved_model_with_other_outputs(tmp_path):
    module = _Other()
    tf.saved_model.save(module, str(tmp_path / "m"),
                        signatures={"serving_default": module.double.get_concrete_function()})
    with pytest.raises(ValueError, match="'serving_default' has no detection_boxes, "
                                         "detection_scores, detection_classes output"):
        inference.load_model(tmp_path / "m")


def test_frozen_graph_without_image_tensor(tmp_path):
    with tf.Graph().as_default() as graph:
        x = tf.compat.v1.placeholder(tf.float32, [None], name="x")
        tf.identity(x * 2.0, name="detection_boxes")
    path = tmp_path / "other.pb"
    path.write_bytes(graph.as_graph_def().SerializeToString())
    with pytest.raises(ValueError, match="other.pb: not a detection frozen graph: it has no "
                                         "'image_tensor' input node"):
        inference.load_model(path)


def test_not_a_model_at_all(tmp_path, tiny_export):
    junk = tmp_path / "junk.pb"
    junk.write_bytes(b"\xff\xfe this is not a protobuf")
    with pytest.raises(ValueError, match="junk.pb: not a frozen graph"):
        inference.load_model(junk)
    with pytest.raises(ValueError, match="not an exported model: no saved_model.pb"):
        inference.load_model(tmp_path)
    with pytest.raises(FileNotFoundError, match="model not found"):
        inference.load_model(tmp_path / "nothing")
    broken = tmp_path / "broken"
    shutil.copytree(tiny_export.files.saved_model, broken)
    shutil.rmtree(broken / "variables")
    with pytest.raises(ValueError, match="broken: not a loadable SavedModel"):
        inference.load_model(broken)


# --------------------------------------------------------------------------- incomplete exports


@pytest.fixture
def export_copy(tiny_export, tmp_path):
    """A copy of the tiny export folder, to break."""
    copy = tmp_path / "model"
    shutil.copytree(tiny_export.files.output_dir, copy)
    return copy


def test_a_copied_export_loads(export_copy):
    assert inference.load_model(export_copy).kind == "saved_model"


@pytest.mark.parametrize("damage, problem", [
    ("no export.json", "no export.json: was convert_model.py interrupted?"),
    ("no frozen graph", "frozen_inference_graph.pb missing"),
    ("no variables", "saved_model/variables/variables.data-00000-of-00001 missing, "
                     "saved_model/variables/variables.index missing"),
    ("cut short", "saved_model/saved_model.pb has 100 bytes, not "),
    ("record not JSON", "export.json does not parse"),
    ("record of something else", "export.json is not an export record of convert_model.py"),
])
def test_an_incomplete_export_is_refused_naming_what_is_missing(export_copy, damage, problem):
    record = export_copy / "export.json"
    if damage == "no export.json":
        record.unlink()
    elif damage == "no frozen graph":
        (export_copy / "frozen_inference_graph.pb").unlink()
    elif damage == "no variables":
        shutil.rmtree(export_copy / "saved_model" / "variables")
    elif damage == "cut short":
        path = export_copy / "saved_model" / "saved_model.pb"
        path.write_bytes(path.read_bytes()[:100])
    elif damage == "record not JSON":
        record.write_text(record.read_text()[:40], encoding="utf-8")
    else:
        record.write_text('{"files": {"a": 1}}', encoding="utf-8")
    with pytest.raises(ValueError) as error:
        inference.load_model(export_copy)
    message = str(error.value)
    assert message.startswith(f"{export_copy} is an incomplete export (") and problem in message
    assert message.endswith("export again") or "export again, or give its" in message
    assert "\n" not in message


def test_its_saved_model_or_frozen_graph_alone_still_loads(export_copy):
    (export_copy / "export.json").unlink()
    assert inference.load_model(export_copy / "saved_model").kind == "saved_model"
    assert inference.load_model(export_copy / "frozen_inference_graph.pb").kind == "frozen_graph"


def test_a_temporary_folder_of_an_interrupted_export_is_refused(export_copy):
    hidden = export_copy.with_name(f".{export_copy.name}.tmp-12345-abcdef01")
    export_copy.rename(hidden)
    for path in (hidden, hidden / "saved_model", hidden / "frozen_inference_graph.pb"):
        with pytest.raises(ValueError, match="a temporary folder left by an interrupted export"):
            inference.load_model(path)


def test_a_run_folder_given_as_model_gets_a_hint(tiny_export):
    with pytest.raises(ValueError, match=r"not an exported model: .*\(a run folder\? export it "
                                         r"first with convert_model.py --model_dir\)"):
        inference.load_model(tiny_export.run_dir)


def test_random_bytes_as_a_saved_model(tmp_path):
    (tmp_path / "m").mkdir()
    (tmp_path / "m" / "saved_model.pb").write_bytes(bytes(range(256)) * 4)
    with pytest.raises(ValueError, match="m: not a loadable SavedModel"):
        inference.load_model(tmp_path / "m")
