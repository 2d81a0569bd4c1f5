"""Experiment grids: one text file (``protos/experiment.proto``) -> one pipeline config per run.

A grid names a base pipeline config and the settings to vary. ``load_experiment`` reads and
checks it (``check_experiment``, and ``check_axis_overrides`` against the base config),
``expand`` makes one ``RunSpec`` per combination, looped dataset x run x stride x anchor-scale
set as in the published code, then over the values of each further ``axis`` (each value a list
of pipeline overrides), named like it (``1st_run_separated_stride8_0.25_0.5_1.0_2.0``, plus
``_lr-0.003`` per axis: ``run_names``), with its folder under ``output_dir``, and
``select`` keeps the runs a command asks for (``--only``). ``split_overrides`` tells a command
line's ``KEY=VALUE`` overrides of the grid itself from those of every run's pipeline config.
The settings files of a run folder are ``training.run_settings``'s.

Relative paths in a grid (base config, records, output folder) are relative to the working
directory, like those in the pipeline configs.
"""

from __future__ import annotations

import fnmatch
import itertools
import math
import os
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from object_detection import config as config_lib
from object_detection.config import ConfigError
from object_detection.run_names import (Axes, axis_label_problem, axis_name_problem,
                                        format_run_name, scale_names)
from object_detection.protos import experiment_pb2, pipeline_pb2

# Pipeline fields the grid sets for each run (override paths).
TRAIN_PATHS_FIELD = "train_input_reader.tf_record_input_reader.input_path"
EVAL_PATHS_FIELD = "eval_input_reader[0].tf_record_input_reader.input_path"
_GRID_ANCHORS = "model.faster_rcnn.first_stage_anchor_generator.grid_anchor_generator"
STRIDE_FIELDS = (
    "model.faster_rcnn.feature_extractor.first_stage_features_stride",
    f"{_GRID_ANCHORS}.height_stride",
    f"{_GRID_ANCHORS}.width_stride",
)
SCALES_FIELD = f"{_GRID_ANCHORS}.scales"
NUM_STEPS_FIELD = "train_config.num_steps"

_NAME_RE = re.compile(r"^[A-Za-z0-9_-]+$")
_GLOB_CHARS = "*?["


@dataclass(frozen=True)
class RunSpec:
    """One run of a grid (or of a single pipeline config: ``run_specs.single_run``).

    ``name`` is the folder name, ``run_dir`` = output_dir / name; ``pipeline_config`` is the base
    config with the experiment's overrides, this run's axis values' overrides and its records,
    stride, scales and num_steps.
    ``run`` / ``run_index`` are the run name ("1st") and its 0-based position in the grid's
    ``run`` list; ``seed`` = experiment seed + run_index; ``axes`` the label of this run's
    value of each further axis, in the grid's order (``(("lr", "0.003"), ("wd", "0"))``).
    """

    name: str
    run_dir: Path
    pipeline_config: pipeline_pb2.TrainEvalPipelineConfig
    run: str
    run_index: int
    dataset: str
    stride: int
    scales: tuple[float, ...]
    seed: int
    num_steps: int
    steps_per_epoch: int
    best_checkpoint_metric: str
    axes: Axes = ()

    def eval_steps(self) -> list[int]:
        """Steps after which to evaluate: every ``steps_per_epoch`` and always ``num_steps``.

        E.g. 576 per epoch, 2304 in all -> [576, 1152, 1728, 2304]; 0 per epoch -> [num_steps].
        """
        if self.steps_per_epoch <= 0:
            return [self.num_steps]
        steps = list(range(self.steps_per_epoch, self.num_steps, self.steps_per_epoch))
        return steps + [self.num_steps]

    def info(self) -> dict:
        """The settings written to ``run.json`` (JSON-ready); ``axes`` ({name: label}, in the
        grid's order) only when the grid has axes, so that older run folders still match."""
        info = {
            "name": self.name,
            "run": self.run,
            "dataset": self.dataset,
            "stride": self.stride,
            "scales": list(self.scales),
            "seed": self.seed,
            "num_steps": self.num_steps,
            "steps_per_epoch": self.steps_per_epoch,
            "best_checkpoint_metric": self.best_checkpoint_metric,
        }
        if self.axes:
            info["axes"] = dict(self.axes)
        return info


# --------------------------------------------------------------------------------------------
# Reading and checking a grid


