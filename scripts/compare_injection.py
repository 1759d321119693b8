"""Fourth round: compare training data, features and heads for the learned layer, choosing
ONLY on in-repo held-out and cross-family sets (never an external corpus or AgentDojo).

    python scripts/compare_injection.py                 # everything (~15 min on two cores)
    python scripts/compare_injection.py --quick         # fewer texts, for a try

Every variant reads a text the way the layer does (normalised, MiniLM word pieces, windows
of 48 pieces every 24, decoded payloads; `learned.windows_of`), scores each window, takes the
worst, and is calibrated to 0.5% FPR on the same benign calibration texts (inclusive). Then
detection (and FPR) on the choice sets:

- generated test (third round's generator, another seed);
- grammar test, seen phrasing: fourth-round families, their `A` templates and goals, other seed;
- grammar test, UNSEEN phrasing: the `B` templates and goals, never trained on;
- attacks hidden in held-out Debian docs (the dev set with an injection inserted);
- travel attacks + clean_heldout, travel held-out attacks (tests/data, never trained on);
- Debian docs (dev, 400 benign) and held-out manual pages (benign, long, many languages);
- cross-family: trained without one fold of the new families, tested on that fold.

Variants: data (third round's vs fourth's), features (meaning = mean MiniLM input
embedding; pieces = hashed word pieces + adjacent pairs; chars = hashed character 4-grams;
all), heads (logistic regression, a one-hidden-layer MLP, gradient boosting on the
meaning block), and how a long text's windows are combined (the worst window's logit, or
minus alpha * log(number of windows), so that a 3 KB README's thirty chances to score high
do not add up to a false positive). Results: benchmarks/results/injection-compare-*.json.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("OMP_WAIT_POLICY", "passive")
sys.path.insert(0, str(Path(__file__).resolve().parent))

import numpy as np
from injection_corpus import (
    ALL_FAMILIES,
    Sample,
    in_repo,
    split,
)
from injection_grammar import (
    CROSS_FOLDS,
    NEW_FAMILIES,
    attacks,
    debian_docs_outside_dev,
    hard_benign,
    man_pages,
)
from scipy.sparse import csr_matrix, hstack

from lamas.security.calibration import inclusive_threshold
from lamas.security.learned import (
    _MIX_A,
    _MIX_B,
    EMBED_DIM,
    HASH_DIM,
    PieceReader,
    char_grams,
    windows_of,
)
from lamas.security.normalise import normalise

SEED = 18
FPR = 0.005
RESULTS = Path(__file__).resolve().parents[1] / "benchmarks" / "results"
BLOCKS = ("meaning", "pieces", "chars")


# --- features: three blocks, each its own columns ---------------------------------------


def _hashed(buckets: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    keys, counts = np.unique(buckets.astype(np.int64), return_counts=True)
    values = 1.0 + np.log(counts.astype(np.float32))
    norm = float(np.linalg.norm(values))
    return keys, (values / norm if norm else values).astype(np.float32)


def window_row(ids: Sequence[int], text: str, table: np.ndarray) -> tuple[np.ndarray, ...]:
    pieces = np.asarray(ids, dtype=np.uint64)
    if len(pieces):
        meaning = table[pieces.astype(np.int64)].mean(axis=0)
        norm = float(np.linalg.norm(meaning))
        meaning = meaning / norm if norm else meaning
    else:
        meaning = np.zeros(EMBED_DIM, np.float32)
    uni = (pieces * np.uint64(_MIX_A)) % np.uint64(HASH_DIM)
    pairs = (
        (pieces[:-1] * np.uint64(_MIX_A)) ^ (pieces[1:] * np.uint64(_MIX_B) + np.uint64(1))
    ) % (np.uint64(HASH_DIM))
    pk, pv = _hashed(np.concatenate([uni, pairs]))
    ck, cv = _hashed(char_grams(text))
    return meaning.astype(np.float32), pk, pv, ck, cv


@dataclass
class Windows:
    """Every window of a list of texts, as three feature blocks, and whose text it is."""

    meaning: np.ndarray
    pieces: csr_matrix
    chars: csr_matrix
    owner: np.ndarray
    n_texts: int

    def matrix(self, blocks: Sequence[str], rows: np.ndarray | None = None) -> csr_matrix:
        parts = []
        for block in blocks:
            part = csr_matrix(self.meaning) if block == "meaning" else getattr(self, block)
            parts.append(part if rows is None else part[rows])
        return hstack(parts, format="csr")

    def counts(self) -> np.ndarray:
        return np.bincount(self.owner, minlength=self.n_texts)


def featurise(texts: Sequence[str], reader: PieceReader, *, whole: bool = False) -> Windows:
    meanings, pk, pv, pp, ck, cv, cp, owner = [], [], [], [0], [], [], [0], []
    for i, text in enumerate(texts):
        if whole:
            head = normalise(text).text[:4000]
            spans = [(reader.tokenizer.encode(head, add_special_tokens=False).ids, head)]
        else:
            ids, covered = windows_of(text, reader)
            spans = list(zip(ids, covered, strict=True))
        for ids_, covered_ in spans:
            m, a, b, c, d = window_row(ids_, covered_, reader.table)
            meanings.append(m)
            pk.append(a)
            pv.append(b)
            pp.append(pp[-1] + len(a))
            ck.append(c)
            cv.append(d)
            cp.append(cp[-1] + len(c))
            owner.append(i)
    cat = lambda xs, dt: np.concatenate(xs).astype(dt) if xs else np.zeros(0, dt)  # noqa: E731
    n = len(owner)
    return Windows(
        np.stack(meanings) if meanings else np.zeros((0, EMBED_DIM), np.float32),
        csr_matrix((cat(pv, np.float32), cat(pk, np.int64), np.array(pp)), shape=(n, HASH_DIM)),
        csr_matrix((cat(cv, np.float32), cat(ck, np.int64), np.array(cp)), shape=(n, HASH_DIM)),
        np.asarray(owner, np.int64),
        len(texts),
    )


# --- heads --------------------------------------------------------------------------------


MLP_HIDDEN = 32
MLP_EPOCHS = 6
"""A first run with 64 hidden units and 25 epochs over the ~130,000 windows x 66,000 sparse
columns had not finished after 30 minutes on the shared two cores (Adam updates the whole
first layer every batch); this smaller MLP is what could be measured."""


def make_head(kind: str, seed: int) -> Any:
    if kind == "logreg":
        from sklearn.linear_model import LogisticRegression

        return LogisticRegression(C=1.0, class_weight="balanced", max_iter=2000, random_state=seed)
    if kind == "mlp":
        from sklearn.neural_network import MLPClassifier

        return MLPClassifier(
            hidden_layer_sizes=(MLP_HIDDEN,), alpha=1e-3, max_iter=MLP_EPOCHS, batch_size=512,
            random_state=seed, early_stopping=False,
        )  # fmt: skip
    if kind == "gboost":
        from sklearn.ensemble import HistGradientBoostingClassifier

        return HistGradientBoostingClassifier(
            max_iter=200, learning_rate=0.1, class_weight="balanced", random_state=seed
        )
    raise ValueError(kind)


def logits(head: Any, x: Any) -> np.ndarray:
    if hasattr(head, "decision_function"):
        return np.asarray(head.decision_function(x), np.float64)
    # float64 before clipping: a float32 probability of 1 - 1e-9 rounds to 1 (an infinite logit)
    p = np.clip(np.asarray(head.predict_proba(x)[:, 1], np.float64), 1e-12, 1 - 1e-12)
    return np.log(p / (1 - p))


def dense_if_needed(kind: str, x: csr_matrix) -> Any:
    return x.toarray() if kind == "gboost" else x


@dataclass
class Variant:
    name: str
    blocks: tuple[str, ...] = BLOCKS
    head: str = "logreg"
    alpha: float = 0.0
    """Text score = worst window logit - alpha * log(number of windows)."""
    data: str = "v4"


@dataclass
class Trained:
    variant: Variant
    head: Any
    threshold: float = 0.0
    seconds: float = 0.0
    info: dict[str, Any] = field(default_factory=dict)

    def text_scores(self, w: Windows) -> np.ndarray:
        x = dense_if_needed(self.variant.head, w.matrix(self.variant.blocks))
        z = logits(self.head, x) if x.shape[0] else np.zeros(0)
        worst = np.full(w.n_texts, -60.0)
        np.maximum.at(worst, w.owner, z)
        return worst - self.variant.alpha * np.log(np.maximum(1, w.counts()))


def train_variant(
    variant: Variant, train: Windows, whole: Windows, labels: np.ndarray, seed: int
) -> Trained:
    """Multiple-instance, as scripts/train_injection.py: a first model on whole texts picks
    each injected text's worst window; the head then learns from windows."""
    t0 = time.perf_counter()
    first = make_head("logreg", seed).fit(whole.matrix(variant.blocks), labels)
    z = logits(first, train.matrix(variant.blocks))
    worst = np.full(train.n_texts, -np.inf)
    np.maximum.at(worst, train.owner, z)
    is_worst = z >= worst[train.owner]
    positive = labels[train.owner] == 1
    rows = np.flatnonzero(~positive | is_worst)
    # one window per injected text (the first of ties)
    taken = np.zeros(train.n_texts, bool)
    keep = []
    for r in rows:
        owner = train.owner[r]
        if positive[r]:
            if taken[owner]:
                continue
            taken[owner] = True
        keep.append(r)
    rows = np.asarray(keep)
    y = positive[rows].astype(int)
    x = dense_if_needed(variant.head, train.matrix(variant.blocks, rows))
    head = make_head(variant.head, seed)
    if variant.head == "mlp":  # no class weights in sklearn's MLP: repeat the positives
        reps = max(1, int((y == 0).sum() / max(1, (y == 1).sum())))
        idx = np.concatenate([np.flatnonzero(y == 0)] + [np.flatnonzero(y == 1)] * reps)
        head.fit(x[idx], y[idx])
    else:
        head.fit(x, y)
    return Trained(
        variant, head, seconds=time.perf_counter() - t0, info={"train_windows": len(rows)}
    )


