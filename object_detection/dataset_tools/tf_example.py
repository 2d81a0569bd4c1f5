"""``AnnotatedImage`` <-> ``tf.train.Example`` with the TF Object Detection API's keys.

Layout of one record (keys from ``fields.TfExampleKeys``), N instances, K keypoints:

* image/encoded, image/format ('jpeg' | 'png'), image/height, image/width, image/filename,
  image/source_id, image/key/sha256 (hex digest of image/encoded);
* image/object/bbox/{xmin,ymin,xmax,ymax}: N floats each, normalized, pixel-edge convention;
* image/object/class/label (N int64, 1-based) and image/object/class/text (N names);
* image/object/is_crowd (N int64), image/object/area (N floats, pixels);
* image/object/mask: N PNG-encoded single-channel {0, 1} masks of the image's size (the OD API's
  PNG mask format); absent for a box-only image;
* image/object/keypoint/{x,y,visibility,text}: N * K values flattened instance by instance,
  x and y normalized (NaN where not labelled), visibility 0 not labelled / 2 labelled, text the
  keypoint names; only when the source has keypoints.

``parse_example`` is the inverse in NumPy (for tools and tests, not the training input pipeline).
"""

from __future__ import annotations

import hashlib
import io

import numpy as np
import tensorflow as tf
from PIL import Image

from object_detection.dataset_tools.annotated_image import AnnotatedImage
from object_detection.dataset_tools.image_io import EncodedImage
from object_detection.fields import TfExampleKeys as K


def _bytes(values: list[bytes]) -> tf.train.Feature:
    return tf.train.Feature(bytes_list=tf.train.BytesList(value=values))


def _ints(values) -> tf.train.Feature:
    return tf.train.Feature(int64_list=tf.train.Int64List(value=[int(v) for v in values]))


def _floats(values) -> tf.train.Feature:
    return tf.train.Feature(float_list=tf.train.FloatList(value=[float(v) for v in values]))


def encode_mask_png(mask: np.ndarray) -> bytes:
    """PNG bytes of one [H, W] mask as a single-channel (mode L) image with values {0, 1}."""
    buffer = io.BytesIO()
    Image.fromarray((np.asarray(mask) != 0).astype(np.uint8), mode="L").save(buffer, format="PNG")
    return buffer.getvalue()


def decode_mask_png(data: bytes) -> np.ndarray:
    """uint8 [H, W] {0, 1} mask from PNG bytes (any nonzero value counts as the instance)."""
    with Image.open(io.BytesIO(data)) as image:
        return (np.asarray(image.convert("L")) != 0).astype(np.uint8)


def _check_shapes(image: AnnotatedImage) -> None:
    n = image.num_instances
    problems = []
    if image.boxes.shape != (n, 4):
        problems.append(f"boxes {image.boxes.shape}")
    if len(image.class_names) != n or image.is_crowd.shape != (n,) or image.areas.shape != (n,):
        problems.append("class names / is_crowd / areas")
    if image.masks is not None and image.masks.shape != (n, image.height, image.width):
        problems.append(f"masks {image.masks.shape} (expected {(n, image.height, image.width)})")
    if image.keypoints is not None:
        k = len(image.keypoint_names or ())
        if image.keypoints.shape != (n, k, 2) or image.keypoint_visibilities.shape != (n, k):
            problems.append(f"keypoints {image.keypoints.shape}")
    if problems:
        raise ValueError(f"{image.filename}: inconsistent annotation for {n} instances: "
                         + "; ".join(problems))


