"""Agents: card + middleware-wrapped handler, memory, tools and reasoning (paper §2.1).

Episodic memory (SQLAlchemy, numpy) is in `lamas.agent.episodic`, imported on use.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from lamas._lazy import exports

if TYPE_CHECKING:
    from lamas.agent.agent import Agent, compose, skill_router
    from lamas.agent.embeddings import Embedder, HashingEmbedder, MiniLMEmbedder
    from lamas.agent.memory import ShortTermMemory
    from lamas.agent.reasoning import ReActLoop, ReasoningResult, ReasoningStep
    from lamas.agent.tools import Tool, ToolRegistry, ToolResult, tool

__all__ = [
    "Agent",
    "Embedder",
    "HashingEmbedder",
    "MiniLMEmbedder",
    "ReActLoop",
    "ReasoningResult",
    "ReasoningStep",
    "ShortTermMemory",
    "Tool",
    "ToolRegistry",
    "ToolResult",
    "compose",
    "skill_router",
    "tool",
]

# Where each public name lives; loaded on first access (lamas._lazy).
_HOME: dict[str, str] = {
    "Agent": "lamas.agent.agent",
    "Embedder": "lamas.agent.embeddings",
    "HashingEmbedder": "lamas.agent.embeddings",
    "MiniLMEmbedder": "lamas.agent.embeddings",
    "ReActLoop": "lamas.agent.reasoning",
    "ReasoningResult": "lamas.agent.reasoning",
    "ReasoningStep": "lamas.agent.reasoning",
    "ShortTermMemory": "lamas.agent.memory",
    "Tool": "lamas.agent.tools",
    "ToolRegistry": "lamas.agent.tools",
    "ToolResult": "lamas.agent.tools",
    "compose": "lamas.agent.agent",
    "skill_router": "lamas.agent.agent",
    "tool": "lamas.agent.tools",
}

__getattr__, __dir__ = exports(__name__, _HOME, globals())
