"""Understanding a request: from routed clauses to the steps the user asked for.

Routing (`protocol.instruction.route_clauses`) gives each clause its nearest skill.
This module decides what each clause is for (`protocol.clauses`), drops context
into the background, reports what this network does not offer (`ScopeJudge`),
turns "reserve it if there is one" into a conditional booking of what the clause
before it searches for and "and back on Sunday" into the way back of the trip
before it, and gives each step the inputs that need no model: dates, times and
stay lengths from `protocol.when`, preferences from `protocol.preferences`.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from lamas.agent.embeddings import Embedder
from lamas.protocol.cards import Skill
from lamas.protocol.clauses import (
    Role,
    asks_round_trip,
    books_it,
    is_conditional,
    is_verbless,
    return_part,
    role_of,
    says_book,
)
from lamas.protocol.instruction import (
    RoutedClause,
    related_by_requirement,
    route_clauses,
    starts_noun_phrase,
)
from lamas.protocol.preferences import Preferences, extract
from lamas.protocol.vocabulary import Vocabulary
from lamas.protocol.when import When, resolve
from lamas.runtime.understanding.corrections import corrected
from lamas.runtime.understanding.gazetteer import mentions
from lamas.runtime.understanding.scope import ScopeJudge, content_words, object_words

MUSIC_HINTS = ("song", "music", "track", "playlist")


@dataclass(slots=True)
class Understanding:
    routed: list[RoutedClause]
    """The clauses that are steps, each with the capability it asks for."""
    not_offered: list[str] = field(default_factory=list)
    """Clauses no skill of this network serves, in the user's words."""
    context: list[str] = field(default_factory=list)
    """Clauses that only give facts."""
    conditional: set[int] = field(default_factory=set)
    """Indexes (in `routed`) of bookings asked only if their search finds something."""
    returns: dict[int, int] = field(default_factory=dict)
    """Index of a way back -> index of the trip it reverses."""


_TRIP = re.compile(
    r"\b(?:from\s+)?[A-Z][\w'.-]*(?:[\s-][A-Z][\w'.-]*)*\s*(?:\bto\b|->|→|>|\u2013)\s*[A-Z]",
)
_ACQUIRE = re.compile(r"\b(?:rent|hire|order|buy|book|reserve|purchase|call\s+me)\b", re.I)
_PARTICIPLE = re.compile(
    r"^\s*(?:leaving|departing|arriving|getting\s+in|coming|returning|going|staying|flying|"
    r"heading|starting|"
    r"anything|any\s+time|preferably|ideally|with|without|in\s+the|at\s+the|by|around|before|"
    r"after)\b",
    re.I,
)
_TIME_WORDS = re.compile(
    r"\b(?:mon|tues|wednes|thurs|fri|satur|sun)day|\b(?:tonight|tomorrow|today|morning|afternoon|"
    r"evening|night|nights|weekend|week|day|days)\b|\d",
    re.I,
)


