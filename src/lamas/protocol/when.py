"""When: the temporal expressions of a request, resolved against the task's today.

`dateparser` (maintained, multilingual, with relative dates and a "prefer the
future" setting) finds and resolves dates ("next Friday", "the 3rd of next month",
"le 15 décembre", "in two weeks"). It has no notion of a weekend, of parts of the
day, of a window ("before 9am") or of a stay's length, and a few relative phrases
resolve wrongly in it ("the day after tomorrow", "a week from today"): those are
the small vocabulary this module adds, each listed below, not a date grammar of
its own.

Two rules the orchestrator relies on:

- a weekday, "the 14th" or a weekend means the next such day (today included only
  for "today"/"tonight"); a month and day already past this year, or a full date
  in the past, is *past*: the request is asked back, never booked;
- an explicit clock time becomes a departure window ("at 9am" is 08:00-10:00, the
  vendor ranking the trains by how close they leave to 9:00;
  "before 9am" ends at 09:00, "after 6pm" starts at 18:00), a part of the day
  becomes its window (morning 05:00-12:00, afternoon 12:00-18:00, evening 18:00-24:00).
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass, field, replace
from functools import lru_cache
from typing import Any

PARTS_OF_DAY: dict[str, tuple[str, str]] = {
    "morning": ("05:00", "12:00"),
    "afternoon": ("12:00", "18:00"),
    "evening": ("18:00", "23:59"),
}
"""The departure windows the travel vendors use for a part of the day."""

CLOCK_SLACK = 60
"""Minutes either side of a clock time said ("at 8", "10am-ish") a departure may be: trains
leave every hour or so, and "at 8" booked at 8:40 beats nothing booked at all."""

_PART_WORDS = {
    "early morning": ("morning", ("05:00", "09:00")),
    "late morning": ("morning", ("10:00", "12:00")),
    "morning": ("morning", None),
    "matin": ("morning", None),
    "midday": ("afternoon", ("11:00", "14:00")),
    "noon": ("afternoon", ("11:00", "13:00")),
    "lunchtime": ("afternoon", ("11:00", "14:00")),
    "early afternoon": ("afternoon", ("12:00", "15:00")),
    "late afternoon": ("afternoon", ("15:00", "18:00")),
    "afternoon": ("afternoon", None),
    "après-midi": ("afternoon", None),
    "apres-midi": ("afternoon", None),
    "early evening": ("evening", ("17:00", "20:00")),
    "late evening": ("evening", ("20:00", "23:59")),
    "evening": ("evening", None),
    "soir": ("evening", None),
    "soirée": ("evening", None),
    "tonight": ("evening", None),
    "night": ("evening", ("20:00", "23:59")),
}

PAST_SLIP_DAYS = 45
PAST_SLIP = dt.timedelta(days=PAST_SLIP_DAYS)
"""A month and day past by at most this many days is a slip to ask about, not next year's."""

_WEEKDAYS = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")
_NUMBERS = {
    "a": 1,
    "an": 1,
    "one": 1,
    "single": 1,
    "two": 2,
    "couple of": 2,
    "a couple of": 2,
    "three": 3,
    "four": 4,
    "five": 5,
    "six": 6,
    "seven": 7,
    "eight": 8,
    "nine": 9,
    "ten": 10,
    "fourteen": 14,
}
_NUMBER = r"(\d{1,2}|" + "|".join(sorted(_NUMBERS, key=len, reverse=True)) + ")"

