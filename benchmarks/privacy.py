"""Privacy benchmark: what the privacy machinery costs, each against a baseline of the same run.

(A) The orchestrator's privacy guard, per message: a request and its reply between two
    agents of a network built with the default defences (signatures, rate limits,
    injection screen) is the foundation's per-message cost; the same traffic sent
    through a gate with the guard (checking the envelope and the reply against the
    vault's fingerprints) costs more by the guard's overhead. Target: overhead < 10% of
    the foundation's cost. Messages are travel traffic built from the example's data (a
    booking request with sealed refs and its confirmation; a hotel search reply with up
    to 10 offers), fresh every round: new ids, tokens, dates and prices, the same hotel
    and train catalogue. Also: the guard alone, per message, with no word seen before
    (cold: its word cache emptied) and on traffic seen before (warm).
(B) Paillier at 2048 bits (phe, with gmpy2): key generation, and per value encrypt,
    add (homomorphic) and decrypt, against adding the plain Decimals.
(C) A secret-shared sum (additive shares over 2^127 - 1) over 3 and 10 parties, against
    the plain sum.
(D) A differentially private query (OpenDP Laplace; count and bounded sum of 1000
    values, budget tracked in memory), against the exact query.

Each figure is a median over rounds; arms alternate so machine noise hits both. Prints
a table and writes JSON to benchmarks/results/. Run: `python benchmarks/privacy.py`
(or `make bench-privacy`).
"""

from __future__ import annotations

import argparse
import asyncio
import csv
import gc
import random
import statistics
import time
from collections.abc import Callable
from decimal import Decimal
from pathlib import Path
from typing import Any

from _results import finish  # benchmarks/ is on the path when run as a script

from lamas.agent import Agent
from lamas.privacy import PrivacyGuard, Vault, new_key
from lamas.privacy.dp import DPStatistics, PrivacyBudget
from lamas.privacy.paillier import Aggregator, KeyHolder, Reporter
from lamas.privacy.sharing import joint_sum
from lamas.protocol import AgentCard, Context, Envelope, Message
from lamas.protocol.messages import DataPart, SealedRef
from lamas.runtime import Network
from lamas.runtime.defences import default_defences
from lamas.runtime.gate import Gate

TARGET_GUARD_OVERHEAD = 0.10
PROFILE = {
    "name": "Camille Martin",
    "passport_number": "19AB48213",
    "payment_card": "4970 1012 3456 7893",
    "home_address": "12 Rue des Lilas, 75011 Paris, France",
    "preferences": {"seat": "window", "hotel": {"min_stars": 3, "max_price_per_night": 160}},
}


def median_time(work: Callable[[], Any], rounds: int) -> float:
    times = []
    for _ in range(rounds):
        started = time.perf_counter()
        work()
        times.append(time.perf_counter() - started)
    return statistics.median(times)


# --- (A) the guard ----------------------------------------------------------------------


DATA = Path(__file__).resolve().parents[1] / "examples" / "travel" / "data"


def _rows(name: str) -> list[dict[str, str]]:
    with (DATA / name).open(encoding="utf-8", newline="") as file:
        return list(csv.DictReader(file))


