"""Random augmentations (the OD API's PreprocessingStep options) of one ``InputFields`` dict.

Every augmentation has the signature ``aug(tensors, seed, **options) -> tensors``: ``tensors``
is one decoded example (image float32 [H, W, 3] in 0..255, normalized boxes [N, 4], masks uint8
[N, H, W], keypoints [N, K, 2] normalized (y, x) with NaN where not labelled, ...), ``seed`` an
int [2] seed for the stateless random ops (``tf.random.stateless_*``), so an example with the
same seed is augmented identically, run after run. Geometric augmentations move image, boxes,
masks and keypoints together; instances that a crop leaves out are removed from every
per-instance field; keypoints that leave the image become NaN with visibility 0. Colour
augmentations change only the image and keep it in 0..255.

Defaults (probabilities, ranges) are the OD API's. ``apply_augmentations`` runs a list of
steps (functions of ``(tensors, seed)``, e.g. ``functools.partial`` of the ones here), each
with its own seed folded from the example's seed.
"""

from __future__ import annotations

import functools
from typing import Callable, Sequence

import tensorflow as tf

from object_detection.data import instances, resizer
from object_detection.fields import InputFields

Tensors = dict[str, tf.Tensor]
Step = Callable[[Tensors, tf.Tensor], Tensors]

_IMAGE = InputFields.image
_BOXES = InputFields.groundtruth_boxes
_MASKS = InputFields.groundtruth_instance_masks
_KEYPOINTS = InputFields.groundtruth_keypoints
_VISIBILITIES = InputFields.groundtruth_keypoint_visibilities


def apply_augmentations(tensors: Tensors, steps: Sequence[Step], seed: tf.Tensor) -> Tensors:
    """Runs ``steps`` in order; step i gets ``stateless_fold_in(seed, i)`` as its seed."""
    seed = tf.convert_to_tensor(seed)
    for i, step in enumerate(steps):
        tensors = step(tensors, tf.random.experimental.stateless_fold_in(seed, i))
    return tensors


# ----------------------------------------------------------------------------- random draws

def _uniform(seed: tf.Tensor, minval: float, maxval: float, shape=()) -> tf.Tensor:
    return tf.random.stateless_uniform(shape, seed, minval=minval, maxval=maxval)


def _randint(seed: tf.Tensor, low: tf.Tensor, high: tf.Tensor) -> tf.Tensor:
    """int32 [] uniform in [low, high] (inclusive)."""
    u = tf.random.stateless_uniform([], seed)
    span = tf.cast(high - low + 1, tf.float32)
    return low + tf.minimum(tf.cast(tf.floor(u * span), tf.int32), high - low)


def _coin(seed: tf.Tensor, probability: float) -> tf.Tensor:
    """bool []: True with ``probability``."""
    return tf.random.stateless_uniform([], seed) < probability


def _seeds(seed: tf.Tensor, num: int) -> tf.Tensor:
    return tf.random.experimental.stateless_split(seed, num)


def _maybe(tensors: Tensors, do: tf.Tensor, transform: Callable[[Tensors], Tensors]) -> Tensors:
    return tf.cond(do, lambda: transform(tensors), lambda: dict(tensors))


def _check_permutation(tensors: Tensors, permutation: Sequence[int] | None, name: str) -> None:
    if not permutation or _KEYPOINTS not in tensors:
        return
    num_keypoints = tensors[_KEYPOINTS].shape[1]
    if num_keypoints is not None and sorted(permutation) != list(range(num_keypoints)):
        raise ValueError(f"{name}: the keypoint permutation {list(permutation)} is not a "
                         f"permutation of the {num_keypoints} keypoints")


def _permute_keypoints(out: Tensors, permutation: Sequence[int] | None) -> None:
    """New keypoint i = old keypoint permutation[i] (e.g. left and right swapped)."""
    if permutation and _KEYPOINTS in out:
        out[_KEYPOINTS] = tf.gather(out[_KEYPOINTS], list(permutation), axis=1)
        out[_VISIBILITIES] = tf.gather(out[_VISIBILITIES], list(permutation), axis=1)


# ----------------------------------------------------------------------- flips and rotation