# The phrases dateparser lacks or gets wrong (see the module docstring), in order.
_DAY_AFTER_TOMORROW = re.compile(r"\b(?:the\s+)?day\s+after\s+tomorrow\b|\baprès-demain\b", re.I)
_WEEK_FROM = re.compile(r"\b(?:a|one)\s+week\s+(?:from|after)\s+(today|tomorrow)\b", re.I)
_WEEKEND = re.compile(r"\b(this|next|the|coming)?\s*(?:week-?end)\b", re.I)
_NIGHTS = re.compile(rf"\b{_NUMBER}\s+nights?\b|\bfor\s+{_NUMBER}\s+days?\b", re.I)
_A_WEEK_STAY = re.compile(r"\bfor\s+(?:a|one)\s+week\b", re.I)
_TONIGHT = re.compile(r"\b(?:tonight|this\s+evening|ce\s+soir)\b", re.I)
_MONTHS = (
    r"(?:jan|feb|mar|apr|may|jun|jul|aug|sep|oct|nov|dec|janv|f[ée]vr|avr|mai|juin|juil|ao[uû]t|"
    r"d[ée]c)"
)
_CLOCK = r"(\d{1,2})(?:[:h.](\d{2}))?\s*(am|pm|a\.m\.|p\.m\.|h\b|o'?clock)?|noon|midday|midnight"
_WINDOW = re.compile(
    rf"\b(before|by|no\s+later\s+than|until|after|from|not\s+before|around|about|at|leaving\s+at|"
    rf"departing\s+at|arriving\s+before|arriving\s+by|between)\s+({_CLOCK})"
    rf"(?:\s+(?:and|to|-)\s+({_CLOCK}))?(?:-?ish)?(?![\d:]|\s*(?:st|nd|rd|th|er)?\s*(?:of\s+)?{_MONTHS})",
    re.I,
)
_END = re.compile(
    r"\b(?:until|till|to|through|check(?:ing)?[- ]out(?:\s+on)?)\s+((?:the\s+)?(?:next\s+)?(?:"
    + "|".join(_WEEKDAYS)
    + r"|\d{1,2}(?:st|nd|rd|th)\b[^,.;]*))",
    re.I,
)
_PART_PHRASE = re.compile(
    r"\b(?:in\s+the\s+|this\s+)?(?:early\s+|late\s+)?(?:morning|afternoon|evening|night)\b", re.I
)
_CLOCK_EVIDENCE = re.compile(r"am|pm|[:h.]\d|h\b|clock|noon|midday|midnight", re.I)
_ISO = re.compile(r"\b\d{4}-\d{2}-\d{2}\b")
_MONTH_NAMED = re.compile(
    r"\b(jan(?:uary)?|feb(?:ruary)?|mar(?:ch)?|apr(?:il)?|may|june?|july?|aug(?:ust)?|"
    r"sep(?:t(?:ember)?)?|oct(?:ober)?|nov(?:ember)?|dec(?:ember)?|janvier|février|mars|avril|mai|"
    r"juin|juillet|août|septembre|octobre|novembre|décembre)\b",
    re.I,
)
_THIS_YEAR_SAID = re.compile(r"\b(?:19|20)\d{2}\b")


@dataclass(frozen=True, slots=True)
class When:
    """What a request says about time, resolved. Every field is None when not said."""

    date: dt.date | None = None
    end_date: dt.date | None = None
    """The last day of a stay or range ("from Friday to Sunday": Sunday)."""
    nights: int | None = None
    part_of_day: str | None = None
    """morning | afternoon | evening."""
    after: str | None = None
    """Earliest departure, HH:MM."""
    before: str | None = None
    """Latest departure, HH:MM."""
    clock: str | None = None
    """An explicit departure time, HH:MM ("at 9am")."""
    past: bool = False
    """The date said is already past and the wording does not imply the next one."""
    said: tuple[str, ...] = field(default=())
    """The phrases the date came from (evidence, for a question back)."""
    options: tuple[dt.date, ...] = ()
    """The days a request leaves open ("Monday or Tuesday"): the user's to choose."""

    @property
    def check_out(self) -> dt.date | None:
        if self.date is not None and self.nights is not None:
            return self.date + dt.timedelta(days=self.nights)
        return self.end_date

    def slots(self) -> dict[str, Any]:
        """The travel vendors' inputs this gives (date, time_of_day, depart_after, ...)."""
        values: dict[str, Any] = {}
        if self.date is not None:
            values["date"] = self.date.isoformat()
        if self.part_of_day:
            values["time_of_day"] = self.part_of_day
        if self.after:
            values["depart_after"] = self.after
        if self.before:
            values["depart_before"] = self.before
        if self.clock:
            values["depart_at"] = self.clock
        return values


