"""Config -> input pipeline: the ImageResizer, PreprocessingStep and InputReader protos turned
into the plain-parameter functions of ``object_detection.data`` and a batched tf.data.Dataset.

Training reads with the train reader, augments with ``train_config.data_augmentation_options``
and drops an incomplete last batch when ``drop_remainder``; evaluation never augments, keeps
every example and reads once when ``num_epochs`` is 0 (forever makes no sense there).

Before a dataset is built its record files are checked (``dataset.check_record_files``): a
glob matching nothing, an empty, corrupt or truncated file, records that are not OD API
tf.Examples, and box-only records for a model that predicts masks are refused with a
ValueError naming the file, instead of a pipeline that spins on an empty file or fails later
with TensorFlow's "corrupted record at N".
"""

from __future__ import annotations

import functools
import logging
from typing import Callable, Iterable, Sequence

import tensorflow as tf

from object_detection import config as config_lib
from object_detection.data import augmentation as aug
from object_detection.data import dataset as data
from object_detection.data import resizer as resizers
from object_detection.protos import (image_resizer_pb2, input_reader_pb2, pipeline_pb2,
                                     preprocessor_pb2)

_LOG = logging.getLogger(__name__)

_RESIZE_METHODS = {
    image_resizer_pb2.BILINEAR: "bilinear",
    image_resizer_pb2.NEAREST_NEIGHBOR: "nearest",
    image_resizer_pb2.BICUBIC: "bicubic",
    image_resizer_pb2.AREA: "area",
}


# ------------------------------------------------------------------------------- resizer

def _no_grayscale(config, name: str) -> None:
    if config.convert_to_grayscale:
        raise ValueError(f"image_resizer.{name}.convert_to_grayscale is not supported: the "
                         "input pipeline and the model take RGB images")


def build_image_resizer(config: image_resizer_pb2.ImageResizer) -> resizers.Resizer:
    """ImageResizer -> ``resizer(image, masks) -> (image, masks, true_image_shape)``."""
    kind = config.WhichOneof("image_resizer_oneof")
    if kind == "keep_aspect_ratio_resizer":
        c = config.keep_aspect_ratio_resizer
        _no_grayscale(c, kind)
        pad_value = tuple(c.per_channel_pad_value) or (0.0, 0.0, 0.0)
        if len(pad_value) != 3:
            raise ValueError(f"image_resizer.{kind}.per_channel_pad_value needs 3 values, "
                             f"got {len(pad_value)}")
        return functools.partial(
            resizers.resize_keep_aspect_ratio, min_dimension=c.min_dimension,
            max_dimension=c.max_dimension, method=_RESIZE_METHODS[c.resize_method],
            pad_to_max_dimension=c.pad_to_max_dimension, pad_value=pad_value)
    if kind == "fixed_shape_resizer":
        c = config.fixed_shape_resizer
        _no_grayscale(c, kind)
        return functools.partial(resizers.resize_fixed_shape, height=c.height, width=c.width,
                                 method=_RESIZE_METHODS[c.resize_method])
    if kind == "identity_resizer":
        return resizers.resize_identity
    if kind == "conditional_shape_resizer":
        c = config.conditional_shape_resizer
        _no_grayscale(c, kind)
        condition = image_resizer_pb2.ConditionalShapeResizer.ResizeCondition.Name(c.condition)
        if condition == "INVALID":
            raise ValueError(f"image_resizer.{kind}.condition must be GREATER or SMALLER")
        return functools.partial(resizers.resize_conditional, condition=condition.lower(),
                                 size_threshold=c.size_threshold,
                                 method=_RESIZE_METHODS[c.resize_method])
    if kind == "pad_to_multiple_resizer":
        c = config.pad_to_multiple_resizer
        _no_grayscale(c, kind)
        return functools.partial(resizers.resize_pad_to_multiple, multiple=c.multiple)
    raise ValueError("image_resizer: no resizer set (expected keep_aspect_ratio_resizer, "
                     "fixed_shape_resizer, identity_resizer, conditional_shape_resizer or "
                     "pad_to_multiple_resizer)")


# ---------------------------------------------------------------------- augmentations

def _optional_list(values: Iterable[float], count: int, where: str) -> tuple | None:
    values = tuple(values)
    if not values:
        return None
    if len(values) != count:
        raise ValueError(f"{where} needs {count} values, got {len(values)}")
    return values