def flip_horizontal(tensors: Tensors, keypoint_flip_permutation: Sequence[int] | None = None) -> Tensors:
    """Mirrors left-right: x -> 1 - x."""
    out = dict(tensors)
    out[_IMAGE] = tf.reverse(tensors[_IMAGE], axis=[1])
    b = tensors[_BOXES]
    out[_BOXES] = tf.stack([b[:, 0], 1.0 - b[:, 3], b[:, 2], 1.0 - b[:, 1]], axis=1)
    if _MASKS in tensors:
        out[_MASKS] = tf.reverse(tensors[_MASKS], axis=[2])
    if _KEYPOINTS in tensors:
        k = tensors[_KEYPOINTS]
        out[_KEYPOINTS] = tf.stack([k[..., 0], 1.0 - k[..., 1]], axis=-1)
    _permute_keypoints(out, keypoint_flip_permutation)
    return out


def flip_vertical(tensors: Tensors, keypoint_flip_permutation: Sequence[int] | None = None) -> Tensors:
    """Mirrors top-bottom: y -> 1 - y."""
    out = dict(tensors)
    out[_IMAGE] = tf.reverse(tensors[_IMAGE], axis=[0])
    b = tensors[_BOXES]
    out[_BOXES] = tf.stack([1.0 - b[:, 2], b[:, 1], 1.0 - b[:, 0], b[:, 3]], axis=1)
    if _MASKS in tensors:
        out[_MASKS] = tf.reverse(tensors[_MASKS], axis=[1])
    if _KEYPOINTS in tensors:
        k = tensors[_KEYPOINTS]
        out[_KEYPOINTS] = tf.stack([1.0 - k[..., 0], k[..., 1]], axis=-1)
    _permute_keypoints(out, keypoint_flip_permutation)
    return out


def rotate90(tensors: Tensors, keypoint_rot_permutation: Sequence[int] | None = None) -> Tensors:
    """Rotates 90 degrees counter-clockwise: [H, W] -> [W, H], (y, x) -> (1 - x, y)."""
    out = dict(tensors)
    out[_IMAGE] = tf.image.rot90(tensors[_IMAGE])
    b = tensors[_BOXES]
    out[_BOXES] = tf.stack([1.0 - b[:, 3], b[:, 0], 1.0 - b[:, 1], b[:, 2]], axis=1)
    if _MASKS in tensors:
        out[_MASKS] = tf.reverse(tf.transpose(tensors[_MASKS], [0, 2, 1]), axis=[1])
    if _KEYPOINTS in tensors:
        k = tensors[_KEYPOINTS]
        out[_KEYPOINTS] = tf.stack([1.0 - k[..., 1], k[..., 0]], axis=-1)
    _permute_keypoints(out, keypoint_rot_permutation)
    return out


def random_horizontal_flip(tensors: Tensors, seed: tf.Tensor, *,
                           keypoint_flip_permutation: Sequence[int] | None = None,
                           probability: float = 0.5) -> Tensors:
    """``flip_horizontal`` with ``probability``."""
    _check_permutation(tensors, keypoint_flip_permutation, "random_horizontal_flip")
    return _maybe(tensors, _coin(seed, probability),
                  lambda t: flip_horizontal(t, keypoint_flip_permutation))


def random_vertical_flip(tensors: Tensors, seed: tf.Tensor, *,
                         keypoint_flip_permutation: Sequence[int] | None = None,
                         probability: float = 0.5) -> Tensors:
    """``flip_vertical`` with ``probability``."""
    _check_permutation(tensors, keypoint_flip_permutation, "random_vertical_flip")
    return _maybe(tensors, _coin(seed, probability),
                  lambda t: flip_vertical(t, keypoint_flip_permutation))


def random_rotation90(tensors: Tensors, seed: tf.Tensor, *,
                      keypoint_rot_permutation: Sequence[int] | None = None,
                      probability: float = 0.5) -> Tensors:
    """``rotate90`` (counter-clockwise) with ``probability``."""
    _check_permutation(tensors, keypoint_rot_permutation, "random_rotation90")
    return _maybe(tensors, _coin(seed, probability),
                  lambda t: rotate90(t, keypoint_rot_permutation))


# ------------------------------------------------------------------------------- colour

def _on_unit_image(tensors: Tensors, adjust: Callable[[tf.Tensor], tf.Tensor]) -> Tensors:
    """Applies ``adjust`` to the image scaled to [0, 1], clips, and scales back to 0..255."""
    out = dict(tensors)
    image = adjust(tensors[_IMAGE] / 255.0)
    out[_IMAGE] = tf.clip_by_value(image, 0.0, 1.0) * 255.0
    return out


