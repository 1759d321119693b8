"""The travel case study's specialized agents (examples/travel), over their own datasets."""

from __future__ import annotations

import asyncio
import csv
import itertools
import json
import math
from collections.abc import AsyncIterator
from datetime import datetime, time
from pathlib import Path
from typing import Any

import pytest

from lamas.agent import Agent
from lamas.errors import AccessDenied, AccessRefused, InputError, SchemaViolation
from lamas.privacy import Vault, new_key, vault_handler
from lamas.privacy.sealing import SealKey
from lamas.protocol import DataPart, Envelope, Message
from lamas.runtime import Network
from lamas.runtime.netfile import build, load_module_file, load_spec

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "travel"
DATA = EXAMPLE / "data"
DAY = "2025-06-12"  # a Thursday
TODAY = "2025-06-01"
WINDOWS = {"morning": (5, 12), "afternoon": (12, 18), "evening": (18, 24)}
MAIN_PAIRS = [
    ("Paris", "Lyon"),
    ("Paris", "Marseille"),
    ("Paris", "Lille"),
    ("Paris", "Bordeaux"),
    ("Lyon", "Marseille"),
]


travel = load_module_file(EXAMPLE / "agents.py")
PARIS_LYON = next(
    r["service"]
    for r in csv.DictReader((DATA / "timetable_railgo.csv").open(encoding="utf-8"))
    if (r["origin"], r["destination"], r["days"]) == ("Paris", "Lyon", "1234567")
)
"""A RailGo Paris-Lyon train that runs every day."""
PROFILE = json.loads((DATA / "profile.json").read_text(encoding="utf-8"))


def rows(name: str) -> list[dict[str, str]]:
    with (DATA / name).open(encoding="utf-8", newline="") as file:
        return list(csv.DictReader(file))


async def settle() -> None:
    """Let one-way envelopes (log records) be handled."""
    for _ in range(5):
        await asyncio.sleep(0)


@pytest.fixture
async def network() -> AsyncIterator[Network]:
    """Every agent of the travel network that has a handler, under the file's access rules."""
    # The file's own build (access rules and topology), without signatures: these tests
    # send as agents of the network without holding their keys.
    net = build(
        load_spec(EXAMPLE / "network.yaml"),
        base_dir=EXAMPLE,
        external=["orchestrator"],
        defended=False,
    )
    yield net
    await settle()
    await net.transport.close()


async def ask(
    net: Network, recipient: str, skill: str, sender: str = "orchestrator", **data: Any
) -> dict[str, Any]:
    envelope = Envelope(
        sender=sender,
        recipient=recipient,
        skill=skill,
        task_id="trip-1",
        # the vendors refuse past dates: the task's today, as an orchestrator stamps it
        message=Message.of_data(data).model_copy(update={"metadata": {"today": TODAY}}),
    )
    reply = await net.transport.request(envelope)
    return reply.data


async def book(
    net: Network, vendor: str, skill: str, offer_id: str, *, task_id: str = "trip-1"
) -> dict[str, Any]:
    """Book as the orchestrator does: the vault grants the vendor's skill its fields as
    sealed refs, which go with the request."""
    fields = net.card(vendor).skill(skill).vault_fields  # type: ignore[union-attr]
    granted = await net.transport.request(
        Envelope(
            sender="orchestrator",
            recipient="personal",
            skill="vault.grant",
            task_id=task_id,
            message=Message.of_data(
                {"agent": vendor, "fields": list(fields), "purpose": f"{skill} in a test"}
            ),
        )
    )
    reply = await net.transport.request(
        Envelope(
            sender="orchestrator",
            recipient=vendor,
            skill=skill,
            task_id=task_id,
            message=Message(
                parts=(*Message.of_data({"offer_id": offer_id}).parts, *granted.sealed_refs),
                metadata={"today": TODAY},
            ),
        )
    )
    return reply.data


def private_values() -> list[str]:
    card = PROFILE["payment_card"]
    return [
        PROFILE["name"],
        PROFILE["passport_number"],
        card,
        card.replace(" ", ""),
        PROFILE["home_address"],
    ]


# --- the network file -------------------------------------------------------


def undocumented(schema: dict[str, Any], where: str) -> list[str]:
    missing = []
    for name, prop in schema.get("properties", {}).items():
        if "description" not in prop:
            missing.append(f"{where}.{name}")
        missing += undocumented(prop, f"{where}.{name}")
        if isinstance(prop.get("items"), dict):
            missing += undocumented(prop["items"], f"{where}.{name}[]")
    return missing


