"""Resizers: output sizes against hand computation, masks nearest, boxes relative to the
unpadded image (true_image_shape)."""

from __future__ import annotations

import numpy as np
import pytest
import tensorflow as tf

from object_detection.data import resizer
from object_detection.fields import InputFields as F
from tests.data import example_records as er


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
