"""A lamas network as an MCP server: its skills as tools any MCP client can call.

`NetworkMCP(network, ...)` is what `lamas mcp NETWORK.yaml` serves (stdio by default,
streamable HTTP with `--http PORT`):

- every routable skill (not tagged `internal`) of every agent is a tool named
  `AGENT.SKILL` (`staywell.hotel.search`), its input schema the card's own; a call is
  one envelope to that agent, sent as the platform (`sender`: the network's hub where it
  has one, since in a star only the hub may reach the vendors), under the network's
  access rules, signatures and defences like any other;
- the orchestrator's whole-task skill (`orchestrator.plan.trip`) runs a whole
  instruction. While it works, each envelope sent on the task's behalf is an MCP progress
  notification ("orchestrator asked railgo for ticket.search") to a client that asked
  for progress. When the task asks back (input-required), a client that supports
  elicitation is asked the question then and there and the task goes on with the
  answer; any other client gets the question and the task id, and answers it with the
  `AGENT.answer` tool.

The tool's result carries the reply's text, and its data as structured content.
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import datetime as dt
import json
import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from lamas.errors import ConfigError, LamasError
from lamas.protocol.cards import AgentCard, Skill
from lamas.protocol.instruction import INTERNAL_TAG
from lamas.protocol.messages import DataPart, Envelope, Message
from lamas.protocol.schema_lint import instance_problems
from lamas.protocol.tasks import TaskState
from lamas.runtime.today import TODAY_KEY

if TYPE_CHECKING:
    import mcp_types
    from mcp.server import Server
    from mcp.server.context import ServerRequestContext

    from lamas.runtime.network import Network
    from lamas.runtime.orchestrator import Orchestrator
    from lamas.runtime.session import Session

ANSWER_SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {"answer": {"type": "string", "description": "your answer"}},
    "required": ["answer"],
}
ANSWER_KEY = "answer"
_UNSAFE = re.compile(r"[^A-Za-z0-9_.-]+")


def tool_name(agent_id: str, skill: str) -> str:
    """`AGENT.SKILL` in the characters MCP allows in a tool name."""
    return _UNSAFE.sub("_", f"{agent_id}.{skill}")[:128]


@dataclass(frozen=True, slots=True)
class Exposed:
    """One tool: the agent and skill it stands for, and how it is run."""

    name: str
    agent: str
    skill: Skill
    description: str
    kind: str  # "skill" | "task" | "answer"


class _Progress:
    """The MCP request an envelope is sent on behalf of, and its notifications in flight."""

    def __init__(self, context: ServerRequestContext[Any, Any], own: str) -> None:
        self.context = context
        self.own = own  # envelopes to this recipient are the call itself, not progress
        self.count = 0
        self.sending: set[asyncio.Task[None]] = set()

    def report(self, text: str) -> None:
        self.count += 1
        task = asyncio.get_running_loop().create_task(self._send(self.count, text))
        self.sending.add(task)
        task.add_done_callback(self.sending.discard)

    async def _send(self, count: int, text: str) -> None:
        with contextlib.suppress(Exception):  # the client left: progress no longer matters
            await self.context.session.report_progress(count, None, text)

    async def flush(self) -> None:
        while self.sending:
            await asyncio.gather(*tuple(self.sending), return_exceptions=True)


_progress: contextvars.ContextVar[_Progress | None] = contextvars.ContextVar(
    "lamas_mcp_progress", default=None
)


def _observe(envelope: Envelope) -> None:
    """A transport observer: an envelope sent within an MCP call is that call's progress."""
    progress = _progress.get()
    if progress is not None and envelope.recipient != progress.own:
        what = envelope.skill or envelope.kind
        progress.report(f"{envelope.sender} asked {envelope.recipient} for {what}")


