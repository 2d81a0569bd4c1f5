"""Run names, best evaluation per run, and the paper's mean per setting, by hand."""

from __future__ import annotations

import math

import pytest

from object_detection.evaluation import aggregate, metric_names, results_log
from object_detection.evaluation.results_log import Evaluation
from object_detection.run_names import (
    Setting,
    format_run_name,
    parse_run_name,
    run_order,
)

MASK50 = metric_names.BEST_METRIC
BOX_MAP = metric_names.BOXES + "Precision/mAP"
SCALES = (0.25, 0.5, 1.0, 2.0)


def test_run_names_round_trip_like_the_published_code():
    name = format_run_name("1st", "separated", 8, [0.25, 0.5, 1, 2])
    assert name == "1st_run_separated_stride8_0.25_0.5_1.0_2.0"
    parsed = parse_run_name(name)
    assert parsed.run == "1st"
    assert parsed.setting == Setting("separated", 8, SCALES)
    mixed = parse_run_name("5th_run_separated_mixed_stride16_0.06125_0.125_0.25_0.5")
    assert mixed.run == "5th"
    assert mixed.setting == Setting("separated_mixed", 16, (0.06125, 0.125, 0.25, 0.5))
    assert mixed.setting.label() == "separated_mixed, stride 16, scales 0.06125, 0.125, 0.25, 0.5"
    other = parse_run_name("quickstart")
    assert other.run == "quickstart" and other.setting == Setting("quickstart")
    assert sorted(["10th", "2nd", "1st", "3rd"], key=run_order) == ["1st", "2nd", "3rd", "10th"]
    with pytest.raises(ValueError, match="without '_'"):
        format_run_name("1st_a", "real", 8, SCALES)


def test_paper_mean_drops_highest_and_lowest_from_three_runs_on():
    mean, std, used = aggregate.paper_mean([0.1, 0.2, 0.3, 0.4, 0.9])
    assert (mean, used) == (pytest.approx(0.3), 3)
    assert std == pytest.approx(0.1)  # sample std of 0.2, 0.3, 0.4
    mean, std, used = aggregate.paper_mean([1.0, 0.1, 0.4, 0.2])
    assert (mean, used) == (pytest.approx(0.3), 2)
    assert std == pytest.approx(math.sqrt(0.02))
    assert aggregate.paper_mean([0.2, 0.6])[:2] == (pytest.approx(0.4), pytest.approx(
        math.sqrt(0.08)))
    assert aggregate.paper_mean([0.7]) == (0.7, None, 1)
    # -1 (undefined), NaN and missing values are left out; none left: None.
    assert aggregate.paper_mean([-1.0, float("nan"), None, 0.5]) == (0.5, None, 1)
    assert aggregate.paper_mean([-1.0, -1.0]) == (None, None, 0)


def test_best_evaluation_takes_the_highest_metric_earliest_on_ties():
    history = [Evaluation(100, {MASK50: 0.3, BOX_MAP: 0.9}), Evaluation(200, {MASK50: 0.7}),
               Evaluation(300, {MASK50: 0.7, BOX_MAP: 0.1}), Evaluation(400, {MASK50: 0.5})]
    assert aggregate.best_evaluation(history, MASK50).step == 200
    assert aggregate.best_evaluation(history, BOX_MAP).step == 100
    assert aggregate.best_evaluation(history, "absent") is None


def write_run(log_dir, run, dataset, scales, mask50_by_step, box_map=0.5):
    folder = log_dir / format_run_name(run, dataset, 8, scales)
    for step, value in mask50_by_step.items():
        results_log.append_evaluation(str(folder), step, {MASK50: value, BOX_MAP: box_map})
    return folder


def test_collect_and_summarize_runs(tmp_path, caplog):
    best = {"1st": 0.1, "2nd": 0.2, "3rd": 0.3, "4th": 0.4, "5th": 0.9}
    for i, (run, value) in enumerate(best.items()):
        # The best is not the last evaluation; its box mAP differs from the others'.
        write_run(tmp_path, run, "separated", SCALES,
                  {100: value / 2, 200: value, 300: value / 3}, box_map=0.1 * (i + 1))
    write_run(tmp_path / "nested", "1st", "real", (0.5, 1.0), {100: 0.6, 200: 0.8})
    write_run(tmp_path, "2nd", "real", (0.5, 1.0), {100: 0.2})
    empty = tmp_path / "3rd_run_real_stride8_0.5_1.0"
    empty.mkdir()
    (empty / results_log.EVALUATIONS_FILE).write_text("")
    with caplog.at_level("WARNING"):
        collection = aggregate.collect_runs(str(tmp_path))
    assert collection.skipped == [("3rd_run_real_stride8_0.5_1.0", "no evaluations")]
    assert "no evaluations" in caplog.text
    assert len(collection.runs) == 7
    assert all(r.best.step == 200 for r in collection.runs if r.setting.dataset == "separated")

    summaries = aggregate.summarize(collection.runs)
    assert [s.setting for s in summaries] == [Setting("real", 8, (0.5, 1.0)),
                                              Setting("separated", 8, SCALES)]
    real, separated = summaries
    assert [r.run for r in separated.runs] == ["1st", "2nd", "3rd", "4th", "5th"]
    assert separated.mean[MASK50] == pytest.approx(0.3)
    assert separated.std[MASK50] == pytest.approx(0.1)
    assert separated.values_used[MASK50] == 3
    # Box mAP of the chosen evaluations: 0.1 ... 0.5 -> middle three 0.2, 0.3, 0.4.
    assert separated.mean[BOX_MAP] == pytest.approx(0.3)
    assert [r.run for r in real.runs] == ["1st", "2nd"]
    assert real.runs[0].folder == "nested/1st_run_real_stride8_0.5_1.0"
    assert real.mean[MASK50] == pytest.approx(0.5)      # plain mean of 0.8 and 0.2
    assert real.std[MASK50] == pytest.approx(math.sqrt(0.18))
    mask_large = metric_names.MASKS + "Precision/mAP (large)"
    assert separated.mean[mask_large] is None and separated.values_used[mask_large] == 0

    by_box = aggregate.collect_runs(str(tmp_path), metric=BOX_MAP)
    assert {r.best.step for r in by_box.runs} == {100}  # all equal: the earliest


def test_collect_runs_of_a_missing_folder(tmp_path):
    with pytest.raises(FileNotFoundError, match="no such folder"):
        aggregate.collect_runs(str(tmp_path / "absent"))
    assert aggregate.collect_runs(str(tmp_path)).runs == []