def resolve(text: str, today: dt.date) -> When:
    """The dates, times and stay length that `text` gives, seen from `today`."""
    when = When()
    lowered = text.casefold()
    span = _span(text, today)
    date, said, implied_next = (
        (span[0], (span[2],), False) if span is not None else _date_of(text, today)
    )
    if date is not None:
        past = date < today and not implied_next
        when = replace(when, date=date, said=said, past=past)
    part, window = _part_of_day(lowered)
    if part is not None:
        when = replace(when, part_of_day=part)
        if window is not None:
            when = replace(when, after=window[0], before=window[1])
    when = _with_clock_window(when, text)
    nights = _nights(text, today)
    end = span[1] if span is not None else _range_end(text, today, when.date)
    if nights is None and end is not None and when.date is not None and end > when.date:
        nights = (end - when.date).days
    if nights is not None:
        when = replace(when, nights=nights)
    if end is not None:
        when = replace(when, end_date=end)
    if options := _options(text, today):
        when = replace(when, options=options)
    return when


_HOLIDAYS: dict[str, tuple[int, int]] = {
    "christmas eve": (12, 24),
    "christmas day": (12, 25),
    "christmas": (12, 25),
    "noël": (12, 25),
    "boxing day": (12, 26),
    "new year's eve": (12, 31),
    "new years eve": (12, 31),
    "nye": (12, 31),
    "new year's day": (1, 1),
    "new years day": (1, 1),
    "halloween": (10, 31),
    "bastille day": (7, 14),
    "valentine's day": (2, 14),
    "valentines day": (2, 14),
    "fête de la musique": (6, 21),
    "fete de la musique": (6, 21),
}
"""Days people name instead of dates (fixed dates; Easter is computed)."""
_HOLIDAY = re.compile(
    r"\b(easter\s+monday|easter(?:\s+sunday)?|"
    + "|".join(re.escape(k) for k in sorted(_HOLIDAYS, key=len, reverse=True))
    + r")\b",
    re.I,
)
# "next week ... on the Wednesday", "tuesday next week": that weekday of next week, said
# together in one sentence (up to 100 characters apart).
_WEEKDAY = r"(?:mon|tue|tues|wed|thu|thur|thurs|fri|sat|sun)(?:day)?|wednesday|saturday"
_NEXT_WEEK_DAY = re.compile(
    rf"\bnext\s+week\b[^.;!?]{{0,100}}?\b({_WEEKDAY})\b"
    rf"|\b(?:on\s+)?({_WEEKDAY})\b[^.;!?]{{0,100}}?\bnext\s+week\b",
    re.I,
)
_ORDINAL = re.compile(r"\b(?:on\s+)?(?:the\s+)?(\d{1,2})(?:st|nd|rd|th)\b", re.I)
_WEEKEND_DAY = re.compile(r"\b(?:fri|sat|sun)(?:day|urday)?\b", re.I)
_NIGHT_PAIR = re.compile(
    rf"\b(tonight|today|tomorrow|{_WEEKDAY})\s*(?:night)?\s+"
    rf"(?:and|&|\+)\s+(tomorrow|{_WEEKDAY})\s+nights?\b",
    re.I,
)


def _holiday(text: str, today: dt.date) -> tuple[dt.date, str] | None:
    match = _HOLIDAY.search(text)
    if match is None:
        return None
    said = match.group(1).casefold()
    for year in (today.year, today.year + 1):
        if said.startswith("easter"):
            from dateutil.easter import easter  # type: ignore[import-untyped]

            day = easter(year) + dt.timedelta(days=1 if "monday" in said else 0)
        else:
            month, dom = _HOLIDAYS[said]
            day = dt.date(year, month, dom)
        if day >= today:
            return day, match.group(0)
    return None


def _ordinal_day(text: str, today: dt.date) -> tuple[dt.date, str] | None:
    """ "on the 10th" with no month: the next 10th (this month's, else the next month that
    has one). A month named beside it is dateparser's ("the 3rd of next month")."""
    for match in _ORDINAL.finditer(text):
        around = text[max(0, match.start() - 12) : match.end() + 16]
        if _MONTH_NAMED.search(around) or re.search(r"\bof\s+(?:next|this)\b", around, re.I):
            continue
        day = int(match.group(1))
        if not 1 <= day <= 31:
            continue
        year, month = today.year, today.month
        for _ in range(13):
            try:
                candidate = dt.date(year, month, day)
            except ValueError:
                candidate = None
            if candidate is not None and candidate >= today:
                return candidate, match.group(0)
            year, month = (year + 1, 1) if month == 12 else (year, month + 1)
    return None


