"""Tests for linksim.metrics.intervals."""

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import stats

from linksim.metrics.intervals import clopper_pearson, t_interval, wilson


@pytest.mark.parametrize("k,n", [(0, 1), (1, 1), (0, 10), (3, 10), (10, 10), (17, 1000), (500, 1000), (1, 100000)])
@pytest.mark.parametrize("confidence", [0.9, 0.95, 0.99])
def test_clopper_pearson_matches_scipy_exact(k, n, confidence):
    ref = stats.binomtest(k, n).proportion_ci(confidence_level=confidence, method="exact")
    lo, hi = clopper_pearson(k, n, confidence)
    assert lo == pytest.approx(ref.low, rel=1e-9, abs=1e-12)
    assert hi == pytest.approx(ref.high, rel=1e-9, abs=1e-12)


@pytest.mark.parametrize("k,n", [(0, 1), (1, 1), (0, 10), (3, 10), (10, 10), (17, 1000), (500, 1000), (1, 100000)])
@pytest.mark.parametrize("confidence", [0.9, 0.95, 0.99])
def test_wilson_matches_scipy(k, n, confidence):
    ref = stats.binomtest(k, n).proportion_ci(confidence_level=confidence, method="wilson")
    lo, hi = wilson(k, n, confidence)
    assert lo == pytest.approx(ref.low, rel=1e-9, abs=1e-12)
    assert hi == pytest.approx(ref.high, rel=1e-9, abs=1e-12)


def test_known_clopper_pearson_value():
    # textbook value: 0 errors in 10 trials, 95% -> upper bound 1 - 0.025**(1/10)
    assert clopper_pearson(0, 10) == (0.0, pytest.approx(1 - 0.025 ** 0.1))
    assert clopper_pearson(10, 10) == (pytest.approx(0.025 ** 0.1), 1.0)


def test_edge_cases():
    assert all(math.isnan(v) for v in clopper_pearson(0, 0))
    assert all(math.isnan(v) for v in wilson(0, 0))
    assert wilson(0, 20)[0] == 0.0
    assert wilson(20, 20)[1] == 1.0
    assert isinstance(clopper_pearson(np.int64(3), np.int64(10))[0], float)
    with pytest.raises(ValueError):
        clopper_pearson(5, 3)
    with pytest.raises(ValueError):
        wilson(-1, 3)
    with pytest.raises(ValueError):
        clopper_pearson(1, 3, confidence=1.0)
    with pytest.raises(TypeError):
        clopper_pearson(1.5, 3)


@settings(max_examples=100, deadline=None)
@given(n=st.integers(1, 10**6), frac=st.floats(0, 1), conf=st.floats(0.5, 0.999))
def test_intervals_contain_point_estimate(n, frac, conf):
    k = int(round(frac * n))
    for fn in (clopper_pearson, wilson):
        lo, hi = fn(k, n, conf)
        assert 0.0 <= lo <= k / n + 1e-12
        assert k / n - 1e-12 <= hi <= 1.0


def _exact_coverage(fn, p, n, confidence):
    """Exact coverage probability: sum of Binomial(n, p) pmf over k whose interval contains p."""
    ks = np.arange(n + 1)
    pmf = stats.binom.pmf(ks, n, p)
    covered = np.array([lo <= p <= hi for lo, hi in (fn(int(k), n, confidence) for k in ks)])
    return float(pmf[covered].sum())


@pytest.mark.parametrize("p,n", [(0.01, 200), (0.1, 50), (0.3, 30), (0.5, 100)])
def test_coverage(p, n):
    # Clopper-Pearson is exact: coverage >= nominal for every p, n.
    assert _exact_coverage(clopper_pearson, p, n, 0.95) >= 0.95
    # Wilson is approximate but close to nominal in these regimes.
    assert _exact_coverage(wilson, p, n, 0.95) >= 0.92


def test_t_interval_matches_scipy():
    rng = np.random.default_rng(0)
    v = rng.normal(3.0, 2.0, size=25)
    mean, lo, hi = t_interval(v, 0.9)
    ref_lo, ref_hi = stats.t.interval(0.9, df=24, loc=v.mean(), scale=stats.sem(v))
    assert mean == pytest.approx(v.mean())
    assert lo == pytest.approx(ref_lo)
    assert hi == pytest.approx(ref_hi)


def test_t_interval_ignores_nonfinite():
    v = np.array([1.0, 2.0, np.inf, 3.0, np.nan, -np.inf])
    assert t_interval(v) == pytest.approx(t_interval(np.array([1.0, 2.0, 3.0])))
    mean, lo, hi = t_interval(np.array([np.inf, 4.0]))
    assert mean == 4.0 and math.isnan(lo) and math.isnan(hi)
    assert all(math.isnan(x) for x in t_interval(np.array([np.nan, np.inf])))
    assert all(math.isnan(x) for x in t_interval(np.array([])))
    assert t_interval([2.0, 2.0, 2.0]) == (2.0, 2.0, 2.0)


def test_t_interval_coverage():
    # coverage of 2000 independent intervals; tolerance from the binomial std of the count
    rng = np.random.default_rng(1)
    trials, n, conf = 2000, 8, 0.95
    data = rng.normal(1.0, 1.0, size=(trials, n))
    hits = 0
    for row in data:
        _, lo, hi = t_interval(row, conf)
        hits += lo <= 1.0 <= hi
    tol = 4.0 * math.sqrt(conf * (1 - conf) / trials)
    assert abs(hits / trials - conf) < tol


def test_quantiles_are_those_of_scipy_stats_bit_for_bit():
    """The intervals call scipy.special's functions instead of importing scipy.stats (0.6 s):
    every bound must be the one scipy.stats gives, to the bit (results.csv must not change)."""
    import math

    rng = np.random.default_rng(0)
    for _ in range(3000):
        n = int(rng.integers(1, 10**7)) if rng.random() < 0.8 else int(rng.integers(1, 50))
        k = int(rng.integers(0, n + 1))
        lo, hi = clopper_pearson(k, n)
        alpha = 1.0 - 0.95  # as the function computes it (0.05000000000000004)
        assert lo == (0.0 if k == 0 else float(stats.beta.ppf(alpha / 2.0, k, n - k + 1)))
        assert hi == (1.0 if k == n else float(stats.beta.ppf(1.0 - alpha / 2.0, k + 1, n - k)))
    for size in [*range(2, 70), 128, 1000, 4096]:
        v = rng.normal(size=size)
        mean, lo, hi = t_interval(v)
        sem = float(v.std(ddof=1)) / math.sqrt(v.size)
        tq = float(stats.t.ppf(0.5 + 0.95 / 2.0, df=v.size - 1))
        assert (mean, lo, hi) == (float(v.mean()), mean - tq * sem, mean + tq * sem)
