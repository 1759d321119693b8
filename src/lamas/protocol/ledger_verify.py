"""Verifying a ledger's hash chain: pure rules, fed entries in sequence order.

Every entry's sequence, hash and link are checked; each signature present is checked
through a `SignatureVerifier` handed in; the coverage rule (every run of unsigned entries
ends in a signature by the writer that wrote them) is explained in `protocol/ledger.py`.
Pure: no I/O.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Protocol

from lamas.protocol.ledger import (
    GENESIS,
    ChainProblem,
    LedgerCorrupted,
    LedgerEntry,
    Quoted,
    Raw,
    quoted_content,
    signing_message,
)


class SignatureVerifier(Protocol):
    """The public keys a verifier trusts (`lamas.security.KeyRing` is one)."""

    def knows(self, signer: str) -> bool: ...

    def verify(self, signer: str, message: bytes, signature: bytes) -> bool: ...


@dataclass(frozen=True, slots=True)
class ChainHead:
    """The last entry's sequence number and hash: all a third party needs to pin the ledger."""

    sequence: int
    hash: str


@dataclass(frozen=True, slots=True)
class VerifyReport:
    entries: int  # entries checked (up to and including the first bad one)
    signatures: int  # signatures checked
    head: ChainHead | None  # the last entry read that passed its own checks
    problem: ChainProblem | None = None
    seconds: float = 0.0

    @property
    def ok(self) -> bool:
        return self.problem is None

    def raise_for_problem(self) -> None:
        if self.problem is not None:
            raise LedgerCorrupted(self.problem)

    def __str__(self) -> str:
        if self.problem is not None:
            return f"BROKEN at {self.problem} ({self.entries:,} entries read)"
        where = f"head {self.head.sequence} {self.head.hash[:16]}" if self.head else "empty"
        return f"ok: {self.entries:,} entries, {self.signatures:,} signatures, {where}"


class ChainVerifier:
    """Checks entries fed in sequence order, in as many batches as the caller likes.

    Stops at the first bad entry; `report()` names it. Every entry's sequence, hash and link
    are checked; each signature present is checked; see the module doc for the coverage rule.
    """

    def __init__(
        self,
        keys: SignatureVerifier,
        *,
        anchor: ChainHead | None = None,
        after: ChainHead | None = None,
    ) -> None:
        """`after`: start past this entry (a signed one, checked by whoever checks the rest)."""
        self.keys = keys
        self.anchor = anchor
        self.entries = 0
        self.signatures = 0
        self.problem: ChainProblem | None = None
        self._last = 0 if after is None else after.sequence
        self._last_hash = GENESIS if after is None else after.hash
        self._unsigned_from = 0  # first entry of the current run of unsigned entries, 0 if none
        self._unsigned_by = ""
        self._known: set[str] = set()
        self._quoted = Quoted()

    def feed(self, rows: Iterable[Raw]) -> bool:
        """Check the next entries; False once a problem is found (feed no more)."""
        if self.problem is not None:
            return False
        last, last_hash, known, q = self._last, self._last_hash, self._known, self._quoted
        sha256 = hashlib.sha256
        for seq, kind, task, agent, entity, payload, at, signer, prev, digest, sig in rows:
            self.entries += 1
            if seq != last + 1:
                missing = last + 1 if seq > last else seq
                why = "is missing (deleted?)" if seq > last else f"comes again after {last}"
                return self._fail(missing, f"sequence gap: entry {last + 1} {why}")
            # A link that matches is the previous entry's hex hash: nothing in it to escape.
            linked = f'"{prev}"' if prev == last_hash else q[prev]
            content = quoted_content(
                seq, q[kind], q[task], q[agent], q[entity], payload, q[at], q[signer], linked
            )
            if sha256(content).hexdigest() != digest:
                return self._fail(seq, "content does not match its hash (edited or moved)")
            if prev != last_hash:
                return self._fail(
                    seq,
                    f"prev_hash does not match entry {last}'s hash "
                    "(entries reordered or inserted, or the previous entry rewritten)",
                )
            if self._unsigned_from and signer != self._unsigned_by:
                return self._fail(
                    self._unsigned_from,
                    f"unsigned, and no signature of its writer covers it "
                    f"(entry {seq} is by another signer)",
                )
            if signer not in known:
                if not self.keys.knows(signer):
                    return self._fail(seq, f"written by unknown signer {signer!r}")
                known.add(signer)
            if sig is None:
                if not self._unsigned_from:
                    self._unsigned_from, self._unsigned_by = seq, signer
            else:
                self.signatures += 1
                if not self._signature_ok(signer, digest, sig):
                    return self._fail(
                        seq,
                        f"signature does not verify with signer {signer!r}'s key "
                        "(forged, or the entries up to here rewritten)",
                    )
                self._unsigned_from = 0
            anchor = self.anchor
            if anchor is not None and seq == anchor.sequence and digest != anchor.hash:
                return self._fail(seq, "hash differs from the anchor's (history rewritten)")
            last, last_hash = seq, digest
            self._last, self._last_hash = last, last_hash
        return True

    @property
    def last(self) -> ChainHead:
        """The last entry that passed (sequence 0 and GENESIS before any)."""
        return ChainHead(self._last, self._last_hash)

    @property
    def open_unsigned(self) -> bool:
        """Whether the entries fed so far end in a run no signature has covered yet."""
        return bool(self._unsigned_from)

    def report(self, seconds: float = 0.0) -> VerifyReport:
        """The verdict on everything fed so far, taken as the whole ledger."""
        if self.problem is None and self._unsigned_from:
            self.problem = ChainProblem(
                self._unsigned_from,
                "unsigned, and no signature of its writer covers it "
                "(the ledger ends unsigned: later entries deleted?)",
            )
        if self.problem is None and self.anchor is not None and self._last < self.anchor.sequence:
            self.problem = ChainProblem(
                self._last + 1,
                f"is missing: the anchor says the ledger reached {self.anchor.sequence} "
                "(truncated?)",
            )
        head = ChainHead(self._last, self._last_hash) if self._last else None
        return VerifyReport(self.entries, self.signatures, head, self.problem, seconds)

    def _signature_ok(self, signer: str, digest: str, signature: str) -> bool:
        try:
            raw = bytes.fromhex(signature)
        except ValueError:
            return False
        return self.keys.verify(signer, signing_message(digest), raw)

    def _fail(self, sequence: int, reason: str) -> bool:
        self.problem = ChainProblem(sequence, reason)
        return False


def verify_entries(
    entries: Iterable[LedgerEntry], keys: SignatureVerifier, *, anchor: ChainHead | None = None
) -> VerifyReport:
    """Verify a whole ledger given as entries in sequence order."""
    verifier = ChainVerifier(keys, anchor=anchor)
    verifier.feed(entry.raw() for entry in entries)
    return verifier.report()