def test_network_file_describes_the_decentralized_star() -> None:
    spec = load_spec(EXAMPLE / "network.yaml")
    assert spec.name == "travel"
    assert str(spec.topology) == "star"  # a plain kind (a TopologySpec where there is one)
    ids = [a.card.id for a in spec.agents]
    assert set(ids) == {
        "orchestrator",
        "personal",
        "railgo",
        "swiftrail",
        "staywell",
        "navigator",
        "logger",
    }
    handlers = {a.card.id: a.handler for a in spec.agents}
    assert handlers.pop("orchestrator") is None
    assert all(h == f"agents:{i}" for i, h in handlers.items())
    cards = {a.card.id: a.card for a in spec.agents}
    assert cards["railgo"].entity != cards["swiftrail"].entity
    assert {cards[i].entity for i in ("personal", "orchestrator", "logger")} == {"user", "platform"}
    assert cards["personal"].vault_fields == (
        "name",
        "passport_number",
        "payment_card",
        "home_address",
        "preferences",
    )
    for vendor in ("railgo", "swiftrail"):
        assert cards[vendor].skill("ticket.book").requires == ("ticket.search",)  # type: ignore[union-attr]
        assert {"name", "passport_number", "payment_card"} <= set(cards[vendor].vault_fields)
    assert cards["staywell"].skill("hotel.book").requires == ("hotel.search",)  # type: ignore[union-attr]
    for card in cards.values():
        for skill in card.skills:
            assert len(skill.description) > 40, (card.id, skill.name)
            assert undocumented(skill.input_schema, f"{card.id}.{skill.name}") == []
            if card.id != "orchestrator":
                assert card.price(skill.name) is not None, (card.id, skill.name)
    # the vendors' prices for the same skill differ: they compete
    assert cards["railgo"].price("ticket.book") != cards["swiftrail"].price("ticket.book")


async def test_access_rules_let_companies_reach_personal_but_not_the_navigator(
    network: Network,
) -> None:
    with pytest.raises(AccessDenied):
        await ask(network, "personal", "profile.get", sender="navigator", fields=["name"])
    with pytest.raises(AccessDenied):
        await ask(
            network,
            "railgo",
            "ticket.search",
            sender="staywell",
            origin="Paris",
            destination="Lyon",
            date=DAY,
        )
    reply = await ask(network, "logger", "log.record", sender="navigator", event="x", data={})
    assert reply == {"seq": 1}


# --- tickets ----------------------------------------------------------------


@pytest.mark.parametrize("vendor", ["railgo", "swiftrail"])
async def test_search_keeps_to_the_window_and_sorts_cheapest_first(
    network: Network, vendor: str
) -> None:
    for (a, b), (window, (start, end)) in itertools.product(MAIN_PAIRS, WINDOWS.items()):
        for origin, destination in ((a, b), (b, a)):
            reply = await ask(
                network,
                vendor,
                "ticket.search",
                origin=origin,
                destination=destination,
                date=DAY,
                time_of_day=window,
            )
            offers = reply["offers"]
            assert offers, f"{vendor} has no {window} train {origin}->{destination}"
            for offer in offers:
                depart = datetime.fromisoformat(offer["depart"])
                assert depart.date().isoformat() == DAY
                assert start <= depart.hour < end
                assert datetime.fromisoformat(offer["arrive"]) > depart
                assert (offer["vendor"], offer["origin"], offer["destination"]) == (
                    vendor,
                    origin,
                    destination,
                )
                assert offer["currency"] == "EUR"
                assert offer["offer_id"].startswith(f"{vendor}:")
            prices = [o["price"] for o in offers]
            assert prices == sorted(prices)


async def test_search_any_time_returns_every_service_of_the_timetable(network: Network) -> None:
    reply = await ask(
        network, "railgo", "ticket.search", origin="PARIS", destination="lyon", date=DAY
    )
    timetable = rows("timetable_railgo.csv")
    pair = [r for r in timetable if (r["origin"], r["destination"]) == ("Paris", "Lyon")]
    weekday = str(datetime.fromisoformat(DAY).isoweekday())
    expected = [r for r in pair if weekday in r["days"]]
    assert len(pair) > len(expected) >= 8  # a weekend-only train does not run on Thursdays
    assert len(reply["offers"]) == len(expected)
    assert {o["train"] for o in reply["offers"]} == {r["service"] for r in expected}
    first = min(expected, key=lambda r: float(r["price"]))
    offer = reply["offers"][0]
    assert offer["train"] == first["service"]
    assert offer["price"] == float(first["price"])
    assert offer["station_from"] == "Paris Gare de Lyon"
    assert offer["station_to"] == "Lyon Part-Dieu"
    assert offer["depart"] == f"{DAY}T{first['depart']}:00"


