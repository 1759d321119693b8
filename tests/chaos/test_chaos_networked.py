"""Chaos on the networked travel set-up: every agent, the registry and the orchestrator
are processes of their own, killed with SIGKILL at chosen points of a task.

The orchestrator process (support/chaos_orchestrator.py) kills as it sends, following
the plan each test writes (a vendor before its search, during the vote, as it books;
itself mid-booking; the registry); killed vendors are started again after a moment, as
an operator's supervisor would. After each run the invariants are checked on what the
processes wrote: the orchestrator's durable task states, the vendors' booking records
(one SQLite file) and the ledger (support/invariants.py lists them).
"""

from __future__ import annotations

import asyncio
import json
import os
import random
import subprocess
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from support import invariants
from support.casestudy import TRAVEL
from support.cluster import NETWORK, SERVICES, Cluster, free_port, lamas_command

from lamas.interop.keys import make_keys
from lamas.runtime.netfile import load_spec
from lamas.runtime.recovery import IdempotentResults, TaskStore

HERE = Path(__file__).resolve().parent
HELPER = HERE.parent / "support" / "chaos_orchestrator.py"
RAIL = ["railgo", "swiftrail"]


class Chaos(Cluster):
    """The cluster, the orchestrator process, the stores they write, and a reviver."""

    def __init__(self, base: Path) -> None:
        spec = load_spec(NETWORK)
        make_keys(base / "keys", (a.card for a in spec.agents), callers=[spec.topology.entry])
        self.bookings = f"sqlite:///{base / 'bookings.db'}"
        self.tasks = f"sqlite:///{base / 'tasks.db'}"
        self.ledger = f"sqlite:///{base / 'ledger.db'}"
        (base / "home").mkdir()
        super().__init__(
            base / "keys",
            base / "logs",
            env={
                "LAMAS_TRAVEL_BOOKINGS": self.bookings,
                "LAMAS_HOME": str(base / "home"),
                "LAMAS_VAULT_DIR": str(base / "vault"),
                "LAMAS_VAULT_KEY_FILE": str(base / "vault" / "vault.key"),
                "CHAOS_PIDS": str(base / "logs" / "pids"),
            },
        )
        self.may_die = frozenset(["registry", "orchestrator", *SERVICES])
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}/"
        self.home = base / "home"

    def start_registry(self) -> None:
        # Health checks a second apart, three misses to drop: on a loaded machine a live
        # agent can be slow to answer one check (the orchestrator's liveness, not the
        # registry, is what withdraws a dead vendor's offers).
        port = self.registry_url.rsplit(":", 1)[1]
        self.start(
            "registry",
            lamas_command(
                "registry",
                "--keys",
                str(self.keys),
                "--port",
                port,
                "--interval",
                "1.0",
                "--misses",
                "3",
            ),
        )

    def start_orchestrator(self) -> None:
        import sys

        args = [str(self.keys), self.registry_url, str(self.port), self.tasks, self.ledger]
        (self.pids / "peers.json").unlink(missing_ok=True)  # a killed one's view is stale
        self.start("orchestrator", [sys.executable, str(HELPER), *args])

    def orchestrator_ready(self, timeout: float = 300) -> None:
        def serving() -> bool:
            return httpx.get(f"{self.url}.well-known/agent-card.json", timeout=2).is_success

        self.wait_until(serving, "the orchestrator serving", timeout)

    def in_step(self) -> bool:
        """Whether the orchestrator reaches every service at the address the registry
        lists for it (the orchestrator process shows its peers in `pids/peers.json`)."""
        shown = self.pids / "peers.json"
        if not shown.exists():
            return False
        peers = json.loads(shown.read_text())
        listed = httpx.get(f"{self.registry_url}/agents").json()["agents"]
        urls = {a["card"]["id"]: a["card"]["url"] for a in listed}
        return all(s in urls and peers.get(s) == urls[s] for s in SERVICES)

    def plan(self, rules: list[dict[str, Any]]) -> None:
        (self.pids / "plan.json").write_text(json.dumps(rules))
        (self.pids / "killed").write_text("")

    def killed(self) -> list[str]:
        source = self.pids / "killed"
        return source.read_text().split() if source.exists() else []

    def revive(self) -> None:
        """Start again every vendor or registry that died (not the orchestrator)."""
        for name in self.dead():
            if name == "orchestrator":
                self.processes_dead_orchestrator = True
                continue
            self.restart(name)

    processes_dead_orchestrator = False


@pytest.fixture(scope="module")
def chaos(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Chaos]:
    running = Chaos(tmp_path_factory.mktemp("chaos"))
    try:
        running.start_registry()
        for agent in SERVICES:
            running.start_agent(agent)
        running.ready()
        running.start_orchestrator()
        running.orchestrator_ready()
        yield running
    finally:
        running.stop()


