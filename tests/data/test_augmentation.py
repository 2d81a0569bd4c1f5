"""Augmentations move image, boxes, masks and keypoints together; colour ops keep geometry.

Consistency is checked independently of the code under test: the box computed from each
transformed mask must equal the transformed box, and each labelled keypoint must land on a
pixel of its marker colour in the transformed image (tests/data/example_records.py).
"""

from __future__ import annotations

import functools

import numpy as np
import pytest
import tensorflow as tf

from object_detection.data import augmentation as aug
from object_detection.fields import InputFields as F
from tests.data import example_records as er
from tests.data import legacy_resize

SCENE = er.make_scene()
SEED = er.SEED
_tensors = er.scene_tensors
_np = er.to_numpy
assert_consistent = er.assert_consistent


def test_scene_is_consistent_before_augmentation():
    assert_consistent(_np(_tensors()))


@pytest.mark.parametrize("transform", [aug.flip_horizontal, aug.flip_vertical, aug.rotate90])
def test_geometric_transforms_are_consistent(transform):
    out = _np(transform(_tensors()))
    assert_consistent(out)
    assert not np.array_equal(out[F.groundtruth_boxes], SCENE.boxes)


def test_rotate90_is_counter_clockwise():
    out = _np(aug.rotate90(_tensors()))
    np.testing.assert_array_equal(out[F.image], np.rot90(SCENE.image).astype(np.float32))
    assert out[F.image].shape == (32, 24, 3)


def test_flip_permutes_keypoints():
    permutation = (2, 1, 0)
    out = _np(aug.flip_horizontal(_tensors(), keypoint_flip_permutation=permutation))
    assert_consistent(out, permutation)
    np.testing.assert_array_equal(out[F.groundtruth_keypoint_visibilities][0], [0, 2, 2])


def test_four_flips_and_rotations_return_the_input():
    tensors = _tensors()
    out = tensors
    for _ in range(4):
        out = aug.rotate90(out)
    out = aug.flip_vertical(aug.flip_vertical(aug.flip_horizontal(aug.flip_horizontal(out))))
    for key, value in _np(tensors).items():
        if isinstance(value, np.ndarray) and value.dtype.kind == "f":
            np.testing.assert_allclose(out[key].numpy(), value, atol=1e-6)
        else:
            np.testing.assert_array_equal(out[key].numpy(), value)


@pytest.mark.parametrize("random_op, fixed_op", [
    (aug.random_horizontal_flip, aug.flip_horizontal),
    (aug.random_vertical_flip, aug.flip_vertical),
    (aug.random_rotation90, aug.rotate90),
])
def test_random_flips_follow_probability(random_op, fixed_op):
    tensors = _tensors()
    flipped = fixed_op(tensors)[F.groundtruth_boxes].numpy()
    np.testing.assert_array_equal(random_op(tensors, SEED, probability=1.0)[F.groundtruth_boxes], flipped)
    np.testing.assert_array_equal(random_op(tensors, SEED, probability=0.0)[F.groundtruth_boxes], SCENE.boxes)
    applied = [not np.array_equal(random_op(tensors, tf.constant([s, 3]))[F.groundtruth_boxes], SCENE.boxes)
               for s in range(60)]
    assert 15 <= sum(applied) <= 45    # default probability 0.5


def test_bad_permutation_raises():
    with pytest.raises(ValueError, match="random_horizontal_flip"):
        aug.random_horizontal_flip(_tensors(), SEED, keypoint_flip_permutation=[0, 1])


def test_crop_to_window_drops_instances_below_overlap():
    tensors = _tensors()
    offset, size = tf.constant([8, 10]), tf.constant([12, 16])
    # instance 1 has 20 of 120 pixels inside (0.17), instance 2 has 80 of 140 (0.57)
    out = _np(aug.crop_to_window(tensors, offset, size, overlap_thresh=0.3))
    np.testing.assert_array_equal(out[F.groundtruth_classes], [2])
    np.testing.assert_array_equal(out[F.image], SCENE.image[8:20, 10:26])
    assert_consistent(out)
    np.testing.assert_array_equal(out[F.groundtruth_keypoint_visibilities], [[2, 0, 2]])
    out = _np(aug.crop_to_window(tensors, offset, size, overlap_thresh=0.1))
    np.testing.assert_array_equal(out[F.groundtruth_classes], [1, 2])
    assert_consistent(out)
    np.testing.assert_array_equal(out[F.groundtruth_area], SCENE.masks.sum((1, 2)))


