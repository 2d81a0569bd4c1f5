"""Resizers: output sizes against hand computation, pixel values against a NumPy version of the
OD API's legacy (TF1) kernels, masks nearest, boxes relative to the unpadded image
(true_image_shape)."""

from __future__ import annotations

import numpy as np
import pytest
import tensorflow as tf

from object_detection.data import resizer
from object_detection.fields import InputFields as F
from tests.data import example_records as er
from tests.data import legacy_resize as ref


@pytest.mark.parametrize("height, width, min_dim, max_dim, expected", [
    (24, 32, 60, 100, (60, 80)),    # short side to 60: 2.5x
    (24, 32, 60, 70, (52, 70)),     # 80 > 70: long side to 70, 24 * 70 / 32 = 52.5 -> 52 (half to even)
    (25, 17, 10, 30, (15, 10)),     # 25 * 10 / 17 = 14.7 -> 15
    (100, 20, 30, 90, (90, 18)),    # 150 > 90: 100 -> 90, 20 -> 18
    (30, 30, 40, 0, (40, 40)),      # no max_dimension
    (600, 800, 600, 1024, (600, 800)),
])
def test_keep_aspect_ratio_size(height, width, min_dim, max_dim, expected):
    size = resizer.keep_aspect_ratio_size(height, width, min_dim, max_dim)
    assert tuple(size.numpy()) == expected


def _scene_tensors():
    scene = er.make_scene()
    return scene, {F.image: tf.constant(scene.image, tf.float32),
                   F.groundtruth_instance_masks: tf.constant(scene.masks),
                   F.groundtruth_boxes: tf.constant(scene.boxes),
                   F.true_image_shape: tf.constant([24, 32, 3])}


def test_keep_aspect_ratio_resize_image_and_masks():
    scene, tensors = _scene_tensors()
    out = resizer.resize_tensors(tensors, lambda i, m: resizer.resize_keep_aspect_ratio(
        i, m, min_dimension=48, max_dimension=100))
    assert out[F.image].shape == (48, 64, 3)
    np.testing.assert_array_equal(out[F.true_image_shape], [48, 64, 3])
    masks = out[F.groundtruth_instance_masks].numpy()
    assert masks.shape == (2, 48, 64) and masks.dtype == np.uint8
    assert set(np.unique(masks)) == {0, 1}
    for i in range(2):   # factor 2: nearest keeps the boxes exactly
        np.testing.assert_allclose(er.mask_box(masks[i]), scene.boxes[i], atol=1e-6)
    np.testing.assert_array_equal(out[F.groundtruth_boxes], scene.boxes)


def test_bilinear_image_but_nearest_masks():
    checker = np.kron([[0, 1], [1, 0]], np.ones((4, 4))).astype(np.uint8)
    image = tf.constant(np.stack([checker * 255.0] * 3, -1), tf.float32)
    out_image, out_masks, _ = resizer.resize_fixed_shape(image, tf.constant(checker[None]),
                                                         height=11, width=13)
    values = np.unique(out_image.numpy())
    assert ((values > 0) & (values < 255)).any()          # interpolated
    assert set(np.unique(out_masks.numpy())) == {0, 1}    # nearest


def test_pad_to_max_dimension_keeps_boxes_relative_to_unpadded_image():
    scene, tensors = _scene_tensors()
    out = resizer.resize_tensors(tensors, lambda i, m: resizer.resize_keep_aspect_ratio(
        i, m, min_dimension=48, max_dimension=80, pad_to_max_dimension=True))
    image = out[F.image].numpy()
    assert image.shape == (80, 80, 3)
    np.testing.assert_array_equal(out[F.true_image_shape], [48, 64, 3])
    assert (image[48:] == 0).all() and (image[:, 64:] == 0).all()
    masks = out[F.groundtruth_instance_masks].numpy()
    assert masks.shape == (2, 80, 80)
    for i in range(2):
        # the mask's box in padded pixels, divided by the unpadded (true) size, is the box
        box_pixels = er.mask_box(masks[i]) * 80
        np.testing.assert_allclose(box_pixels / [48, 64, 48, 64], scene.boxes[i], atol=1e-6)
    np.testing.assert_array_equal(out[F.groundtruth_boxes], scene.boxes)


def test_pad_value_per_channel():
    image = tf.fill([24, 32, 3], 10.0)
    out, _, _ = resizer.resize_keep_aspect_ratio(image, min_dimension=24, max_dimension=40,
                                                 pad_to_max_dimension=True, pad_value=(1, 2, 3))
    np.testing.assert_array_equal(out.numpy()[30, 35], [1, 2, 3])
    np.testing.assert_array_equal(out.numpy()[0, 0], [10, 10, 10])


