"""The demo's default instruction books days relative to today, never a day already past."""

from __future__ import annotations

import datetime as dt
import re

import pytest

from lamas.cli.demo import TRAVEL_DAYS_AHEAD, default_instruction
from lamas.errors import ConfigError


def _booked_day(text: str, today: dt.date) -> dt.date:
    found = re.search(r"on (\w+) (\d+)(?:, (\d{4}))? in the morning", text)
    assert found is not None, text
    month, day, year = found.groups()
    number = dt.datetime.strptime(month, "%B").month
    return dt.date(int(year) if year else today.year, number, int(day))


@pytest.mark.parametrize(
    "today", [dt.date(2026, 11, 25), dt.date(2027, 3, 1), dt.date(2026, 12, 28)]
)
def test_the_travel_default_books_days_after_today(today: dt.date) -> None:
    booked = _booked_day(default_instruction("travel", today), today)
    assert booked == today + dt.timedelta(days=TRAVEL_DAYS_AHEAD)
    assert booked > today


def test_a_date_next_year_names_its_year() -> None:
    text = default_instruction("travel", dt.date(2026, 12, 28))
    assert "January 6, 2027" in text


def test_the_old_pinned_day_gives_the_old_instruction() -> None:
    assert "on December 4 in the morning" in default_instruction("travel", dt.date(2026, 11, 25))


def test_an_unknown_demo_is_refused() -> None:
    with pytest.raises(ConfigError, match="no demo 'nope'"):
        default_instruction("nope", dt.date(2026, 1, 1))


def test_a_negative_what_if_credit_is_explained() -> None:
    from lamas.cli.demo import negative_credit_note

    assert negative_credit_note({"railgo": 1.2, "swiftrail": 0.0}) is None
    note = negative_credit_note({"railgo": 1.2, "swiftrail": -0.35})
    assert note is not None
    assert "(swiftrail)" in note
    assert "never negative" in note
