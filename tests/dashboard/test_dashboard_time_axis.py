"""The over-time charts have a real time axis, and a single instant is a visible step."""

from __future__ import annotations

import re

import pytest

from lamas.dashboard.svg import cumulative_lines


def _points(drawing: str) -> dict[str, float]:
    return {
        found[1]: float(found[0])
        for found in re.findall(
            r'<circle class="point" cx="([\d.]+)"[^>]*data-time="([^"]+)"', drawing
        )
    }


def test_x_is_proportional_to_time() -> None:
    drawing = cumulative_lines(
        {"a": {"2026-12-07T10": 1.0, "2026-12-07T11": 2.0, "2026-12-07T15": 1.0}}
    )
    x = _points(drawing)
    one_hour = x["2026-12-07T11"] - x["2026-12-07T10"]
    assert x["2026-12-07T15"] - x["2026-12-07T11"] == pytest.approx(4 * one_hour, abs=0.5)
    assert 'data-total="4.00"' in drawing  # cumulative: 1 + 2 + 1


def test_one_instant_is_a_step_across_the_axis_not_a_lone_dot() -> None:
    drawing = cumulative_lines({"payouts": {"2026-12-07T10": 5.0}})
    line = re.search(r'points="([^"]+)"', drawing)
    assert line is not None
    xs = [float(pair.split(",")[0]) for pair in line.group(1).split()]
    assert max(xs) - min(xs) >= 500  # the whole axis width
    ticks = re.findall(r'class="tick" data-time="([^"]+)"', drawing)
    assert ticks[0] == "2026-12-07T09:00"
    assert ticks[-1] == "2026-12-07T11:00"


def test_days_are_labelled_as_days() -> None:
    drawing = cumulative_lines({"a": {"2026-12-01": 1.0, "2026-12-07": 1.0}})
    assert ">12-07<" in drawing
    assert ":00<" not in drawing
