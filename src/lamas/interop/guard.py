"""One identity and access guard for every A2A method, at the request-handler level.

Every A2A binding (JSON-RPC here; REST and gRPC go through the same `RequestHandler`)
calls `GuardedRequestHandler`, which asks `AccessGuard` who is calling before anything
else runs, for every method: send, stream, get, list, cancel, subscribe, the push-config
methods and the extended card. So no binding can skip it, and no task exists for a call
that is refused.

Who is calling:

- an agent, by `Authorization: Bearer <JWT>` signed with its registered key
  (`interop/tokens.py`); its tasks are owned by `agent:<id>`;
- on a public agent only (the network's door, like the orchestrator), an anonymous
  caller, by the task capability it holds: a secret it sends as `X-Lamas-Capability`,
  or one the agent mints at its first message and returns in the reply's metadata
  (`lamas.capability`). Its tasks are owned by the capability's digest.

Tasks are owned by whoever created them: the SDK's task stores keep tasks per owner
(`ServerCallContext.user.user_name`), and the guard sets that user to the proved caller,
so get, list, cancel and subscribe see the caller's own tasks only. A message that
carries a lamas envelope must come from the envelope's sender's token; a plain A2A
message is accepted only by a public agent. Every caller takes from its own rate bucket
(`security.ratelimit.caller_key`: a signed caller by key, an anonymous one by address),
so one client cannot starve the rest.

Refusals are A2A errors registered with the SDK (HTTP 401/403/429 on HTTP bindings, the
matching gRPC status, JSON-RPC codes -32030/-32031/-32032), raised before the inner
handler runs. The card declares the schemes (`declare`).
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import re
import secrets
from collections.abc import AsyncGenerator, Awaitable, Callable, Iterable
from dataclasses import dataclass
from typing import TypeVar

from a2a.auth.user import User
from a2a.server.context import ServerCallContext
from a2a.server.events.event_queue import Event
from a2a.server.request_handlers.request_handler import RequestHandler
from a2a.server.routes.common import DefaultServerCallContextBuilder
from a2a.types import (
    AgentCard,
    APIKeySecurityScheme,
    CancelTaskRequest,
    DeleteTaskPushNotificationConfigRequest,
    GetExtendedAgentCardRequest,
    GetTaskPushNotificationConfigRequest,
    GetTaskRequest,
    HTTPAuthSecurityScheme,
    ListTaskPushNotificationConfigsRequest,
    ListTaskPushNotificationConfigsResponse,
    ListTasksRequest,
    ListTasksResponse,
    Message,
    Role,
    SecurityRequirement,
    SecurityScheme,
    SendMessageRequest,
    StringList,
    SubscribeToTaskRequest,
    Task,
    TaskPushNotificationConfig,
)
from a2a.utils import errors as a2a_errors
from a2a.utils.errors import A2AError, ErrorMapping, InvalidParamsError
from google.protobuf.message import Message as ProtoMessage
from starlette.requests import Request

from lamas.errors import LamasError
from lamas.interop import tokens
from lamas.interop.wire import ENVELOPE_KEY, envelope_from_a2a
from lamas.security.ratelimit import RateLimits, caller_key
from lamas.security.signing import Directory

log = logging.getLogger(__name__)

CAPABILITY_HEADER = "x-lamas-capability"
"""The header an anonymous caller of a public agent sends its task capability in."""
CAPABILITY_KEY = "lamas.capability"
"""Reply metadata key under which a public agent returns a capability it minted."""
BEARER_SCHEME = "lamasAgentToken"
CAPABILITY_SCHEME = "lamasTaskCapability"
_CAPABILITY = re.compile(r"[A-Za-z0-9_-]{22,256}")
"""At least 128 bits of base64url: a capability is a secret, not a name."""

LookUp = Callable[[], Awaitable[None]]


# --- errors -------------------------------------------------------------------------------


class Unauthenticated(A2AError):
    """The call proves no identity this agent accepts (HTTP 401, gRPC UNAUTHENTICATED)."""

    message = "Unauthenticated"


class Forbidden(A2AError):
    """The caller is known but may not do this (HTTP 403, gRPC PERMISSION_DENIED)."""

    message = "Forbidden"


class TooManyRequests(A2AError):
    """The caller used up its rate bucket (HTTP 429, gRPC RESOURCE_EXHAUSTED)."""

    message = "Too many requests"


def _register_errors() -> None:
    """Teach the SDK's error tables our three errors, so every binding maps them to its
    proper status (unregistered, they would all become 'internal error' -32603)."""
    from a2a.server.jsonrpc_models import JSONRPCError
    from a2a.server.request_handlers import response_helpers

    table = (
        (Unauthenticated, -32030, ErrorMapping(401, "UNAUTHENTICATED", "UNAUTHENTICATED")),
        (Forbidden, -32031, ErrorMapping(403, "PERMISSION_DENIED", "PERMISSION_DENIED")),
        (TooManyRequests, -32032, ErrorMapping(429, "RESOURCE_EXHAUSTED", "RATE_LIMITED")),
    )
    for error, code, mapping in table:
        a2a_errors.JSON_RPC_ERROR_CODE_MAP[error] = code
        a2a_errors.A2A_ERROR_MAPPING[error] = mapping
        a2a_errors.A2A_ERROR_REASONS[error] = mapping.reason
        a2a_errors.A2A_REASON_TO_ERROR[mapping.reason] = error
        response_helpers.EXCEPTION_MAP[error] = JSONRPCError
    with contextlib.suppress(ImportError):  # gRPC is an optional binding
        import grpc
        from a2a.server.request_handlers import grpc_handler

        for error, _, mapping in table:
            grpc_handler._ERROR_CODE_MAP[error] = getattr(grpc.StatusCode, mapping.grpc_status)


_register_errors()


# --- who is calling -----------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Caller(User):
    """A proved caller: the SDK's task stores key tasks on `user_name` (the owner)."""

    owner: str
    agent: str | None
    bucket: str

    @property
    def is_authenticated(self) -> bool:
        return self.agent is not None

    @property
    def user_name(self) -> str:
        return self.owner


