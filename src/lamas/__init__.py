"""lamas: LLM-based multi-agent systems in which agents owned by different entities
cooperate through a layered protocol (arXiv 2411.14033).

Heavy dependencies (xllamacpp, torch, SQLAlchemy, httpx) load only when used, and so do
the public names below: `import lamas` is cheap (a CLI starts fast); `from lamas import
Network` imports what Network needs, once (PEP 562).
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from lamas.agent import Agent, compose, skill_router, tool
    from lamas.agent.embeddings import HashingEmbedder
    from lamas.agent.llm_agent import llm_agent, react_handler
    from lamas.errors import LamasError
    from lamas.llm import (
        ChatMessage,
        ChatModel,
        Completion,
        LocalModel,
        OpenAICompatModel,
        ScriptedModel,
        Usage,
    )
    from lamas.llm.spec import model_from_env, open_model
    from lamas.protocol import (
        AgentCard,
        Artifact,
        Context,
        DataPart,
        Envelope,
        FilePart,
        Handler,
        Message,
        Middleware,
        Plan,
        Price,
        Reply,
        SealedRef,
        Skill,
        Step,
        Task,
        TaskState,
        TextPart,
    )
    from lamas.runtime import LocalTransport, Network, Rule, RulePolicy
    from lamas.runtime.books import Books
    from lamas.runtime.orchestrator import Orchestrator

__version__ = "0.1.0"

__all__ = [
    "Agent",
    "AgentCard",
    "Artifact",
    "Books",
    "ChatMessage",
    "ChatModel",
    "Completion",
    "Context",
    "DataPart",
    "Envelope",
    "FilePart",
    "Handler",
    "HashingEmbedder",
    "LamasError",
    "LocalModel",
    "LocalTransport",
    "Message",
    "Middleware",
    "Network",
    "OpenAICompatModel",
    "Orchestrator",
    "Plan",
    "Price",
    "Reply",
    "Rule",
    "RulePolicy",
    "ScriptedModel",
    "SealedRef",
    "Skill",
    "Step",
    "Task",
    "TaskState",
    "TextPart",
    "Usage",
    "__version__",
    "compose",
    "llm_agent",
    "model_from_env",
    "open_model",
    "react_handler",
    "skill_router",
    "tool",
]

# Where each public name lives; loaded on first access.
_HOME: dict[str, str] = {
    "Agent": "lamas.agent",
    "AgentCard": "lamas.protocol",
    "Artifact": "lamas.protocol",
    "Books": "lamas.runtime.books",
    "ChatMessage": "lamas.llm",
    "ChatModel": "lamas.llm",
    "Completion": "lamas.llm",
    "Context": "lamas.protocol",
    "DataPart": "lamas.protocol",
    "Envelope": "lamas.protocol",
    "FilePart": "lamas.protocol",
    "Handler": "lamas.protocol",
    "HashingEmbedder": "lamas.agent.embeddings",
    "LamasError": "lamas.errors",
    "LocalModel": "lamas.llm",
    "LocalTransport": "lamas.runtime",
    "Message": "lamas.protocol",
    "Middleware": "lamas.protocol",
    "Network": "lamas.runtime",
    "OpenAICompatModel": "lamas.llm",
    "Orchestrator": "lamas.runtime.orchestrator",
    "Plan": "lamas.protocol",
    "Price": "lamas.protocol",
    "Reply": "lamas.protocol",
    "Rule": "lamas.runtime",
    "RulePolicy": "lamas.runtime",
    "ScriptedModel": "lamas.llm",
    "SealedRef": "lamas.protocol",
    "Skill": "lamas.protocol",
    "Step": "lamas.protocol",
    "Task": "lamas.protocol",
    "TaskState": "lamas.protocol",
    "TextPart": "lamas.protocol",
    "Usage": "lamas.llm",
    "compose": "lamas.agent",
    "llm_agent": "lamas.agent.llm_agent",
    "model_from_env": "lamas.llm.spec",
    "open_model": "lamas.llm.spec",
    "react_handler": "lamas.agent.llm_agent",
    "skill_router": "lamas.agent",
    "tool": "lamas.agent",
}


def __getattr__(name: str) -> Any:
    home = _HOME.get(name)
    if home is None:
        raise AttributeError(f"module 'lamas' has no attribute {name!r}")
    value = getattr(import_module(home), name)
    globals()[name] = value  # next time, a plain lookup
    return value


def __dir__() -> list[str]:
    return sorted(__all__)
