"""Pascal VOC (lxml-written XML + palette PNGs made here) -> records."""

from __future__ import annotations

import numpy as np
import pytest
from lxml import etree
from PIL import Image

from object_detection.dataset_tools.conversion import convert, make_source
from object_detection.fields import TfExampleKeys as K

H, W = 32, 48
PERSON, DOG = 15, 12   # VOC class indices in SegmentationClass


def _xml(path, filename, objects, size=(W, H)):
    root = etree.Element("annotation")
    etree.SubElement(root, "folder").text = "VOC2012"
    etree.SubElement(root, "filename").text = filename
    size_node = etree.SubElement(root, "size")
    for tag, value in zip(("width", "height", "depth"), (*size, 3)):
        etree.SubElement(size_node, tag).text = str(value)
    for name, box, difficult in objects:
        obj = etree.SubElement(root, "object")
        etree.SubElement(obj, "name").text = name
        etree.SubElement(obj, "difficult").text = str(difficult)
        bndbox = etree.SubElement(obj, "bndbox")
        for tag, value in zip(("xmin", "ymin", "xmax", "ymax"), box):
            etree.SubElement(bndbox, tag).text = str(value)
    etree.ElementTree(root).write(str(path), pretty_print=True)


def _palette_png(path, indices):
    image = Image.fromarray(indices.astype(np.uint8), mode="P")
    palette = np.zeros((256, 3), np.uint8)
    palette[1:21] = np.random.default_rng(0).integers(0, 256, (20, 3))
    palette[255] = (224, 224, 192)
    image.putpalette(palette.flatten().tolist())
    image.save(path)


def _object_indices():
    idx = np.zeros((H, W), np.uint8)
    idx[4:12, 3:10] = 1
    idx[6:9, 5:7] = 0                      # a hole in person 1
    idx[5:15, 20:30] = 2
    idx[20:30, 34:45] = 3
    idx[19, 34:45] = 255                   # void borders, ignored
    idx[12, 3:10] = 255
    return idx


def _make_voc(root, with_class_png=True):
    for sub in ("Annotations", "JPEGImages", "SegmentationObject", "SegmentationClass",
                "ImageSets/Segmentation"):
        (root / sub).mkdir(parents=True)
    rng = np.random.default_rng(2)
    for stem in ("2007_000001", "2007_000002"):
        Image.fromarray(rng.integers(0, 256, (H, W, 3), dtype=np.uint8)).save(
            root / "JPEGImages" / f"{stem}.jpg", quality=95)
    _xml(root / "Annotations/2007_000001.xml", "2007_000001.jpg",
         [("person", (4, 5, 10, 12), 0), ("dog", (21, 6, 30, 15), 1), ("person", (35, 21, 45, 30), 0)])
    idx = _object_indices()
    _palette_png(root / "SegmentationObject/2007_000001.png", idx)
    if with_class_png:
        classes = np.select([np.isin(idx, (1, 3)), idx == 2, idx == 255], [PERSON, DOG, 255], 0)
        _palette_png(root / "SegmentationClass/2007_000001.png", classes)
    _xml(root / "Annotations/2007_000002.xml", "2007_000002.jpg",
         [("cat", (1, 1, 48, 32), 0), ("cat", (10, 5, 8, 9), 0)])
    (root / "ImageSets/Segmentation/train.txt").write_text("2007_000001\n")
    return idx


def _record_paths(stats):
    return [p for p in stats.outputs if p.endswith(".tfrecord")]


def test_voc_with_segmentation_and_box_only(tmp_path, records):
    idx = _make_voc(tmp_path)
    source = make_source("voc", str(tmp_path))
    assert source.categories == [{"id": 1, "name": "cat"}, {"id": 2, "name": "dog"},
                                 {"id": 3, "name": "person"}]
    stats = convert(source, str(tmp_path / "rec"), 2)
    assert (stats.images_written, stats.instances_read, stats.instances_written) == (2, 5, 4)
    assert stats.skip_reasons == {"zero-size box": 1} and stats.box_only_images == 1
    seg, boxes = records(_record_paths(stats))
    assert seg[K.filename] == b"2007_000001.jpg" and seg[K.source_id] == b"2007_000001"
    assert seg[K.class_label].tolist() == [3, 2, 3]
    assert seg[K.class_text].tolist() == [b"person", b"dog", b"person"]
    for k in range(3):
        expected = (idx == k + 1).astype(np.uint8)
        np.testing.assert_array_equal(seg["masks"][k], expected)
        ys, xs = np.nonzero(expected)
        np.testing.assert_allclose(seg["boxes_yx"][k], [ys.min() / H, xs.min() / W,
                                                        (ys.max() + 1) / H, (xs.max() + 1) / W],
                                   atol=1e-6)
        assert seg[K.area][k] == expected.sum()
    assert not (seg["masks"].any(axis=0) & (idx == 255)).any()
    assert K.instance_masks not in boxes["present"]
    assert boxes[K.class_label].tolist() == [1]
    np.testing.assert_allclose(boxes["boxes_yx"], [[0.0, 0.0, 1.0, 1.0]])   # 1..48 x 1..32
    assert boxes[K.area].tolist() == [W * H]


def test_voc_image_set_and_skip_difficult(tmp_path, records):
    _make_voc(tmp_path)
    stats = convert(make_source("voc", str(tmp_path), image_set="train", skip_difficult=True,
                                strict=True), str(tmp_path / "rec"), 1)
    assert stats.images_written == 1 and stats.skip_reasons == {"difficult": 1}
    (r,) = records(_record_paths(stats))
    assert r[K.class_text].tolist() == [b"person", b"person"]


def test_voc_segmentation_class_disagreement_is_an_error(tmp_path):
    idx = _make_voc(tmp_path)
    classes = np.select([np.isin(idx, (1, 3)), idx == 2], [PERSON, DOG], 0)
    classes[4, 3] = DOG                                     # one pixel of person 1 labelled dog
    _palette_png(tmp_path / "SegmentationClass/2007_000001.png", classes)
    with pytest.raises(ValueError, match=r"SegmentationClass/2007_000001.png: object 1 \('person'\)"):
        list(make_source("voc", str(tmp_path)))


def test_voc_object_index_beyond_xml_objects_is_an_error(tmp_path):
    idx = _make_voc(tmp_path, with_class_png=False)
    idx[0, 0] = 4
    _palette_png(tmp_path / "SegmentationObject/2007_000001.png", idx)
    with pytest.raises(ValueError, match=r"object indices \[4\] but .*2007_000001.xml lists 3"):
        list(make_source("voc", str(tmp_path)))


def test_voc_size_mismatch_and_missing_image(tmp_path):
    _make_voc(tmp_path)
    _xml(tmp_path / "Annotations/2007_000002.xml", "2007_000002.jpg", [], size=(40, 32))
    with pytest.raises(ValueError, match=r"2007_000002.xml: <size> is 40x32 but image"):
        list(make_source("voc", str(tmp_path)))
    _xml(tmp_path / "Annotations/2007_000002.xml", "missing.jpg", [])
    with pytest.raises(FileNotFoundError, match="missing.jpg: image file not found"):
        list(make_source("voc", str(tmp_path)))
