"""Theory of N:M magnitude pruning for i.i.d. Gaussian weights.

Theorem 1 (the seed's): for a group of ``m`` i.i.d. N(0, sigma^2) weights, the
optimal N:M mask (``spla.nm_mask``) drops the ``m - n`` smallest magnitudes, so the
expected squared error per group is

    E_{n,m} = sigma^2 * sum_{k=1}^{m-n} E[X_(k)^2],

where X_(1) <= ... <= X_(m) are the order statistics of m i.i.d. half-normal
``|N(0, 1)|`` variables, whose density is

    f_(k)(x) = m! / ((k-1)! (m-k)!) F(x)^(k-1) (1 - F(x))^(m-k) f(x),
    F(x) = erf(x / sqrt 2),  f(x) = sqrt(2 / pi) exp(-x^2 / 2),  x >= 0.

The expected removed fraction of the energy is ``E_{n,m} / (m sigma^2)``.

Correction to the notes this library follows: they claim that 2:4 pruning of
Gaussian weights removes "about sigma^2 per group, 25% of the energy". The exact
value is ``E_{2,4} = 0.5298 sigma^2`` per group, **13.24%** of the energy (Monte
Carlo with 4 million groups gives 0.5295 +- 0.0003; see ``tests/test_theory_nm.py``
and ``docs/nm.md``). The notes overstate the loss by a factor of 1.89. (Dropping
two *random* elements of four would remove 50%.)

Theorem 7 (ReLU sparsity): for pre-activations ``z ~ N(mu, sigma^2)`` the
fraction of zeros after ``ReLU`` is ``P(z <= 0) = Phi(-mu / sigma)``
(``relu_sparsity``); at ``mu = 0`` it is one half.

The other formulas of the notes live with the code they describe (``spla.moe``,
``spla.prune``, ``spla.attention``); ``docs/theory.md`` lists every one with the
test that checks it.

Examples
--------
>>> from spla import theory
>>> round(theory.nm_expected_error(2, 4), 4), round(theory.nm_energy_fraction(2, 4), 4)
(0.5298, 0.1324)
"""

import functools
import math

import numpy as np

from .masks import check_nm

__all__ = ["nm_expected_error", "nm_energy_fraction", "order_statistic_second_moment",
           "relu_sparsity"]


@functools.lru_cache(maxsize=None)
def order_statistic_second_moment(k, m):
    """E[X_(k)^2] of the k-th smallest (1-based) of m i.i.d. half-normal ``|N(0, 1)|``.

    Computed by adaptive quadrature (``scipy.integrate.quad``) of
    ``x^2 f_(k)(x)`` over ``[0, inf)``; the absolute error is below 1e-10.

    Examples
    --------
    >>> round(order_statistic_second_moment(1, 1), 6)  # E[Z^2] = 1
    1.0
    """
    from scipy import integrate, special

    k = int(k)
    m = int(m)
    if not 1 <= k <= m:
        raise ValueError(f"need 1 <= k <= m, got k={k}, m={m}")
    log_c = math.lgamma(m + 1) - math.lgamma(k) - math.lgamma(m - k + 1)
    sq = math.sqrt(2.0)
    log_f0 = 0.5 * math.log(2.0 / math.pi)

    def integrand(x):
        F = special.erf(x / sq)
        Q = special.erfc(x / sq)
        if (k > 1 and F == 0.0) or (m > k and Q == 0.0):
            return 0.0
        logp = log_c + log_f0 - 0.5 * x * x
        if k > 1:
            logp += (k - 1) * math.log(F)
        if m > k:
            logp += (m - k) * math.log(Q)
        return x * x * math.exp(logp)

    value, _ = integrate.quad(integrand, 0.0, math.inf, epsabs=1e-12, epsrel=1e-12, limit=200)
    return value