# --- data -----------------------------------------------------------------------------------


@dataclass
class Data:
    train: list[Sample]
    calibration: list[Sample]
    choice: dict[str, list[Sample]]


def hidden_in(rng: random.Random, hosts: list[Sample], n: int, half: str) -> list[Sample]:
    """Fourth-round injections inserted at a random line of real documents."""
    from injection_grammar import attack_body

    out = []
    for i in range(n):
        family = NEW_FAMILIES[i % len(NEW_FAMILIES)]
        body, lang = attack_body(rng, family, half)
        lines = rng.choice(hosts).text.split("\n")
        lines.insert(rng.randint(0, len(lines)), body)
        out.append(Sample("\n".join(lines), 1, family, lang, "hidden_in_doc"))
    return out


def debian_dev() -> list[Sample]:
    from train_sentences import debian_docs

    return debian_docs()


def build(seed: int, quick: bool, new_families: tuple[str, ...] = NEW_FAMILIES) -> Data:
    """Third round's split, plus (data v4) the grammar families' A half, human-addressed
    benign texts, manual pages and the Debian docs outside the dev set."""
    old = split(
        seed, ALL_FAMILIES, n_benign=1200 if quick else 2400, n_attacks=900 if quick else 1800
    )
    scale = 0.5 if quick else 1.0
    rng = random.Random(seed + 40)
    man = man_pages(int(3000 * scale), seed=seed)
    man_train, man_cal, man_test = man[0::3], man[1::3], man[2::3]
    docs_out = debian_docs_outside_dev()
    dev = debian_dev()
    v4_train = (
        attacks(rng, int(2400 * scale), new_families, "A")
        + hard_benign(rng, int(2400 * scale))
        + man_train
        + docs_out
        + hidden_in(rng, man_train + docs_out, int(600 * scale), "A")
    )
    v4_cal = hard_benign(random.Random(seed + 41), int(600 * scale)) + man_cal
    test_rng = random.Random(seed + 42)
    benign_test = hard_benign(test_rng, 800)
    choice = {
        "generated test (3rd-round generator)": old.test_benign + old.test_attacks,
        "grammar, seen phrasing": attacks(test_rng, 800, NEW_FAMILIES, "A") + benign_test,
        "grammar, UNSEEN phrasing": attacks(test_rng, 800, NEW_FAMILIES, "B") + benign_test,
        "injected into Debian dev docs": hidden_in(test_rng, dev, 400, "B"),
        "travel attacks + clean_heldout": in_repo("attacks.jsonl") + in_repo("clean_heldout.jsonl"),
        "travel held-out attacks": in_repo("attacks_heldout.jsonl"),
        "Debian docs (dev, benign)": dev,
        "man pages (held out, benign)": man_test,
    }
    data = Data(old.train + v4_train, old.calibration + v4_cal, choice)
    data.old_train = old.train  # type: ignore[attr-defined]
    data.old_calibration = old.calibration  # type: ignore[attr-defined]
    return data


