"""Marketplace listings, metering and invoices."""

from __future__ import annotations

import csv
import io
import json
from decimal import Decimal

from lamas.economy.market import Usage, bill, charge, invoice_csv, invoice_json, listings
from lamas.protocol import AgentCard, Price, Skill

SEARCH = Skill(name="ticket.search", description="search")
BOOK = Skill(name="ticket.book", description="book")
TALK = Skill(name="chat.talk", description="talk")
SUB = Skill(name="news.feed", description="news")
VOTE = Skill(name="consensus.vote", description="vote", tags=("internal",))
CARDS = {
    "railgo": AgentCard(
        id="railgo",
        name="RailGo",
        entity="railgo",
        skills=(SEARCH, BOOK, VOTE),
        prices=(
            Price(skill="ticket.search", amount=Decimal("0.002")),
            Price(skill="ticket.book", amount=Decimal("1.50")),
        ),
    ),
    "talker": AgentCard(
        id="talker",
        name="Talker",
        entity="llm-co",
        skills=(TALK, SUB),
        prices=(
            Price(skill="chat.talk", amount=Decimal("0.40"), unit="1k_tokens"),
            Price(skill="news.feed", amount=Decimal("9.99"), unit="month"),
        ),
    ),
}


def test_listings_show_every_skill_with_its_price() -> None:
    found = {(x.agent, x.skill): x.price for x in listings(CARDS.values())}
    assert found[("railgo", "ticket.book")] is not None
    assert found[("railgo", "consensus.vote")] is None


def test_a_bill_sums_a_periods_use_and_prices_it() -> None:
    uses = [
        Usage("railgo", "ticket.search", "2026-11"),
        Usage("railgo", "ticket.search", "2026-11"),
        Usage("railgo", "ticket.book", "2026-11"),
        Usage("railgo", "ticket.book", "2026-10"),  # another period
        Usage("railgo", "consensus.vote", "2026-11"),  # not priced: not billed
        Usage("talker", "chat.talk", "2026-11", tokens=2500),  # another entity
    ]
    lines = bill(CARDS, uses, entity="railgo", period="2026-11")
    assert [(x.skill, x.calls, x.amount) for x in lines] == [
        ("ticket.book", 1, Decimal("1.50")),
        ("ticket.search", 2, Decimal("0.00")),  # 0.004 rounds to the cent
    ]


def test_tokens_and_subscriptions() -> None:
    uses = [
        Usage("talker", "chat.talk", "2026-11", tokens=2500),
        Usage("talker", "chat.talk", "2026-11", tokens=500),
        Usage("talker", "news.feed", "2026-11"),
        Usage("talker", "news.feed", "2026-11"),
    ]
    lines = {x.skill: x for x in bill(CARDS, uses, entity="llm-co", period="2026-11")}
    assert lines["chat.talk"].amount == Decimal("1.20")  # 3k tokens at 0.40 per 1k
    assert lines["news.feed"].amount == Decimal("9.99")  # once a month, however often used


def test_charge_per_second() -> None:
    price = Price(skill="x", amount=Decimal("0.10"), unit="second")
    assert charge(price, Usage("a", "x", "2026-11", seconds=12.5)) == Decimal("1.25")


def test_invoices_as_csv_and_json() -> None:
    lines = bill(
        CARDS, [Usage("railgo", "ticket.book", "2026-11")], entity="railgo", period="2026-11"
    )
    rows = list(csv.DictReader(io.StringIO(invoice_csv(lines))))
    assert rows[0]["amount"] == "1.50"
    assert json.loads(invoice_json(lines))[0]["unit_price"] == "1.50"
