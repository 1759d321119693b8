"""Sharding helpers that need no Ray: envelope batches and errors between processes."""

from __future__ import annotations

import pickle

from lamas.errors import AccessDenied, DeliveryError, UnknownAgent
from lamas.protocol import Envelope, Message
from lamas.runtime.sharding import RemoteError, pack, unpack


def test_a_packed_batch_unpacks_to_equal_envelopes() -> None:
    shared = Message.of_text("1")
    batch = [
        Envelope(sender="a", recipient=f"b{i}", skill="vote", mode="async", message=shared)
        for i in range(50)
    ] + [
        Envelope(
            sender="user",
            recipient="hotel",
            priority=7,
            deadline=2e9,
            task_id="t1",
            trace="00-abc-def-01",
            signature="sig",
            message=Message.of_data({"nested": {"list": [1, 2.5, None]}}),
        )
    ]
    again = unpack(pack(batch))
    assert again == batch
    assert [e.model_dump(mode="json") for e in again] == [e.model_dump(mode="json") for e in batch]
    assert again[-1].message.data == {"nested": {"list": [1, 2.5, None]}}
    # Still frozen, hashable-free pydantic models that re-serialize the usual ways.
    assert Envelope.model_validate_json(again[-1].model_dump_json()) == batch[-1]
    assert pickle.loads(pickle.dumps(again[0])) == batch[0]
    # Packing is smaller than pickling the models.
    assert len(pack(batch)) < len(pickle.dumps(batch))


def test_remote_errors_keep_class_message_and_facts() -> None:
    error = RemoteError.of(AccessDenied("x", "y", "no edge")).rebuild()
    assert isinstance(error, AccessDenied)
    assert str(error) == "access denied: 'x' may not send to 'y': no edge"
    assert (error.sender, error.recipient, error.reason) == ("x", "y", "no edge")
    error = pickle.loads(pickle.dumps(RemoteError.of(UnknownAgent("ghost")))).rebuild()
    assert isinstance(error, UnknownAgent)
    assert error.agent_id == "ghost"
    assert "no agent 'ghost'" in str(error)

    class Private(Exception):  # not importable elsewhere: travels as a DeliveryError
        pass

    error = RemoteError.of(Private("secret sauce")).rebuild()
    assert type(error) is DeliveryError
    assert str(error) == "Private: secret sauce"
