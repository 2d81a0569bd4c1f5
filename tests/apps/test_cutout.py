"""Crops, masked crops, square padding, filled holes and keypoints in crops, by hand."""

from __future__ import annotations

import numpy as np
import pytest

from object_detection.apps import cutout


def _image(height=5, width=7):
    y, x = np.mgrid[0:height, 0:width]
    return np.stack([10 * x, 10 * y, np.full_like(x, 3)], axis=-1).astype(np.uint8)


def test_cut_out_is_opaque_exactly_on_the_mask():
    image = _image()
    mask = np.zeros((5, 7), bool)
    mask[1, 2] = mask[2, 3] = True
    mask[0, 0] = True                                   # outside the box: not in its crop
    box = (2, 1, 5, 4)                                  # columns 2..4, rows 1..3
    figure = cutout.cut_out(image, cutout.crop(mask, box), box)
    assert figure.shape == (3, 3, 4)
    expected = np.zeros((3, 3, 4), np.uint8)
    expected[0, 0] = [20, 10, 3, 255]
    expected[1, 1] = [30, 20, 3, 255]
    np.testing.assert_array_equal(figure, expected)


def test_masked_on_white_keeps_the_mask_and_whitens_the_rest():
    image = _image()
    mask = np.zeros((3, 3), bool)                       # the crop over the box
    mask[1, 1] = True                                   # image pixel (2, 3)
    crop = cutout.masked_on_white(image, mask, (2, 1, 5, 4))
    expected = np.full((3, 3, 3), 255, np.uint8)
    expected[1, 1] = [30, 20, 3]
    np.testing.assert_array_equal(crop, expected)
    np.testing.assert_array_equal(cutout.crop(image, (2, 1, 5, 4)), image[1:4, 2:5])


@pytest.mark.parametrize("width, height, expected", [
    (16, 21, (21, 2, 0)),   # round(2.5) = 2, halves go to even, as Python rounds
    (7, 4, (7, 0, 2)),      # round(1.5) = 2
    (9, 4, (9, 0, 2)),      # round(2.5) = 2
    (4, 10, (10, 3, 0)),
    (6, 6, (6, 0, 0)),
])
def test_square_padding(width, height, expected):
    assert cutout.square_padding(width, height) == expected


def test_pad_to_square_places_the_picture_at_its_offset():
    picture = np.arange(2 * 3 * 2, dtype=np.uint8).reshape(2, 3, 2) + 1   # 3 wide, 2 high
    square, offset = cutout.pad_to_square(picture, (0, 9))
    assert offset == [0, 0]                             # round(0.5) = 0
    assert square.shape == (3, 3, 2)
    np.testing.assert_array_equal(square[0:2], picture)
    np.testing.assert_array_equal(square[2], [[0, 9]] * 3)
    tall = np.ones((5, 2, 1), np.uint8)
    square, offset = cutout.pad_to_square(tall, (7,))
    assert offset == [2, 0]                             # round(1.5) = 2
    np.testing.assert_array_equal(square[..., 0].sum(axis=0), [35, 35, 5, 5, 35])


def test_mask_crops_of_another_size_than_the_box_are_refused():
    image = _image()
    box = (2, 1, 5, 4)                                  # 3 x 3
    for bad in (np.zeros((5, 7), bool), np.zeros((3, 4), bool), np.zeros((4, 3), bool)):
        with pytest.raises(ValueError, match="mask crop"):
            cutout.cut_out(image, bad, box)
        with pytest.raises(ValueError, match="mask crop"):
            cutout.masked_on_white(image, bad, box)
        with pytest.raises(ValueError, match="mask crop"):
            cutout.remove_figures(image, [bad], [box])


def test_remove_figures_paints_every_mask_white():
    image = _image()
    masks = np.zeros((2, 5, 7), bool)                   # image-sized, for the expectation
    masks[0, 0, 0] = masks[1, 4, 6] = masks[1, 2, 2] = True
    boxes = [(0, 0, 1, 1), (2, 2, 7, 5)]                # each mask lies inside its box
    crops = [cutout.crop(mask, box) for mask, box in zip(masks, boxes)]
    assert [crop.sum() for crop in crops] == [1, 2]
    result = cutout.remove_figures(image, crops, boxes)
    changed = np.any(result != image, axis=-1)
    np.testing.assert_array_equal(changed, masks[0] | masks[1])
    assert np.all(result[changed] == 255)
    np.testing.assert_array_equal(cutout.remove_figures(image, [], []), image)


def test_keypoints_move_into_the_crop_and_outside_ones_are_dropped():
    box = (7, 10, 23, 31)                               # a 16 x 21 crop
    keypoints = {"head": (12.0, 13.5), "pelvis": (15, 25), "right_ankle": (5.0, 30.0),
                 "left_ankle": (23.5, 12), "left_knee": (23, 31), "neck": (7, 9.9)}
    moved = cutout.keypoints_in_crop(keypoints, box)
    assert moved == {"head": [5.0, 3.5], "pelvis": [8.0, 15.0],
                     "left_knee": [16.0, 21.0]}        # on the far edges: kept, as published
