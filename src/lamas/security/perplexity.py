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


CHARS_PER_TOKEN_BOUND = 16
"""No token is longer than this many characters (the cut in `bounded` relies on it)."""
CONTEXT_MARGIN = 8


def bounded(text: str, max_tokens: int) -> str:
    """The part of a text the layer can score: its head and its tail, each long enough for
    `max_tokens` tokens and their left context. A longer text is cut in the middle (its
    middle is for the other layers, which read everything), so tokenizing costs a bounded
    time whatever the length."""
    keep = CHARS_PER_TOKEN_BOUND * 4 * max(1, max_tokens)
    if len(text) <= 2 * keep:
        return text
    return text[:keep] + "\n...\n" + text[-keep:]


def scored_runs(n_ids: int, start: int, max_tokens: int, n_ctx: int) -> list[tuple[int, range]]:
    """Which token positions to score, as runs `(context start, positions)`.

    At most `max_tokens` positions after `start` (the first and the last half of them when
    there are more), and every prompt, `ids[first:i]`, fits the model's context `n_ctx`:
    a position far into a long text is scored in the window of tokens just before it.
    """
    max_tokens = max(1, min(max_tokens, n_ctx // 2))
    positions = range(start, n_ids)
    if len(positions) <= max_tokens:
        runs = [positions]
    else:
        half = max_tokens // 2
        runs = [range(start, start + half), range(n_ids - (max_tokens - half), n_ids)]
    room = max(1, n_ctx - CONTEXT_MARGIN - max_tokens)
    out: list[tuple[int, range]] = []
    for run in runs:
        if len(run):
            out.append((max(0, run[0] - room), run))
    return out


class GGUFLogprobs:
    """Per-token log-probabilities of a text under a GGUF model, run by xllamacpp.

    llama.cpp's server reports log-probabilities of generated tokens only (no `echo`), so
    each token is scored in turn: the prompt is the prefix as token ids (the server's cache
    keeps it, so each step evaluates one token), the token itself is forced with a large
    logit bias, and the server reports its log-probability under the raw distribution.
    The text is tokenized by the server's own `/tokenize` on its loopback port. The cost is
    one decode step per token (about 20 ms with the 135M model on two cores), so texts are
    cut to `max_tokens`: the first and the last `max_tokens / 2` of a longer text are scored
    (each in the window of left context that fits `n_ctx`, which the server evaluates in
    one batch), since an injection tends to sit at the start or the end of the text it
    hides in; a text of any length costs the same (`bounded`, `scored_runs`). A token that is
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
            ids = self._tokenize(server, self.prefix + bounded(text, self.max_tokens))
            runs = scored_runs(len(ids), start, self.max_tokens, self._n_ctx)
            logprobs: list[float] = []
            for first, positions in runs:
                logprobs.extend(self._score_run(server, ids, first, positions))
            return logprobs

    def _score_run(self, server: Any, ids: list[int], first: int, positions: range) -> list[float]:
        """Log-probabilities of `ids[i]` for i in `positions`, each in the context `ids[first:i]`
        (one shared start, so the server's prompt cache evaluates one token per step)."""
        logprobs: list[float] = []
        for i in positions:
            result = server.handle_completions(
                {
                    "prompt": ids[first:i],
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
