"""The specialized agents of the travel case study (paper §4.2, a decentralized star).

Each agent belongs to its own entity and owns a small local dataset in `data/`:

- `personal` (the user): the private profile in an encrypted vault (`lamas.privacy`),
  made from `profile.json` on first use, with the user's consent in `consent.json`
  (which agent may ever be granted which field). It grants fields per step, lets
  the granted agent redeem them, records every access in the ledger, and votes for
  the option that best fits the user.
- `railgo`, `swiftrail` (two competing rail companies): one timetable each.
  A booking step comes with sealed refs to the traveller's details; the vendor
  redeems them *directly* with `personal` and never returns them, so the
  orchestrator never sees them.
- `staywell` (a hotel chain): `hotels.csv`, with `places.csv` for distances.
- `navigator` (a maps company): `roads_<city>.csv`, routed with Dijkstra.
- `logger` (the platform's Transaction Logger): an append-only list of events.

Every agent is made by a factory `NAME(card) -> Handler`; a network file names
them as `agents:NAME`. Handlers raise an `InputError` subclass, with a message
that says what is known, when asked about a city, place, offer or field they
do not know.

Voting rubrics (`consensus.vote`; request `{question, options: [{key, proposer,
data}], round, previous: [{voter, choice, ranking}]}`, reply `{choice, ranking}`):

- personal: ranks options by (1) a ticket departing inside the requested window
  (`time_of_day` in the request, else the first of morning/afternoon/evening
  named in the question, else any time), (2) a hotel meeting the profile's
  `preferences.hotel` (`min_stars`, `max_price_per_night`), (3) the lower price
  (`price`, else `total`), (4) the earlier departure, (5) the key. It votes for
  the first; its ballot does not depend on the round or on others' ballots.
- ticket vendors: round 1, they vote for their own cheapest offer (an option
  proposed by them or whose `data.vendor` is them), ranking their own offers
  first, then the others, each by price; when no option is theirs they abstain
  (`null`, with an empty ranking). From round 2 they join the bandwagon: if one
  option got the votes of a strict majority of the *other* voters' previous
  ballots (abstentions count in the total), they vote for it and rank it
  first; otherwise they keep their round-1 ballot.
"""

from __future__ import annotations

import copy
import csv
import heapq
import itertools
import json
import logging
import math
import os
import re
from collections import Counter
from collections.abc import Container, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from functools import cache
from pathlib import Path
from typing import Any

from lamas.agent import skill_router
from lamas.errors import ConfigError, DeliveryError, InputError, LamasError, UnknownTerm
from lamas.privacy import redeem, vault_handler
from lamas.protocol import AgentCard, Context, Envelope, Handler, Message, new_id
from lamas.protocol.cards import PublishedVocabulary
from lamas.protocol.vocabulary import Vocabulary, fold, quoted
from lamas.runtime.recovery import AlreadyCancelled, IdempotentResults, key_of
from lamas.runtime.today import today_of

log = logging.getLogger(__name__)

DATA = Path(__file__).resolve().parent / "data"
PERSONAL_ID = "personal"
LOGGER_ID = "logger"
LOG_FILE_ENV = "LAMAS_TRAVEL_LOG"
BOOKINGS_ENV = "LAMAS_TRAVEL_BOOKINGS"
"""A database URL where the vendors keep their bookings by idempotency key (so a vendor
that crashes and restarts still knows them); in memory when unset."""

JSON = dict[str, Any]


# --- errors -----------------------------------------------------------------


class UnknownName(InputError):
    """A city, place, hotel, offer or profile field the agent does not know."""


class NoRoute(InputError):
    """The road graph has no path between the two places (with the places to avoid)."""


class BookingFailed(LamasError):
    """A booking could not be made (missing traveller details, card declined)."""


# --- data -------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class City:
    name: str
    main_station: str
    lat: float
    lon: float


@dataclass(frozen=True, slots=True)
class Place:
    name: str
    city: str
    kind: str  # station | landmark | neighbourhood
    lat: float
    lon: float


DAYS = "1234567"
"""How a service's `days` are written: ISO weekdays, Monday 1 to Sunday 7."""


@dataclass(frozen=True, slots=True)
class Service:
    """One train of a vendor's timetable, on the weekdays in `days` ("12345": Mon-Fri)."""

    service: str
    origin: str
    destination: str
    station_from: str
    station_to: str
    depart: time
    arrive: time
    price: float
    currency: str
    days: str = DAYS
    changes: int = 0
    via: str = ""

    def runs_on(self, day: date) -> bool:
        return str(day.isoweekday()) in self.days


@dataclass(frozen=True, slots=True)
class Hotel:
    hotel_id: str
    name: str
    city: str
    lat: float
    lon: float
    stars: int
    price_per_night: float
    currency: str
    neighbourhood: str = ""


@dataclass(frozen=True, slots=True)
class Road:
    """One direction of a road segment: where it leads, its length and its driving time."""

    to: str
    km: float
    minutes: float


RoadGraph = Mapping[str, Sequence[Road]]


def _rows(name: str) -> list[dict[str, str]]:
    path = DATA / name
    try:
        with path.open(encoding="utf-8", newline="") as file:
            return list(csv.DictReader(file))
    except OSError as error:
        raise ConfigError(f"cannot read data file {path}: {error.strerror}") from None