# --- evaluation -----------------------------------------------------------------------------


def rates(scores: np.ndarray, samples: Sequence[Sample], threshold: float) -> dict[str, Any]:
    hits = scores >= threshold
    labels = np.array([s.label for s in samples])
    out: dict[str, Any] = {}
    if (labels == 1).any():
        out["detected"] = float(hits[labels == 1].mean())
        fams: dict[str, list[bool]] = {}
        for h, s in zip(hits, samples, strict=True):
            if s.label:
                fams.setdefault(s.family, []).append(bool(h))
        out["families"] = {f: round(float(np.mean(v)), 3) for f, v in sorted(fams.items())}
    if (labels == 0).any():
        out["fpr"] = float(hits[labels == 0].mean())
    out["n"] = len(samples)
    return out


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--seed", type=int, default=SEED)
    parser.add_argument("--only", default="", help="comma-separated variant names")
    parser.add_argument("--no-cross", action="store_true")
    args = parser.parse_args()
    started = time.perf_counter()
    reader = PieceReader.shared()
    data = build(args.seed, args.quick)
    print(
        f"data built in {time.perf_counter() - started:.0f} s: {len(data.train)} train, "
        f"{len(data.calibration)} calibration",
        flush=True,
    )
    cache: dict[int, Windows] = {}

    def feats(samples: list[Sample], whole: bool = False) -> Windows:
        key = hash((id(samples), whole))
        if key not in cache:
            cache[key] = featurise([s.text for s in samples], reader, whole=whole)
        return cache[key]

    variants = [
        Variant("3rd-round data, logreg, all blocks (= shipped recipe)", data="v3"),
        Variant("v4 data, logreg, all blocks"),
        Variant("v4 data, logreg, all, alpha 0.5", alpha=0.5),
        Variant("v4 data, logreg, all, alpha 1", alpha=1.0),
        Variant("v4 data, logreg, meaning only", blocks=("meaning",)),
        Variant("v4 data, logreg, pieces only", blocks=("pieces",)),
        Variant("v4 data, logreg, chars only", blocks=("chars",)),
        Variant("v4 data, logreg, meaning+pieces", blocks=("meaning", "pieces")),
        Variant(f"v4 data, MLP({MLP_HIDDEN}), all blocks", head="mlp"),
        Variant("v4 data, gradient boosting, meaning", blocks=("meaning",), head="gboost"),
    ]
    if args.only:
        wanted = set(args.only.split(","))
        variants = [v for v in variants if v.name in wanted or str(variants.index(v)) in wanted]
    t0 = time.perf_counter()
    sets = {
        "v3": (data.old_train, data.old_calibration),  # type: ignore[attr-defined]
        "v4": (data.train, data.calibration),
    }
    choice_feats = {name: feats(samples) for name, samples in data.choice.items()}
    print(f"features in {time.perf_counter() - t0:.0f} s", flush=True)
    results: dict[str, Any] = {
        "seed": args.seed,
        "quick": args.quick,
        "fpr_target": FPR,
        "variants": {},
    }
    for variant in variants:
        train, calibration = sets[variant.data]
        labels = np.array([s.label for s in train])
        trained = train_variant(variant, feats(train), feats(train, whole=True), labels, args.seed)
        trained.threshold = inclusive_threshold(list(trained.text_scores(feats(calibration))), FPR)
        row: dict[str, Any] = {"train_seconds": round(trained.seconds, 1), **trained.info}
        for name, samples in data.choice.items():
            row[name] = rates(trained.text_scores(choice_feats[name]), samples, trained.threshold)
        results["variants"][variant.name] = row
        print(
            variant.name,
            json.dumps(
                {
                    k: (
                        v
                        if not isinstance(v, dict)
                        else {kk: vv for kk, vv in v.items() if kk != "families"}
                    )
                    for k, v in row.items()
                }
            ),
            flush=True,
        )
    if not args.no_cross:
        results["cross_family"] = cross_family(args, reader, data, feats)
    RESULTS.mkdir(parents=True, exist_ok=True)
    out = RESULTS / f"injection-compare-{'quick' if args.quick else 'full'}.json"
    out.write_text(json.dumps(results, indent=1, sort_keys=True))
    print(f"wrote {out} in {time.perf_counter() - started:.0f} s")
    return 0


