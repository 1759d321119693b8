"""The ledger's tables, on lamas's one `MetaData`.

`ledger_entries` holds the chain, one row per `LedgerEntry`, in the entry's own terms:
the payload is its canonical JSON text and the time its fixed-width UTC string, exactly
the bytes that were hashed, so no database type (JSONB key order, float or timestamp
rounding) can change what verification recomputes. Money lives inside the payload as a
decimal string: exact on every backend.

`ledger_signers` records each writer's public key, so that a ledger can be checked
without asking anyone for keys. A key is stored under its own id (a hash of it), so a
row cannot vouch for a different key; but whoever can write the database can add a key
of their own: to distrust the database, verify with a keyring of keys you hold.
"""

from __future__ import annotations

from sqlalchemy import BigInteger, Column, Index, Integer, LargeBinary, String, Table, Text

from lamas.store.tables import metadata

# On SQLite an INTEGER PRIMARY KEY is the rowid itself: no second index to maintain.
_SEQUENCE = BigInteger().with_variant(Integer(), "sqlite")

ledger_entries = Table(
    "ledger_entries",
    metadata,
    # The primary key is the no-fork guarantee: two writers can never both commit entry n.
    Column("sequence", _SEQUENCE, primary_key=True, autoincrement=False),
    Column("kind", String(32), nullable=False),
    Column("task_id", String(128), nullable=False),
    Column("agent", String(128)),
    Column("entity", String(128)),
    Column("payload", Text, nullable=False),
    Column("at", String(32), nullable=False),
    Column("signer", String(64), nullable=False),
    Column("prev_hash", String(64), nullable=False),
    Column("hash", String(64), nullable=False),
    Column("signature", String(128)),
    Index("ix_ledger_entries_task", "task_id", "sequence"),
    Index("ix_ledger_entries_kind", "kind", "sequence"),
)

ledger_signers = Table(
    "ledger_signers",
    metadata,
    Column("signer", String(64), primary_key=True),
    Column("public_key", LargeBinary(32), nullable=False),
    Column("first_sequence", BigInteger, nullable=False),
)
