"""Detection rate and false positives of the detector's layers, per corpus and per family.

Used by benchmarks/injection.py. Sets:
- in-repo: the generated test split (same generator as training, other seed), the travel
  attack sets (tests/data/attacks*.jsonl) and clean_heldout.jsonl (clean.jsonl calibrates);
- external, never trained or calibrated on: the five corpora of tests/data/injection/external
  (bastioncorpus also brings benign hard negatives), and benign documentation the
  project never saw: the long descriptions of the installed Python distributions;
- cross-family: the learned layer retrained on one fold of attack families and tested on
  the other (tests/data/injection/PROVENANCE.md lists the families); since the fourth round
  also on one fold of the grammar families (scripts/injection_grammar.py), tested on the
  other fold's phrasings that no training saw;
- fourth round, in-repo: the grammar families' held-out phrasings (`B` half) with benign
  texts that address a human, and the held-out third of the manual pages (benign, long).
With `baseline` (a weights file, e.g. the third round's), its learned layer is measured in
the same run, beside the shipped one.
Latency: wall time per output of the whole detector, p50 and p95.
"""

from __future__ import annotations

import os
import statistics
import sys
import time
from collections import defaultdict
from collections.abc import Iterable, Sequence
from importlib import metadata
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "scripts"))

from injection_corpus import (
    ALL_FAMILIES,
    CROSS_FAMILY_FOLDS,
    EXTERNAL,
    Sample,
    external,
    in_repo,
    split,
)
from injection_grammar import CROSS_FOLDS, NEW_FAMILIES, grammar_test, man_thirds
from rich.console import Console
from rich.table import Table

from lamas.security.calibration import flags
from lamas.security.detector import Detector, rule_layer
from lamas.security.layer import Layer
from lamas.security.learned import LearnedLayer, PieceReader
from lamas.security.sentences import DEFAULT_SENTENCE_MODEL, SentenceLayer, cascade_layer


def package_docs(limit: int = 400, chars: int = 3000) -> list[Sample]:
    """Benign text nobody here wrote: installed distributions' long descriptions (READMEs),
    sorted by name for a stable order, each cut to its first `chars` characters."""
    out: list[Sample] = []
    seen: set[str] = set()
    for dist in sorted(metadata.distributions(), key=lambda d: (d.metadata["Name"] or "").lower()):
        name = dist.metadata["Name"] or ""
        body = dist.metadata.get_payload() or dist.metadata.get("Description") or ""  # type: ignore[attr-defined]
        if name.lower() in seen or len(body) < 200 or name.lower() in {"lamas"}:
            continue
        seen.add(name.lower())
        out.append(Sample(str(body)[:chars], 0, "package_readme", source=f"{name} METADATA"))
    return out[:limit]


def corpora() -> dict[str, list[Sample]]:
    data = split()
    sets: dict[str, list[Sample]] = {
        "generated test (in-repo)": data.test_benign + data.test_attacks,
        "travel attacks + clean_heldout (in-repo)": in_repo("attacks.jsonl")
        + in_repo("clean_heldout.jsonl"),
        "travel held-out attacks (in-repo)": in_repo("attacks_heldout.jsonl"),
        "grammar, unseen phrasing + human-addressed benign (in-repo)": grammar_test(),
        "man pages, held-out third (in-repo, benign)": man_thirds()[2],
    }
    for name in EXTERNAL:
        sets[f"{name} (external)"] = external(name)
    sets["package READMEs (external, benign)"] = package_docs()
    return sets


def rates(hits: Sequence[bool], samples: Sequence[Sample]) -> dict[str, Any]:
    pos = [h for h, s in zip(hits, samples, strict=True) if s.label]
    neg = [h for h, s in zip(hits, samples, strict=True) if not s.label]
    return {
        "attacks": len(pos),
        "benign": len(neg),
        "detection": sum(pos) / len(pos) if pos else None,
        "fpr": sum(neg) / len(neg) if neg else None,
    }


