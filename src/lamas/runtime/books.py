"""`Books`: an orchestrator's tasks written to the ledger and settled, however it runs.

`lamas demo`, `lamas run` (local and Ray), `lamas serve` and a script of one's own keep
books the same way: the ledger hook (task, steps, messages, outcome, Shapley credit,
payouts) and the experience recorder, on the default database unless told otherwise.
One place, so that every run settles and the dashboard shows every task.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from lamas.economy.ledger import Ledger, platform_ledger
from lamas.experience.store import ExperienceStore
from lamas.runtime.experience_hook import ExperienceRecorder
from lamas.runtime.ledger_hook import LedgerRecorder
from lamas.runtime.orchestrator import Orchestrator

if TYPE_CHECKING:
    from lamas.economy.settlement import Settlement


class Books:
    """Keeps the books of every task `orchestrator` runs, from now on.

    `ledger` (or the database at `url`; default: `$LAMAS_DATABASE_URL`, else the SQLite
    file under `$LAMAS_HOME`) receives the entries; `record_instruction` keeps the user's
    words in the ledger (otherwise it keeps what was planned).
    """

    def __init__(
        self,
        orchestrator: Orchestrator,
        *,
        ledger: Ledger | None = None,
        url: str | None = None,
        record_instruction: bool = False,
        experience: bool = True,
    ) -> None:
        self.recorder = LedgerRecorder(
            ledger if ledger is not None else platform_ledger(url),
            orchestrator,
            record_instruction=record_instruction,
        )
        self.ledger = self.recorder.ledger
        self.experience = (
            ExperienceRecorder(
                ExperienceStore(self.ledger.engine), orchestrator, ledger=self.recorder
            )
            if experience
            else None
        )

    def flush(self, task_id: str | None = None) -> None:
        """Write what the recorder still holds (of `task_id`, or of every task)."""
        self.recorder.flush(task_id)

    def settlement(self, task_id: str) -> Settlement | None:
        """The task's settlement, once it completed (a task that failed earns nothing)."""
        self.recorder.flush(task_id)
        return self.recorder.settlements.get(task_id)

    def receipt(self, task_id: str) -> str:
        """The settlement as a few lines of text: value, fee, each agent's credit and payout."""
        settlement = self.settlement(task_id)
        if settlement is None:
            return f"task {task_id[:8]}: not settled (it did not complete)"
        currency = self.recorder.currency
        lines = [
            f"task {task_id[:8]} settled: value {settlement.game.total} {currency}, "
            f"platform fee {settlement.split.platform_fee} {currency}"
        ]
        for agent, share in sorted(settlement.shares.items(), key=lambda kv: -kv[1]):
            paid = settlement.split.by_agent.get(agent, 0)
            lines.append(
                f"  {agent} ({self.recorder.owner(agent)}): credit {share:.2f}, "
                f"payout {paid} {currency}"
            )
        return "\n".join(lines)
