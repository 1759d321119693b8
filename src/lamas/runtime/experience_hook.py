"""The experience hook: every step an orchestrator runs leaves an `ExperienceRecord`.

Like the ledger hook, it listens to the orchestrator's events and watches the transport
(who called whom on a task's behalf, at what list price); no agent writes its own
records. When a task completes and a `LedgerRecorder` settled it, each agent's Shapley
credit is written onto its steps (so create this recorder after the `LedgerRecorder`:
listeners hear an event in the order they were added). Whoever learns from the
records (a learning router, say) sees each one through `on_record`.
"""

from __future__ import annotations

import time
from collections import defaultdict
from collections.abc import Callable, Mapping
from decimal import Decimal

from lamas.experience.store import ExperienceStore
from lamas.llm.base import Usage
from lamas.protocol.experience import (
    ExperienceRecord,
    Interaction,
    StepOutcome,
    StepResources,
    Strategy,
)
from lamas.protocol.messages import Envelope
from lamas.runtime.ledger_hook import LedgerRecorder
from lamas.runtime.orchestrator import Orchestrator
from lamas.runtime.session import Event, StepRun

MAX_STORED_OUTPUT = 4000
"""Characters of a step's output kept in its record (offers lists can be long)."""


class ExperienceRecorder:
    def __init__(
        self,
        store: ExperienceStore,
        orchestrator: Orchestrator,
        *,
        ledger: LedgerRecorder | None = None,
        prompt_versions: Mapping[str, str] | None = None,
    ) -> None:
        self.store = store
        self.orchestrator = orchestrator
        self.ledger = ledger
        self.prompt_versions = dict(prompt_versions or {})
        self.on_record: list[Callable[[ExperienceRecord], None]] = []
        self.written = 0
        self._instruction: dict[str, str] = {}
        # Envelopes of a task not yet claimed by a step, per agent involved.
        self._pending: dict[str, dict[str, list[Envelope]]] = defaultdict(lambda: defaultdict(list))
        # The orchestrator's own model use (slot filling) per step: from one "filling"
        # event to the next event of the task.
        self._filling: dict[str, tuple[str, Usage]] = {}
        self._tokens: dict[tuple[str, str], tuple[int, int]] = {}
        orchestrator.listeners.append(self.event)
        orchestrator.network.transport.observers.append(self.observe)

    def observe(self, envelope: Envelope) -> None:
        if not envelope.task_id:
            return
        pending = self._pending[envelope.task_id]
        for agent in {envelope.sender, envelope.recipient} - {self.orchestrator.agent_id}:
            pending[agent].append(envelope)

    def _close_filling(self, task_id: str) -> None:
        open_fill = self._filling.pop(task_id, None)
        if open_fill is not None:
            step_id, before = open_fill
            now = self.orchestrator.model.usage
            spent = self._tokens.get((task_id, step_id), (0, 0))
            self._tokens[(task_id, step_id)] = (
                spent[0] + now.prompt_tokens - before.prompt_tokens,
                spent[1] + now.completion_tokens - before.completion_tokens,
            )

    def event(self, event: Event) -> None:
        self._close_filling(event.task_id)
        if event.kind == "filling":
            self._filling[event.task_id] = (event.data["step"], self.orchestrator.model.usage)
        if event.kind == "plan":
            session = self.orchestrator.sessions.get(event.task_id)
            if session is not None:
                self._instruction[event.task_id] = " ".join(session.said)
        elif event.kind == "step":
            self._step(event.task_id, event.data["run"])
        elif event.kind == "done" and self.ledger is not None:
            settlement = self.ledger.settlements.get(event.task_id)
            if settlement is not None:
                self.store.set_credit(
                    event.task_id,
                    {a: Decimal(str(round(s, 4))) for a, s in settlement.shares.items()},
                )
        if event.kind in ("done", "failed"):  # a finished task's notes are let go
            self._pending.pop(event.task_id, None)
            self._instruction.pop(event.task_id, None)
            for key in [k for k in self._tokens if k[0] == event.task_id]:
                del self._tokens[key]

    def _step(self, task_id: str, run: StepRun) -> None:
        agent = run.agent or "(none)"
        seen = self._pending[task_id].pop(agent, []) if run.agent else []
        network = self.orchestrator.network
        cost = Decimal(0)
        for envelope in seen:
            try:
                price = network.card(envelope.recipient).price(envelope.skill or "")
            except Exception:  # an envelope to a topic or a departed agent has no price
                price = None
            if price is not None and price.unit == "call":
                cost += price.amount
        tools = sorted(
            {e.skill for e in seen if e.sender == run.agent and e.skill} - {run.step.capability}
        )
        tokens = self._tokens.get((task_id, run.step.id), (0, 0))
        session = self.orchestrator.sessions.get(task_id)
        filled = session.slots.get(run.step.id, {}) if session is not None else {}
        selection = run.selected_by or ("consensus" if run.decision is not None else "only")
        try:
            entity = network.card(agent).entity if run.agent else ""
        except Exception:
            entity = ""
        record = ExperienceRecord(
            task_id=task_id,
            instruction=self._instruction.get(task_id, run.step.instruction),
            step_id=run.step.id,
            capability=run.step.capability,
            step_instruction=run.step.instruction,
            agent=agent,
            entity=entity,
            strategy=Strategy(
                prompt_version=self.prompt_versions.get(agent, "default"),
                tools=tuple(tools),
                selection=selection,
            ),
            inputs=dict(run.inputs),
            filled={k: v for k, v in filled.items() if v is not None},
            output=_bounded(run.output),
            outcome=StepOutcome(ok=run.error is None, error=run.error),
            resources=StepResources(
                seconds=round(run.seconds, 6),
                calls=len(seen),
                cost=cost,
                prompt_tokens=tokens[0],
                completion_tokens=tokens[1],
            ),
            interactions=tuple(
                Interaction(sender=e.sender, recipient=e.recipient, skill=e.skill) for e in seen
            ),
            at=time.time(),
        )
        self.store.add(record)
        self.written += 1
        for listen in self.on_record:
            listen(record)


def _bounded(output: dict[str, object]) -> dict[str, object]:
    import json

    text = json.dumps(output, default=str)
    if len(text) <= MAX_STORED_OUTPUT:
        return json.loads(text)  # type: ignore[no-any-return]
    return {"truncated": text[:MAX_STORED_OUTPUT]}