@dataclass(frozen=True, slots=True)
class Credentials:
    bearer: str | None
    capability: str | None
    address: str | None


class CallerContextBuilder(DefaultServerCallContextBuilder):
    """The SDK's context builder, plus the client's address (for anonymous rate buckets)."""

    def build(self, request: Request) -> ServerCallContext:
        context = super().build(request)
        context.state["client"] = request.client.host if request.client else None
        return context


def credentials(context: ServerCallContext) -> Credentials:
    """The bearer token, capability and address of a call, from whichever binding made
    it: HTTP headers (JSON-RPC, REST) or gRPC invocation metadata."""
    headers: dict[str, str] = {}
    address = context.state.get("client")
    raw = context.state.get("headers")
    if isinstance(raw, dict):
        headers = {str(k).lower(): str(v) for k, v in raw.items()}
    grpc_context = context.state.get("grpc_context")
    if grpc_context is not None:
        for key, value in grpc_context.invocation_metadata() or ():
            text = value.decode("utf-8", "replace") if isinstance(value, bytes) else value
            headers[str(key).lower()] = text
        address = address or str(grpc_context.peer()).rsplit(":", 1)[0]
    authorization = headers.get("authorization", "")
    scheme, _, token = authorization.partition(" ")
    bearer = token.strip() if scheme.lower() == "bearer" and token.strip() else None
    capability = headers.get(CAPABILITY_HEADER) or None
    return Credentials(bearer, capability, address if isinstance(address, str) else None)