def _pair(msg, first: str, second: str, where: str) -> tuple[int, int] | None:
    has = (msg.HasField(first), msg.HasField(second))
    if has == (False, False):
        return None
    if has != (True, True):
        raise ValueError(f"{where}: set both {first} and {second}, or neither")
    return getattr(msg, first), getattr(msg, second)


def _crop_options(m) -> dict:
    return dict(min_object_covered=m.min_object_covered,
                aspect_ratio_range=(m.min_aspect_ratio, m.max_aspect_ratio),
                area_range=(m.min_area, m.max_area), overlap_thresh=m.overlap_thresh,
                clip_boxes=m.clip_boxes, random_coef=m.random_coef)


_RESIZE_IMAGE_METHODS = {
    preprocessor_pb2.ResizeImage.AREA: "area",
    preprocessor_pb2.ResizeImage.BICUBIC: "bicubic",
    preprocessor_pb2.ResizeImage.BILINEAR: "bilinear",
    preprocessor_pb2.ResizeImage.NEAREST_NEIGHBOR: "nearest",
}

_STEP_BUILDERS: dict[str, Callable] = {
    "random_horizontal_flip": lambda m: functools.partial(
        aug.random_horizontal_flip, probability=m.probability,
        keypoint_flip_permutation=tuple(m.keypoint_flip_permutation) or None),
    "random_vertical_flip": lambda m: functools.partial(
        aug.random_vertical_flip, probability=m.probability,
        keypoint_flip_permutation=tuple(m.keypoint_flip_permutation) or None),
    "random_rotation90": lambda m: functools.partial(
        aug.random_rotation90, probability=m.probability,
        keypoint_rot_permutation=tuple(m.keypoint_rot_permutation) or None),
    "random_pixel_value_scale": lambda m: functools.partial(
        aug.random_pixel_value_scale, minval=m.minval, maxval=m.maxval),
    "random_image_scale": lambda m: functools.partial(
        aug.random_image_scale, min_scale_ratio=m.min_scale_ratio,
        max_scale_ratio=m.max_scale_ratio),
    "random_rgb_to_gray": lambda m: functools.partial(aug.random_rgb_to_gray,
                                                      probability=m.probability),
    "random_adjust_brightness": lambda m: functools.partial(aug.random_adjust_brightness,
                                                            max_delta=m.max_delta),
    "random_adjust_contrast": lambda m: functools.partial(
        aug.random_adjust_contrast, min_delta=m.min_delta, max_delta=m.max_delta),
    "random_adjust_hue": lambda m: functools.partial(aug.random_adjust_hue, max_delta=m.max_delta),
    "random_adjust_saturation": lambda m: functools.partial(
        aug.random_adjust_saturation, min_delta=m.min_delta, max_delta=m.max_delta),
    "random_distort_color": lambda m: functools.partial(aug.random_distort_color,
                                                        color_ordering=m.color_ordering),
    "random_jitter_boxes": lambda m: functools.partial(
        aug.random_jitter_boxes, ratio=m.ratio,
        jitter_mode=preprocessor_pb2.RandomJitterBoxes.JitterMode.Name(m.jitter_mode).lower()),
    "random_crop_image": lambda m: functools.partial(aug.random_crop_image, **_crop_options(m)),
    "random_pad_image": lambda m: functools.partial(
        aug.random_pad_image,
        min_image_size=_pair(m, "min_image_height", "min_image_width", "random_pad_image"),
        max_image_size=_pair(m, "max_image_height", "max_image_width", "random_pad_image"),
        pad_color=_optional_list(m.pad_color, 3, "random_pad_image.pad_color")),
    "random_absolute_pad_image": lambda m: functools.partial(
        aug.random_absolute_pad_image, max_height_padding=m.max_height_padding,
        max_width_padding=m.max_width_padding,
        pad_color=_optional_list(m.pad_color, 3, "random_absolute_pad_image.pad_color")),
    "random_crop_pad_image": lambda m: functools.partial(
        aug.random_crop_pad_image, **_crop_options(m),
        min_padded_size_ratio=_optional_list(
            m.min_padded_size_ratio, 2, "random_crop_pad_image.min_padded_size_ratio") or (1.0, 1.0),
        max_padded_size_ratio=_optional_list(
            m.max_padded_size_ratio, 2, "random_crop_pad_image.max_padded_size_ratio") or (2.0, 2.0),
        pad_color=_optional_list(m.pad_color, 3, "random_crop_pad_image.pad_color")),
    "random_crop_to_aspect_ratio": lambda m: functools.partial(
        aug.random_crop_to_aspect_ratio, aspect_ratio=m.aspect_ratio,
        overlap_thresh=m.overlap_thresh, clip_boxes=m.clip_boxes),
    "random_black_patches": lambda m: functools.partial(
        aug.random_black_patches, max_black_patches=m.max_black_patches,
        probability=m.probability, size_to_image_ratio=m.size_to_image_ratio),
    "random_resize_method": lambda m: functools.partial(
        aug.random_resize_method, target_height=m.target_height, target_width=m.target_width),
    "resize_image": lambda m: functools.partial(
        aug.resize_image, new_height=m.new_height, new_width=m.new_width,
        method=_RESIZE_IMAGE_METHODS[m.method]),
    "random_jpeg_quality": lambda m: functools.partial(
        aug.random_jpeg_quality, random_coef=m.random_coef,
        min_jpeg_quality=m.min_jpeg_quality, max_jpeg_quality=m.max_jpeg_quality),
    "random_downscale_to_target_pixels": lambda m: functools.partial(
        aug.random_downscale_to_target_pixels, random_coef=m.random_coef,
        min_target_pixels=m.min_target_pixels, max_target_pixels=m.max_target_pixels),
    "adjust_gamma": lambda m: functools.partial(aug.adjust_gamma, gamma=m.gamma, gain=m.gain),
    "drop_label_probabilistically": lambda m: functools.partial(
        aug.drop_label_probabilistically, label=m.label, drop_probability=m.drop_probability),
    "remap_labels": lambda m: functools.partial(
        aug.remap_labels, original_labels=tuple(m.original_labels), new_label=m.new_label),
}

