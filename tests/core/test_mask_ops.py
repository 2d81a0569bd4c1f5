"""Reframing box masks into images and cropping image masks back to boxes."""

from __future__ import annotations

import numpy as np
import tensorflow as tf

from object_detection.core.mask_ops import crop_masks_to_boxes, reframe_box_masks_to_image_masks


def test_reframed_all_ones_mask_is_exactly_the_box():
    h, w = 9, 13                                  # pixel (i, j) sits at (i / 8, j / 12)
    boxes = np.array([[0.25, 0.5, 0.75, 1.0],     # rows 2..6, columns 6..12
                      [0.3, 0.1, 0.6, 0.4]],      # rows 3..4 (2.4 -> 3, 4.8 -> 4), cols 2..4
                     np.float32)
    out = reframe_box_masks_to_image_masks(np.ones((2, 4, 4), np.float32), boxes, h, w).numpy()
    assert out.shape == (2, h, w)
    expected = np.zeros((2, h, w), np.float32)
    expected[0, 2:7, 6:13] = 1
    expected[1, 3:5, 2:5] = 1
    np.testing.assert_array_equal(out, expected)


def test_reframe_places_mask_rows_in_order():
    box_mask = np.array([[[1, 1], [0, 0]]], np.float32)   # top half on
    out = reframe_box_masks_to_image_masks(box_mask, np.array([[0, 0, 1, 1]], np.float32), 5, 3)
    np.testing.assert_allclose(out.numpy()[0, :, 0], [1, 0.75, 0.5, 0.25, 0])


def test_reframe_no_masks():
    out = reframe_box_masks_to_image_masks(np.zeros((0, 4, 4), np.float32),
                                           np.zeros((0, 4), np.float32), 6, 7)
    assert out.shape == (0, 6, 7)


def test_reframe_then_crop_round_trips():
    rng = np.random.default_rng(2)
    box_masks = rng.uniform(size=(2, 4, 5)).astype(np.float32)
    # 21 x 25 image: the boxes span 9 = 3 * (4 - 1) rows and 12 = 3 * (5 - 1) columns, starting
    # on pixels, so every box-mask cell lands exactly on an image pixel.
    boxes = np.array([[5 / 20, 4 / 24, 14 / 20, 16 / 24],
                      [0 / 20, 12 / 24, 9 / 20, 24 / 24]], np.float32)
    image_masks = reframe_box_masks_to_image_masks(box_masks, boxes, 21, 25)
    back = crop_masks_to_boxes(image_masks[tf.newaxis], boxes[np.newaxis],
                               np.array([[0, 1]]), 4, 5).numpy()
    np.testing.assert_allclose(back[0], box_masks, atol=1e-5)


def test_reframe_then_crop_round_trips_linear_masks_at_any_scale():
    rows, cols = np.meshgrid(np.linspace(0, 1, 6), np.linspace(0, 1, 6), indexing="ij")
    box_masks = (0.2 + 0.5 * rows + 0.3 * cols)[np.newaxis].astype(np.float32)
    boxes = np.array([[4 / 30, 2 / 40, 21 / 30, 37 / 40]], np.float32)  # edges on pixels
    image_masks = reframe_box_masks_to_image_masks(box_masks, boxes, 31, 41)
    back = crop_masks_to_boxes(image_masks[tf.newaxis], boxes[np.newaxis], np.array([[0]]), 6, 6)
    np.testing.assert_allclose(back.numpy()[0], box_masks, atol=1e-5)


def _gt_masks():
    """[B=1, N=2, 13, 17] uint8: instance 1 covers rows 2..8, columns 2..8; instance 0 empty."""
    masks = np.zeros((1, 2, 13, 17), np.uint8)
    masks[0, 1, 2:9, 2:9] = 1
    return masks


def test_crop_masks_box_equal_to_gt_box_is_all_ones():
    gt_box = [2 / 12, 2 / 16, 8 / 12, 8 / 16]         # the mask's extent (pixel p at p / (n-1))
    out = crop_masks_to_boxes(_gt_masks(), np.array([[gt_box, gt_box]], np.float32),
                              np.array([[1, 0]]), 4, 4).numpy()
    assert out.shape == (1, 2, 4, 4)
    np.testing.assert_array_equal(out[0, 0], np.ones((4, 4)))
    np.testing.assert_array_equal(out[0, 1], np.zeros((4, 4)))  # matched to the empty mask


