"""The orchestrator: a user's instruction in, a team of agents' work out.

It routes each clause of the instruction to a capability (embedding
similarity), builds the plan from the cards (which skill requires which),
fills each step's inputs with schema-constrained decoding, asks back when
something is missing (the task waits in `input-required`), then runs the
plan's DAG: independent steps in parallel, dependent ones in order, each
step's output passed to the steps that depend on it as data. Where several
agents compete for a step, their offers are settled by consensus.

The orchestrator only handles what the user typed and what agents return: a
step whose skill needs private fields (`Skill.vault_fields`) is sent with sealed
refs that the vault's holder granted for it, and the specialised agent redeems
them with the vault itself (the decentralized star of the paper's §4.2).
"""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import time
from collections.abc import Callable, Iterable, Mapping
from typing import Any

from lamas.agent.agent import Agent, called_by
from lamas.agent.embeddings import Embedder
from lamas.errors import InvalidPlan, LamasError
from lamas.llm.base import ChatModel, Usage
from lamas.privacy.service import GRANT_SKILL, request_grant
from lamas.protocol.cards import AgentCard, Skill
from lamas.protocol.consensus import (
    VOTE_SKILL,
    InvalidVote,
    Option,
    Rule,
    options_from_reply,
)
from lamas.protocol.instruction import (
    plan_with_clauses,
    question_for,
    routable_skills,
)
from lamas.protocol.messages import DataPart, Envelope, Message, SealedRef, TextPart
from lamas.protocol.plan import Step
from lamas.protocol.tasks import Artifact, Task, TaskState
from lamas.protocol.types import Context, Middleware
from lamas.protocol.vocabulary import suggestions_of
from lamas.runtime.consensus import reach_consensus
from lamas.runtime.gate import Gate
from lamas.runtime.network import Network
from lamas.runtime.recovery import Recovery
from lamas.runtime.router import AgentSelector, CapabilityRouter
from lamas.runtime.session import (
    OFFERS,
    Event,
    EventKind,
    Session,
    StepRun,
    chosen_output,
    downstream,
    step_inputs,
)
from lamas.runtime.slots import PROFILE_NOTE, SYSTEM, FewShot, Filled, Notes, SlotFiller
from lamas.runtime.today import TODAY_KEY
from lamas.runtime.understanding import Understander
from lamas.runtime.understanding.corrections import corrected
from lamas.runtime.understanding.french import gloss
from lamas.runtime.understanding.gazetteer import slot_vocabularies
from lamas.runtime.understanding.inputs import (
    Prepared,
    answered_directly,
    as_asked,
    checkout_nights,
    past_date,
    place_near_city,
    prefill,
    served_words,
    settle,
    trip_places,
    vocabulary_names,
)
from lamas.runtime.understanding.outcome import answer_text, found_something, rank_offers
from lamas.runtime.understanding.shorthand import expand
from lamas.store.errors import public_text

OFFERS_PER_PROVIDER = 3
PROFILE_SKILL = "profile.get"
LOG_SKILL = "log.record"


