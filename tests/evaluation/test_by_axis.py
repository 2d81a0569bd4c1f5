"""coco_metrics.py --by AXIS: runs grouped by the value of one axis over all settings, the
paper's mean and std per value checked by hand, the table, JSON and CSV, and the plot."""

from __future__ import annotations

import csv
import json
import math

import pytest

import coco_metrics
from object_detection.evaluation import aggregate, metric_names, results_log
from object_detection.run_names import Setting, format_run_name
from tests.cli.conftest import error_line

BOX_MAP, BOX_50, MASK_MAP, MASK_50 = metric_names.names(("Precision/mAP",
                                                          "Precision/mAP@.50IOU"))
SCALES = (0.125, 0.25, 0.5, 1.0)

# Best mask mAP@.50 of each run: {(lr, wd): [1st, 2nd, 3rd]}; lr 0.1 has two runs only.
BEST = {("0.01", "0"): [0.50, 0.60, 0.70], ("0.01", "0.0001"): [0.40, 0.80, 0.65],
        ("0.001", "0"): [0.30, 0.20, 0.10], ("0.001", "0.0001"): [0.35, 0.25, 0.45],
        ("0.1", "0"): [0.90, 0.70]}


def _metrics(mask50: float) -> dict[str, float]:
    """The evaluation of a run whose mask mAP@.50 is ``mask50``; box mAP@.50 is undefined (-1)
    where mask50 is 0.8, so that value's mean of it averages the others."""
    return {MASK_50: mask50, MASK_MAP: mask50 / 2, BOX_MAP: 1 - mask50,
            BOX_50: -1.0 if mask50 == 0.8 else mask50 + 0.1}


@pytest.fixture
def log_dir(tmp_path):
    for (lr, wd), values in BEST.items():
        for run, value in zip(("1st", "2nd", "3rd"), values):
            name = format_run_name(run, "synthetic", 8, SCALES, (("lr", lr), ("wd", wd)))
            folder = str(tmp_path / "runs" / name)
            # The best evaluation is the first; the later one is worse by mask mAP@.50 but
            # better by every other metric, which must not be taken.
            results_log.append_evaluation(folder, 150, _metrics(value), "ckpt-150")
            later = {m: 0.99 for m in _metrics(value)}
            results_log.append_evaluation(folder, 300, {**later, MASK_50: value - 0.05})
    return tmp_path / "runs"


def test_runs_are_grouped_by_each_value_over_all_settings(log_dir):
    runs = aggregate.collect_runs(str(log_dir)).runs
    assert aggregate.axes_found(runs) == ["dataset", "stride", "scales", "lr", "wd"]
    by = aggregate.summarize_by(runs, "lr")
    assert [(v.value, len(v.runs), v.settings) for v in by] == [
        ("0.001", 6, 2), ("0.01", 6, 2), ("0.1", 2, 1)]
    lr001 = by[1]
    # 0.40 0.50 0.60 0.65 0.70 0.80: 6 runs, the highest and the lowest dropped.
    assert lr001.mean[MASK_50] == pytest.approx((0.50 + 0.60 + 0.65 + 0.70) / 4)     # 0.6125
    deviations = [v - 0.6125 for v in (0.50, 0.60, 0.65, 0.70)]
    assert lr001.std[MASK_50] == pytest.approx(math.sqrt(sum(d * d for d in deviations) / 3))
    assert lr001.values_used[MASK_50] == 4
    assert lr001.mean[MASK_MAP] == pytest.approx(0.6125 / 2)
    assert lr001.mean[BOX_MAP] == pytest.approx(1 - 0.6125)
    # Box mAP@.50 (mask mAP@.50 + 0.1): undefined in 0.8's run; of the other five
    # (0.5 0.6 0.7 0.75 0.8) the middle three.
    assert lr001.mean[BOX_50] == pytest.approx((0.6 + 0.7 + 0.75) / 3)
    assert lr001.values_used[BOX_50] == 3
    # Two runs: the plain mean and the sample std of both.
    lr01 = by[2]
    assert lr01.mean[MASK_50] == pytest.approx(0.8)
    assert lr01.std[MASK_50] == pytest.approx(math.sqrt(0.02))
    assert lr01.values_used[MASK_50] == 2

    by_wd = aggregate.summarize_by(runs, "wd")
    assert [(v.value, len(v.runs), v.settings) for v in by_wd] == [("0", 8, 3),
                                                                    ("0.0001", 6, 2)]
    # wd 0: 0.1 0.2 0.3 0.5 0.6 0.7 0.7 0.9 -> 0.2 ... 0.7 (six values).
    assert by_wd[0].mean[MASK_50] == pytest.approx((0.2 + 0.3 + 0.5 + 0.6 + 0.7 + 0.7) / 6)
    (everything,) = aggregate.summarize_by(runs, "dataset")
    assert (everything.value, len(everything.runs), everything.settings) == ("synthetic", 14, 5)
    with pytest.raises(ValueError, match="no run has the axis 'aug'"):
        aggregate.summarize_by(runs, "aug")


