"""Train and compare the sentence-level learned layer (lamas.security.sentences).

    python scripts/train_sentences.py                    # train, compare on in-repo data
    python scripts/train_sentences.py --cross-family     # also the cross-family split
    python scripts/train_sentences.py --out PATH         # write the chosen model

Data: the same training split as the word-piece layer (scripts/injection_corpus.py,
seed 18; never the external corpora, the travel attack sets or AgentDojo). Training is
multiple-instance: every sentence of a benign text is benign; an injected text has at
least one injected sentence, taken to be the one a first model (every sentence of an
injected text weighted 1/n) scores highest. Variants compared:

- `cheap`: logistic regression over the `addressed` features only (no encoder);
- `minilm`: MiniLM sentence embedding + the `addressed` features;
- `cascade`: the word-piece layer first; only texts it scores at or above a gate (set so
  that it passes 98% of the training attacks) are read by `minilm`, which decides.

Choice data (`--dev`): the generated test split (other seed), the travel attack sets and
clean_heldout (in-repo, never trained on), 400 Debian package documents under
/usr/share/doc (benign prose nobody here wrote; used for choices since the second round),
and the cross-family split. Thresholds: at 0.5% FPR on the calibration texts, inclusive.
"""

from __future__ import annotations

import argparse
import gzip
import json
import os
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("OMP_WAIT_POLICY", "passive")
sys.path.insert(0, str(Path(__file__).resolve().parent))

from injection_corpus import ALL_FAMILIES, CROSS_FAMILY_FOLDS, Sample, in_repo, split

from lamas.security.calibration import calibrate, flags
from lamas.security.learned import LearnedLayer
from lamas.security.sentences import (
    ADDRESSED,
    ENCODERS,
    SentenceModel,
    addressed_matrix,
    ranked,
    sentences,
)

if TYPE_CHECKING:
    import numpy as np
    from numpy.typing import NDArray

SEED = 18
FPR = 0.005
GATE_RECALL = 0.98
ROOT = Path(__file__).resolve().parents[1]


class Cache:
    """Sentence embeddings, computed once per distinct sentence (templated data repeats),
    shared by every model trained in one run; `--cache FILE` keeps them across runs."""

    shared: ClassVar[dict[str, NDArray[np.float32]]] = {}
    file: ClassVar[Path | None] = None

    def __init__(self, variant: str) -> None:
        self.variant = variant
        self.vectors: dict[str, NDArray[np.float32]] = Cache.shared if variant == "minilm" else {}
        self.encoder: Any = None
        if variant in ENCODERS:
            self.encoder = ENCODERS[variant]()

    @classmethod
    def load(cls, path: Path) -> None:
        import numpy as np

        cls.file = path
        if path.is_file():
            with np.load(path, allow_pickle=False) as data:
                cls.shared.update(zip(data["keys"].tolist(), data["vectors"], strict=True))
            print(f"{len(cls.shared)} cached sentence embeddings from {path}")

    @classmethod
    def save(cls) -> None:
        import numpy as np

        if cls.file is not None and cls.shared:
            keys = list(cls.shared)
            np.savez(cls.file, keys=np.array(keys), vectors=np.stack([cls.shared[k] for k in keys]))

    def get(self, items: Sequence[str]) -> NDArray[np.float32] | None:
        import numpy as np

        if self.encoder is None:
            return None
        missing = sorted({s for s in items if s not in self.vectors})
        for at in range(0, len(missing), 256):
            batch = missing[at : at + 256]
            for s, v in zip(batch, self.encoder(batch), strict=True):
                self.vectors[s] = v
            if at % 10240 == 0:
                print(f"  encoded {at + len(batch)} of {len(missing)} new sentences", flush=True)
        if len(missing) > 1000 and self.variant == "minilm":
            Cache.save()
        if not items:
            return np.zeros((0, 384), np.float32)
        return np.stack([self.vectors[s] for s in items])


def text_sentences(texts: Sequence[str]) -> list[list[str]]:
    return [ranked(sentences(t)) or [""] for t in texts]


def features(cache: Cache, items: Sequence[str]) -> NDArray[np.float32]:
    import numpy as np

    cheap = addressed_matrix(items)
    vectors = cache.get(items)
    return cheap if vectors is None else np.hstack([vectors, cheap]).astype(np.float32)


def fit(x: Any, y: Sequence[int], weights: Sequence[float], c: float) -> tuple[Any, float]:
    import numpy as np
    from sklearn.linear_model import LogisticRegression

    model = LogisticRegression(C=c, class_weight="balanced", max_iter=3000, random_state=SEED)
    model.fit(x, np.asarray(y), sample_weight=np.asarray(weights))
    return model.coef_[0], float(model.intercept_[0])


