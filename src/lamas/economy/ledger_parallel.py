"""Verifying a long ledger on every core.

Recomputing a million hashes is CPU-bound, and one Python process uses one core. The chain
is cut after signed entries into stretches; each stretch is verified in its own process,
starting from the hash its predecessor ends with, exactly as a sequential pass would be at
that point (a signature closes every unsigned run, so no state but the last hash crosses a
cut). The parent then checks each join: the stretch before ended at the cut, on that very
hash, with nothing left unsigned. Any other join (a gap, a rewrite, an unsigned end) is
left to a sequential pass, so the verdict never depends on how the chain was cut.
"""

from __future__ import annotations

import multiprocessing
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass
from typing import TYPE_CHECKING

from sqlalchemy import select

from lamas.protocol.ledger import GENESIS, ChainProblem
from lamas.protocol.ledger_verify import (
    ChainHead,
    ChainVerifier,
    SignatureVerifier,
    VerifyReport,
)
from lamas.store.ledger_tables import ledger_entries

if TYPE_CHECKING:
    from lamas.economy.ledger import Ledger

_SEQ = ledger_entries.c.sequence


@dataclass(frozen=True, slots=True)
class _Job:
    url: str
    keys: SignatureVerifier
    anchor: ChainHead | None
    batch: int


@dataclass(frozen=True, slots=True)
class _Stretch:
    after: int  # the signed entry it starts after (0: the beginning)
    upto: int | None  # the signed entry it ends on (None: the end of the ledger)


@dataclass(frozen=True, slots=True)
class _Result:
    start: ChainHead  # the entry it started after, as read (checked by the stretch before)
    end: ChainHead  # the last entry that passed
    entries: int
    signatures: int
    problem: ChainProblem | None
    open_unsigned: bool


# The job is inherited by forked workers rather than pickled: a key ring holds key objects
# that do not pickle. Set only while a pool runs.
_JOB: _Job | None = None


def verify_in_parallel(
    ledger: Ledger, keys: SignatureVerifier, anchor: ChainHead | None, workers: int, batch: int
) -> VerifyReport | None:
    """The sequential verdict, reached with `workers` processes; None when the chain has too
    few signed entries to cut, or a join needs the sequential pass."""
    global _JOB
    stretches = _cut(ledger, workers)
    if len(stretches) < 2 or "fork" not in multiprocessing.get_all_start_methods():
        return None
    url = ledger.engine.url.render_as_string(hide_password=False)
    _JOB = _Job(url, keys, anchor, batch)
    try:
        context = multiprocessing.get_context("fork")
        with ProcessPoolExecutor(max_workers=len(stretches), mp_context=context) as pool:
            results = list(pool.map(_verify_stretch, stretches))
    except BrokenProcessPool:  # a worker was killed (out of memory, a signal): go sequential
        return None
    finally:
        _JOB = None
    return _join(stretches, results)


def _cut(ledger: Ledger, workers: int) -> list[_Stretch]:
    """Stretches of about equal length, each but the last ending on a signed entry."""
    with ledger.engine.connect() as conn:
        signed = (
            conn.execute(select(_SEQ).where(ledger_entries.c.signature.is_not(None)).order_by(_SEQ))
            .scalars()
            .all()
        )
    if not signed:
        return []
    size = signed[-1] / workers
    cuts: list[int] = []
    for k in range(1, workers):
        target = k * size
        nearest = min(signed, key=lambda s: abs(s - target))
        if (not cuts or nearest > cuts[-1]) and nearest < signed[-1]:
            cuts.append(nearest)
    edges = [0, *cuts]
    return [
        _Stretch(after, edges[i + 1] if i + 1 < len(edges) else None)
        for i, after in enumerate(edges)
    ]


def _verify_stretch(stretch: _Stretch) -> _Result:
    from lamas.economy.ledger import Ledger
    from lamas.store import create_engine

    job = _JOB
    assert job is not None, "verify_in_parallel sets the job before forking"
    engine = create_engine(job.url, create_tables=False)
    try:
        start = ChainHead(0, GENESIS)
        if stretch.after:
            with engine.connect() as conn:
                row = conn.execute(
                    select(ledger_entries.c.hash).where(ledger_entries.c.sequence == stretch.after)
                ).first()
            start = ChainHead(stretch.after, row[0] if row is not None else "")
        verifier = ChainVerifier(job.keys, anchor=job.anchor, after=start)
        reader = Ledger.__new__(Ledger)  # a reader: no tables to create, no key to register
        reader.engine = engine
        reader.feed_range(verifier, after=stretch.after, upto=stretch.upto, batch=job.batch)
        problem = verifier.problem
        if stretch.upto is None and problem is None:
            problem = verifier.report().problem  # the end-of-ledger checks, last stretch only
        return _Result(
            start,
            verifier.last,
            verifier.entries,
            verifier.signatures,
            problem,
            verifier.open_unsigned,
        )
    finally:
        engine.dispose()


def _join(stretches: list[_Stretch], results: list[_Result]) -> VerifyReport | None:
    entries = signatures = 0
    reached = ChainHead(0, GENESIS)
    for stretch, result in zip(stretches, results, strict=True):
        if result.start != reached:
            return None  # the previous stretch did not end where this one began
        entries += result.entries
        signatures += result.signatures
        head = result.end if result.end.sequence else None
        if result.problem is not None:
            return VerifyReport(entries, signatures, head, result.problem)
        if stretch.upto is not None and (
            result.end.sequence != stretch.upto or result.open_unsigned
        ):
            return None
        reached = result.end
    return VerifyReport(entries, signatures, reached if reached.sequence else None, None)