SUPPORTED_STEPS = tuple(sorted(_STEP_BUILDERS))

_WHY_NOT = {
    "normalize_image": "images stay RGB in 0..255 through the input pipeline; the feature "
                       "extractor normalizes",
    "subtract_channel_mean": "images stay RGB in 0..255 through the input pipeline; the "
                             "feature extractor normalizes",
    "rgb_to_gray": "the model takes 3-channel images (use random_rgb_to_gray)",
    "scale_boxes_to_pixel_coordinates": "boxes stay normalized through the input pipeline",
}


def build_preprocessing_step(step: preprocessor_pb2.PreprocessingStep) -> aug.Step:
    """One PreprocessingStep -> ``step(tensors, seed) -> tensors``; an unsupported step is a
    ValueError naming it."""
    name = step.WhichOneof("preprocessing_step")
    if name is None:
        raise ValueError("data_augmentation_options: an empty preprocessing step (no option set)")
    if name not in _STEP_BUILDERS:
        reason = _WHY_NOT.get(name, "it is not implemented by this input pipeline")
        raise ValueError(f"preprocessing step '{name}' is not supported: {reason}. Supported: "
                         f"{', '.join(SUPPORTED_STEPS)}")
    return _STEP_BUILDERS[name](getattr(step, name))


def build_augmentations(steps: Iterable[preprocessor_pb2.PreprocessingStep]) -> list[aug.Step]:
    """The steps of ``data_augmentation_options``, in order."""
    return [build_preprocessing_step(step) for step in steps]


# ---------------------------------------------------------------------------- reader

_MASK_TYPES = {
    input_reader_pb2.DEFAULT: "numerical",
    input_reader_pb2.NUMERICAL_MASKS: "numerical",
    input_reader_pb2.PNG_MASKS: "png",
}