def _date_of(text: str, today: dt.date) -> tuple[dt.date | None, tuple[str, ...], bool]:
    """(date, the phrase it came from, whether the wording implies "the next one")."""
    holiday = None if _EXPLICIT_DAY.search(text) else _holiday(text, today - PAST_SLIP)
    if holiday:
        return holiday[0], (holiday[1],), holiday[0] >= today
    if match := _DAY_AFTER_TOMORROW.search(text):
        return today + dt.timedelta(days=2), (match.group(0),), True
    if match := _WEEK_FROM.search(text):
        base = today if match.group(1).casefold() == "today" else today + dt.timedelta(days=1)
        return base + dt.timedelta(days=7), (match.group(0),), True
    if match := _TONIGHT.search(text):
        return today, (match.group(0),), True
    if match := _WEEKEND.search(text):
        saturday = today + dt.timedelta(days=(5 - today.weekday()) % 7)
        if today.weekday() == 6:  # on a Sunday, "this weekend" is today
            saturday = (
                today
                if (match.group(1) or "").casefold() != "next"
                else today + dt.timedelta(days=6)
            )
        elif (match.group(1) or "").casefold() == "next" and today.weekday() < 5:
            saturday += dt.timedelta(days=7)
        if named := _WEEKEND_DAY.search(text):
            # "next weekend ... Fri and Sat night": the Friday of that weekend.
            saturday += dt.timedelta(days=(_weekday(named.group(0)) - 5 + 3) % 7 - 3)
            return max(saturday, today), (match.group(0), named.group(0)), True
        return saturday, (match.group(0),), True
    if found_day := _ordinal_day(text, today):
        return found_day[0], (found_day[1],), True
    if week := _NEXT_WEEK_DAY.search(text):
        monday = today + dt.timedelta(days=7 - today.weekday())
        day = _weekday(week.group(1) or week.group(2))
        return monday + dt.timedelta(days=day), (week.group(0),), True
    text = _A_WEEK_STAY.sub(" ", _NIGHTS.sub(" ", text))  # "for a week" is a length, not a day
    # A clock window is no day, and can hide the day from dateparser or pass for one ("around
    # 10 on friday" read as October 10; "between 2 and 5pm on..."): the day is read without it.
    found = [(ph, m) for ph, m in _search(_WINDOW.sub(" ", text), today) if _says_a_day(ph)]
    if not found:
        found = [(ph, m) for ph, m in _search(text, today) if _says_a_day(ph)]
    if not found:
        return None, (), True
    phrase, moment = found[0]
    date = moment.date()
    explicit = bool(_ISO.search(phrase) or _MONTH_NAMED.search(phrase))
    if explicit and not _THIS_YEAR_SAID.search(phrase) and date.year > today.year:
        # dateparser's "prefer the future" moved a month-and-day already past to next
        # year: "December 4" said on December 7 is more likely a slip than next year's.
        # Past by more than a month, it is next year's ("January 2" said in December).
        this_year = _same_day(date, today.year)
        if this_year is not None and today - dt.timedelta(days=PAST_SLIP_DAYS) <= this_year < today:
            return this_year, (phrase,), False
    return date, (phrase,), not explicit or date >= today


def _same_day(date: dt.date, year: int) -> dt.date | None:
    try:
        return date.replace(year=year)
    except ValueError:  # February 29
        return None


_DAY_WORD = re.compile(
    r"\d{4}-\d{2}-\d{2}|\b\d{1,2}(?:st|nd|rd|th|er)?\b(?!\s*(?:am|pm|h\b|:|o'?clock))|"
    r"\b(?:today|tomorrow|demain|aujourd'hui|yesterday|week|weeks|month|months|day|days|"
    r"monday|tuesday|wednesday|thursday|friday|saturday|sunday|mon|tue|tues|wed|thu|thurs|fri|"
    r"sat|sun|lundi|mardi|mercredi|jeudi|vendredi|samedi|dimanche)\b",
    re.I,
)