def to_model(coef: Any, bias: float, encoded: bool) -> SentenceModel:
    import numpy as np

    n = len(ADDRESSED)
    embedding = coef[:-n] if encoded else np.zeros(0, np.float32)
    return SentenceModel(
        np.asarray(embedding, np.float32), np.asarray(coef[-n:], np.float32), bias, 0.5, {}
    )


def text_score(model: SentenceModel, cache: Cache, items: list[str]) -> float:
    import math

    z = float(model.logits(items, cache.get(items)).max())
    return 1.0 / (1.0 + math.exp(-max(-60.0, min(60.0, z))))


def train(data: Any, cache: Cache, c: float) -> SentenceModel:
    """Two passes (every sentence of an injected text, then its worst one), then the
    threshold at `FPR` on the calibration texts."""
    import numpy as np

    texts = [s.text for s in data.train]
    labels = [s.label for s in data.train]
    split_texts = text_sentences(texts)
    rows: list[str] = []
    y: list[int] = []
    w: list[float] = []
    for items, label in zip(split_texts, labels, strict=True):
        rows += items
        y += [label] * len(items)
        w += [1.0 / len(items) if label else 1.0] * len(items)
    encoded = cache.encoder is not None
    coef, bias = fit(features(cache, rows), y, w, c)
    first = to_model(coef, bias, encoded)
    rows, y = [], []
    for items, label in zip(split_texts, labels, strict=True):
        if label:
            logits = first.logits(items, cache.get(items))
            rows.append(items[int(np.argmax(logits))])
            y.append(1)
        else:
            rows += items
            y += [0] * len(items)
    coef, bias = fit(features(cache, rows), y, [1.0] * len(y), c)
    model = to_model(coef, bias, encoded)
    scores = [text_score(model, cache, items) for items in text_sentences(
        [s.text for s in data.calibration]
    )]  # fmt: skip
    fitted = calibrate(scores, FPR)
    info = {"seed": SEED, "target_fpr": FPR, "C": c, "encoder": cache.variant if encoded
            else None, "train_texts": len(texts), "train_sentences": len(rows),
            "calibration_texts": fitted.benign}  # fmt: skip
    return SentenceModel(model.embedding, model.cheap, model.bias, fitted.threshold, info)


def debian_docs(limit: int = 400, chars: int = 3000) -> list[Sample]:
    """Benign prose nobody here wrote: READMEs, NEWS and FAQs under /usr/share/doc."""
    out: list[Sample] = []
    for path in sorted(Path("/usr/share/doc").glob("*/*")):
        name = path.name.lower()
        if not name.startswith(("readme", "news", "faq")) or not path.is_file():
            continue
        try:
            if name.endswith(".gz"):
                with gzip.open(path) as packed:
                    raw = packed.read()
            else:
                raw = path.read_bytes()
        except OSError:
            continue
        text = raw[: chars * 2].decode("utf-8", "replace")[:chars]
        if len(text) >= 200:
            out.append(Sample(text, 0, "debian_doc", source=str(path)))
    return out[:limit]


def choice_sets(data: Any) -> dict[str, list[Sample]]:
    return {
        "generated test": data.test_benign + data.test_attacks,
        "travel attacks + clean_heldout": in_repo("attacks.jsonl") + in_repo("clean_heldout.jsonl"),
        "travel held-out": in_repo("attacks_heldout.jsonl"),
        "Debian docs (dev)": debian_docs(),
    }


def rates(hits: Sequence[bool], samples: Sequence[Sample]) -> str:
    pos = [h for h, s in zip(hits, samples, strict=True) if s.label]
    neg = [h for h, s in zip(hits, samples, strict=True) if not s.label]
    det = f"{sum(pos) / len(pos):6.1%}" if pos else "     -"
    fpr = f"{sum(neg) / len(neg):6.2%}" if neg else "     -"
    return f"det {det} fpr {fpr}"


class Cascade:
    """The word-piece layer, and `minilm` only for texts it scores at or above `gate`."""

    def __init__(self, words: LearnedLayer, model: SentenceModel, cache: Cache, gate: float):
        self.words, self.model, self.cache, self.gate = words, model, cache, gate
        self.second = 0

    def flag(self, text: str) -> bool:
        if self.words.score(text).score < self.gate:
            return False
        self.second += 1
        return flags(text_score(self.model, self.cache, text_sentences([text])[0]),
                     self.model.threshold)  # fmt: skip


def gate_for(words: LearnedLayer, data: Any) -> float:
    """The highest gate that still passes `GATE_RECALL` of the training attacks."""
    attacks = sorted(words.score(s.text).score for s in data.train if s.label)
    return attacks[int((1 - GATE_RECALL) * len(attacks))]


