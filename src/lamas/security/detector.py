"""A layered prompt-injection detector, calibrated on clean traffic (paper §2.5).

Layers, each scoring a text and flagging it when the score is at or above its threshold
(inclusive, `calibration.flags`):

- `RuleLayer` (`rules.py`): known attack patterns over *normalised* text (homoglyphs
  folded, zero-width and bidi controls dropped, hidden Unicode tag characters decoded,
  spaced-out and leet words rejoined; base64, hex and ROT13 payloads decoded and scanned
  too). Each rule has a weight; the score is the sum of the weights of the rules that match.
- `PerplexityLayer` (`perplexity.py`): the perplexity filter of Alon & Kamfonas (2023) and
  Jain et al. (2023): the text's per-token perplexity under the local GGUF model, taken as the worst
  mean negative log-likelihood over a sliding window of tokens, so that an adversarial
  suffix appended to ordinary text still stands out.
- `LearnedLayer` (`learned.py`): a linear classifier over MiniLM word pieces, trained by
  scripts/train_injection.py on public injection corpora, scored per overlapping chunk.
- `ClassifierLayer`: any scoring function (a trained classifier), optional.

`Detector.default()` is rules + the learned layer. `Detector.calibrate(clean_texts,
target_fpr)` sets each layer's threshold to the lowest value that flags at most its share
of `target_fpr` of legitimate traffic (`calibration.inclusive_threshold`; the budget is
split evenly between the layers). `screen()` is the middleware that
quarantines flagged content from other agents (records it, does not deliver it) and raises
`InjectionDetected` naming the reasons.
"""

from __future__ import annotations

import asyncio
import math
import time
from collections.abc import Callable, Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from lamas.errors import InputError, TooLarge
from lamas.protocol.messages import DataPart, Envelope, TextPart
from lamas.protocol.types import Context, Handler, Middleware, Reply
from lamas.security.calibration import calibrate, flags
from lamas.security.chunking import WindowedLayer
from lamas.security.layer import Layer, LayerScore
from lamas.security.rules import RuleLayer


@dataclass(frozen=True, slots=True)
class Detection:
    """The verdict on one text: flagged or not, each layer's score and threshold, and why."""

    flagged: bool
    scores: Mapping[str, float]
    reasons: tuple[str, ...]
    thresholds: Mapping[str, float] = field(default_factory=dict)
    notes: tuple[str, ...] = ()
    """Patterns that matched without reaching a threshold (for the record, not a verdict)."""


class InjectionDetected(InputError):
    """Content from another agent was flagged as a prompt injection and quarantined."""

    def __init__(self, sender: str, detection: Detection) -> None:
        self.sender = sender
        self.detection = detection
        self.scores = dict(detection.scores)
        self.reasons = detection.reasons
        shown = "; ".join(detection.reasons) or "no reason given"
        super().__init__(
            f"content from {sender!r} looks like a prompt injection and was quarantined, "
            f"not delivered ({shown}); review it in the quarantine log"
        )


class ClassifierLayer:
    """Any scoring function as a layer, e.g. a trained injection classifier's probability."""

    def __init__(
        self,
        scorer: Callable[[str], float],
        *,
        name: str = "classifier",
        threshold: float = 0.5,
        floor: float = 0.0,
    ) -> None:
        self.scorer = scorer
        self.name = name
        self.threshold = threshold
        self.floor = floor

    def score(self, text: str) -> LayerScore:
        value = float(self.scorer(text))
        return LayerScore(value, (f"{self.name} score {value:.3f}",))


# --- the detector -----------------------------------------------------------


def quantile_threshold(scores: Sequence[float], fpr: float) -> float:
    """The smallest threshold such that at most `fpr` of `scores` lie strictly above it
    (the strict convention; the detector itself uses `calibration.inclusive_threshold`)."""
    if not scores:
        raise InputError("calibration needs at least one clean text")
    ordered = sorted(scores, reverse=True)
    allowed = math.floor(fpr * len(ordered) + 1e-9)
    return ordered[min(allowed, len(ordered) - 1)]


RULE_THRESHOLD = 1.0
"""The rule layer's threshold under the inclusive comparison: one strong rule's weight (or
two weak ones). `RuleLayer`'s own default, 0.9, was meant for a strict `>`: legitimate
messages that match two weak rules (an outside address and "send") score exactly 0.9."""


def rule_layer() -> WindowedLayer:
    """The rule layer as the detector uses it: `RULE_THRESHOLD` (also its calibration
    floor), read in overlapping 1 KB windows so that a megabyte costs linear time."""
    return WindowedLayer(RuleLayer(threshold=RULE_THRESHOLD, floor=RULE_THRESHOLD))