class Understander:
    def __init__(
        self,
        skills: Mapping[str, Skill],
        embedder: Embedder,
        *,
        served: Mapping[str, Iterable[str]] | None = None,
        places: Vocabulary | None = None,
        names: Iterable[str] = (),
    ) -> None:
        """`places`: the names a trip's ends may take (cities, and stations within them),
        to tell a trip ("Le Mans to Angers") from directions inside one city. `names`: the
        vendors' names that hold a conjunction or a comma ("Christine and the Queens",
        "Earth, Wind & Fire"), which must not cut a request in two."""
        self.skills = dict(skills)
        self.places = places
        joined = sorted({n for n in names if _JOINS.search(n)}, key=len, reverse=True)
        self._joined = re.compile("|".join(re.escape(n) for n in joined), re.I) if joined else None
        self.scope = ScopeJudge(self.skills, embedder, served=served)
        self.music = any(any(h in name for h in MUSIC_HINTS) for name in self.skills)
        self.trip = self._trip_skill()

    def _trip_skill(self) -> str | None:
        """The skill a bare "Paris to Lyon on Friday" asks for: the root of a family whose
        inputs need an origin, a destination and a date (a train search)."""
        for name, skill in self.skills.items():
            required = set(skill.input_schema.get("required", []))
            properties = skill.input_schema.get("properties", {})
            dated = any(p.get("format") == "date" for p in properties.values())
            if {"origin", "destination"} <= required and dated and not skill.requires:
                return name
        return None

    def route(self, instruction: str, router: Any) -> list[RoutedClause]:
        """The instruction's clauses routed by `router` (a `CapabilityRouter`); a trip
        between two cities is a clause of its own however weakly its words route. A
        request that corrects itself is routed as corrected."""
        instruction = corrected(instruction)
        if self._joined is not None:
            instruction = self._joined.sub(lambda m: _glue(m.group(0)), instruction)
        routed = route_clauses(
            instruction, router.scores, threshold=router.threshold, standalone=self._is_trip
        )
        routed = [self._by_verb(r, router.threshold) for r in routed]
        return [RoutedClause(_unglue(r.text), r.capability, r.score) for r in routed]

    def _by_verb(self, clause: RoutedClause, threshold: float) -> RoutedClause:
        """A clause that routes to nothing but opens with the verb only one skill is named
        by ("play their newest one": song.play) asks for that skill; whether the network
        serves its object is still the scope judge's to say ("play tennis")."""
        if clause.capability is not None:
            return clause
        opening = clause.text.split(maxsplit=1)[0].strip(",.;:!?").casefold() if clause.text else ""
        named = [n for n in self.skills if n.rsplit(".", 1)[-1].replace("_", " ") == opening]
        if len(named) != 1:
            return clause
        return RoutedClause(clause.text, named[0], max(clause.score, threshold))

    def understand(
        self,
        routed: Sequence[RoutedClause],
        scores: Callable[[str], list[tuple[str, float]]] | None = None,
        threshold: float = 0.0,
    ) -> Understanding:
        result = Understanding(routed=[])
        for index, clause in enumerate(routed):
            role = role_of(clause.text, first=index == 0 and len(routed) == 1)
            previous = result.routed[-1] if result.routed else None
            if role is Role.SEARCH_ONLY and previous is not None and previous.capability:
                root = self._root(previous.capability)
                result.routed[-1] = RoutedClause(previous.text, root, previous.score)
                continue
            if role is Role.CONDITIONAL and previous is None:
                # One clause that searches and books if found: the search, then the booking.
                searched = self._capability(clause)
                booking = self._committing(searched) if searched else None
                if searched is not None and booking is not None:
                    root = self._root(searched)
                    result.routed.append(RoutedClause(clause.text, root, clause.score))
                    result.routed.append(RoutedClause(clause.text, booking, clause.score))
                    result.conditional.add(len(result.routed) - 1)
                    continue
            if role is Role.CONDITIONAL and previous is not None and previous.capability:
                booking = self._committing(previous.capability)
                if booking is not None:
                    # "book one if there is, 2 nights": the condition's words are the search's.
                    previous = _more_of(previous, clause.text)
                    result.routed[-1] = previous
                    if booking == previous.capability:
                        result.conditional.add(len(result.routed) - 1)
                    else:
                        result.routed.append(RoutedClause(clause.text, booking, clause.score))
                        result.conditional.add(len(result.routed) - 1)
                    continue
            if (
                previous is not None
                and previous.capability is not None
                and (
                    (books_it(clause.text) and not self._object_words(clause.text))
                    or self._books_what_it_found(previous, clause.text)
                )
                and (booking := self._committing(previous.capability)) is not None
            ):
                # "If there's a train before 8 on Friday, book it for me": the booking of
                # what the clause before looks for, if it finds it.
                result.routed[-1] = RoutedClause(
                    f"{previous.text}, {clause.text}", booking, previous.score
                )
                if is_conditional(previous.text):
                    result.conditional.add(len(result.routed) - 1)
                continue
            leg = role is Role.RETURN and self._is_trip(clause.text)
            if leg:
                role = Role.STEP  # "Lyon back to Paris on Saturday": a leg of its own
            if role is Role.RETURN and previous is not None and previous.capability:
                last = len(result.routed) - 1
                out = result.returns.get(last)
                if out is not None and result.routed[out].text == previous.text:
                    # "Return ticket Lille - Paris, going Monday, coming back Wednesday": the
                    # round trip already asked for, its way out and way back said apart.
                    coming = return_part(clause.text) or clause.text
                    going = clause.text[: clause.text.rfind(coming)].rstrip(" ,;")
                    if going:
                        result.routed[out] = _more_of(result.routed[out], going)
                    result.routed[last] = RoutedClause(coming, previous.capability, previous.score)
                    continue
                result.returns[len(result.routed)] = len(result.routed) - 1
                result.routed.append(RoutedClause(clause.text, previous.capability, clause.score))
                continue
            if role is Role.CONTEXT and previous is not None and _PARTICIPLE.match(clause.text):
                # "leaving after 2pm", "arriving at Montparnasse": more about the step before,
                # which may now name a trip ("go to Brest, leaving from Rennes").
                target = len(result.routed) - 1
                way_out = result.returns.get(target)
                if way_out is not None and result.routed[way_out].text == previous.text:
                    # "return ticket Paris-Metz, going out on the 9th": the way there goes
                    # out on the 9th; the way back (no words of its own) is still to say.
                    target, previous = way_out, result.routed[way_out]
                merged = _more_of(previous, clause.text)
                capability = self._capability(merged)
                if capability != previous.capability and capability is not None:
                    merged = RoutedClause(merged.text, self._booking_of(merged), merged.score)
                result.routed[target] = merged
                continue
            if role is Role.CONTEXT:
                result.context.append(clause.text)
                continue
            capability = self._capability(clause)
            words = self._object_words(clause.text)
            opening = clause.text.split(maxsplit=1)[0].strip(",.;:!?").casefold()
            if not words and self.scope.serves_word(opening):
                words = [opening]  # "Hotel near Gare de l'Est": a thing, capitalised first
            if (
                previous is not None
                and capability is not None
                and previous.capability is not None
                and is_verbless(clause.text)
                and not self._is_trip(clause.text)
                and self._root(capability) == self._root(previous.capability)
            ):
                # "soul, happy" after "something from the 70s": more of the same request.
                result.routed[-1] = _more_of(previous, clause.text)
                continue
            if (
                previous is not None
                and previous.capability is not None
                and is_verbless(clause.text)
                and not self._is_trip(clause.text)
                and not starts_noun_phrase(clause.text)
                and not self._serves(capability or previous.capability, clause.text)
                and not self.scope.names_unoffered(words)
            ):
                # "walking distance to the centre", "window seat please": no new thing of
                # its own (no article, nothing its skill serves), more about the step before.
                result.routed[-1] = _more_of(previous, clause.text)
                continue
            if capability is None or (not words and is_verbless(clause.text)):
                trip = self._is_trip(clause.text)
                if previous is not None and _modifies(clause.text, words) and not trip:
                    # "Saturday night", "mornings both times": more about the clause before.
                    result.routed[-1] = _more_of(previous, clause.text)
                    continue
                if (
                    not words
                    and not trip
                    and (
                        capability is None
                        or (
                            previous is None
                            and len(routed) > 1
                            and not _STAY.search(clause.text)
                            and not is_conditional(clause.text)
                        )
                    )
                ):
                    # "Halloween weekend in Paris!" before the request itself.
                    result.context.append(clause.text)
                    continue
                if capability is None:
                    result.not_offered.append(clause.text)
                    continue
            offered = self._serves(capability, clause.text)
            if not offered and scores is not None:
                # The nearest skill may be near for another reason ("a hotel near the
                # cathedral" routes to directions): the next skill that serves the thing
                # asked for takes it.
                for other, score in scores(clause.text)[:4]:
                    if (
                        other != capability
                        and score >= threshold
                        and self._serves(other, clause.text)
                    ):
                        capability, offered = other, True
                        break
            if not offered:
                result.not_offered.append(clause.text)
                continue
            capability = self._booking_of(RoutedClause(clause.text, capability, clause.score))
            same = self._restated(result.routed, capability, clause.text) if capability else None
            if same is not None and capability is not None:
                # "I'll need a hotel in Lille ... I only need the room": the same room again
                # (booked if either clause books it), not a second one.
                earlier = result.routed[same]
                booking = self._committing(capability)
                keep = booking if booking in (capability, earlier.capability) else capability
                result.routed[same] = RoutedClause(
                    f"{earlier.text}, {clause.text}", keep, earlier.score
                )
                continue
            back = return_part(clause.text) if self._is_trip(clause.text) and not leg else None
            there = clause.text[: clause.text.rfind(back)].rstrip(" ,;") if back else clause.text
            result.routed.append(RoutedClause(there or clause.text, capability, clause.score))
            if asks_round_trip(clause.text) or back is not None:
                result.returns[len(result.routed)] = len(result.routed) - 1
                result.routed.append(RoutedClause(back or clause.text, capability, clause.score))
        return result

    def _restated(self, routed: list[RoutedClause], capability: str, text: str) -> int | None:
        """The step `text` says again, if it is one: the same family of skill, spoken of
        as known ("the room", "only") and naming no place, day or number of its own."""
        if not _RESTATING.search(text) or self.cities_in(text) or re.search(r"\d", text):
            return None
        if resolve(text, dt.date(2000, 1, 3)).date is not None:
            return None
        root = self._root(capability)
        same = [
            i for i, r in enumerate(routed) if r.capability and self._root(r.capability) == root
        ]
        return same[0] if len(same) == 1 else None

    def _object_words(self, text: str) -> list[str]:
        """The thing `text` asks for, less the places it names in lower case ("nantes->paris
        fri pm"): names are the vendors' to place, not things asked for. Tickets *for*
        something ("two tickets for the Louvre", "passes for the festival") are asked for
        that thing, which may be no trip at all."""
        places = self.places
        words = [w for w in object_words(text) if places is None or not places.exact(w)]
        admission = _ADMISSION.search(text)
        if admission is not None:
            # A city or station is where a ticket goes; anything else ("the Louvre", "the
            # festival") is what it admits to.
            words += [
                w
                for w in content_words(admission.group(1) or admission.group(2))
                if places is None or not places.exact(w)
            ]
        return words

    def _booking_of(self, clause: RoutedClause) -> str | None:
        """The capability a step asks for: the booking of its family when the clause asks
        for the thing itself (terse, or with a committing verb), else the routed one."""
        capability = self._capability(clause)
        if capability is not None and (is_verbless(clause.text) or says_book(clause.text)):
            return self._committing(capability) or capability
        return capability

    def _is_trip(self, text: str) -> bool:
        """Two places in different cities ("Le Mans to Angers", "next friday paris lyon"),
        or, without a vocabulary to tell, "X to Y" between names."""
        if self.trip is None:
            return False
        if self.places is not None:
            return len(self.cities_in(text)) >= 2
        return bool(_TRIP.search(text))

    def cities_in(self, text: str) -> list[str]:
        """The distinct cities `text` names, directly or by one of their stations."""
        if self.places is None:
            return []
        # The gazetteer's reading: misspelt ("Strasburg") and joined ("Paris-Lille") names.
        names = [m.name for m in mentions(text, self.places, choices=True)]
        cities = [self.places.within.get(n, n) for n in names]
        return list(dict.fromkeys(cities))

    def _books_what_it_found(self, condition: RoutedClause, text: str) -> bool:
        """ "If there's an evening train on Friday, grab me a seat": after a condition, a
        booking of the thing its search finds (named by its family, no place of its own)."""
        return (
            condition.capability is not None
            and is_conditional(condition.text)
            and says_book(text)
            and not self._is_trip(text)
            and bool(words := self._object_words(text))
            and all(self.scope.similarity(condition.capability, w) >= 1.0 for w in words)
        )

    def _capability(self, clause: RoutedClause) -> str | None:
        """The routed capability, or the trip's for a clause that names two places."""
        capability = clause.capability
        if self._is_trip(clause.text) and (self.places is not None or self._trip_like(capability)):
            keep = capability is not None and capability in related_by_requirement(
                self.trip or "", self.skills
            )
            capability = capability if keep else self.trip
        return capability

    def _serves(self, capability: str, text: str) -> bool:
        """Whether `capability`'s family offers what `text` asks for: the thing asked for
        is its kind of thing (`ScopeJudge`), and acquiring it ("rent a car", "order a
        taxi") is asked only of a family that books."""
        verdict = self.scope.judge(capability, text, self._object_words(text))
        if not verdict.offered:
            return False
        # A thing the family names itself ("a hotel" to a hotel search) is served even when
        # it can only be looked for; a thing only near its words ("a car" to directions)
        # is not, when the user wants to acquire it.
        exact = verdict.score >= 1.0
        return exact or not (_ACQUIRE.search(text) and self._committing(capability) is None)

    def _trip_like(self, capability: str | None) -> bool:
        """A clause naming two places ("X to Y") is a trip unless routing found another
        thing that takes two places (directions within a city)."""
        if capability is None:
            return True
        return capability in related_by_requirement(self.trip or "", self.skills) or not {
            "origin",
            "destination",
        } <= set(self.skills[capability].input_schema.get("properties", {}))

    def _root(self, capability: str) -> str:
        """The search of `capability`'s family (ticket.search for ticket.book)."""
        family = related_by_requirement(capability, self.skills)
        roots = [n for n in family if not set(self.skills[n].requires) & set(family)]
        return roots[0] if roots else capability

    def _committing(self, capability: str) -> str | None:
        """The booking in `capability`'s family (ticket.book for ticket.search)."""
        family = related_by_requirement(capability, self.skills)
        committing = [n for n in family if self.skills[n].requires]
        return committing[0] if committing else None

    def when(self, text: str, today: dt.date) -> When:
        return resolve(text, today)

    def preferences(self, text: str) -> Preferences:
        return extract(text, music=self.music)