def travel_bodies(rng: random.Random, count: int) -> list[tuple[Message, Message]]:
    """(request, reply) pairs as the orchestrator exchanges them with the travel vendors:
    half ticket bookings (a request with sealed refs; a confirmation with a fresh booking
    id), half hotel searches (up to 10 offers of the example's real hotels, for a random
    city, date and stay). Ids, tokens and dates are fresh; the catalogue repeats, as it
    does in real traffic."""
    hotels, trains = _rows("hotels.csv"), _rows("timetable_railgo.csv")
    cities = sorted({h["city"] for h in hotels})
    pairs = []
    for i in range(count):
        day = f"2026-{rng.randint(1, 12):02d}-{rng.randint(1, 28):02d}"
        if i % 2:
            train = rng.choice(trains)
            offer_id = f"railgo:{train['service']}:{day}"
            refs = tuple(
                SealedRef(field=f, vault_id="vault-bench", token=f"{rng.getrandbits(128):032x}")
                for f in ("name", "passport_number", "payment_card", "preferences")
            )
            request = Message(parts=(DataPart(data={"offer_id": offer_id}), *refs))
            sold = rng.randint(0, 600)
            reply = Message.of_data(
                {
                    "booking_id": f"RA-{rng.getrandbits(32):08X}",
                    "offer_id": offer_id,
                    "vendor": "railgo",
                    "status": "confirmed",
                    "seat": f"coach {1 + sold // 40 % 8}, seat {1 + sold // 2 % 20}A",
                    "train": train["service"],
                    "depart": f"{day}T{train['depart']}:00",
                    "price": float(train["price"]),
                    "currency": train["currency"],
                }
            )
        else:
            city, nights = rng.choice(cities), rng.randint(1, 5)
            request = Message.of_data(
                {"city": city, "check_in": day, "nights": nights, "near": "the station"}
            )
            found = [h for h in hotels if h["city"] == city][:10]
            offers = [
                {
                    "offer_id": f"staywell:{h['hotel_id']}:{day}:{nights}",
                    "hotel": h["name"],
                    "city": city,
                    "lat": float(h["lat"]),
                    "lon": float(h["lon"]),
                    "stars": int(h["stars"]),
                    "distance_km": round(rng.uniform(0.1, 5), 2),
                    "price_per_night": float(h["price_per_night"]),
                    "total": round(float(h["price_per_night"]) * nights, 2),
                    "currency": h["currency"],
                    "check_in": day,
                    "nights": nights,
                }
                for h in found
            ]
            reply = Message.of_data({"offers": offers, "near": f"{city} main station"})
        pairs.append((request, reply))
    return pairs


async def guard_overhead(messages: int, rounds: int) -> dict[str, float]:
    vault = Vault.create(PROFILE, new_key())
    guard = PrivacyGuard([vault.fingerprints()])
    hub = AgentCard(id="orchestrator", name="Hub", entity="platform")
    worker = AgentCard(id="vendor", name="Vendor", entity="vendor-co")
    # The full default stack (its rate limiter too), with a limit this traffic never meets.
    defences = default_defences([hub, worker], rate=(1e9, 1e9))
    network = Network()
    network.transport.signers = defences.signers()
    replies: dict[str, Message] = {}

    async def answer(envelope: Envelope, context: Context) -> Message:
        return replies[envelope.message.message_id]

    network.add(Agent(defences.signed_card(worker), answer, middleware=defences.middleware()))
    plain = Gate("orchestrator", network.transport)
    guarded = Gate("orchestrator", network.transport, [guard.middleware(outbound=True)])
    rng = random.Random(7)
    # Paired: every message goes once through each arm, in alternating order, and the
    # guard's cost is the median of the per-message differences (robust to the noise of
    # a shared machine, which hits both arms of a pair alike).
    foundation_times: list[float] = []
    differences: list[float] = []
    for round_ in range(rounds):
        bodies = travel_bodies(rng, messages)
        replies.clear()  # only this round's: the heap stays the same size round to round
        replies.update({request.message_id: reply for request, reply in bodies})
        gc.collect()
        for index, (request, _) in enumerate(bodies):
            took = {}
            order = [("foundation", plain), ("guarded", guarded)]
            for name, gate in order if (index + round_) % 2 else order[::-1]:
                envelope = Envelope(
                    sender="orchestrator", recipient="vendor", skill="x", message=request
                )
                started = time.perf_counter()
                await gate.request(envelope)
                took[name] = time.perf_counter() - started
            foundation_times.append(took["foundation"])
            differences.append(took["guarded"] - took["foundation"])
    assert not guard.rejected
    foundation = statistics.median(foundation_times)
    overhead = statistics.median(differences)
    with_guard = foundation + overhead

    # The guard alone, per message (envelope + reply): cold cache, then warm.
    bodies = travel_bodies(rng, messages)
    envelopes = [
        (Envelope(sender="orchestrator", recipient="vendor", message=q), r) for q, r in bodies
    ]

    def scan_all() -> None:
        for envelope, reply in envelopes:
            guard.check(envelope, "outbound")
            guard.check_reply(envelope, reply, "outbound reply")

    cold = []
    for _ in range(rounds):
        for prints in guard.fingerprints:
            prints._clean.clear()  # cold: no word seen before
            prints._hits.clear()
        started = time.perf_counter()
        scan_all()
        cold.append((time.perf_counter() - started) / messages)
    warm = median_time(scan_all, rounds) / messages
    await network.transport.close()
    return {
        "foundation_us_per_message": foundation * 1e6,
        "guarded_us_per_message": with_guard * 1e6,
        "guard_overhead_us": (with_guard - foundation) * 1e6,
        "guard_overhead_ratio": overhead / foundation,
        "guard_alone_cold_us": statistics.median(cold) * 1e6,
        "guard_alone_warm_us": warm * 1e6,
    }


