"""Fill a skill's inputs from the user's words with schema-constrained decoding.

The model sees the skill's fields with their descriptions and must answer with
JSON of exactly those fields, `null` where the words do not say; the backend's
grammar enforces the shape. What the model returns is then checked: a value
that fails the skill's schema, or a free-text value found nowhere in the user's
words, counts as missing, so the orchestrator asks instead of guessing.
"""

from __future__ import annotations

import datetime as dt
import json
import re
import unicodedata
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from lamas.errors import ModelError
from lamas.llm.base import ChatMessage, ChatModel
from lamas.protocol.cards import FILL, Skill
from lamas.protocol.instruction import (
    alternatives,
    date_slots,
    mentions_date,
    missing_slots,
    slot_schema,
    ungrounded,
)

PROFILE_NOTE = "The user's profile: "
"""How the user's profile is put before the model (context, not the user's words)."""

SYSTEM = (
    "You extract the inputs of one service call from a user's request. "
    "Today is {today}. Fill each field only from what the user said; use null for any "
    "field the user did not state. Write dates as YYYY-MM-DD, resolving words like "
    "'tomorrow' or 'next Friday' from today's date; if the request gives no date, use null. "
    "Copy names of places as the user wrote them."
)


@dataclass(frozen=True, slots=True)
class Filled:
    values: dict[str, Any]
    missing: list[str]
    """Required fields still without a value (to ask the user for)."""
    dropped: list[str]
    """Fields the model filled but that were rejected (invalid, or not in the user's words)."""
    ambiguous: dict[str, list[str]] = field(default_factory=dict)
    """Fields the user left open between choices ("Lyon or Marseille"): asked, not guessed."""


FewShot = Callable[[Skill, str], Sequence[tuple[str, str]]]
"""Worked examples for a skill and a request: (request, the inputs JSON that served it)."""

Notes = Callable[[Skill, str], Sequence[str]]
"""Short lessons for a skill and a request (admitted insights of the shared pool)."""


class SlotFiller:
    def __init__(
        self,
        model: ChatModel,
        *,
        today: dt.date | None = None,
        few_shot: FewShot | None = None,
        system: str = SYSTEM,
        notes: Notes | None = None,
    ) -> None:
        self.model = model
        self.today = today or dt.date.today()
        # The system prompt (a template with {today}): a variant under A/B test can
        # replace it (`lamas.runtime.prompt_ab`).
        self.system = system
        # Lessons from the shared insight pool relevant to a skill and request, told to
        # the model in the system prompt (not as the user's words: they are no evidence
        # for a value).
        self.notes = notes
        # Learning from experience: earlier requests whose inputs served well, shown to
        # the model as worked examples (`lamas.experience.fewshot`).
        self.few_shot = few_shot

    async def fill(
        self,
        skill: Skill,
        request: str,
        *,
        known: Mapping[str, Any] | None = None,
        context: Iterable[str] = (),
    ) -> Filled:
        """The inputs of `skill` that `request` gives, merged over `known` ones."""
        from jsonschema import Draft202012Validator

        known = dict(known or {})
        earlier = list(context)
        properties = skill.input_schema.get("properties", {})
        verbatim = {
            name: request
            for name, prop in properties.items()
            if isinstance(prop, dict) and prop.get(FILL) == "request" and name not in known
        }
        known.update(verbatim)
        if not set(properties) - set(verbatim):
            return Filled(known, missing_slots(skill.input_schema, known), [])
        prompt = _prompt(skill, request, known, earlier)
        system = self.system.format(today=f"{self.today:%A}, {self.today.isoformat()}")
        told = list(self.notes(skill, request)) if self.notes else []
        if told:
            system += "\nNotes from shared experience:\n" + "\n".join(f"- {n}" for n in told)
        shots: list[ChatMessage] = []
        for example, served in self.few_shot(skill, request) if self.few_shot else ():
            shots += [
                ChatMessage("user", _prompt(skill, example, {}, [])),
                ChatMessage("assistant", _answer_shape(skill, served)),
            ]
        try:
            completion = await self.model.complete(
                [ChatMessage("system", system), *shots, ChatMessage("user", prompt)],
                schema=slot_schema(skill.input_schema),
                max_tokens=160,
            )
            answer = completion.json()
        except ModelError:
            answer = {}
        proposed = {
            k: v for k, v in (answer if isinstance(answer, dict) else {}).items() if k in properties
        }
        values = dict(known)
        dropped: list[str] = []
        ambiguous: dict[str, list[str]] = {}
        validator = Draft202012Validator({**skill.input_schema, "required": []})
        # The user's words ground a value; the profile does not (a favourite genre is no
        # filter on "play their newest one"): it fills only the slots made for it (lists).
        said = [e for e in earlier if not e.startswith(PROFILE_NOTE)]
        evidence = " ".join([request, *said, json.dumps(known)])
        # Asked for a date the user never gave, a small model writes today's: a date
        # slot needs some date words in what the user said.
        dateless = set(date_slots(skill.input_schema)) if not mentions_date(request) else set()
        required = set(skill.input_schema.get("required", []))
        words = " ".join([request, *said])
        profile = " ".join(e for e in earlier if e.startswith(PROFILE_NOTE))
        profile_fields = _fields(
            e[len(PROFILE_NOTE) :] for e in earlier if e.startswith(PROFILE_NOTE)
        )
        for name, value in proposed.items():
            if value is None or value == "" or (name in dateless and name not in known):
                continue
            if (
                list(validator.iter_errors({name: value}))
                or ungrounded(skill.input_schema, {name: value}, evidence)
                or (
                    name not in required
                    and name not in known
                    and not said_outright(properties[name], value, words, profile)
                    and profile_fields.get(name) != value
                )
            ):
                dropped.append(name)
                continue
            options = alternatives(value, request) if isinstance(value, str) else []
            if options:
                ambiguous[name] = options
                values.pop(name, None)
                continue
            values[name] = value
        missing = missing_slots(skill.input_schema, values)
        missing += [name for name in ambiguous if name not in missing]
        return Filled(values, missing, dropped, ambiguous)


