"""The counterfactual characteristic function: v(S) by replaying a task with only S.

The record-based game (`settlement.py`) credits what happened; this one asks the
agents again: the task's plan is replayed, with the inputs it had, on a network
where only the agents in S (and the platform's own) exist, and v(S) is what that
replay earns. A competitor that lost the vote is credited here for what it *could*
have done had the winner been absent, which the record alone cannot show.

Replays are real requests to the same handlers, marked as counterfactual in their
metadata and under their own task ids; an agent with side effects should honour the
mark. A step needing the user's data fails in a coalition without the user's vault;
otherwise it is replayed without grants (a replay quotes, it reads no user data). Each
coalition is replayed once: 2^n replays for n agents.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterable
from decimal import Decimal
from typing import Any

from lamas.economy.revenue import CENT
from lamas.economy.settlement import StepFacts, booked_amount, components_of
from lamas.errors import InvalidPlan, LamasError
from lamas.privacy.service import GRANT_SKILL
from lamas.protocol.cards import Skill
from lamas.protocol.messages import Envelope, Message
from lamas.runtime.network import Network
from lamas.runtime.session import Session, chosen_output, step_inputs

MAX_PLAYERS = 12
COUNTERFACTUAL = "counterfactual"


async def replay_value(
    network: Network,
    session: Session,
    skills: dict[str, Skill],
    coalition: frozenset[str],
    *,
    sender: str,
    platform: Iterable[str],
    commission: Decimal,
    flat_fee: Decimal,
) -> Decimal:
    """What the task earns when replayed with only `coalition` (plus `platform`)."""
    assert session.plan is not None
    world = network.subset(coalition | set(platform))
    outputs: dict[str, dict[str, Any]] = {}
    served: dict[str, str] = {}
    facts: list[StepFacts] = []
    failed: set[str] = set()
    for layer in session.plan.layers():
        for step in layer:
            if failed & set(step.depends_on):
                failed.add(step.id)
                continue
            skill = skills[step.capability]
            inputs = step_inputs(
                session.slots.get(step.id, {}),
                skill.input_schema.get("properties", {}),
                (outputs[need] for need in step.depends_on),
            )
            providers = [card.id for card in world.find(step.capability)]
            run = session.runs.get(step.id)
            original = run.agent if run else None
            before = run.output if run else {}
            affinity = [served[d] for d in step.depends_on if served.get(d) in providers]
            order = affinity or ([original] if original in providers else []) or providers
            output = None
            for agent in order:
                try:
                    _check_vault(world, step.capability, agent)
                    reply = await world.transport.request(
                        Envelope(
                            sender=sender,
                            recipient=agent,
                            skill=step.capability,
                            task_id=f"{session.task.id}.{COUNTERFACTUAL}",
                            message=Message(
                                parts=Message.of_data(inputs).parts,
                                metadata={COUNTERFACTUAL: True},
                            ),
                        ),
                        timeout=30,
                    )
                except Exception:  # an absent partner makes the step fail, as in life
                    continue
                output, served[step.id] = _same_choice(reply.data, before), agent
                break
            if output is None:
                failed.add(step.id)
                continue
            outputs[step.id] = output
            facts.append(
                StepFacts(
                    step.id,
                    step.depends_on,
                    frozenset({served[step.id]}),
                    commits=bool(skill.requires),
                    amount=booked_amount(output),
                )
            )
    if not facts:
        return Decimal(0)
    components = components_of(facts, rate=commission, flat_fee=flat_fee)
    if len(facts) < len(session.plan.steps):
        # A task that did not complete earns its bookings, never the completion fee.
        components = tuple(c for c in components if c.label != "task")
    return sum((c.value for c in components), Decimal(0)).quantize(CENT)


def _check_vault(world: Network, capability: str, agent: str) -> None:
    """A step needing the user's data cannot be done in a coalition without the user's
    vault (nobody could grant the data), as in life. A replay only quotes, so it is not
    granted anything: what-ifs read no user data and leave no access in the ledger."""
    skill = world.card(agent).skill(capability)
    if skill is not None and skill.vault_fields and not world.find(GRANT_SKILL):
        raise InvalidPlan(f"no vault in this coalition to grant {agent} the user's data")


async def counterfactual_values(
    network: Network,
    session: Session,
    skills: dict[str, Skill],
    players: Iterable[str],
    **options: Any,
) -> dict[frozenset[str], float]:
    """v(S) for every coalition S of `players`, each by one replay."""
    who = list(dict.fromkeys(players))
    if len(who) > MAX_PLAYERS:
        raise LamasError(
            f"{len(who)} agents would need {2 ** len(who)} replays; counterfactual credit "
            f"is limited to {MAX_PLAYERS} agents"
        )
    values: dict[frozenset[str], float] = {}
    for size in range(len(who) + 1):
        for members in itertools.combinations(who, size):
            coalition = frozenset(members)
            values[coalition] = float(
                await replay_value(network, session, skills, coalition, **options)
            )
    return values


def _same_choice(data: dict[str, Any], before: dict[str, Any]) -> dict[str, Any]:
    """The offer the real run settled on, when the replay offers it again (the consensus
    is not re-run); otherwise the replay's own best offer."""
    offers = data.get("offers")
    key = before.get("offer_id")
    if key is not None and isinstance(offers, list):
        for offer in offers:
            if isinstance(offer, dict) and offer.get("offer_id") == key:
                return dict(offer)
    return chosen_output(data)
