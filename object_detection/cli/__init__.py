"""What the command lines at the repository root share, and the bodies they call.

Each script is its argparse parser and one call; the shared pieces:

* ``exits``: the one error exit (``error_exit``, ``fail``, ``DEBUG_FLAG``, ``ERROR_EXIT``,
  ``INTERRUPTED_EXIT``);
* ``flags``: the common flags (``add_debug_flag``, those of the folder commands with
  ``check_run_options`` and ``tile_options``).

The bodies, each taking its script's parsed arguments and returning the exit code:
``train_command`` (``train_and_eval.py``), ``export_command`` (``convert_model.py``),
``metrics_command`` (``coco_metrics.py``) and ``folder_commands`` (``evaluation.py``,
``extract_characters_for_animation.py``, ``extract_characters_for_training.py``). They import
TensorFlow only when they run, so ``--help`` and bad flags answer at once.
"""

from __future__ import annotations

from object_detection.cli.exits import (DEBUG_FLAG, ERROR_EXIT, INTERRUPTED_EXIT, error_exit,
                                        fail)
from object_detection.cli.flags import (add_debug_flag, add_images_argument, add_model_argument,
                                        add_threshold_arguments, add_tile_arguments,
                                        check_run_options, tile_options)

__all__ = ["DEBUG_FLAG", "ERROR_EXIT", "INTERRUPTED_EXIT", "error_exit", "fail",
           "add_debug_flag", "add_images_argument", "add_model_argument",
           "add_threshold_arguments", "add_tile_arguments", "check_run_options",
           "tile_options"]
