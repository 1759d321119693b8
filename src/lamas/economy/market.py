"""Intelligence monetization (paper §3.3): agents list skills with prices, use is metered.

A price (from an agent's card) applies per call, per 1k tokens, per second or per month
(a subscription). Usage comes from the ledger's `step.done` entries; a bill prices each
entity's usage in one period. Invoices are written as CSV or JSON.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass
from decimal import ROUND_HALF_UP, Decimal

from lamas.economy.revenue import CENT
from lamas.protocol.cards import AgentCard, Price


@dataclass(frozen=True, slots=True)
class Usage:
    """One metered use of a skill, as the ledger recorded it."""

    agent: str
    skill: str
    period: str  # YYYY-MM
    calls: int = 1
    tokens: int = 0
    seconds: float = 0.0


@dataclass(frozen=True, slots=True)
class InvoiceLine:
    entity: str
    agent: str
    skill: str
    period: str
    calls: int
    tokens: int
    seconds: float
    unit: str
    unit_price: Decimal
    amount: Decimal
    currency: str


@dataclass(frozen=True, slots=True)
class Listing:
    """One priced skill on the marketplace."""

    entity: str
    agent: str
    skill: str
    description: str
    price: Price | None


def listings(cards: Iterable[AgentCard]) -> list[Listing]:
    """Every skill of every card, with its price (None: not for sale, e.g. internal)."""
    return [
        Listing(card.entity, card.id, skill.name, skill.description, card.price(skill.name))
        for card in cards
        for skill in card.skills
    ]


def charge(price: Price, usage: Usage) -> Decimal:
    """What `usage` costs at `price`, to the cent."""
    quantity = {
        "call": Decimal(usage.calls),
        "1k_tokens": Decimal(usage.tokens) / 1000,
        "second": Decimal(str(usage.seconds)),
        "month": Decimal(1),  # a subscription: once per period, however much is used
    }[price.unit]
    return (price.amount * quantity).quantize(CENT, rounding=ROUND_HALF_UP)


def bill(
    cards: Mapping[str, AgentCard], usages: Iterable[Usage], *, entity: str, period: str
) -> list[InvoiceLine]:
    """The invoice lines of `entity` for `period`: its agents' usage, priced by their cards.

    Usage of one skill in the period is summed first, so a monthly subscription is charged
    once and per-token prices see the period's total.
    """
    totals: dict[tuple[str, str], Usage] = {}
    for use in usages:
        card = cards.get(use.agent)
        if card is None or card.entity != entity or use.period != period:
            continue
        key = (use.agent, use.skill)
        seen = totals.get(key)
        totals[key] = (
            use
            if seen is None
            else Usage(
                use.agent,
                use.skill,
                period,
                seen.calls + use.calls,
                seen.tokens + use.tokens,
                seen.seconds + use.seconds,
            )
        )
    lines = []
    for (agent, skill), use in sorted(totals.items()):
        price = cards[agent].price(skill)
        if price is None:
            continue  # a skill with no price is not billed
        lines.append(
            InvoiceLine(
                entity,
                agent,
                skill,
                period,
                use.calls,
                use.tokens,
                round(use.seconds, 3),
                price.unit,
                price.amount,
                charge(price, use),
                price.currency,
            )
        )
    return lines


def invoice_csv(lines: Iterable[InvoiceLine]) -> str:
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow([field for field in InvoiceLine.__dataclass_fields__])
    for line in lines:
        writer.writerow([str(value) for value in asdict(line).values()])
    return out.getvalue()


def invoice_json(lines: Iterable[InvoiceLine]) -> str:
    rows = [
        {k: str(v) if isinstance(v, Decimal) else v for k, v in asdict(line).items()}
        for line in lines
    ]
    return json.dumps(rows, indent=2)