def evaluate(
    layers: dict[str, list[Layer]], sets: dict[str, list[Sample]]
) -> tuple[dict[str, Any], dict[str, Any]]:
    """Each configuration's verdicts on each set, with per-family detection and latency;
    and its latency pooled over every output of every set."""
    out: dict[str, Any] = {}
    pooled: dict[str, Any] = {}
    for config, stack in layers.items():
        detector = Detector(stack)
        rows: dict[str, Any] = {}
        all_wall: list[float] = []
        all_cpu: list[float] = []
        loads: list[float] = []
        for name, samples in sets.items():
            hits: list[bool] = []
            seconds: list[float] = []
            cpu: list[float] = []
            load = os.getloadavg()[0]
            for s in samples:
                t0, c0 = time.perf_counter(), time.thread_time()
                hits.append(detector.score(s.text).flagged)
                cpu.append(time.thread_time() - c0)
                seconds.append(time.perf_counter() - t0)
            per_family: dict[str, list[bool]] = defaultdict(list)
            per_format: dict[str, list[bool]] = defaultdict(list)
            for h, s in zip(hits, samples, strict=True):
                (per_family if s.label else per_format)[s.family].append(h)
            all_wall += seconds
            all_cpu += cpu
            loads.append(load)
            rows[name] = {
                **rates(hits, samples),
                "per_family": {f: sum(v) / len(v) for f, v in sorted(per_family.items())},
                # benign texts: the share flagged per format (e-mail, JSON, README...)
                "fpr_per_format": {f: sum(v) / len(v) for f, v in sorted(per_format.items())},
                "missed": [
                    s.text[:160] for h, s in zip(hits, samples, strict=True) if s.label and not h
                ][:5],
                "false_positives": [
                    s.text[:160] for h, s in zip(hits, samples, strict=True) if not s.label and h
                ][:5],
                "latency_ms_p50": statistics.median(seconds) * 1000 if seconds else 0.0,
                "latency_ms_p95": percentile(seconds, 0.95) * 1000,
                # CPU time of this thread: what the detector costs, whatever else runs
                "cpu_ms_p50": statistics.median(cpu) * 1000 if cpu else 0.0,
                "cpu_ms_p95": percentile(cpu, 0.95) * 1000,
                "load_average": round((load + os.getloadavg()[0]) / 2, 2),
            }
        out[config] = rows
        pooled[config] = {
            "outputs": len(all_wall),
            "latency_ms_p50": statistics.median(all_wall) * 1000 if all_wall else 0.0,
            "latency_ms_p95": percentile(all_wall, 0.95) * 1000,
            "cpu_ms_p50": statistics.median(all_cpu) * 1000 if all_cpu else 0.0,
            "cpu_ms_p95": percentile(all_cpu, 0.95) * 1000,
            "load_average_range": [min(loads, default=0.0), max(loads, default=0.0)],
        }
    return out, pooled


def percentile(values: Iterable[float], q: float) -> float:
    ordered = sorted(values)
    if not ordered:
        return 0.0
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def cross_family(seed: int = 18) -> dict[str, Any]:
    """Train on one fold of families, test on the other fold's attacks: the third round's
    families (generated and garak's; every grammar family stays in training, so some of
    what is held out has a cousin there, e.g. authority and system_spoof), then the grammar
    families (every third-round family stays in training; tested on phrasings no training
    saw, FPR on the human-addressed benign test)."""
    from train_injection import train, training_split

    reader = PieceReader.shared()
    full = split(seed)
    out: dict[str, Any] = {}
    for i, kept in enumerate(CROSS_FOLDS):
        held = tuple(f for f in NEW_FAMILIES if f not in kept)
        layer = LearnedLayer(train(training_split(seed, new_families=kept), reader, seed=seed))
        test = grammar_test(seed, "B", 600, held)
        per: dict[str, list[bool]] = defaultdict(list)
        fp = []
        for s in test:
            hit = flags(layer.score(s.text).score, layer.threshold)
            (per[s.family] if s.label else fp).append(hit)
        out[f"grammar fold {i + 1}: trained on {', '.join(kept)}"] = {
            "threshold": layer.threshold,
            "per_family": {f: sum(v) / len(v) for f, v in sorted(per.items())},
            "detection": sum(sum(v) for v in per.values())
            / max(1, sum(len(v) for v in per.values())),
            "fpr": sum(fp) / len(fp),
        }
    for i, fold in enumerate(CROSS_FAMILY_FOLDS):
        held_out = tuple(f for f in ALL_FAMILIES if f not in fold)
        model = train(training_split(seed, fold), reader, seed=seed)
        layer = LearnedLayer(model)
        tests = [s for s in full.test_attacks if s.family in held_out]
        tests += [
            s
            for s in split(seed, ALL_FAMILIES).train
            if s.label and s.family in held_out and s.source != "generated"
        ]
        per: dict[str, list[bool]] = defaultdict(list)
        for s in tests:
            per[s.family].append(flags(layer.score(s.text).score, layer.threshold))
        fp = [flags(layer.score(s.text).score, layer.threshold) for s in full.test_benign]
        out[f"fold {i + 1}: trained on {', '.join(fold)}"] = {
            "threshold": layer.threshold,
            "per_family": {f: sum(v) / len(v) for f, v in sorted(per.items())},
            "detection": sum(sum(v) for v in per.values())
            / max(1, sum(len(v) for v in per.values())),
            "fpr": sum(fp) / len(fp),
        }
    return out


