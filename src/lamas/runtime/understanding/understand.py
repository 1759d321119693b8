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
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from lamas.agent.embeddings import Embedder
from lamas.protocol.cards import Skill
from lamas.protocol.clauses import Role, asks_round_trip, role_of
from lamas.protocol.instruction import RoutedClause, related_by_requirement
from lamas.protocol.preferences import Preferences, extract
from lamas.protocol.when import When, resolve
from lamas.runtime.understanding.scope import ScopeJudge

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


class Understander:
    def __init__(self, skills: Mapping[str, Skill], embedder: Embedder) -> None:
        self.skills = dict(skills)
        self.scope = ScopeJudge(self.skills, embedder)
        self.music = any(any(h in name for h in MUSIC_HINTS) for name in self.skills)

    def understand(self, routed: Sequence[RoutedClause]) -> Understanding:
        result = Understanding(routed=[])
        for index, clause in enumerate(routed):
            role = role_of(clause.text, first=index == 0)
            previous = result.routed[-1] if result.routed else None
            if role is Role.CONDITIONAL and previous is not None and previous.capability:
                booking = self._committing(previous.capability)
                if booking is not None:
                    if booking == previous.capability:
                        result.conditional.add(len(result.routed) - 1)
                    else:
                        result.routed.append(RoutedClause(clause.text, booking, clause.score))
                        result.conditional.add(len(result.routed) - 1)
                    continue
            if role is Role.RETURN and previous is not None and previous.capability:
                result.returns[len(result.routed)] = len(result.routed) - 1
                result.routed.append(RoutedClause(clause.text, previous.capability, clause.score))
                continue
            if role is Role.CONTEXT:
                result.context.append(clause.text)
                continue
            if clause.capability is None:
                result.not_offered.append(clause.text)
                continue
            verdict = self.scope.judge(clause.capability, clause.text)
            if not verdict.offered:
                result.not_offered.append(clause.text)
                continue
            result.routed.append(clause)
            if asks_round_trip(clause.text):
                result.returns[len(result.routed)] = len(result.routed) - 1
                result.routed.append(RoutedClause(clause.text, clause.capability, clause.score))
        return result

    def _committing(self, capability: str) -> str | None:
        """The booking in `capability`'s family (ticket.book for ticket.search)."""
        family = related_by_requirement(capability, self.skills)
        committing = [n for n in family if self.skills[n].requires]
        return committing[0] if committing else None

    def when(self, text: str, today: dt.date) -> When:
        return resolve(text, today)

    def preferences(self, text: str) -> Preferences:
        return extract(text, music=self.music)


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