def load_experiment(
    path: str | os.PathLike, overrides: Sequence[str] = ()
) -> experiment_pb2.Experiment:
    """Reads the text-format ``Experiment`` at ``path``, applies ``overrides`` and checks it.

    ``overrides`` are ``PATH=VALUE`` strings on the grid itself (``total_steps=100``,
    ``run=["1st"]``, ``override[0]="train_config.batch_size=1"``). Raises FileNotFoundError
    when the grid or its base pipeline config is missing, and ``ConfigError`` naming the file,
    line and field when the text does not parse, or the file and field when a value is wrong
    (an axis override that does not apply to the base config included).
    """
    path = os.fspath(path)
    if not os.path.isfile(path):
        raise FileNotFoundError(f"experiment grid not found: {path}")
    with open(path, encoding="utf-8") as f:
        text = f.read()
    experiment = experiment_pb2.Experiment()
    config_lib.parse_text(text, experiment, source=path)
    if overrides:
        try:
            experiment = config_lib.apply_overrides(experiment, overrides)
        except ConfigError as err:
            raise ConfigError(f"{path}: {err}", file=path, field=err.field) from None
    check_experiment(experiment, source=path)
    base = experiment.base_pipeline_config
    if not os.path.isfile(base):
        raise FileNotFoundError(
            f"{path}: base_pipeline_config not found: {base} "
            f"(relative paths are read from {os.getcwd()})"
        )
    if experiment.axis:
        check_axis_overrides(experiment, _base_config(experiment), source=path)
    return experiment


def check_experiment(experiment: experiment_pb2.Experiment, source: str = "<experiment>") -> None:
    """Raises ``ConfigError`` listing every wrong value (``problems``: (field, message) pairs)."""
    problems = []
    if not experiment.base_pipeline_config:
        problems.append(("base_pipeline_config", "not set"))
    if not experiment.output_dir:
        problems.append(("output_dir", "not set"))
    if not experiment.best_checkpoint_metric:
        problems.append(("best_checkpoint_metric", "is empty"))
    problems += _name_problems("dataset", [d.name for d in experiment.dataset], "dataset[{}].name")
    for i, dataset in enumerate(experiment.dataset):
        if not dataset.train_input_path:
            field = f"dataset[{i}].train_input_path"
            problems.append((field, f"dataset {dataset.name!r} has none"))
    problems += _name_problems("run", list(experiment.run), "run[{}]")
    problems += _value_problems(experiment)
    problems += _axis_problems(experiment)
    problems += _override_problems(experiment)
    if problems:
        text = "\n".join(f"{source}: {field}: {message}" for field, message in problems)
        raise ConfigError(text, file=source, field=problems[0][0], problems=problems)


def _name_problems(what: str, names: list[str], field: str) -> list[tuple[str, str]]:
    if not names:
        return [(what, f"give at least one {what}")]
    problems = []
    for i, name in enumerate(names):
        if not _NAME_RE.match(name):
            problems.append((field.format(i), f"{name!r}: use letters, digits, '-' and '_' only"))
        elif name in names[:i]:
            problems.append((field.format(i), f"{name!r} is given twice"))
    return problems


def _value_problems(experiment: experiment_pb2.Experiment) -> list[tuple[str, str]]:
    problems = []
    for i, stride in enumerate(experiment.stride):
        if stride <= 0:
            problems.append((f"stride[{i}]", f"{stride}: must be positive"))
        elif stride in experiment.stride[:i]:
            problems.append((f"stride[{i}]", f"{stride} is given twice"))
    seen = []
    for i, scales in enumerate(experiment.anchor_scales):
        field = f"anchor_scales[{i}].scale"
        if not scales.scale:
            problems.append((field, "an empty scale set"))
        elif not all(math.isfinite(s) and s > 0 for s in scales.scale):
            problems.append((field, f"{list(scales.scale)}: scales must be positive"))
        elif scale_names(scales.scale) in seen:
            problems.append((field, f"[{', '.join(scale_names(scales.scale))}] is given twice"))
        else:
            seen.append(scale_names(scales.scale))
    for field in ("steps_per_epoch", "total_steps"):
        if getattr(experiment, field) < 0:
            problems.append((field, f"{getattr(experiment, field)}: must be 0 or more"))
    return problems