def random_adjust_brightness(tensors: Tensors, seed: tf.Tensor, *, max_delta: float = 0.2) -> Tensors:
    """Adds a delta uniform in [-max_delta, max_delta] (in units of the [0, 1] range)."""
    delta = _uniform(seed, -max_delta, max_delta)
    return _on_unit_image(tensors, lambda image: tf.image.adjust_brightness(image, delta))


def random_adjust_contrast(tensors: Tensors, seed: tf.Tensor, *, min_delta: float = 0.8,
                           max_delta: float = 1.25) -> Tensors:
    """Scales contrast by a factor uniform in [min_delta, max_delta]."""
    factor = _uniform(seed, min_delta, max_delta)
    return _on_unit_image(tensors, lambda image: tf.image.adjust_contrast(image, factor))


def random_adjust_hue(tensors: Tensors, seed: tf.Tensor, *, max_delta: float = 0.02) -> Tensors:
    """Rotates hue by a delta uniform in [-max_delta, max_delta] (fraction of the circle)."""
    delta = _uniform(seed, -max_delta, max_delta)
    return _on_unit_image(tensors, lambda image: tf.image.adjust_hue(image, delta))


def random_adjust_saturation(tensors: Tensors, seed: tf.Tensor, *, min_delta: float = 0.8,
                             max_delta: float = 1.25) -> Tensors:
    """Scales saturation by a factor uniform in [min_delta, max_delta]."""
    factor = _uniform(seed, min_delta, max_delta)
    return _on_unit_image(tensors, lambda image: tf.image.adjust_saturation(image, factor))


def random_distort_color(tensors: Tensors, seed: tf.Tensor, *, color_ordering: int = 0) -> Tensors:
    """Brightness (32/255), saturation and contrast ([0.5, 1.5]) and hue (0.2) changes, in the
    OD API's order 0 (brightness, saturation, hue, contrast) or 1 (brightness, contrast,
    saturation, hue)."""
    brightness = functools.partial(random_adjust_brightness, max_delta=32.0 / 255.0)
    saturation = functools.partial(random_adjust_saturation, min_delta=0.5, max_delta=1.5)
    hue = functools.partial(random_adjust_hue, max_delta=0.2)
    contrast = functools.partial(random_adjust_contrast, min_delta=0.5, max_delta=1.5)
    if color_ordering == 0:
        order = (brightness, saturation, hue, contrast)
    elif color_ordering == 1:
        order = (brightness, contrast, saturation, hue)
    else:
        raise ValueError(f"random_distort_color: color_ordering must be 0 or 1, got {color_ordering}")
    return apply_augmentations(tensors, order, seed)


def random_rgb_to_gray(tensors: Tensors, seed: tf.Tensor, *, probability: float = 0.1) -> Tensors:
    """With ``probability``, replaces the image by its grayscale version (still 3 channels)."""

    def gray(t: Tensors) -> Tensors:
        out = dict(t)
        out[_IMAGE] = tf.image.grayscale_to_rgb(tf.image.rgb_to_grayscale(t[_IMAGE]))
        return out

    return _maybe(tensors, _coin(seed, probability), gray)


def random_pixel_value_scale(tensors: Tensors, seed: tf.Tensor, *, minval: float = 0.9,
                             maxval: float = 1.1) -> Tensors:
    """Multiplies every pixel value by its own factor uniform in [minval, maxval]; clips."""
    out = dict(tensors)
    image = tensors[_IMAGE]
    factors = _uniform(seed, minval, maxval, tf.shape(image))
    out[_IMAGE] = tf.clip_by_value(image * factors, 0.0, 255.0)
    return out


