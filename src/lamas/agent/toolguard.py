"""The tool-call guard: a sensitive action driven by untrusted content needs the user's word.

A prompt injection succeeds when a model turns text it read (a hotel description, a tool's
output, another agent's message) into an action: sending the traveller's passport number
out, paying someone. `ToolGuard` looks at each proposed call: which of its argument values
were found verbatim in untrusted content (their *provenance*), and whether the tool is
sensitive. A sensitive call with such arguments runs only if the task's original
instruction justifies it (it names the action and every one of those values), or a human
confirms it; otherwise it is refused with a reason the model can read.

`GuardedRegistry` wraps a `ToolRegistry` (its `call` consults the guard first) and keeps
track of untrusted content itself: everything a tool returned counts as untrusted, as does
any text handed to `observe`.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Collection, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

from lamas.agent.tools import Tool, ToolRegistry, ToolResult
from lamas.errors import InputError
from lamas.security.normalise import normalise, readings

# Words by which an instruction names an action, by the verb a tool's name starts with.
ACTION_WORDS: dict[str, frozenset[str]] = {
    "send": frozenset(
        {"send", "share", "forward", "email", "e-mail", "mail", "give", "transmit", "provide",
         "pass", "submit", "upload", "post", "message", "tell"}
    ),
    "share": frozenset({"share", "send", "give", "provide", "forward"}),
    "email": frozenset({"email", "e-mail", "mail", "send", "forward"}),
    "post": frozenset({"post", "publish", "upload", "send"}),
    "upload": frozenset({"upload", "send", "post"}),
    "pay": frozenset({"pay", "payment", "purchase", "buy", "transfer", "charge", "settle"}),
    "transfer": frozenset({"transfer", "pay", "wire", "send"}),
    "buy": frozenset({"buy", "purchase", "pay", "order"}),
    "book": frozenset({"book", "reserve", "booking", "reservation"}),
    "delete": frozenset({"delete", "remove", "erase", "cancel"}),
    "cancel": frozenset({"cancel", "delete", "remove"}),
}  # fmt: skip
_MIN_CHARS = 3


class ToolCallBlocked(InputError):
    """A sensitive tool call driven by untrusted content was neither justified nor confirmed."""

    def __init__(self, verdict: Verdict) -> None:
        self.verdict = verdict
        super().__init__(verdict.reason)


@dataclass(frozen=True, slots=True)
class ToolCall:
    """A call a model proposed: the tool, its arguments, and where tainted values came from.

    `provenance` maps an argument (dotted path for nested values) to the source of the
    untrusted text its value was found in.
    """

    tool: str
    arguments: Mapping[str, Any]
    provenance: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class SensitiveAction:
    """A sensitive tool, with the words by which an instruction would ask for it."""

    tool: str
    words: frozenset[str] = frozenset()

    def action_words(self) -> frozenset[str]:
        if self.words:
            return self.words
        verb = re.split(r"[_\-.\s]+", self.tool.casefold())[0]
        return ACTION_WORDS.get(verb, frozenset({verb}))


Sensitive = str | SensitiveAction | Callable[[ToolCall], bool]


@dataclass(frozen=True, slots=True)
class Verdict:
    allowed: bool
    reason: str
    sensitive: bool = False
    tainted: tuple[str, ...] = ()
    justified: bool = False
    confirmed: bool | None = None
    """None: no human was asked."""

    def refusal(self, tool: str) -> str:
        return f"{tool} was not run: {self.reason}"


def plain(text: str) -> str:
    """For matching values: case, spaces, "_" and "-" do not count ("FR76 3000" = "fr763000")."""
    return re.sub(r"[\s_\-]+", "", text.casefold())


def leaves(value: Any, path: str = "") -> Iterator[tuple[str, str]]:
    if isinstance(value, Mapping):
        for key, item in value.items():
            yield from leaves(item, f"{path}.{key}" if path else str(key))
    elif isinstance(value, list | tuple):
        for index, item in enumerate(value):
            yield from leaves(item, f"{path}[{index}]")
    elif isinstance(value, bool) or value is None:
        return
    elif isinstance(value, float) and value.is_integer():
        yield path, str(int(value))
    else:
        yield path, str(value)


def find_provenance(
    arguments: Mapping[str, Any], untrusted: Iterable[tuple[str, str]]
) -> dict[str, str]:
    """Which argument values occur verbatim in untrusted text, however it is read.

    Case, spacing, Unicode tricks (look-alike letters, invisible characters) and encodings
    (base64, hex, ROT13 payloads) are seen through, as a model would. `untrusted` holds
    `(source, text)` pairs; the result maps each tainted argument to the first source it
    was found in. Values shorter than three characters are not traced.
    """
    sources = [
        (source, [plain(reading) for reading in readings(text)]) for source, text in untrusted
    ]
    found: dict[str, str] = {}
    for path, value in leaves(arguments):
        needle = plain(normalise(value).text)
        if len(needle) < _MIN_CHARS:
            continue
        for source, texts in sources:
            if any(needle in text for text in texts):
                found[path] = source
                break
    return found


class ToolGuard:
    """Decides whether a proposed tool call may run.

    `sensitive` names the tools that act on the world (payment, sending data out): a tool
    name, a `SensitiveAction` (naming the words an instruction would use for it), or a
    predicate over the call. `confirm`, if given, is asked (a human) about a sensitive call
    that untrusted content drove and the instruction does not justify.
    """

    def __init__(
        self,
        sensitive: Iterable[Sensitive],
        *,
        confirm: Callable[[ToolCall], bool] | None = None,
    ) -> None:
        self.actions: dict[str, SensitiveAction] = {}
        self.predicates: list[Callable[[ToolCall], bool]] = []
        for each in sensitive:
            if isinstance(each, str):
                self.actions[each] = SensitiveAction(each)
            elif isinstance(each, SensitiveAction):
                self.actions[each.tool] = each
            else:
                self.predicates.append(each)
        self.confirm = confirm

    def is_sensitive(self, call: ToolCall) -> bool:
        return call.tool in self.actions or any(p(call) for p in self.predicates)

    def justified(self, call: ToolCall, instruction: str, tainted: Iterable[str]) -> bool:
        """The instruction names the action and every tainted argument's value."""
        said = plain(instruction)
        words = set(re.findall(r"[\w'-]+", instruction.casefold()))
        action = self.actions.get(call.tool, SensitiveAction(call.tool)).action_words()
        if not (action & words or plain(call.tool) in said):
            return False
        values = dict(leaves(call.arguments))
        return all(plain(values[path]) in said for path in tainted if path in values)

    def decide(self, call: ToolCall, *, instruction: str) -> Verdict:
        if not self.is_sensitive(call):
            return Verdict(True, f"{call.tool} is not a sensitive action")
        tainted = tuple(sorted(call.provenance))
        if not tainted:
            return Verdict(True, "no argument comes from untrusted content", sensitive=True)
        if self.justified(call, instruction, tainted):
            return Verdict(
                True,
                "the user's instruction asks for this action with these values",
                sensitive=True,
                tainted=tainted,
                justified=True,
            )
        shown = ", ".join(
            f"{path}={dict(leaves(call.arguments)).get(path, '?')!r} (from {call.provenance[path]})"
            for path in tainted
        )
        if self.confirm is not None:
            confirmed = bool(self.confirm(call))
            if confirmed:
                return Verdict(
                    True,
                    f"a human confirmed it (arguments from untrusted content: {shown})",
                    sensitive=True,
                    tainted=tainted,
                    confirmed=True,
                )
            return Verdict(
                False,
                f"{call.tool} is a sensitive action, its arguments {shown} come from untrusted "
                "content, the user's instruction does not ask for it, and a human declined it",
                sensitive=True,
                tainted=tainted,
                confirmed=False,
            )
        return Verdict(
            False,
            f"{call.tool} is a sensitive action and its arguments {shown} come from untrusted "
            "content, not from the user's instruction; it needs the user's explicit "
            "instruction or a human's confirmation",
            sensitive=True,
            tainted=tainted,
        )

    def check(self, call: ToolCall, *, instruction: str) -> Verdict:
        """`decide`, raising `ToolCallBlocked` when the call may not run."""
        verdict = self.decide(call, instruction=instruction)
        if not verdict.allowed:
            raise ToolCallBlocked(verdict)
        return verdict


