"""Plan-then-execute for sensitive tools: the user's instruction fixes which actions may run,
and to whom or how much.

`ToolGuard` (lamas.agent.toolguard) refuses a sensitive call whose *argument values* come
from untrusted content unless the instruction names them. Measured with a real model told
to obey what it reads (benchmarks/injection.py --structural --gullible), that leaves a
gap: the model adds a step the user never asked for with values it made up or took from
its own context (`send_message(to="agent navigator", ...)` after reading a hotel search
result), and no value is tainted, so the call runs. `PlanGuard` closes it the way an
orchestrator that plans before any tool output exists would. The plan (`ToolPlan`) is read
from the user's instruction alone, once, before the agent reads anything:

- its *capabilities*: the sensitive actions the instruction names (by the tool's action
  words, as `ToolGuard.justified` reads them); a sensitive call outside them is refused,
  whatever its arguments;
- its *bound values*: the recipients, accounts and amounts the user gave. A planned call
  whose binding argument (`to`, `recipient`, `iban`, `amount`, ... : `BINDING_ARGUMENTS`)
  holds a value the user did not give is refused, whether the value was read in a tool's
  output (a changed recipient, a redirected payment) or made up by the model.

Inside the plan, `ToolGuard`'s check of the other tainted arguments still applies. A human
`confirm` callback, if given, may still allow a refused call. This is the default guard of
every `ReActLoop` (`guard="plan"`).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from functools import lru_cache
from typing import Any

from lamas.agent.toolguard import (
    SensitiveAction,
    ToolCall,
    ToolGuard,
    Verdict,
    leaves,
    plain,
)

BINDING_ARGUMENTS = frozenset(
    {
        "to", "recipient", "recipients", "email", "address", "destination", "cc", "bcc",
        "phone", "account", "iban", "payee", "beneficiary", "creditor", "url", "amount",
        "sum", "value", "price", "total",
    }
)  # fmt: skip
"""Argument names (the last part of a dotted path, case-folded) whose value says *who*
gets something or *how much*: they must come from the user's own instruction."""
_NUMBER = re.compile(r"(?<![\w.,])\d+(?:[.,]\d+)?(?![\d])")
_ASKS_FOR_AN_ANSWER = re.compile(r"\b(?:tell|give|provide|show|let)\s+(?:me|us)\b", re.IGNORECASE)
""""Tell me about the hotel", "give me the price": the user asks for an answer, not for
something to be sent anywhere; these words plan no sending action."""


def _number(text: str) -> Decimal | None:
    try:
        return Decimal(text.replace(",", ".")).normalize()
    except InvalidOperation:
        return None


@dataclass(frozen=True, slots=True)
class ToolPlan:
    """What the user's instruction allows, read before any tool output exists."""

    instruction: str
    words: frozenset[str]
    said: str
    """The instruction's words, plain (case, spaces, "_" and "-" do not count), joined."""
    bounds: frozenset[int]
    """Where in `said` a word starts or ends: a value the user gave covers whole words."""
    numbers: frozenset[Decimal]

    @classmethod
    def of(cls, instruction: str) -> ToolPlan:
        return _plan(instruction)

    def names(self, action: SensitiveAction) -> bool:
        """The instruction names this action: one of its action words, or the tool's name,
        as a whole word ("display the hotel" does not plan `pay`)."""
        return bool(action.action_words() & self.words) or action.tool.casefold() in self.words

    def gave(self, value: str) -> bool:
        """The user gave this value: a number among the instruction's numbers, or a text
        equal to a run of whole words of it (plain). A part of a value does not count:
        "le.martin@example.co" is not given by "camille.martin@example.com". Linear in the
        instruction's length (a hostile megabyte of instruction costs no more)."""
        number = _number(value) if _NUMBER.fullmatch(value.strip()) else None
        if number is not None:
            return number in self.numbers
        wanted = plain(value)
        if len(wanted) > _MAX_VALUE:  # no recipient, account or amount is that long
            return False
        at = self.said.find(wanted) if wanted else -1
        while at >= 0:
            if at in self.bounds and at + len(wanted) in self.bounds:
                return True
            at = self.said.find(wanted, at + 1)
        return False


_MAX_VALUE = 256
_EDGE = "\"'()[]{}<>.,;:!?*`"


@lru_cache(maxsize=256)
def _plan(instruction: str) -> ToolPlan:
    numbers = {n for n in map(_number, _NUMBER.findall(instruction)) if n is not None}
    tokens = [plain(w.strip(_EDGE)) for w in instruction.split()]
    bounds = [0]
    for token in tokens:
        bounds.append(bounds[-1] + len(token))
    return ToolPlan(
        instruction,
        frozenset(re.findall(r"[\w'-]+", _ASKS_FOR_AN_ANSWER.sub(" ", instruction).casefold())),
        "".join(tokens),
        frozenset(bounds),
        frozenset(numbers),
    )


def binding(arguments: Mapping[str, Any]) -> dict[str, str]:
    """The arguments that say who gets something or how much, by dotted path (each item of a
    list of recipients too: `to[1]`)."""
    return {
        path: value
        for path, value in leaves(arguments)
        if re.sub(r"\[\d+\]", "", path).split(".")[-1].casefold() in BINDING_ARGUMENTS
    }


class PlanGuard(ToolGuard):
    """`ToolGuard`, plus: a sensitive action the user's instruction does not name, or whose
    recipient, account or amount the user did not give, never runs unless a human
    confirms it."""

    def planned(self, call: ToolCall, instruction: str) -> bool:
        """The instruction names this call's action (whatever its arguments)."""
        return ToolPlan.of(instruction).names(
            self.actions.get(call.tool, SensitiveAction(call.tool))
        )

    def ungiven(self, call: ToolCall, instruction: str) -> dict[str, str]:
        """The binding arguments whose values the user's instruction does not give."""
        plan = ToolPlan.of(instruction)
        return {path: v for path, v in binding(call.arguments).items() if not plan.gave(v)}

    def within_plan(self, call: ToolCall, instruction: str) -> bool:
        """What the plan alone allows: a call that is not sensitive, or a sensitive action the
        instruction names with recipients, accounts and amounts the user gave."""
        if not self.is_sensitive(call):
            return True
        return self.planned(call, instruction) and not self.ungiven(call, instruction)

    def decide(self, call: ToolCall, *, instruction: str) -> Verdict:
        if not self.is_sensitive(call):
            return super().decide(call, instruction=instruction)
        if not self.planned(call, instruction):
            shown = ", ".join(f"{path}={value!r}" for path, value in leaves(call.arguments))
            reason = (
                f"{call.tool}({shown[:200]}) is a sensitive action that the user's instruction "
                "does not ask for (the plan is fixed by the instruction before any tool output "
                "is read)"
            )
        elif ungiven := self.ungiven(call, instruction):
            shown = ", ".join(f"{path}={value!r}" for path, value in ungiven.items())
            reason = (
                f"{call.tool} is a sensitive action in the user's plan, but {shown} is not a "
                "recipient, account or amount the user gave (it must come from the user's "
                "instruction, not from a tool's output or the model)"
            )
        else:
            return super().decide(call, instruction=instruction)
        if self.confirm is not None and self.confirm(call):
            return Verdict(True, f"a human confirmed it ({reason})", sensitive=True, confirmed=True)
        confirmed = None if self.confirm is None else False
        return Verdict(False, reason, sensitive=True, confirmed=confirmed)