@pytest.fixture
def reviver(chaos: Chaos) -> Iterator[None]:
    """Killed vendors come back after a second (a supervisor restarting them)."""
    stop = threading.Event()

    def watch() -> None:
        while not stop.wait(1.0):
            chaos.revive()

    thread = threading.Thread(target=watch, daemon=True)
    thread.start()
    try:
        yield
    finally:
        stop.set()
        thread.join()
        back_up(chaos)


@pytest.fixture
def stays_dead(chaos: Chaos) -> Iterator[None]:
    """Killed vendors stay dead until the test ends (no supervisor), then come back."""
    try:
        yield
    finally:
        back_up(chaos)


def back_up(chaos: Chaos) -> None:
    """Every killed vendor started again and seen by the orchestrator, for the next test."""
    chaos.plan([])
    chaos.revive()
    chaos.ready(timeout=120)
    settle(chaos)


def settle(chaos: Chaos) -> None:
    """Wait until the orchestrator reaches every service where the registry lists it (its
    registry sync has seen the revived ones). A revived vendor serves at a new address,
    so the orchestrator takes it as live at once (no grace to wait out)."""
    chaos.wait_until(chaos.in_step, "the orchestrator in step with the registry", 120)


def ask(chaos: Chaos, text: str = TRAVEL, timeout: float = 150) -> str:
    """Send `text` to the orchestrator as a plain A2A client; the A2A task's end state."""
    return a2a_state(send(chaos, text, timeout=timeout))


def send(
    chaos: Chaos, text: str, *, timeout: float = 150, on: Any = None, capability: str = ""
) -> Any:
    """The A2A task (or message) the orchestrator answers `text` with; `on`: the A2A task
    the text answers (its id and context are sent with it); `capability`: the task
    capability the caller holds (as `lamas ask` sends it: only its holder may continue)."""
    from a2a.helpers.proto_helpers import new_text_message
    from a2a.types import Role

    from lamas.interop.client import A2AConnector

    ids = {"task_id": on.id, "context_id": on.context_id} if on is not None else {}
    message = new_text_message(text, role=Role.ROLE_USER, **ids)

    async def sending() -> Any:
        connector = A2AConnector()
        try:
            headers = {"X-Lamas-Capability": capability} if capability else None
            return await connector.send(chaos.url, message, timeout=timeout, headers=headers)
        finally:
            await connector.close()

    return asyncio.run(sending())


def a2a_state(task: Any) -> str:
    """The A2A task's state; when it did not complete, with what its status said (why)."""
    from a2a.types import TaskState as A2AState

    status = getattr(task, "status", None)
    state = getattr(status, "state", None)
    if state is None:
        return "message"
    name = A2AState.Name(state)
    if state in (A2AState.TASK_STATE_COMPLETED, A2AState.TASK_STATE_INPUT_REQUIRED):
        return name
    said = " ".join(p.text for p in status.message.parts if p.HasField("text"))
    return f"{name}: {said}"


def new_task(chaos: Chaos, before: set[str], timeout: float = 120) -> tuple[str, str]:
    """The one task started since `before`, once it has ended (or waits for the user)."""
    store = TaskStore(chaos.tasks)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        states = store.states()
        fresh = {t: s for t, s in states.items() if t not in before}
        if len(fresh) == 1:
            ((task, state),) = fresh.items()
            if state in {"completed", "failed", "input-required"}:
                return task, state
        time.sleep(0.2)
    raise AssertionError(f"no task ended in {timeout} s: {store.states()}")


def check_invariants(chaos: Chaos) -> dict[str, str]:
    """Every invariant of the suite (support/invariants.py), over everything the processes
    wrote: the orchestrator's task store, the vendors' bookings, the ledger; the states."""
    from lamas.economy.ledger import platform_ledger

    store = TaskStore(chaos.tasks)
    states = store.states()
    attempts = {}
    for task in states:
        loaded = store.load(task)
        assert loaded is not None, task
        attempts[task] = loaded[1].attempts
    invariants.check_invariants(
        states,
        attempts,
        chaos.bookings,
        platform_ledger(chaos.ledger),
        {a.card.id: a.card.entity for a in load_spec(NETWORK).agents},
        to_retry={session.task.id for session, _ in store.pending("orchestrator")},
    )
    return states


def test_chaos_vendor_killed_during_consensus_leaves_the_task_to_the_live_offer(
    chaos: Chaos, reviver: None
) -> None:
    # The case: a vendor answers its search, then dies as the vote starts.
    before = set(TaskStore(chaos.tasks).states())
    chaos.plan([{"skill": "consensus.vote", "recipient": "swiftrail", "kill": "recipient"}])
    assert ask(chaos) == "TASK_STATE_COMPLETED"
    assert chaos.killed() == ["swiftrail"]
    _task, state = new_task(chaos, before)
    assert state == "completed"
    check_invariants(chaos)