class AccessGuard:
    """Decides who a call is from, and whether it may go on (see the module's docstring).

    `directory` holds the keys of the agents this one knows; `look_up` (the node's
    registry sync) is tried once when a token names an agent not known yet. `public`
    lets anonymous callers in, each with its own capability. `limits` is the per-caller
    rate bucket shape shared by every method; agents in `exempt` (the platform's own)
    take from no bucket.
    """

    def __init__(
        self,
        agent_id: str,
        directory: Directory | None = None,
        *,
        public: bool = False,
        look_up: LookUp | None = None,
        limits: RateLimits | None = None,
        exempt: Iterable[str] = (),
    ) -> None:
        self.agent_id = agent_id
        self.exempt = frozenset(exempt)  # the platform's own agents: no per-caller bucket
        self.directory = directory if directory is not None else Directory()
        self.public = public
        self.look_up = look_up
        self.limits = limits

    async def identify(self, context: ServerCallContext, *, creating: bool = False) -> str | None:
        """Prove the caller and set it as the call's user; returns a capability minted for
        an anonymous caller's first task (None otherwise). Raises before anything runs."""
        found = credentials(context)
        minted: str | None = None
        if found.bearer is not None:
            bearer = await self._check(found.bearer)
            caller = Caller(f"agent:{bearer.agent}", bearer.agent, caller_key(bearer.key_id, None))
        else:
            if not self.public:
                raise Unauthenticated(
                    f"{self.agent_id} is not public: send 'Authorization: Bearer <JWT>' "
                    "signed with your agent's registered key (see the card's securitySchemes)"
                )
            capability = found.capability
            if capability is None:
                if not creating:
                    raise Unauthenticated(
                        f"send the task's capability in the {CAPABILITY_HEADER} header "
                        "(it came back in the reply's metadata as lamas.capability)"
                    )
                capability = minted = secrets.token_urlsafe(32)
            elif not _CAPABILITY.fullmatch(capability):
                raise Unauthenticated(
                    f"the {CAPABILITY_HEADER} header must be 22 to 256 base64url characters"
                )
            digest = hashlib.sha256(capability.encode()).hexdigest()
            caller = Caller(f"capability:{digest}", None, caller_key(None, found.address))
        self._take(caller)
        context.user = caller
        return minted

    async def _check(self, token: str) -> tokens.Bearer:
        try:
            return tokens.check(token, self.directory, self.agent_id)
        except tokens.TokenRefused as refused:
            if self.look_up is None or "is not a registered key" not in refused.reason:
                raise Unauthenticated(str(refused)) from None
        await self.look_up()  # a peer that registered after our last sync
        try:
            return tokens.check(token, self.directory, self.agent_id)
        except tokens.TokenRefused as refused:
            raise Unauthenticated(str(refused)) from None

    def _take(self, caller: Caller) -> None:
        if self.limits is None or caller.agent in self.exempt:
            return
        wait = self.limits.take(caller.bucket)
        if wait > 0:
            limit = self.limits.limit_of(caller.bucket)
            raise TooManyRequests(
                f"rate limited at {self.agent_id}: the limit is {limit}; retry after {wait:.3f} s"
            )

    def check_message(self, message: Message, context: ServerCallContext) -> None:
        """A message carrying a lamas envelope must come from the envelope's sender; a plain
        A2A message (from the network's entry) only to a public agent."""
        caller = context.user
        agent = caller.agent if isinstance(caller, Caller) else None
        # What the SDK's task helper would refuse with an internal error, refused as bad
        # parameters, naming what is wrong.
        if not message.parts:
            raise InvalidParamsError("the message has no parts")
        if any(part.HasField("text") and not part.text for part in message.parts):
            raise InvalidParamsError("a text part of the message is empty")
        if not message.task_id and message.role != Role.ROLE_USER:
            raise InvalidParamsError("a message that opens a task must have the role user")
        if message.HasField("metadata") and ENVELOPE_KEY in message.metadata.fields:
            try:
                sender = envelope_from_a2a(message, recipient=self.agent_id).sender
            except LamasError as error:
                raise InvalidParamsError(f"the lamas envelope is malformed: {error}") from None
            if agent != sender:
                who = f"agent {agent!r}" if agent else "an anonymous caller"
                raise Forbidden(f"the envelope is from {sender!r}, but {who} sent it")
        elif not self.public:
            raise Forbidden(
                f"{self.agent_id} is not public: a request must carry a lamas envelope "
                "signed by its sender"
            )


def declare(card: AgentCard, *, public: bool) -> AgentCard:
    """`card` with the security schemes the guard accepts, and which of them it needs."""
    card.security_schemes[BEARER_SCHEME].CopyFrom(
        SecurityScheme(
            http_auth_security_scheme=HTTPAuthSecurityScheme(
                scheme="Bearer",
                bearer_format="JWT",
                description=(
                    "EdDSA JWT signed with the calling agent's registered key: iss = its "
                    "agent id, aud = this agent's id, exp at most 120 s after iat"
                ),
            )
        )
    )
    requirements = [SecurityRequirement(schemes={BEARER_SCHEME: StringList()})]
    if public:
        card.security_schemes[CAPABILITY_SCHEME].CopyFrom(
            SecurityScheme(
                api_key_security_scheme=APIKeySecurityScheme(
                    location="header",
                    name="X-Lamas-Capability",
                    description=(
                        "public agent: anonymous callers are welcome; a task is read, "
                        "continued or canceled with the capability returned when it was "
                        "created (reply metadata lamas.capability)"
                    ),
                )
            )
        )
        requirements.append(SecurityRequirement(schemes={CAPABILITY_SCHEME: StringList()}))
        requirements.append(SecurityRequirement())  # no credential at all: a new task
    del card.security_requirements[:]
    card.security_requirements.extend(requirements)
    return card


