"""The runs of an experiment grid to export: each run's folder and its export folder.

A grid's runs are found as for training (``training.run_specs.grid_runs``: the grid read and
checked, expanded in its order and selected by ``--only`` patterns), in the grid's
``output_dir`` or the folder given; each is exported into ``OUTPUT_DIR/<run name>/``.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Sequence
from pathlib import Path

from object_detection.training import run_specs


@dataclasses.dataclass(frozen=True)
class RunExport:
    """One run to export: its name, its run folder and the folder to export it into."""

    name: str
    run_dir: Path
    output_dir: Path


def grid_exports(experiment_path: str | os.PathLike, output_dir: str | os.PathLike,
                 runs_dir: str | None = None, only: Sequence[str] = ()) -> list[RunExport]:
    """The selected runs of the grid at ``experiment_path``, found in ``runs_dir`` (default:
    the grid's ``output_dir``), each to be exported into ``output_dir/<run name>``."""
    runs, _ = run_specs.grid_runs(experiment_path, only=only, output_dir=runs_dir)
    return [RunExport(run.name, run.run_dir, Path(output_dir) / run.name) for run in runs]