def test_chaos_vendor_killed_before_its_search_answers_is_left_out(
    chaos: Chaos, reviver: None
) -> None:
    before = set(TaskStore(chaos.tasks).states())
    chaos.plan([{"skill": "ticket.search", "recipient": "railgo", "kill": "recipient"}])
    assert ask(chaos) == "TASK_STATE_COMPLETED"
    assert chaos.killed() == ["railgo"]
    assert new_task(chaos, before)[1] == "completed"
    check_invariants(chaos)


def test_chaos_vendor_killed_as_it_books_is_replaced_and_its_booking_compensated(
    chaos: Chaos, reviver: None
) -> None:
    before = set(TaskStore(chaos.tasks).states())
    # The chosen rail vendor dies 50 ms into the booking (booked or not, it cannot say).
    chaos.plan([{"skill": "ticket.book", "recipient": "*", "kill": "recipient", "delay": 0.05}])
    assert ask(chaos) == "TASK_STATE_COMPLETED"
    (dead,) = chaos.killed()
    task, state = new_task(chaos, before)
    assert state == "completed"
    # Whatever the dead vendor booked under the task's key was compensated once it was
    # back, unless its reply got out before it died and its booking is the one that
    # stood: either way exactly one ticket stands for the task.
    standing = [
        s
        for vendor in RAIL
        for s in IdempotentResults(vendor, chaos.bookings).all()
        if s.task_id == task and s.skill == "ticket.book" and s.status == "confirmed"
    ]
    assert len(standing) == 1, (dead, standing)
    check_invariants(chaos)


def test_chaos_vendor_killed_right_before_its_booking_leaves_it_to_the_other_vendor(
    chaos: Chaos, reviver: None
) -> None:
    # The chosen rail vendor dies as the booking is sent (SIGKILL before the request is
    # out): nothing was booked there; the other rail vendor's offer is chosen and booked.
    before = set(TaskStore(chaos.tasks).states())
    chaos.plan([{"skill": "ticket.book", "recipient": "*", "kill": "recipient"}])
    assert ask(chaos) == "TASK_STATE_COMPLETED"
    (dead,) = chaos.killed()
    task, state = new_task(chaos, before)
    assert state == "completed"
    tickets = {
        vendor: [
            s.status
            for s in IdempotentResults(vendor, chaos.bookings).all()
            if s.task_id == task and s.skill == "ticket.book"
        ]
        for vendor in RAIL
    }
    (other,) = set(RAIL) - {dead}
    assert tickets[other] == ["confirmed"], tickets
    assert "confirmed" not in tickets[dead], tickets
    check_invariants(chaos)


def test_compensation_when_the_only_hotel_chain_dies_undoes_the_ticket(
    chaos: Chaos, stays_dead: None
) -> None:
    """The only hotel chain dies as it books and stays dead past the time a step waits
    for a provider to be back (the task's budget by default; 5 s here): the task fails,
    and the ticket it booked is undone. (With a supervisor restarting the chain, the
    task is completed instead: the next test.)"""
    before = set(TaskStore(chaos.tasks).states())
    chaos.plan(
        [
            {"skill": "hotel.book", "recipient": "staywell", "kill": "recipient"},
            {"provider_wait": 5},
        ]
    )
    asked = ask_cli(chaos)
    # Asked with `lamas ask`: a failed task is a non-zero exit (1), never 0.
    assert asked.returncode == 1, asked.stdout + asked.stderr
    said = " ".join(asked.stdout.split())
    assert "no agent offers hotel.search" in said
    assert "undone:" in said
    assert "ticket.book at" in said.split("undone:", 1)[1]
    task, state = new_task(chaos, before)
    assert state == "failed"
    states = check_invariants(chaos)  # includes: nothing left booked by the failed task
    assert states[task] == "failed"
    tickets = [
        s
        for vendor in RAIL
        for s in IdempotentResults(vendor, chaos.bookings).all()
        if s.task_id == task and s.skill == "ticket.book"
    ]
    assert [s.status for s in tickets] == ["cancelled"]  # booked, then undone


def test_chaos_only_hotel_chain_killed_as_it_books_and_restarted_completes_the_task(
    chaos: Chaos, reviver: None
) -> None:
    """The only hotel chain dies as it books and a supervisor restarts it: the step waits
    for it to be back (it is listed again as soon as it publishes, at a new address;
    the wait lasts while the task's budget does, however slowly it restarts on a loaded
    machine), asks it again (there is no other to choose) and the task completes;
    whatever the first booking request left is undone, and nothing is booked twice."""
    before = set(TaskStore(chaos.tasks).states())
    chaos.plan([{"skill": "hotel.book", "recipient": "staywell", "kill": "recipient"}])
    asked = ask_cli(chaos)
    assert asked.returncode == 0, asked.stdout + asked.stderr
    assert chaos.killed() == ["staywell"]
    task, state = new_task(chaos, before)
    assert state == "completed"
    states = check_invariants(chaos)
    assert states[task] == "completed"
    hotels = [
        s
        for s in IdempotentResults("staywell", chaos.bookings).all()
        if s.task_id == task and s.skill == "hotel.book" and s.status == "confirmed"
    ]
    assert len(hotels) == 1