async def test_the_two_vendors_price_the_same_trip_differently(network: Network) -> None:
    found = {}
    for vendor in ("railgo", "swiftrail"):
        reply = await ask(
            network,
            vendor,
            "ticket.search",
            origin="Paris",
            destination="Lyon",
            date=DAY,
            time_of_day="morning",
        )
        found[vendor] = reply["offers"]
    railgo_prices = {o["price"] for o in found["railgo"]}
    swiftrail_prices = {o["price"] for o in found["swiftrail"]}
    assert railgo_prices != swiftrail_prices
    assert found["railgo"][0]["price"] != found["swiftrail"][0]["price"]
    # they are different companies with different stations in Lyon
    assert {o["station_to"] for o in found["swiftrail"]} == {"Lyon Perrache"}


async def test_every_pair_is_served_by_both_vendors_direct_or_with_one_change(
    network: Network,
) -> None:
    for vendor in ("railgo", "swiftrail"):
        direct = await ask(
            network, vendor, "ticket.search", origin="Marseille", destination="Nice", date=DAY
        )
        assert direct["offers"]
        assert {o["changes"] for o in direct["offers"]} == {0}
        far = await ask(
            network, vendor, "ticket.search", origin="Brest", destination="Nice", date=DAY
        )
        assert far["offers"], vendor
        assert {o["changes"] for o in far["offers"]} == {1}
        assert all(o["via"] for o in far["offers"])
        assert min(o["duration_min"] for o in far["offers"]) > 6 * 60  # across France


async def test_stations_narrow_the_offers_and_windows_by_clock(network: Network) -> None:
    by_station = await ask(
        network,
        "swiftrail",
        "ticket.search",
        origin="Gare de Lyon",
        destination="Perrache",
        date=DAY,
        depart_after="09:00",
        depart_before="17:00",
    )
    offers = by_station["offers"]
    assert offers
    assert {(o["origin"], o["destination"]) for o in offers} == {("Paris", "Lyon")}
    assert {o["station_to"] for o in offers} == {"Lyon Perrache"}
    assert all("09:00" <= o["depart"][11:16] <= "17:00" for o in offers)
    elsewhere = await ask(
        network, "railgo", "ticket.search", origin="Paris", destination="Perrache", date=DAY
    )
    assert elsewhere["offers"]  # the city's trains, with a word about the station
    assert "not Lyon Perrache" in elsewhere["note"]
    late = await ask(
        network,
        "railgo",
        "ticket.search",
        origin="Paris",
        destination="Lyon",
        date=DAY,
        depart_after="23:00",
    )
    assert late["offers"] == []
    assert "after 23:00" in late["note"]


async def test_past_dates_are_refused_against_the_stamped_today(network: Network) -> None:
    with pytest.raises(InputError, match="date 2025-05-30 is in the past"):
        await ask(
            network,
            "railgo",
            "ticket.search",
            origin="Paris",
            destination="Lyon",
            date="2025-05-30",
        )
    with pytest.raises(InputError, match="check_in 2025-05-31 is in the past"):
        await ask(network, "staywell", "hotel.search", city="Lyon", check_in="2025-05-31")
    with pytest.raises(InputError, match="is in the past"):
        await book(network, "railgo", "ticket.book", f"railgo:{PARIS_LYON}:2025-05-01")
    today = await ask(
        network, "railgo", "ticket.search", origin="Paris", destination="Lyon", date=TODAY
    )
    assert today["offers"]


async def test_unknown_city_names_the_known_ones(network: Network) -> None:
    with pytest.raises(InputError) as raised:
        await ask(network, "railgo", "ticket.search", origin="Berlin", destination="Lyon", date=DAY)
    message = str(raised.value)
    assert "'Berlin'" in message
    for city in ("Paris", "Lyon", "Marseille", "Lille", "Bordeaux", "Nice"):
        assert city in message


async def test_bad_search_input_is_refused(network: Network) -> None:
    with pytest.raises(InputError, match="YYYY-MM-DD"):
        await ask(
            network,
            "railgo",
            "ticket.search",
            origin="Paris",
            destination="Lyon",
            date="12/06/2025",
        )
    with pytest.raises(InputError, match="both Paris"):
        await ask(network, "railgo", "ticket.search", origin="paris", destination="Paris", date=DAY)
    with pytest.raises(SchemaViolation, match="time_of_day"):
        await ask(
            network,
            "railgo",
            "ticket.search",
            origin="Paris",
            destination="Lyon",
            date=DAY,
            time_of_day="night",
        )