class NetworkMCP:
    """A network's skills and its orchestrator's whole task as MCP tools (see the module).

    `orchestrator` is the orchestrator itself or a coroutine function making it (a model
    is loaded only when a whole task is first asked for), with its `orchestrator_card`.
    """

    def __init__(
        self,
        network: Network,
        *,
        name: str,
        sender: str,
        orchestrator: Orchestrator | Callable[[], Awaitable[Orchestrator]] | None = None,
        orchestrator_card: AgentCard | None = None,
        today: dt.date | None = None,
    ) -> None:
        if (orchestrator is None) != (orchestrator_card is None):
            raise ConfigError("an orchestrator and its card go together")
        self.network = network
        self.name = name
        self.sender = sender
        self.today = today  # told to the vendors a skill tool calls, as the orchestrator does
        self._orchestrator = orchestrator
        self._making = asyncio.Lock()
        self.tools: dict[str, Exposed] = {}
        skip = orchestrator_card.id if orchestrator_card else None
        for card in network.cards:
            if card.id == skip:
                continue
            for skill in card.skills:
                if INTERNAL_TAG not in skill.tags:
                    self._expose(card, skill, "skill")
        if orchestrator_card is not None:
            for skill in orchestrator_card.skills:
                self._expose(orchestrator_card, skill, "task")
            answer = Skill(
                name="answer",
                description="answer a question a task asked back, by the task's id",
                input_schema={
                    "type": "object",
                    "properties": {
                        "task_id": {"type": "string", "description": "the task that asked"},
                        "answer": {"type": "string", "description": "your answer"},
                    },
                    "required": ["task_id", "answer"],
                },
            )
            self._expose(orchestrator_card, answer, "answer")
        network.transport.observers.append(_observe)

    def _expose(self, card: AgentCard, skill: Skill, kind: str) -> None:
        name = tool_name(card.id, skill.name)
        description = f"{card.name}: {skill.description}"
        self.tools[name] = Exposed(name, card.id, skill, description, kind)

    # --- MCP ----------------------------------------------------------------------------

    def listed(self) -> list[mcp_types.Tool]:
        import mcp_types

        return [
            mcp_types.Tool(
                name=tool.name,
                description=tool.description,
                input_schema={"type": "object", **tool.skill.input_schema},
            )
            for tool in self.tools.values()
        ]

    def server(self) -> Server[Any]:
        """The MCP server (the SDK's low-level one: the tools' schemas are the cards')."""
        import mcp_types
        from mcp.server import Server

        async def list_tools(
            context: ServerRequestContext[Any, Any], params: Any
        ) -> mcp_types.ListToolsResult:
            return mcp_types.ListToolsResult(tools=self.listed())

        async def call_tool(
            context: ServerRequestContext[Any, Any], params: mcp_types.CallToolRequestParams
        ) -> mcp_types.CallToolResult | mcp_types.InputRequiredResult:
            answered = _answered(params)
            return await self.call(
                context,
                params.name,
                dict(params.arguments or {}),
                resume=(params.request_state, answered) if params.request_state else None,
            )

        return Server(
            self.name,
            version="1.0.0",
            instructions=(
                f"The {self.name} network of LaMAS agents: each tool is one agent's skill; "
                "the orchestrator's tool carries out a whole instruction."
            ),
            on_list_tools=list_tools,
            on_call_tool=call_tool,
        )

    async def call(
        self,
        context: ServerRequestContext[Any, Any],
        name: str,
        arguments: dict[str, Any],
        *,
        resume: tuple[str, str | None] | None = None,
    ) -> mcp_types.CallToolResult | mcp_types.InputRequiredResult:
        """Run tool `name`. `resume` is a whole task's retry in the 2026-07-28 protocol
        (its id, echoed as the request state, and the user's answer, None if declined)."""
        tool = self.tools.get(name)
        if tool is None:
            return _error(f"no tool named {name!r}; tools: {', '.join(self.tools)}")
        problems = instance_problems(tool.skill.input_schema, arguments)
        if problems:  # refused here: nothing is sent, no task is started
            return _error(f"invalid arguments for {name}: {'; '.join(problems)}")
        progress = _Progress(context, tool.agent)
        token = _progress.set(progress)
        import mcp_types

        try:
            if tool.kind == "skill":
                reply = await self._ask(tool, arguments)
                return _result(reply)
            orchestrator = await self.orchestrator()
            if tool.kind == "task" and resume is not None:
                task_id, answer = resume
                session = orchestrator.sessions.get(task_id)
                if session is None:
                    return _error(f"no task {task_id!r} is waiting here")
                if answer is None:  # declined: the task waits, its id is returned
                    return _task_result(session)
                session = await orchestrator.answer(task_id, answer)
            elif tool.kind == "answer":
                waiting = orchestrator.sessions.get(str(arguments["task_id"]))
                if waiting is None or waiting.task.state is not TaskState.INPUT_REQUIRED:
                    return _error(f"no task {arguments['task_id']!r} is waiting for an answer")
                session = await orchestrator.answer(
                    str(arguments.get("task_id", "")), str(arguments.get("answer", ""))
                )
            else:
                instruction = arguments.get("instruction") or json.dumps(arguments)
                session = await orchestrator.submit(str(instruction))
            waited = await self._until_answered(context, orchestrator, session)
            return (
                waited
                if isinstance(waited, mcp_types.InputRequiredResult)
                else (_task_result(waited))
            )
        except LamasError as error:
            return _error(f"{type(error).__name__}: {error}")
        finally:
            _progress.reset(token)
            await progress.flush()

    async def orchestrator(self) -> Orchestrator:
        async with self._making:
            made = self._orchestrator
            if made is None:
                raise ConfigError(f"{self.name!r} has no orchestrator")
            if callable(made):
                self._orchestrator = made = await made()
            return made

    async def _ask(self, tool: Exposed, arguments: dict[str, Any]) -> Message:
        envelope = Envelope(
            sender=self.sender,
            recipient=tool.agent,
            skill=tool.skill.name,
            message=Message(
                parts=(DataPart(data=arguments),),
                metadata={TODAY_KEY: self.today.isoformat()} if self.today else None,
            ),
        )
        return await self.network.transport.request(envelope)

    async def _until_answered(
        self, context: ServerRequestContext[Any, Any], orchestrator: Orchestrator, session: Session
    ) -> Session | mcp_types.InputRequiredResult:
        """While the task asks back and the client can be asked (elicitation), ask it:
        mid-call in the handshake-era protocol, by an input-required result (the client
        retries with the answer) in the 2026-07-28 one."""
        import mcp_types
        from mcp_types.version import MODERN_PROTOCOL_VERSIONS

        while session.task.state is TaskState.INPUT_REQUIRED and _can_elicit(context):
            question = session.task.status_message
            words = question.text if question else "the task needs an answer"
            if context.protocol_version in MODERN_PROTOCOL_VERSIONS:
                ask = mcp_types.ElicitRequest(
                    params=mcp_types.ElicitRequestFormParams(
                        message=words, requested_schema=ANSWER_SCHEMA
                    )
                )
                return mcp_types.InputRequiredResult(
                    input_requests={ANSWER_KEY: ask}, request_state=session.task.id
                )
            asked = await context.session.elicit_form(
                message=words,
                requested_schema=ANSWER_SCHEMA,
                related_request_id=context.request_id,
            )
            answer = (asked.content or {}).get("answer") if asked.action == "accept" else None
            if not isinstance(answer, str) or not answer.strip():
                return session  # declined or cancelled: the task waits, its id is returned
            session = await orchestrator.answer(session.task.id, answer)
        return session


