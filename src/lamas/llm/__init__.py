"""Chat models: the `ChatModel` contract and its backends (embedded, OpenAI-compatible, scripted).

Heavy libraries (xllamacpp, openai/httpx) are imported when a backend is first used,
so importing this package stays cheap.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from lamas._lazy import exports

if TYPE_CHECKING:
    from lamas.llm.base import ChatMessage, ChatModel, Completion, Usage, assistant, system, user
    from lamas.llm.local import LocalModel
    from lamas.llm.openai_compat import OpenAICompatModel
    from lamas.llm.scripted import ScriptedModel

__all__ = [
    "ChatMessage",
    "ChatModel",
    "Completion",
    "LocalModel",
    "OpenAICompatModel",
    "ScriptedModel",
    "Usage",
    "assistant",
    "system",
    "user",
]

# Where each public name lives; loaded on first access (lamas._lazy).
_HOME: dict[str, str] = {
    "ChatMessage": "lamas.llm.base",
    "ChatModel": "lamas.llm.base",
    "Completion": "lamas.llm.base",
    "LocalModel": "lamas.llm.local",
    "OpenAICompatModel": "lamas.llm.openai_compat",
    "ScriptedModel": "lamas.llm.scripted",
    "Usage": "lamas.llm.base",
    "assistant": "lamas.llm.base",
    "system": "lamas.llm.base",
    "user": "lamas.llm.base",
}

__getattr__, __dir__ = exports(__name__, _HOME, globals())