def _as_text(value: Any) -> str:
    if isinstance(value, str):
        return value
    try:
        return json.dumps(value, default=str, ensure_ascii=False)
    except (TypeError, ValueError):
        return repr(value)


class GuardedRegistry(ToolRegistry):
    """A `ToolRegistry` whose `call` asks a `ToolGuard` first (tools.py stays as it is).

    `instruction` is the task's original instruction from the user; `untrusted` the
    `(source, text)` content the agent has read so far. Every result of a tool not in
    `trusted_tools` is added to the untrusted content, since a tool's output is outside
    text too. Every decision is kept in `decisions`.
    """

    def __init__(
        self,
        tools: Iterable[Tool],
        guard: ToolGuard,
        *,
        instruction: str,
        untrusted: Iterable[tuple[str, str]] = (),
        trusted_tools: Collection[str] = (),
    ) -> None:
        super().__init__(tools)
        self.guard = guard
        self.instruction = instruction
        self.untrusted: list[tuple[str, str]] = list(untrusted)
        self.trusted_tools = frozenset(trusted_tools)
        self.decisions: list[tuple[ToolCall, Verdict]] = []

    def observe(self, text: str, *, source: str) -> None:
        """Record `text` from `source` as untrusted content the agent has seen."""
        self.untrusted.append((source, text))

    async def call(self, name: str, arguments: dict[str, Any]) -> ToolResult:
        proposed = ToolCall(name, arguments, find_provenance(arguments, self.untrusted))
        verdict = self.guard.decide(proposed, instruction=self.instruction)
        self.decisions.append((proposed, verdict))
        if not verdict.allowed:
            return ToolResult(name, False, error=verdict.refusal(name))
        result = await super().call(name, arguments)
        if result.ok and name not in self.trusted_tools:
            self.observe(_as_text(result.value), source=f"tool:{name}")
        return result