def reader_options(config: input_reader_pb2.InputReader, *, num_keypoints: int = 0,
                   training: bool = True) -> data.ReaderOptions:
    """InputReader -> ReaderOptions (``num_keypoints`` 0: the config's)."""
    name = config.name or "input_reader"
    if config.WhichOneof("input_reader") != "tf_record_input_reader":
        raise ValueError(f"{name}: only tf_record_input_reader is supported")
    if config.input_type == input_reader_pb2.TF_SEQUENCE_EXAMPLE:
        raise ValueError(f"{name}: input_type TF_SEQUENCE_EXAMPLE is not supported")
    if config.num_additional_channels:
        raise ValueError(f"{name}: num_additional_channels is not supported")
    if config.sample_from_datasets_weights:
        raise ValueError(f"{name}: sample_from_datasets_weights is not supported")
    if num_keypoints and config.num_keypoints and num_keypoints != config.num_keypoints:
        raise ValueError(f"{name}: num_keypoints {num_keypoints} differs from the reader's "
                         f"{config.num_keypoints}")
    num_epochs = config.num_epochs
    if not training and num_epochs == 0:
        _LOG.info("%s: evaluation reads the data once (num_epochs 0 taken as 1)", name)
        num_epochs = 1
    return data.ReaderOptions(
        input_paths=tuple(config.tf_record_input_reader.input_path),
        shuffle=config.shuffle,
        filenames_shuffle_buffer_size=config.filenames_shuffle_buffer_size,
        shuffle_buffer_size=config.shuffle_buffer_size,
        num_epochs=num_epochs,
        sample_1_of_n_examples=config.sample_1_of_n_examples,
        num_readers=config.num_readers,
        read_block_length=config.read_block_length,
        num_parallel_batches=config.num_parallel_batches,
        num_prefetch_batches=config.num_prefetch_batches,
        max_number_of_boxes=config.max_number_of_boxes,
        num_keypoints=num_keypoints or config.num_keypoints,
        load_instance_masks=config.load_instance_masks,
        mask_type=_MASK_TYPES[config.mask_type],
    )


def build_input(input_reader_config: input_reader_pb2.InputReader,
                preprocessor_steps: Sequence[preprocessor_pb2.PreprocessingStep],
                image_resizer_config: image_resizer_pb2.ImageResizer, *, batch_size: int,
                training: bool, num_keypoints: int = 0, seed: int | None = None,
                deterministic: bool = False,
                model_predicts_masks: bool = False) -> tf.data.Dataset:
    """Batched dataset of ``fields.InputFields`` dicts (see ``data.dataset.build_dataset``).

    ``preprocessor_steps`` are applied only when ``training``; ``seed`` fixes shuffles and
    augmentations; ``deterministic`` gives identical batches run to run. The record files are
    checked first (``data.check_record_files``); with ``model_predicts_masks`` and
    ``load_instance_masks`` they must hold instance masks.
    """
    options = reader_options(input_reader_config, num_keypoints=num_keypoints, training=training)
    data.check_record_files(options.input_paths,
                            require_masks=model_predicts_masks and options.load_instance_masks)
    steps = build_augmentations(preprocessor_steps) if training else []
    return data.build_dataset(
        options, batch_size=batch_size, augmentations=steps,
        resizer=build_image_resizer(image_resizer_config), seed=seed,
        deterministic=deterministic,
        drop_remainder=training and input_reader_config.drop_remainder)


def build_input_from_pipeline(pipeline_config: pipeline_pb2.TrainEvalPipelineConfig, *,
                              training: bool, batch_size: int | None = None,
                              seed: int | None = None, deterministic: bool = False,
                              eval_index: int = 0) -> tf.data.Dataset:
    """The train (``training``) or ``eval_input_reader[eval_index]`` input of a pipeline config,
    with the model's image resizer; batch size from train_config / eval_config unless given."""
    if pipeline_config.model.WhichOneof("model") != "faster_rcnn":
        raise ValueError("model: the input pipeline takes its image_resizer from "
                         "model.faster_rcnn, which is not set")
    resizer_config = pipeline_config.model.faster_rcnn.image_resizer
    predicts_masks = config_lib.predicts_masks(pipeline_config)
    if training:
        if not pipeline_config.HasField("train_input_reader"):
            raise ValueError("pipeline config has no train_input_reader")
        reader = pipeline_config.train_input_reader
        steps = pipeline_config.train_config.data_augmentation_options
        batch_size = batch_size or pipeline_config.train_config.batch_size
    else:
        if eval_index >= len(pipeline_config.eval_input_reader):
            raise ValueError(f"pipeline config has {len(pipeline_config.eval_input_reader)} "
                             f"eval_input_reader(s), no index {eval_index}")
        reader = pipeline_config.eval_input_reader[eval_index]
        steps = ()
        batch_size = batch_size or pipeline_config.eval_config.batch_size
    return build_input(reader, steps, resizer_config, batch_size=batch_size, training=training,
                       seed=seed, deterministic=deterministic,
                       model_predicts_masks=predicts_masks)
