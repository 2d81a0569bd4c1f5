"""Image resizers (the OD API's ImageResizer options) applied to an image and its masks.

Every resizer maps ``(image float32 [H, W, 3], masks uint8 [N, H, W] or None)`` to
``(image [H', W', 3], masks [N, H', W'] or None, true_image_shape int32 [3])``. A resizer that
pads (``pad_to_max_dimension``, ``pad_to_multiple``) pads at the bottom and right;
``true_image_shape`` is then the unpadded size. Boxes and keypoints are normalized to the
unpadded image (the region ``[0, true_h) x [0, true_w)``), so resizing never changes them: to
get pixels of the padded image multiply by ``true_image_shape``, not by the padded size.

Interpolation is the OD API's, TF1 ``tf.image.resize_images``: the legacy kernels
(``tf.compat.v1.image.resize_bilinear`` / ``resize_nearest_neighbor`` / ``resize_bicubic`` /
``resize_area`` without half-pixel centres). With ``align_corners=False`` (every resizer but the
conditional one) output pixel ``d`` samples the input at ``d * in / out``: bilinear lerps
between ``floor`` and ``floor + 1`` (clamped to the last pixel), nearest takes
``min(floor(d * in / out), in - 1)``. With ``align_corners=True`` (the OD API's
``conditional_shape_resizer`` and ``random_image_scale``) the scale is ``(in - 1) / (out - 1)``
and nearest rounds. Masks are always resized nearest and stay uint8; the image is float32 and,
as in the OD API, not clipped (bicubic can overshoot 0..255 near edges).
"""

from __future__ import annotations

from typing import Callable, Sequence

import tensorflow as tf

from object_detection.fields import InputFields

Resizer = Callable[[tf.Tensor, "tf.Tensor | None"], tuple]

_V1 = tf.compat.v1.image.ResizeMethod
METHODS = {
    "bilinear": _V1.BILINEAR,
    "nearest": _V1.NEAREST_NEIGHBOR,
    "bicubic": _V1.BICUBIC,
    "area": _V1.AREA,
}


def keep_aspect_ratio_size(height: tf.Tensor, width: tf.Tensor, min_dimension: int,
                           max_dimension: int | None) -> tf.Tensor:
    """int32 [2] new (height, width), as the OD API's keep_aspect_ratio_resizer computes it.

    Scale so the short side becomes ``min_dimension`` (sides rounded half to even); if the long
    side would then exceed ``max_dimension``, scale so the long side is ``max_dimension``
    instead. A falsy ``max_dimension`` means no upper bound.
    """
    h = tf.cast(height, tf.float32)
    w = tf.cast(width, tf.float32)

    def scaled(factor: tf.Tensor) -> tf.Tensor:
        return tf.cast(tf.round(tf.stack([h * factor, w * factor])), tf.int32)

    large = scaled(float(min_dimension) / tf.minimum(h, w))
    if not max_dimension:
        return large
    small = scaled(float(max_dimension) / tf.maximum(h, w))
    return tf.where(tf.reduce_max(large) > max_dimension, small, large)


def resize_image_and_masks(image: tf.Tensor, masks: tf.Tensor | None, size: tf.Tensor,
                           method: str = "bilinear", *, align_corners: bool = False,
                           ) -> tuple[tf.Tensor, tf.Tensor | None]:
    """Resizes the image with ``method`` and masks [N, H, W] nearest to ``size`` (int32 [2],
    (height, width)), with the OD API's legacy kernels (see the module docstring)."""
    if method not in METHODS:
        raise ValueError(f"resize method must be one of {sorted(METHODS)}, got {method!r}")
    resized = tf.compat.v1.image.resize(image, size, method=METHODS[method],
                                        align_corners=align_corners)
    if masks is not None:
        masks = tf.compat.v1.image.resize(masks[..., None], size, method=METHODS["nearest"],
                                          align_corners=align_corners)[..., 0]
    return resized, masks


def _pad(image: tf.Tensor, masks: tf.Tensor | None, height: tf.Tensor, width: tf.Tensor,
         pad_value: Sequence[float] = (0.0, 0.0, 0.0)) -> tuple[tf.Tensor, tf.Tensor | None]:
    """Pads image and masks at the bottom/right to height x width (image with pad_value)."""
    shape = tf.shape(image)
    paddings = tf.stack([[0, height - shape[0]], [0, width - shape[1]]])
    value = tf.constant(list(pad_value), tf.float32)
    image = tf.pad(image - value, tf.concat([paddings, [[0, 0]]], axis=0)) + value
    if masks is not None:
        masks = tf.pad(masks, tf.concat([[[0, 0]], paddings], axis=0))
    return image, masks


def _true_shape(image: tf.Tensor) -> tf.Tensor:
    return tf.shape(image)


