"""Figure folder -> sharded records -> plain tf.io decoding equals the source."""

from __future__ import annotations

import hashlib
import io
import os

import numpy as np
import pytest
import tensorflow as tf
from PIL import Image

from object_detection.dataset_tools import figure_folder as ff
from object_detection.dataset_tools.conversion import convert, make_source
from object_detection.fields import TfExampleKeys as K

H, W = 32, 48


def _instances_m0() -> np.ndarray:
    inst = np.zeros((H, W), np.uint8)
    yy, xx = np.mgrid[:H, :W]
    inst[(yy - 10) ** 2 + (xx - 12) ** 2 <= 20] = 1      # a disc
    inst[18:30, 30:33] = 2                                # an L shape
    inst[27:30, 33:44] = 2
    return inst


def _write_folder(root: str, with_keypoints: bool = True) -> dict:
    rng = np.random.default_rng(1)
    maps = {
        "m0": (_instances_m0(), [{"head": (12.5, 5.25), "neck": (12.0, 9.0)}, {"left_ankle": (40.0, 28.5)}]),
        "m1": (np.pad(np.ones((5, 7), np.uint8), ((20, 7), (0, 41))), [{}]),
        "m2": (np.zeros((H, W), np.uint8), []),
    }
    for stem, (inst, kps) in maps.items():
        image = rng.integers(0, 256, (H, W, 3), dtype=np.uint8)
        body = np.where(inst > 0, 0, ff.BACKGROUND_BODY_PART).astype(np.uint8)
        ff.write_map(root, stem, ff.FigureMap(image, inst, body, kps),
                     image_format="jpeg" if stem == "m1" else "png")
    if not with_keypoints:
        for name in os.listdir(os.path.join(root, ff.KEYPOINTS_DIR)):
            os.remove(os.path.join(root, ff.KEYPOINTS_DIR, name))
        os.rmdir(os.path.join(root, ff.KEYPOINTS_DIR))
    return maps


def _numpy_box(mask: np.ndarray) -> list[float]:
    ys, xs = np.where(mask)
    return [ys.min() / H, xs.min() / W, (ys.max() + 1) / H, (xs.max() + 1) / W]


def test_records_decode_to_source_masks_boxes_and_keypoints(tmp_path, records):
    folder = str(tmp_path / "maps")
    maps = _write_folder(folder)
    stats = convert(make_source("figure_folder", folder), str(tmp_path / "rec" / "train"), 2)
    assert stats.images_read == stats.images_written == 3
    assert stats.instances_read == stats.instances_written == 3
    assert stats.instances_skipped == 0 and not stats.skip_reasons
    decoded = {r[K.source_id].decode(): r for r in records(stats.outputs)}
    assert sorted(decoded) == ["m0", "m1", "m2"]
    for stem, (inst, kps) in maps.items():
        r = decoded[stem]
        name = stem + (".jpg" if stem == "m1" else ".png")
        with open(os.path.join(folder, ff.IMAGES_DIR, name), "rb") as f:
            original = f.read()
        assert r[K.image_encoded] == original          # RGB jpeg / png kept as they are
        assert r[K.image_format] == (b"jpeg" if stem == "m1" else b"png")
        assert r[K.key_sha256] == hashlib.sha256(original).hexdigest().encode()
        assert (r[K.height], r[K.width]) == (H, W)
        assert r[K.filename] == name.encode()
        n = int(inst.max())
        assert r["masks"] is not None or n == 0
        assert K.instance_masks in r["present"]
        for k in range(1, n + 1):
            np.testing.assert_array_equal(r["masks"][k - 1], (inst == k).astype(np.uint8))
            np.testing.assert_allclose(r["boxes_yx"][k - 1], _numpy_box(inst == k), atol=1e-6)
            assert r[K.area][k - 1] == np.count_nonzero(inst == k)
        assert r[K.class_label].tolist() == [1] * n
        assert r[K.class_text].tolist() == [b"character"] * n
        assert r[K.is_crowd].tolist() == [0] * n
        num_k = len(ff.KEYPOINT_NAMES)
        xs = r[K.keypoint_x].reshape(n, num_k)
        ys = r[K.keypoint_y].reshape(n, num_k)
        vis = r[K.keypoint_visibility].reshape(n, num_k)
        assert r[K.keypoint_text].tolist() == [s.encode() for s in ff.KEYPOINT_NAMES] * n
        for i in range(n):
            labelled = kps[i] if i < len(kps) else {}
            for j, kp_name in enumerate(ff.KEYPOINT_NAMES):
                if kp_name in labelled:
                    x, y = labelled[kp_name]
                    assert vis[i, j] == 2
                    assert xs[i, j] == pytest.approx(x / W) and ys[i, j] == pytest.approx(y / H)
                else:
                    assert vis[i, j] == 0 and np.isnan(xs[i, j]) and np.isnan(ys[i, j])


def test_folder_without_keypoints_writes_no_keypoint_keys(tmp_path, records):
    folder = str(tmp_path / "maps")
    _write_folder(folder, with_keypoints=False)
    stats = convert(make_source("figure_folder", folder), str(tmp_path / "rec"), 1)
    decoded = records(stats.outputs)
    assert len(decoded) == 3
    for r in decoded:
        assert not {K.keypoint_x, K.keypoint_y, K.keypoint_visibility} & r["present"]


def test_non_rgb_image_is_reencoded_as_png(tmp_path, records):
    folder = str(tmp_path / "maps")
    _write_folder(folder)
    gray = np.arange(H * W, dtype=np.uint32).reshape(H, W).astype(np.uint8)
    Image.fromarray(gray, "L").save(os.path.join(folder, ff.IMAGES_DIR, "m0.png"))
    stats = convert(make_source("figure_folder", folder), str(tmp_path / "rec"), 1)
    r = next(r for r in records(stats.outputs) if r[K.source_id] == b"m0")
    assert r[K.image_format] == b"png"
    decoded = tf.io.decode_png(r[K.image_encoded]).numpy()
    np.testing.assert_array_equal(decoded, np.stack([gray] * 3, axis=-1))
    with Image.open(io.BytesIO(r[K.image_encoded])) as image:
        assert image.mode == "RGB"


def test_class_name_and_label_map(tmp_path, records):
    folder = str(tmp_path / "maps")
    _write_folder(folder)
    source = make_source("figure_folder", folder, label_map={"house": 1, "figure": 3},
                         class_name="figure")
    assert source.categories == [{"id": 3, "name": "figure"}]
    stats = convert(source, str(tmp_path / "rec"), 1)
    labels = [lab for r in records(stats.outputs) for lab in r[K.class_label].tolist()]
    assert labels == [3, 3, 3]
    with pytest.raises(ValueError, match="'character' is not in the label map"):
        make_source("figure_folder", folder, label_map={"figure": 1})
