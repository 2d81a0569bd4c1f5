"""The runs a command trains: the selected runs of a grid with the command line's changes, or
the one run of a single pipeline config.

``grid_runs`` reads a grid (``experiment.load_experiment``) with the command line's overrides
of the grid, its total steps, steps per epoch and output folder, adds its overrides of the
pipeline configs after the grid's own (so that they win), expands and selects it.
``single_run`` makes the ``RunSpec`` of one pipeline config by the rules of a grid run (the
stride of its feature extractor, its anchor scales as written, the best checkpoint chosen by
``metric_names.BEST_METRIC``), in the folder given or ``runs/<config name>``.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

from object_detection import config as config_lib
from object_detection.config.overrides import quote
from object_detection.evaluation import metric_names
from object_detection.training import experiment as experiment_lib
from object_detection.training.experiment import RunSpec

DEFAULT_RUNS_DIR = "runs"  # a single pipeline config's run folder is DEFAULT_RUNS_DIR/<name>


def grid_runs(
    experiment_path: str | os.PathLike, overrides: Sequence[str] = (), only: Sequence[str] = (),
    num_steps: int | None = None, steps_per_epoch: int | None = None,
    output_dir: str | None = None,
) -> tuple[list[RunSpec], str]:
    """(the runs of the grid at ``experiment_path`` that ``only`` selects, the grid's output
    folder).

    ``overrides`` are split by ``experiment.split_overrides``: those of the grid apply to it
    as read, followed by ``num_steps`` (``total_steps``), ``steps_per_epoch`` and
    ``output_dir`` when given; those of the pipeline configs are added after the grid's own
    ``override`` entries and the grid is checked again.
    """
    grid_overrides, pipeline_overrides = experiment_lib.split_overrides(overrides)
    if num_steps is not None:
        grid_overrides.append(f"total_steps={num_steps}")
    if steps_per_epoch is not None:
        grid_overrides.append(f"steps_per_epoch={steps_per_epoch}")
    if output_dir:
        grid_overrides.append(f"output_dir={quote(os.fspath(output_dir))}")
    experiment = experiment_lib.load_experiment(experiment_path, grid_overrides)
    if pipeline_overrides:    # after the grid's own overrides, so that they win
        experiment.override.extend(pipeline_overrides)
        experiment_lib.check_experiment(experiment, source=os.fspath(experiment_path))
    runs = experiment_lib.select(
        experiment_lib.expand(experiment, source=os.fspath(experiment_path)), only)
    return runs, experiment.output_dir


def single_run(
    pipeline_config_path: str | os.PathLike, overrides: Sequence[str] = (),
    num_steps: int | None = None, steps_per_epoch: int | None = None,
    run_dir: str | os.PathLike | None = None,
) -> RunSpec:
    """The ``RunSpec`` of the pipeline config at ``pipeline_config_path`` with ``overrides``
    (and ``num_steps`` as ``train_config.num_steps``), in ``run_dir`` (default
    ``runs/<config name>``), evaluated every ``steps_per_epoch`` steps (default 0: after the
    last step only). ValueError when the config sets no number of steps."""
    overrides = list(overrides)
    if num_steps is not None:
        overrides.append(f"{experiment_lib.NUM_STEPS_FIELD}={num_steps}")
    config = config_lib.load_pipeline_config(pipeline_config_path, overrides)
    steps = config.train_config.num_steps
    if steps <= 0:
        raise ValueError(f"{pipeline_config_path}: {experiment_lib.NUM_STEPS_FIELD} is 0 (no "
                         "limit); give --num_train_steps")
    run_dir = Path(run_dir or Path(DEFAULT_RUNS_DIR) / Path(pipeline_config_path).stem)
    frcnn = config.model.faster_rcnn
    anchors = frcnn.first_stage_anchor_generator.grid_anchor_generator
    return RunSpec(
        name=run_dir.name, run_dir=run_dir, pipeline_config=config, run="", run_index=0,
        dataset="", stride=frcnn.feature_extractor.first_stage_features_stride,
        scales=experiment_lib.rounded_scales(anchors.scales), seed=0, num_steps=steps,
        steps_per_epoch=steps_per_epoch or 0,
        best_checkpoint_metric=metric_names.BEST_METRIC)
