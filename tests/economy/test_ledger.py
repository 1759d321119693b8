"""The ledger on SQLite: appending, reading, exact money, bad input, and tamper detection.

Every tamper test edits the database behind the ledger's back, as an attacker with write
access to the file would, and checks that `verify()` names the first bad entry and why.
"""

from __future__ import annotations

import hashlib
import inspect
import itertools
import json
import threading
from collections.abc import Iterator
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, delete, insert, select, update
from support.ledger_rows import row, tamper
from typer.testing import CliRunner, Result

from lamas.cli.ledger import ledger_app
from lamas.economy import Ledger, NewEntry
from lamas.errors import InputError, MalformedMessage
from lamas.protocol.ledger import (
    GENESIS,
    RAW_FIELDS,
    CreditAllocated,
    EntryKind,
    LedgerCorrupted,
    LedgerEntry,
    LedgerInputError,
    Outcome,
    Payout,
    Resources,
    StepDone,
    canonical_json,
    content_bytes,
    entry_hash,
    signing_message,
)
from lamas.protocol.ledger_verify import ChainHead, verify_entries
from lamas.security import KeyRing, PrivateKey
from lamas.store import create_engine
from lamas.store.ledger_tables import ledger_entries, ledger_signers

NOON = datetime(2026, 11, 25, 12, 0, 0, 250_000, tzinfo=UTC)


@pytest.fixture(scope="module")
def key() -> PrivateKey:
    return PrivateKey.generate()


@pytest.fixture(scope="module")
def intruder() -> PrivateKey:
    return PrivateKey.generate()


@pytest.fixture
def engine(tmp_path: Path) -> Iterator[Engine]:
    engine = create_engine(f"sqlite:///{tmp_path / 'lamas.db'}")
    yield engine
    engine.dispose()


@pytest.fixture
def ledger(engine: Engine, key: PrivateKey) -> Ledger:
    return Ledger(engine, key, clock=lambda: NOON)


def story(ledger: Ledger) -> list[LedgerEntry]:
    """A travel task end to end: 15 entries, in single appends and in batches.

    Signed: 1, 3, 4, 5, 6, 8, 10, 15 (a batch signs its last entry only).
    """
    written = [ledger.append("task.opened", task_id="t1", payload={"instruction": "Lyon"})]
    written += ledger.append_many(
        [
            NewEntry("step.assigned", "t1", {"step_id": "s1", "capability": "hotel"}, "hotel"),
            NewEntry("step.assigned", "t1", {"step_id": "s2", "capability": "train"}, "train"),
        ]
    )
    for step, agent in (("s1", "hotel"), ("s2", "train")):
        used = Resources(prompt_tokens=120, completion_tokens=40, tool_calls=1, seconds=0.5)
        written.append(
            ledger.append(
                EntryKind.STEP_DONE,
                task_id="t1",
                agent=agent,
                payload=StepDone(step_id=step, resources=used),
            )
        )
    written.append(
        ledger.append(
            "outcome",
            task_id="t1",
            payload=Outcome(value=Decimal("12.50"), currency="EUR", basis="cpa", units=1),
        )
    )
    written += ledger.append_many(
        [
            NewEntry("credit.allocated", "t1", {"amount": "7.50", "currency": "EUR"}, "hotel"),
            NewEntry("credit.allocated", "t1", {"amount": "5.00", "currency": "EUR"}, "train"),
        ]
    )
    written += ledger.append_many(
        [
            NewEntry("payout", "t1", Payout(amount=Decimal("7.50"), currency="EUR"), entity="h"),
            NewEntry("payout", "t1", Payout(amount=Decimal("5.00"), currency="EUR"), entity="t"),
        ]
    )
    written += ledger.append_many(
        NewEntry("task.opened", f"t{i}", {"instruction": f"task {i}"}) for i in range(2, 7)
    )
    return written


def rehash(values: dict[str, Any]) -> str:
    return entry_hash(content_bytes(*(values[name] for name in RAW_FIELDS[:9])))


def problem(ledger: Ledger, **kwargs: Any) -> tuple[int, str]:
    report = ledger.verify(**kwargs)
    assert not report.ok
    assert report.problem is not None
    assert str(report).startswith(f"BROKEN at entry {report.problem.sequence}: ")
    return report.problem.sequence, report.problem.reason