def test_crop_without_clipping_keeps_boxes_outside():
    out = _np(aug.crop_to_window(_tensors(), tf.constant([8, 10]), tf.constant([12, 16]),
                                 overlap_thresh=0.1, clip_boxes=False))
    np.testing.assert_allclose(out[F.groundtruth_boxes][0], [-6 / 12, -7 / 16, 4 / 12, 5 / 16], atol=1e-6)


def _locate(crop: np.ndarray) -> tuple[int, int]:
    """Where ``crop`` sits in the scene image (the background is unique per pixel)."""
    h, w = crop.shape[:2]
    hits = [(y, x) for y in range(er.HEIGHT - h + 1) for x in range(er.WIDTH - w + 1)
            if np.array_equal(SCENE.image[y:y + h, x:x + w], crop)]
    assert len(hits) == 1
    return hits[0]


@pytest.mark.parametrize("seed", range(6))
def test_random_crop_image_is_consistent_and_drops_by_overlap(seed):
    out = _np(aug.random_crop_image(_tensors(), tf.constant([seed, 1]), min_object_covered=0.0,
                                    area_range=(0.2, 0.8), aspect_ratio_range=(0.5, 2.0),
                                    overlap_thresh=0.4))
    assert_consistent(out)
    h, w = out[F.image].shape[:2]
    assert 0.2 * 24 * 32 - 1 <= h * w <= 0.8 * 24 * 32 + 1
    y, x = _locate(out[F.image].astype(np.uint8))
    inside = SCENE.masks[:, y:y + h, x:x + w].sum((1, 2)) / SCENE.masks.sum((1, 2))
    clear = np.abs(inside - 0.4) > 1e-4    # at the threshold itself float rounding decides
    kept = np.isin(SCENE.classes, out[F.groundtruth_classes])
    np.testing.assert_array_equal(kept[clear], (inside >= 0.4)[clear])


def test_random_crop_default_covers_a_whole_box():
    for seed in range(4):
        out = _np(aug.random_crop_image(_tensors(), tf.constant([seed, 2])))
        assert_consistent(out)
        # min_object_covered=1: some instance lies entirely inside the crop
        whole = out[F.groundtruth_instance_masks].sum((1, 2)) == SCENE.masks.sum((1, 2))[
            out[F.groundtruth_classes] - 1]
        assert whole.any()


def test_random_crop_random_coef_one_keeps_the_image():
    out = _np(aug.random_crop_image(_tensors(), SEED, min_object_covered=0.0, random_coef=1.0))
    np.testing.assert_array_equal(out[F.image], SCENE.image)


@pytest.mark.parametrize("seed", range(3))
def test_random_pad_image_is_consistent(seed):
    out = _np(aug.random_pad_image(_tensors(), tf.constant([seed, 5])))
    h, w = out[F.image].shape[:2]
    assert 24 <= h <= 48 and 32 <= w <= 64 and (h, w) != (24, 32)
    assert_consistent(out)
    mean = SCENE.image.reshape(-1, 3).mean(0)
    corners = [out[F.image][0, 0], out[F.image][-1, -1]]
    assert any(np.allclose(c, mean, atol=1e-3) for c in corners)


def test_random_pad_image_with_colour():
    out = _np(aug.random_pad_image(_tensors(), SEED, min_image_size=(40, 50), max_image_size=(40, 50),
                                   pad_color=(1, 2, 3)))
    assert out[F.image].shape == (40, 50, 3)
    assert_consistent(out)
    assert (out[F.image] == [1, 2, 3]).all(-1).sum() == 40 * 50 - 24 * 32


@pytest.mark.parametrize("seed", range(3))
def test_random_crop_pad_image_is_consistent(seed):
    out = _np(aug.random_crop_pad_image(_tensors(), tf.constant([seed, 9]), min_object_covered=0.0))
    assert_consistent(out)


@pytest.mark.parametrize("seed", range(3))
def test_random_crop_to_aspect_ratio(seed):
    out = _np(aug.random_crop_to_aspect_ratio(_tensors(), tf.constant([seed, 4]), aspect_ratio=1.0,
                                              overlap_thresh=0.0))
    assert out[F.image].shape == (24, 24, 3)
    assert_consistent(out)


@pytest.mark.parametrize("seed", range(4))
def test_random_image_scale(seed):
    out = _np(aug.random_image_scale(_tensors(), tf.constant([seed, 6])))
    h, w = out[F.image].shape[:2]
    assert 12 <= h <= 48 and 16 <= w <= 64 and abs(h / 24 - w / 32) < 1 / 16
    np.testing.assert_array_equal(out[F.groundtruth_boxes], SCENE.boxes)
    assert_consistent(out, box_atol=1.0 / min(h, w), colour_atol=1.0)


