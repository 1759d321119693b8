"""Envelope, Message and Part: JSON round-trips and refusal of malformed input."""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from lamas.errors import InputError, MalformedMessage
from lamas.protocol.messages import (
    DataPart,
    Envelope,
    FileContent,
    FilePart,
    Message,
    SealedRef,
    TextPart,
    new_id,
)

TOKEN = "t0k3n-0123456789abcdef"


def full_message() -> Message:
    return Message(
        role="user",
        parts=(
            TextPart(text="book me a train to Lyon", metadata={"lang": "en"}),
            DataPart(data={"city": "Lyon", "nights": 2, "tags": ["a", "b"], "x": None}),
            FilePart(
                file=FileContent(name="ticket.pdf", mime_type="application/pdf", bytes="aGk=")
            ),
            FilePart(file=FileContent(uri="https://example.com/map.png")),
            SealedRef(field="passport_number", vault_id="vault-1", token=TOKEN),
        ),
        metadata={"source": "test"},
    )


def envelope(**overrides: Any) -> dict[str, Any]:
    """A valid envelope as a JSON-ready dict; `overrides` replace or add top-level keys."""
    data: dict[str, Any] = {
        "sender": "user",
        "recipient": "hotel",
        "skill": "book",
        "priority": 3,
        "message": {"role": "user", "parts": [{"kind": "text", "text": "hi"}]},
    }
    data.update(overrides)
    return data


# --- round trips -------------------------------------------------------------


def test_message_with_every_part_kind_round_trips() -> None:
    message = full_message()
    again = Message.parse(message.model_dump_json())
    assert again == message
    assert [type(p) for p in again.parts] == [TextPart, DataPart, FilePart, FilePart, SealedRef]
    assert again.sealed_refs == (
        SealedRef(field="passport_number", vault_id="vault-1", token=TOKEN),
    )


def test_envelope_round_trips_through_json_text_bytes_and_dict() -> None:
    original = Envelope(
        task_id="task-1",
        context_id="ctx-1",
        sender="orchestrator",
        recipient="hotel.agent@acme",
        skill="hotel.book",
        kind="request",
        priority=9,
        mode="async",
        deadline=1_900_000_000.25,
        trace="00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01",
        signature="sig",
        message=full_message(),
    )
    text = original.model_dump_json()
    assert Envelope.parse(text) == original
    assert Envelope.parse(text.encode()) == original
    assert Envelope.parse(json.loads(text)) == original


def test_message_helpers() -> None:
    message = Message(
        parts=(
            TextPart(text="one"),
            DataPart(data={"a": 1, "b": 1}),
            TextPart(text="two"),
            DataPart(data={"b": 2}),
        )
    )
    assert message.text == "one\ntwo"
    assert message.data == {"a": 1, "b": 2}
    assert message.sealed_refs == ()
    assert Message.of_text("hi", role="user").text == "hi"
    assert Message.of_text("hi", role="user").role == "user"
    assert Message.of_data({"k": [1]}).data == {"k": [1]}
    assert Message.of_text("x").data == {}
    assert Message.of_data({"k": 1}).text == ""


def test_new_id_is_32_hex_and_fresh() -> None:
    ids = {new_id() for _ in range(100)}
    assert len(ids) == 100
    assert all(len(i) == 32 and int(i, 16) >= 0 for i in ids)
    assert Message.of_text("a").message_id != Message.of_text("a").message_id


def test_ids_stay_unique_across_threads_and_batches() -> None:
    """Ids are cut from one random read per 256: across many reads and threads at once,
    none is given twice."""
    from concurrent.futures import ThreadPoolExecutor

    with ThreadPoolExecutor(max_workers=8) as pool:
        batches = list(pool.map(lambda _: [new_id() for _ in range(2000)], range(8)))
    ids = [i for batch in batches for i in batch]
    assert len(set(ids)) == len(ids) == 16_000


def test_a_forked_child_does_not_give_its_parents_next_ids() -> None:
    """A child forked with ids left in the parent's batch reads its own."""
    import multiprocessing

    new_id()  # a batch is cut, most of it not yet given
    context = multiprocessing.get_context("fork")
    with context.Pool(1) as pool:
        theirs = pool.apply(_ten_ids)
    mine = [new_id() for _ in range(10)]
    assert not set(theirs) & set(mine)


def _ten_ids() -> list[str]:
    return [new_id() for _ in range(10)]


def test_wire_types_are_frozen() -> None:
    message = Message.of_text("hi")
    with pytest.raises(ValueError, match="frozen"):
        message.role = "user"  # type: ignore[misc]


json_leaf = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**63), max_value=2**63)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=20)
)
json_value = st.recursive(
    json_leaf,
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4)
    ),
    max_leaves=12,
)
json_object = st.dictionaries(st.text(max_size=8), json_value, max_size=5)
agent_id = st.from_regex(r"\A[A-Za-z0-9][A-Za-z0-9_.:@/-]{0,20}\Z")

