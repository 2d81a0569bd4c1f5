"""Decoding one serialized ``tf.train.Example`` (OD API keys) into an ``InputFields`` dict.

Output (N instances, K keypoints, H x W the decoded image):

* ``image``: float32 [H, W, 3] RGB in 0..255. PNG, JPEG, GIF (first frame) and BMP of any
  mode: grayscale (also 1-bit) is replicated, the alpha channel of RGBA and grayscale+alpha is
  dropped (as PIL's ``convert("RGB")`` does), palette images are expanded to their colours,
  CMYK JPEGs converted to RGB; 16-bit PNGs are scaled to 0..255 with rounding (v / 257), not
  cut to their high byte nor clipped at 255. Other data (not a PNG, JPEG, GIF or BMP file)
  fails naming the record file and the image.
* ``original_image_spatial_shape`` int32 [2] and ``true_image_shape`` int32 [3] (H, W, 3).
* ``source_id``, ``filename``, ``key``: string scalars ("" when the record has none).
* ``groundtruth_boxes`` float32 [N, 4] normalized [ymin, xmin, ymax, xmax];
  ``groundtruth_classes`` int32 [N] (1-based, as written); ``groundtruth_is_crowd`` bool [N]
  (False when absent); ``groundtruth_area`` float32 [N] in source pixels (when absent: mask
  pixel count if masks are loaded and present, else box area in pixels).
* with ``load_instance_masks``: ``groundtruth_instance_masks`` uint8 {0, 1} [N, H, W] (any
  non-zero PNG value counts as 1, 8- or 16-bit; a palette or colour PNG counts its grey
  value, as the OD API's ``decode_image(channels=1)``; a mask of another size than the image
  fails naming the record) and ``groundtruth_instance_mask_weights`` float32 [N]: 1, or 0
  for every instance of a box-only record (no masks written), whose masks are then all zero.
* with ``num_keypoints`` K > 0: ``groundtruth_keypoints`` float32 [N, K, 2] normalized (y, x),
  NaN where not labelled, and ``groundtruth_keypoint_visibilities`` int32 [N, K] (0 or as
  written). Records store keypoints flattened per instance (x and y lists of N * K values);
  a record without keypoints gives all-NaN keypoints with visibility 0.

A record whose lists disagree in length fails with ``InvalidArgumentError`` naming the record
file and the image.
"""

from __future__ import annotations

from typing import Callable

import tensorflow as tf

from object_detection.fields import InputFields, TfExampleKeys

MASK_TYPES = ("png", "numerical")


def _feature_spec(load_instance_masks: bool, mask_type: str) -> dict:
    k = TfExampleKeys
    string = tf.io.FixedLenFeature([], tf.string, default_value="")
    spec = {
        k.image_encoded: tf.io.FixedLenFeature([], tf.string),
        k.filename: string,
        k.source_id: string,
        k.key_sha256: string,
        k.class_label: tf.io.VarLenFeature(tf.int64),
        k.is_crowd: tf.io.VarLenFeature(tf.int64),
        k.area: tf.io.VarLenFeature(tf.float32),
        k.keypoint_x: tf.io.VarLenFeature(tf.float32),
        k.keypoint_y: tf.io.VarLenFeature(tf.float32),
        k.keypoint_visibility: tf.io.VarLenFeature(tf.int64),
    }
    for key in (k.bbox_ymin, k.bbox_xmin, k.bbox_ymax, k.bbox_xmax):
        spec[key] = tf.io.VarLenFeature(tf.float32)
    if load_instance_masks:
        spec[k.instance_masks] = tf.io.VarLenFeature(tf.string if mask_type == "png" else tf.float32)
    return spec


_PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
_IMAGE_SIGNATURES = (b"\x89PNG", b"\xff\xd8\xff", b"GIF8", b"BM")


def is_known_image(data: bytes) -> bool:
    """Whether ``data`` starts like a PNG, JPEG, GIF or BMP file."""
    return data.startswith(_IMAGE_SIGNATURES)


def _is_known_image(encoded: tf.Tensor) -> tf.Tensor:
    """bool []: ``encoded`` starts like a PNG, JPEG, GIF or BMP file."""
    return tf.reduce_any([tf.equal(tf.strings.substr(encoded, 0, len(sig)), sig)
                          for sig in _IMAGE_SIGNATURES])