def random_black_patches(tensors: Tensors, seed: tf.Tensor, *, max_black_patches: int = 10,
                         probability: float = 0.5, size_to_image_ratio: float = 0.1) -> Tensors:
    """Up to ``max_black_patches`` black squares (each with ``probability``) of side
    ``size_to_image_ratio * min(H, W)`` at random places; geometry unchanged."""
    image = tensors[_IMAGE]
    shape = tf.shape(image)
    side = tf.maximum(tf.cast(size_to_image_ratio * tf.cast(tf.minimum(shape[0], shape[1]),
                                                            tf.float32), tf.int32), 1)
    rows = tf.range(shape[0])[:, None]
    cols = tf.range(shape[1])[None, :]
    keep = tf.ones(shape[:2], tf.bool)
    for i in range(max_black_patches):
        s = _seeds(tf.random.experimental.stateless_fold_in(seed, i), 3)
        y = _randint(s[0], 0, tf.maximum(shape[0] - side, 0))
        x = _randint(s[1], 0, tf.maximum(shape[1] - side, 0))
        patch = (rows >= y) & (rows < y + side) & (cols >= x) & (cols < x + side)
        keep &= ~(patch & _coin(s[2], probability))
    out = dict(tensors)
    out[_IMAGE] = image * tf.cast(keep, tf.float32)[..., None]
    return out


# ------------------------------------------------------------------------- scale and boxes

def random_image_scale(tensors: Tensors, seed: tf.Tensor, *, min_scale_ratio: float = 0.5,
                       max_scale_ratio: float = 2.0) -> Tensors:
    """Resizes image (bilinear) and masks (nearest) by one ratio uniform in [min, max]; sides
    truncated to whole pixels, corners aligned (as the OD API). Normalized boxes and keypoints
    are unchanged."""
    ratio = _uniform(seed, min_scale_ratio, max_scale_ratio)
    shape = tf.cast(tf.shape(tensors[_IMAGE])[:2], tf.float32)
    return _resize_to(tensors, tf.maximum(tf.cast(shape * ratio, tf.int32), 1),
                      align_corners=True)


JITTER_MODES = ("default", "expand", "shrink", "expand_symmetric", "shrink_symmetric",
                "expand_symmetric_xy", "shrink_symmetric_xy")


def random_jitter_boxes(tensors: Tensors, seed: tf.Tensor, *, ratio: float = 0.05,
                        jitter_mode: str = "default") -> Tensors:
    """Moves box sides by up to ``ratio`` of the box's height/width, then clips to [0, 1].

    "default": each side independently by a delta in [-ratio, ratio]; "expand" / "shrink":
    each side independently outwards / inwards by |delta|; "..._symmetric": about the box
    centre, height and width each scaled by (1 +- |delta|) with their own delta; "..._xy":
    one delta for both. Only the boxes change (masks and keypoints keep the true shapes).
    """
    if jitter_mode not in JITTER_MODES:
        raise ValueError(f"random_jitter_boxes: jitter_mode must be one of {JITTER_MODES}, "
                         f"got {jitter_mode!r}")
    boxes = tensors[_BOXES]
    num = tf.shape(boxes)[0]
    height = boxes[:, 2] - boxes[:, 0]
    width = boxes[:, 3] - boxes[:, 1]
    sizes = tf.stack([height, width, height, width], axis=1)
    outwards = tf.constant([-1.0, -1.0, 1.0, 1.0])
    sign = -1.0 if jitter_mode.startswith("shrink") else 1.0
    if jitter_mode == "default":
        delta = _uniform(seed, -ratio, ratio, tf.stack([num, 4]))
    elif jitter_mode in ("expand", "shrink"):
        delta = tf.abs(_uniform(seed, -ratio, ratio, tf.stack([num, 4]))) * outwards * sign
    else:
        per_axis = 1 if jitter_mode.endswith("_xy") else 2
        scale = tf.abs(_uniform(seed, -ratio, ratio, tf.stack([num, per_axis])))
        scale = tf.tile(tf.broadcast_to(scale, tf.stack([num, 2])), [1, 2])
        delta = 0.5 * scale * outwards * sign
    out = dict(tensors)
    out[_BOXES] = tf.clip_by_value(boxes + delta * sizes, 0.0, 1.0)
    return out


# --------------------------------------------------------------------------- crop and pad

def crop_to_window(tensors: Tensors, offset: tf.Tensor, size: tf.Tensor, *,
                   overlap_thresh: float = 0.3, clip_boxes: bool = True) -> Tensors:
    """Crops to pixels [offset, offset + size) (int32 [2] each, (y, x)); instances with less
    than ``overlap_thresh`` of their box inside are dropped (see instances.reframe_instances)."""
    shape = tf.shape(tensors[_IMAGE])
    hw = tf.cast(shape[:2], tf.float32)
    start = tf.cast(offset, tf.float32) / hw
    end = tf.cast(offset + size, tf.float32) / hw
    window = tf.concat([start, end], axis=0)
    out = instances.reframe_instances(tensors, window, overlap_thresh=overlap_thresh,
                                      clip_boxes=clip_boxes)
    out[_IMAGE] = tf.slice(tensors[_IMAGE], tf.concat([offset, [0]], 0), tf.concat([size, [-1]], 0))
    if _MASKS in out:
        out[_MASKS] = tf.slice(out[_MASKS], tf.concat([[0], offset], 0), tf.concat([[-1], size], 0))
    return out