# --- appending -----------------------------------------------------------------------------


def test_the_first_entry_links_to_genesis_and_is_signed(ledger: Ledger, key: PrivateKey) -> None:
    entry = ledger.append("task.opened", task_id="t1", payload={"instruction": "book a train"})
    assert (entry.sequence, entry.prev_hash, entry.signer) == (1, GENESIS, key.id)
    assert entry.at == NOON
    assert entry.hash == hashlib.sha256(entry.content()).hexdigest()
    assert entry.signature is not None
    assert key.public.verify(signing_message(entry.hash), bytes.fromhex(entry.signature))
    assert ledger.head() == ChainHead(1, entry.hash)


def test_entries_chain_and_a_batch_signs_its_last_entry_only(ledger: Ledger) -> None:
    written = story(ledger)
    assert [e.sequence for e in written] == list(range(1, 16))
    for before, after in itertools.pairwise(written):
        assert after.prev_hash == before.hash
    assert [e.sequence for e in written if e.signature] == [1, 3, 4, 5, 6, 8, 10, 15]
    assert list(ledger.entries()) == written
    report = ledger.verify()
    assert report.ok
    assert (report.entries, report.signatures, report.head) == (15, 8, ledger.head())
    assert str(report).startswith("ok: 15 entries, 8 signatures, head 15 ")
    report.raise_for_problem()  # does nothing on a good chain


def test_the_hash_is_over_the_canonical_json_of_the_entry(ledger: Ledger) -> None:
    # Another implementation must reproduce the hash from the documented rule alone.
    entry = ledger.append(
        "task.opened",
        task_id="t\u00e9",
        payload={"instruction": 'Lyon \u2014 h\u00f4tel "\u6771\u4eac"\n\\ \x01', "requester": "u"},
    )
    fields = entry.model_dump(mode="json", exclude={"hash", "signature"})
    assert fields["at"] == "2026-11-25T12:00:00.250000Z"
    canonical = canonical_json(fields).encode()
    assert entry.content() == canonical
    assert entry.hash == hashlib.sha256(canonical).hexdigest()
    assert "\u00f4" in canonical.decode()  # UTF-8 as is, not \\u escapes


def test_money_is_exact(ledger: Ledger) -> None:
    value = Decimal("12345678901234567890.123456789")
    ledger.append(
        "outcome", task_id="t", payload={"value": str(value), "currency": "USD", "basis": "cpm"}
    )
    ledger.append(
        "credit.allocated",
        task_id="t",
        agent="hotel",
        payload=CreditAllocated(amount=Decimal("0.10"), currency="USD", outcome=1),
    )
    outcome, credit = list(ledger.entries())
    body = outcome.body()
    assert isinstance(body, Outcome)
    assert body.value == value
    assert str(body.value) == "12345678901234567890.123456789"
    assert outcome.payload["value"] == "12345678901234567890.123456789"
    credit_body = credit.body()
    assert isinstance(credit_body, CreditAllocated)
    assert str(credit_body.amount) == "0.10"  # trailing zero kept: the amount as written


BAD_INPUT = [
    ("task.closed", {}, {}, "kind: unknown kind"),
    ("step.done", {"step_id": "s"}, {}, "agent: a step.done entry must name its agent"),
    ("payout", {"amount": "1", "currency": "EUR"}, {"agent": "a"}, "entity: a payout entry"),
    ("credit.allocated", {"amount": "1", "currency": "EUR"}, {}, "must name an agent or an entity"),
    ("outcome", {"value": 0.1, "currency": "EUR", "basis": "cpc"}, {}, "not a float"),
    ("outcome", {"value": "1", "currency": "eur", "basis": "cpc"}, {}, "payload.currency"),
    ("outcome", {"value": "1", "currency": "EUR", "basis": "cpx"}, {}, "payload.basis"),
    ("outcome", {"value": "-1", "currency": "EUR", "basis": "cpc"}, {}, "payload.value"),
    ("outcome", {"value": "NaN", "currency": "EUR", "basis": "cpc"}, {}, "payload.value"),
    (
        "step.done",
        {"step_id": "s", "resources": {"prompt_tokens": -1}},
        {"agent": "a"},
        "payload.resources.prompt_tokens",
    ),
    ("task.opened", {"instruction": "x", "surprise": 1}, {}, "payload.surprise"),
    ("task.opened", {}, {"task_id": ""}, "task_id: must be a string of 1 to 128"),
    ("payout", Outcome(value=Decimal(1), currency="EUR", basis="cpc"), {"entity": "e"}, "takes"),
    ("task.opened", ["not", "an", "object"], {}, "payload: expected a JSON object, got list"),
]


