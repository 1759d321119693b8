"""Settling a completed task: its value as a cooperative game, Shapley credit, payouts.

A task earns its value in components: each committing step (one that builds on
another, like a booking on its search) earns a commission on what it booked, and
a task that books nothing earns a flat fee as one component. A component is
earned only when every part of it is covered: each step in its chain by one of
the agents that could serve it (the chosen vendor or its competitor), and each
agent a step subcontracted to (the personal agent a vendor fetched the traveller's
details from). So v(S) = the sum of the components S covers, and an agent's
Shapley value is its fair share of what it made possible.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Any

from lamas.economy.revenue import CENT, Split, split_revenue
from lamas.protocol.credit import shapley


@dataclass(frozen=True, slots=True)
class Component:
    """One part of a task's value and what earning it needed: for each need, the agents
    any one of which suffices."""

    label: str
    value: Decimal
    needs: tuple[frozenset[str], ...]

    def covered_by(self, coalition: frozenset[str]) -> bool:
        return all(need & coalition for need in self.needs)

    def as_json(self) -> dict[str, Any]:
        return {
            "label": self.label,
            "value": str(self.value),
            "needs": [sorted(need) for need in self.needs],
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Component:
        return cls(
            str(data["label"]),
            Decimal(str(data["value"])),
            tuple(frozenset(need) for need in data["needs"]),
        )


@dataclass(frozen=True, slots=True)
class Game:
    """A task's value as a cooperative game over the agents that took part."""

    components: tuple[Component, ...]

    @property
    def players(self) -> list[str]:
        seen: dict[str, None] = {}
        for component in self.components:
            for need in component.needs:
                seen.update(dict.fromkeys(sorted(need)))
        return list(seen)

    @property
    def total(self) -> Decimal:
        return sum((c.value for c in self.components), Decimal(0))

    def value(self, coalition: frozenset[str]) -> float:
        return float(sum((c.value for c in self.components if c.covered_by(coalition)), Decimal(0)))

    def shares(self) -> dict[str, float]:
        """Each player's Shapley value (exact: a task has few agents)."""
        return shapley(self.players, self.value)


@dataclass(frozen=True, slots=True)
class Settlement:
    game: Game
    shares: dict[str, float]
    split: Split


def settle(
    game: Game,
    *,
    owners: Mapping[str, str],
    fee_rate: Decimal,
    quality: Mapping[str, float] | None = None,
) -> Settlement:
    """Credit by Shapley, then the platform fee and the payouts, exact to the cent."""
    # Shapley sums floats: a null player can come out at -1e-17. That is float noise, not
    # a negative credit, so it is read as the 0.0 it is.
    shares = {p: 0.0 if abs(v) < 1e-9 else v for p, v in game.shares().items()}
    split = split_revenue(
        game.total.quantize(CENT), shares, owners=owners, fee_rate=fee_rate, quality=quality
    )
    return Settlement(game, shares, split)


@dataclass(frozen=True, slots=True)
class StepFacts:
    """What the record of one step says about who made it possible."""

    step_id: str
    depends_on: tuple[str, ...]
    candidates: frozenset[str]
    """The agent that served the step, and competitors whose offers it was chosen from."""
    helpers: frozenset[str] = frozenset()
    """Agents the serving agent itself called for this task (subcontracting)."""
    commits: bool = False
    """The step books or buys something (its skill builds on another step)."""
    amount: Decimal | None = None
    """What it booked, for a committing step."""


def components_of(
    steps: Iterable[StepFacts], *, rate: Decimal, flat_fee: Decimal
) -> tuple[Component, ...]:
    """A task's value components: a commission of `rate` on each committing step's amount,
    needing that step's whole chain; or, when nothing was booked, `flat_fee` needing every
    step."""
    by_id = {step.step_id: step for step in steps}

    def needs_of(chain: Iterable[StepFacts]) -> tuple[frozenset[str], ...]:
        needs: list[frozenset[str]] = []
        for part in chain:
            needs.append(part.candidates)
            needs.extend(frozenset({helper}) for helper in sorted(part.helpers))
        return tuple(dict.fromkeys(needs))

    def chain(step: StepFacts) -> list[StepFacts]:
        found: dict[str, StepFacts] = {}
        todo = [step]
        while todo:
            current = todo.pop()
            if current.step_id not in found:
                found[current.step_id] = current
                todo.extend(by_id[d] for d in current.depends_on if d in by_id)
        return list(reversed(found.values()))

    components = [
        Component(step.step_id, (step.amount * rate).quantize(CENT), needs_of(chain(step)))
        for step in by_id.values()
        if step.commits and step.amount is not None and step.amount > 0
    ]
    if not components:
        components = [Component("task", flat_fee, needs_of(by_id.values()))]
    return tuple(components)


AMOUNT_FIELDS = ("total", "price", "amount")
"""Where a committing step's output says how much it booked."""


def booked_amount(output: Mapping[str, Any]) -> Decimal | None:
    """The amount a step's output says was booked, exactly (None if it says none)."""
    for name in AMOUNT_FIELDS:
        value = output.get(name)
        if isinstance(value, int | float | str) and not isinstance(value, bool):
            try:
                return Decimal(str(value))
            except InvalidOperation:
                continue
    return None
