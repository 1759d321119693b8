"""Agents: card + middleware-wrapped handler, memory, tools and reasoning (paper §2.1).

Episodic memory (SQLAlchemy, numpy) is in `lamas.agent.episodic`, imported on use.
"""

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
