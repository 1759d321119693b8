"""Instruction understanding (the `understand` stage of a task): clause roles, out of
scope, time, preferences, and the user's words mapped onto each vendor's vocabulary."""

from lamas.runtime.understanding.scope import ScopeJudge
from lamas.runtime.understanding.understand import Understander, Understanding, time_inputs

__all__ = ["ScopeJudge", "Understander", "Understanding", "time_inputs"]
