"""convert_model.py end to end: a run folder and a grid exported, what it prints, one-sentence
errors with exit status 1, and nothing written outside --output_dir."""

from __future__ import annotations

import os
import shutil

import pytest

import convert_model
from object_detection.export import inference
from object_detection.core.detections import ImageDetections

from tests.cli.conftest import error_line
from tests.export.conftest import LATEST_STEP, QUICKSTART, TINY_MODEL_OVERRIDES, reference_outputs


def _quoted(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _tree(root) -> dict[str, int]:
    """Every file under ``root`` with its size."""
    return {os.path.relpath(os.path.join(d, f), root): os.path.getsize(os.path.join(d, f))
            for d, _, files in os.walk(root) for f in files}


def test_run_folder_latest_checkpoint_encoded_input(tiny_export, tmp_path, capsys):
    run_dir = tiny_export.run_dir
    before = _tree(run_dir)
    out = tmp_path / "exported model"
    code = convert_model.main(["--model_dir", str(run_dir), "--checkpoint", "latest",
                               "--input_type", "encoded_image_string_tensor",
                               "--output_dir", str(out)])
    printed = capsys.readouterr().out
    assert code == 0
    assert f"exported step {LATEST_STEP} (latest" in printed
    for name in ("saved_model", "frozen_inference_graph.pb", "pipeline.config", "checkpoint"):
        assert f"wrote {out / name}\n" in printed
    assert _tree(run_dir) == before  # the run folder is left as it was

    model = inference.load_model(out)
    assert model.input_type == "encoded_image_string_tensor"
    image = tiny_export.image
    reference = reference_outputs(tiny_export.pipeline, tiny_export.checkpoints[LATEST_STEP],
                                  image)
    expected = ImageDetections.from_model_output(reference, 0, *image.shape[:2])
    detections = model.detect(image)
    assert len(detections) == len(expected) > 0
    assert abs(detections.boxes - expected.boxes).max() < 1e-4
    assert abs(detections.scores - expected.scores).max() < 1e-4


@pytest.mark.parametrize("args, message", [
    (["--checkpoint", "newest"],
     "--checkpoint must be best, latest or a step number, got 'newest'"),
    (["--checkpoint", "7"], "no checkpoint of step 7 (steps 10, 20; best: step 10)"),
])
def test_bad_checkpoint_values(tiny_export, tmp_path, capsys, args, message):
    out = tmp_path / "out"
    code = convert_model.main(["--model_dir", str(tiny_export.run_dir), "--output_dir", str(out)]
                              + args)
    err = capsys.readouterr().err
    assert code == 1 and message in error_line(err)
    assert not out.exists()


def test_missing_run_folder_and_run_without_checkpoints(tmp_path, capsys):
    out = tmp_path / "out"
    code = convert_model.main(["--model_dir", str(tmp_path / "nope"), "--output_dir", str(out)])
    err = capsys.readouterr().err
    assert code == 1 and error_line(err) == f"error: run folder not found: {tmp_path / 'nope'}"
    (tmp_path / "empty run").mkdir()
    code = convert_model.main(["--model_dir", str(tmp_path / "empty run"), "--output_dir",
                               str(out)])
    err = capsys.readouterr().err
    assert code == 1 and "empty run: no checkpoint in the run folder" in error_line(err)
    assert not out.exists()


def test_grid_exports_each_run_into_its_own_folder(tiny_export, tmp_path, capsys):
    """A grid of two runs, one trained (the tiny run folder) and one never started: the first
    is exported into OUT/<run name>/, the second reported, exit status 1."""
    runs = tmp_path / "runs"
    grid = tmp_path / "grid.config"
    overrides = "\n".join(f"override: {_quoted(o)}" for o in TINY_MODEL_OVERRIDES)
    grid.write_text(f"""
base_pipeline_config: {_quoted(str(QUICKSTART))}
dataset {{ name: "synthetic" train_input_path: "unused-*.tfrecord" }}
run: "1st"
run: "2nd"
stride: 8
anchor_scales {{ scale: [0.0625, 0.125, 0.25, 0.5] }}
total_steps: 20
output_dir: {_quoted(str(runs))}
{overrides}
""", encoding="utf-8")
    trained = "1st_run_synthetic_stride8_0.0625_0.125_0.25_0.5"
    untrained = "2nd_run_synthetic_stride8_0.0625_0.125_0.25_0.5"
    shutil.copytree(tiny_export.run_dir, runs / trained)
    out = tmp_path / "models"
    code = convert_model.main(["--experiment", str(grid), "--output_dir", str(out)])
    captured = capsys.readouterr()
    assert code == 1
    assert f"[1/2] {trained}" in captured.out and f"[2/2] {untrained}" in captured.out
    assert f"wrote {out / trained / 'frozen_inference_graph.pb'}" in captured.out
    assert sorted(os.listdir(out)) == [trained]
    assert f"run folder not found: {runs / untrained}" in captured.err
    assert f"1 of 2 runs not exported: {untrained}" in captured.err
    assert inference.load_model(out / trained).kind == "saved_model"


def test_help_describes_the_outputs(capsys):
    with pytest.raises(SystemExit) as exit_info:
        convert_model.main(["--help"])
    assert exit_info.value.code == 0
    text = capsys.readouterr().out
    assert "--checkpoint best|latest|STEP" in text and "frozen_inference_graph.pb" in text