@pytest.mark.parametrize(
    ("kind", "payload", "fields", "message"), BAD_INPUT, ids=[b[3][:30] for b in BAD_INPUT]
)
def test_bad_input_is_a_clear_error_and_writes_nothing(
    ledger: Ledger, kind: str, payload: Any, fields: dict[str, Any], message: str
) -> None:
    ledger.append("task.opened", task_id="t0")
    before = ledger.head()
    with pytest.raises(MalformedMessage, match=message) as caught:
        ledger.append(kind, task_id=fields.pop("task_id", "t1"), payload=payload, **fields)
    assert isinstance(caught.value, InputError)
    assert ledger.head() == before


def test_one_bad_entry_in_a_batch_writes_none_of_it(ledger: Ledger) -> None:
    batch = [
        NewEntry("task.opened", "t1"),
        NewEntry("outcome", "t1", {"value": 1.5, "currency": "EUR", "basis": "cpa"}),
        NewEntry("task.opened", "t2"),
    ]
    with pytest.raises(MalformedMessage, match=r"entry 1 of the batch: .*not a float"):
        ledger.append_many(batch)
    assert ledger.head() is None
    assert ledger.append_many([]) == []


def test_a_ledger_without_a_key_reads_and_verifies_but_does_not_write(
    engine: Engine, ledger: Ledger
) -> None:
    story(ledger)
    reader = Ledger(engine)
    assert reader.verify().ok  # against the key the writer recorded
    assert len(list(reader.entries())) == 15
    with pytest.raises(LedgerInputError, match="without a signing key"):
        reader.append("task.opened", task_id="t")


def test_the_write_lock_leaves_the_engine_transactional_for_others(
    engine: Engine, ledger: Ledger
) -> None:
    # The ledger puts its SQLite connection in driver autocommit to issue BEGIN IMMEDIATE;
    # the pool must hand the next user a connection that is transactional again.
    for _ in range(3):
        ledger.append("task.opened", task_id="t")
    with engine.connect() as conn:
        conn.execute(insert(ledger_signers).values(signer="x", public_key=b"k", first_sequence=9))
        conn.rollback()
        assert conn.execute(select(ledger_signers.c.signer)).scalars().all() == [ledger.signer.id]  # type: ignore[union-attr]


def test_an_in_memory_database_works(key: PrivateKey) -> None:
    ledger = Ledger(create_engine("sqlite:///:memory:"), key)
    story(ledger)
    assert ledger.verify().ok