def _is_16_bit_png(encoded: tf.Tensor) -> tf.Tensor:
    """bool []: a PNG whose IHDR (always the first chunk) gives 16 bits per sample (byte 24)."""
    header = tf.strings.join([tf.strings.substr(encoded, 0, 25), b"\0" * 25])
    return (tf.equal(tf.strings.substr(header, 0, 8), _PNG_SIGNATURE)
            & tf.equal(tf.strings.substr(header, 24, 1), b"\x10"))


def _decode_pixels(encoded: tf.Tensor, channels: int) -> tf.Tensor:
    """float32 [H, W, channels] in 0..255. A 16-bit PNG is scaled with rounding (v / 257; TF's
    uint8 decoding would keep the high byte, floor(v / 256)); anything else as
    ``tf.io.decode_image`` reads it (the first frame of a GIF)."""

    def sixteen_bit() -> tf.Tensor:
        wide = tf.io.decode_png(encoded, channels=channels, dtype=tf.uint16)
        return tf.round(tf.cast(wide, tf.float32) / 257.0)

    def eight_bit() -> tf.Tensor:
        image = tf.io.decode_image(encoded, channels=channels, expand_animations=False)
        return tf.cast(image, tf.float32)

    image = tf.cond(_is_16_bit_png(encoded), sixteen_bit, eight_bit)
    image.set_shape([None, None, channels])
    return image


def decode_image(encoded: tf.Tensor) -> tf.Tensor:
    """Encoded PNG/JPEG/BMP/GIF (first frame) string -> float32 [H, W, 3] RGB in 0..255 (see
    the module docstring for modes and bit depths)."""
    return _decode_pixels(encoded, 3)


def decode_png_masks(encoded_masks: tf.Tensor, height: tf.Tensor, width: tf.Tensor,
                     check: Callable[..., tf.Operation] | None = None) -> tf.Tensor:
    """string [N] of single-channel PNGs -> uint8 {0, 1} [N, height, width] (non-zero -> 1).

    N = 0 gives an empty [0, height, width]. A mask that is not an image or of another size
    fails (``check``: ``_checker``'s, naming the record; default a plain assertion).
    """
    if check is None:
        def check(condition, problem, *values):
            return tf.debugging.Assert(condition, [f"bad instance mask ({problem})", *values])

    def sixteen_bit(encoded: tf.Tensor) -> tf.Tensor:     # 0 / 1 would be lost in the high byte
        return tf.io.decode_png(encoded, channels=1, dtype=tf.uint16)[:, :, 0] > 0

    def eight_bit(encoded: tf.Tensor) -> tf.Tensor:
        return tf.io.decode_image(encoded, channels=1, expand_animations=False)[:, :, 0] > 0

    def decode_one(encoded: tf.Tensor) -> tf.Tensor:
        with tf.control_dependencies([check(_is_known_image(encoded), "an instance mask is not "
                                            "a PNG, JPEG, GIF or BMP image")]):
            mask = tf.cond(_is_16_bit_png(encoded), lambda: sixteen_bit(encoded),
                           lambda: eight_bit(encoded))
        same = tf.reduce_all(tf.equal(tf.shape(mask), tf.stack([height, width])))
        with tf.control_dependencies([check(same, "instance mask size differs from the image "
                                                  "size", tf.shape(mask), height, width)]):
            return tf.cast(mask, tf.uint8)

    def decode_all() -> tf.Tensor:
        return tf.map_fn(decode_one, encoded_masks,
                         fn_output_signature=tf.TensorSpec([None, None], tf.uint8))

    return tf.cond(tf.size(encoded_masks) > 0, decode_all,
                   lambda: tf.zeros(tf.stack([0, height, width]), tf.uint8))


def _dense(parsed: dict, key: str) -> tf.Tensor:
    return tf.sparse.to_dense(parsed[key])