@cache
def cities() -> dict[str, City]:
    return {
        r["city"]: City(r["city"], r["main_station"], float(r["lat"]), float(r["lon"]))
        for r in _rows("cities.csv")
    }


@cache
def places() -> dict[str, Place]:
    return {
        r["name"]: Place(r["name"], r["city"], r["kind"], float(r["lat"]), float(r["lon"]))
        for r in _rows("places.csv")
    }


@cache
def hotels() -> dict[str, Hotel]:
    return {
        r["hotel_id"]: Hotel(
            r["hotel_id"],
            r["name"],
            r["city"],
            float(r["lat"]),
            float(r["lon"]),
            int(r["stars"]),
            float(r["price_per_night"]),
            r["currency"],
            r.get("neighbourhood", ""),
        )
        for r in _rows("hotels.csv")
    }


@cache
def timetable(file_name: str) -> tuple[Service, ...]:
    return tuple(
        Service(
            r["service"],
            r["origin"],
            r["destination"],
            r["station_from"],
            r["station_to"],
            time.fromisoformat(r["depart"]),
            time.fromisoformat(r["arrive"]),
            float(r["price"]),
            r["currency"],
            r.get("days") or DAYS,
            int(r.get("changes") or 0),
            r.get("via") or "",
        )
        for r in _rows(file_name)
    )


def road_graph(edges: Iterable[tuple[str, str, float, float]]) -> dict[str, list[Road]]:
    """An undirected graph from `(a, b, length_km, speed_kmh)` segments."""
    graph: dict[str, list[Road]] = {}
    for a, b, km, speed in edges:
        if km < 0 or speed <= 0:
            raise ConfigError(f"road {a} - {b} needs length >= 0 and speed > 0")
        minutes = km / speed * 60
        graph.setdefault(a, []).append(Road(b, km, minutes))
        graph.setdefault(b, []).append(Road(a, km, minutes))
    return graph


@cache
def road_maps() -> dict[str, dict[str, list[Road]]]:
    """The road graph of every city, from `roads.csv` (one row per segment, with its city)."""
    segments: dict[str, list[tuple[str, str, float, float]]] = {}
    for r in _rows("roads.csv"):
        segments.setdefault(r["city"], []).append(
            (r["from"], r["to"], float(r["length_km"]), float(r["speed_kmh"]))
        )
    return {city: road_graph(edges) for city, edges in segments.items()}


def load_profile() -> JSON:
    path = DATA / "profile.json"
    profile: JSON = json.loads(path.read_text(encoding="utf-8"))
    return profile


# --- names ------------------------------------------------------------------


class UnknownPlace(UnknownName, UnknownTerm):
    """A city, station or place name the vendor's vocabulary does not know: `details` names
    the slot and lists the closest known names (`suggestions`)."""


@cache
def vocabulary(name: str) -> Vocabulary:
    """One of the vocabularies the vendors publish in their cards (data/vocabulary/)."""
    path = DATA / "vocabulary" / f"{name}.json"
    try:
        block = PublishedVocabulary.model_validate_json(path.read_bytes())
    except OSError as error:
        raise ConfigError(f"cannot read vocabulary {path}: {error.strerror}") from None
    return Vocabulary.from_published(block)


def resolve(name: str, known: Iterable[str], what: str, *, secondary: Container[str] = ()) -> str:
    """The known name `name` stands for (accents, case, punctuation ignored; a whole-word
    part of exactly one name stands for it), preferring names not in `secondary` when a
    part is ambiguous ("gare du nord" is the station, not the hotel named after it)."""
    names = tuple(known)
    candidates = Vocabulary(what, names).candidates(name)
    primary = [c for c in candidates if c not in secondary]
    if len(primary) == 1:
        return primary[0]
    return Vocabulary(what, tuple(primary or names)).resolve(name, error=UnknownPlace)


def matches(name: str, known: Iterable[str], *, secondary: Container[str] = ()) -> bool:
    """Whether `resolve` would find `name` among `known`."""
    try:
        resolve(name, known, "name", secondary=secondary)
    except UnknownName:
        return False
    return True


def parse_date(text: str, what: str = "date") -> date:
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise InputError(f"{what} must be a date written YYYY-MM-DD, got {text!r}") from None


def not_past(day: date, envelope: Envelope, what: str = "date") -> date:
    """`day`, unless it is before the task's today (stamped on the request, else the real
    date: `lamas.runtime.today`)."""
    if counterfactual(envelope):
        return day  # a what-if replay of a task is judged as of the task's own time
    today = today_of(envelope)
    if day < today:
        raise InputError(f"{what} {day.isoformat()} is in the past (today is {today.isoformat()})")
    return day


def city_name(name: str, slot: str = "city") -> str:
    return vocabulary("cities").resolve(name, slot=slot, error=UnknownPlace)


def endpoint(name: str, slot: str) -> tuple[str, str | None]:
    """The city and (if one is named) the station a trip starts or ends at."""
    known = Vocabulary.merged([vocabulary("cities"), vocabulary("stations")])
    found = known.resolve(name, slot=slot, error=UnknownPlace)
    if found in cities():
        return found, None
    return known.within[found], found


