"""lamas: LLM-based multi-agent systems in which agents owned by different entities
cooperate through a layered protocol (arXiv 2411.14033).

Heavy dependencies (xllamacpp, torch, SQLAlchemy, httpx) load only when used.
"""

from lamas.agent import Agent, compose, skill_router
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

__version__ = "0.1.0"

__all__ = [
    "Agent",
    "AgentCard",
    "Artifact",
    "ChatMessage",
    "ChatModel",
    "Completion",
    "Context",
    "DataPart",
    "Envelope",
    "FilePart",
    "Handler",
    "LamasError",
    "LocalModel",
    "LocalTransport",
    "Message",
    "Middleware",
    "Network",
    "OpenAICompatModel",
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
    "skill_router",
]
