"""The adversarial suite's fixtures: a guarded network of real processes (tests/support)."""

from support.guarded import door_rpc, guarded, keeper_rpc

__all__ = ["door_rpc", "guarded", "keeper_rpc"]
