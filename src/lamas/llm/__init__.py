"""Chat models: the `ChatModel` contract and its backends (embedded, OpenAI-compatible, scripted).

Heavy libraries (xllamacpp, openai/httpx) are imported when a backend is first used,
so importing this package stays cheap.
"""

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