def test_threads_appending_at_once_never_fork_the_chain(engine: Engine, key: PrivateKey) -> None:
    ledger = Ledger(engine, key)
    errors: list[BaseException] = []

    def write(worker: int) -> None:
        try:
            for i in range(10):
                if i % 3:
                    ledger.append("task.opened", task_id=f"w{worker}-{i}")
                else:
                    ledger.append_many(
                        [NewEntry("task.opened", f"w{worker}-{i}-{j}") for j in range(3)]
                    )
        except BaseException as error:  # pragma: no cover - reported below
            errors.append(error)

    threads = [threading.Thread(target=write, args=(n,)) for n in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    report = ledger.verify()
    assert report.ok, report
    assert report.entries == 4 * (6 + 4 * 3)


# --- reading -------------------------------------------------------------------------------


def test_entries_filter_by_task_kind_after_and_limit(ledger: Ledger) -> None:
    story(ledger)
    assert [e.sequence for e in ledger.entries(task_id="t1", kind="payout")] == [9, 10]
    assert [e.sequence for e in ledger.entries(kind=EntryKind.TASK_OPENED)] == [
        1,
        11,
        12,
        13,
        14,
        15,
    ]
    assert [e.sequence for e in ledger.entries(after=12)] == [13, 14, 15]
    assert [e.sequence for e in ledger.entries(kind="step.done", limit=1)] == [4]
    assert [e.sequence for e in ledger.entries(task_id="t1", after=3, limit=5, page=2)] == [
        4,
        5,
        6,
        7,
        8,
    ]
    assert list(ledger.entries(task_id="nope")) == []
    with pytest.raises(LedgerInputError, match="unknown entry kind 'nope'"):
        list(ledger.entries(kind="nope"))


def test_entries_stream_page_by_page(ledger: Ledger) -> None:
    story(ledger)
    pages = ledger.entries(page=4)
    assert inspect.isgenerator(pages)
    assert next(pages).sequence == 1
    ledger.append("task.opened", task_id="late")  # read by a page not fetched yet
    assert [e.sequence for e in pages][-1] == 16


def test_verify_reports_progress_batch_by_batch(ledger: Ledger) -> None:
    story(ledger)
    seen: list[int] = []
    assert ledger.verify(batch=4, progress=seen.append).ok
    assert seen == [4, 8, 12, 15]


def test_an_empty_ledger_verifies(ledger: Ledger) -> None:
    report = ledger.verify()
    assert report.ok
    assert (report.entries, report.head, str(report)) == (
        0,
        None,
        "ok: 0 entries, 0 signatures, empty",
    )


# --- tampering -----------------------------------------------------------------------------


def test_an_edited_payload_is_named(engine: Engine, ledger: Ledger) -> None:
    story(ledger)
    tamper(engine, 7, payload=json.dumps({"amount": "70.50", "currency": "EUR"}))
    assert problem(ledger) == (7, "content does not match its hash (edited or moved)")


@pytest.mark.parametrize(
    ("column", "value"),
    [
        ("agent", "intruder"),
        ("kind", "payout"),
        ("task_id", "t9"),
        ("at", "2020-01-01T00:00:00.000000Z"),
    ],
)
def test_any_edited_column_is_named(
    engine: Engine, ledger: Ledger, column: str, value: str
) -> None:
    story(ledger)
    tamper(engine, 4, **{column: value})
    assert problem(ledger)[0] == 4


def test_an_edit_with_its_hash_recomputed_breaks_the_next_link(
    engine: Engine, ledger: Ledger
) -> None:
    story(ledger)
    edited = row(engine, 7) | {"payload": '{"amount":"70.50","currency":"EUR"}'}
    tamper(engine, 7, payload=edited["payload"], hash=rehash(edited))
    sequence, reason = problem(ledger)
    assert sequence == 8
    assert reason.startswith("prev_hash does not match entry 7's hash")


def test_a_rewritten_tail_fails_at_the_next_signature(engine: Engine, ledger: Ledger) -> None:
    story(ledger)
    prev = row(engine, 10)["hash"]
    for sequence in range(11, 16):  # rewrite 11..15 consistently, keeping the old signature
        values = row(engine, sequence) | {"prev_hash": prev}
        if sequence == 12:
            values["task_id"] = "t-forged"
        values["hash"] = prev = rehash(values)
        tamper(engine, sequence, **values)
    sequence, reason = problem(ledger)
    assert sequence == 15
    assert reason.startswith("signature does not verify")


def test_a_deleted_entry_is_named(engine: Engine, ledger: Ledger) -> None:
    story(ledger)
    with engine.begin() as conn:
        conn.execute(delete(ledger_entries).where(ledger_entries.c.sequence == 5))
    assert problem(ledger) == (5, "sequence gap: entry 5 is missing (deleted?)")


def test_swapped_entries_are_named(engine: Engine, ledger: Ledger) -> None:
    story(ledger)
    fourth, fifth = row(engine, 4), row(engine, 5)
    tamper(engine, 4, **(fifth | {"sequence": 4}))
    tamper(engine, 5, **(fourth | {"sequence": 5}))
    assert problem(ledger) == (4, "content does not match its hash (edited or moved)")


def test_swapped_entries_with_renumbered_hashes_break_a_link(
    engine: Engine, ledger: Ledger
) -> None:
    story(ledger)
    fourth, fifth = row(engine, 4), row(engine, 5)
    moved = [fifth | {"sequence": 4}, fourth | {"sequence": 5}]
    for values in moved:
        values["hash"] = rehash(values)
        tamper(engine, values["sequence"], **values)
    sequence, reason = problem(ledger)
    assert sequence == 4
    assert "prev_hash does not match entry 3's hash" in reason


def test_a_signature_forged_with_another_key_is_named(
    engine: Engine, ledger: Ledger, intruder: PrivateKey
) -> None:
    story(ledger)
    forged = intruder.sign(signing_message(row(engine, 6)["hash"])).hex()
    tamper(engine, 6, signature=forged)
    sequence, reason = problem(ledger)
    assert sequence == 6
    assert reason.startswith(f"signature does not verify with signer '{ledger.signer.id}'")  # type: ignore[union-attr]
    tamper(engine, 6, signature="not hex")
    assert problem(ledger)[0] == 6


def test_an_entry_claimed_by_an_unknown_signer_is_named(
    engine: Engine, ledger: Ledger, intruder: PrivateKey
) -> None:
    story(ledger)
    values = row(engine, 15) | {"signer": intruder.id}
    values["hash"] = rehash(values)
    values["signature"] = intruder.sign(signing_message(values["hash"])).hex()
    tamper(engine, 15, **values)
    # 11..14 were the key's own, unsigned, and are no longer covered by its signature.
    assert problem(ledger) == (
        11,
        "unsigned, and no signature of its writer covers it (entry 15 is by another signer)",
    )


def test_a_history_resigned_with_an_added_key_needs_a_keyring_to_catch(
    engine: Engine, ledger: Ledger, key: PrivateKey, intruder: PrivateKey
) -> None:
    story(ledger)
    prev = GENESIS
    for sequence in range(1, 16):
        values = row(engine, sequence) | {"prev_hash": prev, "signer": intruder.id}
        values["hash"] = prev = rehash(values)
        if values["signature"] is not None:
            values["signature"] = intruder.sign(signing_message(prev)).hex()
        tamper(engine, sequence, **values)
    assert problem(ledger) == (1, f"written by unknown signer {intruder.id!r}")
    with engine.begin() as conn:  # the intruder records its own key too
        conn.execute(
            insert(ledger_signers).values(
                signer=intruder.id, public_key=intruder.public.raw, first_sequence=1
            )
        )
    assert ledger.verify().ok  # the database vouches for itself: the documented limit
    trusting = Ledger(engine, keyring=KeyRing([key.public]))
    assert problem(trusting) == (1, f"written by unknown signer {intruder.id!r}")


def test_a_recorded_key_that_is_not_its_ids_key_vouches_for_nothing(
    engine: Engine, ledger: Ledger, key: PrivateKey, intruder: PrivateKey
) -> None:
    story(ledger)
    with engine.begin() as conn:
        conn.execute(update(ledger_signers).values(public_key=intruder.public.raw))
    assert problem(Ledger(engine)) == (1, f"written by unknown signer {key.id!r}")


def test_a_truncated_tail_is_named_unless_whole_transactions_go(
    engine: Engine, ledger: Ledger
) -> None:
    story(ledger)
    pinned = ledger.head()
    assert pinned is not None
    with engine.begin() as conn:
        conn.execute(delete(ledger_entries).where(ledger_entries.c.sequence == 15))
    assert problem(ledger) == (
        11,
        "unsigned, and no signature of its writer covers it "
        "(the ledger ends unsigned: later entries deleted?)",
    )
    with engine.begin() as conn:
        conn.execute(delete(ledger_entries).where(ledger_entries.c.sequence > 10))
    assert ledger.verify().ok  # a whole transaction gone leaves a valid, shorter chain...
    assert problem(ledger, anchor=pinned) == (  # ...which a head kept elsewhere catches
        11,
        "is missing: the anchor says the ledger reached 15 (truncated?)",
    )
    assert problem(ledger, anchor=ChainHead(10, "0" * 64))[0] == 10


def test_a_corrupt_report_raises_naming_the_entry(engine: Engine, ledger: Ledger) -> None:
    story(ledger)
    tamper(engine, 3, payload="{}")
    report = ledger.verify()
    assert report.entries == 3
    assert report.head == ChainHead(2, row(engine, 2)["hash"])  # the last good entry
    with pytest.raises(LedgerCorrupted, match="ledger corrupted at entry 3: content") as caught:
        report.raise_for_problem()
    assert caught.value.sequence == 3


def test_the_pure_verifier_checks_entries_in_memory(ledger: Ledger, key: PrivateKey) -> None:
    entries = story(ledger)
    keys = KeyRing([key.public])
    assert verify_entries(entries, keys).ok
    edited = entries[:]
    edited[8] = edited[8].model_copy(update={"entity": "someone else"})
    assert str(verify_entries(edited, keys).problem) == (
        "entry 9: content does not match its hash (edited or moved)"
    )
    reordered = [*entries[:3], entries[4], entries[3], *entries[5:]]
    assert str(verify_entries(reordered, keys).problem) == (
        "entry 4: sequence gap: entry 4 is missing (deleted?)"
    )
    assert str(verify_entries([*entries[:3], *entries[2:]], keys).problem) == (
        "entry 3: sequence gap: entry 4 comes again after 3"
    )
    assert verify_entries(entries, KeyRing()).problem is not None


# --- the command line ----------------------------------------------------------------------


def run(*args: str) -> Result:
    return CliRunner().invoke(ledger_app, list(args), env={"COLUMNS": "200"})


def test_cli_verify_passes_then_names_the_first_bad_entry(engine: Engine, ledger: Ledger) -> None:
    story(ledger)
    url = str(engine.url)
    result = run("verify", "--db", url)
    assert result.exit_code == 0, result.output
    assert "ledger ok: 15 entries, 8 signatures, head 15" in result.stdout
    assert "keys recorded in the database" in result.stdout
    tamper(engine, 9, entity="intruder")
    result = run("verify", "--db", url)
    assert result.exit_code == 1
    assert "ledger BROKEN at entry 9: content does not match its hash" in result.stdout


def test_cli_verify_against_given_keys_and_an_anchor(
    engine: Engine, ledger: Ledger, key: PrivateKey, intruder: PrivateKey, tmp_path: Path
) -> None:
    story(ledger)
    url = str(engine.url)
    mine = key.public.save(tmp_path / "mine.pub")
    theirs = intruder.public.save(tmp_path / "theirs.pub")
    assert run("verify", "--db", url, "--keys", str(mine)).exit_code == 0
    result = run("verify", "--db", url, "--keys", str(theirs))
    assert result.exit_code == 1
    assert f"entry 1: written by unknown signer '{key.id}'" in result.stdout
    head = ledger.head()
    assert head is not None
    assert run("verify", "--db", url, "--anchor", f"{head.sequence}:{head.hash}").exit_code == 0
    result = run("verify", "--db", url, "--anchor", f"16:{head.hash}")
    assert result.exit_code == 1
    assert "entry 16: is missing" in result.stdout
    result = run("verify", "--db", url, "--anchor", "nonsense")
    assert result.exit_code == 2
    assert "--anchor must be SEQ:HASH" in result.output


def test_cli_show_lists_and_prints_json_lines(engine: Engine, ledger: Ledger) -> None:
    entries = story(ledger)
    url = str(engine.url)
    result = run("show", "--db", url, "--task", "t1", "--kind", "outcome")
    assert result.exit_code == 0, result.output
    assert "12.50 EUR cpa x1" in result.stdout
    result = run("show", "--db", url, "--after", "8", "--limit", "2", "--json")
    assert result.exit_code == 0, result.output
    lines = [json.loads(line) for line in result.stdout.splitlines()]
    assert [LedgerEntry.model_validate(line) for line in lines] == entries[8:10]
    result = run("show", "--db", url, "--kind", "nope")
    assert result.exit_code == 2
    assert "unknown entry kind 'nope'" in result.output


def test_cli_keygen_writes_a_key_pair_and_never_overwrites(tmp_path: Path) -> None:
    path = tmp_path / "writer.pem"
    result = run("keygen", str(path))
    assert result.exit_code == 0, result.output
    key = PrivateKey.load(path)
    assert f"signer id {key.id}" in result.stdout
    assert (path.stat().st_mode & 0o777) == 0o600
    assert KeyRing.load(tmp_path / "writer.pem.pub").knows(key.id)
    result = run("keygen", str(path))
    assert result.exit_code == 2
    assert "exists; refusing to overwrite" in result.output
    assert PrivateKey.load(path).id == key.id
