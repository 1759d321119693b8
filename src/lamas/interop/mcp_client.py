"""The tools of any MCP server as a lamas agent's own tools (the official `mcp` SDK).

    async with mcp_tools("npx -y @modelcontextprotocol/server-everything") as tools:
        loop = ReActLoop(model, tools=tools)

`mcp_tools(server)` names the server by a command line (started as a subprocess, spoken
to over stdio) or an `http(s)://` URL (streamable HTTP). Entered, it lists the server's
tools and holds the connection; each is an `MCPTool`: a `Tool` whose argument schema is
the server's own JSON Schema (arguments are checked against it before the call) and
whose result is a `ToolResult` like any other tool's. So an MCP tool's output reaches a
model exactly as every tool output does: spotlighted as untrusted data by the ReAct loop,
counted as tainted by the tool-call guard. `tool_agent` (for network files) answers a
card's skills with the server's tools of the same name, its output screened by the
injection detector first.
"""

from __future__ import annotations

import asyncio
import contextlib
import shlex
import time
from collections.abc import Collection, Sequence
from types import TracebackType
from typing import TYPE_CHECKING, Any

from lamas.agent.tools import DEFAULT_TIMEOUT, Tool, ToolRegistry, ToolResult
from lamas.errors import ConfigError, ToolError
from lamas.protocol.schema_lint import instance_problems

if TYPE_CHECKING:
    import mcp_types
    from mcp import Client

    from lamas.protocol.cards import AgentCard
    from lamas.protocol.messages import Envelope, Message
    from lamas.protocol.types import Context


def server_parameters(server: str | Sequence[str], env: dict[str, str] | None = None) -> Any:
    """What `mcp.Client` connects to: the URL itself, or the command line to start."""
    from mcp import StdioServerParameters

    if isinstance(server, str) and server.startswith(("http://", "https://")):
        return server
    argv = shlex.split(server) if isinstance(server, str) else list(server)
    if not argv:
        raise ConfigError("an MCP server is a command line or an http(s) URL; got nothing")
    return StdioServerParameters(command=argv[0], args=argv[1:], env=env)


def _text_of(result: mcp_types.CallToolResult) -> Any:
    """A tool result as a value: its structured content where it has some, else its text
    parts joined (other parts named by their kind: a model cannot see an image)."""
    if result.structured_content is not None:
        return result.structured_content
    pieces = []
    for part in result.content:
        text = getattr(part, "text", None)
        pieces.append(text if isinstance(text, str) else f"[{part.type} content]")
    return "\n".join(pieces)


class MCPTool(Tool):
    """One tool of an MCP server, called through the toolbox's session."""

    def __init__(
        self,
        toolbox: MCPTools,
        spec: mcp_types.Tool,
        *,
        timeout: float = DEFAULT_TIMEOUT,
        sensitive: bool = False,
    ) -> None:
        # Not Tool.__init__: the schema is the server's, not a Python signature's.
        self.toolbox = toolbox
        self.name = spec.name
        self.description = spec.description or spec.title or spec.name
        self.input_schema: dict[str, Any] = dict(spec.input_schema)
        self.input_schema.setdefault("type", "object")
        self.timeout = timeout
        self.sensitive = sensitive
        self.is_async = True
        self.function = self._call

    @property
    def schema(self) -> dict[str, Any]:
        return self.input_schema

    async def _call(self, **arguments: Any) -> Any:
        return await self.toolbox.call_raw(self.name, arguments)

    async def _invoke(self, arguments: dict[str, Any]) -> ToolResult:
        started = time.perf_counter()

        def result(ok: bool, value: Any = None, error: str | None = None) -> ToolResult:
            return ToolResult(self.name, ok, value, error, time.perf_counter() - started)

        problems = instance_problems(self.input_schema, arguments)
        if problems:
            return result(False, error="invalid arguments: " + "; ".join(problems))
        try:
            async with asyncio.timeout(self.timeout):
                value = await self._call(**arguments)
        except TimeoutError:
            return result(False, error=f"timed out after {self.timeout:g} s")
        except Exception as error:  # the model is told; the agent goes on
            return result(False, error=f"{type(error).__name__}: {error}")
        return result(True, value=value)


