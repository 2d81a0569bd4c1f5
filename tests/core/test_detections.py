"""ImageDetections: checks, filtering, thresholds, pixel boxes, model outputs."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest

from object_detection.core.detections import ImageDetections
from tests.apps.handmade import (BOX_A, HEIGHT, PIXEL_BOX_A, PIXEL_BOX_B, WIDTH,
                                    mask_a, two_figures)


def test_filter_keeps_scores_strictly_above_threshold():
    # [0.1, 0.1, 0.5, 0.5] of a 5 x 6 image: pixels (0, 0, 3, 3)
    dets = ImageDetections.from_image_masks(
        np.tile([[0.1, 0.1, 0.5, 0.5]], (4, 1)), [0.9, 0.3, 0.31, 0.1], [1, 2, 1, 1],
        np.stack([np.full((5, 6), v) for v in (0.1, 0.2, 0.3, 0.4)]))
    kept = dets.filter(0.3)
    np.testing.assert_allclose(kept.scores, [0.9, 0.31])
    np.testing.assert_array_equal(kept.classes, [1, 1])
    np.testing.assert_allclose([m[0, 0] for m in kept.masks], [0.1, 0.3])
    assert kept.image_size == (5, 6)
    assert len(dets.filter()) == 2                     # the default threshold is 0.3


def test_masks_are_strictly_above_threshold():
    dets = two_figures()
    masks = np.stack(list(dets.image_masks()))
    assert masks.dtype == bool and masks.shape == (2, HEIGHT, WIDTH)
    assert not masks[0, 12, 9]                          # exactly 0.5
    assert masks[0, 12, 10] and not masks[0, 0, 0]      # 0.9 and 0.2
    assert masks[0].sum() == 17 * 12 - 1
    assert sum(m.sum() for m in dets.image_masks(0.95)) == 0
    left, top, right, bottom = PIXEL_BOX_A
    crop = dets.mask_crop(0)
    assert crop.dtype == bool and crop.shape == (bottom - top, right - left)
    np.testing.assert_array_equal(crop, masks[0, top:bottom, left:right])
    np.testing.assert_array_equal(dets.image_mask(1), masks[1])
    assert not dets.mask_crop(0, 0.95).any()


def test_pixel_boxes_floor_the_minimum_and_ceil_the_maximum():
    np.testing.assert_array_equal(two_figures().pixel_boxes(HEIGHT, WIDTH), [PIXEL_BOX_A, PIXEL_BOX_B])
    np.testing.assert_array_equal(two_figures().pixel_boxes(), [PIXEL_BOX_A, PIXEL_BOX_B])
    with pytest.raises(ValueError, match="no image size"):
        ImageDetections([BOX_A], [1], [1]).pixel_boxes()


def test_pixel_boxes_are_clipped_to_the_image():
    dets = ImageDetections([[-0.2, 0.0, 1.0, 1.0], [1.0, 1.0, 1.0, 1.0]], [0.5, 0.5], [1, 1])
    # a full box ends at ceil(40 * 1) = 40; a box on the far corner keeps its last pixel
    np.testing.assert_array_equal(dets.pixel_boxes(40, 60), [[0, 0, 60, 40], [59, 39, 60, 40]])


def test_classes_become_ints_and_empty_detections_work():
    dets = ImageDetections(np.zeros((0,), np.float32), [], [])
    assert len(dets) == 0 and dets.boxes.shape == (0, 4)
    assert dets.pixel_boxes(5, 5).shape == (0, 4)
    assert ImageDetections([BOX_A], [0.5], np.array([2.0], np.float32)).classes.dtype == np.int64


@pytest.mark.parametrize("kwargs, message", [
    (dict(boxes=[[0, 0, 1]], scores=[1], classes=[1]), "boxes must be"),
    (dict(boxes=[BOX_A], scores=[1, 2], classes=[1]), "scores"),
    (dict(boxes=[[0.5, 0, 0.2, 1]], scores=[1], classes=[1]), "ymax < ymin"),
    (dict(boxes=[[0, np.nan, 1, 1]], scores=[1], classes=[1]), "NaN"),
    (dict(boxes=[BOX_A], scores=[1], classes=[0]), "1-based"),
    (dict(boxes=[BOX_A], scores=[1], classes=[1], masks=np.zeros((1, 20, 16))),
     "masks need the image size"),
    (dict(boxes=[BOX_A], scores=[1], classes=[1], masks=np.zeros((2, 20, 16)),
          image_size=(HEIGHT, WIDTH)), "2 masks for 1 boxes"),
    (dict(boxes=[BOX_A], scores=[1], classes=[1], masks=[np.zeros((20, 17))],
          image_size=(HEIGHT, WIDTH)), r"mask 0 is \(20, 17\)"),
    (dict(boxes=[BOX_A], scores=[1], classes=[1], image_size=(0, WIDTH)), "must be positive"),
])
def test_bad_detections_are_refused(kwargs, message):
    with pytest.raises(ValueError, match=message):
        ImageDetections(**kwargs)


def test_masks_missing_or_of_wrong_size_are_refused():
    no_masks = ImageDetections([BOX_A], [1], [1])
    assert not no_masks.has_masks
    with pytest.raises(ValueError, match="no masks"):
        no_masks.mask_crop(0)
    with pytest.raises(ValueError, match="no masks"):
        ImageDetections([BOX_A], [1], [1], image_size=(HEIGHT, WIDTH)).image_mask(0)
    with pytest.raises(ValueError, match="have no masks"):
        no_masks.check_masks_fit(HEIGHT, WIDTH, "map.png")
    dets = ImageDetections.from_image_masks([BOX_A], [1], [1], mask_a()[np.newaxis])
    assert dets.has_masks and dets.image_size == (HEIGHT, WIDTH)
    dets.check_masks_fit(HEIGHT, WIDTH, "map.png")
    with pytest.raises(ValueError, match="map.png: detection masks are of a 60x40 image .* image is 61x40"):
        dets.check_masks_fit(40, 61, "map.png")
    with pytest.raises(ValueError, match="must be .K, H, W."):
        ImageDetections.from_image_masks([BOX_A], [1], [1], mask_a())


def _random_boxes(rng, count):
    """float32 [count, 4] normalized boxes at least 0.2 high and wide, a few on the image
    edges."""
    mins = rng.uniform(0, 0.8, (count, 2))
    maxs = mins + rng.uniform(0.2, 1.0, (count, 2)) * (1 - mins)
    boxes = np.concatenate([mins, np.minimum(maxs, 1.0)], axis=1)
    boxes[0] = [0.0, 0.0, 1.0, 1.0]
    boxes[1, 2:] = 1.0
    return boxes.astype(np.float32)


def test_from_image_masks_round_trip():
    rng = np.random.default_rng(3)
    height, width = 23, 31
    boxes = _random_boxes(rng, 6)
    masks = rng.uniform(0, 1, (6, height, width)).astype(np.float32)
    dets = ImageDetections.from_image_masks(boxes, rng.uniform(0, 1, 6), np.ones(6), masks)
    assert dets.image_size == (height, width) and len(dets.masks) == 6
    for k, (left, top, right, bottom) in enumerate(dets.pixel_boxes()):
        assert dets.masks[k].dtype == np.float32
        np.testing.assert_array_equal(dets.masks[k], masks[k, top:bottom, left:right])
        for threshold in (0.5, 0.25):
            image_mask = dets.image_mask(k, threshold)
            assert image_mask.shape == (height, width) and image_mask.dtype == bool
            inside = np.zeros((height, width), bool)
            inside[top:bottom, left:right] = True
            np.testing.assert_array_equal(image_mask[inside], masks[k][inside] > threshold)
            assert not image_mask[~inside].any()          # outside the box: dropped
    # the first box is the whole image: nothing dropped
    np.testing.assert_array_equal(dets.image_mask(0), masks[0] > 0.5)
    np.testing.assert_array_equal(np.stack(list(dets.image_masks())),
                                  np.stack([dets.image_mask(k) for k in range(6)]))
    empty = ImageDetections.from_image_masks(np.zeros((0, 4)), [], [], np.zeros((0, 5, 7)))
    assert len(empty) == 0 and empty.masks == () and empty.image_size == (5, 7)
    assert list(empty.image_masks()) == []


def test_select_and_filter_keep_the_crops_aligned():
    rng = np.random.default_rng(4)
    boxes = np.array([[0.0, 0.0, 0.5, 0.25], [0.25, 0.5, 1.0, 1.0], [0.5, 0.0, 0.75, 0.75],
                      [0.1, 0.2, 0.4, 0.9]], np.float32)          # crops of four sizes
    masks = rng.uniform(0, 1, (4, 16, 24)).astype(np.float32)
    dets = ImageDetections.from_image_masks(boxes, [0.2, 0.9, 0.5, 0.7], [1, 2, 3, 4], masks)
    assert len({m.shape for m in dets.masks}) == 4
    for chosen in ([2, 0], np.array([3, 1, 1]), np.array([False, True, False, True]), []):
        picked = dets.select(chosen)
        indices = np.arange(4)[np.asarray(chosen, bool if np.asarray(chosen).dtype == bool else int)]
        assert len(picked) == len(indices) and picked.image_size == dets.image_size
        np.testing.assert_array_equal(picked.classes, dets.classes[indices])
        np.testing.assert_array_equal(picked.pixel_boxes(), dets.pixel_boxes()[indices])
        for j, k in enumerate(indices):
            np.testing.assert_array_equal(picked.masks[j], dets.masks[k])
            np.testing.assert_array_equal(picked.image_mask(j), dets.image_mask(k))
    kept = dets.filter(0.5)                             # 0.9 and 0.7: detections 1 and 3
    np.testing.assert_array_equal(kept.classes, [2, 4])
    np.testing.assert_array_equal(kept.masks[0], dets.masks[1])
    np.testing.assert_array_equal(kept.masks[1], dets.masks[3])
    no_masks = ImageDetections(boxes, [0.2, 0.9, 0.5, 0.7], [1, 2, 3, 4]).select([1])
    assert no_masks.masks is None and no_masks.image_size is None


def test_from_model_output_slices_and_reframes():
    # Batch of 2, 3 rows, of which image 1 has 2 valid. An all-ones 3 x 3 box mask reframed into
    # a 9 x 13 image at [0.25, 0.5, 0.75, 1.0] covers rows 2..6 and columns 6..12 (pixel i sits
    # at i / 8, column j at j / 12, the crop_and_resize grid): exactly its pixel box
    # (floor(2.25) = 2, floor(6.5) = 6, ceil(6.75) = 7, 13).
    boxes = np.zeros((2, 3, 4), np.float32)
    boxes[1, 0] = [0.25, 0.5, 0.75, 1.0]
    boxes[1, 1] = [0.0, 0.0, 0.5, 0.5]
    box_masks = np.zeros((2, 3, 3, 3), np.float32)
    box_masks[1, 0] = 1.0
    output = {"num_detections": np.array([0.0, 2.0]), "detection_boxes": boxes,
              "detection_scores": np.array([[0, 0, 0], [0.9, 0.4, 0.0]]),
              "detection_classes": np.array([[1, 1, 1], [1.0, 2.0, 1.0]]),
              "detection_masks": box_masks}
    dets = ImageDetections.from_model_output(output, 1, 9, 13)
    assert len(dets) == 2 and dets.image_size == (9, 13)
    np.testing.assert_array_equal(dets.classes, [1, 2])
    np.testing.assert_array_equal(dets.pixel_boxes(), [[6, 2, 13, 7], [0, 0, 7, 5]])
    expected = np.zeros((9, 13), np.float32)
    expected[2:7, 6:13] = 1.0
    pasted = np.zeros((9, 13), np.float32)
    pasted[2:7, 6:13] = dets.masks[0]
    np.testing.assert_allclose(pasted, expected, atol=1e-6)
    np.testing.assert_array_equal(dets.image_mask(0), expected > 0.5)
    assert dets.masks[1].shape == (5, 7) and dets.masks[1].max() == 0.0
    above = ImageDetections.from_model_output(output, 1, 9, 13, score_threshold=0.5)
    np.testing.assert_array_equal(above.classes, [1])  # the 0.4 row is dropped before reframing
    assert len(above.masks) == 1
    np.testing.assert_allclose(above.masks[0], dets.filter(0.5).masks[0])
    empty = ImageDetections.from_model_output(output, 0, 9, 13)
    assert len(empty) == 0 and empty.masks == () and empty.image_size == (9, 13)
    without_masks = {k: v for k, v in output.items() if k != "detection_masks"}
    plain = ImageDetections.from_model_output(without_masks, 1, 9, 13)
    assert not plain.has_masks and plain.image_size == (9, 13)
    with pytest.raises(ValueError, match="image index 2"):
        ImageDetections.from_model_output(output, 2, 9, 13)
    with pytest.raises(ValueError, match="no 'detection_scores'"):
        ImageDetections.from_model_output({"detection_boxes": boxes}, 0, 9, 13)
    with pytest.raises(ValueError, match=r"must be \[B, K, h, w\]"):
        ImageDetections.from_model_output(dict(output, detection_masks=box_masks[:, :, 0]), 1, 9, 13)


def _tile_output(rng, boxes, mask_size=6):
    count = len(boxes)
    return {"detection_boxes": np.asarray(boxes, np.float32)[np.newaxis],
            "detection_scores": np.linspace(0.9, 0.4, count, dtype=np.float32)[np.newaxis],
            "detection_classes": np.ones((1, count), np.float32),
            "num_detections": np.array([count], np.float32),
            "detection_masks": rng.uniform(0, 1, (1, count, mask_size, mask_size)).astype(np.float32)}


def _placed(tile_mask, offset, map_size):
    top, left = offset
    placed = np.zeros(map_size, bool)
    placed[top:top + tile_mask.shape[0], left:left + tile_mask.shape[1]] = tile_mask
    return placed


def test_from_model_output_of_a_tile_is_on_the_map():
    # A 32 x 64 (height x width) tile at (top 32, left 64) of a 128 x 256 map. Tile boxes,
    # their tile pixels, those pixels shifted onto the map, normalized to the map (all exact):
    #   [0.25, 0.5, 0.75, 1.0]: y 8..24, x 32..64 -> y 40..56, x 96..128
    #       -> [40/128, 96/256, 56/128, 128/256] = [0.3125, 0.375, 0.4375, 0.5]
    #   [0.0, 0.0, 1.0, 1.0] (the whole tile): y 0..32, x 0..64 -> y 32..64, x 64..128
    #       -> [0.25, 0.25, 0.5, 0.5]
    #   [0.125, 0.0625, 0.5, 0.8125]: y 4..16, x 4..52 -> y 36..48, x 68..116
    #       -> [0.28125, 0.265625, 0.375, 0.453125]
    rng = np.random.default_rng(5)
    tile_boxes = [[0.25, 0.5, 0.75, 1.0], [0.0, 0.0, 1.0, 1.0], [0.125, 0.0625, 0.5, 0.8125]]
    output = _tile_output(rng, tile_boxes)
    offset, map_size = (32, 64), (128, 256)
    on_map = ImageDetections.from_model_output(output, 0, 32, 64, offset=offset, map_size=map_size)
    tile = ImageDetections.from_model_output(output, 0, 32, 64)
    assert on_map.image_size == map_size and tile.image_size == (32, 64)
    np.testing.assert_array_equal(on_map.boxes, np.array(
        [[0.3125, 0.375, 0.4375, 0.5], [0.25, 0.25, 0.5, 0.5],
         [0.28125, 0.265625, 0.375, 0.453125]], np.float32))
    np.testing.assert_array_equal(on_map.pixel_boxes(), [[96, 40, 128, 56], [64, 32, 128, 64],
                                                         [68, 36, 116, 48]])
    np.testing.assert_array_equal(on_map.pixel_boxes(), tile.pixel_boxes() + [64, 32, 64, 32])
    np.testing.assert_array_equal(on_map.scores, tile.scores)
    for k in range(len(tile_boxes)):
        # the same pixels, sampled at the same tile positions
        np.testing.assert_array_equal(on_map.masks[k], tile.masks[k])
        for threshold in (0.5, 0.3):
            assert tile.image_mask(k, threshold).any()
            np.testing.assert_array_equal(on_map.image_mask(k, threshold),
                                          _placed(tile.image_mask(k, threshold), offset, map_size))
    shown = ImageDetections.from_model_output(output, 0, 32, 64, score_threshold=0.6,
                                              offset=offset, map_size=map_size)
    assert len(shown) == 2
    np.testing.assert_array_equal(shown.boxes, on_map.boxes[:2])


@pytest.mark.parametrize("tile_size, offset, map_size", [
    ((30, 50), (20, 40), (70, 130)),      # inside the map, sizes that give inexact fractions
    ((37, 41), (63, 89), (100, 130)),     # the map's bottom-right corner
    ((37, 41), (0, 0), (100, 130)),       # the map's top-left corner
])
def test_tile_masks_land_on_the_map_at_the_offset(tile_size, offset, map_size):
    rng = np.random.default_rng(sum(tile_size) + sum(offset))
    height, width = tile_size
    boxes = _random_boxes(rng, 8)
    output = _tile_output(rng, boxes, mask_size=7)
    on_map = ImageDetections.from_model_output(output, 0, height, width, offset=offset,
                                               map_size=map_size)
    tile = ImageDetections.from_model_output(output, 0, height, width)
    top, left = offset
    scale = np.array([height, width, height, width], np.float64)
    shift = np.array([top, left, top, left], np.float64)
    size = np.array(map_size * 2, np.float64)
    np.testing.assert_allclose(on_map.boxes, (boxes * scale + shift) / size, rtol=0, atol=1e-7)
    for k in range(len(boxes)):
        assert tile.image_mask(k, 0.2).any()
        for threshold in (0.5, 0.2):
            np.testing.assert_array_equal(on_map.image_mask(k, threshold),
                                          _placed(tile.image_mask(k, threshold), offset, map_size))


def test_figures_package_does_not_import_tensorflow():
    code = ("import sys; import object_detection.apps.extraction, object_detection.apps.drawing; "
            "sys.exit(1 if 'tensorflow' in sys.modules else 0)")
    assert subprocess.run([sys.executable, "-c", code]).returncode == 0