def compare(
    data: Any, models: dict[str, SentenceModel], caches: dict[str, Cache], second: str
) -> dict[str, Any]:
    words = LearnedLayer()
    sets = choice_sets(data)
    gate = gate_for(words, data)
    result: dict[str, Any] = {"gate": gate}
    cascade = Cascade(words, models[second], caches[second], gate) if second in models else None
    # the cascade's threshold: its own calibration, on the texts that pass the gate
    if cascade is not None:
        passed = [s for s in data.calibration if words.score(s.text).score >= gate]
        scores = [text_score(cascade.model, cascade.cache, text_sentences([s.text])[0])
                  for s in passed]  # fmt: skip
        share = FPR * len(data.calibration) / max(1, len(passed))
        threshold = calibrate(scores, min(share, 0.5)).threshold
        model = cascade.model
        cascade.model = SentenceModel(
            model.embedding, model.cheap, model.bias, threshold, model.info
        )
        result["cascade_threshold"] = cascade.model.threshold
        result["calibration_passing_gate"] = len(passed) / len(data.calibration)
    for name, samples in sets.items():
        row: dict[str, str] = {}
        row["words (current)"] = rates([flags(words.score(s.text).score, words.threshold)
                                        for s in samples], samples)  # fmt: skip
        for variant, model in models.items():
            cache = caches[variant]
            t0 = time.perf_counter()
            hits = [flags(text_score(model, cache, items), model.threshold)
                    for items in text_sentences([s.text for s in samples])]  # fmt: skip
            row[variant] = (
                rates(hits, samples)
                + f" ({(time.perf_counter() - t0) * 1000 / max(1, len(samples)):.1f} ms/text)"
            )
        if cascade is not None:
            cascade.second = 0
            hits = [cascade.flag(s.text) for s in samples]
            row["cascade"] = (
                rates(hits, samples)
                + f" (2nd stage on {cascade.second / max(1, len(samples)):.0%})"
            )
        result[name] = row
        print(name, json.dumps(row, indent=1))
    return result


def cross_family(c: float, variants: Sequence[str]) -> dict[str, Any]:
    full = split(SEED)
    out: dict[str, Any] = {}
    for i, fold in enumerate(CROSS_FAMILY_FOLDS):
        held_out = tuple(f for f in ALL_FAMILIES if f not in fold)
        data = split(SEED, fold)
        tests = [s for s in full.test_attacks if s.family in held_out]
        tests += [
            s for s in full.train if s.label and s.family in held_out and s.source != "generated"
        ]
        row: dict[str, Any] = {}
        for variant in variants:
            cache = Cache(variant)
            model = train(data, cache, c)
            hits = [flags(text_score(model, cache, items), model.threshold)
                    for items in text_sentences([s.text for s in tests])]  # fmt: skip
            fp = [flags(text_score(model, cache, items), model.threshold)
                  for items in text_sentences([s.text for s in full.test_benign])]  # fmt: skip
            row[variant] = {"detection": sum(hits) / len(hits), "fpr": sum(fp) / len(fp)}
        out[f"fold {i + 1}"] = row
        print(f"cross-family fold {i + 1}:", row)
    return out


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--variants", default="cheap,minilm")
    parser.add_argument("--C", type=float, default=1.0)
    parser.add_argument("--cross-family", action="store_true")
    parser.add_argument("--second", default="minilm", help="the cascade's second stage")
    parser.add_argument("--out", type=Path, default=None, help="write the --second model here")
    parser.add_argument("--json", type=Path, default=None, help="write the comparison here")
    parser.add_argument("--cache", type=Path, default=None, help="sentence embeddings kept here")
    args = parser.parse_args()
    if args.cache is not None:
        Cache.load(args.cache)
    variants = args.variants.split(",")
    data = split(SEED)
    models: dict[str, SentenceModel] = {}
    caches: dict[str, Cache] = {}
    for variant in variants:
        t0 = time.perf_counter()
        caches[variant] = Cache(variant)
        models[variant] = train(data, caches[variant], args.C)
        print(f"{variant}: trained in {time.perf_counter() - t0:.0f} s, threshold "
              f"{models[variant].threshold:.4f}, {models[variant].info}")  # fmt: skip
    result = {"compare": compare(data, models, caches, args.second)}
    if args.out is not None and args.second in models:
        chosen = models[args.second]
        extra = {
            k: result["compare"][k] for k in ("gate", "cascade_threshold") if k in result["compare"]
        }
        SentenceModel(chosen.embedding, chosen.cheap, chosen.bias, chosen.threshold,
                      {**chosen.info, **extra}).save(args.out)  # fmt: skip
    if args.json is not None:
        args.json.write_text(json.dumps(result, indent=1))
    if args.cross_family:
        result["cross_family"] = cross_family(args.C, variants)
    Cache.save()
    if args.json is not None:
        args.json.write_text(json.dumps(result, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
