"""Decoding records: images of every mode to RGB, boxes, classes, masks and keypoints."""

from __future__ import annotations

import io
import struct
import zlib

import numpy as np
import pytest
import tensorflow as tf

from object_detection.data import decoder
from object_detection.fields import InputFields as F
from tests.data import example_records as er

H, W = 24, 32


def _rgb(seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, (H, W, 3), dtype=np.uint8)


def _decode(example: bytes, **kwargs) -> dict:
    return {k: v.numpy() for k, v in decoder.decode_example(tf.constant(example), **kwargs).items()}


def test_png_rgb_decodes_exactly():
    rgb = _rgb()
    out = _decode(er.make_example(er.encode(rgb)))
    assert out[F.image].dtype == np.float32
    np.testing.assert_array_equal(out[F.image], rgb.astype(np.float32))
    np.testing.assert_array_equal(out[F.original_image_spatial_shape], [H, W])
    np.testing.assert_array_equal(out[F.true_image_shape], [H, W, 3])


def test_jpeg_decodes_close_to_source():
    rgb = np.zeros((H, W, 3), np.uint8)
    rgb[:, : W // 2] = (200, 40, 10)
    rgb[:, W // 2:] = (10, 90, 220)
    out = _decode(er.make_example(er.encode(rgb, "JPEG"), image_format="jpeg"))
    assert out[F.image].shape == (H, W, 3)
    assert np.abs(out[F.image] - rgb).mean() < 6.0


def test_grayscale_png_becomes_three_equal_channels():
    gray = _rgb()[..., 0]
    out = _decode(er.make_example(er.encode(gray, "PNG", "L")))
    assert out[F.image].shape == (H, W, 3)
    for c in range(3):
        np.testing.assert_array_equal(out[F.image][..., c], gray)


def test_grayscale_jpeg_becomes_rgb():
    gray = np.full((H, W), 128, np.uint8)
    out = _decode(er.make_example(er.encode(gray, "JPEG", "L")))
    assert out[F.image].shape == (H, W, 3)
    np.testing.assert_allclose(out[F.image], 128, atol=2)


def test_rgba_png_drops_alpha():
    rgba = np.concatenate([_rgb(), np.random.default_rng(1).integers(0, 256, (H, W, 1), np.uint8)], -1)
    out = _decode(er.make_example(er.encode(rgba, "PNG", "RGBA")))
    np.testing.assert_array_equal(out[F.image], rgba[..., :3])


def test_palette_png_expands_to_palette_colours():
    from PIL import Image
    import io
    indices = np.random.default_rng(2).integers(0, 4, (H, W), dtype=np.uint8)
    palette = np.array([[0, 0, 0], [255, 0, 0], [10, 200, 30], [40, 50, 250]], np.uint8)
    image = Image.fromarray(indices, "P")
    image.putpalette(palette.ravel().tolist())
    buffer = io.BytesIO()
    image.save(buffer, "PNG")
    out = _decode(er.make_example(buffer.getvalue()))
    np.testing.assert_array_equal(out[F.image], palette[indices])


def test_boxes_classes_masks_keypoints_round_trip():
    scene = er.make_scene()
    out = _decode(er.scene_example(scene, filename="a.png", source_id="7"), num_keypoints=3,
                  load_instance_masks=True)
    np.testing.assert_allclose(out[F.groundtruth_boxes], scene.boxes, atol=1e-7)
    np.testing.assert_array_equal(out[F.groundtruth_classes], [1, 2])
    assert out[F.groundtruth_classes].dtype == np.int32
    assert out[F.groundtruth_instance_masks].dtype == np.uint8
    np.testing.assert_array_equal(out[F.groundtruth_instance_masks], scene.masks)
    np.testing.assert_array_equal(out[F.groundtruth_instance_mask_weights], [1, 1])
    np.testing.assert_allclose(out[F.groundtruth_keypoints], scene.keypoints, atol=1e-7)
    assert np.isnan(out[F.groundtruth_keypoints][0, 2]).all()
    np.testing.assert_array_equal(out[F.groundtruth_keypoint_visibilities], scene.visibilities)
    np.testing.assert_array_equal(out[F.groundtruth_is_crowd], [False, False])
    # no area written: the mask pixel counts
    np.testing.assert_array_equal(out[F.groundtruth_area], scene.masks.sum((1, 2)))
    assert out[F.filename] == b"a.png" and out[F.source_id] == b"7" and out[F.key] == b""
    np.testing.assert_array_equal(out[F.image], scene.image)


def test_masks_with_255_values_become_ones():
    scene = er.make_scene()
    out = _decode(er.make_example(er.encode(scene.image), scene.boxes, scene.classes,
                                  masks=scene.masks * 255), load_instance_masks=True)
    np.testing.assert_array_equal(out[F.groundtruth_instance_masks], scene.masks)


def test_no_instances_gives_empty_fields():
    out = _decode(er.make_example(er.encode(_rgb()), masks=[]), num_keypoints=4,
                  load_instance_masks=True)
    assert out[F.groundtruth_boxes].shape == (0, 4)
    assert out[F.groundtruth_classes].shape == (0,)
    assert out[F.groundtruth_instance_masks].shape == (0, H, W)
    assert out[F.groundtruth_keypoints].shape == (0, 4, 2)
    assert out[F.groundtruth_keypoint_visibilities].shape == (0, 4)
    assert out[F.groundtruth_area].shape == (0,)


def test_box_only_record_gets_zero_masks_with_weight_zero_and_box_area():
    scene = er.make_scene()
    out = _decode(er.make_example(er.encode(scene.image), scene.boxes, scene.classes),
                  load_instance_masks=True)
    assert out[F.groundtruth_instance_masks].shape == (2, H, W)
    assert out[F.groundtruth_instance_masks].sum() == 0
    np.testing.assert_array_equal(out[F.groundtruth_instance_mask_weights], [0, 0])
    np.testing.assert_allclose(out[F.groundtruth_area], scene.masks.sum((1, 2)), rtol=1e-5)


def test_written_area_and_is_crowd_are_kept():
    scene = er.make_scene()
    out = _decode(er.make_example(er.encode(scene.image), scene.boxes, scene.classes,
                                  is_crowd=[0, 1], area=[12.5, 40.0]))
    np.testing.assert_array_equal(out[F.groundtruth_is_crowd], [False, True])
    np.testing.assert_array_equal(out[F.groundtruth_area], [12.5, 40.0])
    assert F.groundtruth_instance_masks not in out and F.groundtruth_keypoints not in out


def test_record_without_keypoints_gives_nan_and_zero_visibility():
    scene = er.make_scene()
    out = _decode(er.make_example(er.encode(scene.image), scene.boxes, scene.classes),
                  num_keypoints=2)
    assert out[F.groundtruth_keypoints].shape == (2, 2, 2)
    assert np.isnan(out[F.groundtruth_keypoints]).all()
    np.testing.assert_array_equal(out[F.groundtruth_keypoint_visibilities], 0)


def test_numerical_masks():
    scene = er.make_scene()
    example = tf.train.Example()
    example.ParseFromString(er.make_example(er.encode(scene.image), scene.boxes, scene.classes))
    example.features.feature[er.K.instance_masks].float_list.value.extend(
        scene.masks.astype(np.float32).ravel())
    out = _decode(example.SerializeToString(), load_instance_masks=True, mask_type="numerical")
    np.testing.assert_array_equal(out[F.groundtruth_instance_masks], scene.masks)


def test_mismatched_lists_fail_naming_the_record():
    scene = er.make_scene()
    bad = er.make_example(er.encode(scene.image), scene.boxes, [1], filename="bad.png")
    with pytest.raises(tf.errors.InvalidArgumentError, match="(?s)class labels.*records.tfrecord.*bad.png"):
        decoder.decode_example(tf.constant(bad), record_path="records.tfrecord")


def test_wrong_keypoint_count_fails():
    scene = er.make_scene()
    example = er.scene_example(scene)
    with pytest.raises(tf.errors.InvalidArgumentError, match="num_keypoints"):
        decoder.decode_example(tf.constant(example), num_keypoints=4)


def test_mask_of_other_size_fails_naming_the_record():
    scene = er.make_scene()
    example = er.make_example(er.encode(scene.image), scene.boxes, scene.classes,
                              masks=np.zeros((2, H + 1, W), np.uint8), filename="big.png")
    with pytest.raises(tf.errors.InvalidArgumentError,
                       match="(?s)mask size differs.*masks.tfrecord.*big.png"):
        decoder.decode_example(tf.constant(example), load_instance_masks=True,
                               record_path="masks.tfrecord")


def test_mask_that_is_not_an_image_fails_naming_the_record():
    scene = er.make_scene()
    example = tf.train.Example.FromString(
        er.make_example(er.encode(scene.image), scene.boxes[:1], [1], filename="m.png"))
    example.features.feature[er.K.instance_masks].bytes_list.value.append(b"no mask here")
    with pytest.raises(tf.errors.InvalidArgumentError,
                       match="(?s)instance mask is not a PNG.*m.tfrecord.*m.png"):
        decoder.decode_example(tf.constant(example.SerializeToString()),
                               load_instance_masks=True, record_path="m.tfrecord")


def test_bad_mask_type_is_a_value_error():
    with pytest.raises(ValueError, match="mask_type"):
        decoder.decode_example(tf.constant(b""), load_instance_masks=True, mask_type="rle")


def test_decodes_records_of_the_dataset_tools_writer():
    from object_detection.dataset_tools import tf_example
    from object_detection.dataset_tools.annotated_image import AnnotatedImage
    from object_detection.dataset_tools.image_io import EncodedImage
    scene = er.make_scene()
    annotated = AnnotatedImage(
        filename="w.png", source_id="w", image=EncodedImage(er.encode(scene.image), "png", H, W),
        class_ids=scene.classes, class_names=["figure", "figure"], boxes=scene.boxes,
        masks=scene.masks, is_crowd=np.array([False, True]), areas=np.array([120.0, 140.0], np.float32),
        keypoints=scene.keypoints, keypoint_visibilities=scene.visibilities.astype(np.int32),
        keypoint_names=("a", "b", "c"))
    serialized = tf_example.build_example(annotated).SerializeToString()
    out = _decode(serialized, num_keypoints=3, load_instance_masks=True)
    np.testing.assert_array_equal(out[F.groundtruth_instance_masks], scene.masks)
    np.testing.assert_allclose(out[F.groundtruth_boxes], scene.boxes)
    np.testing.assert_allclose(out[F.groundtruth_keypoints], scene.keypoints)
    np.testing.assert_array_equal(out[F.groundtruth_keypoint_visibilities], scene.visibilities)
    np.testing.assert_array_equal(out[F.groundtruth_is_crowd], [False, True])
    assert len(out[F.key]) == 64    # the writer's sha256 hex digest


def test_undecodable_image_fails_naming_the_record():
    bad = er.make_example(b"not an image at all", filename="broken.png")
    with pytest.raises(tf.errors.InvalidArgumentError, match="(?s)not a PNG, JPEG.*r.tfrecord.*broken.png"):
        decoder.decode_example(tf.constant(bad), record_path="r.tfrecord")


# ------------------------------------------------------------------- modes and bit depths

def _png(array: np.ndarray, bit_depth: int) -> bytes:
    """A PNG written from the format's definition (grey, grey+alpha, RGB or RGBA by the number
    of channels), so that 16-bit colour images can be made (PIL writes only 16-bit grey)."""
    array = array.reshape(array.shape[:2] + (-1,))
    height, width, channels = array.shape
    colour_type = {1: 0, 2: 4, 3: 2, 4: 6}[channels]
    sample = ">u2" if bit_depth == 16 else "u1"
    raw = b"".join(b"\x00" + array[y].astype(sample).tobytes() for y in range(height))

    def chunk(kind: bytes, data: bytes) -> bytes:
        return (struct.pack(">I", len(data)) + kind + data
                + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF))

    header = struct.pack(">IIBBBBB", width, height, bit_depth, colour_type, 0, 0, 0)
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(raw))
            + chunk(b"IEND", b""))