part = st.one_of(
    st.builds(TextPart, text=st.text(max_size=50)),
    st.builds(DataPart, data=json_object),
    st.builds(
        SealedRef,
        field=st.text(min_size=1, max_size=20),
        vault_id=st.text(min_size=1, max_size=20),
        token=st.text(min_size=16, max_size=40),
    ),
)
messages = st.builds(
    Message,
    role=st.sampled_from(["user", "agent"]),
    parts=st.lists(part, min_size=1, max_size=4).map(tuple),
    metadata=st.none() | json_object,
)


@settings(max_examples=60, deadline=None)
@given(message=messages)
def test_generated_messages_round_trip(message: Message) -> None:
    assert Message.parse(message.model_dump_json()) == message


@settings(max_examples=60, deadline=None)
@given(
    message=messages,
    sender=agent_id,
    recipient=agent_id,
    priority=st.integers(min_value=0, max_value=9),
    deadline=st.none() | st.floats(min_value=0, max_value=4e9),
    skill=st.none() | st.text(max_size=20),
)
def test_generated_envelopes_round_trip(
    message: Message,
    sender: str,
    recipient: str,
    priority: int,
    deadline: float | None,
    skill: str | None,
) -> None:
    original = Envelope(
        sender=sender,
        recipient=recipient,
        priority=priority,
        deadline=deadline,
        skill=skill,
        message=message,
    )
    assert Envelope.parse(original.model_dump_json()) == original


# --- malformed input ---------------------------------------------------------


def problems_of(data: Any, parser: Any = Envelope.parse) -> MalformedMessage:
    with pytest.raises(MalformedMessage) as caught:
        parser(data)
    return caught.value


def test_malformed_message_is_an_input_error() -> None:
    assert issubclass(MalformedMessage, InputError)
    error = problems_of(envelope(priority=10))
    assert isinstance(error, InputError)
    assert error.what == "envelope"
    assert str(error).startswith("malformed envelope: ")


def test_priority_above_nine_is_refused() -> None:
    error = problems_of(envelope(priority=10))
    assert any(p.startswith("priority:") for p in error.problems)
    assert "priority" in str(error)
    assert "9" in str(error)


def test_negative_priority_is_refused() -> None:
    error = problems_of(json.dumps(envelope(priority=-1)))
    assert "priority" in str(error)


def test_unknown_extra_field_is_refused() -> None:
    error = problems_of(envelope(colour="blue"))
    assert any(p.startswith("colour:") for p in error.problems)
    assert "Extra inputs are not permitted" in str(error)


def test_missing_message_is_refused() -> None:
    data = envelope()
    del data["message"]
    error = problems_of(data)
    assert any(p.startswith("message:") and "required" in p.lower() for p in error.problems)


def test_bad_sender_id_is_refused() -> None:
    error = problems_of(envelope(sender="has space"))
    assert "sender" in str(error)


def test_bad_json_text_is_refused() -> None:
    error = problems_of('{"sender": "user", ')
    assert "JSON" in str(error)
    error = problems_of(b"\xff\xfe not json")
    assert error.what == "envelope"


@pytest.mark.parametrize("data", [[1, 2], 42, None, "[1, 2]", '"a string"'])
def test_non_object_is_refused(data: Any) -> None:
    error = problems_of(data)
    assert error.problems
    assert "object" in str(error).lower() or "dict" in str(error).lower()


def test_empty_parts_are_refused() -> None:
    error = problems_of({"parts": []}, Message.parse)
    assert "parts" in str(error)


def test_unknown_part_kind_is_refused() -> None:
    error = problems_of({"parts": [{"kind": "video", "url": "x"}]}, Message.parse)
    assert "parts.0" in str(error)


def test_sealed_ref_carrying_a_value_is_refused() -> None:
    """Privacy: a sealed reference names a vault field and must never smuggle its value."""
    part = {
        "kind": "sealed_ref",
        "field": "passport_number",
        "vault_id": "vault-1",
        "token": TOKEN,
        "value": "X1234567",
    }
    error = problems_of({"parts": [part]}, Message.parse)
    assert any("value" in p and "Extra inputs" in p for p in error.problems)
    error = problems_of(envelope(message={"parts": [part]}))
    assert "message.parts.0" in str(error)
    assert "value" in str(error)


def test_sealed_ref_short_token_is_refused() -> None:
    part = {"kind": "sealed_ref", "field": "f", "vault_id": "v", "token": "short"}
    error = problems_of({"parts": [part]}, Message.parse)
    assert "token" in str(error)


@pytest.mark.parametrize(
    "file",
    [
        {"name": "a.txt", "bytes": "aGk=", "uri": "https://example.com/a.txt"},
        {"name": "a.txt"},
    ],
    ids=["both", "neither"],
)
def test_file_needs_exactly_one_of_bytes_or_uri(file: dict[str, Any]) -> None:
    error = problems_of({"parts": [{"kind": "file", "file": file}]}, Message.parse)
    assert "parts.0.file.file" in str(error)
    assert "'bytes'" in str(error)
    assert "'uri'" in str(error)


def test_every_problem_is_reported() -> None:
    data = envelope(priority=10, colour="blue")
    del data["message"]
    error = problems_of(data)
    fields = {p.split(":")[0] for p in error.problems}
    assert {"priority", "colour", "message"} <= fields