def _checker(record_path: tf.Tensor, filename: tf.Tensor):
    """Returns check(condition, problem) -> an Assert op naming the record and the image."""

    def check(condition: tf.Tensor, problem: str, *values: tf.Tensor) -> tf.Operation:
        return tf.debugging.Assert(
            condition, [f"bad record ({problem}) in", record_path, "image", filename, *values],
            summarize=8)

    return check


def decode_example(serialized: tf.Tensor, *, num_keypoints: int = 0,
                   load_instance_masks: bool = False, mask_type: str = "png",
                   record_path: tf.Tensor | str = "") -> dict[str, tf.Tensor]:
    """Parses one serialized ``tf.train.Example`` into the dict described in the module doc.

    Args:
      serialized: string scalar, one record.
      num_keypoints: K, keypoints per instance (0: no keypoint fields in the output).
      load_instance_masks: whether to decode ``image/object/mask``.
      mask_type: "png" (a list of encoded PNGs, the OD API's PNG_MASKS) or "numerical"
        (N * H * W floats, NUMERICAL_MASKS).
      record_path: the TFRecord file the record came from, for error messages.
    """
    if mask_type not in MASK_TYPES:
        raise ValueError(f"mask_type must be one of {MASK_TYPES}, got {mask_type!r}")
    if num_keypoints < 0:
        raise ValueError(f"num_keypoints must be >= 0, got {num_keypoints}")
    k = TfExampleKeys
    parsed = tf.io.parse_single_example(serialized, _feature_spec(load_instance_masks, mask_type))
    filename = parsed[k.filename]
    check = _checker(tf.convert_to_tensor(record_path, tf.string), filename)

    encoded = parsed[k.image_encoded]
    with tf.control_dependencies([check(_is_known_image(encoded),
                                        "image/encoded is not a PNG, JPEG, GIF or BMP image")]):
        image = decode_image(encoded)
    shape = tf.shape(image)
    height, width = shape[0], shape[1]

    corners = [_dense(parsed, key) for key in (k.bbox_ymin, k.bbox_xmin, k.bbox_ymax, k.bbox_xmax)]
    num = tf.size(corners[0])
    checks = [check(tf.equal(tf.size(c), num), "bbox coordinate lists differ in length")
              for c in corners[1:]]
    classes = _dense(parsed, k.class_label)
    checks.append(check(tf.equal(tf.size(classes), num), "class labels do not match the boxes",
                        tf.size(classes), num))
    with tf.control_dependencies(checks):
        boxes = tf.stack(corners, axis=1)
        boxes = tf.reshape(boxes, [-1, 4])

    out = {
        InputFields.image: image,
        InputFields.original_image_spatial_shape: shape[:2],
        InputFields.true_image_shape: shape,
        InputFields.source_id: parsed[k.source_id],
        InputFields.filename: filename,
        InputFields.key: parsed[k.key_sha256],
        InputFields.groundtruth_boxes: boxes,
        InputFields.groundtruth_classes: tf.cast(classes, tf.int32),
        InputFields.groundtruth_is_crowd: _optional_per_instance(
            tf.cast(_dense(parsed, k.is_crowd), tf.bool), num, tf.zeros([num], tf.bool),
            check, "is_crowd"),
    }
    masks = None
    if load_instance_masks:
        masks, weights = _decode_masks(parsed, mask_type, num, height, width, check)
        out[InputFields.groundtruth_instance_masks] = masks
        out[InputFields.groundtruth_instance_mask_weights] = weights
    out[InputFields.groundtruth_area] = _decode_area(parsed, boxes, masks, height, width, check)
    if num_keypoints:
        keypoints, visibilities = _decode_keypoints(parsed, num, num_keypoints, check)
        out[InputFields.groundtruth_keypoints] = keypoints
        out[InputFields.groundtruth_keypoint_visibilities] = visibilities
    return out


def _optional_per_instance(values: tf.Tensor, num: tf.Tensor, default: tf.Tensor, check,
                           name: str) -> tf.Tensor:
    """values when it has N entries, default when empty, an error otherwise."""
    size = tf.size(values)
    ok = check(tf.logical_or(tf.equal(size, num), tf.equal(size, 0)),
               f"{name} does not match the boxes", size, num)
    with tf.control_dependencies([ok]):
        return tf.cond(tf.equal(size, 0) & (num > 0), lambda: default, lambda: values)


