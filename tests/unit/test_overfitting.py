"""The Deflated Sharpe Ratio and the Probability of Backtest Overfitting, against the
papers' formulas written out directly on full return series."""

from __future__ import annotations

import itertools
import math
from statistics import NormalDist

import numpy as np
import pytest

from backend_services.services.backtest.engine.overfitting import (
    BLOCKS,
    block_moments,
    deflated_sharpe,
    expected_max_sharpe,
    probability_of_backtest_overfitting,
)

EULER_MASCHERONI = 0.5772156649015329
NORMAL = NormalDist()


def _returns(count: int, trials: int, seed: int, drift: float = 0.0) -> np.ndarray:
    """A (count, trials) matrix of per-bar returns, noise around `drift`."""
    return np.random.default_rng(seed).normal(drift, 0.01, (count, trials))


def _moments(returns: np.ndarray) -> np.ndarray:
    """Each column's equity curve (starting at 100) summed up in blocks."""
    equity = 100 * np.vstack([np.ones(returns.shape[1]), np.cumprod(1 + returns, axis=0)])
    return np.stack([block_moments(equity[:, n], BLOCKS) for n in range(returns.shape[1])])


def _direct_deflated_sharpe(returns: np.ndarray, best: int) -> float:
    """Bailey and Lopez de Prado (2014), eq. (2) with SR0 from the False Strategy Theorem."""
    trials = returns.shape[1]
    sharpes = returns.mean(axis=0) / returns.std(axis=0, ddof=1)
    variance = np.var(sharpes, ddof=1)
    expected_max = math.sqrt(variance) * (
        (1 - EULER_MASCHERONI) * NORMAL.inv_cdf(1 - 1 / trials)
        + EULER_MASCHERONI * NORMAL.inv_cdf(1 - 1 / (trials * math.e))
    )
    chosen = returns[:, best]
    deviations = chosen - chosen.mean()
    skew = np.mean(deviations**3) / np.mean(deviations**2) ** 1.5
    kurtosis = np.mean(deviations**4) / np.mean(deviations**2) ** 2
    sharpe = sharpes[best]
    observations = chosen.shape[0]
    return NORMAL.cdf(
        (sharpe - expected_max)
        * math.sqrt(observations - 1)
        / math.sqrt(1 - skew * sharpe + (kurtosis - 1) / 4 * sharpe**2)
    )


