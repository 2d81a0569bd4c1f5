"""TensorBoard summaries of a run, with the OD API's tag names, in ``train/`` and ``eval/``.

``<run dir>/train/``: every ``log_every_n_steps`` steps the mean of each loss over those steps
(``Loss/RPNLoss/localization_loss``, ``Loss/RPNLoss/objectness_loss``,
``Loss/BoxClassifierLoss/localization_loss``, ``.../classification_loss``, ``.../mask_loss``,
``Loss/regularization_loss`` when the model has one, ``Loss/total_loss``), the
``learning_rate`` of the step, and ``steps_per_sec`` over those steps.

``<run dir>/eval/``: after each evaluation the COCO metrics (``DetectionBoxes_Precision/mAP``,
``DetectionMasks_Precision/mAP@.50IOU``, ..., ``DetectionBoxes_Recall/AR@100 (small)``, ...) and
the mean losses over the evaluation records, and the evaluation pictures of the first
``eval_config.num_visualizations`` maps (``evaluation.side_by_side``: detections on the left,
ground truth on the right, tagged ``eval_side_by_side_{batch}_{index}`` as in the OD API), in
TensorBoard's "Images" tab.
"""

from __future__ import annotations

import glob
import os
from collections.abc import Mapping, Sequence

import tensorflow as tf
from tensorflow.core.framework import summary_pb2

TRAIN_DIR = "train"
EVAL_DIR = "eval"
LEARNING_RATE = "learning_rate"
STEPS_PER_SEC = "steps_per_sec"

# What tf.summary.scalar (from the tensorboard package) writes: a float32 scalar tensor tagged
# for TensorBoard's "scalars" plugin (its ScalarPluginData, version 0, serializes to b"").
# Written with tf.summary.write, so TensorBoard itself need not be installed to train.
_SCALAR_METADATA = summary_pb2.SummaryMetadata(
    plugin_data=summary_pb2.SummaryMetadata.PluginData(plugin_name="scalars", content=b""))
# What tf.summary.image writes: a string tensor [width, height, PNG...] for the "images"
# plugin (ImagePluginData, version 0, serializes to b"").
_IMAGE_METADATA = summary_pb2.SummaryMetadata(
    plugin_data=summary_pb2.SummaryMetadata.PluginData(plugin_name="images", content=b""))


def write_scalar(tag: str, value: float, step: int) -> None:
    """One scalar summary into the default writer (``tf.summary.scalar``'s format)."""
    tf.summary.write(tag, tf.constant(float(value), tf.float32), step=int(step),
                     metadata=_SCALAR_METADATA)


def write_png(tag: str, png: bytes, width: int, height: int, step: int) -> None:
    """One image summary of an encoded PNG into the default writer (``tf.summary.image``'s
    format, one image)."""
    tf.summary.write(tag, tf.constant([str(int(width)).encode(), str(int(height)).encode(),
                                       png], tf.string),
                     step=int(step), metadata=_IMAGE_METADATA)


class RunSummaries:
    """The two summary writers of a run (created lazily; nothing is written on a non-chief)."""

    def __init__(self, run_dir: str | os.PathLike, enabled: bool = True) -> None:
        self.run_dir = os.fspath(run_dir)
        self.enabled = enabled
        self._writers: dict[str, tf.summary.SummaryWriter] = {}

    def _writer(self, name: str) -> tf.summary.SummaryWriter:
        if name not in self._writers:
            self._writers[name] = tf.summary.create_file_writer(
                os.path.join(self.run_dir, name))
        return self._writers[name]

    def _write(self, name: str, step: int, scalars: Mapping[str, float]) -> None:
        if not self.enabled:
            return
        writer = self._writer(name)
        with writer.as_default(step=int(step)):
            for tag, value in scalars.items():
                write_scalar(tag, value, step)
        writer.flush()

    def write_train(self, step: int, losses: Mapping[str, float], learning_rate: float,
                    steps_per_sec: float) -> None:
        """Losses (OD API names), ``learning_rate`` and ``steps_per_sec`` at ``step``."""
        self._write(TRAIN_DIR, step, {**losses, LEARNING_RATE: learning_rate,
                                      STEPS_PER_SEC: steps_per_sec})

    def write_eval(self, step: int, metrics: Mapping[str, float],
                   losses: Mapping[str, float] | None = None,
                   pictures: Sequence = ()) -> None:
        """COCO metrics (OD API names), evaluation losses and the evaluation pictures
        (``side_by_side.Picture``: tag, png, height, width) at ``step``."""
        self._write(EVAL_DIR, step, {**metrics, **(losses or {})})
        if not self.enabled or not pictures:
            return
        writer = self._writer(EVAL_DIR)
        with writer.as_default(step=int(step)):
            for picture in pictures:
                write_png(picture.tag, picture.png, picture.width, picture.height, step)
        writer.flush()

    def close(self) -> None:
        for writer in self._writers.values():
            writer.close()
        self._writers.clear()


def read_scalars(event_dir: str | os.PathLike) -> dict[str, list[tuple[int, float]]]:
    """Every scalar in the event files of ``event_dir``: tag -> [(step, value)] in file order
    (for tests and quick looks; TensorBoard reads the same files); images are left out
    (``read_images``)."""
    scalars: dict[str, list[tuple[int, float]]] = {}
    for path in sorted(glob.glob(os.path.join(os.fspath(event_dir), "events.out.tfevents.*"))):
        for event in tf.compat.v1.train.summary_iterator(path):
            for value in event.summary.value:
                if value.HasField("tensor"):
                    array = tf.make_ndarray(value.tensor)
                    if array.ndim != 0 or array.dtype.kind not in "biuf":
                        continue            # an image (a string tensor [width, height, PNG])
                    number = float(array)
                elif value.HasField("simple_value"):
                    number = float(value.simple_value)
                else:
                    continue
                scalars.setdefault(value.tag, []).append((int(event.step), number))
    return scalars


def read_images(event_dir: str | os.PathLike) -> dict[str, list[tuple[int, bytes]]]:
    """Every image summary in the event files of ``event_dir``: tag -> [(step, encoded
    image)] in file order (the first image of each summary)."""
    images: dict[str, list[tuple[int, bytes]]] = {}
    for path in sorted(glob.glob(os.path.join(os.fspath(event_dir), "events.out.tfevents.*"))):
        for event in tf.compat.v1.train.summary_iterator(path):
            for value in event.summary.value:
                plugin = value.metadata.plugin_data.plugin_name
                if value.HasField("tensor") and plugin == "images":
                    encoded = value.tensor.string_val[2]
                elif value.HasField("image"):
                    encoded = value.image.encoded_image_string
                else:
                    continue
                images.setdefault(value.tag, []).append((int(event.step), bytes(encoded)))
    return images
