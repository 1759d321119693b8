"""Sharding: which process hosts an agent, and errors that survive the trip between processes.

A distributed run puts many agents in each process (a shard) rather than one agent
per process: a process costs tens of MiB, an idle agent about a KiB. `Placement`
fixes an agent's shard by a stable hash of its id, so that every process routes
any envelope by itself, without asking a directory; a few ids (a shard's own
coordinator, say) may be pinned to a chosen shard.

`pack` and `unpack` carry a batch of envelopes between processes at a quarter of the
cost of pickling the models (field values in field order; the receiving side rebuilds
each envelope without validating it again: it was validated where it was made, and
crossing between shards of one run is no trust boundary).

`RemoteError` carries an exception from the shard that raised it to the caller.
lamas errors take their facts as constructor arguments (`UnknownAgent(agent_id)`),
so pickling them the usual way, by re-calling the constructor with the message,
fails or garbles them; this keeps the class, the message and the facts instead.
"""

from __future__ import annotations

import pickle
import zlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

from lamas.errors import ConfigError, DeliveryError
from lamas.protocol.messages import Envelope

# Classes that the receiving process can import by name; others travel as DeliveryError.
_PORTABLE_MODULES = ("builtins", "lamas.")


@dataclass(frozen=True, slots=True)
class Placement:
    """Maps an agent id to the index of the shard that hosts it."""

    shards: int
    pinned: Mapping[str, int] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.shards < 1:
            raise ConfigError(f"a distributed run needs at least 1 shard, got {self.shards}")
        wrong = sorted(k for k, v in self.pinned.items() if not 0 <= v < self.shards)
        if wrong:
            raise ConfigError(
                f"agents {', '.join(wrong)} are pinned to shards outside 0..{self.shards - 1}"
            )
        object.__setattr__(self, "pinned", MappingProxyType(dict(self.pinned)))

    def __call__(self, agent_id: str) -> int:
        pinned = self.pinned.get(agent_id)
        if pinned is not None:
            return pinned
        # crc32, not hash(): str hashes are salted per process, and every process must agree.
        return zlib.crc32(agent_id.encode()) % self.shards

    def __reduce__(self) -> tuple[Any, ...]:  # MappingProxyType does not pickle
        return (Placement, (self.shards, dict(self.pinned)))


_FIELDS = tuple(Envelope.model_fields)


def pack(envelopes: Sequence[Envelope]) -> bytes:
    """A batch of envelopes as bytes: each one's field values, in field order."""
    return pickle.dumps(
        (_FIELDS, [tuple(e.__dict__.values()) for e in envelopes]), pickle.HIGHEST_PROTOCOL
    )


def unpack(data: bytes) -> list[Envelope]:
    """The envelopes of `pack`, equal to the originals (a test holds it to that)."""
    fields, rows = pickle.loads(data)
    if tuple(fields) != _FIELDS:  # another lamas version on the other side
        return [Envelope.model_construct(**dict(zip(fields, row, strict=True))) for row in rows]
    new, assign = object.__new__, object.__setattr__
    envelopes = []
    for row in rows:
        # What model_construct does, without its per-field default handling (all are given).
        envelope = new(Envelope)
        assign(envelope, "__dict__", dict(zip(_FIELDS, row, strict=True)))
        assign(envelope, "__pydantic_fields_set__", set(_FIELDS))
        assign(envelope, "__pydantic_extra__", None)
        assign(envelope, "__pydantic_private__", None)
        envelopes.append(envelope)
    return envelopes


@dataclass(frozen=True, slots=True)
class RemoteError:
    """An exception raised in another process, rebuilt as the same class on this side."""

    cls: type[BaseException]
    args: tuple[Any, ...]
    state: dict[str, Any]

    @classmethod
    def of(cls, error: BaseException) -> RemoteError:
        kind = type(error)
        state = dict(getattr(error, "__dict__", {}))
        portable = kind.__module__ == "builtins" or kind.__module__.startswith(_PORTABLE_MODULES)
        if portable:
            try:
                pickle.dumps((error.args, state))
            except Exception:
                portable = False
        if not portable:
            message = f"{kind.__name__}: {error}"
            return cls(DeliveryError, (message,), {})
        return cls(kind, error.args, state)

    def rebuild(self) -> BaseException:
        error = self.cls.__new__(self.cls)
        error.args = self.args
        error.__dict__.update(self.state)
        return error