def cross_family(
    args: Any, reader: PieceReader, data: Data, feats: Callable[..., Windows]
) -> dict[str, Any]:
    """Each fold of the new families held out of training (both halves of its templates);
    tested on the held-out fold's UNSEEN-phrasing attacks; FPR on the grammar benign test."""
    out: dict[str, Any] = {}
    benign = [s for s in data.choice["grammar, UNSEEN phrasing"] if not s.label]
    for i, kept in enumerate(CROSS_FOLDS):
        held = tuple(f for f in NEW_FAMILIES if f not in kept)
        fold = build(args.seed, args.quick, new_families=kept)
        test = attacks(random.Random(args.seed + 50 + i), 600, held, "B") + benign
        for variant in (
            Variant("v4 logreg all"),
            Variant("v4 logreg pieces", blocks=("pieces",)),
            Variant("v4 logreg all, alpha 0.5", alpha=0.5),
        ):
            labels = np.array([s.label for s in fold.train])
            trained = train_variant(
                variant, feats(fold.train), feats(fold.train, whole=True), labels, args.seed
            )
            trained.threshold = inclusive_threshold(
                list(trained.text_scores(feats(fold.calibration))), FPR
            )
            row = rates(trained.text_scores(feats(test)), test, trained.threshold)
            out[f"fold {i + 1} (held out: {', '.join(held)}): {variant.name}"] = row
            print(
                "cross",
                i + 1,
                variant.name,
                row.get("detected"),
                row.get("fpr"),
                row.get("families"),
                flush=True,
            )
    return out


if __name__ == "__main__":
    raise SystemExit(main())