# 16-bit values where the rounded v / 257 and TF's uint8 high byte (v >> 8) differ
SIXTEEN = np.array([[0, 128, 129, 257, 1000, 32768, 65280, 65535]], np.uint16)
SIXTEEN_AS_8 = np.array([[0, 0, 1, 1, 4, 128, 254, 255]], np.float32)   # round(v * 255 / 65535)


def test_sixteen_bit_grey_png_is_scaled_with_rounding():
    assert not np.array_equal(SIXTEEN >> 8, SIXTEEN_AS_8)    # TF's uint8 decoding would differ
    encoded = er.encode(SIXTEEN, "PNG")                      # PIL: mode I;16
    assert encoded[24] == 16
    image = decoder.decode_image(tf.constant(encoded)).numpy()
    assert image.shape == (1, 8, 3)
    for c in range(3):
        np.testing.assert_array_equal(image[..., c], SIXTEEN_AS_8)


def test_sixteen_bit_rgb_and_rgba_pngs_are_scaled_with_rounding():
    rgb = np.stack([SIXTEEN, SIXTEEN[:, ::-1], np.full_like(SIXTEEN, 1000)], -1)
    expected = np.stack([SIXTEEN_AS_8, SIXTEEN_AS_8[:, ::-1], np.full_like(SIXTEEN_AS_8, 4)], -1)
    for array in (rgb, np.concatenate([rgb, np.full_like(SIXTEEN, 7)[..., None]], -1)):
        image = decoder.decode_image(tf.constant(_png(array, 16))).numpy()
        np.testing.assert_array_equal(image, expected)