def _axis_problems(experiment: experiment_pb2.Experiment) -> list[tuple[str, str]]:
    """Axis names and value labels that cannot name folders, or are given twice; axes
    without values."""
    problems = []
    names = [axis.name for axis in experiment.axis]
    for i, axis in enumerate(experiment.axis):
        problem = axis_name_problem(axis.name) if axis.name else "not set"
        if problem is None and axis.name in names[:i]:
            problem = f"{axis.name!r} is given twice"
        if problem:
            problems.append((f"axis[{i}].name", problem))
        if not axis.value:
            problems.append((f"axis[{i}].value", f"axis {axis.name!r} has no values"))
        labels = [value.label for value in axis.value]
        for j, label in enumerate(labels):
            problem = axis_label_problem(label) if label else "not set"
            if problem is None and label in labels[:j]:
                problem = f"{label!r} is given twice in axis {axis.name!r}"
            if problem:
                problems.append((f"axis[{i}].value[{j}].label", problem))
    return problems


# What a run's name and RunSpec describe; an axis may never set these, even where the grid leaves
# them to the base config (the name would then tell another stride, scale set or step count).
_RUN_FIELDS = {TRAIN_PATHS_FIELD: "dataset", EVAL_PATHS_FIELD: "eval_input_path",
               **{field: "stride" for field in STRIDE_FIELDS}, SCALES_FIELD: "anchor_scales",
               NUM_STEPS_FIELD: "total_steps"}


def grid_fields(experiment: experiment_pb2.Experiment) -> dict[str, str]:
    """{pipeline field path set per run: the grid field that sets it}, each field an axis value
    overrides included (``axis lr``)."""
    fields = {TRAIN_PATHS_FIELD: "dataset"}
    if experiment.eval_input_path:
        fields[EVAL_PATHS_FIELD] = "eval_input_path"
    if experiment.stride:
        fields.update({field: "stride" for field in STRIDE_FIELDS})
    if experiment.anchor_scales:
        fields[SCALES_FIELD] = "anchor_scales"
    if experiment.total_steps:
        fields[NUM_STEPS_FIELD] = "total_steps"
    for axis in experiment.axis:
        for value in axis.value:
            for override in value.override:
                key = override_key(override)
                if key:
                    fields.setdefault(key, f"axis {axis.name}")
    return fields


def override_key(override: str) -> str | None:
    """The PATH of ``PATH=VALUE`` without spaces; None when it is not of that form."""
    key, sep, _ = override.partition("=")
    key = re.sub(r"\s+", "", key)
    return key if sep and key else None


def _sets(key: str, field: str) -> bool:
    """Whether an override of ``key`` sets ``field`` or a part of it."""
    return key == field or key.startswith((field + ".", field + "["))


def _override_problems(experiment: experiment_pb2.Experiment) -> list[tuple[str, str]]:
    """Overrides (the grid's and its axis values') must be PATH=VALUE and leave alone what the
    grid sets per run; an axis may not set what another axis sets."""
    problems = []
    fields = grid_fields(experiment)
    for i, override in enumerate(experiment.override):
        problems += _one_override_problems(f"override[{i}]", override, fields)
    axis_keys = [{override_key(o) for v in axis.value for o in v.override} - {None}
                 for axis in experiment.axis]
    for i, axis in enumerate(experiment.axis):
        for j, value in enumerate(axis.value):
            for k, override in enumerate(value.override):
                field = f"axis[{i}].value[{j}].override[{k}]"
                key = override_key(override)
                if key is None:
                    problems.append((field, f'"{override}": expected PATH=VALUE'))
                    continue
                problems += [(field, f'"{override}" sets {path}, which the grid sets per run '
                                     f'from {grid_field} (an axis may not set it)')
                             for path, grid_field in _RUN_FIELDS.items() if _sets(key, path)]
                for other, keys in zip(experiment.axis[:i], axis_keys[:i]):
                    clash = [o for o in sorted(keys) if _sets(key, o) or _sets(o, key)]
                    if clash:
                        problems.append((field, f'"{override}" sets {clash[0]}, which axis '
                                                f'{other.name!r} sets too'))
    return problems


def _one_override_problems(field: str, override: str,
                           fields: dict[str, str]) -> list[tuple[str, str]]:
    key = override_key(override)
    if key is None:
        return [(field, f'"{override}": expected PATH=VALUE')]
    return [(field, f'"{override}" sets {path}, which the grid sets per run from {grid_field}')
            for path, grid_field in fields.items() if _sets(key, path)]


