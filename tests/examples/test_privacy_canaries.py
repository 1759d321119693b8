"""The canary test: the travel network's orchestrator never holds the user's data.

A unique canary string is planted in every field of the user's vault (the card is a
fresh Luhn-valid number, so a vendor that books must really have read it). The demo's
instruction and 100 random ones run through the orchestrator (scripted slot filling,
the real router) with the privacy guard on its inbound and outbound side. Then no canary
may appear in anything the orchestrator received, sent, logged or stored: envelopes
both ways and the replies it got, its events, its log records, its sessions, the
transaction log and the ledger. And the ticket and hotel agents did get the fields their
bookings need, redeemed directly with the vault under grants the ledger records.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import os
import random
from pathlib import Path
from typing import Any

import pytest
from support.canaries import canary_profile

from lamas.agent.embeddings import MiniLMEmbedder
from lamas.economy.ledger import platform_ledger
from lamas.llm import ScriptedModel
from lamas.privacy import Vault, load_key
from lamas.privacy.sealing import SealKey
from lamas.privacy.vault import vault_path
from lamas.protocol import DataPart, Envelope, Message, TaskState
from lamas.protocol.ledger import EntryKind
from lamas.protocol.types import Context, Handler, Middleware, Reply
from lamas.runtime.ledger_hook import LedgerRecorder
from lamas.runtime.netfile import load, load_module_file
from lamas.runtime.orchestrator import Orchestrator
from lamas.runtime.privacy_hook import guard_from_network
from lamas.runtime.session import Event
from lamas.runtime.slots import LabelledSlots
from lamas.runtime.today import stamp_today

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "travel"
TODAY = dt.date(2026, 11, 25)
RANDOM_TASKS = 100
travel = load_module_file(EXAMPLE / "agents.py")


PAIRS = [
    ("Paris", "Lyon"),
    ("Paris", "Marseille"),
    ("Paris", "Lille"),
    ("Paris", "Bordeaux"),
    ("Lyon", "Marseille"),
]
STATIONS = {
    "Lyon": "Lyon Part-Dieu",
    "Marseille": "Marseille Saint-Charles",
    "Lille": "Lille Flandres",
    "Bordeaux": "Bordeaux Saint-Jean",
    "Paris": "Paris Gare du Nord",
}
TIMES = ["morning", "afternoon", "evening"]


def random_task(rng: random.Random) -> tuple[str, dict[str, dict[str, Any]]]:
    """An instruction and the slots a perfect model would fill for it."""
    origin, destination = rng.choice(PAIRS)
    if rng.random() < 0.3:
        origin, destination = destination, origin
    day = TODAY + dt.timedelta(days=rng.randint(2, 40))
    when = rng.choice(TIMES)
    nights = rng.randint(1, 4)
    near = STATIONS[destination]
    date_text = f"{day:%B} {day.day}"
    ticket = {
        "origin": origin,
        "destination": destination,
        "date": day.isoformat(),
        "time_of_day": when,
    }
    hotel = {"city": destination, "check_in": day.isoformat(), "nights": nights, "near": near}
    kind = rng.choice(["both", "both", "train", "hotel"])
    if kind == "train":
        text = f"Book me a train from {origin} to {destination} on {date_text} in the {when}"
    elif kind == "hotel":
        text = f"Book me a hotel near {near} in {destination} on {date_text} for {nights} nights"
    else:
        text = (
            f"Book me a train from {origin} to {destination} on {date_text} in the {when}, "
            f"and a hotel near {near} for {nights} nights"
        )
    return text, {"ticket.search": ticket, "hotel.search": hotel}


def tap(into: list[Any]) -> Middleware:
    """Records every envelope and every reply that passes (outermost: before the guard)."""

    def wrap(handler: Handler) -> Handler:
        async def tapped(envelope: Envelope, context: Context) -> Reply:
            into.append(envelope.model_dump(mode="json"))
            reply = await handler(envelope, context)
            if reply is not None:
                into.append(reply.model_dump(mode="json"))
            return reply

        return tapped

    return wrap


@pytest.fixture(scope="module")
def embedder() -> MiniLMEmbedder:
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    return MiniLMEmbedder()


async def test_no_canary_reaches_the_orchestrator_while_vendors_get_what_they_need(
    embedder: MiniLMEmbedder,
    private_state: Path,
    caplog: pytest.LogCaptureFixture,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    caplog.set_level(logging.DEBUG)
    rng = random.Random(20261125)
    profile, canaries = canary_profile(rng)
    Vault.create(profile, load_key(create=True), path=vault_path("travel-personal"))

    spec, network = load(EXAMPLE / "network.yaml", external=["orchestrator"])
    # What the vendors opened (inside the vendor, after redeem()), and what the vault's
    # replies carried on the way (a tap on the personal agent: sealed, no value in sight).
    redeemed: list[tuple[str, dict[str, Any]]] = []
    sealed_replies: list[dict[str, Any]] = []
    personal = network.transport.handler("personal")
    opened = travel.redeem

    async def redeem_tapped(context: Context, envelope: Envelope, **kwargs: Any) -> Any:
        values = await opened(context, envelope, **kwargs)
        redeemed.append((context.agent_id, values))
        return values

    monkeypatch.setattr(travel, "redeem", redeem_tapped)

    async def personal_tapped(envelope: Envelope, context: Context) -> Reply:
        reply = await personal(envelope, context)
        if envelope.skill == "vault.redeem" and reply is not None:
            sealed_replies.append(reply.data)
        return reply

    network.transport.unregister("personal")
    network.transport.register("personal", personal_tapped)

    guard = await guard_from_network(network, "orchestrator")
    assert len(guard.fingerprints[0]) >= 5  # every field with a canary is fingerprinted
    seen: list[Any] = []  # everything the orchestrator received or sent
    events: list[Event] = []
    slots = LabelledSlots()
    orchestrator = Orchestrator(
        network,
        ScriptedModel(responder=slots),
        embedder,
        agent_id="orchestrator",
        today=TODAY,
        on_event=events.append,
        # the vendors check dates against the task's today, not the real one
        middleware=[tap(seen), guard.middleware(outbound=True), stamp_today(TODAY)],
    )
    defences = network.defences
    assert defences is not None
    # 101 tasks back to back from one orchestrator are not what the callers' rate limits
    # guard against; here they would only make the run's outcome depend on its speed.
    defences.limits.per_caller["orchestrator"] = None
    card = next(a.card for a in spec.agents if a.card.id == "orchestrator")
    orchestrator.join(card, middleware=[tap(seen), guard.middleware()])
    ledger = platform_ledger()
    LedgerRecorder(ledger, orchestrator)

    # The demo's instruction, sent to the orchestrator as an agent (inbound side too) ...
    demo = (
        "Book me a train from Paris to Lyon on December 4 in the morning, "
        "and a hotel near Lyon Part-Dieu for two nights"
    )
    slots.labels = {
        "ticket.search": {
            "origin": "Paris",
            "destination": "Lyon",
            "date": "2026-12-04",
            "time_of_day": "morning",
        },
        "hotel.search": {"city": "Lyon", "check_in": None, "nights": 2, "near": "Lyon Part-Dieu"},
    }
    reply = await network.transport.request(
        Envelope(sender="user", recipient="orchestrator", message=Message.of_text(demo)),
        timeout=120,
    )
    assert reply.data["state"] == "completed", reply.text
    # ... and 100 random ones.
    outcomes = []
    for _ in range(RANDOM_TASKS):
        text, slots.labels = random_task(rng)
        session = await orchestrator.submit(text)
        status = session.task.status_message
        outcomes.append((session.task.state, text, status.text[:200] if status else ""))
    completed = [o for o in outcomes if o[0] is TaskState.COMPLETED]
    # A perfect (scripted) slot filler and the real router: every task books.
    assert len(completed) == RANDOM_TASKS, [o for o in outcomes if o not in completed]

    # Nothing was ever rejected: no value came near the orchestrator at all.
    assert guard.rejected == []
    assert guard.checked > 4 * RANDOM_TASKS
    stored = [s.task.model_dump(mode="json") for s in orchestrator.sessions.values()] + [
        {
            "slots": s.slots,
            "runs": {k: (r.inputs, r.output, r.error, r.agent) for k, r in s.runs.items()},
            "said": s.said,
            "plan": s.plan.model_dump(mode="json") if s.plan else None,
        }
        for s in orchestrator.sessions.values()
    ]
    entries = [
        e.model_dump(mode="json") if hasattr(e, "model_dump") else repr(e) for e in ledger.entries()
    ]
    haystack = "\n".join(
        [
            json.dumps(seen, default=str),
            repr(events),
            json.dumps(stored, default=str),
            json.dumps(travel.records(), default=str),
            json.dumps(entries, default=str),
            caplog.text,
        ]
    ).casefold()
    for canary in canaries:
        assert canary.casefold() not in haystack, canary
    assert len(seen) > 10 * RANDOM_TASKS

    # The vendors did get what they needed, and the ledger says who read what, for which task.
    bookings = [
        r
        for s in orchestrator.sessions.values()
        for r in s.runs.values()
        if r.step.capability in {"ticket.book", "hotel.book"} and r.error is None
    ]
    assert len(bookings) >= RANDOM_TASKS
    for sender, values in redeemed:
        needs = (
            travel.TRAVELLER_FIELDS if sender in {"railgo", "swiftrail"} else travel.GUEST_FIELDS
        )
        assert {f: values[f] for f in needs} == {f: profile[f] for f in needs}
    assert {s for s, _ in redeemed} >= {"staywell"}
    assert {s for s, _ in redeemed} & {
        "railgo",
        "swiftrail",
    }
    assert len(redeemed) == len(bookings)
    # On the way from the vault the values were sealed to the vendor: ciphertext only.
    assert len(sealed_replies) == len(bookings)
    assert all(set(data) == {"sealed"} for data in sealed_replies)
    carried = json.dumps(sealed_replies)
    assert not [c for c in canaries if c in carried]
    reads = list(ledger.entries(kind=EntryKind.VAULT_READ))
    assert len(reads) == len(bookings)
    assert {e.agent for e in reads} <= {"railgo", "swiftrail", "staywell"}
    assert not [e for e in ledger.entries(kind=EntryKind.VAULT_REFUSED)]
    assert all("home_address" not in e.payload["fields"] for e in reads)


async def test_audit_shows_decentralized_travel_and_centralized_music(
    embedder: MiniLMEmbedder, private_state: Path
) -> None:
    from typer.testing import CliRunner

    from lamas.cli.main import app
    from lamas.errors import AccessRefused
    from lamas.protocol.messages import SealedRef

    url = os.environ["LAMAS_DATABASE_URL"]
    tasks = {}
    for name, hub, options in [
        ("travel", "orchestrator", {}),
        ("music", "music-orchestrator", {"profile_fields": ("favourite_genres",)}),
    ]:
        folder = EXAMPLE.parent / name
        spec, network = load(folder / "network.yaml", external=[hub])
        slots = LabelledSlots()
        slots.labels = {
            "ticket.search": {
                "origin": "Paris",
                "destination": "Lyon",
                "date": "2026-12-04",
                "time_of_day": "morning",
            },
            "hotel.search": {
                "city": "Lyon",
                "check_in": "2026-12-04",
                "nights": 2,
                "near": "Lyon Part-Dieu",
            },
            "song.search": {"mood": "calm", "genre": "jazz", "count": 3},
        }
        orchestrator = Orchestrator(
            network,
            ScriptedModel(responder=slots),
            embedder,
            agent_id=hub,
            today=TODAY,
            middleware=[stamp_today(TODAY)],
            **options,
        )
        network.add(orchestrator.agent(next(a.card for a in spec.agents if a.card.id == hub)))
        LedgerRecorder(platform_ledger(), orchestrator)
        text = (
            (
                "Book me a train from Paris to Lyon on December 4 in the morning, and a hotel "
                "near Lyon Part-Dieu for two nights"
            )
            if name == "travel"
            else "Play some relaxing jazz"
        )
        session = await orchestrator.submit(text)
        assert session.task.state is TaskState.COMPLETED, session.task.status_message
        tasks[name] = session.task.id
        if name == "travel":
            # A vendor trying a ref it was never granted is refused, and that is recorded.
            forged = SealedRef(field="passport_number", vault_id="vault-x", token="f" * 32)
            with pytest.raises(AccessRefused):
                await network.transport.request(
                    Envelope(
                        sender="railgo",
                        recipient="personal",
                        skill="vault.redeem",
                        task_id=session.task.id,
                        message=Message(
                            parts=(forged, DataPart(data={"seal_to": SealKey().public}))
                        ),
                    )
                )

    runner = CliRunner()
    travel_audit = runner.invoke(
        app, ["privacy", "audit", tasks["travel"], "--db", url], env={"COLUMNS": "200"}
    )
    assert travel_audit.exit_code == 0, travel_audit.output
    out = travel_audit.output
    assert "decentralized" in out
    assert "staywell read: name, payment_card" in out
    assert "read: name, passport_number, payment_card, preferences" in out
    assert "REFUSED" in out
    assert "orchestrator read:" not in out
    music_audit = runner.invoke(
        app, ["privacy", "audit", tasks["music"], "--db", url], env={"COLUMNS": "200"}
    )
    assert music_audit.exit_code == 0, music_audit.output
    assert "centralized" in music_audit.output
    assert "music-orchestrator read: favourite_genres" in music_audit.output
    missing = runner.invoke(app, ["privacy", "audit", "no-such-task", "--db", url])
    assert missing.exit_code == 2
    assert "no task 'no-such-task'" in missing.output
    revenue = runner.invoke(app, ["privacy", "revenue", "--db", url, "--bits", "1024"])
    assert revenue.exit_code == 0, revenue.output
    assert "(exact)" in revenue.output
    assert "secret sharing among" in revenue.output
