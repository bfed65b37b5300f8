"""spla.theory: the exact N:M pruning error of Gaussian weights against Monte Carlo."""

import math

import numpy as np
import pytest

import spla
from spla import theory

PAIRS = [(2, 4), (1, 4), (3, 4), (1, 2), (2, 8), (4, 8), (1, 16), (8, 16)]


def _monte_carlo(n, m, groups, sigma, seed):
    """Removed energy per group of magnitude pruning, sample mean and standard error."""
    rng = np.random.default_rng(seed)
    W = sigma * rng.standard_normal((groups, m))
    removed = np.sort(W * W, axis=1)[:, : m - n].sum(axis=1)
    return removed.mean(), removed.std(ddof=1) / math.sqrt(groups), W


@pytest.mark.parametrize("n, m", PAIRS)
def test_expected_error_matches_monte_carlo(n, m):
    sigma = 1.7
    mean, se, W = _monte_carlo(n, m, 200_000, sigma, seed=n * 100 + m)
    exact = theory.nm_expected_error(n, m, sigma)
    assert abs(exact - mean) < 4 * se, (exact, mean, se)
    # The same number through spla.prune_nm on the samples as a matrix.
    pruned = spla.prune_nm(W, n, m)
    removed = ((W - pruned) ** 2).sum(axis=1)
    np.testing.assert_allclose(removed.mean(), mean, rtol=1e-9)


@pytest.mark.parametrize("n, m", PAIRS)
def test_energy_fraction_matches_monte_carlo(n, m):
    mean, se, _ = _monte_carlo(n, m, 200_000, 1.0, seed=7 * m + n)
    frac = theory.nm_energy_fraction(n, m)
    assert 0 < frac < 1 - n / m  # magnitude pruning beats dropping at random
    assert abs(frac - mean / m) < 4 * se / m
    assert frac == pytest.approx(theory.nm_expected_error(n, m, 3.0) / (9.0 * m), rel=1e-12)


def test_two_four_value_corrects_the_notes():
    # The notes claim "about sigma^2 per group, 25% of the energy" for 2:4.
    e = theory.nm_expected_error(2, 4)
    assert e == pytest.approx(0.52979, abs=1e-5)
    assert theory.nm_energy_fraction(2, 4) == pytest.approx(0.132447, abs=1e-6)
    mean, se, _ = _monte_carlo(2, 4, 1_000_000, 1.0, seed=24)
    assert abs(mean - 1.0) > 100 * se  # sigma^2 per group is ruled out
    assert abs(mean - e) < 4 * se


def test_closed_forms():
    # 1:2 drops the smaller of two: E = 2 E[Z^2] - E[max^2] = 1 - 2/pi.
    assert theory.nm_expected_error(1, 2) == pytest.approx(1 - 2 / math.pi, rel=1e-10)
    # Sum over all order statistics is m E[Z^2] = m.
    for m in (2, 4, 16):
        total = sum(theory.order_statistic_second_moment(k, m) for k in range(1, m + 1))
        assert total == pytest.approx(m, rel=1e-9)
    # Monotone: keeping more removes less.
    errs = [theory.nm_expected_error(n, 8) for n in range(1, 8)]
    assert all(a > b for a, b in zip(errs, errs[1:]))
    assert theory.nm_expected_error(2, 4, sigma=0.0) == 0.0


def test_bad_arguments():
    with pytest.raises(ValueError):
        theory.nm_expected_error(4, 4)
    with pytest.raises(ValueError):
        theory.nm_expected_error(2, 4, sigma=-1.0)
    with pytest.raises(ValueError):
        theory.order_statistic_second_moment(0, 4)
