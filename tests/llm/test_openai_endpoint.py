"""`--model openai:MODEL@URL` against a real OpenAI-compatible server: llama.cpp's own
server (the embedded runtime's, in a process of its own on a loopback port) serving the
135M test model. JSON-Schema output, and the ReAct loop calling a typed tool through it."""

from __future__ import annotations

import asyncio
import os
import re
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from lamas import Network, llm_agent
from lamas.agent import ReActLoop, ToolRegistry, tool
from lamas.errors import ConfigError
from lamas.llm.base import ChatMessage
from lamas.llm.openai_compat import OpenAICompatModel
from lamas.llm.spec import open_model, parse_openai

pytestmark = pytest.mark.model

SERVER = """
import sys, time, xllamacpp
from lamas.llm import catalog
p = xllamacpp.CommonParams()
p.model.path = str(catalog.path("smollm2-135m"))
p.n_ctx, p.n_parallel, p.warmup, p.verbosity = 4096, 1, False, -1
p.cpuparams.n_threads = p.cpuparams_batch.n_threads = 1
p.port, p.hostnames, p.model_alias = int(sys.argv[1]), ["127.0.0.1"], {"smollm2"}
server = xllamacpp.Server(p)
print("ready", flush=True)
time.sleep(1e9)
"""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture(scope="module")
def endpoint() -> Iterator[str]:
    port = free_port()
    src = Path(__file__).resolve().parents[2] / "src"
    server = subprocess.Popen(
        [sys.executable, "-c", SERVER, str(port)],
        env={**os.environ, "PYTHONPATH": str(src), "OMP_WAIT_POLICY": "passive"},
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    url = f"http://127.0.0.1:{port}/v1"
    try:
        deadline = time.monotonic() + 120
        while True:
            assert server.poll() is None, "the llama.cpp server exited"
            try:
                if httpx.get(f"{url}/models", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            assert time.monotonic() < deadline, "the llama.cpp server did not come up"
            time.sleep(0.2)
        yield url
    finally:
        server.terminate()
        server.wait(timeout=30)


def test_the_model_forms_parse_and_bad_ones_say_what_is_wrong() -> None:
    assert parse_openai("openai:qwen2.5:7b@http://127.0.0.1:11434/v1") == (
        "qwen2.5:7b",
        "http://127.0.0.1:11434/v1",
    )
    for bad, why in [
        ("openai:qwen", "expected openai:MODEL@"),
        ("openai:@http://x/v1", "expected openai:MODEL@"),
        ("openai:m@ftp://x", "not an http(s) URL"),
        ("openai:m@http://", "names no host"),
        ("openai:m@http://127.0.0.1:99999/v1", "not a valid URL (Port out of range"),
        ("openai:m@http://[::1/v1", "not a valid URL"),
        ("openai:m w@http://h:1/v1", "no spaces or control characters"),
        ("openai:m@http://h/v1?key=1", "without ?query"),
    ]:
        with pytest.raises(ConfigError, match=re.escape(why)):
            open_model(bad)
    # A key in the URL would show in `ps`: refused, and not repeated in the error.
    with pytest.raises(ConfigError, match=re.escape("$OPENAI_API_KEY")) as refused:
        open_model("openai:m@http://me:s3cret@127.0.0.1:8000/v1")
    assert "s3cret" not in str(refused.value)


async def test_json_schema_output_through_the_endpoint(endpoint: str) -> None:
    model = open_model(f"openai:smollm2@{endpoint}")
    assert isinstance(model, OpenAICompatModel)
    schema = {
        "type": "object",
        "properties": {"city": {"type": "string"}, "days": {"type": "integer"}},
        "required": ["city", "days"],
        "additionalProperties": False,
    }
    completion = await model.complete(
        [ChatMessage("user", "A trip to Lyon for 3 days. Give the city and the days as JSON.")],
        schema=schema,
        max_tokens=60,
    )
    data = completion.json()
    assert set(data) == {"city", "days"}
    assert isinstance(data["days"], int)
    assert completion.usage.prompt_tokens > 0
    assert completion.usage.completion_tokens > 0
    await model.aclose()


async def test_an_agent_calls_its_tool_through_the_endpoint(endpoint: str) -> None:
    asked: list[str] = []

    @tool
    def weather(city: str) -> str:
        """Today's weather in a city."""
        asked.append(city)
        return f"Sunny and 21 C in {city}"

    model = open_model(f"openai:smollm2@{endpoint}")
    result = await ReActLoop(model, ToolRegistry([weather]), max_steps=4).run(
        "What is the weather in Lyon? Use the weather tool."
    )
    assert next(s.tool for s in result.steps) == "weather"
    assert asked, "the tool was called"
    assert result.steps[0].result is not None
    assert result.steps[0].result.ok
    # The same, as an agent in a network: the reply comes back over the endpoint.
    agent = llm_agent("forecaster", "Tells the weather in a city", model=model, tools=[weather])
    reply = await Network([agent]).ask("forecaster", "What is the weather in Paris?")
    assert reply.text
    assert reply.data["answer"] == reply.text
    await asyncio.sleep(0)