class Detector:
    """Layers in order; a text is flagged when any layer scores at or above its threshold."""

    def __init__(self, layers: Iterable[Layer] | None = None) -> None:
        self.layers: list[Layer] = list(layers) if layers is not None else [rule_layer()]
        names = [layer.name for layer in self.layers]
        if len(set(names)) != len(names):
            raise InputError(f"detector layers need distinct names, got {names}")

    @classmethod
    def default(cls) -> Detector:
        """Rules and the learned layer (its threshold as calibrated when it was trained)."""
        from lamas.security.learned import LearnedLayer

        return cls([rule_layer(), LearnedLayer()])

    def calibrate(self, clean_texts: Iterable[str], target_fpr: float = 0.01) -> dict[str, float]:
        """Set each layer's threshold from legitimate traffic and return them.

        The false-positive budget is split evenly between layers, so the union of their
        flags stays within `target_fpr` on `clean_texts`; a threshold never goes below
        the layer's `floor`. A text scoring exactly the threshold is flagged.
        """
        if not 0 <= target_fpr < 1:
            raise InputError(f"target_fpr must be in [0, 1), got {target_fpr}")
        texts = list(clean_texts)
        share = target_fpr / max(1, len(self.layers))
        for layer in self.layers:
            scores = [layer.score(t).score for t in texts]
            layer.threshold = calibrate(scores, share, layer.floor).threshold
        return self.thresholds

    @property
    def thresholds(self) -> dict[str, float]:
        return {layer.name: layer.threshold for layer in self.layers}

    def score(self, text: str) -> Detection:
        scores: dict[str, float] = {}
        reasons: list[str] = []
        notes: list[str] = []
        for layer in self.layers:
            result = layer.score(text)
            scores[layer.name] = result.score
            if flags(result.score, layer.threshold):
                reasons.extend(f"{layer.name}: {r}" for r in result.reasons)
                reasons.append(
                    f"{layer.name} score {result.score:.2f} >= threshold {layer.threshold:.2f}"
                )
            else:
                notes.extend(f"{layer.name}: {r}" for r in result.reasons)
        return Detection(bool(reasons), scores, tuple(reasons), self.thresholds, tuple(notes))


# --- quarantine and the middleware -------------------------------------------


@dataclass(frozen=True, slots=True)
class QuarantineRecord:
    at: float
    envelope: Envelope
    detection: Detection


class QuarantineLog:
    """Keeps what `screen()` quarantined, in memory, for review (use as its `quarantine`)."""

    def __init__(self, keep: int = 1_000) -> None:
        self.records: list[QuarantineRecord] = []
        self.keep = keep  # the newest this many: a flood of 1 MB injections must not fill memory

    def __call__(self, envelope: Envelope, detection: Detection) -> None:
        self.records.append(QuarantineRecord(time.time(), envelope, detection))
        if len(self.records) > self.keep:
            del self.records[: len(self.records) - self.keep]

    def __len__(self) -> int:
        return len(self.records)


def envelope_text(envelope: Envelope) -> str:
    """All the text an envelope carries: text parts and every string inside data parts."""
    pieces: list[str] = []

    def strings(value: Any) -> None:
        if isinstance(value, str):
            pieces.append(value)
        elif isinstance(value, dict):
            for item in value.values():
                strings(item)
        elif isinstance(value, list):
            for item in value:
                strings(item)

    for part in envelope.message.parts:
        if isinstance(part, TextPart):
            pieces.append(part.text)
        elif isinstance(part, DataPart):
            strings(part.data)
    return "\n".join(pieces)


MAX_TEXT_CHARS = 1_048_576
"""The most text one envelope may carry to be screened (a larger one is refused whole)."""
OFFLOAD_CHARS = 8_000
"""Texts longer than this are screened in a worker thread: the rules take ~0.2 us a
character, so from here on screening would hold the event loop for milliseconds."""


def screen(
    detector: Detector,
    *,
    quarantine: Callable[[Envelope, Detection], None],
    trusted: Collection[str] = (),
    max_chars: int = MAX_TEXT_CHARS,
) -> Middleware:
    """Middleware: envelopes from other agents (senders not in `trusted`) are scored; a
    flagged one is handed to `quarantine` (recorded, not delivered) and the sender gets
    `InjectionDetected` naming the reasons. An envelope with more than `max_chars` of text
    is refused (`TooLarge`) unscreened. Layers that run a model, and any long text, are
    scored in a worker thread, so the event loop stays free (the node keeps answering)."""
    trusted_senders = frozenset(trusted)
    offload = any(
        not isinstance(getattr(layer, "inner", layer), RuleLayer) for layer in detector.layers
    )

    def middleware(handler: Handler) -> Handler:
        async def screened(envelope: Envelope, context: Context) -> Reply:
            if envelope.sender not in trusted_senders and envelope.sender != context.agent_id:
                text = envelope_text(envelope)
                if len(text) > max_chars:
                    raise TooLarge(
                        f"the text of envelope {envelope.id} from {envelope.sender!r}",
                        len(text),
                        max_chars,
                        "characters",
                        "the screen's max_chars (lamas serve --max-text-chars)",
                    )
                if text:
                    detection = (
                        await asyncio.to_thread(detector.score, text)
                        if offload or len(text) > OFFLOAD_CHARS
                        else detector.score(text)
                    )
                    if detection.flagged:
                        quarantine(envelope, detection)
                        raise InjectionDetected(envelope.sender, detection)
            return await handler(envelope, context)

        return screened

    return middleware
