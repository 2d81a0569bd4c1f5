"""The settings files of a run folder: ``pipeline.config`` and ``run.json``.

``prepare_run_dirs`` / ``write_run_config`` write each run's ``pipeline.config`` (its pipeline
config) and ``run.json`` (the grid settings that are not in the pipeline config,
``RunSpec.info``: run, dataset, stride, scales, seed, steps, the best-checkpoint metric and,
for a grid with axes, each axis's label) and refuse to change them once written, so the results in a folder always
belong to the settings beside them: ``run_dir_conflict`` compares what a folder holds with the
run's settings (``config.diff.message_differences``) and names the first field that differs,
or the settings file that does not read.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Sequence
from pathlib import Path

from object_detection import atomic_files
from object_detection import config as config_lib
from object_detection.config import ConfigError
from object_detection.config.diff import Difference, message_differences
from object_detection.training.experiment import RunSpec

logger = logging.getLogger(__name__)

PIPELINE_CONFIG_NAME = "pipeline.config"
RUN_INFO_NAME = "run.json"


def prepare_run_dirs(runs: Sequence[RunSpec]) -> list[Path]:
    """Writes each run's ``pipeline.config`` and ``run.json`` into its folder; returns the
    pipeline.config paths.

    Files already there are kept when they hold the same settings. When any run folder holds
    different ones, nothing is written and ``ConfigError`` names each such folder and the first
    field that differs: the results there belong to those settings.
    """
    conflicts = [error for run in runs if (error := run_dir_conflict(run)) is not None]
    if conflicts:
        raise ConfigError(
            "\n".join(str(error) for error in conflicts),
            file=conflicts[0].file, field=conflicts[0].field,
        )
    return [write_run_config(run) for run in runs]


def write_run_config(run: RunSpec) -> Path:
    """Writes ``pipeline.config`` and ``run.json`` of one run unless present and the same
    (each atomically: complete or absent); returns the pipeline.config path. Raises
    ``ConfigError`` when they differ or do not read."""
    error = run_dir_conflict(run)
    if error is not None:
        raise error
    config_path = run.run_dir / PIPELINE_CONFIG_NAME
    if not config_path.exists():
        config_lib.write_pipeline_config(run.pipeline_config, config_path)
        logger.info("wrote %s", config_path)
    info_path = run.run_dir / RUN_INFO_NAME
    if not info_path.exists():
        atomic_files.write_json(info_path, run.info(), indent=2)
    return config_path


def run_dir_conflict(run: RunSpec) -> ConfigError | None:
    """A ``ConfigError`` when the run folder holds other settings than ``run``, or settings
    files that do not read (one line each: ``... (truncated or edited?) ...``), else None."""
    advice = (
        "its results belong to those settings; give the grid another output_dir, "
        "or delete the folder to train it anew"
    )
    config_path = run.run_dir / PIPELINE_CONFIG_NAME
    if config_path.exists():
        try:
            text = config_path.read_text(encoding="utf-8")
            existing = (config_lib.parse_pipeline_config(text, source=str(config_path))
                        if text.strip() else None)
        except ValueError as err:   # ConfigError, UnicodeDecodeError
            return _unreadable_error(config_path, "does not parse", err)
        if existing is None:
            return _unreadable_error(config_path, "is empty", None)
        differences = message_differences(existing, run.pipeline_config)
        if differences:
            return _conflict_error(config_path, differences, advice)
    info_path = run.run_dir / RUN_INFO_NAME
    if info_path.exists():
        try:
            existing = json.loads(info_path.read_text(encoding="utf-8"))
        except ValueError as err:
            return _unreadable_error(info_path, "is not valid JSON", err)
        if not isinstance(existing, dict):
            return _unreadable_error(info_path, "is not a JSON object", None)
        wanted = run.info()
        differences = [
            Difference(key, json.dumps(existing.get(key)), json.dumps(wanted.get(key)))
            for key in sorted(set(existing) | set(wanted))
            if existing.get(key) != wanted.get(key)
        ]
        if differences:
            return _conflict_error(info_path, differences, advice)
    return None


def _unreadable_error(path: Path, problem: str, error: BaseException | None) -> ConfigError:
    """``PATH PROBLEM (truncated or edited?): DETAIL; restore it, or delete it ...`` (one line)."""
    lines = str(error or "").strip().splitlines()
    detail = lines[0] if lines else ""
    if detail.startswith(f"{path}:"):                    # FILE:LINE:COLUMN: of a parse error
        detail = "line " + detail[len(f"{path}:"):]
    return ConfigError(
        f"{path} {problem} (truncated or edited?){': ' + detail if detail else ''}; restore "
        "it, or delete it to have it written anew from the current settings",
        file=str(path))


def _conflict_error(path: Path, differences: list[Difference], advice: str) -> ConfigError:
    more = f" (and {len(differences) - 1} more)" if len(differences) > 1 else ""
    return ConfigError(
        f"{path}: written for other settings: {differences[0]}{more}; {advice}",
        file=str(path), field=differences[0].field,
    )