async def test_booking_redeems_its_grant_directly_and_returns_none_of_it(
    network: Network,
) -> None:
    seen: list[Envelope] = []
    network.transport.observers.append(seen.append)
    offers = (
        await ask(
            network,
            "swiftrail",
            "ticket.search",
            origin="Paris",
            destination="Lyon",
            date=DAY,
            time_of_day="evening",
        )
    )["offers"]
    booking = await book(network, "swiftrail", "ticket.book", offers[0]["offer_id"])
    assert booking["status"] == "confirmed"
    assert booking["vendor"] == "swiftrail"
    assert booking["offer_id"] == offers[0]["offer_id"]
    assert booking["booking_id"]
    assert booking["seat"]
    asked = [e for e in seen if e.recipient == "personal"]
    assert [(e.sender, e.skill, e.task_id) for e in asked] == [
        ("orchestrator", "vault.grant", "trip-1"),
        ("swiftrail", "vault.redeem", "trip-1"),
    ]
    redeemed = {r.field for r in asked[1].message.sealed_refs}
    assert {"name", "passport_number", "payment_card"} <= redeemed
    assert set(asked[1].message.data) == {"seal_to"}  # refs, and the key to seal values to
    text = json.dumps(booking) + json.dumps([e.model_dump(mode="json") for e in seen])
    for value in private_values():
        assert value not in text
    await settle()
    logged = travel.records()
    assert [r["event"] for r in logged] == ["ticket.booked"]
    assert logged[0]["sender"] == "swiftrail"
    assert logged[0]["task_id"] == "trip-1"
    assert logged[0]["data"]["booking_id"] == booking["booking_id"]
    for value in private_values():
        assert value not in json.dumps(logged)


async def test_booking_without_a_grant_is_refused(network: Network) -> None:
    with pytest.raises(InputError, match="no sealed refs"):
        await ask(network, "railgo", "ticket.book", offer_id=f"railgo:{PARIS_LYON}:{DAY}")


async def test_seats_follow_the_preference_and_are_not_sold_twice(network: Network) -> None:
    offer_id = f"railgo:{PARIS_LYON}:{DAY}"
    first = await book(network, "railgo", "ticket.book", offer_id)
    second = await book(network, "railgo", "ticket.book", offer_id)
    assert first["seat"] != second["seat"]
    assert first["booking_id"] != second["booking_id"]
    assert PROFILE["preferences"]["seat"] == "window"
    assert {first["seat"][-1], second["seat"][-1]} <= set("AD")  # window seats


async def test_booking_an_unknown_offer_is_a_clear_error(network: Network) -> None:
    with pytest.raises(InputError, match="unknown offer 'railgo:RG0000"):
        await book(network, "railgo", "ticket.book", f"railgo:RG0000:{DAY}")
    with pytest.raises(InputError, match=r"as returned by ticket.search"):
        await book(network, "railgo", "ticket.book", f"swiftrail:SR7601:{DAY}")
    with pytest.raises(SchemaViolation):
        await ask(network, "railgo", "ticket.book")


async def test_a_card_failing_the_checksum_is_declined_without_being_echoed(
    tmp_path: Path,
) -> None:
    assert travel.luhn_valid(PROFILE["payment_card"])
    assert not travel.luhn_valid("4970 1012 3456 7890")
    assert not travel.luhn_valid("4970-abcd")
    spec = load_spec(EXAMPLE / "network.yaml")
    cards = {a.card.id: a.card for a in spec.agents}
    careless = Vault.create({**PROFILE, "payment_card": "4970 1012 3456 7890"}, new_key())
    net = Network()
    net.add(Agent(cards["personal"], vault_handler(careless)))
    net.add(Agent(cards["railgo"], travel.railgo(cards["railgo"])))
    with pytest.raises(travel.BookingFailed, match="declined") as raised:
        await book(net, "railgo", "ticket.book", f"railgo:{PARIS_LYON}:{DAY}")
    assert "3456" not in str(raised.value)
    await net.transport.close()


# --- personal ---------------------------------------------------------------


async def test_the_vault_grants_refs_without_values_and_only_with_consent(
    network: Network,
) -> None:
    reply = await network.transport.request(
        Envelope(
            sender="orchestrator",
            recipient="personal",
            skill="vault.grant",
            task_id="trip-1",
            message=Message.of_data(
                {"agent": "staywell", "fields": ["name", "payment_card"], "purpose": "hotel"}
            ),
        )
    )
    assert [r.field for r in reply.sealed_refs] == ["name", "payment_card"]
    assert reply.data["agent"] == "staywell"
    for value in private_values():
        assert value not in reply.model_dump_json()
    # The user's consent (data/consent.json) lets the hotel read neither passport nor address.
    for fields in (["passport_number"], ["home_address"]):
        with pytest.raises(AccessRefused, match="not consented"):
            await ask(
                network, "personal", "vault.grant", agent="staywell", fields=fields, purpose="x"
            )
    with pytest.raises(AccessRefused, match="itself"):
        await ask(
            network, "personal", "vault.grant", agent="orchestrator", fields=["name"], purpose="x"
        )
    # A ref does not open for another agent, even one allowed to talk to the vault.
    with pytest.raises(AccessRefused, match="grant is for 'staywell'"):
        await network.transport.request(
            Envelope(
                sender="railgo",
                recipient="personal",
                skill="vault.redeem",
                task_id="trip-1",
                message=Message(
                    parts=(*reply.sealed_refs, DataPart(data={"seal_to": SealKey().public}))
                ),
            )
        )


