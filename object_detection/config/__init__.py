"""Read, override, validate and write pipeline configs.

A pipeline config is a text-format ``TrainEvalPipelineConfig`` (``protos/pipeline.proto``), the
same schema and file format as the TF Object Detection API. This package is the only place that
parses or prints one:

* ``load_pipeline_config`` / ``parse_pipeline_config`` read text; any typo, unknown field, wrong
  type or bad enum value raises ``ConfigError`` naming the file, line, column and field path.
* ``apply_overrides`` sets fields from ``PATH=VALUE`` strings, e.g.
  ``model.faster_rcnn.num_classes=1`` or ``eval_input_reader[0].shuffle=false``.
* ``validate`` checks meaning (counts >= 1, masks consistent, inputs present on disk).
* ``write_pipeline_config`` / ``config_to_text`` print text that reads back to an equal message.

Modules: ``errors`` (ConfigError, located parse errors), ``reading`` (text in and out),
``overrides``, ``checks`` (``validate``, ``predicts_masks``), ``supported`` (the one table of
what the model supports, read by the checks, the model builder and the evaluation), ``diff``
(``message_differences``: the fields where two messages differ).
"""

from __future__ import annotations

from object_detection.config.checks import predicts_masks, validate
from object_detection.config.errors import ConfigError
from object_detection.config.overrides import apply_overrides
from object_detection.config.reading import (
    config_to_text,
    load_pipeline_config,
    parse_pipeline_config,
    parse_text,
    write_pipeline_config,
)

__all__ = [
    "ConfigError",
    "apply_overrides",
    "config_to_text",
    "load_pipeline_config",
    "parse_pipeline_config",
    "parse_text",
    "predicts_masks",
    "validate",
    "write_pipeline_config",
]
