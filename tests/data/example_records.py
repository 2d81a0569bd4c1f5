"""Tiny synthetic scenes and tf.train.Example records (OD API format) for the data tests.

A scene is a 24 x 32 RGB image with a per-pixel unique background (so a crop can be located),
two rectangular instances (class 1 and 2) whose boxes are tight around their masks, and three
keypoints per instance, each drawn as a 3 x 3 marker of its own colour centred on the keypoint
(the third keypoint of instance 1 is not labelled and has no marker).
"""

from __future__ import annotations

import dataclasses
import io

import numpy as np
import tensorflow as tf
from PIL import Image

from object_detection.data import decoder
from object_detection.fields import InputFields as F
from object_detection.fields import TfExampleKeys as K

HEIGHT, WIDTH = 24, 32
RECTS = ((2, 3, 12, 15), (12, 16, 22, 30))  # (row0, col0, row1, col1), end exclusive
FILLS = ((100, 100, 100), (150, 120, 90))
KEYPOINT_PIXELS = (((4, 5), (8, 11), None), ((14, 18), (19, 27), (16, 22)))
MARKERS = (((255, 0, 0), (0, 255, 0), (0, 0, 0)),
           ((0, 0, 255), (255, 255, 0), (255, 0, 255)))


@dataclasses.dataclass
class Scene:
    image: np.ndarray          # uint8 [H, W, 3]
    masks: np.ndarray          # uint8 [N, H, W]
    boxes: np.ndarray          # float32 [N, 4] normalized, tight around the masks
    classes: np.ndarray        # int64 [N]
    keypoints: np.ndarray      # float32 [N, K, 2] normalized (y, x), NaN where not labelled
    visibilities: np.ndarray   # int64 [N, K]
    markers: np.ndarray        # uint8 [N, K, 3]: the colour drawn at each keypoint


def make_scene(height: int = HEIGHT, width: int = WIDTH) -> Scene:
    rows, cols = np.mgrid[0:height, 0:width]
    image = np.stack([rows * 9 % 256, cols * 7 % 256, np.full_like(rows, 40)], -1).astype(np.uint8)
    masks = np.zeros((len(RECTS), height, width), np.uint8)
    boxes = []
    for i, (r0, c0, r1, c1) in enumerate(RECTS):
        masks[i, r0:r1, c0:c1] = 1
        image[r0:r1, c0:c1] = FILLS[i]
        boxes.append([r0 / height, c0 / width, r1 / height, c1 / width])
    keypoints = np.full((len(RECTS), 3, 2), np.nan, np.float32)
    visibilities = np.zeros((len(RECTS), 3), np.int64)
    for i, points in enumerate(KEYPOINT_PIXELS):
        for k, pixel in enumerate(points):
            if pixel is None:
                continue
            r, c = pixel
            image[r - 1:r + 2, c - 1:c + 2] = MARKERS[i][k]
            keypoints[i, k] = ((r + 0.5) / height, (c + 0.5) / width)
            visibilities[i, k] = 2
    return Scene(image, masks, np.array(boxes, np.float32), np.array([1, 2], np.int64),
                 keypoints, visibilities, np.array(MARKERS, np.uint8))


def encode(array: np.ndarray, fmt: str = "PNG", mode: str | None = None) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(array, mode).save(buffer, fmt, **({"quality": 95} if fmt == "JPEG" else {}))
    return buffer.getvalue()


def _bytes(values) -> tf.train.Feature:
    return tf.train.Feature(bytes_list=tf.train.BytesList(value=list(values)))


def _floats(values) -> tf.train.Feature:
    return tf.train.Feature(float_list=tf.train.FloatList(value=[float(v) for v in values]))


def _ints(values) -> tf.train.Feature:
    return tf.train.Feature(int64_list=tf.train.Int64List(value=[int(v) for v in values]))