def test_random_image_scale_by_two_is_exact_for_masks():
    out = _np(aug.random_image_scale(_tensors(), SEED, min_scale_ratio=2.0, max_scale_ratio=2.0))
    assert out[F.image].shape == (48, 64, 3)
    assert_consistent(out, box_atol=1e-6, colour_atol=1.0)


def test_random_image_scale_aligns_corners_as_the_od_api():
    """The OD API's random_image_scale resizes with align_corners=True: 24 x 32 by 1.5."""
    out = _np(aug.random_image_scale(_tensors(), SEED, min_scale_ratio=1.5, max_scale_ratio=1.5))
    np.testing.assert_allclose(out[F.image], legacy_resize.bilinear(SCENE.image, 36, 48, True),
                               atol=1e-3)
    expected = legacy_resize.nearest(np.moveaxis(SCENE.masks, 0, -1), 36, 48, True)
    np.testing.assert_array_equal(out[F.groundtruth_instance_masks], np.moveaxis(expected, -1, 0))


def test_random_resize_method_picks_each_legacy_kernel():
    kernels = {"bilinear": legacy_resize.bilinear(SCENE.image, 30, 40),
               "nearest": legacy_resize.nearest(SCENE.image.astype(np.float32), 30, 40),
               "bicubic": legacy_resize.bicubic(SCENE.image, 30, 40),
               "area": legacy_resize.area(SCENE.image, 30, 40)}
    seen = set()
    for s in range(24):
        image = aug.random_resize_method(_tensors(), tf.constant([s, 3]), target_height=30,
                                         target_width=40)[F.image].numpy()
        matches = [name for name, k in kernels.items() if np.allclose(image, k, atol=1e-2)]
        assert len(matches) == 1
        seen.update(matches)
    assert seen == set(kernels)


def test_random_jitter_boxes():
    tensors = _tensors()
    for mode in aug.JITTER_MODES:
        out = _np(aug.random_jitter_boxes(tensors, SEED, ratio=0.1, jitter_mode=mode))
        boxes = out[F.groundtruth_boxes]
        assert not np.allclose(boxes, SCENE.boxes)
        size = np.tile((SCENE.boxes[:, 2:] - SCENE.boxes[:, :2]), 2)
        assert (np.abs(boxes - SCENE.boxes) <= 0.1 * size + 1e-6).all()
        assert ((boxes >= 0) & (boxes <= 1)).all()
        np.testing.assert_array_equal(out[F.groundtruth_instance_masks], SCENE.masks)
        np.testing.assert_array_equal(out[F.groundtruth_keypoints], tensors[F.groundtruth_keypoints])
        inner, outer = (SCENE.boxes, boxes) if mode.startswith("expand") else (boxes, SCENE.boxes)
        if mode != "default":
            assert (inner[:, :2] >= outer[:, :2] - 1e-6).all() and (inner[:, 2:] <= outer[:, 2:] + 1e-6).all()


COLOUR_OPS = [
    aug.random_adjust_brightness, aug.random_adjust_contrast, aug.random_adjust_hue,
    aug.random_adjust_saturation, aug.random_distort_color,
    functools.partial(aug.random_rgb_to_gray, probability=1.0),
    aug.random_pixel_value_scale, functools.partial(aug.random_black_patches, probability=1.0),
]


@pytest.mark.parametrize("op", COLOUR_OPS)
def test_colour_ops_keep_geometry(op):
    tensors = _np(_tensors())
    out = _np(op(_tensors(), SEED))
    assert not np.array_equal(out[F.image], tensors[F.image])
    assert out[F.image].shape == tensors[F.image].shape
    assert out[F.image].min() >= 0 and out[F.image].max() <= 255
    for key, value in tensors.items():
        if key != F.image:
            np.testing.assert_array_equal(out[key], value)


def test_brightness_adds_one_delta():
    image = tf.fill([4, 4, 3], 100.0)
    out = aug.random_adjust_brightness({F.image: image}, SEED, max_delta=0.2)[F.image].numpy()
    assert np.unique(out).size == 1 and abs(out[0, 0, 0] - 100) <= 0.2 * 255 + 1e-3


def test_rgb_to_gray_makes_equal_channels():
    out = aug.random_rgb_to_gray(_tensors(), SEED, probability=1.0)[F.image].numpy()
    np.testing.assert_array_equal(out[..., 0], out[..., 1])
    np.testing.assert_array_equal(out[..., 0], out[..., 2])


