"""`LocalModel`: a GGUF model run in-process by xllamacpp (llama.cpp's server core, no HTTP hop).

xllamacpp is a prebuilt wheel: it installs in seconds and needs no compiler.
It is imported only when a model is first used, so `import lamas` stays fast.
"""

from __future__ import annotations

import asyncio
import os
import threading
import time
from pathlib import Path
from typing import Any

from lamas.errors import ModelError, ModelOutputError
from lamas.llm import catalog
from lamas.llm.base import ChatMessage, Completion, MeteredModel, Usage

# Two spinning OpenMP threads on two shared cores collapse throughput to a few
# tokens/s; passive waiting keeps idle threads off the CPU. Must be set before
# the native library loads.
os.environ.setdefault("OMP_WAIT_POLICY", "passive")


def load_server(model_path: Path, *, n_ctx: int, threads: int, embedding: bool = False) -> Any:
    """Start an xllamacpp server core for `model_path` (it also listens on a loopback port)."""
    from lamas._extras import need

    need("xllamacpp", "local", "the embedded model runtime")
    import xllamacpp

    params = xllamacpp.CommonParams()
    params.model.path = str(model_path)
    params.n_ctx = n_ctx
    params.n_parallel = 1
    params.cpuparams.n_threads = threads
    params.cpuparams_batch.n_threads = threads
    params.warmup = False
    params.verbosity = -1
    params.embedding = embedding
    try:
        return xllamacpp.Server(params)
    except Exception as error:  # the native side raises plain RuntimeErrors
        raise ModelError(f"could not load {model_path}: {error}") from error


def response_format(schema: dict[str, Any]) -> dict[str, Any]:
    """The OpenAI `response_format` that asks for JSON matching `schema`."""
    return {
        "type": "json_schema",
        "json_schema": {"name": "answer", "schema": schema, "strict": True},
    }


class LocalModel(MeteredModel):
    """A chat model embedded in this process. `model` is a catalog name or a path to a GGUF file.

    Calls are serialized (one slot) and run in a worker thread so the event loop stays free.
    """

    def __init__(
        self,
        model: str = catalog.DEFAULT_TEST_MODEL,
        *,
        n_ctx: int = 4096,
        threads: int = 1,
    ) -> None:
        candidate = Path(model)
        self.path = candidate if candidate.suffix == ".gguf" else catalog.path(model)
        if not self.path.is_file():
            raise ModelError(f"no GGUF file at {self.path}")
        super().__init__(model if candidate.suffix != ".gguf" else self.path.stem)
        self._n_ctx = n_ctx
        self._threads = threads
        self._server: Any = None
        self._load_lock = threading.Lock()
        self._call_lock = asyncio.Lock()

    def _ensure_loaded(self) -> Any:
        with self._load_lock:
            if self._server is None:
                self._server = load_server(self.path, n_ctx=self._n_ctx, threads=self._threads)
            return self._server

    def _call(self, request: dict[str, Any]) -> dict[str, Any]:
        server = self._ensure_loaded()
        try:
            result: dict[str, Any] = server.handle_chat_completions(request)
        except ValueError as error:
            raise ModelError(f"{self.name} rejected the request: {error}") from error
        if "error" in result:
            raise ModelError(f"{self.name} failed: {result['error']}")
        return result

    async def complete(
        self,
        messages: list[ChatMessage],
        *,
        schema: dict[str, Any] | None = None,
        max_tokens: int = 256,
        temperature: float = 0.0,
    ) -> Completion:
        request: dict[str, Any] = {
            "messages": [m.as_openai() for m in messages],
            "max_tokens": max_tokens,
            "temperature": temperature,
        }
        if schema is not None:
            request["response_format"] = response_format(schema)
        async with self._call_lock:
            started = time.perf_counter()
            result = await asyncio.to_thread(self._call, request)
            seconds = time.perf_counter() - started
        return self._record(completion_from_openai(result, seconds, self.name))


def completion_from_openai(result: dict[str, Any], seconds: float, name: str) -> Completion:
    """Turn an OpenAI-shaped chat completion (a dict) into a `Completion`."""
    try:
        choice = result["choices"][0]
        text = choice["message"]["content"] or ""
        counts = result.get("usage") or {}
    except (KeyError, IndexError, TypeError) as error:
        raise ModelOutputError(
            f"{name} returned an unexpected response shape: {result!r:.300}"
        ) from error
    usage = Usage(
        prompt_tokens=int(counts.get("prompt_tokens", 0)),
        completion_tokens=int(counts.get("completion_tokens", 0)),
        seconds=seconds,
        calls=1,
    )
    return Completion(
        text=text,
        usage=usage,
        finish_reason=str(choice.get("finish_reason") or "stop"),
        model=name,
    )