# --- pure functions ---------------------------------------------------------

WINDOWS: dict[str, tuple[time, time | None]] = {
    "morning": (time(5), time(12)),
    "afternoon": (time(12), time(18)),
    "evening": (time(18), None),  # until midnight
    "any": (time(0), None),
}


def in_window(moment: time, window: str) -> bool:
    """Whether a departure at `moment` is in `window` (start included, end excluded)."""
    start, end = WINDOWS[window]
    return start <= moment and (end is None or moment < end)


def window_named_in(text: str) -> str | None:
    """The first time of day a question names (morning, afternoon, evening/tonight), if any."""
    match = re.search(r"\b(morning|afternoon|evening|tonight)\b", text.casefold())
    if match is None:
        return None
    return "evening" if match.group(1) == "tonight" else match.group(1)


def clock_named_in(text: str) -> int | None:
    """Minutes after midnight of a clock time a question names ("9 o'clock", "9am",
    "9:30", "21h", "09:00"), if any. A bare number ("2 nights") is no clock time."""
    pattern = r"\b(\d{1,2})(?:[:h](\d{2}))?\s*(o'clock|am|pm|h\b)?"
    for match in re.finditer(pattern, text.casefold()):
        hours, minutes, suffix = int(match.group(1)), int(match.group(2) or 0), match.group(3)
        if (suffix or match.group(2)) and hours < 24 and minutes < 60:
            if suffix == "pm" and hours < 12:
                hours += 12
            return hours * 60 + minutes
    return None


def minutes_of(moment: time) -> int:
    return moment.hour * 60 + moment.minute


def clock_of(text: Any, what: str) -> time | None:
    """An HH:MM input as a time (None when not given), or a clear error."""
    if text in (None, ""):
        return None
    try:
        return time.fromisoformat(str(text))
    except ValueError:
        raise InputError(f"{what} must be a time written HH:MM, got {text!r}") from None


def haversine_km(lat1: float, lon1: float, lat2: float, lon2: float) -> float:
    """Great-circle distance in kilometres on a sphere of the Earth's mean radius."""
    p1, p2 = math.radians(lat1), math.radians(lat2)
    dp, dl = p2 - p1, math.radians(lon2 - lon1)
    h = math.sin(dp / 2) ** 2 + math.cos(p1) * math.cos(p2) * math.sin(dl / 2) ** 2
    return 2 * 6371.0088 * math.asin(math.sqrt(h))


def luhn_valid(number: str) -> bool:
    """The Luhn checksum every payment card number satisfies."""
    digits = [int(c) for c in number if c.isdigit()]
    if len(digits) < 12 or any(not (c.isdigit() or c in " -") for c in number):
        return False
    total = 0
    for index, digit in enumerate(reversed(digits)):
        if index % 2:
            digit = digit * 2 - 9 if digit > 4 else digit * 2
        total += digit
    return total % 10 == 0


def shortest_path(
    graph: RoadGraph, origin: str, destination: str, avoid: Iterable[str] = ()
) -> list[str] | None:
    """Dijkstra on driving time: the fastest path from `origin` to `destination`
    (both included) that passes through none of `avoid`, or None if there is none."""
    blocked = set(avoid)
    best: dict[str, float] = {origin: 0.0}
    previous: dict[str, str] = {}
    heap: list[tuple[float, str]] = [(0.0, origin)]
    while heap:
        minutes, node = heapq.heappop(heap)
        if node == destination:
            break
        if minutes > best[node]:
            continue  # a stale entry: a faster way here was found after it was queued
        for road in graph.get(node, ()):
            if road.to in blocked:
                continue
            arrival = minutes + road.minutes
            if arrival < best.get(road.to, math.inf):
                best[road.to] = arrival
                previous[road.to] = node
                heapq.heappush(heap, (arrival, road.to))
    if destination not in best:
        return None
    path = [destination]
    while path[-1] != origin:
        path.append(previous[path[-1]])
    return path[::-1]


def _number(value: Any) -> float:
    return (
        float(value) if isinstance(value, int | float) and not isinstance(value, bool) else math.inf
    )


def _price(data: Mapping[str, Any]) -> float:
    return _number(data.get("price", data.get("total")))


def _departure(data: Mapping[str, Any]) -> time | None:
    try:
        return datetime.fromisoformat(str(data["depart"])).time()
    except (KeyError, ValueError):
        return None


def preference_ballot(profile: Mapping[str, Any], request: Mapping[str, Any]) -> JSON:
    """The personal agent's ballot: see the module docstring for the rubric."""
    window = request.get("time_of_day") or window_named_in(str(request.get("question", "")))
    window = window if window in WINDOWS else "any"
    wanted_clock = clock_named_in(str(request.get("question", "")))
    hotel_wishes = (profile.get("preferences") or {}).get("hotel") or {}
    min_stars = _number(hotel_wishes.get("min_stars", 0))
    max_nightly = _number(hotel_wishes.get("max_price_per_night"))

    def rank(option: Mapping[str, Any]) -> tuple[int, int, float, str, str]:
        data = option.get("data") or {}
        outside = 0
        if "depart" in data:
            moment = _departure(data)
            if moment is not None and wanted_clock is not None:
                # A named clock time beats the window: "the 9 o'clock one".
                outside = abs(minutes_of(moment) - wanted_clock)
            else:
                outside = 0 if moment is not None and in_window(moment, window) else 1
        unfit = 0
        if "stars" in data:
            nightly = _number(data.get("price_per_night"))
            unfit = 0 if _number(data["stars"]) >= min_stars and nightly <= max_nightly else 1
        return (outside, unfit, _price(data), str(data.get("depart", "")), str(option["key"]))

    ranking = [str(o["key"]) for o in sorted(request["options"], key=rank)]
    return {"choice": ranking[0] if ranking else None, "ranking": ranking}


