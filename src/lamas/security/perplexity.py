"""The detector's perplexity layer (Alon & Kamfonas 2023; Jain et al. 2023): a text's
per-token perplexity under the local GGUF model, the worst mean negative log-likelihood
over a sliding window, so that an adversarial suffix on ordinary text still stands out."""

from __future__ import annotations

import math
import threading
from collections import OrderedDict
from collections.abc import Callable
from pathlib import Path
from typing import Any

from lamas.errors import ModelError
from lamas.security.layer import LayerScore

BYTE_FRAGMENT_LOGPROB = -10.0
"""Stands for a token the server reports no probability for (part of a UTF-8 character)."""

TokenLogprobs = Callable[[str], list[float]]
"""The log-probability of each token of a text under a language model."""


class GGUFLogprobs:
    """Per-token log-probabilities of a text under a GGUF model, run by xllamacpp.

    llama.cpp's server reports log-probabilities of generated tokens only (no `echo`), so
    each token is scored in turn: the prompt is the prefix as token ids (the server's cache
    keeps it, so each step evaluates one token), the token itself is forced with a large
    logit bias, and the server reports its log-probability under the raw distribution.
    The text is tokenized by the server's own `/tokenize` on its loopback port. The cost is
    one decode step per token (about 20 ms with the 135M model on two cores), so texts are
    cut to `max_tokens`: the first and the last `max_tokens / 2` of a longer text are scored
    (each in its full left context, which the server evaluates in one batch), since an
    injection tends to sit at the start or the end of the text it hides in. A token that is
    only part of a UTF-8 character gets no probability from the server; it counts as
    `BYTE_FRAGMENT_LOGPROB`.
    """

    def __init__(
        self,
        model_path: Path | str,
        *,
        prefix: str = "Message:\n",
        max_tokens: int = 96,
        n_ctx: int = 1024,
        threads: int = 1,
    ) -> None:
        self.path = Path(model_path)
        if not self.path.is_file():
            raise ModelError(f"no GGUF file at {self.path}")
        self.prefix = prefix
        self.max_tokens = max_tokens
        self._n_ctx = n_ctx
        self._threads = threads
        self._server: Any = None
        self._lock = threading.Lock()

    def _ensure_loaded(self) -> Any:
        if self._server is None:
            from lamas.llm.local import load_server

            self._server = load_server(self.path, n_ctx=self._n_ctx, threads=self._threads)
        return self._server

    def _tokenize(self, server: Any, text: str) -> list[int]:
        import httpx

        with httpx.Client(trust_env=False, timeout=30.0) as client:
            reply = client.post(f"{server.listening_address}/tokenize", json={"content": text})
        reply.raise_for_status()
        return [int(t) for t in reply.json()["tokens"]]

    def __call__(self, text: str) -> list[float]:
        with self._lock:
            server = self._ensure_loaded()
            start = len(self._tokenize(server, self.prefix))
            ids = self._tokenize(server, self.prefix + text)
            positions = list(range(start, len(ids)))
            if len(positions) > self.max_tokens:
                half = self.max_tokens // 2
                positions = positions[:half] + positions[-(self.max_tokens - half) :]
            logprobs: list[float] = []
            for i in positions:
                result = server.handle_completions(
                    {
                        "prompt": ids[:i],
                        "n_predict": 1,
                        "logprobs": 1,
                        "temperature": 0.0,
                        "logit_bias": [[ids[i], 100.0]],
                        "cache_prompt": True,
                    }
                )
                try:
                    choice = result["choices"][0]
                    if choice["logprobs"] is None and "error" not in result:
                        # A token that is only part of a UTF-8 character (an emoji, a hidden
                        # tag character) is held back by the server with its probability.
                        logprobs.append(BYTE_FRAGMENT_LOGPROB)
                        continue
                    token = choice["logprobs"]["content"][0]
                except (KeyError, IndexError, TypeError) as error:
                    raise ModelError(
                        f"no log-probabilities from {self.path.name}: {result!r:.200}"
                    ) from error
                logprobs.append(float(token["logprob"]))
            return logprobs


class PerplexityLayer:
    """The perplexity filter: the worst windowed mean negative log-likelihood (nats/token).

    `score` is `log(perplexity)` of the most surprising window of `window` tokens (the
    whole text when it is shorter). Scores are cached by text.
    """

    name = "perplexity"

    def __init__(
        self,
        model_path: Path | str | None = None,
        *,
        logprobs: TokenLogprobs | None = None,
        window: int = 16,
        threshold: float = math.inf,
        floor: float = 0.0,
        cache_size: int = 4096,
        **model_options: Any,
    ) -> None:
        if logprobs is None:
            if model_path is None:
                raise ModelError("PerplexityLayer needs a model_path or a logprobs function")
            logprobs = GGUFLogprobs(model_path, **model_options)
        self.logprobs = logprobs
        self.window = window
        self.threshold = threshold
        self.floor = floor
        self._cache: OrderedDict[str, float] = OrderedDict()
        self._cache_size = cache_size

    def log_perplexity(self, text: str) -> float:
        found = self._cache.get(text)
        if found is not None:
            self._cache.move_to_end(text)
            return found
        values = self.logprobs(text)
        if not values:
            score = 0.0
        elif len(values) <= self.window:
            score = -sum(values) / len(values)
        else:
            running = -sum(values[: self.window])
            worst = running
            for i in range(self.window, len(values)):
                running += values[i - self.window] - values[i]
                worst = max(worst, running)
            score = worst / self.window
        self._cache[text] = score
        if len(self._cache) > self._cache_size:
            self._cache.popitem(last=False)
        return score

    def score(self, text: str) -> LayerScore:
        value = self.log_perplexity(text)
        return LayerScore(value, (f"perplexity {math.exp(min(value, 50)):.0f} per token",))