def test_eight_bit_png_from_the_reference_writer_is_exact():
    """The hand-made PNG writer agrees with PIL's, so the 16-bit tests read what they mean."""
    rgb = _rgb(3)
    np.testing.assert_array_equal(decoder.decode_image(tf.constant(_png(rgb, 8))).numpy(), rgb)


def test_grey_alpha_png_drops_alpha():
    grey, alpha = _rgb(4)[..., 0], _rgb(5)[..., 1]
    out = _decode(er.make_example(er.encode(np.stack([grey, alpha], -1), "PNG", "LA")))
    np.testing.assert_array_equal(out[F.image], np.repeat(grey[..., None], 3, -1))


def test_one_bit_png_is_black_and_white():
    bits = _rgb(6)[..., 0] > 127
    encoded = er.encode(bits, "PNG")                         # PIL: mode 1
    assert encoded[24] == 1
    out = _decode(er.make_example(encoded))
    np.testing.assert_array_equal(out[F.image], np.repeat(bits[..., None], 3, -1) * 255.0)


def test_cmyk_jpeg_is_converted_to_rgb():
    from PIL import Image
    rows, cols = np.mgrid[0:H, 0:W]
    rgb = np.stack([rows * 10, cols * 8, (rows + cols) * 4], -1).astype(np.uint8)
    buffer = io.BytesIO()
    Image.fromarray(rgb).convert("CMYK").save(buffer, "JPEG", quality=95)
    assert Image.open(io.BytesIO(buffer.getvalue())).mode == "CMYK"
    out = _decode(er.make_example(buffer.getvalue(), image_format="jpeg"))
    assert np.abs(out[F.image] - rgb).max() <= 8