# --- (B) Paillier -----------------------------------------------------------------------


def paillier(values: int, rounds: int) -> dict[str, float]:
    started = time.perf_counter()
    holder = KeyHolder(2048)
    keygen = time.perf_counter() - started
    figures = [Decimal(random.randint(0, 10**8)) / 100 for _ in range(values)]
    reporter = Reporter(holder.public_key)
    platform = Aggregator(holder.public_key)
    encrypted: list[Any] = []

    def encrypt() -> None:
        encrypted[:] = [reporter.encrypt(f"e{i}", v) for i, v in enumerate(figures)]

    encrypt_s = median_time(encrypt, rounds) / values
    total: list[Any] = []
    add_s = median_time(lambda: total.__setitem__(slice(None), [platform.add(encrypted)]), rounds)
    add_s /= values
    decrypt_s = median_time(lambda: holder.decrypt(total[0]), rounds)
    plain_s = median_time(lambda: sum(figures, Decimal(0)), rounds * 10) / values
    assert holder.decrypt(total[0]) == sum(figures, Decimal(0))
    return {
        "paillier_keygen_s": keygen,
        "paillier_encrypt_ms": encrypt_s * 1e3,
        "paillier_add_us": add_s * 1e6,
        "paillier_decrypt_ms": decrypt_s * 1e3,
        "plain_add_us": plain_s * 1e6,
    }


# --- (C) secret sharing, (D) differential privacy -------------------------------------


def sharing(rounds: int) -> dict[str, float]:
    result = {}
    for parties in (3, 10):
        inputs = {f"p{i}": Decimal(random.randint(0, 10**6)) / 100 for i in range(parties)}
        shared = median_time(lambda inputs=inputs: joint_sum(inputs), rounds * 20)
        plain = median_time(lambda inputs=inputs: sum(inputs.values(), Decimal(0)), rounds * 20)
        assert joint_sum(inputs).total == sum(inputs.values(), Decimal(0))
        result[f"shared_sum_{parties}_us"] = shared * 1e6
        result[f"plain_sum_{parties}_us"] = plain * 1e6
    return result