def ticket(key: str, vendor: str, hhmm: str, price: float) -> dict[str, Any]:
    return {
        "key": key,
        "proposer": vendor,
        "data": {"vendor": vendor, "depart": f"{DAY}T{hhmm}:00", "price": price},
    }


TICKETS = [
    ticket("rg-early", "railgo", "06:04", 61.9),
    ticket("sr-midday", "swiftrail", "11:10", 42.9),
    ticket("rg-evening", "railgo", "20:04", 29.9),
    ticket("sr-morning", "swiftrail", "08:40", 59.9),
]


async def test_personal_votes_for_the_cheapest_ticket_in_the_window(network: Network) -> None:
    ballot = await ask(
        network,
        "personal",
        "consensus.vote",
        question="Which train to Lyon tomorrow morning?",
        options=TICKETS,
        round=1,
        previous=[],
    )
    # morning offers by price, then the evening one outside the window
    assert ballot == {
        "choice": "sr-midday",
        "ranking": ["sr-midday", "sr-morning", "rg-early", "rg-evening"],
    }
    evening = await ask(
        network,
        "personal",
        "consensus.vote",
        question="Which train?",
        options=TICKETS,
        time_of_day="evening",
    )
    assert evening["choice"] == "rg-evening"
    anytime = await ask(network, "personal", "consensus.vote", question="Which?", options=TICKETS)
    assert anytime["choice"] == "rg-evening"  # no window: simply the cheapest


async def test_personal_votes_for_a_hotel_that_meets_the_preferences(network: Network) -> None:
    def room(key: str, stars: int, nightly: float) -> dict[str, Any]:
        data = {"stars": stars, "price_per_night": nightly, "total": nightly}
        return {"key": key, "proposer": "staywell", "data": data}

    options = [room("budget", 2, 69), room("palace", 5, 390), room("fits", 3, 104)]
    ballot = await ask(network, "personal", "consensus.vote", question="Hotel?", options=options)
    wishes = PROFILE["preferences"]["hotel"]
    assert wishes["min_stars"] == 3
    assert wishes["max_price_per_night"] < 390
    assert ballot == {"choice": "fits", "ranking": ["fits", "budget", "palace"]}


# --- vendors' votes ---------------------------------------------------------


async def test_vendor_votes_for_its_own_cheapest_offer_in_round_one(network: Network) -> None:
    railgo = await ask(network, "railgo", "consensus.vote", question="q", options=TICKETS, round=1)
    assert railgo == {
        "choice": "rg-evening",
        "ranking": ["rg-evening", "rg-early", "sr-midday", "sr-morning"],
    }
    swiftrail = await ask(network, "swiftrail", "consensus.vote", question="q", options=TICKETS)
    assert swiftrail["choice"] == "sr-midday"
    hotel_only = [{"key": "h", "proposer": "staywell", "data": {"total": 80}}]
    abstains = await ask(network, "railgo", "consensus.vote", question="q", options=hotel_only)
    assert abstains == {"choice": None, "ranking": []}  # an abstention ranks nothing


def ballot(voter: str, choice: str | None) -> dict[str, Any]:
    return {"voter": voter, "choice": choice, "ranking": [choice] if choice else []}


async def test_vendor_joins_a_strict_majority_of_the_others_from_round_two(
    network: Network,
) -> None:
    async def vote(round_: int, previous: list[dict[str, Any]]) -> dict[str, Any]:
        return await ask(
            network,
            "railgo",
            "consensus.vote",
            question="q",
            options=TICKETS,
            round=round_,
            previous=previous,
        )

    majority = [
        ballot("railgo", "rg-evening"),  # its own ballot is not counted
        ballot("personal", "sr-midday"),
        ballot("swiftrail", "sr-midday"),
        ballot("staywell", "rg-early"),
    ]
    joined = await vote(2, majority)
    assert joined["choice"] == "sr-midday"
    assert joined["ranking"][0] == "sr-midday"
    assert sorted(joined["ranking"]) == sorted(o["key"] for o in TICKETS)
    # round 1 ignores the previous ballots
    assert (await vote(1, majority))["choice"] == "rg-evening"
    # half of the others is no strict majority; an abstention counts in the total
    split = [ballot("personal", "sr-midday"), ballot("swiftrail", "sr-morning")]
    assert (await vote(2, split))["choice"] == "rg-evening"
    abstained = [ballot("personal", "sr-midday"), ballot("swiftrail", None)]
    assert (await vote(3, abstained))["choice"] == "rg-evening"
    # a choice that is not among the options is no majority either
    stale = [ballot("personal", "gone"), ballot("swiftrail", "gone")]
    assert (await vote(2, stale))["choice"] == "rg-evening"