class Orchestrator:
    """Plans and runs instructions over a `Network`. One orchestrator serves many tasks."""

    def __init__(
        self,
        network: Network,
        model: ChatModel,
        embedder: Embedder,
        *,
        agent_id: str = "orchestrator",
        today: dt.date | None = None,
        rule: Rule = "majority",
        criticality: Mapping[str, float] | None = None,
        max_rounds: int = 3,
        step_timeout: float = 60.0,
        on_event: Callable[[Event], None] | None = None,
        profile_fields: Iterable[str] = (),
        selector: AgentSelector | None = None,
        few_shot: FewShot | None = None,
        middleware: Iterable[Middleware] = (),
        slot_prompt: str | None = None,
        notes: Notes | None = None,
        recovery: Recovery | None = None,
    ) -> None:
        self.network = network
        # Retries, live-only choices, idempotency, compensation, durable state, admission
        # (runtime/recovery/): its hooks below are marked `recovery:`.
        self.recovery = recovery or Recovery()
        # Everything the orchestrator sends goes through this gate, wrapped in `middleware`
        # (a privacy guard, say), which also sees every reply that comes back; innermost,
        # the recovery layer's retries.
        self.gate = Gate(agent_id, network.transport, [*middleware, self.recovery.middleware()])
        self.model = model
        self.agent_id = agent_id
        self.skills: dict[str, Skill] = routable_skills(network.cards, exclude=[agent_id])
        self.router = CapabilityRouter(self.skills, embedder)
        self.understander = Understander(
            self.skills,
            embedder,
            served=served_words(network),
            places=trip_places(network),
            names=vocabulary_names(network),
        )
        self.today = today or dt.date.today()
        # The names each skill's providers publish, per input: found in the user's words
        # without a model (runtime/understanding/gazetteer.py).
        self.vocabularies = {
            name: slot_vocabularies(skill, network.find(name))
            for name, skill in self.skills.items()
        }
        self.filler = SlotFiller(
            model, today=today, few_shot=few_shot, system=slot_prompt or SYSTEM, notes=notes
        )
        # Learning from experience: with a selector, a step several agents offer goes to
        # the one it picks (a bandit over their records) instead of to a vote.
        self.selector = selector
        self.rule = rule
        self.criticality = dict(criticality or {})
        self.max_rounds = max_rounds
        self.step_timeout = step_timeout
        # Who hears what happens (a narrator, the ledger recorder, ...), in order.
        self.listeners: list[Callable[[Event], None]] = [on_event] if on_event else []
        # Centralized architectures only: the orchestrator itself reads these fields of
        # the user's profile to fill inputs. A decentralized orchestrator leaves this empty
        # and never sees them.
        self.profile_fields = tuple(profile_fields)
        self.sessions: dict[str, Session] = {}
        self._by_context: dict[str, str] = {}
        self.recovery.attach(self)

    # --- the two entry points ---------------------------------------------------------

    async def submit(self, instruction: str, *, context_id: str | None = None) -> Session:
        """Start a task for `instruction`. With the `context_id` of an earlier task, the
        instruction is a follow-up: it changes that task's inputs and re-runs what changed."""
        self.recovery.check_admission()  # recovery: `Busy` at the edge, nothing started
        previous = self.sessions.get(self._by_context.get(context_id or "", ""))
        if previous is not None and previous.task.state is TaskState.INPUT_REQUIRED:
            return await self.answer(previous.task.id, instruction)
        if previous is not None and previous.plan is not None:
            return await self._follow_up(previous, instruction)
        task = Task(context_id=context_id) if context_id else Task()
        task = task.model_copy(update={"history": (Message.of_text(instruction, role="user"),)})
        session = Session(task=task, said=[instruction])
        self.sessions[task.id] = session
        self._by_context[task.context_id] = task.id
        return await self._timed(session, self._start(session, instruction))

    async def answer(self, task_id: str, text: str) -> Session:
        """The user's answer to a task waiting in `input-required`."""
        session = self.sessions.get(task_id)
        if session is None:
            raise InvalidPlan(f"no task {task_id!r}")
        if session.task.state is not TaskState.INPUT_REQUIRED:
            raise InvalidPlan(
                f"task {task_id} is {session.task.state.value}, not waiting for an answer"
            )
        if await self.recovery.answered(session, text):  # recovery: keep or undo a booking
            return session
        session.said.append(text)
        reply = Message.of_text(text, role="user")
        session.task = session.task.moved_to(TaskState.WORKING, reply)
        return await self._timed(session, self._resume(session, gloss(expand(text))))

    # --- planning -----------------------------------------------------------------------

    async def _start(self, session: Session, instruction: str) -> None:
        task_id = session.task.id
        session.task = session.task.moved_to(TaskState.WORKING)
        # "on Monday, sorry I mean Tuesday": Tuesday; "un hôtel à Nice": a hotel in Nice.
        instruction = gloss(expand(corrected(instruction)))
        routed = self.understander.route(instruction, self.router)
        understood = self.understander.understand(routed, self.router.scores, self.router.threshold)
        session.routed = understood.routed
        session.not_offered = understood.not_offered
        self._emit(
            "routed",
            task_id,
            clauses=[(r.text, r.capability, round(r.score, 3)) for r in routed],
            not_offered=understood.not_offered,
            context=understood.context,
        )
        if not understood.routed:
            await self._nothing_to_do(session, instruction)
            return
        try:
            session.plan, made = plan_with_clauses(
                instruction, understood.routed, self.skills, optional=understood.conditional
            )
        except InvalidPlan as error:
            await self._fail(session, f"{error}; this network can: {', '.join(self.skills)}")
            return
        plan = session.plan

        def first_of(step_id: str) -> str:
            """The step a chain starts from (the search a booking requires): its inputs
            come from the user's words."""
            step = plan.step(step_id)
            return first_of(step.depends_on[0]) if step.depends_on else step_id

        session.reverse_of = {
            first_of(back_step): first_of(there_step)
            for back, there in understood.returns.items()
            if (back_step := made[back]) and (there_step := made[there])
        }
        self._emit("plan", task_id, plan=session.plan)
        context = [*(f"Earlier the user said: {t}" for t in session.said[:-1])]
        context += [f"The user also said: {t}" for t in understood.context]
        try:
            context += await self._profile(session)
        except LamasError as error:  # e.g. the privacy guard refused a profile's values
            await self._fail(session, f"cannot read the user's profile: {error}")
            return
        carried = None
        destination: str | None = None
        for step in session.plan.steps:
            skill = self.skills[step.capability]
            session.preferences[step.id] = self.understander.preferences(step.instruction)
            if skill.requires:
                continue  # its inputs come from the steps it requires
            prepared = prefill(
                skill,
                step.instruction,
                today=self.today,
                background=[*understood.context, instruction],
                carried=carried,
                preferences=session.preferences[step.id],
                vocabularies=self.vocabularies.get(step.capability),
                context=understood.context,
                destination=destination,
                way_there=plan.step(there).instruction
                if (there := session.reverse_of.get(step.id))
                else None,
            )
            if prepared.when.date is not None:
                carried = prepared.when

            session.prepared[step.id] = prepared
            self._emit("filling", task_id, step=step.id, model=self.model.name)
            filled = await self.filler.fill(
                skill, step.instruction, known=prepared.known, context=context
            )
            self._settle(session, step, filled, prepared)
            if step.id not in session.reverse_of:  # a stay is where the way out goes
                destination = session.slots[step.id].get("destination") or destination
        await self._ask_or_run(session)

    def _settle(self, session: Session, step: Step, filled: Filled, prepared: Prepared) -> None:
        """The step's inputs: resolved values over the model's, names onto the vendors'
        vocabularies, the way back reversed; what is still missing is asked."""
        skill = self.skills[step.capability]
        forward = session.reverse_of.get(step.id)
        settled = settle(
            skill,
            filled.values,
            prepared,
            providers=self.network.find(step.capability),
            reverse_of=session.slots.get(forward) if forward else None,
        )
        values = settled.values
        for name in [*prepared.needed, *prepared.choices]:
            values.pop(name, None)  # a model's guess at who "their newest" is, or which day
        properties = skill.input_schema.get("properties", {})
        dates = [n for n, p in properties.items() if p.get("format") == "date"]
        past = prepared.past or past_date(values, dates, self.today)
        if past:
            # A date already past is asked about, never booked: not the resolver's (it
            # says so), nor a model's ("on 2 August", read as this year's, gone by).
            for name in dates:
                values.pop(name, None)
        session.slots[step.id] = values
        missing = [
            *filled.missing,
            *settled.unknown,
            *settled.choices,
            *prepared.needed,
            *prepared.choices,
        ]
        if past:
            session.past[step.id] = past
            missing += dates
        choices = {**filled.ambiguous, **settled.choices, **prepared.choices}
        self._note_missing(
            session,
            step.id,
            Filled(values, list(dict.fromkeys(missing)), filled.dropped, choices),
            values,
        )

    async def _resume(self, session: Session, text: str) -> None:
        assert session.plan is not None
        for step_id in list(session.waiting_on):
            step = session.plan.step(step_id)
            skill = self.skills[step.capability]
            # The answer is read as the clause was: its dates resolved, its names placed
            # (among the names offered, when the question offered some: "Marley").
            vocabularies = dict(self.vocabularies.get(step.capability) or {})
            for (asked_step, slot), offered in session.choices.items():
                if asked_step == step_id and slot in vocabularies:
                    vocabularies[slot] = vocabularies[slot].restricted(offered)
            prepared = prefill(
                skill,
                text,
                today=self.today,
                vocabularies=vocabularies,
                preferences=session.preferences.get(step_id) or self.understander.preferences(text),
            )
            session.past.pop(step_id, None)
            asked = session.waiting_on.get(step_id, [])
            prepared.known = as_asked(prepared.known, asked)
            known_before = {**session.slots.get(step_id, {}), **prepared.known}
            prepared.known.update(answered_directly(skill, asked, text, known_before))
            stay = checkout_nights(skill, prepared, session.slots.get(step_id, {}), asked)
            if stay is not None:
                prepared.known = stay  # "how many nights?" - "checking out Sunday"
            earlier = session.prepared.get(step_id)
            if earlier is not None:
                # What the request itself said ("at 8", "after lunch") still holds: the
                # answer adds to it ("the 30th then"), it does not undo it.
                prepared.known = {**earlier.known, **prepared.known}
            session.prepared[step_id] = prepared
            known = {**session.slots.get(step_id, {}), **prepared.known}
            # "a hotel near the station" + "Toulouse": the station is the one in Toulouse.
            for said in (text, step.instruction):
                known.update(place_near_city(skill, said, vocabularies, known))
            filled = await self.filler.fill(
                skill, text, known=known, context=[step.instruction, *session.said[:-1]]
            )
            self._settle(session, step, filled, prepared)
        await self._ask_or_run(session)

    @staticmethod
    def _note_missing(
        session: Session, step_id: str, filled: Filled, values: dict[str, Any]
    ) -> None:
        """Record what a step still lacks (given `values`, which may have gained inputs
        since `filled` was made) and the choices the user left open."""
        missing = [
            name
            for name in filled.missing
            if name in filled.ambiguous or values.get(name) in (None, "")
        ]
        session.choices.update({(step_id, k): v for k, v in filled.ambiguous.items()})
        if missing:
            session.waiting_on[step_id] = missing
        else:
            session.waiting_on.pop(step_id, None)

    async def _follow_up(self, session: Session, instruction: str) -> Session:
        """Apply a follow-up to an ended or waiting task: re-fill the inputs it changes."""
        assert session.plan is not None
        session.said.append(instruction)
        session.follow_ups.append(instruction)
        if session.task.state.terminal:
            # A finished task is reopened as a new round of the same context.
            session.task = Task(
                context_id=session.task.context_id,
                history=(*session.task.history, Message.of_text(instruction, role="user")),
            ).moved_to(TaskState.WORKING)
            self.sessions[session.task.id] = session
            self._by_context[session.task.context_id] = session.task.id
        plan = session.plan

        async def refill() -> None:
            changed: set[str] = set()
            for step in plan.steps:
                if self.skills[step.capability].requires:
                    continue
                before = session.slots.get(step.id, {})
                filled = await self.filler.fill(
                    self.skills[step.capability],
                    instruction,
                    known=before,
                    context=[step.instruction],
                )
                if filled.values != before:
                    session.slots[step.id] = filled.values
                    changed.add(step.id)
            stale = downstream(plan, changed)
            for step_id in stale:
                session.runs.pop(step_id, None)
            self._emit("routed", session.task.id, changed=sorted(changed), rerun=sorted(stale))
            await self._ask_or_run(session)

        return await self._timed(session, refill())

    async def _ask_or_run(self, session: Session) -> None:
        assert session.plan is not None
        if session.waiting_on:
            questions = [
                *(f"{said!r} has already passed." for said in dict.fromkeys(session.past.values())),
                *(
                    question_for(
                        self.skills[session.plan.step(s).capability],
                        missing,
                        {name: session.choices.get((s, name), []) for name in missing},
                    )
                    for s, missing in session.waiting_on.items()
                ),
            ]
            question = " ".join(dict.fromkeys(questions))
            session.task = session.task.moved_to(
                TaskState.INPUT_REQUIRED, Message.of_text(question)
            )
            self._emit("question", session.task.id, question=question)
            return
        await self._execute(session)

    # --- execution ------------------------------------------------------------------------

    async def _execute(self, session: Session) -> None:
        """Run the plan's DAG. A failed step stops only the steps that depend on it: the
        independent branches go on, and the answer says what was done, what failed and
        why, and what was not offered."""
        assert session.plan is not None
        plan = session.plan
        done = {step_id for step_id, run in session.runs.items() if run.error is None}
        stopped: set[str] = set()  # failed, or skipped because something they need failed
        while len(done) + len(stopped) < len(plan.steps):
            ready = [s for s in plan.ready(done | stopped) if s.id not in done | stopped]
            blocked = [s for s in ready if stopped.intersection(s.depends_on)]
            for step in blocked:
                stopped.add(step.id)
                session.skipped[step.id] = (
                    "not run: "
                    + ", ".join(sorted(stopped.intersection(step.depends_on)))
                    + " did not succeed"
                )
            runnable = [s for s in ready if s not in blocked]
            unmet = [s for s in runnable if not self._condition_holds(session, s)]
            for step in unmet:
                stopped.add(step.id)
                session.skipped[step.id] = "not booked: the search found nothing" + (
                    " (it was asked only if there was one)" if step.optional else ""
                )
            runnable = [s for s in runnable if s not in unmet]
            if not runnable:
                continue
            runs = await asyncio.gather(*(self._run_step(session, step) for step in runnable))
            for run in runs:
                session.runs[run.step.id] = run
                self._emit("step", session.task.id, run=run)
                (stopped if run.error is not None else done).add(run.step.id)
            if any(r.error is not None and r.step.id in session.waiting_on for r in runs):
                await self._ask_or_run(session)  # a vendor's suggestions: the user chooses
                return
            failed_now = [run for run in runs if run.error is not None]
            if failed_now and self.recovery.rechoose(session, failed_now):
                # recovery: an agent is gone; its steps run again with the next live one
                done = {s for s, r in session.runs.items() if r.error is None}
                stopped = {s for s in stopped if s in session.runs}
                continue
        task = session.task
        for step in plan.steps:
            ran = session.runs.get(step.id)
            if ran is not None and ran.error is None:
                task = task.with_artifact(
                    Artifact(name=step.id, parts=Message.of_data(ran.output).parts)
                )
        summary = answer_text(plan, session.runs, session.skipped, session.not_offered)
        # Completed only when every step the user asked for stood (a conditional booking
        # whose search found nothing stands: it was asked only if). Otherwise the task
        # failed, and its answer and artifacts still carry what was done.
        failed = [s for s in plan.steps if s.id in stopped and not s.optional]
        if failed:
            session.task = task
            # recovery: bookings worth keeping alone are asked about, the rest undone
            await self.recovery.unwind(session, summary)
            return
        await self.recovery.release_abandoned(session)  # recovery: undo what did not stand
        session.task = task.moved_to(TaskState.COMPLETED, Message.of_text(summary))
        self._emit("done", task.id, summary=summary)
        await self._log(session, "task.completed", {"summary": summary})

    @staticmethod
    def _condition_holds(session: Session, step: Step) -> bool:
        """A step's condition (a conditional booking's, and any step's that builds on a
        search): what it requires found something."""
        return all(
            found_something(session.runs[need].output)
            for need in step.depends_on
            if need in session.runs
        )

    async def _nothing_to_do(self, session: Session, instruction: str) -> None:
        """No clause of the request is served here: say so, with what the network does."""
        offered = ", ".join(self.skills)
        asked = "; ".join(session.not_offered) or instruction
        reason = f"not offered by this network: {asked}. This network can: {offered}."
        session.task = session.task.moved_to(TaskState.FAILED, Message.of_text(reason))
        self._emit("failed", session.task.id, reason=reason)
        await self._log(session, "task.failed", {"reason": reason})

    async def _run_step(self, session: Session, step: Step) -> StepRun:
        assert session.plan is not None
        run = StepRun(step=step)
        started = time.perf_counter()
        skill = self.skills[step.capability]
        upstream = [session.runs[need] for need in step.depends_on]
        inputs = step_inputs(
            session.slots.get(step.id, {}),
            skill.input_schema.get("properties", {}),
            (previous.output for previous in upstream),
        )
        affinity = next((previous.agent for previous in upstream if previous.agent), None)
        run.inputs = inputs
        providers = await self.recovery.providers(session, step)  # recovery: wait
        try:
            # recovery: only live agents, and none excluded for this step
            providers = self.recovery.live_providers(session, step, providers, affinity)
            if affinity in providers:
                providers = [affinity]  # book with the vendor whose offer was chosen
            elif self.selector is not None and len(providers) > 1:
                later = [s.capability for s in session.plan.steps if step.id in s.depends_on]
                chosen = self.selector.choose(step.capability, providers, later=later)
                # A selector may abstain (None: an insight selector with no lesson for
                # this step and nothing behind it): the providers' offers are then voted on.
                if chosen is not None:
                    providers = [chosen]
                    run.selected_by = getattr(self.selector, "selected_by", None) or "bandit"
            if len(providers) > 1:
                await self._by_consensus(session, step, providers, inputs, run)
            else:
                run.agent = providers[0] if providers else None
                reply = await self._ask_retrying(session, step, run.agent, inputs, run)
                ranked = rank_offers(reply.data, session.preferences.get(step.id))
                run.output = chosen_output(ranked)
                run.called = called_by(reply)
        except LamasError as error:
            run.error = str(error)
        except Exception as error:  # an agent's own failure is reported, never a crash
            run.error = public_text(error, f"{run.agent or 'the agent'}'s database")
        run.seconds = time.perf_counter() - started
        await self._log(
            session,
            "step.done" if run.error is None else "step.failed",
            {"step": step.id, "agent": run.agent, "error": run.error},
        )
        return run

    async def _by_consensus(
        self,
        session: Session,
        step: Step,
        providers: list[str],
        inputs: dict[str, Any],
        run: StepRun,
    ) -> None:
        """Ask every provider, then let the voters settle on one offer."""
        replies = await asyncio.gather(
            *(self._ask_retrying(session, step, agent, dict(inputs), run) for agent in providers),
            return_exceptions=True,
        )
        preferences = session.preferences.get(step.id)
        options: list[Option] = []
        whole: set[str] = set()  # providers whose whole reply is their one option
        reasons: list[str] = []
        answered = 0
        called: dict[str, frozenset[str]] = {}
        for agent, reply in zip(providers, replies, strict=True):
            if isinstance(reply, BaseException):
                reasons.append(f"{agent}: {reply}")  # a failing provider offers nothing
                continue
            answered += 1
            called[agent] = called_by(reply)
            if OFFERS not in reply.data:
                whole.add(agent)
            try:
                # Each provider's best offers (by the user's preferences) compete; the vote
                # can pick any of them.
                ranked = rank_offers(reply.data, preferences)
                options.extend(options_from_reply(agent, ranked)[:OFFERS_PER_PROVIDER])
            except InvalidVote:
                continue
        options = self.recovery.live_options(options)  # recovery: withdraw the gone
        if not options and answered and not reasons:
            run.output = {}  # every provider answered, none had an offer: nothing found
            return
        if not options:
            raise InvalidPlan(
                f"none of {', '.join(providers)} could serve {step.capability}: "
                + "; ".join(reasons)
            )
        voters = [card.id for card in self.network.find(VOTE_SKILL)]
        voters = self.recovery.live(voters)  # recovery: a voter that is gone is not asked
        decisive = preferences.best(o.data for o in options) if preferences else None
        if decisive is not None:
            # The user's own word ("the first train", "the cheapest") decides, not a vote.
            winner = next(o for o in options if o.data is decisive)
        elif len(options) == 1 or not voters:
            winner = options[0]
        else:
            decision = await reach_consensus(
                self.network,
                options=options,
                voters=voters,
                # Voters judge by everything the user asked for this step, follow-ups too.
                question=" ".join([step.instruction, *session.follow_ups]),
                transport=self.gate,
                rule=self.rule,
                criticality=self.criticality.get(step.capability, 0.5),
                sender=self.agent_id,
                max_rounds=self.max_rounds,
                task_id=session.task.id,
            )
            # recovery: offers of agents gone during the vote are withdrawn (they neither
            # win nor earn credit); the winner is then the best live offer
            decision = self.recovery.live_decision(options, decision)
            run.decision = decision
            self._emit("consensus", session.task.id, step=step.id, decision=decision)
            winner = next((o for o in options if o.key == decision.winner), options[0])
        run.agent = winner.proposer
        run.called = called.get(winner.proposer, frozenset())
        # A reply without "offers" (replicas of a song catalogue, say) is one option; its
        # output is read as a lone provider's would be (its best-ranked choice).
        run.output = (
            chosen_output(dict(winner.data)) if winner.proposer in whole else dict(winner.data)
        )

    async def _ask_retrying(
        self, session: Session, step: Step, agent: str | None, inputs: dict[str, Any], run: StepRun
    ) -> Message:
        """`_ask`; a vendor that answers "did you mean X?" is asked again with its one good
        suggestion, or the user is asked to choose among several (the task waits)."""
        try:
            return await self._ask(session, step, agent, inputs)
        except LamasError as error:
            offered = suggestions_of(error)
            slot = next(
                (n for n, v in inputs.items() if isinstance(v, str) and repr(v) in str(error)),
                None,
            )
            if not offered or slot is None:
                raise
            if len(offered) == 1:
                inputs[slot] = offered[0]
                session.slots.setdefault(step.id, {})[slot] = offered[0]
                run.inputs = inputs
                return await self._ask(session, step, agent, inputs)
            session.choices[(step.id, slot)] = list(offered)
            session.waiting_on[step.id] = [slot]
            session.slots.get(step.id, {}).pop(slot, None)
            raise

    async def _ask(
        self, session: Session, step: Step, agent: str | None, inputs: dict[str, Any]
    ) -> Message:
        if agent is None:
            raise InvalidPlan(f"no agent offers {step.capability}")
        refs = await self._grant(session, step, agent)
        envelope = Envelope(
            sender=self.agent_id,
            recipient=agent,
            skill=step.capability,
            task_id=session.task.id,
            context_id=session.task.context_id,
            # recovery: the step's idempotency key (a booking is noted before it is sent)
            message=self.recovery.keyed(
                session,
                step,
                agent,
                Message(
                    parts=(*Message.of_data(inputs).parts, *refs),
                    # The vendor judges "in the past" against the task's today, not its clock.
                    metadata={TODAY_KEY: self.today.isoformat()},
                ),
            ),
        )
        return await self.gate.request(envelope, timeout=self.step_timeout)

    async def _grant(self, session: Session, step: Step, agent: str) -> tuple[SealedRef, ...]:
        """Sealed refs to the user's data the agent's skill needs, granted for this step
        by the vault's holder: the orchestrator passes them on and never sees a value."""
        skill = self.network.card(agent).skill(step.capability)
        needed = skill.vault_fields if skill is not None else ()
        if not needed:
            return ()
        holders = self.network.find(GRANT_SKILL)
        if not holders:
            raise InvalidPlan(
                f"{agent}'s {step.capability} needs the user's {', '.join(needed)}, but no "
                f"agent of this network holds a vault ({GRANT_SKILL})"
            )
        return await request_grant(
            self.gate.request,
            sender=self.agent_id,
            vault_agent=holders[0].id,
            grantee=agent,
            fields=needed,
            task_id=session.task.id,
            context_id=session.task.context_id,
            purpose=f"{step.id}: {step.instruction}"[:500],
        )

    async def _profile(self, session: Session) -> list[str]:
        """The user's profile as context for filling inputs (centralized mode only)."""
        providers = self.network.find(PROFILE_SKILL) if self.profile_fields else []
        if not providers:
            return []
        reply = await self.gate.request(
            Envelope(
                sender=self.agent_id,
                recipient=providers[0].id,
                skill=PROFILE_SKILL,
                task_id=session.task.id,
                message=Message.of_data({"fields": list(self.profile_fields)}),
            ),
            timeout=self.step_timeout,
        )
        return [f"{PROFILE_NOTE}{json.dumps(reply.data)}"]

    def join(self, card: AgentCard, *, middleware: Iterable[Middleware] = ()) -> Agent:
        """Add this orchestrator to its network as `card`'s agent, signed and defended as the
        network's own agents are (the network's defences first, then `middleware`)."""
        defences = self.network.defences
        if defences is not None:
            card = defences.signed_card(card)
        stack = [*(defences.middleware() if defences is not None else ()), *middleware]
        agent = self.agent(card, middleware=stack)
        self.network.add(agent)
        return agent

    def agent(self, card: AgentCard, *, middleware: Iterable[Middleware] = ()) -> Agent:
        """This orchestrator as an agent: an instruction in (text, or data `instruction`),
        the task's state and its answer or question out; a reply on a task waiting for
        input answers it."""

        async def handle(envelope: Envelope, context: Context) -> Message:
            text = str(envelope.message.data.get("instruction") or envelope.message.text)
            waiting = self.sessions.get(envelope.task_id or "")
            if waiting is not None and waiting.task.state is TaskState.INPUT_REQUIRED:
                session = await self.answer(waiting.task.id, text)
            else:
                session = await self.submit(text, context_id=envelope.context_id)
            status = session.task.status_message
            return Message(
                parts=(
                    TextPart(text=status.text if status else session.task.state.value),
                    DataPart(data={"task_id": session.task.id, "state": session.task.state.value}),
                )
            )

        return Agent(card, handle, middleware=middleware)

    # --- bookkeeping ----------------------------------------------------------------------

    async def _timed(self, session: Session, work: Any) -> Session:
        before = self.model.usage
        started = time.perf_counter()
        try:
            async with self.recovery.running():  # recovery: in its turn under load
                await work
        finally:
            session.seconds += time.perf_counter() - started
            used = self.model.usage
            session.usage = session.usage + Usage(
                used.prompt_tokens - before.prompt_tokens,
                used.completion_tokens - before.completion_tokens,
                used.seconds - before.seconds,
                used.calls - before.calls,
            )
        return session

    async def _fail(self, session: Session, reason: str) -> None:
        session.task = session.task.moved_to(TaskState.FAILED, Message.of_text(reason))
        self._emit("failed", session.task.id, reason=reason)
        await self._log(session, "task.failed", {"reason": reason})

    async def _log(self, session: Session, event: str, data: dict[str, Any]) -> None:
        """Post an event to the network's transaction logger, if it has one."""
        for card in self.network.find(LOG_SKILL):
            await self.gate.post(
                Envelope(
                    sender=self.agent_id,
                    recipient=card.id,
                    skill=LOG_SKILL,
                    mode="async",
                    task_id=session.task.id,
                    message=Message.of_data({"event": event, "data": data}),
                )
            )

    def _emit(self, kind: EventKind, task_id: str, **data: Any) -> None:
        event = Event(kind, task_id, data)
        for listen in self.listeners:
            listen(event)
