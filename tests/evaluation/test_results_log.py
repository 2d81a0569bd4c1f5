"""The JSON-lines evaluation log: round trip, crash leftovers, bad lines."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest

from object_detection.evaluation import results_log


def test_round_trip(tmp_path):
    run_dir = tmp_path / "runs" / "1st_run_real_stride8_0.25"
    path = results_log.append_evaluation(str(run_dir), 100, {"a": 0.5, "b": 1}, "ckpt-1",
                                         wall_time=1000.0)
    results_log.append_evaluation(str(run_dir), 200, {"a": float("nan")}, None, wall_time=2000.5)
    assert path == str(run_dir / results_log.EVALUATIONS_FILE)
    evaluations = results_log.read_evaluations(str(run_dir))
    assert [e.step for e in evaluations] == [100, 200]
    assert evaluations[0] == results_log.Evaluation(100, {"a": 0.5, "b": 1.0}, "ckpt-1", 1000.0)
    assert math.isnan(evaluations[1].metrics["a"]) and evaluations[1].checkpoint is None
    lines = Path(path).read_text().splitlines()
    assert len(lines) == 2
    record = json.loads(lines[0])
    assert record["time"] == "1970-01-01T00:16:40+00:00"
    assert [e.step for e in results_log.read_evaluations(path)] == [100, 200]  # the file itself
    assert results_log.evaluated_steps(str(run_dir)) == {100, 200}


def test_missing_log_reads_empty(tmp_path):
    assert results_log.read_evaluations(str(tmp_path)) == []
    assert results_log.evaluated_steps(str(tmp_path / "nothing")) == set()


def test_truncated_last_line_is_ignored_then_cut_by_the_next_append(tmp_path, caplog):
    path = results_log.append_evaluation(str(tmp_path), 1, {"m": 0.1})
    results_log.append_evaluation(str(tmp_path), 2, {"m": 0.2})
    with open(path, "a") as f:
        f.write('{"step": 3, "metrics": {"m": 0.')  # a crash in the middle of a write
    with caplog.at_level("WARNING"):
        assert [e.step for e in results_log.read_evaluations(str(tmp_path))] == [1, 2]
    assert "line 3" in caplog.text and path in caplog.text
    caplog.clear()
    with caplog.at_level("WARNING"):
        results_log.append_evaluation(str(tmp_path), 3, {"m": 0.3})
    assert "truncated last line" in caplog.text
    lines = Path(path).read_text().split("\n")
    assert lines[-1] == "" and len(lines) == 4
    assert all(json.loads(line)["step"] == i for i, line in enumerate(lines[:3], start=1))
    assert [e.metrics["m"] for e in results_log.read_evaluations(path)] == [0.1, 0.2, 0.3]


def test_bad_line_in_the_middle_names_file_and_line(tmp_path):
    path = tmp_path / results_log.EVALUATIONS_FILE
    path.write_text('{"step": 1, "metrics": {}}\nnot json\n{"step": 2, "metrics": {}}\n')
    with pytest.raises(ValueError, match=rf"{path.name}, line 2"):
        results_log.read_evaluations(str(tmp_path))
    path.write_text('{"step": 1}\n{"step": 2, "metrics": {}}\n')
    with pytest.raises(ValueError, match="line 1: not an evaluation record"):
        results_log.read_evaluations(str(path))


def test_latest_per_step_keeps_the_last_and_sorts():
    E = results_log.Evaluation
    evaluations = [E(200, {"m": 0.1}), E(100, {"m": 0.2}), E(200, {"m": 0.3})]
    assert results_log.latest_per_step(evaluations) == [E(100, {"m": 0.2}), E(200, {"m": 0.3})]