def vendor_ballot(voter: str, vendor: str, request: Mapping[str, Any]) -> JSON:
    """A ticket vendor's ballot: own offer first, then the bandwagon (module docstring)."""
    options: Sequence[Mapping[str, Any]] = request["options"]

    def own(option: Mapping[str, Any]) -> bool:
        data = option.get("data") or {}
        return option.get("proposer") == voter or data.get("vendor") == vendor

    def rank(option: Mapping[str, Any]) -> tuple[int, float, str]:
        return (0 if own(option) else 1, _price(option.get("data") or {}), str(option["key"]))

    ordered = sorted(options, key=rank)
    ranking = [str(o["key"]) for o in ordered]
    choice = str(ordered[0]["key"]) if ordered and own(ordered[0]) else None
    if choice is None:
        ranking = []  # an abstention ranks nothing (the consensus protocol's rule)
    if int(request.get("round", 1)) >= 2:
        others = [b for b in request.get("previous", ()) if b.get("voter") != voter]
        keys = {str(o["key"]) for o in options}
        counts = Counter(b.get("choice") for b in others if b.get("choice") in keys)
        if counts:
            leader, votes = counts.most_common(1)[0]
            if 2 * votes > len(others):
                choice = str(leader)
                ranking = [choice, *(str(o["key"]) for o in ordered if o["key"] != choice)]
    return {"choice": choice, "ranking": ranking}


# --- talking to other agents ------------------------------------------------


async def fetch_traveller(context: Context, envelope: Envelope, required: Iterable[str]) -> JSON:
    """Redeem the sealed refs the step came with, directly with the personal agent's vault;
    a `required` field that comes back empty is a `BookingFailed`."""
    details = await redeem(context, envelope, vault_agent=PERSONAL_ID)
    missing = [f for f in required if not details.get(f)]
    if missing:
        raise BookingFailed(f"the vault gave no {', '.join(missing)}; cannot book")
    return details


def counterfactual(envelope: Envelope) -> bool:
    """A what-if replay (lamas.runtime.counterfactual): quote, book nothing, read no data.
    (The replay itself fails a booking in a coalition without the user's vault.)"""
    return bool((envelope.message.metadata or {}).get("counterfactual"))


async def record(
    context: Context, card: AgentCard, envelope: Envelope, event: str, data: JSON
) -> None:
    """Tell the Transaction Logger what happened (one-way; a logger that is absent is only
    warned about, since the booking itself is done)."""
    try:
        await context.post(
            Envelope(
                sender=card.id,
                recipient=LOGGER_ID,
                skill="log.record",
                kind="event",
                mode="async",
                task_id=envelope.task_id,
                context_id=envelope.context_id,
                message=Message.of_data({"event": event, "data": data}),
            )
        )
    except DeliveryError as error:
        log.warning("%s could not log %s: %s", card.id, event, error)


def _need_vault_fields(card: AgentCard, skill: str, fields: Iterable[str]) -> None:
    declared = card.skill(skill)
    missing = sorted(set(fields) - set(declared.vault_fields if declared else ()))
    if missing:
        raise ConfigError(f"{card.id!r} needs vault_fields {missing} on its {skill} skill to book")


# --- personal ---------------------------------------------------------------


def load_consent() -> dict[str, list[str]]:
    consent: dict[str, list[str]] = json.loads((DATA / "consent.json").read_text("utf-8"))
    return consent


def personal(card: AgentCard) -> Handler:
    """The user's own agent: holds the vault (grants, redemptions, every access recorded in
    the platform's ledger) and votes for the user by the preferences in it.

    The vault is `travel-<id>` in `lamas.privacy.vault_path` (`$LAMAS_VAULT_DIR`), sealed
    with the vault key (`$LAMAS_VAULT_KEY`, or a key file made on first use).
    """
    from lamas.economy.ledger import platform_ledger
    from lamas.privacy.vault import open_or_create, vault_path
    from lamas.runtime.privacy_hook import ledger_sink

    vault = open_or_create(
        vault_path(f"travel-{card.id}"),
        load_profile,
        consent=load_consent(),
        audit=ledger_sink(platform_ledger),
    )
    preferences = vault.reveal("preferences") if "preferences" in vault.fields else {}

    async def vote(data: JSON, envelope: Envelope, context: Context) -> JSON:
        return preference_ballot({"preferences": preferences}, data)

    voting = card.model_copy(
        update={"skills": tuple(s for s in card.skills if s.name == "consensus.vote")}
    )
    return vault_handler(vault, other=skill_router(voting, {"consensus.vote": vote}))


# --- ticket vendors ---------------------------------------------------------