def test_settings_include_the_axes(log_dir):
    summaries = aggregate.summarize(aggregate.collect_runs(str(log_dir)).runs)
    assert [s.setting.axes for s in summaries] == [
        (("lr", "0.001"), ("wd", "0")), (("lr", "0.001"), ("wd", "0.0001")),
        (("lr", "0.01"), ("wd", "0")), (("lr", "0.01"), ("wd", "0.0001")),
        (("lr", "0.1"), ("wd", "0"))]
    assert summaries[3].setting == Setting("synthetic", 8, SCALES,
                                           (("lr", "0.01"), ("wd", "0.0001")))
    assert summaries[3].mean[MASK_50] == pytest.approx(0.65)   # 0.40 0.65 0.80: the middle


def test_coco_metrics_by_prints_the_table_and_writes_the_plot(log_dir, tmp_path, capsys):
    out = tmp_path / "out"
    argv = ["--log_dir", str(log_dir), "--by", "lr", "--json", str(out / "r.json"),
            "--csv", str(out / "r.csv")]
    assert coco_metrics.main(argv) == 0
    printed = capsys.readouterr().out
    assert "synthetic, stride 8, scales 0.125, 0.25, 0.5, 1.0, lr 0.01, wd 0.0001" in printed
    lines = printed.splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith("By lr: "))
    assert lines[start + 1].startswith("mean: with 3 or more runs the highest and the lowest")
    assert lines[start + 2].startswith("std: sample standard deviation (n - 1)")
    header = lines[start + 4].split()
    assert header[:3] == ["lr", "runs", "settings"]
    assert " ".join(header[3:]) == "box mAP box @.50 mask mAP mask @.50"
    rows = {line.split()[0]: line for line in lines[start + 5:start + 8]}
    assert list(rows) == ["0.001", "0.01", "0.1"]
    std = 100 * math.sqrt(sum((v - 0.6125) ** 2 for v in (0.5, 0.6, 0.65, 0.7)) / 3)
    assert rows["0.01"].split()[1:3] == ["6", "2"]
    assert rows["0.01"].endswith(f"61.25 ± {std:.2f}")
    assert f"38.75 ± {std:.2f}" in rows["0.01"]                     # box mAP = 1 - mask @.50
    assert rows["0.1"].endswith(f"80.00 ± {100 * math.sqrt(0.02):.2f}")
    plot = log_dir / "by_lr.png"
    assert f"wrote {plot}" in printed
    png = plot.read_bytes()
    assert png.startswith(b"\x89PNG\r\n\x1a\n") and len(png) > 10_000

    report = json.loads((out / "r.json").read_text())
    assert report["by"]["axis"] == "lr"
    assert report["by"]["metrics"] == [BOX_MAP, BOX_50, MASK_MAP, MASK_50]
    value = report["by"]["values"][1]
    assert (value["value"], value["settings"], len(value["runs"])) == ("0.01", 2, 6)
    assert value["mean"][MASK_50] == pytest.approx(0.6125)
    assert value["values_averaged"] == {BOX_MAP: 4, BOX_50: 3, MASK_MAP: 4, MASK_50: 4}
    assert report["settings"][0]["axes"] == {"lr": "0.001", "wd": "0"}
    rows = list(csv.DictReader((out / "r.csv").read_text().splitlines()))
    assert list(rows[0])[:7] == ["dataset", "stride", "scales", "lr", "wd", "row", "folder"]
    assert (rows[0]["lr"], rows[0]["wd"], rows[0]["row"]) == ("0.001", "0", "1st")


def test_by_a_built_in_axis_and_another_plot_path(log_dir, tmp_path, capsys):
    plot = tmp_path / "plots" / "stride.png"
    argv = ["--log_dir", str(log_dir), "--by", "stride", "--by_plot", str(plot)]
    assert coco_metrics.main(argv) == 0
    printed = capsys.readouterr().out
    row = next(line for line in printed.splitlines() if line.startswith("8 "))
    assert row.split()[1:3] == ["14", "5"]
    assert f"wrote {plot}" in printed and plot.read_bytes().startswith(b"\x89PNG")


def test_an_unknown_axis_is_one_sentence_naming_the_axes_found(log_dir, capsys):
    assert coco_metrics.main(["--log_dir", str(log_dir), "--by", "lrr"]) == 1
    assert error_line(capsys.readouterr().err) == (
        f"error: --by lrr: the runs under {log_dir} have no axis of that name; the axes found "
        "are dataset, stride, scales, lr, wd.")
    assert not (log_dir / "by_lrr.png").exists()
    assert coco_metrics.main(["--log_dir", str(log_dir), "--by_plot", "x.png"]) == 1
    assert error_line(capsys.readouterr().err) == "error: --by_plot needs --by AXIS"


def test_runs_without_the_axis_are_left_out_and_counted(log_dir, capsys):
    old = format_run_name("1st", "synthetic", 8, SCALES)            # a run of an older grid
    results_log.append_evaluation(str(log_dir / old), 150, _metrics(0.5))
    assert coco_metrics.main(["--log_dir", str(log_dir), "--by", "wd"]) == 0
    printed = capsys.readouterr().out
    assert "left out 1 run(s) without the axis wd" in printed