def test_crop_masks_half_overlapping_box_is_half_ones():
    # Shifted right by half its width (6 -> 3 pixels): samples at columns 5, 7, 9, 11.
    box = [2 / 12, 5 / 16, 8 / 12, 11 / 16]
    out = crop_masks_to_boxes(_gt_masks(), np.array([[box]], np.float32),
                              np.array([[1]]), 4, 4).numpy()[0, 0]
    expected = np.zeros((4, 4))
    expected[:, :2] = 1
    np.testing.assert_array_equal(out, expected)


def test_crop_masks_boxes_normalized_to_unpadded_region():
    """Masks padded to 26 x 34 around a 13 x 17 image; boxes normalized to the 13 x 17 region
    (true_image_shape) are scaled by 13 / 26 and 17 / 34 before cropping (as the OD API)."""
    padded = np.zeros((2, 2, 26, 34), np.uint8)
    padded[:, :, :13, :17] = _gt_masks()[0]
    # Padded pixel p sits at p / 25 (rows) and p / 33 (columns) of the padded array, i.e. at
    # twice that in the unpadded region's normalization: rows and columns 2..8 of the mask.
    box = [2 / 25 * 2, 2 / 33 * 2, 8 / 25 * 2, 8 / 33 * 2]
    boxes = np.array([[box], [box]], np.float32)
    out = crop_masks_to_boxes(padded, boxes, np.array([[1], [1]]), 4, 4,
                              valid_shape=np.array([[13, 17, 3], [13, 17, 3]])).numpy()
    np.testing.assert_allclose(out, np.ones((2, 1, 4, 4)), atol=1e-5)
    shared = crop_masks_to_boxes(padded, boxes, np.array([[1], [1]]), 4, 4,
                                 valid_shape=np.array([13, 17])).numpy()
    np.testing.assert_allclose(shared, out)
    unscaled = crop_masks_to_boxes(padded, boxes, np.array([[1], [1]]), 4, 4).numpy()
    assert unscaled.min() < 0.5   # without the scaling the box reaches past the mask


def test_reframe_agrees_with_crop_and_resize_formulation():
    """The OD API computes the reframing with tf.image.crop_and_resize of the image corners
    expressed in each box's frame; off exact pixel edges both must agree."""
    rng = np.random.default_rng(8)
    lo = rng.uniform(-0.2, 0.8, size=(5, 2))
    boxes = np.concatenate([lo, lo + rng.uniform(0.05, 0.6, size=(5, 2))], -1).astype(np.float32)
    box_masks = rng.uniform(size=(5, 7, 6)).astype(np.float32)
    ymin, xmin, ymax, xmax = boxes.T
    bh, bw = ymax - ymin, xmax - xmin
    reverse = np.stack([-ymin / bh, -xmin / bw, (1 - ymin) / bh, (1 - xmin) / bw], -1)
    reference = tf.image.crop_and_resize(box_masks[..., None], reverse, tf.range(5), [23, 19],
                                         extrapolation_value=0.0)[..., 0].numpy()
    got = reframe_box_masks_to_image_masks(box_masks, boxes, 23, 19).numpy()
    np.testing.assert_allclose(got, reference, atol=1e-4)


def test_reframe_inside_tf_function_with_tensor_size():
    fn = tf.function(lambda m, b, h, w: reframe_box_masks_to_image_masks(m, b, h, w))
    out = fn(tf.ones([3, 4, 4]), tf.constant([[0.0, 0.0, 0.5, 0.5]] * 3), tf.constant(8),
             tf.constant(6))
    assert out.shape == (3, 8, 6)
    assert float(tf.reduce_sum(out[0])) == 4 * 3   # rows 0..3 (i / 7 <= 0.5), columns 0..2


def test_edges_off_by_float_rounding_keep_their_pixels():
    # 3 * (1 / 15) in float32 is 0.20000002 > 3 / 15: the pixel row 3 must still be in.
    inv = np.float32(1) / np.float32(15)
    box = np.array([[np.float32(3) * inv, np.float32(6) * inv, 0.6, 0.8]], np.float32)
    assert box[0, 0] > np.float32(3) / np.float32(15)
    out = reframe_box_masks_to_image_masks(np.ones((1, 5, 5), np.float32), box, 16, 16).numpy()
    expected = np.zeros((1, 16, 16), np.float32)
    expected[0, 3:10, 6:13] = 1   # rows 3..9 (9 / 15 = 0.6), columns 6..12 (12 / 15 = 0.8)
    np.testing.assert_array_equal(out, expected)
