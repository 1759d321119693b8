"""The recovery stage of a task's life (understand -> plan -> run -> recover -> settle).

`Recovery` is what the orchestrator calls at a few clearly marked points; every policy
lives in its own module beside this one and is only wired together here:

- the orchestrator's outbound gate gets `middleware()`: each request retried when it
  failed transiently (`retry.py`), within its deadline, a bounded number in flight per
  agent (`admission.Lanes`), and each agent's liveness noted (`liveness.py`);
- `check_admission()` / `running()`: new tasks queue or are refused with `Busy`;
- `live_providers()`, `live_options()`, `live_winner()`: offers of agents that stopped
  answering are withdrawn from choices;
- `keyed()`: every request carries an idempotency key (task + step + round of choice),
  and a booking (a skill with a compensating skill) is noted before it is sent;
- `rechoose()`: a step that failed because its agent is gone is chosen again among the
  live offers (its upstream search re-run without that agent);
- `unwind()` / `release_abandoned()`: when a task cannot complete, what it booked is
  undone with each booking's compensating skill (or the user is asked whether to keep
  a booking worth having alone); bookings abandoned on the way are undone even when
  the task completes. Each compensation is an event the ledger records; one that
  could not get through is retried while the orchestrator runs (`keep_undoing`) and
  when it restarts.
- `event()` (a listener) writes the task's state at each step boundary (`durable.py`);
  `resume()` picks unfinished tasks up after a restart.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator, Iterable
from contextlib import asynccontextmanager
from dataclasses import replace
from typing import TYPE_CHECKING, Any

from lamas.errors import AgentUnreachable, ConfigError, LamasError, UnknownAgent
from lamas.protocol.consensus import Decision, Option
from lamas.protocol.messages import Envelope, Message, new_id
from lamas.protocol.plan import Step
from lamas.protocol.tasks import TaskState
from lamas.protocol.types import Context, Handler, Middleware, Reply
from lamas.runtime.gate import with_timeout
from lamas.runtime.recovery.admission import Admission, Lanes
from lamas.runtime.recovery.durable import Attempt, TaskRecovery, TaskStore
from lamas.runtime.recovery.idempotency import IDEMPOTENCY_KEY, idempotency_key, with_key
from lamas.runtime.recovery.liveness import Liveness
from lamas.runtime.recovery.retry import Backoff, RetryPolicy, is_transient
from lamas.runtime.session import Event, Session, StepRun, downstream

if TYPE_CHECKING:
    from lamas.runtime.orchestrator import Orchestrator

log = logging.getLogger(__name__)

TASK_BUDGET = 300.0
"""Seconds a task's requests may be retried after transient failures (timeouts under
load included), counted from its first request: each try still has the step's deadline."""


COMPENSATION_RETRY = Backoff(attempts=12, initial=0.2, factor=2.0, maximum=5.0, jitter=0.2)
"""Undoing a booking is worth waiting for: ~40 s of tries for its vendor to come back."""

PENDING_RETRY = 30.0
"""Seconds between a running orchestrator's retries of compensations left pending (see
`Recovery.keep_undoing`)."""

KEEP_WORDS = {"yes", "y", "keep", "keep it", "ok", "sure", "yes please"}
_PERSISTED: frozenset[str] = frozenset({"plan", "question", "step", "done", "failed"})
_PROVIDER_POLL = 0.25  # seconds between looks for a provider that is back
_BUDGET_ENDS: frozenset[str] = frozenset({"question", "done", "failed"})