def differential_privacy(rounds: int) -> dict[str, float]:
    stats = DPStatistics(PrivacyBudget("bench", epsilon=1e12))
    values = [random.uniform(0, 100) for _ in range(1000)]
    stats.count(values, epsilon=1.0)  # builds and caches the OpenDP measurement
    stats.sum(values, lower=0, upper=100, epsilon=1.0)
    count = median_time(lambda: stats.count(values, epsilon=1.0), rounds * 20)
    total = median_time(lambda: stats.sum(values, lower=0, upper=100, epsilon=1.0), rounds * 20)
    exact_count = median_time(lambda: sum(1 for _ in values), rounds * 20)
    exact_sum = median_time(lambda: sum(min(max(v, 0), 100) for v in values), rounds * 20)
    return {
        "dp_count_us": count * 1e6,
        "exact_count_us": exact_count * 1e6,
        "dp_sum_us": total * 1e6,
        "exact_sum_us": exact_sum * 1e6,
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rounds", type=int, default=9)
    parser.add_argument("--messages", type=int, default=2000)
    parser.add_argument("--values", type=int, default=50, help="Paillier figures per round")
    args = parser.parse_args()
    random.seed(1)
    result: dict[str, Any] = {}
    result.update(asyncio.run(guard_overhead(args.messages, args.rounds)))
    result.update(paillier(args.values, max(3, args.rounds // 3)))
    result.update(sharing(args.rounds))
    result.update(differential_privacy(args.rounds))
    r = result
    rows = [
        (
            "(A) request+reply, defended network (us/msg)",
            r["guarded_us_per_message"],
            r["foundation_us_per_message"],
            "with guard vs without",
        ),
        (
            "(A) guard overhead (us/msg)",
            r["guard_overhead_us"],
            r["foundation_us_per_message"],
            f"< {TARGET_GUARD_OVERHEAD:.0%} of foundation",
        ),
        (
            "(A) guard alone, cold cache (us/msg)",
            r["guard_alone_cold_us"],
            r["foundation_us_per_message"],
            "vs foundation",
        ),
        (
            "(A) guard alone, warm cache (us/msg)",
            r["guard_alone_warm_us"],
            r["foundation_us_per_message"],
            "vs foundation",
        ),
        (
            "(B) Paillier-2048 encrypt (us/value)",
            r["paillier_encrypt_ms"] * 1e3,
            r["plain_add_us"],
            "vs plain Decimal add",
        ),
        (
            "(B) Paillier-2048 add (us/value)",
            r["paillier_add_us"],
            r["plain_add_us"],
            "vs plain Decimal add",
        ),
        (
            "(B) Paillier-2048 decrypt (us/total)",
            r["paillier_decrypt_ms"] * 1e3,
            r["plain_add_us"],
            "vs plain Decimal add",
        ),
        (
            "(C) secret-shared sum, 3 parties (us)",
            r["shared_sum_3_us"],
            r["plain_sum_3_us"],
            "vs plain sum",
        ),
        (
            "(C) secret-shared sum, 10 parties (us)",
            r["shared_sum_10_us"],
            r["plain_sum_10_us"],
            "vs plain sum",
        ),
        ("(D) DP count of 1000 (us)", r["dp_count_us"], r["exact_count_us"], "vs exact count"),
        ("(D) DP bounded sum of 1000 (us)", r["dp_sum_us"], r["exact_sum_us"], "vs exact sum"),
    ]
    checks = {"guard_overhead_under_10pct": r["guard_overhead_ratio"] < TARGET_GUARD_OVERHEAD}
    result["paillier_keygen_s"] = r["paillier_keygen_s"]
    result["target_guard_overhead_ratio"] = TARGET_GUARD_OVERHEAD
    result["met"] = checks

    from rich.console import Console
    from rich.table import Table

    table = Table(title="privacy machinery vs its baseline in the same run (medians)")
    for column in ("measure", "privacy", "baseline", "ratio", "compared with"):
        table.add_column(
            column, justify="left" if column in ("measure", "compared with") else "right"
        )
    for name, ours, base, what in rows:
        table.add_row(name, f"{ours:,.2f}", f"{base:,.2f}", f"{ours / base:,.3f}", what)
    Console(width=150).print(table)
    print(
        f"guard overhead: {r['guard_overhead_ratio']:.1%} of the foundation's per-message cost; "
        f"Paillier-2048 key generation {r['paillier_keygen_s']:.2f}s"
    )
    return finish("privacy", result, checks)


if __name__ == "__main__":
    raise SystemExit(main())