def _keep_or(tensors: Tensors, seed: tf.Tensor, random_coef: float,
             transform: Callable[[Tensors], Tensors]) -> Tensors:
    """transform(tensors), except with probability ``random_coef`` the input unchanged."""
    if random_coef <= 0.0:
        return transform(tensors)
    return _maybe(tensors, ~_coin(seed, random_coef), transform)


def random_crop_image(tensors: Tensors, seed: tf.Tensor, *, min_object_covered: float = 1.0,
                      aspect_ratio_range: Sequence[float] = (0.75, 1.33),
                      area_range: Sequence[float] = (0.1, 1.0), overlap_thresh: float = 0.3,
                      clip_boxes: bool = True, random_coef: float = 0.0,
                      max_attempts: int = 100) -> Tensors:
    """Crops a random window (``tf.image.stateless_sample_distorted_bounding_box``): of
    ``area_range`` of the image, width/height in ``aspect_ratio_range``, covering at least
    ``min_object_covered`` of some box (the whole image when none fits or there are no boxes).
    Instances with less than ``overlap_thresh`` of their box inside are dropped; with
    probability ``random_coef`` the example is left uncropped."""
    seeds = _seeds(seed, 2)

    def crop(t: Tensors) -> Tensors:
        boxes = tf.clip_by_value(t[_BOXES], 0.0, 1.0)
        offset, size, _ = tf.image.stateless_sample_distorted_bounding_box(
            tf.shape(t[_IMAGE]), bounding_boxes=boxes[None], seed=seeds[0],
            min_object_covered=min_object_covered, aspect_ratio_range=list(aspect_ratio_range),
            area_range=list(area_range), max_attempts=max_attempts,
            use_image_if_no_bounding_boxes=True)
        return crop_to_window(t, offset[:2], size[:2], overlap_thresh=overlap_thresh,
                              clip_boxes=clip_boxes)

    return _keep_or(tensors, seeds[1], random_coef, crop)


def random_crop_to_aspect_ratio(tensors: Tensors, seed: tf.Tensor, *, aspect_ratio: float = 1.0,
                                overlap_thresh: float = 0.3, clip_boxes: bool = True) -> Tensors:
    """Crops the largest window of width/height ``aspect_ratio`` at a random place."""
    if aspect_ratio <= 0:
        raise ValueError(f"random_crop_to_aspect_ratio: aspect_ratio must be > 0, got {aspect_ratio}")
    shape = tf.shape(tensors[_IMAGE])
    h, w = shape[0], shape[1]
    hf, wf = tf.cast(h, tf.float32), tf.cast(w, tf.float32)
    wider = wf / hf > aspect_ratio
    new_h = tf.where(wider, h, tf.minimum(h, tf.cast(tf.round(wf / aspect_ratio), tf.int32)))
    new_w = tf.where(wider, tf.minimum(w, tf.cast(tf.round(hf * aspect_ratio), tf.int32)), w)
    seeds = _seeds(seed, 2)
    offset = tf.stack([_randint(seeds[0], 0, h - new_h), _randint(seeds[1], 0, w - new_w)])
    return crop_to_window(tensors, offset, tf.stack([new_h, new_w]),
                          overlap_thresh=overlap_thresh, clip_boxes=clip_boxes)


