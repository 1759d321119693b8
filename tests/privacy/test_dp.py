"""Differential privacy: the noise has the scale the epsilon promises, and budgets end."""

from __future__ import annotations

import math
import statistics

import pytest

from lamas.errors import BudgetExhausted, InputError
from lamas.privacy.dp import DPStatistics, PrivacyBudget, gaussian_rho
from lamas.store import create_engine

SAMPLES = 4000


def stats(epsilon: float = 1e9, delta: float = 0.5) -> DPStatistics:
    return DPStatistics(PrivacyBudget("test", epsilon=epsilon, delta=delta))


@pytest.mark.parametrize("epsilon", [0.5, 2.0])
def test_laplace_noise_matches_the_stated_epsilon(epsilon: float) -> None:
    dp = stats()
    values = [1.0, 2.0, 3.0]
    draws = [dp.sum(values, lower=0, upper=5, epsilon=epsilon).value - 6.0 for _ in range(SAMPLES)]
    scale = 5 / epsilon  # sensitivity max(|lower|, |upper|) / epsilon
    # Laplace(b): mean 0, mean absolute deviation b, standard deviation b*sqrt(2).
    assert abs(statistics.fmean(draws)) < 4 * scale * math.sqrt(2) / math.sqrt(SAMPLES)
    # Tolerances are about 5 standard errors of each estimate at 4000 draws (1.6%, 1.8%):
    # a wrong scale (a factor sqrt(2) or 2) fails by far; chance alone, almost never.
    assert statistics.fmean(abs(d) for d in draws) == pytest.approx(scale, rel=0.08)
    assert statistics.pstdev(draws) == pytest.approx(scale * math.sqrt(2), rel=0.09)


def test_counts_are_integers_with_discrete_laplace_noise() -> None:
    dp = stats()
    draws = [dp.count(range(100), epsilon=1.0).value for _ in range(SAMPLES)]
    assert all(isinstance(d, int) for d in draws)
    assert statistics.fmean(draws) == pytest.approx(100, abs=0.2)
    # Discrete Laplace of scale b = 1 / epsilon: P(k) ~ exp(-|k| / b), so the mean absolute
    # deviation is 2 e^(-1/b) / (1 - e^(-2/b)) (0.851 at b = 1).
    b = 1.0
    deviation = 2 * math.exp(-1 / b) / (1 - math.exp(-2 / b))
    # 4000 draws: the estimate's relative standard error is 2%; 9% is 4.5 of them.
    assert statistics.fmean(abs(d - 100) for d in draws) == pytest.approx(deviation, rel=0.09)


def test_gaussian_noise_matches_the_zcdp_conversion() -> None:
    dp = stats()
    epsilon, delta = 1.0, 1e-6
    release = dp.sum([0.0], lower=0, upper=1, epsilon=epsilon, delta=delta, mechanism="gaussian")
    rho = gaussian_rho(epsilon, delta)
    assert rho + 2 * math.sqrt(rho * math.log(1 / delta)) == pytest.approx(epsilon)
    sigma = 1 / math.sqrt(2 * rho)
    assert release.scale == pytest.approx(sigma)
    draws = [
        dp.sum([0.0], lower=0, upper=1, epsilon=epsilon, delta=delta, mechanism="gaussian").value
        for _ in range(SAMPLES)
    ]
    assert statistics.pstdev(draws) == pytest.approx(sigma, rel=0.06)


def test_the_budget_is_spent_and_then_refused_with_nothing_spent() -> None:
    budget = PrivacyBudget("clicks", epsilon=1.0)
    dp = DPStatistics(budget)
    dp.count([1, 2, 3], epsilon=0.4)
    dp.histogram(["a", "b", "a"], categories=["a", "b"], epsilon=0.4)
    assert budget.spent[0] == pytest.approx(0.8)
    with pytest.raises(BudgetExhausted, match=r"'clicks'.*epsilon 0\.2, delta 0 left"):
        dp.count([1, 2, 3], epsilon=0.3)
    with pytest.raises(BudgetExhausted):
        dp.mean([1.0, 2.0], lower=0, upper=3, epsilon=0.3)  # neither half is spent
    assert budget.spent[0] == pytest.approx(0.8)
    dp.rate(3, 10, epsilon=0.2)
    assert budget.remaining[0] == pytest.approx(0.0, abs=1e-9)
    with pytest.raises(BudgetExhausted):
        dp.rate(3, 10, epsilon=0.01)
    with pytest.raises(InputError, match="delta"):
        DPStatistics(PrivacyBudget("x", epsilon=1.0, delta=1e-5)).sum(
            [1.0], lower=0, upper=1, epsilon=0.5, mechanism="gaussian"
        )


def test_the_budget_is_kept_in_the_database(tmp_path: object) -> None:
    engine = create_engine(f"sqlite:///{tmp_path}/dp.db")  # type: ignore[str-bytes-safe]
    DPStatistics(PrivacyBudget("ads", epsilon=1.0, engine=engine)).count([1], epsilon=0.7)
    again = PrivacyBudget("ads", epsilon=1.0, engine=engine)
    assert again.spent[0] == pytest.approx(0.7)
    with pytest.raises(BudgetExhausted):
        DPStatistics(again).count([1], epsilon=0.5)
    assert PrivacyBudget("other", epsilon=1.0, engine=engine).spent == (0.0, 0.0)


def test_histogram_mean_and_rate_answer_near_the_truth() -> None:
    dp = stats()
    hist = dp.histogram(["a"] * 500 + ["b"] * 200 + ["z"], categories=["a", "b"], epsilon=5.0)
    assert set(hist.value) == {"a", "b"}
    assert abs(hist.value["a"] - 500) < 10
    assert abs(hist.value["b"] - 200) < 10
    mean = dp.mean([10.0] * 1000, lower=0, upper=20, epsilon=5.0)
    assert mean.value == pytest.approx(10.0, abs=0.5)
    rate = dp.rate(100, 1000, epsilon=5.0)
    assert rate.value == pytest.approx(0.1, abs=0.02)
    with pytest.raises(InputError):
        dp.rate(5, 3, epsilon=1.0)