def _decode_masks(parsed: dict, mask_type: str, num: tf.Tensor, height: tf.Tensor,
                  width: tf.Tensor, check) -> tuple[tf.Tensor, tf.Tensor]:
    """-> (uint8 [N, H, W], float32 [N] weights). A record without masks gets zeros, weight 0."""
    values = _dense(parsed, TfExampleKeys.instance_masks)
    if mask_type == "png":
        count = tf.size(values)
        ok = check(tf.logical_or(tf.equal(count, num), tf.equal(count, 0)),
                   "instance masks do not match the boxes", count, num)
        with tf.control_dependencies([ok]):
            masks = decode_png_masks(values, height, width, check)
    else:
        count = tf.size(values) // tf.maximum(height * width, 1)
        ok = check(tf.logical_and(tf.equal(tf.size(values), count * height * width),
                                  tf.logical_or(tf.equal(count, num), tf.equal(count, 0))),
                   "numerical instance masks are not N x height x width", tf.size(values), num)
        with tf.control_dependencies([ok]):
            masks = tf.cast(tf.reshape(values, tf.stack([count, height, width])) > 0, tf.uint8)
    has_masks = tf.equal(count, num)
    masks = tf.cond(has_masks, lambda: masks, lambda: tf.zeros(tf.stack([num, height, width]), tf.uint8))
    weights = tf.fill([num], tf.cast(has_masks, tf.float32))
    return masks, weights


def _decode_area(parsed: dict, boxes: tf.Tensor, masks: tf.Tensor | None, height: tf.Tensor,
                 width: tf.Tensor, check) -> tf.Tensor:
    """float32 [N]: as written, else from the masks (when present), else from the boxes."""
    num = tf.shape(boxes)[0]
    box_area = ((boxes[:, 2] - boxes[:, 0]) * tf.cast(height, tf.float32)
                * (boxes[:, 3] - boxes[:, 1]) * tf.cast(width, tf.float32))
    default = box_area
    if masks is not None:
        mask_area = tf.reduce_sum(tf.cast(masks, tf.float32), axis=[1, 2])
        default = tf.where(mask_area > 0, mask_area, box_area)
    return _optional_per_instance(_dense(parsed, TfExampleKeys.area), num, default, check, "area")


def _decode_keypoints(parsed: dict, num: tf.Tensor, num_keypoints: int,
                      check) -> tuple[tf.Tensor, tf.Tensor]:
    """-> (float32 [N, K, 2] (y, x) with NaN where not labelled, int32 [N, K] visibilities)."""
    k = TfExampleKeys
    x, y = _dense(parsed, k.keypoint_x), _dense(parsed, k.keypoint_y)
    vis = _dense(parsed, k.keypoint_visibility)
    expected = num * num_keypoints
    ok = [check(tf.equal(tf.size(x), tf.size(y)), "keypoint x and y lists differ in length"),
          check(tf.logical_or(tf.equal(tf.size(x), expected), tf.equal(tf.size(x), 0)),
                f"keypoints are not N x num_keypoints ({num_keypoints})", tf.size(x), num),
          check(tf.logical_or(tf.equal(tf.size(vis), tf.size(x)), tf.equal(tf.size(vis), 0)),
                "keypoint visibilities do not match the keypoints", tf.size(vis), tf.size(x))]
    with tf.control_dependencies(ok):
        nan = tf.fill([expected], float("nan"))
        x = tf.cond(tf.equal(tf.size(x), 0), lambda: nan, lambda: x)
        y = tf.cond(tf.equal(tf.size(y), 0), lambda: nan, lambda: y)
    finite = tf.math.is_finite(x) & tf.math.is_finite(y)
    vis = tf.cond(tf.equal(tf.size(vis), 0),
                  lambda: tf.where(finite, 2, 0),
                  lambda: tf.cast(vis, tf.int32))
    labelled = finite & (vis > 0)
    keypoints = tf.where(labelled[:, None], tf.stack([y, x], axis=1), float("nan"))
    visibilities = tf.where(labelled, vis, 0)
    return (tf.reshape(keypoints, [-1, num_keypoints, 2]),
            tf.reshape(visibilities, [-1, num_keypoints]))
