"""Loading TF1 name-based checkpoints (slim / OD API) into variables, name by name.

Generic: the caller gives ``{checkpoint name -> variable}`` (a ``tf.Variable`` or a Keras
variable); each variable whose name is in the checkpoint with the same shape gets the stored
value, the others keep their initial values ("start fresh") and are reported with the reason.
Feature extractors build their maps with ``checkpoint_variable_map(layout)``; heads build their
own (e.g. "FirstStageBoxPredictor/...") and use the same loader.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import tensorflow as tf

logger = logging.getLogger(__name__)

SHAPE_MISMATCH = "shape mismatch"
DTYPE_MISMATCH = "dtype mismatch"
MISSING = "missing in checkpoint"


@dataclass(frozen=True)
class SkippedVariable:
    """A variable left at its initial value: checkpoint name, reason, both shapes."""

    name: str
    reason: str
    checkpoint_shape: tuple[int, ...] | None
    variable_shape: tuple[int, ...]

    def describe(self) -> str:
        if self.reason == SHAPE_MISMATCH:
            return (f"{self.name}: checkpoint {list(self.checkpoint_shape)} vs model "
                    f"{list(self.variable_shape)}")
        return self.name


@dataclass
class RestoreReport:
    """What :func:`load_slim_checkpoint` did with one checkpoint."""

    checkpoint: str
    restored: list[str] = field(default_factory=list)
    skipped: list[SkippedVariable] = field(default_factory=list)
    unused: list[str] = field(default_factory=list)  # checkpoint entries nobody asked for

    def skipped_for(self, reason: str) -> list[SkippedVariable]:
        return [s for s in self.skipped if s.reason == reason]

    @property
    def shape_mismatches(self) -> list[SkippedVariable]:
        return self.skipped_for(SHAPE_MISMATCH)

    @property
    def missing(self) -> list[str]:
        return [s.name for s in self.skipped_for(MISSING)]

    @property
    def fresh(self) -> list[str]:
        """Names of the variables that start fresh (every skipped one)."""
        return [s.name for s in self.skipped]

    def summary(self, max_names: int = 10) -> str:
        """A few readable lines: counts, then up to ``max_names`` names per kind of skip."""
        total = len(self.restored) + len(self.skipped)
        lines = [f"restored {len(self.restored)} of {total} variables from {self.checkpoint}"]
        for reason in (SHAPE_MISMATCH, DTYPE_MISMATCH, MISSING):
            items = self.skipped_for(reason)
            if items:
                lines.append(f"{len(items)} {reason}, starting fresh:")
                lines.extend(f"  {s.describe()}" for s in items[:max_names])
                if len(items) > max_names:
                    lines.append(f"  ... and {len(items) - max_names} more")
        if self.unused:
            lines.append(f"{len(self.unused)} checkpoint entries not used")
        return "\n".join(lines)


def resolve_checkpoint(path: str | Path) -> str:
    """The checkpoint prefix for ``path``: a prefix ("model.ckpt", "ckpt-5") or a directory
    (its latest checkpoint, else its only ``*.index`` file). FileNotFoundError otherwise."""
    path = Path(path)
    if path.is_dir():
        latest = tf.train.latest_checkpoint(str(path))
        if latest:
            return latest
        indexes = sorted(path.glob("*.index"))
        if len(indexes) == 1:
            return str(indexes[0].with_suffix(""))
        raise FileNotFoundError(f"{path}: no checkpoint in this directory"
                                + (f" (several: {[p.name for p in indexes]})" if indexes else ""))
    if Path(f"{path}.index").is_file():
        return str(path)
    raise FileNotFoundError(f"{path}: no checkpoint (expected {path}.index)")


def _restore_one(name: str, variable: Any, reader: Any, shapes: Mapping[str, list[int]],
                 dtypes: Mapping[str, tf.DType], report: RestoreReport) -> None:
    variable_shape = tuple(int(d) for d in variable.shape)
    if name not in shapes:
        report.skipped.append(SkippedVariable(name, MISSING, None, variable_shape))
        return
    stored_shape = tuple(int(d) for d in shapes[name])
    if stored_shape != variable_shape:
        report.skipped.append(SkippedVariable(name, SHAPE_MISMATCH, stored_shape,
                                              variable_shape))
        return
    stored_dtype, wanted = dtypes[name], tf.as_dtype(variable.dtype)
    if stored_dtype != wanted and not (stored_dtype.is_floating and wanted.is_floating):
        report.skipped.append(SkippedVariable(name, DTYPE_MISMATCH, stored_shape,
                                              variable_shape))
        return
    variable.assign(tf.cast(reader.get_tensor(name), wanted))
    report.restored.append(name)


def load_slim_checkpoint(checkpoint: str | Path,
                         name_to_variable: Mapping[str, Any]) -> RestoreReport:
    """Assigns each variable the value stored under its checkpoint name.

    Args:
      checkpoint: a TF1 name-based checkpoint prefix or a directory holding one.
      name_to_variable: checkpoint name -> ``tf.Variable`` / Keras variable.

    Returns:
      The report: restored names, skipped ones (shape mismatch with both shapes, dtype
      mismatch, missing in checkpoint) which start fresh, and checkpoint entries not used.
      Floating values are cast to the variable's dtype.
    """
    prefix = resolve_checkpoint(checkpoint)
    try:
        reader = tf.train.load_checkpoint(prefix)
        shapes = reader.get_variable_to_shape_map()
        dtypes = reader.get_variable_to_dtype_map()
    except (tf.errors.OpError, ValueError) as error:
        raise ValueError(f"{prefix}: cannot read the checkpoint ({error})") from error
    report = RestoreReport(checkpoint=prefix)
    for name, variable in name_to_variable.items():
        _restore_one(name, variable, reader, shapes, dtypes, report)
    report.unused = sorted(set(shapes) - set(name_to_variable))
    return report


def log_restore_report(report: RestoreReport, log: logging.Logger | None = None,
                       max_names: int = 10) -> None:
    """Logs ``report.summary()``: INFO when everything was restored, WARNING when something
    starts fresh (and when nothing at all was restored, naming a likely layout mix-up)."""
    log = log or logger
    level = logging.WARNING if report.skipped else logging.INFO
    log.log(level, "%s", report.summary(max_names))
    if report.skipped and not report.restored:
        log.warning("nothing was restored from %s: do the names match its layout "
                    "(detection 'FirstStageFeatureExtractor/...' vs classification)? e.g. "
                    "wanted %s; it has %s", report.checkpoint, report.skipped[0].name,
                    report.unused[:3])


def detect_layout(checkpoint: str | Path, architecture: str) -> str:
    """"detection" if the checkpoint holds ``FirstStageFeatureExtractor/<architecture>/...``,
    "classification" if it holds ``<architecture>/conv1/weights``; ValueError otherwise."""
    prefix = resolve_checkpoint(checkpoint)
    names = tf.train.load_checkpoint(prefix).get_variable_to_shape_map()
    if any(n.startswith(f"FirstStageFeatureExtractor/{architecture}/") for n in names):
        return "detection"
    if f"{architecture}/conv1/weights" in names:
        return "classification"
    raise ValueError(f"{prefix}: holds no {architecture} variables in either the detection "
                     f"or the classification layout")
