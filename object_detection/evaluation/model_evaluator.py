"""Evaluating a model on the evaluation records: COCO box and mask metrics, mean losses.

Each batch of ``eval_input_reader`` goes through the model in inference mode (one
``tf.function``, input signature from the dataset's ``element_spec``); its detections and the
batch's ground truth go to ``evaluation.CocoEvaluator``, which reframes the box-relative masks
into the original image size and thresholds them at 0.5. The model's losses on the same batch
(with the ground truth, ``training=False``) are averaged over the images, as the OD API reports
them in evaluation.

``eval_config.metrics_set``: ``coco_detection_metrics`` gives box metrics, ``coco_mask_metrics``
(or ``eval_instance_masks: true``) box and mask metrics, the default when the model predicts
masks (``include_masks``, from the table ``config.supported``). With
``eval_config.use_moving_averages`` and an optimizer keeping averages, the averaged weights are
evaluated (swapped in for the evaluation only).

With ``visualizations`` (``side_by_side.Settings``, from ``eval_config``), the first
``num_visualizations`` maps are drawn as the OD API's ``eval_side_by_side`` pictures
(detections beside ground truth, PNG) into ``EvalResult.pictures``.
"""

from __future__ import annotations

import contextlib
import logging
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field

import tensorflow as tf

from object_detection.config import supported
from object_detection.evaluation import side_by_side
from object_detection.evaluation.coco_evaluator import CocoEvaluator
from object_detection.fields import InputFields, LossNames
from object_detection.protos import eval_pb2

logger = logging.getLogger(__name__)


@dataclass
class EvalResult:
    """One evaluation: COCO metrics (OD API names), mean losses, images and seconds taken,
    and the side-by-side pictures of the first maps (``side_by_side.Picture``)."""

    metrics: dict[str, float]
    losses: dict[str, float] = field(default_factory=dict)
    num_images: int = 0
    seconds: float = 0.0
    pictures: list[side_by_side.Picture] = field(default_factory=list)


def include_masks(config: eval_pb2.EvalConfig, model_predicts_masks: bool) -> bool:
    """Whether to compute mask metrics (``config.supported.mask_metrics``: ``coco_mask_metrics``
    in ``metrics_set``, ``eval_instance_masks: true``, or no metrics set and a model with
    masks). ValueError for what the config checks refuse too (``supported.eval_problems``):
    an unknown set, or mask metrics from a model without masks."""
    problems = supported.eval_problems(config, model_predicts_masks)
    if problems:
        raise supported.error(problems[0])
    return supported.mask_metrics(config, model_predicts_masks)


@contextlib.contextmanager
def moving_averages_swapped_in(variables: Sequence, optimizer) -> Iterator[None]:
    """Within the block ``variables`` (the list the optimizer was built with) hold the
    optimizer's moving averages; afterwards their own values again. A no-op without EMA."""
    if optimizer is None or not getattr(optimizer, "use_ema", False):
        yield
        return
    averages = optimizer._model_variables_moving_average  # Keras keeps them here
    saved = [tf.identity(v) for v in variables]
    for variable, average in zip(variables, averages):
        variable.assign(average)
    try:
        yield
    finally:
        for variable, value in zip(variables, saved):
            variable.assign(value)


@contextlib.contextmanager
def _seed_state_kept(model) -> Iterator[None]:
    """Evaluation losses draw samples; keep the model's sampler state as training left it, so
    an evaluation does not change the training that follows (and resuming repeats it)."""
    generator = getattr(model, "seed_generator", None)
    state = getattr(generator, "state", None)
    saved = None if state is None else tf.identity(state)
    try:
        yield
    finally:
        if saved is not None:
            state.assign(saved)


class ModelEvaluator:
    """Evaluates ``model`` on ``dataset`` (batches of ``InputFields``) against ``categories``.

    Create it once per run; ``evaluate()`` reads the dataset anew each time. With
    ``visualizations`` (``side_by_side.Settings.from_config(eval_config)``) the first
    ``num_visualizations`` maps are drawn into ``EvalResult.pictures``; without, none.
    """

    def __init__(self, model, dataset: tf.data.Dataset, categories: Sequence[dict], *,
                 masks: bool, losses: bool = True,
                 visualizations: side_by_side.Settings | None = None) -> None:
        self.model = model
        self.dataset = dataset
        self.categories = list(categories)
        self.masks = masks
        self.losses = losses
        self.visualizations = visualizations
        self._run = tf.function(self._run_batch, input_signature=[dataset.element_spec],
                                autograph=False)

    @property
    def num_traces(self) -> int:
        return self._run.experimental_get_tracing_count()

    def _run_batch(self, batch):
        detections = self.model(batch[InputFields.image], batch[InputFields.true_image_shape],
                                training=False)
        losses = self.model.compute_losses(batch, training=False) if self.losses else {}
        if losses:
            losses = dict(losses)
            losses[LossNames.total] = tf.add_n(list(losses.values()))
        return detections, losses

    def evaluate(self) -> EvalResult:
        """Runs over the whole dataset once; the COCO metrics and the per-image mean losses."""
        start = time.monotonic()
        evaluator = CocoEvaluator(self.categories)
        sums: dict[str, float] = {}
        images = 0
        pictures: list[side_by_side.Picture] = []
        settings = self.visualizations
        wanted = 0 if settings is None else settings.num_visualizations
        names = side_by_side.category_names(self.categories)
        with _seed_state_kept(self.model):
            for index, batch in enumerate(self.dataset):
                detections, losses = self._run(batch)
                size = int(batch[InputFields.image].shape[0])
                evaluator.add_batch(detections, batch)
                if len(pictures) < wanted:
                    pictures += side_by_side.batch_pictures(detections, batch, index, names,
                                                            settings, wanted - len(pictures))
                for name, value in losses.items():
                    sums[name] = sums.get(name, 0.0) + float(value) * size
                images += size
        if images == 0:
            raise ValueError("the evaluation records hold no examples")
        metrics = evaluator.evaluate(include_masks=self.masks)
        if evaluator.skipped:
            logger.warning("evaluation skipped detections: %s", dict(evaluator.skipped))
        return EvalResult(metrics, {name: total / images for name, total in sums.items()},
                          images, time.monotonic() - start, pictures)
