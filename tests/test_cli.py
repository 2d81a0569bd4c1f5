"""cli.error_exit: expected errors end a command with one line naming the path; bugs still
show their traceback; --debug adds the traceback."""

from __future__ import annotations

import errno
import subprocess
import sys
from pathlib import Path

import pytest
import tensorflow as tf

from object_detection import cli

REPO = Path(__file__).resolve().parents[1]


def _command(error: BaseException):
    @cli.error_exit
    def main(argv=None) -> int:
        raise error
    return main


@pytest.mark.parametrize("error, expected", [
    (OSError(errno.ENOSPC, "No space left on device", "runs/x/ckpt-4.index"),
     "error: runs/x/ckpt-4.index: no space left on device"),
    (PermissionError(errno.EACCES, "Permission denied", "/ro/runs"),
     "error: /ro/runs: permission denied"),
    (FileNotFoundError(errno.ENOENT, "No such file or directory", "maps/a.png"),
     "error: maps/a.png: no such file or directory"),
    (OSError(errno.EXDEV, "Invalid cross-device link", "a", None, "b"),
     "error: a -> b: invalid cross-device link"),
    (ValueError("no examples in data/train.tfrecord"),
     "error: no examples in data/train.tfrecord"),
    (tf.errors.DataLossError(None, None, "corrupted record at 12 [Op:IteratorGetNext]"),
     "error: TensorFlow data loss: corrupted record at 12"),
    (tf.errors.ResourceExhaustedError(None, None, "OOM when allocating tensor\nmore"),
     "error: TensorFlow resource exhausted: OOM when allocating tensor"),
])
def test_expected_errors_print_one_line(capsys, error, expected):
    assert _command(error)([]) == cli.ERROR_EXIT
    err = capsys.readouterr().err.splitlines()
    assert err[0] == expected
    assert "Traceback" not in "\n".join(err)


def test_debug_adds_the_traceback(capsys):
    main = _command(ValueError("bad thing in x.json"))
    assert main(["--debug"]) == cli.ERROR_EXIT
    err = capsys.readouterr().err
    assert "Traceback (most recent call last)" in err
    assert err.rstrip().splitlines()[-1] == "error: bad thing in x.json"


def test_bugs_are_not_hidden():
    with pytest.raises(KeyError):
        _command(KeyError("a bug"))([])


def test_ctrl_c_is_a_clean_stop(capsys):
    assert _command(KeyboardInterrupt())([]) == cli.INTERRUPTED_EXIT
    assert capsys.readouterr().err.splitlines()[0] == "error: interrupted"


SCRIPTS = ["train_and_eval.py", "coco_metrics.py", "convert_model.py", "evaluation.py",
           "create_mask_tf_record.py", "generate_synthetic_maps.py",
           "extract_characters_for_animation.py", "extract_characters_for_training.py"]


@pytest.mark.parametrize("script", SCRIPTS)
def test_every_command_line_has_debug_and_the_error_exit(script):
    text = (REPO / script).read_text(encoding="utf-8")
    assert "@cli.error_exit\ndef main(" in text
    help_text = subprocess.run([sys.executable, script, "--help"], cwd=REPO, check=True,
                               capture_output=True, text=True).stdout
    assert "--debug" in help_text


def test_the_folder_commands_thresholds_default_to_the_detections_constants():
    import argparse

    from object_detection.core.detections import DEFAULT_MASK_THRESHOLD, DEFAULT_SCORE_THRESHOLD
    parser = argparse.ArgumentParser()
    cli.add_threshold_arguments(parser, score_help="keep the detections scoring above this")
    args = parser.parse_args([])
    assert (args.score_threshold, args.mask_threshold, args.batch_size) == (
        DEFAULT_SCORE_THRESHOLD, DEFAULT_MASK_THRESHOLD, 1)
    assert f"(default {DEFAULT_MASK_THRESHOLD})" in parser.format_help()
    assert cli.check_run_options(args.score_threshold, args.mask_threshold, 1) is None
    assert cli.check_run_options(0.3, 1.0) == ("--mask_threshold must be at least 0 and below 1, "
                                               "got 1.0")