def make_example(encoded_image: bytes, boxes=(), classes=(), *, masks=None, keypoints=None,
                 visibilities=None, is_crowd=None, area=None, filename: str = "map.png",
                 source_id: str = "1", image_format: str = "png") -> bytes:
    """Serialized tf.train.Example. masks: uint8 [N, H, W] (PNG-encoded, one per instance);
    keypoints [N, K, 2] normalized (y, x), NaN written as 0 with visibility 0."""
    boxes = np.asarray(boxes, np.float32).reshape(-1, 4)
    feature = {
        K.image_encoded: _bytes([encoded_image]),
        K.image_format: _bytes([image_format.encode()]),
        K.filename: _bytes([filename.encode()]),
        K.source_id: _bytes([source_id.encode()]),
        K.bbox_ymin: _floats(boxes[:, 0]), K.bbox_xmin: _floats(boxes[:, 1]),
        K.bbox_ymax: _floats(boxes[:, 2]), K.bbox_xmax: _floats(boxes[:, 3]),
        K.class_label: _ints(classes),
    }
    if masks is not None:
        feature[K.instance_masks] = _bytes([encode(np.asarray(m, np.uint8), "PNG", "L") for m in masks])
    if keypoints is not None:
        keypoints = np.asarray(keypoints, np.float32)
        labelled = np.isfinite(keypoints).all(-1)
        if visibilities is None:
            visibilities = np.where(labelled, 2, 0)
        written = np.where(labelled[..., None], keypoints, 0.0)
        feature[K.keypoint_y] = _floats(written[..., 0].ravel())
        feature[K.keypoint_x] = _floats(written[..., 1].ravel())
        feature[K.keypoint_visibility] = _ints(np.asarray(visibilities).ravel())
    if is_crowd is not None:
        feature[K.is_crowd] = _ints(is_crowd)
    if area is not None:
        feature[K.area] = _floats(area)
    example = tf.train.Example(features=tf.train.Features(feature=feature))
    return example.SerializeToString()


def scene_example(scene: Scene, **kwargs) -> bytes:
    return make_example(encode(scene.image), scene.boxes, scene.classes, masks=scene.masks,
                        keypoints=scene.keypoints, visibilities=scene.visibilities, **kwargs)


def write_records(path, examples) -> str:
    with tf.io.TFRecordWriter(str(path)) as writer:
        for example in examples:
            writer.write(example)
    return str(path)


def mask_box(mask: np.ndarray) -> np.ndarray:
    """Tight normalized box [ymin, xmin, ymax, xmax] of a {0, 1} mask [H, W] (pixel edges)."""
    rows = np.flatnonzero(mask.any(1))
    cols = np.flatnonzero(mask.any(0))
    h, w = mask.shape
    return np.array([rows[0] / h, cols[0] / w, (rows[-1] + 1) / h, (cols[-1] + 1) / w], np.float32)


SEED = tf.constant([7, 11], tf.int64)


def scene_tensors() -> dict:
    """The decoded scene (3 keypoints per instance, masks): the input of augmentation tests."""
    return decoder.decode_example(tf.constant(scene_example(make_scene())), num_keypoints=3,
                                  load_instance_masks=True)


def to_numpy(tensors: dict) -> dict:
    return {k: v.numpy() for k, v in tensors.items()}


def assert_consistent(out: dict, permutation=(0, 1, 2), box_atol: float = 1e-5,
                      colour_atol: float = 0.0) -> None:
    """Checks a transformed scene (numpy dict): each box equals the box of its mask, each
    labelled keypoint lies on a pixel of its marker colour (keypoint k of the output carries
    the marker of source keypoint ``permutation[k]``), unlabelled keypoints are NaN."""
    markers = make_scene().markers
    image, masks, boxes = out[F.image], out[F.groundtruth_instance_masks], out[F.groundtruth_boxes]
    height, width = image.shape[:2]
    assert masks.shape[1:] == (height, width)
    assert len(boxes) == len(masks) == len(out[F.groundtruth_classes]) == len(out[F.groundtruth_keypoints])
    for i, cls in enumerate(out[F.groundtruth_classes]):
        np.testing.assert_allclose(mask_box(masks[i]), boxes[i], atol=box_atol)
        for k in range(out[F.groundtruth_keypoints].shape[1]):
            y, x = out[F.groundtruth_keypoints][i, k]
            if out[F.groundtruth_keypoint_visibilities][i, k] == 0:
                assert np.isnan(y) and np.isnan(x)
                continue
            row, col = int(np.floor(y * height)), int(np.floor(x * width))
            np.testing.assert_allclose(image[row, col], markers[cls - 1, permutation[k]],
                                       atol=colour_atol)
