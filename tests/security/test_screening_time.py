"""Screening is linear: any 1 MB text is scored in under a second (the rules on RE2; the
old backtracking `contact_in_data` took ~30 s on 100,000 characters and never finished on
1 MB). Hypothesis builds long adversarial texts from the pieces the rules look for.

The bound is on CPU time (`time.process_time`): the machine is shared, and wall time under
a load of 16 on 2 cores says more about the neighbours than about the rules. The benchmark
(benchmarks/screening.py) reports wall time."""

from __future__ import annotations

import time

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from lamas.security.detector import Detector

MB = 1_000_000
PIECES = [
    "a", "@", ".", "-", "+", " ", "\n", "http://", "www.", "ignore ", "send ", "to ", "[", "]",
    "!", "1gn0r3", "QUJD", "41 ", "\u00e9", "\u0430", "\u200b", "system:", "![x](", "=", "'", '"',
]  # fmt: skip
DETECTOR = Detector()


@settings(
    max_examples=12,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(pattern=st.lists(st.sampled_from(PIECES), min_size=1, max_size=6))
def test_any_1_mb_text_is_screened_in_under_a_second(pattern: list[str]) -> None:
    unit = "".join(pattern)
    text = (unit * (MB // len(unit) + 1))[:MB]
    started = time.process_time()
    DETECTOR.score(text)
    took = time.process_time() - started
    assert took < 1.0, f"{took:.2f} s for {unit!r} x {MB // len(unit)}"


def test_the_old_worst_case_is_linear_now() -> None:
    times = []
    for size in (100_000, 1_000_000):
        started = time.process_time()
        DETECTOR.score("a" * size)
        times.append(time.process_time() - started)
    assert times[1] < 1.0
    assert times[1] / max(times[0], 1e-3) < 30  # 10x the text, nowhere near 100x the time