def ask_cli(chaos: Chaos) -> subprocess.CompletedProcess[str]:
    """The travel request sent with `lamas ask` (its own process), as a user would."""
    return subprocess.run(
        lamas_command("ask", chaos.url, TRAVEL),
        capture_output=True,
        text=True,
        timeout=400,
        env={**os.environ, **chaos.env},
    )


def test_resume_after_the_orchestrator_is_killed_mid_booking_books_nothing_twice(
    chaos: Chaos, reviver: None
) -> None:
    before = set(TaskStore(chaos.tasks).states())
    chaos.plan([{"skill": "hotel.book", "recipient": "*", "kill": "self", "delay": 0.05}])
    with pytest.raises(Exception):  # noqa: B017, PT011 - the connection dies with it
        ask(chaos)
    assert chaos.killed() == ["orchestrator"]
    chaos.plan([])
    chaos.dead()
    chaos.start_orchestrator()
    chaos.orchestrator_ready()
    _task, state = new_task(chaos, before)
    assert state == "completed"
    check_invariants(chaos)


def test_resume_after_the_orchestrator_is_killed_before_booking(
    chaos: Chaos, reviver: None
) -> None:
    before = set(TaskStore(chaos.tasks).states())
    chaos.plan([{"skill": "ticket.book", "recipient": "*", "kill": "self"}])
    with pytest.raises(Exception):  # noqa: B017, PT011
        ask(chaos)
    chaos.plan([])
    chaos.dead()
    chaos.start_orchestrator()
    chaos.orchestrator_ready()
    assert new_task(chaos, before)[1] == "completed"
    check_invariants(chaos)


def test_resume_a_question_is_answered_after_the_orchestrator_is_killed_while_it_waits(
    chaos: Chaos, reviver: None
) -> None:
    # No date: the orchestrator asks for it (input-required), and is killed while it
    # waits. The user answers the same A2A task after the restart, as if nothing happened.
    before = set(TaskStore(chaos.tasks).states())
    capability = "chaos-" + "c" * 40
    asked = send(chaos, TRAVEL.replace(" on December 4", ""), capability=capability)
    assert a2a_state(asked) == "TASK_STATE_INPUT_REQUIRED"
    task, state = new_task(chaos, before)
    assert state == "input-required"
    chaos.kill("orchestrator")
    chaos.start_orchestrator()
    chaos.orchestrator_ready()
    answered = send(chaos, "December 4", on=asked, capability=capability)
    assert a2a_state(answered) == "TASK_STATE_COMPLETED", answered
    assert answered.id == asked.id
    assert TaskStore(chaos.tasks).states()[task] == "completed"
    check_invariants(chaos)


def test_chaos_registry_restarted_mid_task(chaos: Chaos, reviver: None) -> None:
    before = set(TaskStore(chaos.tasks).states())
    chaos.plan([{"skill": "hotel.search", "recipient": "*", "kill": "registry"}])
    assert ask(chaos) == "TASK_STATE_COMPLETED"
    assert chaos.killed() == ["registry"]
    assert new_task(chaos, before)[1] == "completed"
    # The registry restarted empty; the agents publish themselves again.
    chaos.ready(timeout=60)
    again = set(TaskStore(chaos.tasks).states())
    assert ask(chaos) == "TASK_STATE_COMPLETED"
    assert new_task(chaos, again)[1] == "completed"
    check_invariants(chaos)


def test_chaos_idempotent_random_kill_points_keep_every_invariant(
    chaos: Chaos, reviver: None
) -> None:
    points = [
        {"skill": "ticket.search", "recipient": "swiftrail", "kill": "recipient"},
        {"skill": "consensus.vote", "recipient": "railgo", "kill": "recipient"},
        {"skill": "ticket.book", "recipient": "*", "kill": "recipient"},
        {"skill": "hotel.search", "recipient": "*", "kill": "swiftrail"},
    ]
    chosen = random.Random(15).sample(points, 2)
    for rule in chosen:
        rule = {**rule, "delay": round(random.Random(str(rule)).uniform(0, 0.1), 3)}
        before = set(TaskStore(chaos.tasks).states())
        chaos.plan([rule])
        assert ask(chaos) == "TASK_STATE_COMPLETED", rule
        assert new_task(chaos, before)[1] == "completed"
        chaos.revive()
        chaos.ready(timeout=120)
        settle(chaos)
    check_invariants(chaos)
