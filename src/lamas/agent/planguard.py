"""Plan-then-execute for sensitive tools: the user's instruction fixes which actions may run.

`ToolGuard` (lamas.agent.toolguard) refuses a sensitive call whose *argument values* come
from untrusted content unless the instruction names them. Measured with a real model told
to obey what it reads (benchmarks/injection.py --structural --gullible), that leaves a
gap: the model adds a step the user never asked for with values it made up or took from
its own context (`send_message(to="agent navigator", ...)` after reading a hotel search
result), and no value is tainted, so the call runs. `PlanGuard` closes it the way an
orchestrator that plans before any tool output exists would: the plan is the set of
sensitive actions the user's instruction names (by the tool's action words, as
`ToolGuard.justified` reads them), fixed before the agent reads anything; a sensitive call
outside it is refused whatever its arguments; inside it, `ToolGuard`'s value check still
applies. A human `confirm` callback, if given, may still allow an unplanned call.
"""

from __future__ import annotations

import re

from lamas.agent.toolguard import SensitiveAction, ToolCall, ToolGuard, Verdict


class PlanGuard(ToolGuard):
    """`ToolGuard`, plus: a sensitive action the user's instruction does not name never runs
    unless a human confirms it."""

    def planned(self, call: ToolCall, instruction: str) -> bool:
        """The instruction names this call's action: one of its action words, or the tool's
        name, as a whole word ("display the hotel" does not plan `pay`)."""
        words = set(re.findall(r"[\w'-]+", instruction.casefold()))
        action = self.actions.get(call.tool, SensitiveAction(call.tool)).action_words()
        return bool(action & words) or call.tool.casefold() in words

    def decide(self, call: ToolCall, *, instruction: str) -> Verdict:
        if not self.is_sensitive(call) or self.planned(call, instruction):
            return super().decide(call, instruction=instruction)
        reason = (
            f"{call.tool} is a sensitive action that the user's instruction does not ask for "
            "(the plan is fixed by the instruction before any tool output is read)"
        )
        if self.confirm is not None and self.confirm(call):
            return Verdict(True, f"a human confirmed it ({reason})", sensitive=True, confirmed=True)
        confirmed = None if self.confirm is None else False
        return Verdict(False, reason, sensitive=True, confirmed=confirmed)