# --- the handler --------------------------------------------------------------------------


class GuardedRequestHandler(RequestHandler):
    """`inner` (the SDK's request handler) behind `guard`, for every method."""

    def __init__(self, inner: RequestHandler, guard: AccessGuard) -> None:
        self.inner = inner
        self.guard = guard

    async def on_message_send(
        self, params: SendMessageRequest, context: ServerCallContext
    ) -> Task | Message:
        minted = await self.guard.identify(context, creating=not params.message.task_id)
        self.guard.check_message(params.message, context)
        result = await self.inner.on_message_send(params, context)
        return _with_capability(result, minted)

    async def on_message_send_stream(
        self, params: SendMessageRequest, context: ServerCallContext
    ) -> AsyncGenerator[Event]:
        minted = await self.guard.identify(context, creating=not params.message.task_id)
        self.guard.check_message(params.message, context)
        stream = self.inner.on_message_send_stream(params, context)
        try:
            async for event in stream:
                yield _with_capability(event, minted)
                minted = None  # once is enough
        finally:
            await stream.aclose()

    async def on_subscribe_to_task(
        self, params: SubscribeToTaskRequest, context: ServerCallContext
    ) -> AsyncGenerator[Event]:
        await self.guard.identify(context)
        stream = self.inner.on_subscribe_to_task(params, context)
        try:
            async for event in stream:
                yield event
        finally:
            await stream.aclose()

    async def on_get_task(self, params: GetTaskRequest, context: ServerCallContext) -> Task | None:
        await self.guard.identify(context)
        return await self.inner.on_get_task(params, context)

    async def on_list_tasks(
        self, params: ListTasksRequest, context: ServerCallContext
    ) -> ListTasksResponse:
        await self.guard.identify(context)
        return await self.inner.on_list_tasks(params, context)

    async def on_cancel_task(
        self, params: CancelTaskRequest, context: ServerCallContext
    ) -> Task | None:
        await self.guard.identify(context)
        return await self.inner.on_cancel_task(params, context)

    async def on_create_task_push_notification_config(
        self, params: TaskPushNotificationConfig, context: ServerCallContext
    ) -> TaskPushNotificationConfig:
        await self.guard.identify(context)
        return await self.inner.on_create_task_push_notification_config(params, context)

    async def on_get_task_push_notification_config(
        self, params: GetTaskPushNotificationConfigRequest, context: ServerCallContext
    ) -> TaskPushNotificationConfig:
        await self.guard.identify(context)
        return await self.inner.on_get_task_push_notification_config(params, context)

    async def on_list_task_push_notification_configs(
        self, params: ListTaskPushNotificationConfigsRequest, context: ServerCallContext
    ) -> ListTaskPushNotificationConfigsResponse:
        await self.guard.identify(context)
        return await self.inner.on_list_task_push_notification_configs(params, context)

    async def on_delete_task_push_notification_config(
        self, params: DeleteTaskPushNotificationConfigRequest, context: ServerCallContext
    ) -> None:
        await self.guard.identify(context)
        await self.inner.on_delete_task_push_notification_config(params, context)

    async def on_get_extended_agent_card(
        self, params: GetExtendedAgentCardRequest, context: ServerCallContext
    ) -> AgentCard:
        await self.guard.identify(context)
        return await self.inner.on_get_extended_agent_card(params, context)


_Event = TypeVar("_Event", bound=ProtoMessage)


def _with_capability(event: _Event, minted: str | None) -> _Event:
    """A copy of `event` (a Task, Message or update) carrying a minted capability."""
    if minted is None or "metadata" not in event.DESCRIPTOR.fields_by_name:
        return event
    marked = type(event)()
    marked.CopyFrom(event)
    marked.metadata[CAPABILITY_KEY] = minted  # type: ignore[attr-defined]
    return marked
