"""Pattern extraction from experience records (paper §2.3).

- `performance`: per capability or per agent, success rate, mean cost, mean latency and
  credit, in time buckets, so a trend (getting better, getting worse) shows.
- `strategy_fit`: which strategies (prompt version, tools, selection) succeed for which
  kinds of instruction.
- `failure_clusters`: the error messages of failed steps grouped by meaning, with an
  embedding function given by the caller (the sentence embedder lives in the agent layer).
"""

from __future__ import annotations

import re
from collections import defaultdict
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import TYPE_CHECKING, Literal

from lamas.errors import InputError
from lamas.protocol.experience import ExperienceRecord

if TYPE_CHECKING:
    import numpy as np
    from numpy.typing import NDArray

Embed = Callable[[list[str]], "NDArray[np.float32]"]
"""Texts in, one unit-length row per text out (an `Embedder.embed`)."""


@dataclass(frozen=True, slots=True)
class Performance:
    key: str
    """The capability or agent."""
    period: int
    """Index of the time bucket, from 0 (the oldest)."""
    steps: int
    success_rate: float
    mean_cost: float
    mean_seconds: float
    credit: float


def performance(
    records: Iterable[ExperienceRecord],
    *,
    by: Literal["capability", "agent"] = "capability",
    periods: int = 1,
) -> list[Performance]:
    """Per key and time bucket (`periods` equal slices of the records' time span)."""
    if periods < 1:
        raise InputError(f"periods must be at least 1, got {periods}")
    rows = list(records)
    if not rows:
        return []
    start = min(r.at for r in rows)
    span = max(r.at for r in rows) - start
    groups: dict[tuple[str, int], list[ExperienceRecord]] = defaultdict(list)
    for record in rows:
        bucket = 0 if span <= 0 else min(periods - 1, int((record.at - start) / span * periods))
        groups[(getattr(record, by), bucket)].append(record)
    out = []
    for (key, bucket), members in sorted(groups.items()):
        n = len(members)
        out.append(
            Performance(
                key,
                bucket,
                n,
                sum(m.outcome.ok for m in members) / n,
                float(sum((m.resources.cost for m in members), Decimal(0))) / n,
                sum(m.resources.seconds for m in members) / n,
                float(sum((m.credit or Decimal(0) for m in members), Decimal(0))),
            )
        )
    return out


@dataclass(frozen=True, slots=True)
class StrategyFit:
    kind: str
    strategy: str
    steps: int
    success_rate: float


def strategy_fit(records: Iterable[ExperienceRecord], *, min_steps: int = 1) -> list[StrategyFit]:
    """Success of each strategy on each kind of instruction, best first within a kind."""
    groups: dict[tuple[str, str], list[bool]] = defaultdict(list)
    for record in records:
        groups[(record.kind, record.strategy.key)].append(record.outcome.ok)
    fits = [
        StrategyFit(kind, strategy, len(oks), sum(oks) / len(oks))
        for (kind, strategy), oks in groups.items()
        if len(oks) >= min_steps
    ]
    return sorted(fits, key=lambda f: (f.kind, -f.success_rate, -f.steps, f.strategy))


@dataclass(frozen=True, slots=True)
class FailureCluster:
    example: str
    """The member closest to the cluster's centre."""
    count: int
    agents: tuple[str, ...]
    capabilities: tuple[str, ...]
    messages: tuple[str, ...]


# Ids, numbers and quoted values differ between otherwise identical errors.
_VOLATILE = re.compile(r"'[^']*'|\"[^\"]*\"|\b[0-9a-f]{8,}\b|\b\d+(?:[.:]\d+)*\b")


def error_shape(message: str) -> str:
    return _VOLATILE.sub("_", message).strip()