def test_black_patches_are_squares_of_the_ratio():
    out = aug.random_black_patches({F.image: tf.fill([20, 30, 3], 50.0)}, SEED, max_black_patches=1,
                                   probability=1.0, size_to_image_ratio=0.25)[F.image].numpy()
    black = (out == 0).all(-1)
    rows, cols = np.flatnonzero(black.any(1)), np.flatnonzero(black.any(0))
    assert black.sum() == 25 and len(rows) == 5 and len(cols) == 5


def test_same_seed_same_output_other_seed_other_output():
    steps = [functools.partial(aug.random_crop_image, min_object_covered=0.0),
             aug.random_horizontal_flip, aug.random_adjust_brightness]
    first = _np(aug.apply_augmentations(_tensors(), steps, SEED))
    again = _np(aug.apply_augmentations(_tensors(), steps, SEED))
    for key in first:
        np.testing.assert_array_equal(first[key], again[key])
    others = [_np(aug.apply_augmentations(_tensors(), steps, tf.constant([s, 0]))) for s in range(3)]
    assert any(o[F.image].shape != first[F.image].shape or not np.array_equal(o[F.image], first[F.image])
               for o in others)


def test_augmentations_run_inside_tf_function():
    steps = [aug.random_rotation90, functools.partial(aug.random_crop_image, min_object_covered=0.0),
             aug.random_image_scale, aug.random_pad_image]
    run = tf.function(lambda t, s: aug.apply_augmentations(t, steps, s))
    for s in range(3):
        seed = tf.constant([s, 8], tf.int64)
        traced, eager = _np(run(_tensors(), seed)), _np(aug.apply_augmentations(_tensors(), steps, seed))
        assert_consistent(traced, box_atol=1 / 12, colour_atol=1.0)
        np.testing.assert_array_equal(traced[F.groundtruth_boxes], eager[F.groundtruth_boxes])


def test_symmetric_jitter_keeps_box_centres():
    for mode in ("expand_symmetric", "shrink_symmetric_xy"):
        boxes = _np(aug.random_jitter_boxes(_tensors(), SEED, ratio=0.1, jitter_mode=mode))[F.groundtruth_boxes]
        np.testing.assert_allclose(boxes[:, :2] + boxes[:, 2:], SCENE.boxes[:, :2] + SCENE.boxes[:, 2:], atol=1e-6)
        assert not np.allclose(boxes, SCENE.boxes)
    xy = _np(aug.random_jitter_boxes(_tensors(), SEED, ratio=0.1, jitter_mode="expand_symmetric_xy"))
    growth = (xy[F.groundtruth_boxes][:, 2:] - xy[F.groundtruth_boxes][:, :2]) / (SCENE.boxes[:, 2:] - SCENE.boxes[:, :2])
    np.testing.assert_allclose(growth[:, 0], growth[:, 1], rtol=1e-5)    # one ratio for y and x


def test_adjust_gamma_values():
    out = aug.adjust_gamma({F.image: tf.constant([[[51.0, 102.0, 255.0]]])}, gamma=2.0, gain=1.0)
    np.testing.assert_allclose(out[F.image].numpy(), [[[0.2 ** 2 * 255, 0.4 ** 2 * 255, 255.0]]], rtol=1e-5)


def test_downscale_to_target_pixels():
    out = _np(aug.random_downscale_to_target_pixels(_tensors(), SEED, min_target_pixels=192,
                                                    max_target_pixels=192))
    assert out[F.image].shape == (12, 16, 3)          # 768 -> 192 pixels: half each side
    assert_consistent(out, box_atol=1 / 12, colour_atol=1.0)
    small = _np(aug.random_downscale_to_target_pixels(_tensors(), SEED, min_target_pixels=10000,
                                                      max_target_pixels=20000))
    assert small[F.image].shape == (24, 32, 3)        # already below the target


def test_absolute_pad_stays_below_the_maximum():
    for s in range(5):
        out = _np(aug.random_absolute_pad_image(_tensors(), tf.constant([s, 0]), max_height_padding=3,
                                                max_width_padding=1))
        assert 24 <= out[F.image].shape[0] < 27 and out[F.image].shape[1] == 32
        assert_consistent(out)


def test_label_steps():
    kept = _np(aug.drop_label_probabilistically(_tensors(), SEED, label=1, drop_probability=0.0))
    np.testing.assert_array_equal(kept[F.groundtruth_classes], [1, 2])
    dropped = _np(aug.drop_label_probabilistically(_tensors(), SEED, label=1))
    np.testing.assert_array_equal(dropped[F.groundtruth_classes], [2])
    assert_consistent(dropped)
    remapped = _np(aug.remap_labels(_tensors(), original_labels=[2], new_label=1))
    np.testing.assert_array_equal(remapped[F.groundtruth_classes], [1, 1])