def _direct_pbo(returns: np.ndarray, blocks: int) -> float:
    """Bailey, Borwein, Lopez de Prado and Zhu (2015), CSCV steps 1-6, on the full matrix."""
    trials = returns.shape[1]
    groups = np.array_split(np.arange(returns.shape[0]), blocks)
    logits = []
    for chosen in itertools.combinations(range(blocks), blocks // 2):
        inside = np.concatenate([groups[b] for b in chosen])
        outside = np.concatenate([groups[b] for b in range(blocks) if b not in chosen])
        train, test = returns[inside], returns[outside]
        train_sharpe = train.mean(axis=0) / train.std(axis=0, ddof=1)
        test_sharpe = test.mean(axis=0) / test.std(axis=0, ddof=1)
        winner = int(np.argmax(train_sharpe))
        rank = 1 + sum(test_sharpe[n] < test_sharpe[winner] for n in range(trials))
        relative = rank / (trials + 1)
        logits.append(math.log(relative / (1 - relative)))
    return sum(logit <= 0 for logit in logits) / len(logits)


def test_block_moments_are_counts_and_power_sums_of_each_blocks_returns() -> None:
    returns = _returns(170, 1, seed=1)[:, 0]  # blocks of 10 and 11 returns
    moments = _moments(returns[:, np.newaxis])[0]

    block_of = (np.arange(170) * BLOCKS) // 170  # return i is of bar i + 1
    for block in range(BLOCKS):
        rows = returns[block_of == block]
        expected = [rows.size, *(np.sum(rows**k) for k in (1, 2, 3, 4))]
        assert moments[:, block] == pytest.approx(expected, rel=1e-12)
    assert sorted({int(n) for n in moments[0]}) == [10, 11]


def test_the_deflated_sharpe_ratio_is_the_papers_formula() -> None:
    returns = _returns(800, 30, seed=2, drift=0.0003)
    # A best with skew and fat tails: few large gains, many small losses.
    returns[:, 7] = 0.01 * (np.random.default_rng(3).exponential(1.0, 800) - 0.8)
    best = int(np.argmax(returns.mean(axis=0) / returns.std(axis=0, ddof=1)))

    measured = deflated_sharpe(_moments(returns), best)

    assert measured is not None
    assert measured.value == pytest.approx(_direct_deflated_sharpe(returns, best), rel=1e-9)
    assert (measured.trials, measured.observations) == (30, 800)
    assert best == 7
    assert measured.skew > 1
    assert measured.kurtosis > 5


def test_the_deflated_sharpe_ratio_falls_as_the_number_of_trials_grows() -> None:
    """The same ten trials run 1 to 100 times over: the same best, the same spread of
    Sharpe ratios, ever more trials that could have been lucky."""
    returns = _returns(1_000, 10, seed=3)
    returns[:, 0] += 0.0015
    moments = _moments(returns)
    values = []
    for times in (1, 2, 10, 100):
        measured = deflated_sharpe(np.concatenate([moments] * times), 0)
        assert measured is not None
        assert measured.trials == 10 * times
        values.append(measured.value)

    assert values == sorted(values, reverse=True)
    assert values[0] > 0.9 > values[-1]
    assert [expected_max_sharpe(1.0, n) for n in (1, 2, 10, 1_000)] == sorted(
        expected_max_sharpe(1.0, n) for n in (1, 2, 10, 1_000)
    )


def test_a_single_trial_is_judged_against_a_sharpe_ratio_of_zero() -> None:
    returns = _returns(500, 1, seed=5, drift=0.001)
    measured = deflated_sharpe(_moments(returns), 0)

    assert measured is not None
    assert measured.expected_max_sharpe == 0.0
    sharpe = returns.mean() / returns.std(ddof=1)
    assert measured.sharpe == pytest.approx(sharpe, rel=1e-9)


def test_returns_that_never_vary_have_no_deflated_sharpe_ratio() -> None:
    flat = np.zeros((200, 3))
    assert deflated_sharpe(_moments(flat), 0) is None


def test_the_pbo_from_block_moments_is_the_pbo_of_the_full_return_matrix() -> None:
    returns = _returns(16 * 40, 12, seed=6, drift=0.0002)
    returns[:, 3] += 0.0008

    measured = probability_of_backtest_overfitting(_moments(returns))

    assert measured is not None
    assert (measured.blocks, measured.splits, measured.trials) == (16, 12_870, 12)
    assert measured.value == _direct_pbo(returns, BLOCKS)


def test_the_pbo_of_pure_noise_strategies_is_near_one_half() -> None:
    """One noise sample's PBO swings widely (its splits share their blocks); over twenty
    samples of fifty strategies it centres on a half."""
    values = []
    for seed in range(20):
        measured = probability_of_backtest_overfitting(_moments(_returns(1_600, 50, seed=seed)))
        assert measured is not None
        values.append(measured.value)

    assert 0.4 < float(np.mean(values)) < 0.6


def test_the_pbo_of_one_truly_better_strategy_among_noise_is_near_zero() -> None:
    returns = _returns(1_600, 50, seed=8)
    returns[:, 17] += 0.004

    measured = probability_of_backtest_overfitting(_moments(returns))

    assert measured is not None
    assert measured.value < 0.02


def test_too_few_trials_or_bars_give_no_pbo() -> None:
    assert probability_of_backtest_overfitting(_moments(_returns(400, 1, seed=9))) is None
    assert probability_of_backtest_overfitting(_moments(_returns(20, 5, seed=9))) is None


def test_a_trial_whose_equity_is_gone_counts_with_a_sharpe_ratio_of_zero_where_it_has_none() -> (
    None
):
    returns = _returns(1_600, 10, seed=10)
    moments = _moments(returns)
    gone = np.concatenate([100 * np.cumprod(1 + returns[:400, 0]), np.zeros(1_201)])
    with_gone = np.concatenate([moments, block_moments(gone, BLOCKS)[np.newaxis]])

    measured = probability_of_backtest_overfitting(with_gone)

    assert measured is not None
    assert measured.trials == 11
    assert 0 <= measured.value <= 1