def _says_a_day(phrase: str) -> bool:
    """Whether a phrase dateparser found names a day ("at 9am" or "in the morning" alone is
    a time: dateparser would make it today), by a day word or a month with a day."""
    cleaned = _WINDOW.sub(" ", phrase)
    return bool(
        _DAY_WORD.search(cleaned) or (_MONTH_NAMED.search(cleaned) and re.search(r"\d", cleaned))
    )


@lru_cache(maxsize=4096)
def _search_cached(text: str, today: dt.date) -> tuple[tuple[str, dt.datetime], ...]:
    from dateparser.search import search_dates

    base = dt.datetime.combine(today, dt.time(0, 0))
    settings: Any = {
        "RELATIVE_BASE": base,
        "PREFER_DATES_FROM": "future",
        "PREFER_DAY_OF_MONTH": "first",
        # 11/12 is the 11th of December, as the networks' (European) users write it.
        "DATE_ORDER": "DMY",
        "RETURN_AS_TIMEZONE_AWARE": False,
    }
    found = None
    # One language at a time: given both, dateparser picks one for the whole text, and
    # a French name in an English request ("a hotel near Saint-Jean for Friday") hides
    # the English date.
    for language in ("en", "fr"):
        try:
            found = search_dates(text, languages=[language], settings=settings)
        except Exception:  # dateparser raises on some odd inputs; no date is then said
            found = None
        if found:
            break
    results = []
    for phrase, moment in found or ():
        # Bare numbers and stray words ("one", "at", "2") are not dates.
        if not re.search(r"[a-z]{3,}|\d{1,2}[/-]\d{1,2}|\d{4}-\d{2}", phrase, re.I):
            continue
        if phrase.strip().casefold() in _NOT_DATES:
            continue
        results.append((phrase, moment))
    return tuple(results)


_NOT_DATES = frozenset({"now", "second", "march on", "may", "sat", "sun", "mar", "a", "an"})


def _search(text: str, today: dt.date) -> tuple[tuple[str, dt.datetime], ...]:
    return _search_cached(text, today)


def _part_of_day(lowered: str) -> tuple[str | None, tuple[str, str] | None]:
    for words in sorted(_PART_WORDS, key=len, reverse=True):
        if re.search(rf"\b{re.escape(words)}\b", lowered):
            return _PART_WORDS[words]
    if shorthand := _DAY_AM_PM.search(lowered):  # "fri pm", "tomorrow am"
        return ("morning", None) if shorthand.group(1) == "am" else ("afternoon", None)
    return None, None


_DAY_AM_PM = re.compile(
    r"\b(?:mon|tue|tues|wed|thu|thurs|fri|sat|sun|monday|tuesday|wednesday|thursday|friday|"
    r"saturday|sunday|today|tomorrow|tmrw)\s+(am|pm)\b"
)


def _clock(match_text: str) -> str | None:
    text = match_text.strip().casefold()
    if text in ("noon", "midday"):
        return "12:00"
    if text == "midnight":
        return "23:59"
    found = re.fullmatch(r"(\d{1,2})(?:[:h.](\d{2}))?\s*(am|pm|a\.m\.|p\.m\.|h|o'?clock)?", text)
    if not found:
        return None
    hour, minute, suffix = int(found.group(1)), int(found.group(2) or 0), found.group(3) or ""
    if suffix.startswith("p") and hour < 12:
        hour += 12
    if suffix.startswith("a") and hour == 12:
        hour = 0
    if not suffix and not found.group(2) and hour > 24:
        return None
    if hour > 23 or minute > 59:
        return None
    return f"{hour:02d}:{minute:02d}"


def _shift(clock: str, minutes: int) -> str:
    hour, minute = map(int, clock.split(":"))
    total = max(0, min(23 * 60 + 59, hour * 60 + minute + minutes))
    return f"{total // 60:02d}:{total % 60:02d}"