def pad_to_window(tensors: Tensors, offset: tf.Tensor, size: tf.Tensor,
                  pad_color: Sequence[float] | tf.Tensor | None = None) -> Tensors:
    """Places the image at ``offset`` (int32 [2], (y, x)) inside a canvas of ``size`` (int32
    [2]) filled with ``pad_color`` (RGB in 0..255; default the image's mean colour); masks are
    padded with 0; boxes and keypoints follow."""
    image = tensors[_IMAGE]
    shape = tf.shape(image)
    if pad_color is None:
        pad_color = tf.reduce_mean(image, axis=[0, 1])
    color = tf.cast(tf.reshape(pad_color, [3]), tf.float32)
    after = size - offset - shape[:2]
    paddings = tf.stack([[offset[0], after[0]], [offset[1], after[1]]])
    hw = tf.cast(shape[:2], tf.float32)
    start = -tf.cast(offset, tf.float32) / hw
    end = tf.cast(size - offset, tf.float32) / hw
    out = instances.reframe_instances(tensors, tf.concat([start, end], 0), clip_boxes=False)
    out[_IMAGE] = tf.pad(image - color, tf.concat([paddings, [[0, 0]]], 0)) + color
    if _MASKS in out:
        out[_MASKS] = tf.pad(out[_MASKS], tf.concat([[[0, 0]], paddings], 0))
    return out


def random_pad_image(tensors: Tensors, seed: tf.Tensor, *,
                     min_image_size: Sequence[int] | tf.Tensor | None = None,
                     max_image_size: Sequence[int] | tf.Tensor | None = None,
                     pad_color: Sequence[float] | None = None) -> Tensors:
    """Pads to a random size between ``min_image_size`` (default and lower bound: the image
    size) and ``max_image_size`` (default twice the image size), (height, width) in pixels,
    with the image at a random place."""
    shape = tf.shape(tensors[_IMAGE])[:2]
    low = shape if min_image_size is None else tf.maximum(tf.cast(min_image_size, tf.int32), shape)
    high = 2 * shape if max_image_size is None else tf.cast(max_image_size, tf.int32)
    high = tf.maximum(high, low)
    s = _seeds(seed, 4)
    size = tf.stack([_randint(s[0], low[0], high[0]), _randint(s[1], low[1], high[1])])
    offset = tf.stack([_randint(s[2], 0, size[0] - shape[0]), _randint(s[3], 0, size[1] - shape[1])])
    return pad_to_window(tensors, offset, size, pad_color)


def random_crop_pad_image(tensors: Tensors, seed: tf.Tensor, *, min_object_covered: float = 1.0,
                          aspect_ratio_range: Sequence[float] = (0.75, 1.33),
                          area_range: Sequence[float] = (0.1, 1.0), overlap_thresh: float = 0.3,
                          clip_boxes: bool = True, random_coef: float = 0.0,
                          min_padded_size_ratio: Sequence[float] = (1.0, 1.0),
                          max_padded_size_ratio: Sequence[float] = (2.0, 2.0),
                          pad_color: Sequence[float] | None = None) -> Tensors:
    """``random_crop_image``, then ``random_pad_image`` to between the min and max padded size
    ratios (height, width) times the size of the original image."""
    original = tf.cast(tf.shape(tensors[_IMAGE])[:2], tf.float32)
    seeds = _seeds(seed, 2)
    cropped = random_crop_image(
        tensors, seeds[0], min_object_covered=min_object_covered,
        aspect_ratio_range=aspect_ratio_range, area_range=area_range,
        overlap_thresh=overlap_thresh, clip_boxes=clip_boxes, random_coef=random_coef)
    return random_pad_image(
        cropped, seeds[1],
        min_image_size=tf.cast(original * tf.constant(list(min_padded_size_ratio)), tf.int32),
        max_image_size=tf.cast(original * tf.constant(list(max_padded_size_ratio)), tf.int32),
        pad_color=pad_color)


def random_absolute_pad_image(tensors: Tensors, seed: tf.Tensor, *, max_height_padding: int,
                              max_width_padding: int,
                              pad_color: Sequence[float] | None = None) -> Tensors:
    """Pads by [0, max_height_padding) rows and [0, max_width_padding) columns in all,
    split at random between the two sides."""
    shape = tf.shape(tensors[_IMAGE])[:2]
    extra = tf.maximum(tf.constant([max_height_padding, max_width_padding]) - 1, 0)
    return random_pad_image(tensors, seed, min_image_size=shape, max_image_size=shape + extra,
                            pad_color=pad_color)


# ---------------------------------------------------------------------- resizing steps

def _resize_to(tensors: Tensors, size: tf.Tensor, method: str = "bilinear", *,
               align_corners: bool = False) -> Tensors:
    """Image to ``size`` (int32 [2]) with ``method``, masks nearest; normalized geometry kept."""
    out = dict(tensors)
    out[_IMAGE], masks = resizer.resize_image_and_masks(tensors[_IMAGE], tensors.get(_MASKS),
                                                        size, method, align_corners=align_corners)
    if masks is not None:
        out[_MASKS] = masks
    return out