class MCPTools(ToolRegistry):
    """The tools of one MCP server, connected while the toolbox is entered."""

    def __init__(
        self,
        server: str | Sequence[str],
        *,
        env: dict[str, str] | None = None,
        timeout: float = DEFAULT_TIMEOUT,
        sensitive: Collection[str] = (),
        connect_timeout: float = 60.0,
    ) -> None:
        super().__init__()
        self.server = server
        self.env = env
        self.timeout = timeout
        self.sensitive = frozenset(sensitive)
        self.connect_timeout = connect_timeout
        self._client: Client | None = None
        self._holder: asyncio.Task[None] | None = None
        self._ready = asyncio.Event()
        self._closing = asyncio.Event()
        self._failure: BaseException | None = None
        self._lock = asyncio.Lock()

    def schema_of(self, name: str) -> dict[str, Any]:
        """The argument schema the server gave tool `name`."""
        for each in self:
            if each.name == name:
                return dict(each.schema)
        raise ToolError(f"MCP server {self.label} has no tool {name!r}; it has {self.names}")

    @property
    def label(self) -> str:
        return self.server if isinstance(self.server, str) else shlex.join(self.server)

    async def open(self) -> MCPTools:
        """Connect and list the server's tools (once; later calls return at once)."""
        async with self._lock:
            if self._holder is None:
                self._holder = asyncio.create_task(self._hold())
                ready = asyncio.create_task(self._ready.wait())
                try:
                    await asyncio.wait(
                        {ready, self._holder},
                        timeout=self.connect_timeout,
                        return_when=asyncio.FIRST_COMPLETED,
                    )
                finally:
                    ready.cancel()
                if not self._ready.is_set():
                    why = self._failure or TimeoutError(f"no answer in {self.connect_timeout:g} s")
                    await self.close()
                    raise ToolError(
                        f"MCP server {self.label} could not be reached: {_why(why)}; check "
                        "the command (or URL) and that the server starts on its own"
                    ) from None
        return self

    async def _hold(self) -> None:
        # The SDK's client is an anyio context: it is entered and left in this one task.
        from mcp import Client

        try:
            async with Client(server_parameters(self.server, self.env)) as client:
                listed = await client.list_tools()
                for spec in listed.tools:
                    sensitive = spec.name in self.sensitive
                    self.add(MCPTool(self, spec, timeout=self.timeout, sensitive=sensitive))
                self._client = client
                self._ready.set()
                await self._closing.wait()
        except Exception as error:  # reported by open() (or by the next call)
            self._failure = error
        finally:
            self._client = None

    async def call_raw(self, name: str, arguments: dict[str, Any]) -> Any:
        """Call tool `name`; its value (see `_text_of`), or `ToolError` with the server's
        words when it reports an error."""
        client = self._client
        if client is None:
            raise ToolError(f"MCP server {self.label} is not connected ({_why(self._failure)})")
        result = await client.call_tool(name, arguments)
        if result.is_error:
            raise ToolError(f"{name}: {_text_of(result)}")
        return _text_of(result)

    async def close(self) -> None:
        self._closing.set()
        if self._holder is not None:
            holder, self._holder = self._holder, None
            try:
                await asyncio.wait_for(holder, 10)
            except (TimeoutError, asyncio.CancelledError):
                holder.cancel()
                with contextlib.suppress(BaseException):
                    await holder

    async def __aenter__(self) -> MCPTools:
        return await self.open()

    async def __aexit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        trace: TracebackType | None,
    ) -> None:
        await self.close()


def mcp_tools(
    server: str | Sequence[str],
    *,
    env: dict[str, str] | None = None,
    timeout: float = DEFAULT_TIMEOUT,
    sensitive: Collection[str] = (),
) -> MCPTools:
    """The tools of the MCP server `server` (a command line or an http(s) URL); enter it
    (`async with`) or `await .open()` it to connect. Tools named in `sensitive` act on the
    world and run behind the tool-call guard."""
    return MCPTools(server, env=env, timeout=timeout, sensitive=sensitive)


def _why(error: BaseException | None) -> str:
    if error is None:
        return "not opened"
    if isinstance(error, BaseExceptionGroup) and error.exceptions:
        return _why(error.exceptions[0])
    return f"{type(error).__name__}: {error}"


class ToolAgent:
    """A handler answering each of a card's skills with the MCP tool of the same name
    (a network file's `mcp:` servers, connected on the first request). The request's data
    are the arguments; the tool's output is screened by the injection detector like any
    text from outside (flagged: `InjectionDetected`, nothing is passed on)."""

    def __init__(self, card: AgentCard, servers: Sequence[str | Sequence[str]]) -> None:
        from lamas.security.detector import Detector

        self.card = card
        self.boxes = [mcp_tools(server) for server in servers]
        self.detector = Detector()

    async def __call__(self, envelope: Envelope, context: Context) -> Message:
        from lamas.protocol.messages import Message
        from lamas.security.detector import InjectionDetected

        for each in self.boxes:
            await each.open()
        skill = envelope.skill or (self.card.skills[0].name if self.card.skills else "")
        offering = next((b for b in self.boxes if skill in b), None)
        if offering is None:
            raise ToolError(f"{self.card.id}: no MCP server offers a tool named {skill!r}")
        result = await offering.call(skill, dict(envelope.message.data))
        if not result.ok:
            raise ToolError(result.error or f"{skill} failed")
        value = result.value
        detection = self.detector.score(value if isinstance(value, str) else repr(value))
        if detection.flagged:
            raise InjectionDetected(f"tool:{skill}", detection)
        return Message.of_data(value) if isinstance(value, dict) else Message.of_text(str(value))

    async def close(self) -> None:
        for each in self.boxes:
            await each.close()


def tool_agent(card: AgentCard, *, mcp: Sequence[str]) -> ToolAgent:
    """The handler factory a network file names for an agent backed by MCP tools."""
    return ToolAgent(card, mcp)


__all__ = ["MCPTool", "MCPTools", "ToolAgent", "mcp_tools", "server_parameters", "tool_agent"]