async def test_the_voters_settle_the_vendors_offers_with_lamas_consensus(
    network: Network,
) -> None:
    from lamas.protocol.consensus import options_from_reply
    from lamas.runtime.consensus import reach_consensus

    options = []
    for vendor in ("railgo", "swiftrail"):
        reply = await ask(
            network,
            vendor,
            "ticket.search",
            origin="Paris",
            destination="Lyon",
            date=DAY,
            time_of_day="morning",
        )
        options += options_from_reply(vendor, reply)[:3]
    decision = await reach_consensus(
        network,
        options=options,
        voters=["personal", "railgo", "swiftrail"],
        question="Which train from Paris to Lyon tomorrow morning?",
        rule="majority",
        criticality=0.5,
        sender="orchestrator",
        task_id="trip-1",
    )
    assert decision.notes == ()  # every ballot was well-formed
    cheapest = min(options, key=lambda o: o.data["price"])
    assert decision.winner == cheapest.key
    # Round 1: the user and SwiftRail back SwiftRail's cheapest morning train, RailGo its
    # own (2/3, short of the 0.75 a criticality of 0.5 asks); round 2: RailGo sees both
    # others agree and joins them, so the decision is unanimous.
    assert decision.reached
    assert decision.rounds == 2
    assert decision.support == 1.0
    assert {b.voter: b.choice for b in decision.ballots} == dict.fromkeys(
        ("personal", "railgo", "swiftrail"), cheapest.key
    )


# --- hotels -----------------------------------------------------------------


def haversine(lat1: float, lon1: float, lat2: float, lon2: float) -> float:
    rad = math.radians
    a = (
        math.sin(rad(lat2 - lat1) / 2) ** 2
        + math.cos(rad(lat1)) * math.cos(rad(lat2)) * math.sin(rad(lon2 - lon1) / 2) ** 2
    )
    return 2 * 6371.0088 * math.asin(math.sqrt(a))


async def test_hotel_search_sorts_by_distance_then_price(network: Network) -> None:
    reply = await ask(
        network,
        "staywell",
        "hotel.search",
        city="lyon",
        check_in=DAY,
        nights=3,
        near="Place Bellecour",
    )
    offers = reply["offers"]
    in_lyon = [r for r in rows("hotels.csv") if r["city"] == "Lyon"]
    assert len(offers) == len(in_lyon) >= 4
    assert reply["near"] == "Place Bellecour"
    assert offers[0]["hotel"] == "StayWell Bellecour Grand"
    keys = [(o["distance_km"], o["price_per_night"]) for o in offers]
    assert keys == sorted(keys)
    bellecour = next(r for r in rows("places.csv") if r["name"] == "Place Bellecour")
    for offer in offers:
        assert offer["city"] == "Lyon"
        assert offer["nights"] == 3
        assert offer["check_in"] == DAY
        assert offer["total"] == pytest.approx(offer["price_per_night"] * 3)
        expected = haversine(
            float(bellecour["lat"]), float(bellecour["lon"]), offer["lat"], offer["lon"]
        )
        assert offer["distance_km"] == pytest.approx(expected, abs=0.01)
        assert 0 <= offer["distance_km"] < 6  # all in town


async def test_hotel_search_defaults_to_the_main_station_and_one_night(network: Network) -> None:
    reply = await ask(network, "staywell", "hotel.search", city="Paris", check_in=DAY)
    assert reply["near"] == "Paris Gare de Lyon"
    station = await ask(
        network, "staywell", "hotel.search", city="Paris", check_in=DAY, near="the station"
    )
    assert station == reply
    first = reply["offers"][0]
    assert first["hotel"] == "StayWell Gare de Lyon"
    assert first["distance_km"] < 0.5
    assert first["nights"] == 1
    assert first["total"] == first["price_per_night"]
    three_stars = await ask(
        network, "staywell", "hotel.search", city="Paris", check_in=DAY, min_stars=4
    )
    assert {o["stars"] >= 4 for o in three_stars["offers"]} == {True}


