"""The progress line: interval means and speed on a fake clock, durations, the line's text."""

from __future__ import annotations

import pytest

from object_detection.training.progress import (ProgressMeter, ProgressReport, format_duration,
                                                format_progress)


class _Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_reports_every_n_steps_with_interval_means_and_speed():
    clock = _Clock()
    meter = ProgressMeter(total_steps=10, every_n_steps=2, clock=clock)
    clock.now += 1.0
    assert meter.update(1, {"Loss/total_loss": 1.0}) is None
    clock.now += 3.0
    report = meter.update(2, {"Loss/total_loss": 3.0})
    assert report == ProgressReport(2, 10, {"Loss/total_loss": 2.0}, 0.5)  # 2 steps in 4 s
    assert report.seconds_left == pytest.approx(16.0)                     # 8 steps at 0.5/s
    clock.now += 0.5
    report = meter.update(3, {"Loss/total_loss": 5.0}, force=True)        # the interval restarted
    assert report.losses == {"Loss/total_loss": 5.0} and report.steps_per_sec == 2.0


def test_restart_leaves_paused_time_out():
    clock = _Clock()
    meter = ProgressMeter(total_steps=4, every_n_steps=1, clock=clock)
    clock.now += 60.0  # e.g. an evaluation
    meter.restart()
    clock.now += 0.25
    assert meter.update(1, {}).steps_per_sec == 4.0


@pytest.mark.parametrize("seconds, text", [(0.4, "0s"), (42, "42s"), (81, "1m21s"),
                                           (3725, "1h02m"), (float("inf"), "?")])
def test_format_duration(seconds, text):
    assert format_duration(seconds) == text


def test_the_line_shows_step_losses_speed_and_time_left():
    losses = {"Loss/total_loss": 0.8123, "Loss/RPNLoss/localization_loss": 0.0411,
              "Loss/BoxClassifierLoss/mask_loss": 0.339}
    line = format_progress(ProgressReport(500, 1500, losses, 12.34))
    assert line == ("step  500/1500  loss 0.8123 (rpn loc 0.0411 mask 0.3390)  12.34 steps/s  "
                    "1m21s left")


def test_every_n_steps_must_be_positive():
    with pytest.raises(ValueError, match="every_n_steps must be >= 1"):
        ProgressMeter(10, 0)