def _scene_with_masks(encode_mask) -> tuple[er.Scene, bytes]:
    """A scene and its serialized example whose instance masks are ``encode_mask(mask)``."""
    scene = er.make_scene()
    example = tf.train.Example.FromString(
        er.make_example(er.encode(scene.image), scene.boxes, scene.classes))
    masks = example.features.feature[er.K.instance_masks].bytes_list.value
    masks.extend(encode_mask(mask) for mask in scene.masks)
    return scene, example.SerializeToString()


def test_sixteen_bit_masks_keep_their_ones():
    """A 16-bit {0, 1} mask: TF's uint8 decoding keeps the high byte, 0 everywhere."""
    scene, serialized = _scene_with_masks(lambda mask: er.encode(mask.astype(np.uint16), "PNG"))
    first = tf.train.Example.FromString(serialized).features.feature[er.K.instance_masks]
    assert tf.io.decode_png(first.bytes_list.value[0]).numpy().max() == 0  # the high byte of 1
    out = _decode(serialized, load_instance_masks=True)
    np.testing.assert_array_equal(out[F.groundtruth_instance_masks], scene.masks)
    np.testing.assert_array_equal(out[F.groundtruth_instance_mask_weights], [1, 1])


def test_palette_masks_count_non_black_colours():
    """As the OD API's decode_image(channels=1): a palette mask counts its grey value."""
    from PIL import Image

    def palette_png(mask: np.ndarray) -> bytes:
        image = Image.fromarray(mask, "P")
        image.putpalette([0, 0, 0, 200, 30, 30] + [0] * 762)
        buffer = io.BytesIO()
        image.save(buffer, "PNG")
        return buffer.getvalue()

    scene, serialized = _scene_with_masks(palette_png)
    out = _decode(serialized, load_instance_masks=True)
    np.testing.assert_array_equal(out[F.groundtruth_instance_masks], scene.masks)