async def test_hotel_search_errors_name_close_places(network: Network) -> None:
    with pytest.raises(InputError, match='did you mean "Place Bellecour"') as raised:
        await ask(network, "staywell", "hotel.search", city="Lyon", check_in=DAY, near="Bellcour")
    assert raised.value.details["slot"] == "near"  # type: ignore[attr-defined]
    assert raised.value.details["suggestions"][0] == "Place Bellecour"  # type: ignore[attr-defined]
    with pytest.raises(InputError, match="'eiffel' is in Paris, not in Lyon"):
        await ask(network, "staywell", "hotel.search", city="Lyon", check_in=DAY, near="eiffel")
    with pytest.raises(InputError, match="unknown city 'Gotham'"):
        await ask(network, "staywell", "hotel.search", city="Gotham", check_in=DAY)
    with pytest.raises(SchemaViolation):
        await ask(network, "staywell", "hotel.search", city="Lyon", check_in=DAY, nights=0)


async def test_hotel_booking_keeps_the_guest_private(network: Network) -> None:
    seen: list[Envelope] = []
    network.transport.observers.append(seen.append)
    offers = (await ask(network, "staywell", "hotel.search", city="Nice", check_in=DAY, nights=2))[
        "offers"
    ]
    booking = await book(network, "staywell", "hotel.book", offers[0]["offer_id"])
    assert booking["status"] == "confirmed"
    assert booking["hotel"] == offers[0]["hotel"]
    assert booking["check_out"] == "2025-06-14"
    assert booking["total"] == offers[0]["total"]
    assert [(e.sender, e.recipient, e.skill) for e in seen if e.recipient == "personal"] == [
        ("orchestrator", "personal", "vault.grant"),
        ("staywell", "personal", "vault.redeem"),
    ]
    for value in private_values():
        assert value not in json.dumps(booking)
    with pytest.raises(InputError, match="unknown offer"):
        await book(network, "staywell", "hotel.book", "staywell:NOPE:2025-06-12:1")


# --- navigation -------------------------------------------------------------


def test_dijkstra_takes_the_fastest_path_on_a_small_graph() -> None:
    # A-B direct: 10 km at 50 km/h = 12 min. A-C-B: 2 km + 3 km at 30 km/h = 4 + 6 = 10 min.
    # A-D-B: 1 km + 1 km at 6 km/h = 10 + 10 = 20 min (the shortest in km, the slowest).
    graph = travel.road_graph(
        [
            ("A", "B", 10.0, 50.0),
            ("A", "C", 2.0, 30.0),
            ("C", "B", 3.0, 30.0),
            ("A", "D", 1.0, 6.0),
            ("D", "B", 1.0, 6.0),
            ("E", "F", 1.0, 30.0),
        ]
    )
    assert travel.shortest_path(graph, "A", "B") == ["A", "C", "B"]
    assert travel.shortest_path(graph, "B", "A") == ["B", "C", "A"]  # roads are two-way
    assert travel.shortest_path(graph, "A", "B", avoid=["C"]) == ["A", "B"]
    assert travel.shortest_path(graph, "A", "B", avoid=["C", "B"]) is None
    assert travel.shortest_path(graph, "A", "E") is None
    assert travel.shortest_path(graph, "A", "A") == ["A"]


def road_rows(city: str) -> list[tuple[str, str, float, float]]:
    return [
        (r["from"], r["to"], float(r["length_km"]), float(r["speed_kmh"]))
        for r in rows("roads.csv")
        if r["city"] == city
    ]


@pytest.mark.parametrize("city", ["Lyon", "Paris", "Annecy"])
def test_road_graphs_are_connected_and_dijkstra_matches_floyd_warshall(city: str) -> None:
    edges = road_rows(city)
    nodes = sorted({n for a, b, _, _ in edges for n in (a, b)})
    assert len(nodes) >= 10
    places = {r["name"] for r in rows("places.csv") if r["city"] == city}
    hotels = {r["name"] for r in rows("hotels.csv") if r["city"] == city}
    assert hotels | places == set(nodes)  # every named place of the city is on its map
    inf = math.inf
    dist = {(a, b): 0.0 if a == b else inf for a in nodes for b in nodes}
    for a, b, km, speed in edges:
        dist[a, b] = dist[b, a] = min(dist[a, b], km / speed * 60)
    for k, i, j in itertools.product(nodes, nodes, nodes):
        if dist[i, k] + dist[k, j] < dist[i, j]:
            dist[i, j] = dist[i, k] + dist[k, j]
    graph = travel.road_graph(edges)
    minutes = {(a, b): km / speed * 60 for a, b, km, speed in edges}
    minutes |= {(b, a): m for (a, b), m in minutes.items()}
    for origin, destination in itertools.product(nodes, nodes):
        path = travel.shortest_path(graph, origin, destination)
        assert path is not None, (origin, destination)
        total = sum(minutes[step] for step in itertools.pairwise(path))
        assert total == pytest.approx(dist[origin, destination])


