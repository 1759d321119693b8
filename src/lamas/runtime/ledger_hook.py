"""The ledger hook: every orchestrated task writes its entries as it runs.

It listens to the orchestrator's events (and watches the transport for who called
whom on a task's behalf); no agent writes ledger entries by hand. When a task
completes it is settled: its value as a game (`settlement.py`), Shapley credit,
the platform fee and each entity's payout, all in the ledger.

What the dashboard shows comes from here too: the plan's DAG (in `task.opened`), each
consensus with every round's ballots (in `step.done`), every envelope's routing facts
(`message`, never a body) and each change of the task's state (`task.status`). Messages
are buffered and written with the task's next entry, in the same transaction, so that
watching the transport costs no database write per envelope.
"""

from __future__ import annotations

import time
from collections import defaultdict
from collections.abc import Sequence
from decimal import Decimal
from typing import Any

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
from lamas.errors import LamasError, UnknownAgent
from lamas.protocol.consensus import Decision
from lamas.protocol.ledger import (
    ConsensusRecord,
    CreditAllocated,
    EntryKind,
    MessageSent,
    Outcome,
    Payout,
    PlannedStep,
    RecordedBallot,
    Resources,
    StepAssigned,
    StepCompensated,
    StepDone,
    TaskOpened,
    TaskStatus,
    ValueBasis,
)
from lamas.protocol.messages import Envelope, Message
from lamas.protocol.plan import Step
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
        record_instruction: bool = False,
    ) -> None:
        self.ledger = ledger
        self.orchestrator = orchestrator
        self.network: Network = orchestrator.network
        self.commission = commission
        self.flat_fee = flat_fee
        self.fee_rate = fee_rate
        self.currency = currency
        self.settlements: dict[str, Settlement] = {}
        self._record: dict[str, list[bool]] = defaultdict(list)
        # The user's words go into the ledger only when asked (a demo, an operator's own
        # tasks); otherwise `task.opened` names what was planned.
        self.record_instruction = record_instruction
        self._messages: dict[str, list[NewEntry]] = defaultdict(list)
        self._closed: set[str] = set()
        self._opened: set[str] = set()
        self._owners = {card.id: card.entity for card in self.network.cards}
        orchestrator.listeners.append(self.event)
        self.network.transport.observers.append(self.observe)
        self.network.transport.reply_observers.append(self.observe_reply)
        # A centralized orchestrator reading the profile itself is a read like any other.
        self.network.transport.observers.append(profile_read_observer(ledger, self.network))

    def owner(self, agent: str) -> str:
        try:
            entity = self.network.card(agent).entity
        except UnknownAgent:
            # Dropped since (a vendor that died mid-task): its entity as last known.
            if agent in self._owners:
                return self._owners[agent]
            raise
        self._owners[agent] = entity
        return entity

    # --- listening ----------------------------------------------------------------------

    def _entity_of(self, agent: str) -> str | None:
        try:
            return self.owner(agent)
        except LamasError:  # a caller from outside the network (a user, a test)
            return None

    def observe(self, envelope: Envelope) -> None:
        """Keep the envelope's routing facts for the task's next ledger entry."""
        task_id = envelope.task_id
        if not task_id:
            return
        sent = NewEntry(
            EntryKind.MESSAGE,
            task_id,
            MessageSent(
                id=envelope.id[:128],
                sender=envelope.sender,
                recipient=envelope.recipient,
                skill=envelope.skill,
                kind=envelope.kind,
                mode=envelope.mode,
                priority=envelope.priority,
                sent_at=envelope.sent_at,
            ),
            envelope.sender,
            self._entity_of(envelope.sender),
        )
        if task_id in self._closed:
            self.ledger.append_many([sent])  # after the task ended (its last log post)
        else:
            self._messages[task_id].append(sent)

    def observe_reply(self, request: Envelope, reply: Message) -> None:
        """Keep a reply's routing facts and latency (the sequence diagram draws it back)."""
        task_id = request.task_id
        if not task_id:
            return
        now = time.time()
        entry = NewEntry(
            EntryKind.MESSAGE,
            task_id,
            MessageSent(
                id=reply.message_id[:128],
                sender=request.recipient,
                recipient=request.sender,
                skill=request.skill,
                kind="reply",
                mode=request.mode,
                priority=request.priority,
                sent_at=now,
                in_reply_to=request.id[:128],
                latency_ms=round(max(0.0, now - request.sent_at) * 1000, 3),
            ),
            request.recipient,
            self._entity_of(request.recipient),
        )
        if task_id in self._closed:
            self.ledger.append_many([entry])
        else:
            self._messages[task_id].append(entry)

    def flush(self, task_id: str | None = None) -> None:
        """Write the messages still buffered (of one task, or of all)."""
        for each in [task_id] if task_id else list(self._messages):
            self.ledger.append_many(self._messages.pop(each, []))

    def _with_messages(self, task_id: str, entries: list[NewEntry]) -> None:
        self.ledger.append_many([*self._messages.pop(task_id, []), *entries])

    def _status(self, task_id: str, state: str, message: str = "") -> NewEntry:
        return NewEntry(
            EntryKind.TASK_STATUS,
            task_id,
            TaskStatus(state=state, message=message[:2000]),
            self.orchestrator.agent_id,
            self._entity_of(self.orchestrator.agent_id),
        )

    def _open(self, task_id: str, session: Session | None, steps: Sequence[Step]) -> None:
        self._opened.add(task_id)
        said = session.said[0] if session is not None and session.said else ""
        self.ledger.append(
            EntryKind.TASK_OPENED,
            task_id=task_id,
            agent=self.orchestrator.agent_id,
            entity=self.owner(self.orchestrator.agent_id),
            # The instruction is the user's words: unless asked to keep them, the ledger
            # keeps what was planned.
            payload=TaskOpened(
                instruction=said if self.record_instruction else ", ".join(s.id for s in steps),
                steps=tuple(
                    PlannedStep(id=s.id, capability=s.capability, depends_on=s.depends_on)
                    for s in steps
                ),
            ),
        )

    def event(self, event: Event) -> None:
        session = self.orchestrator.sessions.get(event.task_id)
        task_id = event.task_id
        if event.kind == "plan":
            self._open(task_id, session, event.data["plan"].steps)
        elif event.kind == "failed" and task_id not in self._opened and session is not None:
            # It failed before it had a plan (nothing routed): still a task in the ledger.
            self._open(task_id, session, ())
        if event.kind == "step":
            self._step(task_id, event.data["run"])
        elif event.kind == "compensated":
            self._compensated(task_id, event.data)
        elif event.kind == "question":
            self._with_messages(
                task_id, [self._status(task_id, "input-required", event.data["question"])]
            )
        elif event.kind == "failed":
            self._closed.add(task_id)
            self._with_messages(task_id, [self._status(task_id, "failed", event.data["reason"])])
        elif event.kind == "done" and session is not None:
            self._closed.add(task_id)
            self._with_messages(
                task_id, [self._status(task_id, "completed", event.data.get("summary", ""))]
            )
            self.settlements[task_id] = self._settle(session)

    def _step(self, task_id: str, run: StepRun) -> None:
        if run.agent is None:
            self.flush(task_id)
            return
        self._record[run.agent].append(run.error is None)
        entity = self.owner(run.agent)
        self._with_messages(
            task_id,
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
                        error=run.error[:2000] if run.error else None,
                        consensus=_consensus(run.decision) if run.decision else None,
                    ),
                    run.agent,
                    entity,
                ),
            ],
        )

    def _compensated(self, task_id: str, data: dict[str, Any]) -> None:
        """A booking undone (or kept at the user's word) when its task could not complete:
        a ledger entry of its own; a failed task is never settled, so undone work is
        never paid."""
        agent = str(data["agent"])
        entry = NewEntry(
            EntryKind.STEP_COMPENSATED,
            task_id,
            StepCompensated(
                step_id=data["step"],
                skill=data["skill"] or "none",
                key=data["key"],
                booking_id=data.get("booking_id") or None,
                outcome=data["outcome"],
                detail=str(data.get("detail", ""))[:2000],
            ),
            agent,
            self._entity_of(agent),
        )
        if task_id in self._closed:
            self.ledger.append_many([entry])
        else:
            self._with_messages(task_id, [entry])

    # --- settling -----------------------------------------------------------------------

    def facts(self, session: Session) -> list[StepFacts]:
        """What the task's record says about who made each step possible."""
        assert session.plan is not None
        platform = {c.id for c in self.network.cards if c.entity == PLATFORM}
        known = {c.id for c in self.network.cards}
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
                    # Whom the serving agent called, as its reply says: the same record in
                    # every run mode (this process cannot watch remote agents' traffic).
                    frozenset((run.called & known) - platform - {run.agent}),
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
        owners = {**self._owners, **{card.id: card.entity for card in self.network.cards}}
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


def _consensus(decision: Decision) -> ConsensusRecord:
    """A decision as the ledger keeps it: every round's ballots, not just the last."""
    rounds = decision.history or ((decision.ballots,) if decision.ballots else ())
    return ConsensusRecord(
        rule=decision.rule,
        winner=decision.winner,
        support=round(decision.support, 6),
        threshold=round(decision.threshold, 6),
        reached=decision.reached,
        fallback=decision.fallback,
        tally={key: round(value, 6) for key, value in decision.tally.items()},
        rounds=tuple(
            tuple(RecordedBallot(voter=b.voter, choice=b.choice, ranking=b.ranking) for b in each)
            for each in rounds
        ),
        notes=tuple(note[:500] for note in decision.notes),
    )