def _can_elicit(context: ServerRequestContext[Any, Any]) -> bool:
    import mcp_types
    from mcp_types.version import MODERN_PROTOCOL_VERSIONS

    wanted = mcp_types.ClientCapabilities(elicitation=mcp_types.ElicitationCapability())
    if not context.session.check_client_capability(wanted):
        return False
    modern = context.protocol_version in MODERN_PROTOCOL_VERSIONS
    return modern or bool(context.session.can_send_request)


def _answered(params: mcp_types.CallToolRequestParams) -> str | None:
    """The user's answer in a retried call's input responses (None: declined, none)."""
    response = (params.input_responses or {}).get(ANSWER_KEY)
    content = getattr(response, "content", None)
    if getattr(response, "action", None) != "accept" or not isinstance(content, dict):
        return None
    answer = content.get("answer")
    return answer if isinstance(answer, str) and answer.strip() else None


def _text(text: str) -> mcp_types.TextContent:
    import mcp_types

    return mcp_types.TextContent(text=text)


def _error(text: str) -> mcp_types.CallToolResult:
    import mcp_types

    return mcp_types.CallToolResult(content=[_text(text)], is_error=True)


def _result(reply: Message) -> mcp_types.CallToolResult:
    import mcp_types

    data = dict(reply.data)
    text = reply.text or json.dumps(data, ensure_ascii=False, default=str)
    return mcp_types.CallToolResult(content=[_text(text)], structured_content=data or None)


def _task_result(session: Session) -> mcp_types.CallToolResult:
    import mcp_types

    task = session.task
    said = task.status_message.text if task.status_message else task.state.value
    data = {"task_id": task.id, "state": task.state.value}
    if task.state is TaskState.INPUT_REQUIRED:
        said = f"{said}\n(answer with the answer tool, task_id {task.id})"
    return mcp_types.CallToolResult(
        content=[_text(said)],
        structured_content=data,
        is_error=task.state in (TaskState.FAILED, TaskState.REJECTED, TaskState.CANCELED),
    )