def said_outright(prop: Mapping[str, Any], value: Any, words: str, profile: str = "") -> bool:
    """Whether an optional input a model filled is in the user's `words` as it is: a choice
    ("genre": "soul"), a name or a number ("count": 5) the user never said is the model's
    taste, and it narrows the search (a favourite genre made "play some Bob" find nothing).
    Dates are checked elsewhere; a list may come from the user's `profile`, made for it."""
    if "format" in prop or isinstance(value, dict):
        return True
    if isinstance(value, list):  # a list is the profile's ("favourite_genres"), or the user's
        return all(said_outright({}, v, f"{words} {profile}") for v in value)
    folded = _fold(words)
    if isinstance(value, bool):
        return True
    if isinstance(value, (int, float)):
        number = f"{value:g}"
        return bool(re.search(rf"(?<![\d.]){re.escape(number)}(?![\d])", folded))
    if isinstance(value, str):
        # Every word of it: "jazz" for "play some Bob" is the model's taste, not the user's.
        return all(
            re.search(rf"\b{re.escape(w)}", folded) for w in re.findall(r"\w{3,}", _fold(value))
        )
    return True


def _fields(notes: Iterable[str]) -> dict[str, Any]:
    """Every named value of the profile notes, at any depth ("preferences.max_duration_s"
    as "max_duration_s"): an input of the same name may take the profile's value."""
    found: dict[str, Any] = {}

    def walk(node: Any) -> None:
        if isinstance(node, dict):
            for key, value in node.items():
                found.setdefault(str(key), value)
                walk(value)
        elif isinstance(node, list):
            for item in node:
                walk(item)

    for note in notes:
        try:
            walk(json.loads(note))
        except ValueError:
            continue
    return found


def _fold(text: str) -> str:
    return unicodedata.normalize("NFKD", text.casefold()).encode("ascii", "ignore").decode()


def _answer_shape(skill: Skill, served: str) -> str:
    """An example's answer in the exact shape the model must answer in: every field of
    the skill, null where the example had none (a stored step's inputs omit them)."""
    try:
        values = json.loads(served)
    except ValueError:
        values = {}
    values = values if isinstance(values, dict) else {}
    return json.dumps({name: values.get(name) for name in skill.input_schema.get("properties", {})})


SERVICE_LINE = "Service: "
"""How a slot-filling request names the skill it fills (`_prompt` writes it)."""


def asked_service(messages: Sequence[ChatMessage]) -> str:
    """The skill a slot-filling request (the last message) asks about; "" if none."""
    for line in messages[-1].content.splitlines() if messages else ():
        if line.startswith(SERVICE_LINE):
            return line[len(SERVICE_LINE) :].split()[0]
    return ""


class LabelledSlots:
    """A scripted slot filler (a `ScriptedModel` responder) that knows the answers: per
    skill, the values to give (`labels`); null for every other field. Replays of recorded
    tasks, benchmarks and tests set `labels` before each instruction."""

    def __init__(self, labels: Mapping[str, Mapping[str, Any]] | None = None) -> None:
        self.labels: Mapping[str, Mapping[str, Any]] = labels or {}

    def __call__(self, messages: list[ChatMessage], schema: dict[str, Any] | None) -> Any:
        wanted = self.labels.get(asked_service(messages), {})
        return {name: wanted.get(name) for name in (schema or {}).get("properties", {})}


def _prompt(skill: Skill, request: str, known: dict[str, Any], earlier: list[str]) -> str:
    lines = [f"{SERVICE_LINE}{skill.name} - {skill.description}", "Fields:"]
    for name, prop in skill.input_schema.get("properties", {}).items():
        kind = prop.get("type", "value")
        choices = f" one of {prop['enum']}" if "enum" in prop else ""
        lines.append(f"- {name} ({kind}{choices}): {prop.get('description', '')}".rstrip(": "))
    lines.extend(earlier)
    if known:
        lines.append(f"Already known: {json.dumps(known)}")
    lines.append(f"Request: {request}")
    return "\n".join(lines)