class Recovery:
    """Retries, live-only choices, idempotency, compensation, durable state, admission."""

    def __init__(
        self,
        *,
        retry: RetryPolicy | None = None,
        admission: Admission | None = None,
        lanes: Lanes | None = None,
        store: TaskStore | None = None,
        max_rechoices: int = 3,
        compensation_retry: Backoff = COMPENSATION_RETRY,
        task_budget: float = TASK_BUDGET,
        provider_wait: float | None = None,
    ) -> None:
        if not task_budget > 0:
            raise ConfigError(f"a task's retry budget must be > 0 seconds, got {task_budget}")
        if provider_wait is not None and not provider_wait >= 0:
            raise ConfigError(f"provider_wait must be >= 0 seconds, got {provider_wait}")
        self.retry = retry or RetryPolicy()
        self.admission = admission or Admission()
        self.lanes = lanes or Lanes()
        self.store = store
        self.max_rechoices = max_rechoices
        self.compensation_retry = compensation_retry
        self.task_budget = task_budget
        self.provider_wait = provider_wait
        """Seconds a step waits for an agent offering its capability to be back (always
        within the task's budget); None: the whole budget once served with a registry
        (`interop.launch.orchestrate`: an agent that is back within the budget completes
        the task), else 0 (in one process, an agent removed from the network does not
        come back)."""
        self._began: dict[str, float] = {}  # task id -> its first request (see `_deadline`)
        self.liveness = Liveness()
        self.tasks: dict[str, TaskRecovery] = {}
        self.retries = 0
        self.unreachable: dict[str, set[str]] = {}
        """Per task, the agents a request of it could not reach (or whose offer was
        withdrawn as it was to be booked): they are gone for that task's re-choice even
        if, by then, another task's call has found them answering again (or restarted)."""
        self.resuming: asyncio.Future[list[Session]] | None = None
        """The resumption of unfinished tasks, when started in the background."""
        self.undoing: asyncio.Future[None] | None = None
        """The retries of compensations left pending (`keep_undoing`), when started."""
        self._compensating: set[str] = set()  # keys of bookings being undone right now
        self._orchestrator: Orchestrator | None = None

    def attach(self, orchestrator: Orchestrator) -> None:
        self._orchestrator = orchestrator
        orchestrator.listeners.append(self.event)

    @property
    def orchestrator(self) -> Orchestrator:
        if self._orchestrator is None:
            raise RuntimeError("Recovery.attach(orchestrator) first")
        return self._orchestrator

    def state(self, task_id: str) -> TaskRecovery:
        found = self.tasks.get(task_id)
        if found is None:
            found = self.tasks[task_id] = TaskRecovery()
        return found

    # --- the outbound gate ----------------------------------------------------------------

    def middleware(self) -> Middleware:
        """Retries with backoff, per-agent lanes and liveness, around every request sent."""

        def wrap(handler: Handler) -> Handler:
            async def recovering(envelope: Envelope, context: Context) -> Reply:
                if envelope.mode == "async":
                    return await handler(envelope, context)
                timeout = getattr(context, "timeout", None)
                deadline = self._deadline(envelope.task_id, timeout)
                sent = [envelope]

                async def attempt(left: float | None) -> Reply:
                    current = sent[-1]
                    # Waiting for this agent's lane is the orchestrator's own queue: an
                    # attempt's time starts when it is sent (see `_deadline`).
                    async with self.lanes.lane(current.recipient):
                        limit = left if timeout is None else min(timeout, left or timeout)
                        timed = with_timeout(context, limit)
                        try:
                            if limit is None:
                                reply = await handler(current, context)
                            elif timed is not None:  # the transport times it, once sent
                                reply = await handler(current, timed)
                            else:
                                reply = await asyncio.wait_for(handler(current, context), limit)
                        except BaseException as error:
                            self.liveness.failed(
                                current.recipient, error, self._url_of(current.recipient)
                            )
                            # A retry is a new envelope (signatures and replay guards key
                            # on the id); its idempotency key is what stays the same.
                            sent.append(
                                current.model_copy(
                                    update={
                                        "id": new_id(),
                                        "sent_at": time.time(),
                                        "signature": None,
                                    }
                                )
                            )
                            raise
                    self.liveness.answered(current.recipient)
                    return reply

                try:
                    return await self.retry.call(
                        envelope.skill, attempt, deadline=deadline, on_retry=self._retried
                    )
                except Exception as error:
                    if envelope.task_id and is_transient(error):
                        self.unreachable.setdefault(envelope.task_id, set()).add(envelope.recipient)
                    raise

            return recovering

        return wrap

    def _deadline(self, task_id: str | None, timeout: float | None) -> float | None:
        """Until when a request may be retried. Each attempt has the step's `timeout`,
        counted from when it is sent; a transient failure (a timeout too: under load the
        agent may just be slow) is tried again while the task's budget lasts
        (`task_budget` seconds from its first request, or since it was last answered by
        the user), and always within one `timeout` of this request."""
        if timeout is None:
            return None
        now = time.monotonic()
        if task_id is None:
            return now + timeout
        began = self._began.setdefault(task_id, now)
        return max(now + timeout, began + self.task_budget)

    def _url_of(self, agent: str) -> str | None:
        try:
            return self.orchestrator.network.card(agent).url
        except LamasError:
            return None

    def _retried(self, error: BaseException, attempt: int) -> None:
        self.retries += 1
        log.info("retrying after attempt %d failed: %s", attempt, error)

    # --- admission ------------------------------------------------------------------------

    def check_admission(self) -> None:
        """Raise `Busy` (nothing started) when no new task can even queue."""
        wait = self.admission.busy_for()
        if wait is not None:
            from lamas.runtime.recovery.admission import Busy

            self.admission.refused += 1
            raise Busy(self.admission.name, wait)

    @asynccontextmanager
    async def running(self) -> AsyncIterator[None]:
        """A task's work, in its turn (it waits in the queue while all slots are busy)."""
        async with self.admission.admit(refuse=False):
            yield

    # --- live-only choices ----------------------------------------------------------------

    async def providers(self, session: Session, step: Step) -> list[str]:
        """The agents of the network offering `step`'s capability. When there is none, or
        every one is an agent this task could not reach for this step that still does not
        answer (the only hotel vendor died as it booked), wait for one to be back, up to
        `provider_wait` seconds within the task's budget, rather than fail the step with
        "no agent offers" or spend a re-choice asking a dead one again: the plan was made
        with them, a supervisor may be restarting the dead one (a restarted agent is
        listed again as soon as it publishes, at a new address), and a registry drops an
        agent that a loaded machine starves of CPU for a while, then lists it again at
        its next good check (at a load of 125, a hotel was dropped for 20 s)."""
        network = self.orchestrator.network
        excluded = set(self.state(session.task.id).excluded.get(step.id, ()))

        def found() -> list[str]:
            return [card.id for card in network.find(step.capability)]

        def back(agents: list[str]) -> bool:
            return any(a not in excluded or self.liveness.is_live(a, network) for a in agents)

        agents = found()
        if back(agents) or not self.provider_wait:
            return agents
        now = time.monotonic()
        began = self._began.get(session.task.id, now)
        until = min(now + self.provider_wait, began + self.task_budget)
        log.info("no live agent offers %s at the moment: waiting for one", step.capability)
        while not back(agents) and time.monotonic() < until:
            await asyncio.sleep(_PROVIDER_POLL)
            agents = found()
        return agents

    def live_providers(
        self, session: Session, step: Step, providers: list[str], affinity: str | None
    ) -> list[str]:
        """The providers of `step` that may be asked: live, and not excluded for this step.
        A step bound to the agent whose offer was chosen fails at once if it is gone, so
        the choice is made again (`rechoose`)."""
        network = self.orchestrator.network
        if (
            affinity is not None
            and affinity in providers
            and not self.liveness.is_live(affinity, network)
        ):
            self.unreachable.setdefault(session.task.id, set()).add(affinity)
            raise AgentUnreachable(
                affinity, "it stopped answering after its offer was chosen; its offer is withdrawn"
            )
        excluded = set(self.state(session.task.id).excluded.get(step.id, ()))
        # Every provider excluded (the only hotel vendor, say, was unreachable for a
        # moment under load): ask them again rather than none; what an earlier attempt
        # may have booked is undone as abandoned (`release_abandoned`), and the choice is
        # made again at most `max_rechoices` times.
        allowed = [p for p in providers if p not in excluded] or providers
        live = [p for p in allowed if self.liveness.is_live(p, network)]
        # None known to answer, but some still registered (a call of theirs failed a
        # moment ago: under load, a vote that timed out): ask them (retried) rather than
        # fail the step with "no agent offers" while they may well answer.
        return live or allowed

    def live(self, agents: list[str]) -> list[str]:
        return self.liveness.live(agents, self.orchestrator.network)

    def live_options(self, options: list[Option]) -> list[Option]:
        """The offers of live agents. If that is none, the offers of those still in the
        network: they answered this very step, and under load another task's call to
        them failing a moment later (a reset connection) is no proof they are gone;
        withdrawing every offer made the step "find nothing" and the task fail (200
        concurrent clients: 5 tasks). A booking at one that is really gone is re-chosen."""
        network = self.orchestrator.network
        live = [o for o in options if self.liveness.is_live(o.proposer, network)]
        return live or [o for o in options if o.proposer in network.transport]

    def live_decision(self, options: list[Option], decision: Decision) -> Decision:
        """`decision` without the offers of agents that are no longer live: its tally
        keeps only live offers (so settlement credits no withdrawn one) and its winner
        is the decided offer if live, else the live one the vote rated best."""
        network = self.orchestrator.network
        live = {o.key for o in options if self.liveness.is_live(o.proposer, network)}
        if not live or live >= set(decision.tally) | {decision.winner or ""}:
            return decision
        winner = self.live_winner(options, decision.winner, decision.tally)
        gone = sorted({o.proposer for o in options if o.key not in live})
        return replace(
            decision,
            winner=winner.key,
            tally={k: v for k, v in decision.tally.items() if k in live},
            notes=(*decision.notes, f"withdrawn, no longer live: {', '.join(gone)}"),
        )

    def live_winner(
        self, options: list[Option], winner: str | None, tally: dict[str, float]
    ) -> Option:
        """The decided option if its proposer is still live, else the live option the
        vote rated best (then the first live one in offer order)."""
        network = self.orchestrator.network
        live = [o for o in options if self.liveness.is_live(o.proposer, network)] or options
        chosen = next((o for o in live if o.key == winner), None)
        if chosen is not None:
            return chosen
        return max(live, key=lambda o: (tally.get(o.key, 0.0), -live.index(o)))

    # --- idempotency ----------------------------------------------------------------------

    def keyed(self, session: Session, step: Step, agent: str, message: Message) -> Message:
        """`message` with the step's idempotency key; a booking is noted before it is sent,
        so that a crash or a lost reply still leaves a record of what to undo."""
        state = self.state(session.task.id)
        key = idempotency_key(session.task.id, step.id, state.rounds.get(step.id, 0))
        card = self.orchestrator.network.card(agent)
        skill = card.skill(step.capability)
        compensation = skill.compensation if skill is not None else None
        if compensation and not any(a.key == key and a.agent == agent for a in state.attempts):
            state.attempts.append(Attempt(step.id, agent, step.capability, key, compensation))
            self._save(session)
        return with_key(message, key)

    # --- choosing again, undoing ----------------------------------------------------------

    def rechoose(self, session: Session, failed: Iterable[StepRun]) -> bool:
        """Prepare a failed batch to be run again when every failure is an agent that is
        gone (its own step or the upstream step whose offer it made): that agent is
        excluded, those steps and what depends on them are run again under new keys.
        False when a failure is of another kind, or choices have run out."""
        assert session.plan is not None
        state = self.state(session.task.id)
        if state.rechosen >= self.max_rechoices:
            return False
        network = self.orchestrator.network
        unreachable = self.unreachable.pop(session.task.id, set())
        again: set[str] = set()
        for run in failed:
            candidates = {run.step.id: run.agent}
            for need in run.step.depends_on:
                upstream = session.runs.get(need)
                if upstream is not None:
                    candidates[need] = upstream.agent
            gone = {
                step_id: agent
                for step_id, agent in candidates.items()
                if agent is not None
                and (agent in unreachable or not self.liveness.is_live(agent, network))
            }
            if not gone:
                return False
            for step_id, agent in gone.items():
                state.excluded.setdefault(step_id, []).append(agent)
                again.add(step_id)
            again.add(run.step.id)
        for step_id in downstream(session.plan, again):
            session.runs.pop(step_id, None)
            state.rounds[step_id] = state.rounds.get(step_id, 0) + 1
        state.rechosen += 1
        self.orchestrator._emit(
            "routed",
            session.task.id,
            rerun=sorted(again),
            withdrawn=sorted({a for agents in state.excluded.values() for a in agents}),
        )
        self._save(session)
        return True

    async def unwind(self, session: Session, reason: str) -> None:
        """The task cannot complete: ask the user about bookings worth keeping alone, else
        undo every booking it made, then fail it saying what was undone."""
        state = self.state(session.task.id)
        state.failure = reason
        keepable = [a for a in self._standing(session) if self._keep_alone(a)]
        if keepable:
            state.keep_question = [a.key for a in keepable]
            what = ", ".join(f"{a.skill} with {a.agent} ({a.booking_id})" for a in keepable)
            question = (
                f"The task could not be completed ({reason}). Keep {what} anyway? "
                "Answer yes to keep it, no to cancel it."
            )
            session.task = session.task.moved_to(
                TaskState.INPUT_REQUIRED, Message.of_text(question)
            )
            self.orchestrator._emit("question", session.task.id, question=question)
            return
        await self._finish_failed(session, keep=())

    async def answered(self, session: Session, text: str) -> bool:
        """The user's answer, if it is to a keep-or-cancel question (True: handled)."""
        state = self.state(session.task.id)
        if not state.keep_question:
            return False
        keep = state.keep_question if text.strip().casefold().rstrip(".!") in KEEP_WORDS else []
        state.keep_question = []
        session.said.append(text)
        session.task = session.task.moved_to(TaskState.WORKING, Message.of_text(text, role="user"))
        await self._finish_failed(session, keep=keep)
        return True

    async def release_abandoned(self, session: Session) -> None:
        """The task completed: undo bookings attempted on the way that did not stand (at
        a vendor that went away and may have booked before it did)."""
        self.unreachable.pop(session.task.id, None)
        standing = {(run.agent, run.step.id) for run in session.runs.values() if run.error is None}
        state = self.state(session.task.id)
        for attempt in state.attempts:
            if attempt.status != "attempted":
                continue
            run = session.runs.get(attempt.step_id)
            key_now = idempotency_key(
                session.task.id, attempt.step_id, state.rounds.get(attempt.step_id, 0)
            )
            if (attempt.agent, attempt.step_id) in standing and attempt.key == key_now:
                attempt.status = "stood"
                attempt.booking_id = str((run.output if run else {}).get("booking_id") or "")
            else:
                await self._compensate(session, attempt)
        self._save(session)

    async def _finish_failed(self, session: Session, keep: Iterable[str]) -> None:
        self.unreachable.pop(session.task.id, None)
        state = self.state(session.task.id)
        kept = set(keep)
        undone: list[str] = []
        pending: list[str] = []
        for attempt in state.attempts:
            if attempt.status not in {"attempted", "stood", "pending"}:
                continue
            if attempt.key in kept:
                attempt.status = "kept"
                self._record(session, attempt, "kept", "the user chose to keep it")
                continue
            await self._compensate(session, attempt)
            (undone if attempt.status == "compensated" else pending).append(
                f"{attempt.skill} at {attempt.agent}"
            )
        note = state.failure
        if undone:
            note += f"; undone: {', '.join(undone)}"
        if kept:
            note += f"; kept at your word: {len(kept)} booking(s)"
        if pending:
            note += f"; could not undo yet (will retry on restart): {', '.join(pending)}"
        await self.orchestrator._fail(session, note)

    def _standing(self, session: Session) -> list[Attempt]:
        state = self.state(session.task.id)
        found = []
        for attempt in state.attempts:
            run = session.runs.get(attempt.step_id)
            if run is not None and run.error is None and run.agent == attempt.agent:
                attempt.booking_id = str(run.output.get("booking_id") or "") or None
                found.append(attempt)
        return found

    def _keep_alone(self, attempt: Attempt) -> bool:
        try:
            skill = self.orchestrator.network.card(attempt.agent).skill(attempt.skill)
        except LamasError:
            return False
        return bool(skill is not None and skill.keep_alone)

    async def _compensate(self, session: Session, attempt: Attempt) -> None:
        """Ask the booking's vendor to undo what it did under the booking's key (whatever
        it was, even if its reply never reached us); retried for a while if it is away."""
        assert attempt.compensation is not None
        if attempt.key in self._compensating:
            return  # already being undone (a restart's resume and the pending retries)
        self._compensating.add(attempt.key)
        try:
            await self._undo(session, attempt)
        finally:
            self._compensating.discard(attempt.key)

    async def _undo(self, session: Session, attempt: Attempt) -> None:
        assert attempt.compensation is not None
        orchestrator = self.orchestrator
        envelope = Envelope(
            sender=orchestrator.agent_id,
            recipient=attempt.agent,
            skill=attempt.compensation,
            task_id=session.task.id,
            context_id=session.task.context_id,
            message=Message(
                parts=Message.of_data(
                    {IDEMPOTENCY_KEY: attempt.key, "booking_id": attempt.booking_id or ""}
                ).parts,
                metadata={IDEMPOTENCY_KEY: f"{attempt.key}:undo"},
            ),
        )
        policy = self.retry.with_skill(attempt.compensation, self.compensation_retry)
        try:
            reply = await policy.call(
                attempt.compensation,
                lambda left: orchestrator.gate.request(
                    envelope.model_copy(update={"id": new_id()}), timeout=left
                ),
                deadline=time.monotonic() + orchestrator.step_timeout,
                # A vendor the registry dropped while it was down is waited for too.
                retry_on=lambda error: is_transient(error) or isinstance(error, UnknownAgent),
            )
        except Exception as error:
            again = attempt.status == "pending"  # a retry: its ledger entry is there
            attempt.status = "pending"
            attempt.note = f"{type(error).__name__}: {error}"[:500]
            if not again:
                self._record(session, attempt, "pending", attempt.note)
            self._save(session)
            return
        data = reply.data
        attempt.booking_id = str(data.get("booking_id") or attempt.booking_id or "") or None
        attempt.status = "compensated"
        outcome = "compensated" if data.get("status") == "cancelled" else "nothing"
        self._record(session, attempt, outcome, str(data.get("note", ""))[:500])
        self._save(session)

    async def keep_undoing(self, every: float = PENDING_RETRY) -> None:
        """Retry compensations left pending every `every` seconds while the orchestrator
        runs (a served one: `interop.launch`), not only when it restarts: a vendor that
        was away when its booking was to be undone is usually back within a minute, and
        its booking must not stand until the next restart."""
        while True:
            await asyncio.sleep(every)
            try:
                await self.retry_pending()
            except Exception:  # one bad retry must not end the loop for every other
                log.exception("retrying pending compensations failed")

    async def retry_pending(self) -> int:
        """Try again, once each, the pending compensations of ended tasks whose vendor is
        in the network; how many were tried."""
        network = self.orchestrator.network
        work = []
        for task_id, state in list(self.tasks.items()):
            session = self.orchestrator.sessions.get(task_id)
            if session is None or not session.task.state.terminal:
                continue  # a task still running or asking undoes its own bookings
            for attempt in state.attempts:
                if attempt.status == "pending" and attempt.agent in network.transport:
                    work.append(self._compensate(session, attempt))
        await asyncio.gather(*work)
        return len(work)

    def _record(self, session: Session, attempt: Attempt, outcome: str, detail: str) -> None:
        self.orchestrator._emit(
            "compensated",
            session.task.id,
            step=attempt.step_id,
            agent=attempt.agent,
            skill=attempt.compensation or "",
            key=attempt.key,
            booking_id=attempt.booking_id,
            outcome=outcome,
            detail=detail,
        )

    # --- durable state --------------------------------------------------------------------

    def event(self, event: Event) -> None:
        """Write the task's state at each step boundary."""
        if event.kind in _BUDGET_ENDS:
            self._began.pop(event.task_id, None)
        if event.kind not in _PERSISTED:
            return
        session = self.orchestrator.sessions.get(event.task_id)
        if session is not None:
            self._save(session)

    def _save(self, session: Session) -> None:
        if self.store is None:
            return
        try:
            self.store.save(self.orchestrator.agent_id, session, self.state(session.task.id))
        except Exception:  # losing a snapshot must not fail the task itself
            log.exception("could not save task %s", session.task.id)

    async def resume(self) -> list[Session]:
        """Pick up the tasks a previous run of this orchestrator left unfinished: waiting
        ones wait again for their answer; working ones continue from their last step
        (a booking in flight is asked again under its key); one stopped while undoing its
        bookings finishes undoing them."""
        if self.store is None:
            return []
        orchestrator = self.orchestrator
        resumed: list[Session] = []
        work: list[Any] = []
        for session, state in self.store.unfinished(orchestrator.agent_id):
            task = session.task
            self.tasks[task.id] = state
            orchestrator.sessions[task.id] = session
            orchestrator._by_context[task.context_id] = task.id
            resumed.append(session)
            if task.state is TaskState.INPUT_REQUIRED:
                continue
            log.info("resuming task %s (%s)", task.id, task.state.value)
            if state.failure:
                work.append(orchestrator._timed(session, self._finish_failed(session, ())))
            elif session.plan is None:
                session.task = task.model_copy(update={"state": TaskState.SUBMITTED})
                work.append(
                    orchestrator._timed(session, orchestrator._start(session, session.said[0]))
                )
            elif task.state is TaskState.SUBMITTED:
                work.append(orchestrator._timed(session, orchestrator._ask_or_run(session)))
            else:
                work.append(orchestrator._timed(session, orchestrator._execute(session)))
        # Failed tasks whose bookings could not all be undone: try those again.
        for session, state in self.store.pending(orchestrator.agent_id):
            self.tasks[session.task.id] = state
            orchestrator.sessions.setdefault(session.task.id, session)
            work.extend(
                self._compensate(session, attempt)
                for attempt in state.attempts
                if attempt.status == "pending"
            )
        await asyncio.gather(*work)
        return resumed