def test_fixed_shape_resizer():
    scene, tensors = _scene_tensors()
    out = resizer.resize_tensors(tensors, lambda i, m: resizer.resize_fixed_shape(
        i, m, height=12, width=16))
    assert out[F.image].shape == (12, 16, 3)
    np.testing.assert_array_equal(out[F.true_image_shape], [12, 16, 3])
    for i in range(2):   # factor 1/2: nearest keeps even-aligned boxes within a pixel
        np.testing.assert_allclose(er.mask_box(out[F.groundtruth_instance_masks].numpy()[i]),
                                   scene.boxes[i], atol=1 / 12)


@pytest.mark.parametrize("condition, threshold, expected", [
    ("greater", 16, (12, 16)), ("greater", 40, (24, 32)),
    ("smaller", 48, (48, 64)), ("smaller", 10, (24, 32)),
])
def test_conditional_resizer(condition, threshold, expected):
    out, _, true_shape = resizer.resize_conditional(tf.zeros([24, 32, 3]), condition=condition,
                                                    size_threshold=threshold)
    assert out.shape[:2] == expected and tuple(true_shape.numpy()[:2]) == expected


def test_pad_to_multiple_and_identity():
    out, masks, true_shape = resizer.resize_pad_to_multiple(
        tf.ones([24, 32, 3]), tf.ones([2, 24, 32], tf.uint8), multiple=5)
    assert out.shape == (25, 35, 3) and masks.shape == (2, 25, 35)
    np.testing.assert_array_equal(true_shape, [24, 32, 3])
    assert out.numpy()[24:].sum() == 0 and masks.numpy()[:, :, 32:].sum() == 0
    out, _, true_shape = resizer.resize_identity(tf.ones([24, 32, 3]))
    assert out.shape == (24, 32, 3)
    np.testing.assert_array_equal(true_shape, [24, 32, 3])


def test_static_shape():
    assert resizer.resized_static_shape(
        lambda i, m: resizer.resize_fixed_shape(i, m, height=5, width=7)) == (5, 7)
    assert resizer.resized_static_shape(lambda i, m: resizer.resize_keep_aspect_ratio(
        i, m, min_dimension=5, max_dimension=9, pad_to_max_dimension=True)) == (9, 9)
    assert resizer.resized_static_shape(lambda i, m: resizer.resize_keep_aspect_ratio(
        i, m, min_dimension=5, max_dimension=9)) is None


def test_bad_dimensions_raise():
    with pytest.raises(ValueError, match="min_dimension"):
        resizer.resize_keep_aspect_ratio(tf.zeros([4, 4, 3]), min_dimension=10, max_dimension=5)
    with pytest.raises(ValueError, match="condition"):
        resizer.resize_conditional(tf.zeros([4, 4, 3]), condition="bigger")


# ------------------------------------------------------------- kernels: the OD API's legacy ones

SIZES = [((190, 250), (243, 320)),   # up, odd ratio
         ((37, 53), (17, 29)),       # down
         ((5, 7), (11, 3)),          # up in height, down in width
         ((24, 32), (48, 64))]       # exact factor 2


def _random_image(height: int, width: int, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).uniform(0, 255, (height, width, 3)).astype(np.float32)


def _random_masks(height: int, width: int, seed: int = 1) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 2, (3, height, width)).astype(np.uint8)


def _resize(image, masks, size, method="bilinear", align_corners=False):
    out_image, out_masks = resizer.resize_image_and_masks(
        tf.constant(image), None if masks is None else tf.constant(masks), tf.constant(size),
        method, align_corners=align_corners)
    return out_image.numpy(), None if out_masks is None else out_masks.numpy()


def _nearest_masks(masks: np.ndarray, size, align_corners=False) -> np.ndarray:
    return np.moveaxis(ref.nearest(np.moveaxis(masks, 0, -1), *size, align_corners), -1, 0)


@pytest.mark.parametrize("align_corners", [False, True])
@pytest.mark.parametrize("source, size", SIZES)
def test_bilinear_image_and_nearest_masks_are_the_legacy_kernels(source, size, align_corners):
    image, masks = _random_image(*source), _random_masks(*source)
    out_image, out_masks = _resize(image, masks, size, align_corners=align_corners)
    assert out_image.dtype == np.float32 and out_image.shape == (*size, 3)
    np.testing.assert_allclose(out_image, ref.bilinear(image, *size, align_corners), atol=1e-3)
    assert out_masks.dtype == np.uint8 and out_masks.shape == (3, *size)
    np.testing.assert_array_equal(out_masks, _nearest_masks(masks, size, align_corners))