def resize_keep_aspect_ratio(image: tf.Tensor, masks: tf.Tensor | None = None, *,
                             min_dimension: int = 600, max_dimension: int = 1024,
                             method: str = "bilinear", pad_to_max_dimension: bool = False,
                             pad_value: Sequence[float] = (0.0, 0.0, 0.0)) -> tuple:
    """Keep-aspect-ratio resize (see ``keep_aspect_ratio_size``), optionally padded to a
    ``max_dimension`` square. Returns (image, masks, true_image_shape)."""
    if min_dimension <= 0 or (max_dimension and max_dimension < min_dimension):
        raise ValueError(f"keep_aspect_ratio_resizer: need 0 < min_dimension <= max_dimension, "
                         f"got {min_dimension} and {max_dimension}")
    if pad_to_max_dimension and not max_dimension:
        raise ValueError("keep_aspect_ratio_resizer: pad_to_max_dimension needs a max_dimension")
    shape = tf.shape(image)
    size = keep_aspect_ratio_size(shape[0], shape[1], min_dimension, max_dimension)
    image, masks = resize_image_and_masks(image, masks, size, method)
    true_shape = _true_shape(image)
    if pad_to_max_dimension:
        image, masks = _pad(image, masks, max_dimension, max_dimension, pad_value)
        image.set_shape([max_dimension, max_dimension, 3])
        if masks is not None:
            masks.set_shape([None, max_dimension, max_dimension])
    return image, masks, true_shape


def resize_fixed_shape(image: tf.Tensor, masks: tf.Tensor | None = None, *, height: int = 300,
                       width: int = 300, method: str = "bilinear") -> tuple:
    """Resize to exactly height x width (aspect ratio not kept)."""
    if height <= 0 or width <= 0:
        raise ValueError(f"fixed_shape_resizer: height and width must be > 0, got {height}x{width}")
    image, masks = resize_image_and_masks(image, masks, tf.constant([height, width]), method)
    image.set_shape([height, width, 3])
    if masks is not None:
        masks.set_shape([None, height, width])
    return image, masks, _true_shape(image)


def resize_identity(image: tf.Tensor, masks: tf.Tensor | None = None) -> tuple:
    """Leaves the image as it is."""
    return image, masks, _true_shape(image)


def resize_conditional(image: tf.Tensor, masks: tf.Tensor | None = None, *,
                       condition: str = "greater", size_threshold: int = 300,
                       method: str = "bilinear") -> tuple:
    """Keeps the aspect ratio and resizes only when needed (sides truncated, corners aligned,
    as the OD API's resize_to_max_dimension / resize_to_min_dimension):

    "greater": when the long side is above ``size_threshold``, scale it down to it;
    "smaller": when the short side is below ``size_threshold``, scale it up to it.
    """
    shape = tf.shape(image)
    h, w = tf.cast(shape[0], tf.float32), tf.cast(shape[1], tf.float32)
    threshold = float(size_threshold)
    if condition == "greater":
        factor = tf.minimum(threshold / tf.maximum(h, w), 1.0)
    elif condition == "smaller":
        factor = tf.maximum(threshold / tf.minimum(h, w), 1.0)
    else:
        raise ValueError(f"conditional_shape_resizer: condition must be 'greater' or 'smaller', "
                         f"got {condition!r}")
    size = tf.cast(tf.stack([h * factor, w * factor]), tf.int32)
    image, masks = resize_image_and_masks(image, masks, size, method, align_corners=True)
    return image, masks, _true_shape(image)


def resize_pad_to_multiple(image: tf.Tensor, masks: tf.Tensor | None = None, *,
                           multiple: int = 1) -> tuple:
    """Zero-pads bottom/right so height and width are multiples of ``multiple``."""
    if multiple <= 0:
        raise ValueError(f"pad_to_multiple_resizer: multiple must be > 0, got {multiple}")
    true_shape = _true_shape(image)
    padded = (true_shape[:2] + multiple - 1) // multiple * multiple
    image, masks = _pad(image, masks, padded[0], padded[1])
    return image, masks, true_shape


def resized_static_shape(resizer: Resizer) -> tuple[int, int] | None:
    """(height, width) that ``resizer`` always outputs, or None when it depends on the input."""
    traced = tf.function(lambda image: resizer(image, None)[0])
    shape = traced.get_concrete_function(tf.TensorSpec([None, None, 3], tf.float32)).output_shapes
    return (shape[0], shape[1]) if shape[0] is not None and shape[1] is not None else None


def resize_tensors(tensors: dict[str, tf.Tensor], resizer: Resizer) -> dict[str, tf.Tensor]:
    """Applies ``resizer`` to the image and masks of an ``InputFields`` dict, updating
    ``true_image_shape``; boxes and keypoints are unchanged (normalized to the unpadded image)."""
    out = dict(tensors)
    masks = tensors.get(InputFields.groundtruth_instance_masks)
    image, masks, true_shape = resizer(tensors[InputFields.image], masks)
    out[InputFields.image] = image
    out[InputFields.true_image_shape] = tf.cast(true_shape, tf.int32)
    if masks is not None:
        out[InputFields.groundtruth_instance_masks] = masks
    return out