def check_axis_overrides(experiment: experiment_pb2.Experiment,
                         base: pipeline_pb2.TrainEvalPipelineConfig,
                         source: str = "<experiment>") -> None:
    """Raises ``ConfigError`` naming each axis override that does not apply to ``base`` (the
    base config with the grid's overrides): an unknown field, a value of the wrong type, an
    index out of range (field ``axis[i].value[j].override[k]``)."""
    problems = []
    for i, axis in enumerate(experiment.axis):
        for j, value in enumerate(axis.value):
            config = base
            for k, override in enumerate(value.override):
                try:
                    config = config_lib.apply_overrides(config, [override])
                except ConfigError as err:
                    problems.append((f"axis[{i}].value[{j}].override[{k}]", str(err)))
                    break
    if problems:
        text = "\n".join(f"{source}: {field}: {message}" for field, message in problems)
        raise ConfigError(text, file=source, field=problems[0][0], problems=problems)


def experiment_field_names() -> set[str]:
    """The names of the top-level fields of a grid (``protos/experiment.proto``)."""
    return set(experiment_pb2.Experiment.DESCRIPTOR.fields_by_name)


def split_overrides(overrides: Sequence[str]) -> tuple[list[str], list[str]]:
    """(grid overrides, pipeline overrides) by the first field name of each KEY: a KEY that
    starts with a field of ``protos/experiment.proto`` (``steps_per_epoch=5``,
    ``anchor_scales[0].scale=[1.0]``) changes the grid, any other
    (``train_config.batch_size=4``) the pipeline config of every run."""
    grid_fields = experiment_field_names()
    grid, pipeline = [], []
    for override in overrides:
        first = override.partition("=")[0].strip().split(".")[0].split("[")[0].strip()
        (grid if first in grid_fields else pipeline).append(override)
    return grid, pipeline


# --------------------------------------------------------------------------------------------
# Expanding a grid into runs


def expand(experiment: experiment_pb2.Experiment,
           source: str = "<experiment>") -> list[RunSpec]:
    """All runs of the grid, in the published loop order: dataset, run, stride, scale set, then
    the values of each axis (the first axis outermost).

    The base config is read once with the experiment's ``override`` entries applied; each
    combination of axis values adds its values' overrides (in the order of the axes); then
    each run sets its training records, the evaluation records of ``eval_input_reader[0]``
    (when the grid gives any), the stride (feature extractor and grid anchors), the anchor
    scales and ``train_config.num_steps``. Raises ``ConfigError`` when the base config cannot
    take them (``source``: the grid's file, for the messages).
    """
    check_experiment(experiment, source=source)
    base_path = experiment.base_pipeline_config
    base = _base_config(experiment)
    check_axis_overrides(experiment, base, source=source)
    grid = _grid_anchor_generator(base, base_path)
    strides = list(experiment.stride) or [
        base.model.faster_rcnn.feature_extractor.first_stage_features_stride
    ]
    scale_sets = [rounded_scales(s.scale) for s in experiment.anchor_scales] or [
        rounded_scales(grid.scales)
    ]
    if not scale_sets[0]:
        raise ConfigError(
            f"{base_path}: {SCALES_FIELD} is empty; give anchor_scales in the grid",
            file=base_path, field=SCALES_FIELD,
        )
    num_steps = experiment.total_steps or base.train_config.num_steps
    if num_steps <= 0:
        raise ConfigError(
            f"{base_path}: {NUM_STEPS_FIELD} is not set; give total_steps in the grid",
            file=base_path, field=NUM_STEPS_FIELD,
        )
    if experiment.eval_input_path and not base.eval_input_reader:
        raise ConfigError(
            f"{base_path}: no eval_input_reader to take the grid's eval_input_path",
            file=base_path, field="eval_input_reader",
        )
    combinations = []      # (axes, base config with those values' overrides)
    for values in itertools.product(*(axis.value for axis in experiment.axis)):
        axes = tuple((axis.name, value.label) for axis, value in zip(experiment.axis, values))
        overrides = [override for value in values for override in value.override]
        combinations.append((axes, config_lib.apply_overrides(base, overrides)))
    runs = []
    for dataset, (run_index, run), stride, scales, (axes, config) in itertools.product(
            experiment.dataset, enumerate(experiment.run), strides, scale_sets, combinations):
        name = format_run_name(run, dataset.name, stride, scales, axes)
        runs.append(RunSpec(
            name=name,
            run_dir=Path(experiment.output_dir) / name,
            pipeline_config=_run_config(config, experiment, dataset, stride, scales, num_steps),
            run=run,
            run_index=run_index,
            dataset=dataset.name,
            stride=stride,
            scales=scales,
            seed=experiment.seed + run_index,
            num_steps=num_steps,
            steps_per_epoch=experiment.steps_per_epoch,
            best_checkpoint_metric=experiment.best_checkpoint_metric,
            axes=axes,
        ))
    return runs