@pytest.mark.parametrize("source, size", SIZES)
def test_nearest_bicubic_and_area_images_are_the_legacy_kernels(source, size):
    image = _random_image(*source)
    np.testing.assert_array_equal(_resize(image, None, size, "nearest")[0],
                                  ref.nearest(image, *size))
    np.testing.assert_allclose(_resize(image, None, size, "bicubic")[0],
                               ref.bicubic(image, *size), atol=1e-3)
    np.testing.assert_allclose(_resize(image, None, size, "area")[0],
                               ref.area(image, *size), atol=1e-2)


def test_half_pixel_kernels_differ_from_the_reference():
    """The reference is not what tf.image.resize (half-pixel centres) computes, so the tests
    above tell the two apart: tens of grey levels on random pixels, other mask pixels."""
    image, masks = _random_image(190, 250), _random_masks(190, 250)
    half_pixel = tf.image.resize(image, [243, 320]).numpy()
    assert np.abs(half_pixel - ref.bilinear(image, 243, 320)).max() > 20
    half_pixel_masks = tf.image.resize(masks[..., None], [243, 320], method="nearest").numpy()
    assert (half_pixel_masks[..., 0] != _nearest_masks(masks, (243, 320))).mean() > 0.05


def test_bicubic_is_not_clipped():
    """As the OD API: a 0 / 255 step overshoots both ways with bicubic and stays so."""
    image = np.zeros((6, 8, 3), np.float32)
    image[:, 4:] = 255
    out = _resize(image, None, (9, 19), "bicubic")[0]
    assert out.min() < -5 and out.max() > 260
    np.testing.assert_allclose(out, ref.bicubic(image, 9, 19), atol=1e-3)


def test_empty_masks_are_resized():
    _, masks = _resize(_random_image(5, 7), np.zeros((0, 5, 7), np.uint8), (11, 3))
    assert masks.shape == (0, 11, 3) and masks.dtype == np.uint8


def test_fixed_shape_resizer_uses_the_legacy_kernels():
    image, masks = _random_image(190, 250), _random_masks(190, 250)
    out_image, out_masks, true_shape = resizer.resize_fixed_shape(
        tf.constant(image), tf.constant(masks), height=243, width=320)
    np.testing.assert_allclose(out_image, ref.bilinear(image, 243, 320), atol=1e-3)
    np.testing.assert_array_equal(out_masks, _nearest_masks(masks, (243, 320)))
    np.testing.assert_array_equal(true_shape, [243, 320, 3])


def test_keep_aspect_ratio_resizer_uses_the_legacy_kernels():
    """190 x 250 with min_dimension 243: 250 * 243 / 190 = 319.7 -> 320; padded to 400."""
    image, masks = _random_image(190, 250), _random_masks(190, 250)
    out_image, out_masks, true_shape = resizer.resize_keep_aspect_ratio(
        tf.constant(image), tf.constant(masks), min_dimension=243, max_dimension=400,
        pad_to_max_dimension=True)
    np.testing.assert_array_equal(true_shape, [243, 320, 3])
    assert out_image.shape == (400, 400, 3) and out_masks.shape == (3, 400, 400)
    np.testing.assert_allclose(out_image[:243, :320], ref.bilinear(image, 243, 320), atol=1e-3)
    np.testing.assert_array_equal(out_masks[:, :243, :320], _nearest_masks(masks, (243, 320)))
    assert (out_image.numpy()[243:] == 0).all() and (out_masks.numpy()[:, :, 320:] == 0).all()


@pytest.mark.parametrize("condition, threshold, source, size", [
    ("greater", 16, (40, 64), (10, 16)),     # long side 64 -> 16: factor 1/4
    ("smaller", 25, (10, 16), (25, 40)),     # short side 10 -> 25: factor 5/2
])
def test_conditional_resizer_aligns_corners(condition, threshold, source, size):
    """The OD API's resize_to_max_dimension / resize_to_min_dimension use align_corners=True."""
    image, masks = _random_image(*source), _random_masks(*source)
    out_image, out_masks, _ = resizer.resize_conditional(
        tf.constant(image), tf.constant(masks), condition=condition, size_threshold=threshold)
    np.testing.assert_allclose(out_image, ref.bilinear(image, *size, align_corners=True),
                               atol=1e-3)
    np.testing.assert_array_equal(out_masks, _nearest_masks(masks, size, align_corners=True))