def _with_clock_window(when: When, text: str) -> When:
    for match in _WINDOW.finditer(text):
        word = " ".join(match.group(1).casefold().split())
        first = _clock(match.group(2))
        if first is None or (
            not re.search(r"am|pm|[:h.]\d|h\b|clock|noon|midday|midnight", match.group(2), re.I)
            and word not in ("at", "around", "about", "before", "after", "by")
        ):
            continue
        if re.fullmatch(r"\d{1,2}", match.group(2).strip()) and word in ("from", "between"):
            continue  # "from 20 to 22" is more likely days than hours
        first = _afternoon_if_implied(first, match.group(2), when.part_of_day)
        second = _clock(match.group(6)) if match.group(6) else None
        if word == "between" and second:
            last = _afternoon_if_implied(second, match.group(6), when.part_of_day)
            return replace(when, after=first, before=last)
        if word in ("before", "by", "no later than", "until", "arriving before", "arriving by"):
            return replace(when, before=first)
        if word in ("after", "not before", "from"):
            return replace(when, after=first)
        return _around(when, first)
    if meal := _MEAL.search(text):
        after, before = _MEAL_WINDOWS[(meal.group(1).casefold(), meal.group(2).casefold())]
        return replace(when, after=after, before=before)
    if _LUNCHTIME.search(text):
        return replace(when, after="12:00", before="14:00")
    if bare := _BARE_CLOCK.search(text):
        first = _clock(bare.group(1))
        if first is not None:
            first = _afternoon_if_implied(first, bare.group(1), when.part_of_day)
            return _around(when, first)
    return when


# "after lunch", "before work": the window up to the next meal or the end of the part of the
# day ("after lunch" is the afternoon after 13:00, not a night train).
_MEAL_WINDOWS: dict[tuple[str, str], tuple[str | None, str | None]] = {
    ("before", "breakfast"): (None, "08:00"),
    ("after", "breakfast"): ("09:00", "12:00"),
    ("before", "lunch"): (None, "12:00"),
    ("after", "lunch"): ("13:00", "18:00"),
    ("before", "dinner"): (None, "19:00"),
    ("after", "dinner"): ("20:00", "23:59"),
    ("before", "work"): (None, "08:00"),
    ("after", "work"): ("18:00", "23:59"),
}
_MEAL = re.compile(r"\b(after|before)\s+(breakfast|lunch|dinner|work)\b", re.I)
_LUNCHTIME = re.compile(r"\b(?:at\s+)?lunch\s*-?time\b|\bover\s+lunch\b", re.I)
# A clock time with no cue word: "the 8 o'clock train", "10am-ish", "9ish".
_BARE_CLOCK = re.compile(
    r"\b(\d{1,2}(?:[:h.]\d{2})?\s*(?:am|pm|a\.m\.|p\.m\.|o'?clock)|\d{1,2}(?=-?ish\b))",
    re.I,
)


def _around(when: When, clock: str) -> When:
    return replace(
        when, clock=clock, after=_shift(clock, -CLOCK_SLACK), before=_shift(clock, CLOCK_SLACK)
    )


def _afternoon_if_implied(clock: str, said: str, part: str | None) -> str:
    """ "at 6" in the evening is 18:00; a bare hour from 1 to 7 with no am/pm is pm."""
    hour = int(clock[:2])
    bare = not re.search(r"am|pm|a\.m|p\.m|:", said, re.I)
    if bare and (part in ("afternoon", "evening") or 1 <= hour <= 7) and hour < 12:
        return f"{hour + 12:02d}{clock[2:]}"
    return clock


def _nights(text: str, today: dt.date | None = None) -> int | None:
    if _A_WEEK_STAY.search(text):
        return 7
    pair = _NIGHT_PAIR.search(text)
    if pair is not None and today is not None:
        first, _, _ = _date_of(pair.group(1), today)
        last, _, _ = _date_of(pair.group(2), first or today)
        if first is not None and re.fullmatch(_WEEKDAY, pair.group(2), re.I):
            last = first + dt.timedelta(days=(_weekday(pair.group(2)) - first.weekday()) % 7)
        if first is not None and last is not None and last >= first:
            return (last - first).days + 1
    match = next(
        (m for m in _NIGHTS.finditer(text) if not _PER_NIGHT.search(text[: m.start()])), None
    )
    if not match:
        return None
    said = (match.group(1) or match.group(2) or "").casefold()
    count = int(said) if said.isdigit() else _NUMBERS.get(said)
    if count is None:
        return None
    # "for three days" of a stay is two nights; "three nights" is three.
    return count if "night" in match.group(0).casefold() else max(1, count - 1)