def _base_config(experiment: experiment_pb2.Experiment) -> pipeline_pb2.TrainEvalPipelineConfig:
    """The base pipeline config with the grid's ``override`` entries."""
    return config_lib.load_pipeline_config(experiment.base_pipeline_config,
                                           overrides=list(experiment.override))


def rounded_scales(scales: Sequence[float]) -> tuple[float, ...]:
    """Proto floats as the decimals they were written as (0.1, not 0.10000000149011612)."""
    return tuple(float(s) for s in scale_names(scales))


def _grid_anchor_generator(config: pipeline_pb2.TrainEvalPipelineConfig, path: str):
    """The base config's grid anchor generator; ConfigError when the model has none."""
    if config.model.WhichOneof("model") != "faster_rcnn" or (
        config.model.faster_rcnn.first_stage_anchor_generator.WhichOneof("anchor_generator_oneof")
        != "grid_anchor_generator"
    ):
        raise ConfigError(
            f"{path}: an experiment grid needs a faster_rcnn model with a grid_anchor_generator "
            f"({_GRID_ANCHORS}) for its strides and anchor scales",
            file=path, field=_GRID_ANCHORS,
        )
    return config.model.faster_rcnn.first_stage_anchor_generator.grid_anchor_generator


def _run_config(
    base: pipeline_pb2.TrainEvalPipelineConfig,
    experiment: experiment_pb2.Experiment,
    dataset: experiment_pb2.ExperimentDataset,
    stride: int,
    scales: tuple[float, ...],
    num_steps: int,
) -> pipeline_pb2.TrainEvalPipelineConfig:
    """A copy of ``base`` with one run's settings (the fields listed in ``grid_fields``)."""
    config = pipeline_pb2.TrainEvalPipelineConfig()
    config.CopyFrom(base)
    _replace(config.train_input_reader.tf_record_input_reader.input_path, dataset.train_input_path)
    if experiment.eval_input_path:
        reader = config.eval_input_reader[0].tf_record_input_reader
        _replace(reader.input_path, experiment.eval_input_path)
    faster_rcnn = config.model.faster_rcnn
    grid = faster_rcnn.first_stage_anchor_generator.grid_anchor_generator
    if experiment.stride:
        faster_rcnn.feature_extractor.first_stage_features_stride = stride
        grid.height_stride = stride
        grid.width_stride = stride
    if experiment.anchor_scales:
        _replace(grid.scales, scales)
    config.train_config.num_steps = num_steps
    return config


def _replace(container, values) -> None:
    del container[:]
    container.extend(values)


# --------------------------------------------------------------------------------------------
# Choosing runs


def select(runs: Sequence[RunSpec], only: Sequence[str]) -> list[RunSpec]:
    """The runs whose name matches any of ``only`` (all runs when ``only`` is empty).

    A pattern with ``*``, ``?`` or ``[`` is a glob over the whole name; any other pattern matches
    as a substring. Comma-separated patterns in one string count as several. Raises ValueError
    when a pattern matches no run (a typo would otherwise drop runs silently).
    """
    if isinstance(only, str):
        only = [only]
    patterns = [p.strip() for item in only for p in item.split(",") if p.strip()]
    if not patterns:
        return list(runs)
    unmatched = [p for p in patterns if not any(_matches(run.name, p) for run in runs)]
    if unmatched:
        names = [run.name for run in runs]
        shown = ", ".join(names[:3]) + (", ..." if len(names) > 3 else "")
        raise ValueError(
            f"--only {', '.join(repr(p) for p in unmatched)} matches none of the "
            f"{len(names)} runs of the grid ({shown or 'none'})"
        )
    return [run for run in runs if any(_matches(run.name, p) for p in patterns)]


def _matches(name: str, pattern: str) -> bool:
    if any(c in pattern for c in _GLOB_CHARS):
        return fnmatch.fnmatchcase(name, pattern)
    return pattern in name
