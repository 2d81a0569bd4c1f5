"""benchmarks/compare_revisions.py: the working tree's benchmark times a git revision's
package (exported to a temporary folder, removed afterwards) and the working tree's, and the
speed-ups are the ratios of their times, plain and probe-normalized."""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys
from pathlib import Path

import pytest

from tests.export.conftest import QUICKSTART, REPO, TINY_OVERRIDES


def _load():
    name = "benchmarks_compare_revisions"
    spec = importlib.util.spec_from_file_location(
        name, REPO / "benchmarks" / "compare_revisions.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


def _head() -> str:
    return subprocess.run(["git", "rev-parse", "HEAD"], cwd=REPO, capture_output=True,
                          text=True, check=True).stdout.strip()


def _has_stages(commit: str) -> bool:
    source = subprocess.run(
        ["git", "show", f"{commit}:object_detection/meta_architectures/mask_rcnn.py"],
        cwd=REPO, capture_output=True, text=True, check=True).stdout
    return "def predict_first_stage" in source and "def predict_second_stage" in source


@pytest.mark.slow
def test_head_against_the_working_tree(tmp_path, capsys):
    compare = _load()
    head = _head()
    overrides = [f"--override={o}" for o in TINY_OVERRIDES]
    report_path = tmp_path / "compare.json"
    assert compare.main(["--rev", head, "--config", str(QUICKSTART.relative_to(REPO)),
                         "--size", "64x64", "--steps", "1", *overrides,
                         "--json", str(report_path)]) == 0
    out = capsys.readouterr().out
    assert "speed-up" in out and "probe-normalized" in out
    report = json.loads(report_path.read_text(encoding="utf-8"))
    assert report["commit"] == head and not Path(report["exported_to"]).exists()
    old, new = report["summaries"]
    short = old["label"].split()[0]
    assert head.startswith(short) and old["label"] == f"{short} float32"
    assert (old["kind"], old["precision"], new["kind"], new["precision"]) == (
        "old", "float32", "new", "float32")
    assert new["label"] == "working tree float32" and new["label"] in out
    # each run imported its own package: the export for the revision, the working tree's
    old_run, new_run = report["runs"][old["label"]][0], report["runs"][new["label"]][0]
    exported = Path(report["exported_to"]).resolve() / "object_detection"
    assert old_run["package"] == str(exported)
    assert new_run["package"] == str((REPO / "object_detection").resolve())
    assert old_run["stages"] == _has_stages(head) and new_run["stages"] is True
    for run in (old_run, new_run):
        assert run["detections_per_image"] == 5.0 and run["precision"] == "float32"
    ratios = report["ratios"]["float32"]
    for key in ("inference", "training", "inference_normalized", "training_normalized"):
        assert ratios[key] > 0
    assert ratios["inference"] == pytest.approx(old["inference"] / new["inference"])


def test_speed_ups_are_time_ratios_and_normalized_by_the_probes():
    compare = _load()

    def run(inference, training, probe_inference, probe_training, stages):
        timings = {"inference": {"seconds_per_image": inference},
                   "training_step": {"seconds_per_call": training,
                                     "seconds_per_image": training / 2}}
        if stages:
            for key, _ in compare.STAGES:
                timings[key] = {"seconds_per_image": inference / 3}
        return {"timings": timings, "stages": stages, "detections_per_image": 30.0,
                "probe": {"gflop_per_second": {"before_inference": probe_inference,
                                               "before_training": probe_training,
                                               "after_training": probe_training}}}

    old = compare.Variant("abc float32", "old", Path("/old"), "float32",
                          [run(2.0, 8.0, 100.0, 100.0, False),
                           run(4.0, 8.0, 50.0, 50.0, False),
                           run(2.0, 6.0, 100.0, 100.0, False)])
    new = compare.Variant("working tree float32", "new", Path("/new"), "float32",
                          [run(1.0, 4.0, 200.0, 100.0, True)])
    old_summary, new_summary = compare.summarize(old), compare.summarize(new)
    assert (old_summary["inference"], old_summary["training"]) == (2.0, 8.0)   # medians
    assert old_summary["inference_normalized"] == 200.0 and not old_summary["stages"]
    ratios = compare.speedups(old_summary, new_summary)
    assert (ratios["inference"], ratios["training"]) == (2.0, 2.0)
    # the new run had a machine twice as fast at inference: normalized, no speed-up there;
    # training: medians of time x probe, 600 (800, 400, 600) against 400
    assert ratios["inference_normalized"] == 1.0 and ratios["training_normalized"] == 1.5
    assert ratios["first_stage"] is None
    table = compare.format_report([old_summary, new_summary], {"float32": ratios}, 1)
    assert "inference 2.00x (1.00x), training 2.00x (1.50x)" in table


def test_an_unknown_revision_is_refused(capsys):
    compare = _load()
    assert compare.main(["--rev", "no-such-revision-xyz", "--config", str(QUICKSTART),
                         "--size", "64x64"]) == 2
    assert "no-such-revision-xyz" in capsys.readouterr().err