def _range_end(text: str, today: dt.date, start: dt.date | None) -> dt.date | None:
    """The end of "from Friday to Sunday" / "until the 20th" / "check out on Monday"."""
    match = _END.search(text)
    if not match or start is None:
        return None
    end, _, _ = _date_of(match.group(1), start)
    if end is None or end <= start:
        return None
    if (end - start).days > 31:
        return None
    return end


# --- spans: "March 2nd to March 5th", "14-17 December", "14/12 - 16/12", "sat to mon",
# "arriving Sunday, leaving Wednesday": a start and an end said together.
_MONTH_NUMBERS = {
    name: number
    for names in (
        ("jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"),
        ("janv", "févr", "mars", "avr", "mai", "juin", "juil", "août", "sept", "oct", "nov", "déc"),
        ("janv", "fev", "mars", "avr", "mai", "juin", "juil", "aou", "sept", "oct", "nov", "dec"),
    )
    for number, name in enumerate(names, 1)
}
_MONTH = (
    r"(?:jan(?:uary)?|feb(?:ruary)?|mar(?:ch)?|apr(?:il)?|may|june?|july?|aug(?:ust)?|"
    r"sep(?:t(?:ember)?)?|oct(?:ober)?|nov(?:ember)?|dec(?:ember)?|janvier|f[ée]vrier|mars|"
    r"avril|mai|juin|juillet|ao[uû]t|septembre|octobre|novembre|d[ée]cembre)"
)
_NTH = r"(\d{1,2})(?:st|nd|rd|th|er)?"
_TO = r"\s*(?:-|\u2013|to|until|till|through|thru|au|jusqu'au)\s*(?:the\s+)?"
_SPAN_NUMERIC = re.compile(
    rf"\b(\d{{1,2}})/(\d{{1,2}})(?:/\d{{2,4}})?{_TO}(\d{{1,2}})/(\d{{1,2}})\b"
)
_SPAN_MONTH_FIRST = re.compile(
    rf"\b({_MONTH})\.?\s+{_NTH}{_TO}(?:({_MONTH})\.?\s+)?{_NTH}\b(?!\s*(?:am|pm|h\b|:))", re.I
)
_SPAN_DAY_FIRST = re.compile(
    rf"\b(?:the\s+)?{_NTH}(?:\s+(?:of\s+)?({_MONTH}))?{_TO}{_NTH}\s+(?:of\s+)?({_MONTH})\b", re.I
)
_SPAN_ORDINALS = re.compile(
    rf"\b(?:the\s+)?(\d{{1,2}})(?:st|nd|rd|th){_TO}(\d{{1,2}})(?:st|nd|rd|th)\b", re.I
)
_SPAN_WEEKDAYS = re.compile(
    rf"\b(?:from\s+|arriving\s+(?:on\s+)?|check(?:ing)?[- ]?in\s+(?:on\s+)?)?({_WEEKDAY})"
    rf"(?:\s*(?:{_TO}|,?\s*(?:and\s+|then\s+)?(?:leaving|departing|check(?:ing)?[- ]?out)"
    rf"\s+(?:on\s+)?))({_WEEKDAY})\b",
    re.I,
)
_EXPLICIT_DAY = re.compile(
    rf"\b\d{{1,2}}(?:st|nd|rd|th)\b|\b\d{{1,2}}/\d{{1,2}}\b|\b{_MONTH}\s+\d{{1,2}}\b|"
    rf"\b\d{{1,2}}\s+{_MONTH}\b",
    re.I,
)
_PER_NIGHT = re.compile(r"(?:\d|€|\$|\beuros?|\beur|\bdollars?|\bper|\bmax)\s*$", re.I)
_MAX_SPAN_DAYS = 31