# "tickets for the Louvre", "two passes to the festival", "Louvre tickets": what the
# tickets admit to (a trip's ends are places the vendors know, and are dropped).
_ADMISSION = re.compile(
    r"\b(?:tickets?|pass(?:es)?|entr(?:y|ies)|admissions?|seats?)\s+(?:for|to)\s+"
    r"((?:the\s+)?[\w'-]+(?:\s+[A-Z][\w'-]*)*(?:\s+festival|\s+show|\s+museum)?)"
    r"|\b([A-Z][\w'-]+)\s+(?:tickets?|pass(?:es)?)\b"
)
_JOINS = re.compile(r"\s(?:and|then|also|plus|\+)\s|[,;]", re.I)
_GLUE = "\u2060"  # a word joiner: no separator matches across it


def _glue(name: str) -> str:
    """`name` with its conjunctions and commas made inseparable."""
    return re.sub(r"(\s)(and|then|also|plus|\+)(\s)", rf"\1\2{_GLUE}\3", name).replace(
        ",", f"{_GLUE}\uff0c"
    )


def _unglue(text: str) -> str:
    return text.replace(f"{_GLUE}\uff0c", ",").replace(_GLUE, "")


_RESTATING = re.compile(
    r"\b(?:only|just)\s+(?:need|want)\s+the\b|^\s*(?:and\s+)?book\s+(?:the|it)\b|"
    # "a ticket Toulouse-Bordeaux for Saturday, the last train": which one of it.
    r"^\s*(?:(?:i|we)\s+(?:need|want)\s+)?(?:ideally\s+|preferably\s+)?the\s+(?:first|last|earliest|latest|cheapest|fastest|"
    r"quickest)\s+(?:one|train|room|hotel|song|track)\s*[.!]?$",
    re.I,
)


