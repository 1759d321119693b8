"""`OpenAICompatModel`: any OpenAI-compatible server (vLLM, Ollama, llama.cpp's server, OpenAI)."""

from __future__ import annotations

import time
from typing import Any

from lamas.errors import ModelError
from lamas.llm.base import ChatMessage, Completion, MeteredModel
from lamas.llm.local import completion_from_openai, response_format


class OpenAICompatModel(MeteredModel):
    """Talks to `base_url` (e.g. `http://127.0.0.1:8080/v1`) with the official `openai` client."""

    def __init__(
        self,
        model: str,
        *,
        base_url: str,
        api_key: str = "not-needed",
        timeout: float = 120.0,
    ) -> None:
        from lamas._extras import need

        need("openai", "openai", "OpenAI-compatible model servers")
        from openai import AsyncOpenAI  # imported lazily: it pulls in httpx

        super().__init__(model)
        self.base_url = base_url
        self._client = AsyncOpenAI(base_url=base_url, api_key=api_key, timeout=timeout)

    async def complete(
        self,
        messages: list[ChatMessage],
        *,
        schema: dict[str, Any] | None = None,
        max_tokens: int = 256,
        temperature: float = 0.0,
    ) -> Completion:
        import openai

        extra: dict[str, Any] = {}
        if schema is not None:
            extra["response_format"] = response_format(schema)
        started = time.perf_counter()
        try:
            response = await self._client.chat.completions.create(
                model=self.name,
                messages=[m.as_openai() for m in messages],  # type: ignore[misc]
                max_tokens=max_tokens,
                temperature=temperature,
                **extra,
            )
        except openai.OpenAIError as error:
            raise ModelError(f"{self.name} at {self.base_url} failed: {error}") from error
        seconds = time.perf_counter() - started
        return self._record(completion_from_openai(response.model_dump(), seconds, self.name))

    async def aclose(self) -> None:
        await self._client.close()