def _weekday(word: str) -> int:
    return ("mon", "tue", "wed", "thu", "fri", "sat", "sun").index(word[:3].casefold())


def _month(word: str) -> int:
    folded = word.casefold().rstrip(".")
    return _MONTH_NUMBERS.get(folded[:4], 0) or _MONTH_NUMBERS.get(folded[:3], 0)


def _on_or_after(day: int, month: int, base: dt.date) -> dt.date | None:
    """The `day` of `month` on or after `base` (this year's, a slip just past, or next)."""
    for year in (base.year, base.year + 1):
        try:
            found = dt.date(year, month, day)
        except ValueError:
            return None
        if found >= base - PAST_SLIP or year > base.year:
            return found
    return None


def _span(text: str, today: dt.date) -> tuple[dt.date, dt.date, str] | None:
    """(start, end, the phrase) of a stay or trip said as a span; None if none is."""
    found: tuple[dt.date | None, dt.date | None] = (None, None)
    if match := _SPAN_NUMERIC.search(text):
        day1, month1, day2, month2 = (int(g) for g in match.groups())
        start = _on_or_after(day1, month1, today) if 1 <= month1 <= 12 else None
        found = (start, _on_or_after(day2, month2, start) if start and 1 <= month2 <= 12 else None)
    elif match := _SPAN_MONTH_FIRST.search(text):
        m1, d1, m2, d2 = match.groups()
        start = _on_or_after(int(d1), _month(m1), today)
        found = (start, _on_or_after(int(d2), _month(m2 or m1), start) if start else None)
    elif match := _SPAN_DAY_FIRST.search(text):
        d1, m1, d2, m2 = match.groups()
        start = _on_or_after(int(d1), _month(m1 or m2), today)
        found = (start, _on_or_after(int(d2), _month(m2), start) if start else None)
    elif match := _SPAN_ORDINALS.search(text):
        first = _ordinal_day(f"the {int(match.group(1))}th", today)
        start = first[0] if first else None
        last = _ordinal_day(f"the {int(match.group(2))}th", start) if start else None
        found = (start, last[0] if last else None)
    elif match := _SPAN_WEEKDAYS.search(text):
        said = match.group(1)
        week = "next week " if re.search(r"\bnext\s+week\b", text, re.I) else ""
        start, _, _ = _date_of(week + said, today)
        if start is not None:
            ahead = (_weekday(match.group(2)) - start.weekday()) % 7 or 7
            found = (start, start + dt.timedelta(days=ahead))
    start, end = found
    if match is None or start is None or end is None:
        return None
    if not 0 < (end - start).days <= _MAX_SPAN_DAYS:
        return None
    return start, end, match.group(0)


# "Monday or Tuesday", "either the 3rd or the 4th", "sat or sun": a day left open.
_DAY_PHRASE = (
    rf"(?:(?:on\s+)?(?:the\s+)?\d{{1,2}}(?:st|nd|rd|th)(?:\s+(?:of\s+)?{{month}})?|"
    rf"{{month}}\s+\d{{1,2}}(?:st|nd|rd|th)?|(?:on\s+)?(?:next\s+)?(?:{_WEEKDAY})|tomorrow|today)"
)
_OPTIONS = re.compile(
    r"\b(?:either\s+)?(DAY)\s*,?\s+or\s+(?:else\s+)?(DAY)\b(?!\s*(?:so|later|earlier))".replace(
        "DAY", _DAY_PHRASE.replace("{month}", _MONTH)
    ),
    re.I,
)


def _options(text: str, today: dt.date) -> tuple[dt.date, ...]:
    """The days a request hesitates between, each resolved as if said alone."""
    match = _OPTIONS.search(text)
    if match is None:
        return ()
    week = "next week " if re.search(r"\bnext\s+week\b", text, re.I) else ""
    days = []
    for said in match.groups():
        if re.fullmatch(rf"(?:on\s+)?(?:{_WEEKDAY})", said, re.I):
            said = week + said
        day, _, _ = _date_of(said, today)
        if day is None:
            return ()
        days.append(day)
    return tuple(dict.fromkeys(days)) if len(set(days)) > 1 else ()
