"""The ledger across processes: a writer killed with SIGKILL loses nothing it committed, and
two writer processes appending to one SQLite file at once never fork the chain.

Writers are separate Python processes running WRITER below; each prints the sequence numbers
of its entries after their transaction has committed.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from lamas.economy import Ledger
from lamas.security import KeyRing, PrivateKey
from lamas.store import create_engine

# argv: database URL, key file, number of transactions (0: forever), start-gate file or "".
WRITER = r"""
import os, sys, time
from lamas.economy import Ledger, NewEntry
from lamas.security import PrivateKey
from lamas.store import create_engine

url, key_file, count, gate = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4]
ledger = Ledger(create_engine(url), PrivateKey.load(key_file))
me = os.getpid()
if gate:
    open(gate + f".{me}", "w").close()
    while not os.path.exists(gate):
        time.sleep(0.001)
n = 0
while count == 0 or n < count:
    n += 1
    if n % 4:
        written = [ledger.append("task.opened", task_id=f"{me}-{n}")]
    else:
        written = ledger.append_many(
            [NewEntry("step.done", f"{me}-{n}", {"step_id": f"s{i}"}, agent="a") for i in range(5)]
        )
    print(" ".join(str(e.sequence) for e in written), flush=True)
    if gate:
        time.sleep(0.002)  # as a real writer does other work between appends
"""


def start_writer(
    url: str, key: Path, count: int, gate: Path | None = None
) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-c", WRITER, url, str(key), str(count), str(gate or "")],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def test_a_writer_killed_mid_stream_loses_nothing_it_committed(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'ledger.db'}"
    key = PrivateKey.generate()
    key.save(tmp_path / "writer.pem")
    writer = start_writer(url, tmp_path / "writer.pem", 0)
    assert writer.stdout is not None
    committed: list[int] = []
    deadline = time.monotonic() + 60
    while len(committed) < 200 and time.monotonic() < deadline:
        line = writer.stdout.readline()
        if not line:
            break
        committed += map(int, line.split())
    os.kill(writer.pid, signal.SIGKILL)  # mid-stream: the writer is appending in a loop
    rest, errors = writer.communicate(timeout=30)
    committed += [int(n) for line in rest.splitlines() for n in line.split()]
    assert writer.returncode == -signal.SIGKILL
    assert len(committed) >= 200, errors

    ledger = Ledger(create_engine(url), keyring=KeyRing([key.public]))
    stored = {e.sequence for e in ledger.entries()}
    assert set(committed) <= stored  # every committed entry survived the kill
    report = ledger.verify()
    assert report.ok, report
    assert report.head is not None
    assert report.head.sequence == len(stored) >= max(committed)


def test_two_writer_processes_append_to_one_file_without_forking(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'ledger.db'}"
    keys = [PrivateKey.generate(), PrivateKey.generate()]
    for n, key in enumerate(keys):
        key.save(tmp_path / f"writer{n}.pem")
    Ledger(create_engine(url))  # tables exist before the race starts
    gate = tmp_path / "go"
    writers = [start_writer(url, tmp_path / f"writer{n}.pem", 40, gate) for n in range(2)]
    deadline = time.monotonic() + 60
    while len(list(tmp_path.glob("go.*"))) < 2 and time.monotonic() < deadline:
        time.sleep(0.01)
    gate.touch()  # both are loaded: let them race
    printed = []
    for writer in writers:
        out, errors = writer.communicate(timeout=120)
        assert writer.returncode == 0, errors
        printed.append([int(n) for n in out.split()])

    per_writer = 30 * 1 + 10 * 5  # 30 single appends and 10 batches of 5 each
    assert [len(p) for p in printed] == [per_writer, per_writer]
    assert sorted(printed[0] + printed[1]) == list(range(1, 2 * per_writer + 1))
    ledger = Ledger(create_engine(url), keyring=KeyRing(k.public for k in keys))
    report = ledger.verify()
    assert report.ok, report
    assert report.entries == 2 * per_writer
    signers = {e.sequence: e.signer for e in ledger.entries()}
    for key, sequences in zip(keys, printed, strict=True):
        assert {signers[s] for s in sequences} == {key.id}
    # They did race: the chain switches writer many times, not once.
    switches = sum(signers[s] != signers[s + 1] for s in range(1, 2 * per_writer))
    assert switches > 5


# argv: database URL, key file. Eight threads append one entry at a time through one group
# writer, forever, each printing an entry's sequence once its future has a result.
GROUP_WRITER = r"""
import sys, threading
from lamas.economy import Ledger, NewEntry
from lamas.security import PrivateKey
from lamas.store import create_engine

ledger = Ledger(create_engine(sys.argv[1]), PrivateKey.load(sys.argv[2]))
out = threading.Lock()
writer = ledger.writer()

def caller(n):
    i = 0
    while True:
        i += 1
        if i % 5:
            done = [writer.append("task.opened", task_id=f"{n}-{i}").result()]
        else:
            done = writer.submit(NewEntry("task.opened", f"{n}-{i}-{k}") for k in range(3)).result()
        with out:
            print(" ".join(str(e.sequence) for e in done), flush=True)

for n in range(8):
    threading.Thread(target=caller, args=(n,), daemon=True).start()
threading.Event().wait()
"""


def test_a_group_writer_killed_mid_stream_loses_nothing_it_acknowledged(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'ledger.db'}"
    key = PrivateKey.generate()
    key.save(tmp_path / "writer.pem")
    writer = subprocess.Popen(
        [sys.executable, "-c", GROUP_WRITER, url, str(tmp_path / "writer.pem")],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert writer.stdout is not None
    acknowledged: list[int] = []
    deadline = time.monotonic() + 60
    while len(acknowledged) < 500 and time.monotonic() < deadline:
        line = writer.stdout.readline()
        if not line:
            break
        acknowledged += map(int, line.split())
    os.kill(writer.pid, signal.SIGKILL)  # mid-stream: eight callers are appending
    rest, errors = writer.communicate(timeout=30)
    acknowledged += [int(n) for line in rest.splitlines() for n in line.split()]
    assert writer.returncode == -signal.SIGKILL
    assert len(acknowledged) >= 500, errors

    ledger = Ledger(create_engine(url), keyring=KeyRing([key.public]))
    stored = {e.sequence for e in ledger.entries()}
    assert set(acknowledged) <= stored  # every acknowledged entry survived the kill
    report = ledger.verify()
    assert report.ok, report
    assert report.head is not None
    assert report.head.sequence == len(stored) >= max(acknowledged)
    assert report.signatures < len(stored) / 2  # appends were committed in groups
