"""Confidence intervals for the numbers in ``results.csv``.

* Error *rates* (BER, BLER: ``k`` errors out of ``n`` trials) get a binomial
  interval: :func:`clopper_pearson` (exact, conservative; the default for the
  results) or :func:`wilson` (score interval, tighter, approximate coverage).
* Per-sample *means* (MSE, PSNR, SSIM, ...) get a Student-t interval:
  :func:`t_interval`.

Every function returns plain Python floats; an interval that cannot be computed
is ``(nan, nan)`` so that it becomes an empty CI cell in the CSV.

The quantiles come from ``scipy.special`` (which a run has imported already), computed by
the very functions ``scipy.stats`` calls: importing ``scipy.stats`` takes 0.6 s more.
"""

from __future__ import annotations

import math
from numbers import Integral

import numpy as np

__all__ = ["clopper_pearson", "wilson", "t_interval"]


def _check_confidence(confidence: float) -> float:
    confidence = float(confidence)
    if not 0.0 < confidence < 1.0:
        raise ValueError(f"confidence must be in (0, 1), got {confidence}")
    return confidence


def _check_counts(k: int, n: int) -> tuple[int, int]:
    for name, v in (("k", k), ("n", n)):
        if isinstance(v, bool) or not (
            isinstance(v, Integral) or (isinstance(v, float) and v.is_integer())
        ):
            raise TypeError(f"{name} must be a non-negative integer, got {v!r}")
    k, n = int(k), int(n)
    if n < 0 or k < 0 or k > n:
        raise ValueError(f"need 0 <= k <= n, got k={k}, n={n}")
    return k, n


def clopper_pearson(k: int, n: int, confidence: float = 0.95) -> tuple[float, float]:
    """Exact (Clopper-Pearson) two-sided interval for a binomial proportion.

    Args:
        k: number of successes (e.g. bit errors), ``0 <= k <= n``.
        n: number of trials (e.g. bits sent).
        confidence: two-sided confidence level in (0, 1).

    Returns:
        ``(low, high)`` in [0, 1]. ``k == 0`` gives ``low = 0``; ``k == n`` gives
        ``high = 1``; ``n == 0`` (nothing measured) gives ``(nan, nan)``.
    """
    confidence = _check_confidence(confidence)
    k, n = _check_counts(k, n)
    if n == 0:
        return (math.nan, math.nan)
    alpha = 1.0 - confidence
    low = 0.0 if k == 0 else _beta_ppf(alpha / 2.0, k, n - k + 1)
    high = 1.0 if k == n else _beta_ppf(1.0 - alpha / 2.0, k + 1, n - k)
    return (low, high)


def _beta_ppf(q: float, a: float, b: float) -> float:
    """``scipy.stats.beta.ppf(q, a, b)`` for ``0 < q < 1``, ``a, b > 0``: the ufunc that
    ``scipy.stats`` evaluates (Boost's beta quantile, private to ``scipy.special``), so the
    same bits; ``scipy.stats`` itself where scipy has no such ufunc."""
    try:
        from scipy.special._ufuncs import _beta_ppf as beta_ppf
    except ImportError:  # another scipy: the public route
        from scipy import stats

        return float(stats.beta.ppf(q, a, b))
    return float(beta_ppf(q, a, b))


def wilson(k: int, n: int, confidence: float = 0.95) -> tuple[float, float]:
    """Wilson score interval (no continuity correction) for a binomial proportion.

    Args:
        k: number of successes, ``0 <= k <= n``.
        n: number of trials.
        confidence: two-sided confidence level in (0, 1).

    Returns:
        ``(low, high)`` clipped to [0, 1]; ``n == 0`` gives ``(nan, nan)``.
    """
    confidence = _check_confidence(confidence)
    k, n = _check_counts(k, n)
    if n == 0:
        return (math.nan, math.nan)
    from scipy import stats

    z = float(stats.norm.ppf(0.5 + confidence / 2.0))
    p = k / n
    z2 = z * z
    denom = 1.0 + z2 / n
    center = (p + z2 / (2.0 * n)) / denom
    half = (z / denom) * math.sqrt(p * (1.0 - p) / n + z2 / (4.0 * n * n))
    low = 0.0 if k == 0 else max(0.0, center - half)
    high = 1.0 if k == n else min(1.0, center + half)
    return (low, high)


def t_interval(values: np.ndarray, confidence: float = 0.95) -> tuple[float, float, float]:
    """Mean of per-sample values and its two-sided Student-t confidence interval.

    Non-finite values (NaN, +inf, -inf) are **ignored**: the mean and the interval
    are those of the finite values only. (A perfect reconstruction has PSNR = +inf;
    the caller decides whether to report how many samples were dropped.)

    Args:
        values: array-like of any shape (flattened), e.g. ``[num_samples]`` PSNR in dB.
        confidence: two-sided confidence level in (0, 1).

    Returns:
        ``(mean, low, high)`` in the unit of ``values``. With fewer than 2 finite
        values: ``(mean, nan, nan)`` for exactly one, ``(nan, nan, nan)`` for none.
        Identical values give a zero-width interval ``(m, m, m)``.
    """
    confidence = _check_confidence(confidence)
    v = np.asarray(values, dtype=np.float64).ravel()
    v = v[np.isfinite(v)]
    if v.size == 0:
        return (math.nan, math.nan, math.nan)
    mean = float(v.mean())
    if v.size < 2:
        return (mean, math.nan, math.nan)
    sem = float(v.std(ddof=1)) / math.sqrt(v.size)
    if sem == 0.0:
        return (mean, mean, mean)
    from scipy.special import stdtrit  # what scipy.stats.t.ppf evaluates

    tq = float(stdtrit(v.size - 1, 0.5 + confidence / 2.0))
    return (mean, mean - tq * sem, mean + tq * sem)