TRAVELLER_FIELDS = ("name", "passport_number", "payment_card")
WINDOW_SEATS, AISLE_SEATS = "AD", "BC"


def ticket_vendor(card: AgentCard, *, vendor: str, file_name: str) -> Handler:
    """A rail company's agent over its own timetable: search, book (fetching the traveller's
    details from the personal agent) and vote."""
    services = timetable(file_name)
    by_service = {s.service: s for s in services}
    _need_vault_fields(card, "ticket.book", TRAVELLER_FIELDS)
    bookings: dict[str, JSON] = {}  # the vendor's own records, passenger details included
    seats_sold: Counter[tuple[str, str, bool]] = Counter()

    def offer(service: Service, day: date) -> JSON:
        depart = datetime.combine(day, service.depart)
        arrive = datetime.combine(day, service.arrive)
        if arrive <= depart:
            arrive += timedelta(days=1)  # arrives after midnight
        return {
            "offer_id": f"{vendor}:{service.service}:{day.isoformat()}",
            "vendor": vendor,
            "train": service.service,
            "origin": service.origin,
            "destination": service.destination,
            "station_from": service.station_from,
            "station_to": service.station_to,
            "depart": depart.isoformat(),
            "arrive": arrive.isoformat(),
            "duration_min": int((arrive - depart).total_seconds() // 60),
            "changes": service.changes,
            **({"via": service.via} if service.via else {}),
            "price": service.price,
            "currency": service.currency,
        }

    def find_offer(offer_id: str) -> tuple[Service, date]:
        parts = offer_id.split(":")
        service = by_service.get(parts[1]) if len(parts) == 3 and parts[0] == vendor else None
        if service is None:
            raise UnknownName(
                f"unknown offer {offer_id!r}: {vendor} offers look like "
                f"'{vendor}:<train>:<YYYY-MM-DD>' as returned by ticket.search"
            )
        day = parse_date(parts[2], "the offer's date")
        if not service.runs_on(day):
            raise UnknownName(f"train {service.service} does not run on {day.strftime('%A')}s")
        return service, day

    async def search(data: JSON, envelope: Envelope, context: Context) -> JSON:
        origin, station_from = endpoint(data["origin"], "origin")
        destination, station_to = endpoint(data["destination"], "destination")
        if origin == destination:
            raise InputError(f"origin and destination are both {origin}")
        day = not_past(parse_date(data["date"]), envelope)
        window = data.get("time_of_day", "any")
        after = clock_of(data.get("depart_after"), "depart_after")
        before = clock_of(data.get("depart_before"), "depart_before")
        pair = [s for s in services if s.origin == origin and s.destination == destination]
        running = [s for s in pair if s.runs_on(day)]
        fitting = [
            s
            for s in running
            if in_window(s.depart, window)
            and (after is None or s.depart >= after)
            and (before is None or s.depart <= before)
        ]
        notes = []
        for station, field in ((station_from, "station_from"), (station_to, "station_to")):
            at_station = [s for s in fitting if getattr(s, field) == station]
            if station is not None and fitting and not at_station:
                used = sorted({getattr(s, field) for s in fitting})
                notes.append(f"{card.name} trains use {', '.join(used)}, not {station}")
            elif at_station:
                fitting = at_station
        found = [offer(s, day) for s in fitting]
        wanted = data.get("depart_at")
        if wanted:
            # A preferred departure time ranks trains by how close they leave to it.
            target = minutes_of(clock_of(wanted, "depart_at") or time())
            found.sort(
                key=lambda o: (
                    abs(minutes_of(datetime.fromisoformat(o["depart"]).time()) - target),
                    o["price"],
                )
            )
        else:
            found.sort(key=lambda o: (o["price"], o["depart"]))
        result: JSON = {"offers": found}
        if not found:
            asked = [
                w
                for w, v in (
                    (f"{window} ", window != "any"),
                    (f"after {data.get('depart_after')} ", after),
                    (f"before {data.get('depart_before')} ", before),
                )
                if v
            ]
            if not pair:
                notes.append(f"{card.name} runs no train from {origin} to {destination}")
            elif not running:
                notes.append(
                    f"{card.name} runs no train from {origin} to {destination} "
                    f"on {day.strftime('%A')}s"
                )
            else:
                notes.append(
                    f"{card.name} has no train {''.join(asked)}from {origin} to {destination} "
                    f"on {day.isoformat()}"
                )
        if notes:
            result["note"] = "; ".join(notes)
        return result

    async def book(data: JSON, envelope: Envelope, context: Context) -> JSON:
        service, day = find_offer(data["offer_id"])
        not_past(day, envelope, "the offer's date")
        if counterfactual(envelope):
            quote = offer(service, day)
            return {**quote, "status": "quoted", "booking_id": "", "seat": ""}
        traveller = await fetch_traveller(context, envelope, TRAVELLER_FIELDS)
        if not luhn_valid(str(traveller["payment_card"])):
            raise BookingFailed("the payment card was declined (its number fails the checksum)")
        seat_pref = str((traveller.get("preferences") or {}).get("seat", "window")).casefold()
        window_seat = seat_pref != "aisle"
        sold = seats_sold[(service.service, day.isoformat(), window_seat)]
        seats_sold[(service.service, day.isoformat(), window_seat)] += 1
        letters = WINDOW_SEATS if window_seat else AISLE_SEATS
        coach = 1 + (sold // 40) % 8
        seat = f"coach {coach}, seat {1 + (sold // 2) % 20}{letters[sold % 2]}"
        booking_id = f"{vendor[:2].upper()}-{new_id()[:8].upper()}"
        bookings[booking_id] = {
            "offer_id": data["offer_id"],
            "passenger": traveller["name"],
            "passport_number": traveller["passport_number"],
            "seat": seat,
        }
        result = {
            "booking_id": booking_id,
            "offer_id": data["offer_id"],
            "vendor": vendor,
            "status": "confirmed",
            "seat": seat,
            "train": service.service,
            "depart": datetime.combine(day, service.depart).isoformat(),
            "price": service.price,
            "currency": service.currency,
        }
        await record(
            context,
            card,
            envelope,
            "ticket.booked",
            {k: result[k] for k in ("booking_id", "offer_id", "vendor", "price", "currency")},
        )
        return result

    async def vote(data: JSON, envelope: Envelope, context: Context) -> JSON:
        return vendor_ballot(card.id, vendor, data)

    served = booking_records(card)
    return skill_router(
        card,
        {
            "ticket.search": search,
            "ticket.book": idempotent(served, "ticket.book", book),
            "consensus.vote": vote,
            **cancel_skill(card, served, "ticket.cancel", "ticket.cancelled"),
        },
    )


def railgo(card: AgentCard) -> Handler:
    """RailGo's ticket agent over `data/timetable_railgo.csv`."""
    return ticket_vendor(card, vendor="railgo", file_name="timetable_railgo.csv")


def swiftrail(card: AgentCard) -> Handler:
    """SwiftRail's ticket agent over `data/timetable_swiftrail.csv`."""
    return ticket_vendor(card, vendor="swiftrail", file_name="timetable_swiftrail.csv")


# --- hotels -----------------------------------------------------------------

GUEST_FIELDS = ("name", "payment_card")
THE_STATION = {"station", "the station", "train station", "the train station", "main station"}
"""What `near` may say to mean the city's main station ("a hotel near the station")."""


@cache
def spots() -> dict[str, Place]:
    """Every named point of every city: stations, landmarks, neighbourhoods and hotels."""
    found = dict(places())
    for hotel in hotels().values():
        found[hotel.name] = Place(hotel.name, hotel.city, "hotel", hotel.lat, hotel.lon)
    return found


def find_place(name: str, city: str, slot: str = "near") -> Place:
    """A station, landmark, neighbourhood or hotel of `city` by any of its names ("the
    station" is the main station, the city's own name its centre), or an `UnknownPlace`
    that says where the place is when it is in another city."""
    if fold(name) in THE_STATION:
        return places()[cities()[city].main_station]
    if vocabulary("cities").named(name) == (city,):
        centre = cities()[city]
        return Place(f"{city} centre", city, "centre", centre.lat, centre.lon)
    every = vocabulary("places")
    try:
        return spots()[every.in_place(city).resolve(name, slot=slot, error=UnknownPlace)]
    except UnknownPlace as error:
        elsewhere = sorted({every.within[n] for n in every.candidates(name)} - {city})
        if elsewhere and not error.ambiguous:
            raise UnknownPlace(
                f"{slot} {name!r} is in {' and '.join(elsewhere)}, not in {city}"
                + (f"; did you mean {quoted(error.suggestions)}?" if error.suggestions else ""),
                slot=slot,
                value=name,
                kind="place",
                suggestions=error.suggestions,
            ) from None
        raise


def staywell(card: AgentCard) -> Handler:
    """StayWell's agent: hotel search by distance to a place, and booking."""
    _need_vault_fields(card, "hotel.book", GUEST_FIELDS)
    bookings: dict[str, JSON] = {}

    def find_offer(offer_id: str) -> tuple[Hotel, date, int]:
        parts = offer_id.split(":")
        hotel = hotels().get(parts[1]) if len(parts) == 4 and parts[0] == "staywell" else None
        if hotel is None or not parts[3].isdigit() or int(parts[3]) < 1:
            raise UnknownName(
                f"unknown offer {offer_id!r}: StayWell offers look like "
                "'staywell:<hotel>:<YYYY-MM-DD>:<nights>' as returned by hotel.search"
            )
        return hotel, parse_date(parts[2], "the offer's check-in date"), int(parts[3])

    async def search(data: JSON, envelope: Envelope, context: Context) -> JSON:
        city = city_name(data["city"])
        check_in = not_past(parse_date(data["check_in"], "check_in"), envelope, "check_in")
        nights = int(data.get("nights", 1))
        near_name = data.get("near")
        if not near_name:
            near = places()[cities()[city].main_station]
        else:
            near = find_place(near_name, city)
        min_stars = int(data.get("min_stars", 1))
        max_price = float(data.get("max_price", math.inf))
        found = []
        for hotel in hotels().values():
            if hotel.city != city or hotel.stars < min_stars:
                continue
            if hotel.price_per_night > max_price:
                continue
            distance = haversine_km(near.lat, near.lon, hotel.lat, hotel.lon)
            found.append((distance, hotel))
        found.sort(key=lambda pair: (pair[0], pair[1].price_per_night, pair[1].hotel_id))
        offers = [
            {
                "offer_id": f"staywell:{h.hotel_id}:{check_in.isoformat()}:{nights}",
                "hotel": h.name,
                "city": h.city,
                "lat": h.lat,
                "lon": h.lon,
                "neighbourhood": h.neighbourhood,
                "stars": h.stars,
                "distance_km": round(d, 2),
                "price_per_night": h.price_per_night,
                "total": round(h.price_per_night * nights, 2),
                "currency": h.currency,
                "check_in": check_in.isoformat(),
                "nights": nights,
            }
            for d, h in found
        ]
        result: JSON = {"offers": offers, "near": near.name}
        if not offers:
            result["note"] = f"no StayWell hotel in {city} has {min_stars} stars or more" + (
                f" for at most {max_price:g} a night" if max_price < math.inf else ""
            )
        return result

    async def book(data: JSON, envelope: Envelope, context: Context) -> JSON:
        hotel, check_in, nights = find_offer(data["offer_id"])
        not_past(check_in, envelope, "check_in")
        total = round(hotel.price_per_night * nights, 2)
        if counterfactual(envelope):
            return {
                "offer_id": data["offer_id"],
                "hotel": hotel.name,
                "total": total,
                "currency": hotel.currency,
                "status": "quoted",
                "booking_id": "",
            }
        guest = await fetch_traveller(context, envelope, GUEST_FIELDS)
        if not luhn_valid(str(guest["payment_card"])):
            raise BookingFailed("the payment card was declined (its number fails the checksum)")
        booking_id = f"SW-{new_id()[:8].upper()}"
        bookings[booking_id] = {"offer_id": data["offer_id"], "guest": guest["name"]}
        result = {
            "booking_id": booking_id,
            "offer_id": data["offer_id"],
            "hotel": hotel.name,
            "city": hotel.city,
            "check_in": check_in.isoformat(),
            "check_out": (check_in + timedelta(days=nights)).isoformat(),
            "nights": nights,
            "total": total,
            "currency": hotel.currency,
            "status": "confirmed",
        }
        await record(
            context,
            card,
            envelope,
            "hotel.booked",
            {k: result[k] for k in ("booking_id", "offer_id", "hotel", "total", "currency")},
        )
        return result

    served = booking_records(card)
    return skill_router(
        card,
        {
            "hotel.search": search,
            "hotel.book": idempotent(served, "hotel.book", book),
            **cancel_skill(card, served, "hotel.cancel", "hotel.cancelled"),
        },
    )


# --- bookings: idempotency keys and cancellation ------------------------------------


def booking_records(card: AgentCard) -> IdempotentResults:
    """The vendor's bookings by idempotency key (in `$LAMAS_TRAVEL_BOOKINGS` if set)."""
    return IdempotentResults(card.id, os.environ.get(BOOKINGS_ENV) or None)


SkillFn = Any


def idempotent(served: IdempotentResults, skill: str, book: SkillFn) -> SkillFn:
    """`book`, made at most once per idempotency key: a repeat gets the first booking back
    (a retry after a lost reply, a task resumed after a crash), and a booking whose key was
    already cancelled is refused. A what-if quote books nothing and is not remembered."""

    async def once(data: JSON, envelope: Envelope, context: Context) -> JSON:
        if counterfactual(envelope):
            result: JSON = await book(data, envelope, context)
            return result
        key = key_of(envelope) or f"unkeyed:{new_id()}"

        async def make() -> JSON:
            made: JSON = await book(data, envelope, context)
            return made

        try:
            return await served.once(key, skill, envelope.task_id, make)
        except AlreadyCancelled as error:
            raise BookingFailed(str(error)) from None

    return once


def cancel_skill(card: AgentCard, served: IdempotentResults, skill: str, event: str) -> JSON:
    """`{skill: cancel}` if the card offers `skill` (else nothing): undo a booking found by
    its idempotency key or booking id, refund it, mark it cancelled, and log `event`.
    Cancelling twice refunds once; cancelling a key never booked leaves a tombstone."""
    if card.skill(skill) is None:
        return {}

    async def cancel(data: JSON, envelope: Envelope, context: Context) -> JSON:
        key = str(data.get("idempotency_key") or "")
        booking_id = str(data.get("booking_id") or "")
        if not key:
            if not booking_id:
                raise InputError(f"{skill} needs the booking's idempotency_key or booking_id")
            found = served.by_ref(booking_id)
            if found is None:
                raise UnknownName(f"{card.id} has no booking {booking_id!r}")
            key = found.key
        previous = served.cancel(key, skill, envelope.task_id)
        if previous is None or not previous.result:
            return {
                "booking_id": "",
                "status": "cancelled",
                "refund": 0,
                "note": "nothing was booked under this key; a booking under it will be refused",
            }
        booked = previous.result
        refund = booked.get("price", booked.get("total", 0))
        result = {
            "booking_id": booked.get("booking_id", ""),
            "status": "cancelled",
            "refund": refund,
            "currency": booked.get("currency", "EUR"),
        }
        if previous.status != "cancelled":  # the first cancel refunds and is logged
            await record(context, card, envelope, event, dict(result))
        else:
            result["note"] = "already cancelled; refunded once"
        return result

    return {skill: cancel}


# --- navigation -------------------------------------------------------------


def navigator(card: AgentCard) -> Handler:
    """A maps company's agent: the fastest route between two places of a city.

    Place names are resolved through the published place vocabulary ("Gare du Nord",
    "Tour Eiffel", "the station"); the city, when not given, is the one both places are in.
    Every place of a city is a node of its road graph (data/roads.csv).
    """
    maps = road_maps()
    every = vocabulary("places")

    def cities_of(name: str) -> set[str]:
        if fold(name) in THE_STATION:
            return set(maps)
        return {every.within[n] for n in every.candidates(name)} | set(
            vocabulary("cities").named(name)
        )

    def pick_city(data: JSON) -> str:
        if data.get("city"):
            city = city_name(data["city"])
            if city not in maps:
                raise UnknownName(
                    f"no road map for {city}; maps exist for {', '.join(sorted(maps))}"
                )
            return city
        ends = (data["origin"], data["destination"])
        where = [cities_of(e) for e in ends]
        both = sorted(where[0] & where[1])
        if len(both) == 1:
            return both[0]
        if len(both) > 1:
            raise InputError(
                f"both places are on the maps of {', '.join(both[:8])}"
                f"{' and more' if len(both) > 8 else ''}; give the city"
            )
        for end, slot, found in zip(ends, ("origin", "destination"), where, strict=True):
            if not found:
                every.resolve(end, slot=slot, error=UnknownPlace)  # raises: on no map
        raise NoRoute(
            f"{ends[0]!r} is in {', '.join(sorted(where[0]))} and {ends[1]!r} in "
            f"{', '.join(sorted(where[1]))}; the navigator routes within one city"
        )

    def find(name: str, city: str, slot: str) -> str:
        """The node of `city`'s map `name` is, or the one nearest to it (a city centre)."""
        place = find_place(name, city, slot)
        graph = maps[city]
        if place.name in graph:
            return place.name
        return min(
            graph,
            key=lambda n: haversine_km(place.lat, place.lon, spots()[n].lat, spots()[n].lon),
        )

    async def plan(data: JSON, envelope: Envelope, context: Context) -> JSON:
        city = pick_city(data)
        graph = maps[city]
        origin = find(data["origin"], city, "origin")
        destination = find(data["destination"], city, "destination")
        avoid = {find(a, city, "avoid") for a in data.get("avoid", ())}
        if avoid & {origin, destination}:
            raise InputError("cannot avoid the origin or the destination of the route")
        path = shortest_path(graph, origin, destination, avoid)
        if path is None:
            raise NoRoute(
                f"no road path in {city} from {origin} to {destination}"
                + (f" avoiding {', '.join(sorted(avoid))}" if avoid else "")
            )
        roads = [
            min((r for r in graph[a] if r.to == b), key=lambda r: r.minutes)
            for a, b in itertools.pairwise(path)
        ]
        return {
            "city": city,
            "path": path,
            "distance_km": round(sum(r.km for r in roads), 2),
            "minutes": round(sum(r.minutes for r in roads), 1),
            "legs": [
                {"from": a, "to": r.to, "km": r.km, "minutes": round(r.minutes, 2)}
                for a, r in zip(path, roads, strict=False)
            ],
        }

    return skill_router(card, {"route.plan": plan})


# --- transaction logger -----------------------------------------------------


class TransactionLog:
    """An append-only list of events (and, if `LAMAS_TRAVEL_LOG` names a file, JSON lines)."""

    def __init__(self) -> None:
        self.entries: list[JSON] = []

    def append(self, event: str, data: JSON, *, sender: str, task_id: str | None) -> int:
        seq = len(self.entries) + 1
        entry: JSON = {
            "seq": seq,
            "at": datetime.now().isoformat(timespec="milliseconds"),
            "sender": sender,
            "task_id": task_id,
            "event": event,
            "data": copy.deepcopy(data),
        }
        self.entries.append(entry)
        path = os.environ.get(LOG_FILE_ENV)
        if path:
            with open(path, "a", encoding="utf-8") as file:
                file.write(json.dumps(entry, ensure_ascii=False, default=str) + "\n")
        return seq


_LOGS: dict[str, TransactionLog] = {}


def logger(card: AgentCard) -> Handler:
    """The platform's Transaction Logger: records events; `records(card.id)` reads them back."""
    book = _LOGS[card.id] = TransactionLog()

    async def write(data: JSON, envelope: Envelope, context: Context) -> JSON:
        seq = book.append(
            data["event"], data["data"], sender=envelope.sender, task_id=envelope.task_id
        )
        return {"seq": seq}

    return skill_router(card, {"log.record": write})


def records(agent_id: str = LOGGER_ID) -> list[JSON]:
    """A copy of what the most recently made logger with this id has recorded, oldest first."""
    book = _LOGS.get(agent_id)
    return copy.deepcopy(book.entries) if book is not None else []


def read_log_file(path: str | Path) -> list[JSON]:
    """The records a logger wrote to a `LAMAS_TRAVEL_LOG` file, oldest first."""
    lines = Path(path).read_text(encoding="utf-8").splitlines()
    return [json.loads(line) for line in lines if line.strip()]