def _more_of(previous: RoutedClause, text: str) -> RoutedClause:
    """`previous` with `text` added to its words: more about the same step."""
    return RoutedClause(f"{previous.text}, {text}", previous.capability, previous.score)


_STAY = re.compile(r"\b(?:nights?|stay(?:ing)?)\b", re.I)


def _modifies(text: str, words: list[str]) -> bool:
    """A fragment that only adds time, quantity or manner to the clause before it: it has
    no object of its own, or only time words."""
    return not words or all(_TIME_WORDS.search(w) for w in words)


def time_inputs(skill: Skill, when: When) -> dict[str, Any]:
    """The inputs of `skill` that `when` gives: its date slots, stay length, departure
    window (only the names its input schema has)."""
    properties = skill.input_schema.get("properties", {})
    values: dict[str, Any] = {}
    dates = [n for n, p in properties.items() if p.get("format") == "date"]
    if when.date is not None and dates:
        values[dates[0]] = when.date.isoformat()
    if when.nights is not None and "nights" in properties:
        values["nights"] = when.nights
    for name, value in when.slots().items():
        if name != "date" and name in properties:
            values[name] = value
    allowed = properties.get("time_of_day", {}).get("enum")
    if "time_of_day" in values and allowed and values["time_of_day"] not in allowed:
        values.pop("time_of_day")
    return values
