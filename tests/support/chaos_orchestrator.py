"""The travel orchestrator as a process of its own, for the chaos suite.

    python chaos_orchestrator.py KEYS REGISTRY PORT TASKS_URL LEDGER_URL

It serves the orchestrator of examples/travel over A2A on 127.0.0.1:PORT (plain A2A
requests accepted as the user's), with the scripted slot filler and the hashing router
(it routes the travel instruction as MiniLM does, without loading torch: a restart
under chaos takes seconds, not minutes, on a loaded machine),
its task state durable in TASKS_URL and its ledger in LEDGER_URL; on start it resumes
the tasks a killed predecessor left unfinished.

`$CHAOS_PIDS/plan.json` (re-read whenever it changes) makes it kill processes as it
sends: each rule
`{"skill": S, "recipient": R or "*", "kill": "recipient" | "self" | NAME, "delay": s}`
fires once, the first time the orchestrator sends S to R; the process killed (SIGKILL,
after `delay` seconds) is found by its pid in `$CHAOS_PIDS/<name>`, and its name is
appended to `$CHAOS_PIDS/killed`. A rule `{"provider_wait": s}` sets how long a step waits
for a provider that is away (`Recovery.provider_wait`) while that plan is in force (by
default: the task's budget, as `lamas serve` has it).
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import sys
import threading
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from lamas.agent.embeddings import HashingEmbedder
from lamas.interop.keys import KeyFolder
from lamas.interop.launch import node_from_network, orchestrate
from lamas.llm import ScriptedModel
from lamas.protocol import Envelope
from lamas.runtime.network import Network
from lamas.runtime.recovery import Backoff, Recovery, RetryPolicy, TaskStore
from lamas.runtime.recovery.layer import TASK_BUDGET
from support.casestudy import TODAY, scripted_slots
from support.cluster import NETWORK


def chaos_observer(pids: Path, recovery: Recovery) -> object:
    fired: set[int] = set()
    default_wait = recovery.provider_wait
    plan: list[dict[str, object]] = []
    seen = [0.0]

    def observe(envelope: Envelope) -> None:
        if envelope.sender != "orchestrator":
            return
        source = pids / "plan.json"
        changed = source.stat().st_mtime if source.exists() else 0.0
        if changed != seen[0]:  # a new plan: its rules may all fire again
            seen[0] = changed
            plan[:] = json.loads(source.read_text()) if changed else []
            fired.clear()
            waits = [r["provider_wait"] for r in plan if "provider_wait" in r]
            recovery.provider_wait = float(str(waits[0])) if waits else default_wait
        for index, rule in enumerate(plan):
            wanted = rule.get("recipient", "*")
            if index in fired or envelope.skill != rule.get("skill"):
                continue
            if wanted not in ("*", envelope.recipient):
                continue
            fired.add(index)
            target = str(rule.get("kill", "recipient"))
            name = envelope.recipient if target == "recipient" else target
            pid = os.getpid() if name == "self" else int((pids / name).read_text())
            with (pids / "killed").open("a") as file:
                file.write(f"{'orchestrator' if name == 'self' else name}\n")
            delay = float(rule.get("delay", 0.0))  # type: ignore[arg-type]
            if delay > 0:
                threading.Timer(delay, os.kill, (pid, signal.SIGKILL)).start()
            else:
                os.kill(pid, signal.SIGKILL)

    return observe


async def main(keys: str, registry: str, port: int, tasks: str, ledger: str) -> None:
    spec, node, _ = node_from_network(
        NETWORK, "orchestrator", KeyFolder(Path(keys)), registry=registry, port=port, public=True
    )
    recovery = Recovery(
        retry=RetryPolicy(default=Backoff(attempts=4, initial=0.2, maximum=1.0, jitter=0.1)),
        store=TaskStore(tasks),
        provider_wait=TASK_BUDGET,  # as `lamas serve` with a registry has it
    )
    if os.environ.get("CHAOS_PIDS"):
        observer = chaos_observer(Path(os.environ["CHAOS_PIDS"]), recovery)
        node.network.transport.observers.append(observer)  # type: ignore[arg-type]
    orchestrator, _ = await orchestrate(
        spec,
        node,
        ScriptedModel(responder=scripted_slots),
        HashingEmbedder(),
        today=TODAY,
        ledger_url=ledger,
        recovery=recovery,
    )
    orchestrator.step_timeout = 30.0
    print(f"orchestrator serving at {node.url}", flush=True)
    if os.environ.get("CHAOS_PIDS"):
        await show_peers(node.network, Path(os.environ["CHAOS_PIDS"]) / "peers.json")
    await asyncio.Event().wait()


async def show_peers(network: Network, target: Path) -> None:
    """Keep `target` showing where the orchestrator reaches each peer (id -> url): a test
    waits until that is where the registry lists them, rather than sleeping for the
    orchestrator's registry sync to have happened."""
    shown = None
    while True:
        peers = {card.id: str(card.url) for card in network.cards}
        if peers != shown:
            fresh = target.with_suffix(".tmp")
            fresh.write_text(json.dumps(peers))
            fresh.replace(target)  # atomic: a reader never sees half a file
            shown = peers
        await asyncio.sleep(0.1)


if __name__ == "__main__":
    import logging

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    for noisy in ("httpx", "httpcore"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    keys, registry, port, tasks, ledger = sys.argv[1:6]
    asyncio.run(main(keys, registry, int(port), tasks, ledger))