async def test_route_plan_on_the_lyon_map(network: Network) -> None:
    reply = await ask(
        network, "navigator", "route.plan", origin="Part-Dieu", destination="lyon perrache"
    )
    assert reply["city"] == "Lyon"
    assert reply["path"][0] == "Lyon Part-Dieu"
    assert reply["path"][-1] == "Lyon Perrache"
    lengths = {frozenset((a, b)): (km, speed) for a, b, km, speed in road_rows("Lyon")}
    legs = [lengths[frozenset(step)] for step in itertools.pairwise(reply["path"])]
    assert reply["distance_km"] == pytest.approx(sum(km for km, _ in legs))
    # the road graph's detour makes it longer than the straight line, not absurdly
    at = {r["name"]: (float(r["lat"]), float(r["lon"])) for r in rows("places.csv")}
    straight = haversine(*at["Lyon Part-Dieu"], *at["Lyon Perrache"])
    assert straight * 1.3 <= reply["distance_km"] < straight * 1.8
    assert reply["minutes"] == pytest.approx(sum(km / v * 60 for km, v in legs), abs=0.05)
    assert [leg["km"] for leg in reply["legs"]] == [km for km, _ in legs]


async def test_route_plan_works_in_every_city(network: Network) -> None:
    for city in rows("cities.csv"):
        landmark = next(
            r["name"]
            for r in rows("places.csv")
            if (r["city"], r["kind"]) == (city["city"], "landmark")
        )
        reply = await ask(
            network,
            "navigator",
            "route.plan",
            origin="the station",
            destination=landmark,
            city=city["city"],
        )
        assert reply["path"][0] == city["main_station"]
        assert reply["path"][-1] == landmark
        assert reply["minutes"] > 0


async def test_route_plan_infers_the_city_and_explains_failures(network: Network) -> None:
    paris = await ask(
        network, "navigator", "route.plan", origin="gare du nord", destination="Eiffel Tower"
    )
    assert paris["city"] == "Paris"
    assert paris["path"][0] == "Paris Gare du Nord"
    assert paris["path"][-1] == "Eiffel Tower"
    with pytest.raises(InputError, match="unknown destination 'Big Ben'") as raised:
        await ask(network, "navigator", "route.plan", origin="Louvre Museum", destination="Big Ben")
    assert raised.value.details["suggestions"] == []  # type: ignore[attr-defined]
    with pytest.raises(InputError, match='did you mean "Place Bellecour"'):
        await ask(
            network,
            "navigator",
            "route.plan",
            origin="Lyon Perrache",
            destination="Place Belcour",
            city="Lyon",
        )
    with pytest.raises(InputError, match=r"is in Paris.*in Lyon; the navigator routes within one"):
        await ask(
            network,
            "navigator",
            "route.plan",
            origin="Louvre Museum",
            destination="Place Bellecour",
        )
    closed = {b for a, b, _, _ in road_rows("Lyon") if a == "StayWell Perrache Express"} | {
        a for a, b, _, _ in road_rows("Lyon") if b == "StayWell Perrache Express"
    }
    with pytest.raises(travel.NoRoute, match=r"no road path in Lyon .* avoiding"):
        await ask(
            network,
            "navigator",
            "route.plan",
            origin="StayWell Perrache Express",
            destination="Croix-Rousse",
            avoid=sorted(closed),
        )


# --- transaction logger -----------------------------------------------------


async def test_logger_numbers_records_and_writes_json_lines(
    network: Network, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    file = tmp_path / "log.jsonl"
    monkeypatch.setenv("LAMAS_TRAVEL_LOG", str(file))
    first = await ask(network, "logger", "log.record", event="step.done", data={"step": 1})
    second = await ask(network, "logger", "log.record", event="step.done", data={"step": 2})
    assert (first, second) == ({"seq": 1}, {"seq": 2})
    in_memory = travel.records("logger")
    assert [(r["seq"], r["event"], r["data"], r["sender"]) for r in in_memory] == [
        (1, "step.done", {"step": 1}, "orchestrator"),
        (2, "step.done", {"step": 2}, "orchestrator"),
    ]
    assert travel.read_log_file(file) == in_memory
    in_memory[0]["data"]["step"] = 99  # a copy: the log itself is unchanged
    assert travel.records("logger")[0]["data"] == {"step": 1}
    with pytest.raises(SchemaViolation):
        await ask(network, "logger", "log.record", event="no data")


def test_time_windows_are_half_open() -> None:
    assert travel.in_window(time(5), "morning")
    assert not travel.in_window(time(4, 59), "morning")
    assert travel.in_window(time(11, 59), "morning")
    assert not travel.in_window(time(12), "morning")
    assert travel.in_window(time(12), "afternoon")
    assert travel.in_window(time(23, 59), "evening")
    assert travel.window_named_in("A train TONIGHT please") == "evening"
    assert travel.window_named_in("any train") is None