def print_tables(console: Console, result: dict[str, Any]) -> None:
    for config, rows in result["configs"].items():
        table = Table(title=f"detector '{config}': detection and false positives per corpus")
        for col in (
            "corpus", "attacks", "detected", "benign", "FPR",
            "p50 ms", "p95 ms", "CPU p50", "CPU p95", "load",
        ):  # fmt: skip
            table.add_column(col, justify="left" if col == "corpus" else "right")
        for name, row in rows.items():
            table.add_row(
                name,
                str(row["attacks"]),
                "-" if row["detection"] is None else f"{row['detection']:.1%}",
                str(row["benign"]),
                "-" if row["fpr"] is None else f"{row['fpr']:.2%}",
                f"{row['latency_ms_p50']:.1f}",
                f"{row['latency_ms_p95']:.1f}",
                f"{row['cpu_ms_p50']:.1f}",
                f"{row['cpu_ms_p95']:.1f}",
                f"{row['load_average']:.1f}",
            )
        console.print(table)
    table = Table(title="latency per output, pooled over every set (ms; CPU = this thread's)")
    for col in ("detector", "outputs", "p50", "p95", "CPU p50", "CPU p95", "load average"):
        table.add_column(col, justify="left" if col == "detector" else "right")
    for config, row in result["pooled"].items():
        low, high = row["load_average_range"]
        table.add_row(
            config,
            str(row["outputs"]),
            *(
                f"{row[k]:.1f}"
                for k in ("latency_ms_p50", "latency_ms_p95", "cpu_ms_p50", "cpu_ms_p95")
            ),
            f"{low:.1f}-{high:.1f}",
        )
    console.print(table)
    default = result["configs"][result["default"]]
    table = Table(title=f"detector '{result['default']}': detection per attack family")
    table.add_column("corpus")
    table.add_column("family")
    table.add_column("detected", justify="right")
    for name, row in default.items():
        for family, rate in row["per_family"].items():
            table.add_row(name, family, f"{rate:.0%}")
    console.print(table)
    if result.get("cross_family"):
        table = Table(title="learned layer, cross-family: trained on one fold, tested on the other")
        table.add_column("fold")
        table.add_column("held-out family")
        table.add_column("detected", justify="right")
        table.add_column("FPR (generated benign)", justify="right")
        for fold, row in result["cross_family"].items():
            for family, rate in row["per_family"].items():
                table.add_row(fold, family, f"{rate:.0%}", f"{row['fpr']:.2%}")
        console.print(table)


def run(
    console: Console, *, cross: bool = True, baseline: Path | None = None, sentences: bool = True
) -> dict[str, Any]:
    sets = corpora()
    configs: dict[str, list[Layer]] = {
        "rules": [rule_layer()],
        "learned": [LearnedLayer()],
        "rules+learned": [rule_layer(), LearnedLayer()],
    }
    if baseline is not None:
        configs["learned (baseline)"] = [LearnedLayer(baseline)]
        configs["rules+learned (baseline)"] = [rule_layer(), LearnedLayer(baseline)]
    if sentences and DEFAULT_SENTENCE_MODEL.is_file():
        # The third round's sentence-level layer (scripts/train_sentences.py): alone, and as
        # the second stage of a cascade after the word-piece layer.
        configs["sentences"] = [SentenceLayer()]
        configs["rules+cascade"] = [rule_layer(), cascade_layer()]
    for layers in configs.values():  # load the model outside the timings
        Detector(layers).score("warm up")
    rows, pooled = evaluate(configs, sets)
    result: dict[str, Any] = {"default": "rules+learned", "configs": rows, "pooled": pooled}
    if baseline is not None:
        result["baseline"] = {"path": str(baseline), **LearnedLayer(baseline).model.info}
    result["cross_family"] = cross_family() if cross else None
    print_tables(console, result)
    return result
