"""A step's inputs before and after the model fills them.

Before: what needs no model (`prefill`): the step's dates, stay length and departure
window resolved against the task's today, and the preferences its search takes.
After (`settle`): those resolved values win over the model's (a small model writes
today's date for "Friday"), the way back of a trip swaps the trip's ends, and every
name a vendor publishes a vocabulary for is mapped onto it ("Marseile" -> Marseille,
"the main station in Marseille" -> Marseille Saint-Charles); a name the vocabulary
cannot place becomes a question with the vendor's own suggestions, never a guess.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from typing import Any

from lamas.errors import UnknownTerm
from lamas.protocol.cards import VOCABULARY_KEYWORD, AgentCard, Skill
from lamas.protocol.preferences import Preferences
from lamas.protocol.vocabulary import Vocabulary
from lamas.protocol.when import When, resolve
from lamas.runtime.understanding.gazetteer import near_place, said_inputs
from lamas.runtime.understanding.references import PEOPLE, points_at_someone_unnamed
from lamas.runtime.understanding.understand import time_inputs

WINDOW_SLOTS = frozenset({"time_of_day", "depart_after", "depart_before", "depart_at"})
"""Inputs only `protocol.when` gives (from the user's words), never the model."""

SWAPPED = (("origin", "destination"),)
"""The inputs a way back exchanges."""


@dataclass(slots=True)
class Prepared:
    known: dict[str, Any]
    """Inputs resolved without a model (authoritative)."""
    when: When
    preferences: Preferences
    past: str | None = None
    """The phrase of a date already past (to ask about), if any."""
    needed: tuple[str, ...] = ()
    """Inputs to ask the user about whatever a model says ("their newest": which artist)."""
    choices: dict[str, list[str]] = field(default_factory=dict)
    """Inputs the user left open between choices ("Monday or Tuesday"): asked, not guessed."""


@dataclass(slots=True)
class Settled:
    values: dict[str, Any]
    choices: dict[str, list[str]] = field(default_factory=dict)
    """Inputs the vocabulary could not place: the names to choose from."""
    unknown: list[str] = field(default_factory=list)
    """Inputs whose name no vocabulary knows, and nothing is close."""


def prefill(
    skill: Skill,
    clause: str,
    *,
    today: dt.date,
    background: Iterable[str] = (),
    carried: When | None = None,
    preferences: Preferences,
    vocabularies: Mapping[str, Vocabulary] | None = None,
    context: Iterable[str] = (),
    destination: str | None = None,
    way_there: str | None = None,
) -> Prepared:
    """The inputs of `skill` that `clause` gives without a model. A clause that says no
    date takes the `carried` one (a date said in an earlier clause holds for later ones),
    else one from the `background` (context clauses, the whole request). Names come from the
    clause, then from the `context` clauses; a stay with no city is at the `destination` of
    the trip before it. The way back of a trip (`way_there` is the clause of the way out)
    takes no date but its own: the way out's date is not the return's, unless the
    clause says so ("back the same day")."""
    when = resolve(clause, today) if clause != way_there else resolve("", today)
    own = when.date is not None
    if (
        when.date is None
        and carried is not None
        and carried.date is not None
        and (way_there is None or _SAME_DAY.search(clause))
    ):
        when = _with_date(when, carried)
    if when.date is None and way_there is None:
        said_apart = set(context)
        for text in background:
            found = resolve(text, today)
            if found.date is not None:
                when = _with_date(when, found)
                if text in said_apart and not _has_window(when):
                    # "Going to Paris tomorrow evening from Lille, book the train": the
                    # time of day goes with the day it was said with.
                    when = _with_window(when, found)
                break
    if not own and when.date is not None and (shift := _DAY_SHIFT.search(clause)):
        # "on the 3rd ... train from Paris the day before": the day before the day said.
        days = -1 if shift.group(1).casefold() == "before" else 1
        when = replace(when, date=when.date + dt.timedelta(days=days))
    known = said_inputs(skill, clause, vocabularies) if vocabularies else {}
    for text in context if vocabularies else ():
        # Names the clause leaves out may be in the rest of the request ("I'm going to a
        # conference in Lyon ... get me a train there from Paris").
        for slot, value in said_inputs(skill, text, vocabularies or {}).items():
            if value in known.values():
                continue
            if slot == "origin" and "origin" in known and "destination" not in known:
                slot = "destination"
            elif slot == "destination" and "destination" in known and "origin" not in known:
                slot = "origin"  # "flying into Paris ..., then the train down to Avignon"
            known.setdefault(slot, value)
    city = skill.input_schema.get("properties", {}).get("city")
    if city is not None and "city" not in known and destination and vocabularies:
        # A stay after a trip is where the trip goes: "a train to Lyon and a hotel".
        cities = vocabularies.get("city")
        place = cities.within.get(destination, destination) if cities else destination
        if cities is None or place in cities.names:
            known["city"] = place
    known.update(place_near_city(skill, clause, vocabularies or {}, known))
    known.update(time_inputs(skill, when))
    for slot, value in preferences.search_inputs(skill.input_schema).items():
        # The vendor's own word ("melancholic", a mood it serves) over the generic table's
        # nearest one ("sad").
        known.setdefault(slot, value)
    past = when.said[0] if when.past and when.said else None
    if past:
        for name in [
            n
            for n, p in skill.input_schema.get("properties", {}).items()
            if p.get("format") == "date"
        ]:
            known.pop(name, None)
    choices: dict[str, list[str]] = {}
    dates = [
        n for n, p in skill.input_schema.get("properties", {}).items() if p.get("format") == "date"
    ]
    if when.options and dates:
        for name in dates:
            known.pop(name, None)
        choices[dates[0]] = [f"{d:%A} {d.day} {d:%B}" for d in when.options]
    needed = tuple(
        slot
        for slot, vocabulary in (vocabularies or {}).items()
        if vocabulary.kind in PEOPLE and slot not in known and points_at_someone_unnamed(clause)
    )
    if (
        "nights" in skill.input_schema.get("properties", {})
        and "nights" not in known
        and when.nights is None
        and when.end_date is None
        and _OPEN_STAY.search(clause)
    ):
        # "a room in Nice from Friday": a stay with a start and no end is asked, not
        # booked for the one night a default would give.
        needed += ("nights",)
    return Prepared(known, when, preferences, past, needed, choices)


_OPEN_STAY = re.compile(
    r"\b(?:from|starting|as\s+of)\s+(?:on\s+)?(?:the\s+)?(?:\d|mon|tue|wed|thu|fri|sat|sun|"
    r"tomorrow|next|this)|\bcheck(?:ing)?[- ]?in(?:to)?\b",
    re.I,
)
_DAY_SHIFT = re.compile(r"\bthe\s+(?:day|night|evening|morning)\s+(before|after)\b", re.I)
_SAME_DAY = re.compile(
    r"\bsame\s+(?:day|evening|night|afternoon)\b|\bthat\s+(?:day|evening|night)\b", re.I
)


_WINDOW_FIELDS = ("part_of_day", "after", "before", "clock")


def _has_window(when: When) -> bool:
    return any(getattr(when, name) is not None for name in _WINDOW_FIELDS)


def _with_window(when: When, source: When) -> When:
    return replace(when, **{name: getattr(source, name) for name in _WINDOW_FIELDS})


def past_date(values: Mapping[str, Any], dates: Iterable[str], today: dt.date) -> str | None:
    """The first of `dates` whose value in `values` is a day before `today`, as given."""
    for name in dates:
        value = values.get(name)
        try:
            if isinstance(value, str) and dt.date.fromisoformat(value) < today:
                return value
        except ValueError:
            continue  # not a date: the vendor says what is wrong with it
    return None


def as_asked(known: Mapping[str, Any], asked: Iterable[str]) -> dict[str, Any]:
    """An answer's names for the slots asked: "Lyon", answering "to Paris or Lyon?", is the
    destination, though a lone city in a request reads as where a trip starts."""
    asked = list(asked)
    values = dict(known)
    for said, meant in SWAPPED + tuple((b, a) for a, b in SWAPPED):
        if said in values and meant not in values and meant in asked and said not in asked:
            values[meant] = values.pop(said)
    return values


def answered_directly(
    skill: Skill, asked: Iterable[str], answer: str, known: Mapping[str, Any]
) -> dict[str, Any]:
    """A short answer to a question about one free-text input is that input: "In Lyon." to
    "I need the city" is the city, whatever a small model makes of it. Inputs with a
    vocabulary, a format or a choice of values are the resolver's to read."""
    wanted = [name for name in asked if name not in known]
    properties = skill.input_schema.get("properties", {})
    prop = properties.get(wanted[0], {}) if len(wanted) == 1 else {}
    free = prop.get("type") == "string" and not {"enum", "format", "pattern"} & set(prop)
    if not free or VOCABULARY_KEYWORD in prop:
        return {}
    value = _ANSWER_OPENING.sub("", answer.strip()).strip(" .!?,;")
    if not value or len(value.split()) > 4:
        return {}
    return {wanted[0]: value}


_ANSWER_OPENING = re.compile(
    r"^(?:(?:oh|ok|okay|sure|yes|well|um+|uh+)[,!]?\s+)*(?:it'?s\s+|it\s+is\s+|that'?s\s+)?"
    r"(?:in|at|to|from|for|on|near|the\s+city\s+of)\s+",
    re.I,
)


def checkout_nights(
    skill: Skill, answer: Prepared, known: Mapping[str, Any], asked: Iterable[str]
) -> dict[str, Any] | None:
    """An answer to "how many nights?" that gives a day ("checking out Sunday") gives the
    stay's end, not a new arrival: the inputs it makes, or None when it is no such answer."""
    asked = list(asked)
    properties = skill.input_schema.get("properties", {})
    dates = [n for n, p in properties.items() if p.get("format") == "date"]
    if "nights" not in asked or not dates or any(d in asked for d in dates):
        return None
    start = known.get(dates[0])
    if not isinstance(start, str):
        return None
    arrival = dt.date.fromisoformat(start)
    # The day said, read as the first such day after the arrival.
    ends = [d for d in (answer.when.date, answer.when.end_date) if d is not None and d > arrival]
    if not ends or ("nights" in answer.known and answer.when.end_date is None):
        return None
    nights = (min(ends) - arrival).days
    return {**{k: v for k, v in answer.known.items() if k not in dates}, "nights": nights}


def place_near_city(
    skill: Skill, clause: str, vocabularies: Mapping[str, Vocabulary], known: Mapping[str, Any]
) -> dict[str, Any]:
    """The place `clause` asks to be near, once the city is known from elsewhere ("a hotel
    near the cathedral" after "a wedding in Reims"): {} when already known or not said."""
    if "near" in known or "near" not in vocabularies or "city" not in known:
        return {}
    if "near" not in skill.input_schema.get("properties", {}):
        return {}
    place = near_place(clause, vocabularies["near"], known["city"])
    return {"near": place} if place is not None else {}


def _with_date(when: When, source: When) -> When:
    return replace(
        when, date=source.date, past=source.past, said=source.said, options=source.options
    )


def settle(
    skill: Skill,
    values: Mapping[str, Any],
    prepared: Prepared,
    *,
    providers: Iterable[AgentCard] = (),
    reverse_of: Mapping[str, Any] | None = None,
) -> Settled:
    """The step's final inputs (see the module docstring)."""
    # The time of day and the departure window are the resolver's to say: a small model
    # invents them ("depart_after": "14:00" for "in the morning") and empties the search.
    invented = {k for k in WINDOW_SLOTS if k not in prepared.known}
    merged = {**{k: v for k, v in values.items() if k not in invented}, **prepared.known}
    if reverse_of is not None:
        for a, b in SWAPPED:
            there, back = reverse_of.get(a), reverse_of.get(b)
            if there is not None and back is not None:
                same = merged.get(a) in (None, there) or merged.get(b) in (None, back)
                if same:
                    merged[a], merged[b] = back, there
    settled = Settled(merged)
    cards = list(providers)
    for slot, value in list(merged.items()):
        if not isinstance(value, str) or not value:
            continue
        vocabulary = vocabulary_for(cards, skill.name, slot)
        if vocabulary is None:
            continue
        city = merged.get("city")
        if slot != "city" and isinstance(city, str) and vocabulary.within:
            local = vocabulary.in_place(city)
            vocabulary = local if local.names else vocabulary
        required = slot in skill.input_schema.get("required", [])
        try:
            merged[slot] = vocabulary.resolve(value, slot=slot)
        except UnknownTerm as unknown:
            if len(unknown.suggestions) == 1 and not unknown.ambiguous:
                merged[slot] = unknown.suggestions[0]
            elif unknown.suggestions and (required or unknown.ambiguous):
                # "play some Bob": Bob Dylan or Bob Marley is the user's to say.
                settled.choices[slot] = list(unknown.suggestions)
                merged.pop(slot)
            elif required:
                settled.unknown.append(slot)
                merged.pop(slot)
            # An optional name ("near" a place the map may still know) goes to the vendor
            # as the user said it; its answer says what it knows instead.
    return settled


def vocabulary_for(cards: Iterable[AgentCard], skill: str, slot: str) -> Vocabulary | None:
    """The names every provider of `skill` publishes for `slot`, merged (None: free text)."""
    found = [v for c in cards if (v := Vocabulary.from_card(c, skill, slot)) is not None]
    return Vocabulary.merged(found) if found else None


SERVED_VOCABULARY_LIMIT = 150
"""Vocabularies this short name kinds of thing served (genres, moods), not places."""


def _common_nouns(names: Iterable[str]) -> bool:
    """Kinds of thing ("jazz", "calm"), not proper names (artists, cities): most lower case."""
    listed = list(names)
    return sum(n == n.lower() for n in listed) * 2 > len(listed)


def served_words(network: Any) -> dict[str, list[str]]:
    """Per skill, the names its providers publish in short vocabularies (genres, moods):
    words for what the skill serves, for the out-of-scope judge."""
    words: dict[str, list[str]] = {}
    for card in network.cards:
        for skill in card.skills:
            for slot in skill.input_schema.get("properties", {}):
                vocabulary = Vocabulary.from_card(card, skill.name, slot)
                if (
                    vocabulary is not None
                    and len(vocabulary.names) <= SERVED_VOCABULARY_LIMIT
                    and _common_nouns(vocabulary.names)
                ):
                    words.setdefault(skill.name, []).extend(vocabulary.names)
                    words[skill.name].extend(
                        alias for spellings in vocabulary.aliases.values() for alias in spellings
                    )
    return words


def trip_places(network: Any) -> Vocabulary | None:
    """The names a trip's origin may take on this network (cities and their stations), from
    the vendors' published vocabularies; None when none publishes one. A trip is dated
    (a train search); directions within a city take landmarks too, which are no trip's end."""
    found = [
        v
        for card in network.cards
        for skill in card.skills
        if {"origin", "destination"} <= set(skill.input_schema.get("required", []))
        and any(
            p.get("format") == "date" for p in skill.input_schema.get("properties", {}).values()
        )
        and (v := Vocabulary.from_card(card, skill.name, "origin")) is not None
    ]
    return Vocabulary.merged(found) if found else None


def vocabulary_names(network: Any) -> list[str]:
    """Every name the network's providers publish, for any input of any skill."""
    return [
        name
        for card in network.cards
        for skill in card.skills
        for slot in skill.input_schema.get("properties", {})
        if (vocabulary := Vocabulary.from_card(card, skill.name, slot)) is not None
        for name in (*vocabulary.names, *vocabulary.aliases)
    ]
