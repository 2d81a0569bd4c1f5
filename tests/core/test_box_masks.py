"""NumPy mask pasting equals the TF reframing; RLE from a crop equals pycocotools' of the image."""

from __future__ import annotations

import numpy as np
import pytest
from pycocotools import mask as mask_utils

from object_detection.core import box_ops
from object_detection.core.box_masks import crop_rle_counts, paste_box_mask
from object_detection.core.mask_ops import reframe_box_masks_to_image_masks
from object_detection.dataset_tools.coco_segmentation import crop_to_rle, mask_to_rle


def _random_case(rng, trial):
    height, width = (int(v) for v in rng.integers(1, 50, 2))
    ys, xs = np.sort(rng.random(2)), np.sort(rng.random(2))
    if trial % 7 == 0:
        ys = np.array([0.0, 1.0])          # a box along the whole image
    if trial % 11 == 0:
        xs = np.array([0.25, 0.25])        # a degenerate (zero-width) box
    box = np.array([ys[0], xs[0], ys[1], xs[1]], np.float32)
    return height, width, box, rng.random((7, 5)).astype(np.float32)


def test_paste_equals_the_tf_reframe_inside_the_pixel_box_and_the_reframe_is_zero_outside():
    rng = np.random.default_rng(0)
    for trial in range(200):
        height, width, box, mask = _random_case(rng, trial)
        full = reframe_box_masks_to_image_masks(mask[None], box[None], height, width).numpy()[0]
        left, top, right, bottom = box_ops.to_pixel_crops(box[None], height, width)[0]
        crop = paste_box_mask(mask, box, height, width, (left, top, right, bottom))
        assert crop.shape == (bottom - top, right - left)
        np.testing.assert_allclose(crop, full[top:bottom, left:right], atol=1e-6)
        outside = full.copy()
        outside[top:bottom, left:right] = 0
        assert not outside.any(), f"trial {trial}: reframed values outside the pixel box"


def test_paste_in_a_tile_frame_equals_the_paste_in_the_tile_shifted():
    """A box normalized to a tile at (top, left) of a map, pasted at map pixels, gives the same
    values as pasting it in the tile's own pixels."""
    rng = np.random.default_rng(1)
    mask = rng.random((9, 9)).astype(np.float32)
    box = np.array([0.2, 0.1, 0.7, 0.9], np.float32)
    tile_h, tile_w, top, left = 40, 30, 17, 55
    window = box_ops.to_pixel_crops(box[None], tile_h, tile_w)[0]
    in_tile = paste_box_mask(mask, box, tile_h, tile_w, window)
    shifted = window + np.array([left, top, left, top])
    on_map = paste_box_mask(mask, box, tile_h, tile_w, shifted, frame_top=top, frame_left=left)
    np.testing.assert_array_equal(on_map, in_tile)


@pytest.mark.parametrize("crop_box", [(0, 0, 5, 4), (3, 2, 7, 6), (0, 0, 9, 8), (8, 7, 9, 8),
                                      (2, 0, 4, 8)])
def test_rle_of_a_crop_equals_pycocotools_of_the_image(crop_box):
    height, width = 8, 9
    left, top, right, bottom = crop_box
    rng = np.random.default_rng(sum(crop_box))
    for fill in ("random", "empty", "full"):
        crop = {"random": rng.random((bottom - top, right - left)) > 0.5,
                "empty": np.zeros((bottom - top, right - left), bool),
                "full": np.ones((bottom - top, right - left), bool)}[fill]
        image = np.zeros((height, width), bool)
        image[top:bottom, left:right] = crop
        reference = mask_utils.encode(np.asfortranarray(image.astype(np.uint8)))
        counts = crop_rle_counts(crop, left, top, height, width)
        assert sum(counts) == height * width
        decoded = mask_utils.decode(mask_utils.frPyObjects(
            {"counts": counts, "size": [height, width]}, height, width))
        np.testing.assert_array_equal(decoded, image)
        assert crop_to_rle(crop, left, top, height, width) == mask_to_rle(image)
        assert crop_to_rle(crop, left, top, height, width)["counts"] == \
            reference["counts"].decode("ascii")


def test_a_crop_outside_the_image_is_refused():
    with pytest.raises(ValueError, match="does not fit"):
        crop_rle_counts(np.ones((3, 3), bool), 7, 0, 8, 9)


def test_the_edge_tolerance_can_reach_one_row_past_the_crop_on_large_maps():
    """The documented exception: on 8000 rows a box from 0.995 has its reframed mask start at
    row 7959 (7959 / 7999 is within 1e-6 of 0.995) while its crop starts at floor(7960) = 7960;
    on 100 rows nothing lies outside the crop."""
    mask = np.ones((5, 5), np.float32)
    for height, outside_rows in ((8000, 1), (100, 0)):
        box = np.array([0.995, 0.1, 1.0, 0.9], np.float32)
        full = reframe_box_masks_to_image_masks(mask[None], box[None], height, 20).numpy()[0]
        left, top, right, bottom = box_ops.to_pixel_crops(box[None], height, 20)[0]
        rows = np.flatnonzero(full.any(axis=1))
        assert top - rows.min() == outside_rows
        np.testing.assert_allclose(paste_box_mask(mask, box, height, 20, (left, top, right, bottom)),
                                   full[top:bottom, left:right], atol=1e-6)
