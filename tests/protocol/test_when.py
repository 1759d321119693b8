"""Temporal expressions resolved against the task's today (a Monday, 2026-12-07)."""

from __future__ import annotations

import datetime as dt

import pytest

from lamas.protocol.when import resolve

MONDAY = dt.date(2026, 12, 7)


@pytest.mark.parametrize(
    ("text", "date"),
    [
        ("a train to Lyon on Friday", "2026-12-11"),
        ("tomorrow evening", "2026-12-08"),
        ("the day after tomorrow", "2026-12-09"),
        ("this weekend", "2026-12-12"),
        ("the 3rd of next month", "2027-01-03"),
        ("in two weeks", "2026-12-21"),
        ("on the 14th", "2026-12-14"),
        ("the 2nd of January", "2027-01-02"),
        ("a week from today", "2026-12-14"),
        ("le 15 décembre", "2026-12-15"),
        ("tonight", "2026-12-07"),
        ("between 2pm and 5pm on Wednesday", "2026-12-09"),
        ("next week I'd like to go from Marseille to Montpellier, tuesday at 2", "2026-12-15"),
        ("next week, on the Wednesday, a train to Lyon", "2026-12-16"),
        ("friday next week", "2026-12-18"),
    ],
)
def test_dates_resolve_to_the_next_occurrence(text: str, date: str) -> None:
    when = resolve(text, MONDAY)
    assert when.date == dt.date.fromisoformat(date)
    assert not when.past


def test_a_month_and_day_just_past_is_a_slip_to_ask_about_not_next_year() -> None:
    when = resolve("Book me a train on December 4 in the morning", MONDAY)
    assert when.past
    assert when.date == dt.date(2026, 12, 4)
    assert resolve("2026-11-01", MONDAY).past


def test_clock_times_become_departure_windows() -> None:
    assert resolve("at 9am on Thursday", MONDAY).slots() == {
        "date": "2026-12-10",
        "depart_after": "08:00",
        "depart_before": "10:00",
        "depart_at": "09:00",
    }
    assert resolve("before 9am tomorrow", MONDAY).before == "09:00"
    assert resolve("next tuesday after 6pm", MONDAY).after == "18:00"
    evening = resolve("at 6 in the evening on Friday", MONDAY)
    assert (evening.part_of_day, evening.clock) == ("evening", "18:00")
    assert resolve("Friday morning", MONDAY).slots()["time_of_day"] == "morning"


def test_stay_lengths_and_ranges() -> None:
    assert resolve("a hotel in Lyon for two nights", MONDAY).nights == 2
    stay = resolve("from Friday to Sunday", MONDAY)
    assert (stay.date, stay.nights, stay.check_out) == (
        dt.date(2026, 12, 11),
        2,
        dt.date(2026, 12, 13),
    )
    assert resolve("a room for a week starting Monday", MONDAY).nights == 7
    assert resolve("for three days", MONDAY).nights == 2


def test_no_time_said_gives_nothing() -> None:
    when = resolve("I'm going to a conference", MONDAY)
    assert when.date is None
    assert when.slots() == {}
    # A clock time alone is not today's date.
    assert resolve("at 9am", MONDAY).date is None


def test_a_clock_is_no_day_and_a_day_no_clock() -> None:
    from lamas.protocol.when import resolve

    today = dt.date(2026, 12, 28)  # a Monday
    around = resolve("around 10 on friday", today)
    assert around.date == dt.date(2027, 1, 1)  # not October 10
    assert around.slots()["depart_after"] == "09:00"
    assert "depart_after" not in resolve("after 10 December", today).slots()
    assert resolve("nantes->paris fri pm", today).part_of_day == "afternoon"
    assert resolve("tomorrow am", today).part_of_day == "morning"


@pytest.mark.parametrize(
    ("text", "after", "before"),
    [
        ("tuesday after lunch", "13:00", "18:00"),
        ("after work on friday", "18:00", "23:59"),
        ("before breakfast tomorrow", None, "08:00"),
        ("at lunchtime on friday", "12:00", "14:00"),
        ("on April 3rd please, 10am-ish", "09:00", "11:00"),
        ("book the 8 o'clock train to Dijon", "07:00", "09:00"),
    ],
)
def test_meals_and_bare_clock_times_are_windows(
    text: str, after: str | None, before: str | None
) -> None:
    when = resolve(text, MONDAY)
    assert (when.after, when.before) == (after, before)


@pytest.mark.parametrize(
    ("text", "start", "nights"),
    [
        ("a room December 14th to December 17th", "2026-12-14", 3),
        ("a hotel from the 14th until the 16th of December", "2026-12-14", 2),
        ("hotel 14-17 December", "2026-12-14", 3),
        ("hotel Dec 14-16", "2026-12-14", 2),
        ("a room 14/12 - 16/12", "2026-12-14", 2),
        ("saturday to monday, max 120 euros a night", "2026-12-12", 2),
        ("arriving Sunday, leaving Wednesday", "2026-12-13", 3),
        ("check in Thursday, check out Saturday", "2026-12-10", 2),
        ("Fri and Sat night", "2026-12-11", 2),
        ("next week tue to thu", "2026-12-15", 2),
        ("wed thru fri", "2026-12-09", 2),
    ],
)
def test_a_stay_said_as_a_span_gives_its_start_and_nights(
    text: str, start: str, nights: int
) -> None:
    when = resolve(text, MONDAY)
    assert when.date == dt.date.fromisoformat(start), when
    assert when.nights == nights, when


@pytest.mark.parametrize(
    ("text", "date"),
    [
        # A day said outright wins over a holiday named as the occasion.
        ("christmas market trip: train Paris to Strasbourg on the 11th", "2026-12-11"),
        ("for Christmas", "2026-12-25"),
        # Day first, as Europeans write it (the unambiguous 14/12 and the ambiguous 11/12).
        ("a train on 11/12", "2026-12-11"),
    ],
)
def test_which_day_is_said(text: str, date: str) -> None:
    assert resolve(text, MONDAY).date == dt.date.fromisoformat(date)


def test_a_price_per_night_is_no_length_of_stay() -> None:
    assert resolve("a hotel in Lyon on Friday, max 90 euros a night", MONDAY).nights is None
    assert resolve("a hotel on Friday for a night", MONDAY).nights == 1


def test_a_weekday_said_with_a_weekend_is_that_weekends() -> None:
    when = resolve("next weekend I'm in Lille, need a hotel Fri and Sat night", MONDAY)
    assert (when.date, when.nights) == (dt.date(2026, 12, 18), 2)
    assert resolve("this weekend, on the Sunday", MONDAY).date == dt.date(2026, 12, 13)


@pytest.mark.parametrize(
    ("text", "options"),
    [
        ("early next week, Monday or Tuesday", ("2026-12-14", "2026-12-15")),
        ("saturday or sunday, not sure yet", ("2026-12-12", "2026-12-13")),
        ("either the 14th or the 15th", ("2026-12-14", "2026-12-15")),
        ("Friday or so", ()),
        ("a hotel for 2 or 3 nights", ()),
    ],
)
def test_a_day_left_open_is_offered_not_picked(text: str, options: tuple[str, ...]) -> None:
    assert resolve(text, MONDAY).options == tuple(dt.date.fromisoformat(d) for d in options)
