from __future__ import annotations

import pytest

from lamas.errors import ModelError, ModelOutputError
from lamas.llm import ChatModel, ScriptedModel, Usage, system, user
from lamas.llm.base import Completion


async def test_replies_in_order_and_dicts_as_json() -> None:
    model = ScriptedModel(["hello there", {"city": "Lyon"}])
    first = await model.complete([user("hi")])
    second = await model.complete([user("where?")], schema={"type": "object"})
    assert first.text == "hello there"
    assert second.json() == {"city": "Lyon"}
    assert model.calls[1][1] == {"type": "object"}


async def test_usage_accumulates_over_calls() -> None:
    model = ScriptedModel(["one two", "three"])
    await model.complete([system("a b c"), user("d")])
    await model.complete([user("e f")])
    assert model.usage == Usage(prompt_tokens=6, completion_tokens=3, seconds=0.0, calls=2)
    assert model.usage.total_tokens == 9


async def test_running_out_of_replies_is_a_clear_error() -> None:
    model = ScriptedModel(["only"], name="script-x")
    await model.complete([user("1")])
    with pytest.raises(ModelError, match=r"script-x.*ran out of replies after 1 calls"):
        await model.complete([user("2")])


async def test_responder_sees_messages_and_schema() -> None:
    model = ScriptedModel(responder=lambda messages, schema: {"n": len(messages), "s": schema})
    completion = await model.complete([user("a"), user("b")], schema={"type": "string"})
    assert completion.json() == {"n": 2, "s": {"type": "string"}}


def test_scripted_model_satisfies_the_protocol() -> None:
    assert isinstance(ScriptedModel(), ChatModel)


def test_non_json_answer_names_the_text() -> None:
    completion = Completion(
        text="sure! {city: Lyon}", usage=Usage(), model="m", finish_reason="length"
    )
    with pytest.raises(ModelOutputError, match=r"not JSON.*finish_reason=length.*sure!"):
        completion.json()


def test_tool_role_is_sent_as_user_turn() -> None:
    from lamas.llm.base import ChatMessage

    assert ChatMessage("tool", "Observation: 4").as_openai() == {
        "role": "user",
        "content": "Observation: 4",
    }