def build_example(image: AnnotatedImage) -> tf.train.Example:
    """The ``tf.train.Example`` of one annotated image (layout in the module docstring)."""
    _check_shapes(image)
    encoded = image.image.encoded
    features = {
        K.image_encoded: _bytes([encoded]),
        K.image_format: _bytes([image.image.image_format.encode()]),
        K.height: _ints([image.height]),
        K.width: _ints([image.width]),
        K.filename: _bytes([image.filename.encode()]),
        K.source_id: _bytes([image.source_id.encode()]),
        K.key_sha256: _bytes([hashlib.sha256(encoded).hexdigest().encode()]),
        K.bbox_ymin: _floats(image.boxes[:, 0]),
        K.bbox_xmin: _floats(image.boxes[:, 1]),
        K.bbox_ymax: _floats(image.boxes[:, 2]),
        K.bbox_xmax: _floats(image.boxes[:, 3]),
        K.class_label: _ints(image.class_ids),
        K.class_text: _bytes([name.encode() for name in image.class_names]),
        K.is_crowd: _ints(image.is_crowd),
        K.area: _floats(image.areas),
    }
    if image.masks is not None:
        features[K.instance_masks] = _bytes([encode_mask_png(m) for m in image.masks])
    if image.keypoints is not None:
        features[K.keypoint_y] = _floats(image.keypoints[..., 0].ravel())
        features[K.keypoint_x] = _floats(image.keypoints[..., 1].ravel())
        features[K.keypoint_visibility] = _ints(image.keypoint_visibilities.ravel())
        features[K.keypoint_text] = _bytes(
            [name.encode() for name in image.keypoint_names] * image.num_instances)
    return tf.train.Example(features=tf.train.Features(feature=features))


def _get(example: tf.train.Example, key: str, kind: str) -> list:
    feature = example.features.feature.get(key)
    if feature is None:
        return []
    return list(getattr(feature, kind).value)


def parse_example(example: tf.train.Example | bytes) -> AnnotatedImage:
    """The ``AnnotatedImage`` stored in a record written by ``build_example``."""
    if isinstance(example, bytes):
        example = tf.train.Example.FromString(example)
    height = _get(example, K.height, "int64_list")[0]
    width = _get(example, K.width, "int64_list")[0]
    encoded = _get(example, K.image_encoded, "bytes_list")[0]
    image_format = _get(example, K.image_format, "bytes_list")[0].decode()
    boxes = np.stack([np.array(_get(example, key, "float_list"), np.float32)
                      for key in (K.bbox_ymin, K.bbox_xmin, K.bbox_ymax, K.bbox_xmax)], axis=-1)
    n = len(boxes)
    masks = None
    if K.instance_masks in example.features.feature:
        masks = np.zeros((n, height, width), np.uint8)
        for i, data in enumerate(_get(example, K.instance_masks, "bytes_list")):
            masks[i] = decode_mask_png(data)
    keypoints = visibilities = names = None
    if K.keypoint_x in example.features.feature:
        all_names = [t.decode() for t in _get(example, K.keypoint_text, "bytes_list")]
        num_k = len(all_names) // n if n else 0
        names = tuple(all_names[:num_k])
        xs = np.array(_get(example, K.keypoint_x, "float_list"), np.float32).reshape(n, num_k)
        ys = np.array(_get(example, K.keypoint_y, "float_list"), np.float32).reshape(n, num_k)
        keypoints = np.stack([ys, xs], axis=-1)
        visibilities = np.array(_get(example, K.keypoint_visibility, "int64_list"),
                                np.int32).reshape(n, num_k)
    return AnnotatedImage(
        filename=_get(example, K.filename, "bytes_list")[0].decode(),
        source_id=_get(example, K.source_id, "bytes_list")[0].decode(),
        image=EncodedImage(encoded, image_format, height, width),
        class_ids=np.array(_get(example, K.class_label, "int64_list"), np.int64),
        class_names=[t.decode() for t in _get(example, K.class_text, "bytes_list")],
        boxes=boxes.reshape(n, 4), masks=masks,
        is_crowd=np.array(_get(example, K.is_crowd, "int64_list"), bool).reshape(n),
        areas=np.array(_get(example, K.area, "float_list"), np.float32).reshape(n),
        keypoints=keypoints, keypoint_visibilities=visibilities, keypoint_names=names)