def nm_expected_error(n, m, sigma=1.0):
    """Exact expected squared error per group of N:M magnitude pruning of i.i.d.
    N(0, sigma^2) weights: the expected sum of the squares of the ``m - n``
    smallest magnitudes of ``m`` (Theorem 1).

    Parameters
    ----------
    n, m : int
        Keep ``n`` of every ``m``; ``1 <= n < m <= 16``.
    sigma : float
        Standard deviation of the weights.

    Returns
    -------
    float
        ``sigma^2 * sum_{k=1}^{m-n} E[X_(k)^2]`` (numerical integration, relative
        error below 1e-9).

    Examples
    --------
    >>> import spla
    >>> round(spla.theory.nm_expected_error(2, 4), 4)   # not sigma^2 = 1
    0.5298
    >>> round(spla.theory.nm_expected_error(1, 2, sigma=2.0), 4)  # 4 (1 - 2/pi)
    1.4535
    """
    n, m = check_nm(n, m)
    sigma = float(sigma)
    if not sigma >= 0 or math.isinf(sigma):
        raise ValueError(f"sigma must be finite and non-negative, got {sigma}")
    return sigma * sigma * math.fsum(order_statistic_second_moment(k, m)
                                     for k in range(1, m - n + 1))


def nm_energy_fraction(n, m):
    """Expected fraction of the energy that N:M magnitude pruning of i.i.d. Gaussian
    weights removes: ``nm_expected_error(n, m) / m`` (independent of sigma).

    This is the ratio of expectations E[removed] / E[total], the limit of the
    removed fraction of a large Gaussian matrix.

    Parameters
    ----------
    n, m : int
        Keep ``n`` of every ``m``; ``1 <= n < m <= 16``.

    Returns
    -------
    float in (0, 1)

    Examples
    --------
    >>> import spla
    >>> round(spla.theory.nm_energy_fraction(2, 4), 4)   # 13.2%, not 25%
    0.1324
    """
    n, m = check_nm(n, m)
    return nm_expected_error(n, m, 1.0) / m


def relu_sparsity(mu, sigma):
    """Expected fraction of zeros of ``ReLU(z)`` for ``z ~ N(mu, sigma^2)``:
    ``Phi(-mu / sigma)`` (the notes' Theorem 7).

    Parameters
    ----------
    mu : float or array_like
        Mean of the pre-activations.
    sigma : float or array_like
        Their standard deviation, ``>= 0`` (broadcasts against ``mu``). With
        ``sigma = 0`` the pre-activation is the constant ``mu``: 1 where
        ``mu <= 0``, 0 where ``mu > 0``.

    Returns
    -------
    float, or ndarray of float64 for array input

    Notes
    -----
    ``P(max(z, 0) = 0) = P(z <= 0) = P((z - mu) / sigma <= -mu / sigma)``.
    The density of active units is ``alpha = 1 - Phi(-mu / sigma) =
    Phi(mu / sigma)``, and ``spla.activation_matvec`` then does about
    ``alpha`` of the work of a dense product (ideal speedup ``1 / alpha``).

    Examples
    --------
    >>> from spla import theory
    >>> theory.relu_sparsity(0.0, 1.0)
    0.5
    >>> round(theory.relu_sparsity(-1.0, 1.0), 4)   # a negative bias: 84% zeros
    0.8413
    """
    from scipy import special

    mu_a = np.asarray(mu)
    sg_a = np.asarray(sigma)
    for name, a in (("mu", mu_a), ("sigma", sg_a)):
        if a.dtype.kind not in "biuf":
            raise TypeError(f"relu_sparsity: {name} must be real, got {a.dtype}")
    mu_a = mu_a.astype(np.float64)
    sg_a = sg_a.astype(np.float64)
    if np.isnan(mu_a).any() or np.isnan(sg_a).any():
        raise ValueError("relu_sparsity: mu and sigma must not be NaN")
    if (sg_a < 0).any() or np.isinf(sg_a).any():
        raise ValueError("relu_sparsity: sigma must be finite and >= 0")
    try:
        mu_b, sg_b = np.broadcast_arrays(mu_a, sg_a)
    except ValueError:
        raise ValueError(f"relu_sparsity: mu {mu_a.shape} and sigma {sg_a.shape} do not "
                         "broadcast") from None
    with np.errstate(divide="ignore", invalid="ignore"):
        z = np.where(sg_b > 0, -mu_b / np.where(sg_b > 0, sg_b, 1.0), 0.0)
    out = np.where(sg_b > 0, special.ndtr(z), np.where(mu_b <= 0, 1.0, 0.0))
    if out.ndim == 0:
        return float(out)
    return out
