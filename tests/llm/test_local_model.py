"""The real embedded model: SmolLM2-135M is fast but weak, so only plumbing is checked."""

from __future__ import annotations

import asyncio

import pytest

from lamas.errors import ModelError
from lamas.llm import LocalModel, OpenAICompatModel, catalog, user

pytestmark = pytest.mark.model

CITY = {
    "type": "object",
    "properties": {"city": {"type": "string"}, "country": {"type": "string"}},
    "required": ["city", "country"],
    "additionalProperties": False,
}


@pytest.fixture(scope="module")
def model() -> LocalModel:
    return LocalModel(catalog.DEFAULT_TEST_MODEL, n_ctx=2048)


async def test_schema_constrained_answer_parses(model: LocalModel) -> None:
    completion = await model.complete(
        [user("Name a city and its country as JSON.")], schema=CITY, max_tokens=64
    )
    data = completion.json()
    assert set(data) == {"city", "country"}
    assert all(isinstance(v, str) for v in data.values())
    assert completion.usage.prompt_tokens > 0
    assert completion.usage.completion_tokens > 0
    assert completion.usage.seconds > 0


async def test_usage_accumulates_and_calls_are_serialized(model: LocalModel) -> None:
    before = model.usage
    answers = await asyncio.gather(
        *(model.complete([user(f"Say the number {i}.")], max_tokens=8) for i in range(3))
    )
    assert len(answers) == 3
    assert model.usage.calls - before.calls == 3
    assert model.usage.completion_tokens - before.completion_tokens == sum(
        a.usage.completion_tokens for a in answers
    )


async def test_max_tokens_bounds_the_answer(model: LocalModel) -> None:
    completion = await model.complete([user("Write a long story about a ship.")], max_tokens=5)
    assert completion.usage.completion_tokens <= 5
    assert completion.finish_reason == "length"


def test_missing_file_is_a_clear_error(tmp_path: object) -> None:
    with pytest.raises(ModelError, match="no GGUF file"):
        LocalModel(f"{tmp_path}/absent.gguf")


async def test_openai_compatible_server_on_loopback() -> None:
    """xllamacpp's server core listens on a loopback port; talk to it through the openai client."""
    from lamas.llm.local import load_server

    server = load_server(catalog.path(catalog.DEFAULT_TEST_MODEL), n_ctx=2048, threads=1)
    address = server.listening_address
    assert address.startswith("http://127.0.0.1:")
    remote = OpenAICompatModel("smollm2", base_url=f"{address}/v1")
    try:
        completion = await remote.complete(
            [user("Name a city and its country as JSON.")], schema=CITY, max_tokens=64
        )
        assert set(completion.json()) == {"city", "country"}
        assert remote.usage.calls == 1
        assert remote.usage.completion_tokens > 0
    finally:
        await remote.aclose()
        del server


async def test_unreachable_server_is_a_model_error() -> None:
    remote = OpenAICompatModel("x", base_url="http://127.0.0.1:9/v1", timeout=2.0)
    try:
        with pytest.raises(ModelError, match=r"127\.0\.0\.1:9"):
            await remote.complete([user("hi")], max_tokens=4)
    finally:
        await remote.aclose()