def failure_clusters(
    records: Iterable[ExperienceRecord], embed: Embed, *, threshold: float = 0.8
) -> list[FailureCluster]:
    """Failed steps' errors, clustered: each error joins the cluster whose centroid it is
    most similar to (cosine >= `threshold`) or starts a new one. Largest cluster first."""
    import numpy as np

    failed = [r for r in records if not r.outcome.ok and r.outcome.error]
    if not failed:
        return []
    shapes = [error_shape(r.outcome.error or "") for r in failed]
    distinct = sorted(set(shapes))
    vectors = dict(zip(distinct, embed(distinct), strict=True))
    centroids: list[NDArray[np.float32]] = []
    members: list[list[int]] = []
    for index, shape in enumerate(shapes):
        vector = vectors[shape]
        similarities = [float(c @ vector) / (float(np.linalg.norm(c)) or 1.0) for c in centroids]
        best = int(np.argmax(similarities)) if similarities else -1
        if best >= 0 and similarities[best] >= threshold:
            members[best].append(index)
            centroids[best] = centroids[best] + vector
        else:
            centroids.append(vector.copy())
            members.append([index])
    clusters = []
    for centroid, indexes in zip(centroids, members, strict=True):
        unit = centroid / (float(np.linalg.norm(centroid)) or 1.0)
        closest = max(indexes, key=lambda i: float(vectors[shapes[i]] @ unit))
        clusters.append(
            FailureCluster(
                example=failed[closest].outcome.error or "",
                count=len(indexes),
                agents=_distinct(failed[i].agent for i in indexes),
                capabilities=_distinct(failed[i].capability for i in indexes),
                messages=_distinct(shapes[i] for i in indexes),
            )
        )
    return sorted(clusters, key=lambda c: -c.count)


def _distinct(values: Iterable[str]) -> tuple[str, ...]:
    return tuple(sorted(set(values)))


def success_rate(records: Sequence[ExperienceRecord]) -> float:
    return sum(r.outcome.ok for r in records) / len(records) if records else 0.0


@dataclass(frozen=True, slots=True)
class Candidate:
    """A distilled insight ready to be proposed to the shared pool."""

    text: str
    capability: str
    sources: tuple[str, ...]
    """The tasks it was drawn from (the pool replays them to verify it)."""


def distill(
    records: Iterable[ExperienceRecord], *, min_steps: int = 5, min_gap: float = 0.2
) -> list[Candidate]:
    """Lessons worth sharing: for each capability, an agent that succeeds clearly more
    often than another (by `min_gap`, over at least `min_steps` steps each)."""
    by_capability: dict[str, dict[str, list[ExperienceRecord]]] = defaultdict(
        lambda: defaultdict(list)
    )
    for record in records:
        by_capability[record.capability][record.agent].append(record)
    found = []
    for capability, agents in sorted(by_capability.items()):
        rated = sorted(
            ((success_rate(rs), agent, rs) for agent, rs in agents.items() if len(rs) >= min_steps),
            key=lambda item: (-item[0], item[1]),
        )
        if len(rated) < 2 or rated[0][0] - rated[-1][0] < min_gap:
            continue
        (best, top, top_records), (worst, low, low_records) = rated[0], rated[-1]
        text = (
            f"For {capability}, prefer {top} ({best:.0%} of {len(top_records)} steps "
            f"succeeded) over {low} ({worst:.0%} of {len(low_records)})."
        )
        tasks = tuple(dict.fromkeys(r.task_id for r in (*low_records, *top_records)))
        found.append(Candidate(text, capability, tasks))
    return found


@dataclass(frozen=True, slots=True)
class Preference:
    """What a routing insight asks: serve its capability with `prefer`, not `avoid`."""

    prefer: str
    avoid: str | None


_PREFER = re.compile(r"\bprefer\s+(?P<prefer>[\w.:-]+)(?:.*?\bover\s+(?P<avoid>[\w.:-]+))?", re.S)


def preference(text: str) -> Preference | None:
    """The agent preference an insight states ("... prefer railgo (...) over swiftrail
    (...)", as `distill` writes them), or None for an insight that states none."""
    found = _PREFER.search(text)
    if found is None:
        return None
    return Preference(found["prefer"].rstrip(".,"), (found["avoid"] or "").rstrip(".,") or None)
