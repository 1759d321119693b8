"""Agents: card + middleware-wrapped handler, memory, tools and reasoning (paper §2.1)."""

from lamas.agent.agent import Agent, compose, skill_router

__all__ = ["Agent", "compose", "skill_router"]
