"""The ledger hook: every orchestrated task writes its entries as it runs.

It listens to the orchestrator's events (and watches the transport for who called
whom on a task's behalf); no agent writes ledger entries by hand. When a task
completes it is settled: its value as a game (`settlement.py`), Shapley credit,
the platform fee and each entity's payout, all in the ledger.
"""

from __future__ import annotations

from collections import defaultdict
from decimal import Decimal

from lamas.economy.ledger import Ledger, NewEntry
from lamas.economy.revenue import CENT, PLATFORM, Quality
from lamas.economy.settlement import (
    Game,
    Settlement,
    StepFacts,
    booked_amount,
    components_of,
    settle,
)
from lamas.protocol.ledger import (
    CreditAllocated,
    EntryKind,
    Outcome,
    Payout,
    Resources,
    StepAssigned,
    StepDone,
    TaskOpened,
    ValueBasis,
)
from lamas.protocol.messages import Envelope
from lamas.runtime.network import Network
from lamas.runtime.orchestrator import Orchestrator
from lamas.runtime.privacy_hook import profile_read_observer
from lamas.runtime.session import Event, Session, StepRun


class LedgerRecorder:
    """Writes an orchestrator's tasks into `ledger` and settles each completed one."""

    def __init__(
        self,
        ledger: Ledger,
        orchestrator: Orchestrator,
        *,
        commission: Decimal = Decimal("0.08"),
        flat_fee: Decimal = Decimal("0.05"),
        fee_rate: Decimal = Decimal("0.20"),
        currency: str = "EUR",
    ) -> None:
        self.ledger = ledger
        self.orchestrator = orchestrator
        self.network: Network = orchestrator.network
        self.commission = commission
        self.flat_fee = flat_fee
        self.fee_rate = fee_rate
        self.currency = currency
        self.settlements: dict[str, Settlement] = {}
        self._called: dict[str, dict[str, set[str]]] = defaultdict(lambda: defaultdict(set))
        self._record: dict[str, list[bool]] = defaultdict(list)
        orchestrator.listeners.append(self.event)
        self.network.transport.observers.append(self.observe)
        # A centralized orchestrator reading the profile itself is a read like any other.
        self.network.transport.observers.append(profile_read_observer(ledger, self.network))

    def owner(self, agent: str) -> str:
        return self.network.card(agent).entity

    # --- listening ----------------------------------------------------------------------

    def observe(self, envelope: Envelope) -> None:
        """Note who an agent called on a task's behalf (subcontracting)."""
        if (
            envelope.task_id
            and envelope.sender != self.orchestrator.agent_id
            and envelope.recipient in {c.id for c in self.network.cards}
        ):
            self._called[envelope.task_id][envelope.sender].add(envelope.recipient)

    def event(self, event: Event) -> None:
        session = self.orchestrator.sessions.get(event.task_id)
        if event.kind == "plan":
            self.ledger.append(
                EntryKind.TASK_OPENED,
                task_id=event.task_id,
                agent=self.orchestrator.agent_id,
                entity=self.owner(self.orchestrator.agent_id),
                # The instruction is the user's words: the ledger keeps what was planned.
                payload=TaskOpened(instruction=", ".join(s.id for s in event.data["plan"].steps)),
            )
        elif event.kind == "step":
            self._step(event.task_id, event.data["run"])
        elif event.kind == "done" and session is not None:
            self.settlements[event.task_id] = self._settle(session)

    def _step(self, task_id: str, run: StepRun) -> None:
        if run.agent is None:
            return
        self._record[run.agent].append(run.error is None)
        entity = self.owner(run.agent)
        self.ledger.append_many(
            [
                NewEntry(
                    EntryKind.STEP_ASSIGNED,
                    task_id,
                    StepAssigned(step_id=run.step.id, capability=run.step.capability),
                    run.agent,
                    entity,
                ),
                NewEntry(
                    EntryKind.STEP_DONE,
                    task_id,
                    StepDone(
                        step_id=run.step.id,
                        resources=Resources(tool_calls=1, seconds=round(run.seconds, 6)),
                        ok=run.error is None,
                    ),
                    run.agent,
                    entity,
                ),
            ]
        )

    # --- settling -----------------------------------------------------------------------

    def facts(self, session: Session) -> list[StepFacts]:
        """What the task's record says about who made each step possible."""
        assert session.plan is not None
        platform = {c.id for c in self.network.cards if c.entity == PLATFORM}
        called = self._called.get(session.task.id, {})
        facts = []
        for step in session.plan.steps:
            run = session.runs[step.id]
            assert run.agent is not None
            candidates = {run.agent}
            if run.decision is not None:
                # Competing offers: keys are "proposer:offer".
                candidates |= {key.split(":", 1)[0] for key in run.decision.tally}
            skill = self.orchestrator.skills[step.capability]
            facts.append(
                StepFacts(
                    step.id,
                    step.depends_on,
                    frozenset(candidates),
                    frozenset(called.get(run.agent, set()) - platform - {run.agent}),
                    commits=bool(skill.requires),
                    amount=booked_amount(run.output),
                )
            )
        return facts

    def _settle(self, session: Session) -> Settlement:
        task_id = session.task.id
        game = Game(
            components_of(self.facts(session), rate=self.commission, flat_fee=self.flat_fee)
        )
        quality = {
            agent: Quality(sum(r), len(r) - sum(r)).score for agent, r in self._record.items()
        }
        owners = {card.id: card.entity for card in self.network.cards}
        settlement = settle(game, owners=owners, fee_rate=self.fee_rate, quality=quality)
        booked = sum(1 for c in game.components if c.label != "task")
        outcome = self.ledger.append(
            EntryKind.OUTCOME,
            task_id=task_id,
            payload=Outcome(
                value=game.total.quantize(CENT),
                currency=self.currency,
                basis=ValueBasis.CPA if booked else ValueBasis.FLAT_FEE,
                units=booked or 1,
                note=f"{self.commission:%} commission on bookings" if booked else "flat fee",
                components=tuple(c.as_json() for c in game.components),
            ),
        )
        entries = [
            NewEntry(
                EntryKind.CREDIT_ALLOCATED,
                task_id,
                CreditAllocated(
                    amount=Decimal(str(max(share, 0.0))).quantize(CENT),
                    currency=self.currency,
                    outcome=outcome.sequence,
                ),
                agent,
                owners[agent],
            )
            for agent, share in settlement.shares.items()
        ]
        entries += [
            NewEntry(
                EntryKind.PAYOUT,
                task_id,
                Payout(
                    amount=amount, currency=self.currency, reference=f"outcome {outcome.sequence}"
                ),
                None,
                entity,
            )
            for entity, amount in settlement.split.by_entity.items()
        ]
        self.ledger.append_many(entries)
        return settlement