def resize_image(tensors: Tensors, seed: tf.Tensor | None = None, *, new_height: int,
                 new_width: int, method: str = "bilinear") -> Tensors:
    """Resizes to new_height x new_width (not random; ``seed`` unused)."""
    del seed
    return _resize_to(tensors, tf.constant([new_height, new_width]), method)


def random_resize_method(tensors: Tensors, seed: tf.Tensor, *, target_height: int,
                         target_width: int) -> Tensors:
    """Resizes to target_height x target_width with an interpolation chosen at random among
    bilinear, nearest, bicubic and area."""
    methods = ("bilinear", "nearest", "bicubic", "area")
    choice = _randint(seed, 0, len(methods) - 1)
    size = tf.constant([target_height, target_width])
    branches = [functools.partial(_resize_to, tensors, size, m) for m in methods]
    return tf.switch_case(choice, branches)


def random_downscale_to_target_pixels(tensors: Tensors, seed: tf.Tensor, *,
                                      random_coef: float = 0.0, min_target_pixels: int = 300000,
                                      max_target_pixels: int = 500000) -> Tensors:
    """Shrinks (aspect ratio kept) to a pixel count uniform in [min, max] target pixels when the
    image has more; with probability ``random_coef`` leaves the example unchanged."""
    seeds = _seeds(seed, 2)

    def downscale(t: Tensors) -> Tensors:
        shape = tf.cast(tf.shape(t[_IMAGE])[:2], tf.float32)
        target = tf.cast(_randint(seeds[0], min_target_pixels, max_target_pixels), tf.float32)
        factor = tf.minimum(tf.sqrt(target / (shape[0] * shape[1])), 1.0)
        return _resize_to(t, tf.maximum(tf.cast(shape * factor, tf.int32), 1))

    return _keep_or(tensors, seeds[1], random_coef, downscale)


# ------------------------------------------------------------------- more colour and labels

def adjust_gamma(tensors: Tensors, seed: tf.Tensor | None = None, *, gamma: float = 1.0,
                 gain: float = 1.0) -> Tensors:
    """gain * image ** gamma on the [0, 1] scale (not random; ``seed`` unused)."""
    del seed
    return _on_unit_image(tensors, lambda image: tf.image.adjust_gamma(image, gamma, gain))


def random_jpeg_quality(tensors: Tensors, seed: tf.Tensor, *, random_coef: float = 0.0,
                        min_jpeg_quality: int = 0, max_jpeg_quality: int = 100) -> Tensors:
    """Re-encodes the image as JPEG with a quality uniform in [min, max]; with probability
    ``random_coef`` leaves it unchanged."""
    seeds = _seeds(seed, 2)

    def recode(t: Tensors) -> Tensors:
        quality = _randint(seeds[0], min_jpeg_quality, max_jpeg_quality)
        image = tf.cast(tf.round(tf.clip_by_value(t[_IMAGE], 0.0, 255.0)), tf.uint8)
        out = dict(t)
        out[_IMAGE] = tf.cast(tf.image.adjust_jpeg_quality(image, quality), tf.float32)
        return out

    return _keep_or(tensors, seeds[1], random_coef, recode)


def drop_label_probabilistically(tensors: Tensors, seed: tf.Tensor, *, label: int,
                                 drop_probability: float = 1.0) -> Tensors:
    """Removes each instance of class ``label`` (1-based) with ``drop_probability``."""
    classes = tensors[InputFields.groundtruth_classes]
    drop = (tf.equal(classes, label)
            & (_uniform(seed, 0.0, 1.0, tf.shape(classes)) < drop_probability))
    return instances.gather_instances(tensors, tf.where(~drop)[:, 0])


def remap_labels(tensors: Tensors, seed: tf.Tensor | None = None, *,
                 original_labels: Sequence[int], new_label: int) -> Tensors:
    """Replaces the classes ``original_labels`` by ``new_label`` (not random)."""
    del seed
    classes = tensors[InputFields.groundtruth_classes]
    hit = tf.reduce_any(tf.equal(classes[:, None], tf.constant(list(original_labels),
                                                               classes.dtype)[None]), axis=1)
    out = dict(tensors)
    out[InputFields.groundtruth_classes] = tf.where(hit, tf.cast(new_label, classes.dtype), classes)
    return out
