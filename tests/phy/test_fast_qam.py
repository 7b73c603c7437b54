"""Tests of linksim.phy.fast_qam.FastQAM against Sionna's Mapper / Demapper.

Tolerance of the LLR comparisons
--------------------------------
Sionna computes, in float32, the exponents ``z_c = -|y - c|^2 / no`` of all M
points and two ``logsumexp`` per bit; FastQAM computes the I (or Q) part of
the same exponents only.  Each float32 exponent carries a relative rounding
error of a few units u = 2^-24 (subtraction, squaring / hypot, division), i.e.
an *absolute* error proportional to ``|z_c|``; the LLR is a difference of two
log-sum-exps dominated by the largest exponent of each set, so its absolute
error is about ``6 u (|z*_1| + |z*_0|)`` plus ``~2 (H + 4) u`` from exp, log and
the H-term sums (H = sqrt(M)/2 terms per set, M/2 for Sionna).  Both
implementations therefore sit within

    tol = 16 u (|z*_1| + |z*_0| + H),   z*_b = max over set b of -|y-c|^2/no

of the exact LLR (float64 brute force over all M points, same float32 inputs),
with a margin of about 2.5.  The tests check that Sionna itself meets this
bound (so the bound is float rounding, not slack hiding a bug), that FastQAM
meets it, and that the two differ by at most twice of it.  At high SNR the
LLRs are huge (|z*| ~ 1e4 at 30 dB) and so is the absolute rounding of either
implementation; relative to ``1 + |LLR|`` the observed differences are
around 1e-6.

Sionna and the float64 references run on one torch thread: on a loaded 2-core
machine torch's OpenMP pool otherwise oversubscribes the cores and slows down
by an order of magnitude.
"""

from __future__ import annotations

import contextlib
import math

import numba
import numpy as np
import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from sionna.phy.mapping import Demapper, Mapper

from torch_threads import torch_threads

from linksim.phy.fast_qam import FastQAM, NotSeparableError, _separate
from linksim.phy.modulation import MODULATIONS, make_constellation

MODS = list(MODULATIONS)  # bpsk, qpsk, qam16, qam64, qam256
U = 2.0 ** -24  # float32 unit roundoff
EXPECTED_DIMS = {
    "bpsk": ("I",),
    "qpsk": ("I", "Q"),
    "qam16": ("I", "Q") * 2,
    "qam64": ("I", "Q") * 3,
    "qam256": ("I", "Q") * 4,
}




@contextlib.contextmanager
def _numba_threads(n: int):
    old = numba.get_num_threads()
    numba.set_num_threads(min(n, numba.config.NUMBA_NUM_THREADS))
    try:
        yield
    finally:
        numba.set_num_threads(old)


@pytest.fixture(autouse=True)
def _one_torch_thread():
    """References and Sionna on one torch thread (see the module docstring)."""
    with torch_threads(1):
        yield


_QAM: dict = {}


def _qam(mod: str) -> FastQAM:
    if mod not in _QAM:
        _QAM[mod] = FastQAM(mod)
    return _QAM[mod]


def _sionna(mod: str, kind: str, *args):
    c = make_constellation(mod, device="cpu")
    with torch_threads(1):
        if kind == "map":
            return Mapper(constellation=c)(*args)
        return Demapper(kind, constellation=c)(*args)


def _labels(m: int) -> np.ndarray:
    """[2**m, m] label bits, MSB first (Sionna's convention)."""
    i = np.arange(1 << m)[:, None]
    return (i >> np.arange(m - 1, -1, -1)) & 1


def _reference(mod: str, y: torch.Tensor, no, method: str = "app"):
    """Exact LLRs in float64 by brute force over all M points (same float32
    inputs, points cast to float64), and the tolerance scale
    |z*_1| + |z*_0| + H of the module docstring.  Shapes [..., n*m]."""
    pts = make_constellation(mod, device="cpu").points.to(torch.complex128)
    m = MODULATIONS[mod][1]
    lab = torch.from_numpy(_labels(m)).bool()  # [M, m]
    y64 = y.to(torch.complex128)
    no64 = torch.as_tensor(no, dtype=torch.float32).to(torch.float64)
    no64 = torch.broadcast_to(no64.clamp_min(float(np.finfo(np.float32).tiny)), y.shape)
    z = -(y64.unsqueeze(-1) - pts).abs().square() / no64.unsqueeze(-1)  # [..., n, M]
    llr, scale = [], []
    h = (1 << (m // 2)) // 2 if mod != "bpsk" else 1
    for j in range(m):
        z1, z0 = z[..., lab[:, j]], z[..., ~lab[:, j]]  # [..., n, M/2]
        if method == "app":
            llr.append(torch.logsumexp(z1, dim=-1) - torch.logsumexp(z0, dim=-1))
        else:
            llr.append(z1.amax(dim=-1) - z0.amax(dim=-1))
        scale.append(z1.amax(dim=-1).abs() + z0.amax(dim=-1).abs() + h)
    llr, scale = torch.stack(llr, dim=-1), torch.stack(scale, dim=-1)  # [..., n, m]
    shape = tuple(y.shape[:-1]) + (y.shape[-1] * m,)
    return llr.reshape(shape), scale.reshape(shape)


def _noisy(mod: str, shape, snr_db: float, seed: int, per_symbol: bool = True):
    """Random Gray symbols + complex AWGN of variance `no` per symbol (per-symbol
    no varies by a factor 4 around 10^(-snr/10), as after an equaliser)."""
    g = torch.Generator().manual_seed(seed)
    q = _qam(mod)
    bits = torch.randint(0, 2, tuple(shape[:-1]) + (shape[-1] * q.num_bits_per_symbol,),
                         generator=g, dtype=torch.uint8)
    x = q.map(bits)
    no0 = 10.0 ** (-snr_db / 10.0)
    if per_symbol:
        no = no0 * 2.0 ** (4.0 * torch.rand(x.shape, generator=g) - 2.0)
    else:
        no = torch.tensor(no0, dtype=torch.float32)
    w = torch.randn(x.shape, dtype=torch.complex64, generator=g) * torch.sqrt(no)
    return bits, x, x + w, no.to(torch.float32)


# ---------------------------------------------------------------------------
# construction
# ---------------------------------------------------------------------------
@pytest.mark.parametrize("mod", MODS)
def test_bit_dimensions_and_levels(mod):
    q = _qam(mod)
    m = MODULATIONS[mod][1]
    assert q.num_bits_per_symbol == m
    assert q.bit_dims == EXPECTED_DIMS[mod]
    lv_i, lv_q = q.levels
    npl = 2 if mod == "bpsk" else 1 << (m // 2)
    assert lv_i.shape == (npl,) and lv_i.dtype == np.float32
    # normalised PAM: equally spaced, symmetric, unit energy per complex symbol
    s = np.sort(lv_i.astype(np.float64))
    assert np.allclose(np.diff(s), s[1] - s[0], rtol=1e-6)
    assert np.allclose(s, -s[::-1], rtol=1e-6)
    energy = np.mean(s ** 2) * (1 if mod == "bpsk" else 2)
    assert energy == pytest.approx(1.0, rel=1e-6)
    if mod == "bpsk":
        assert lv_q.tolist() == [0.0]
    else:
        assert np.array_equal(lv_q, lv_i)
    assert torch.equal(q.points, make_constellation(mod, device="cpu").points)


def test_not_separable_is_rejected():
    qam16 = make_constellation("qam16", device="cpu").points.numpy()
    rotated = (qam16 * np.exp(1j * np.pi / 8)).astype(np.complex64)
    with pytest.raises(NotSeparableError, match="both the real and the imaginary"):
        _separate(rotated, 4)
    psk8 = np.exp(2j * np.pi * np.arange(8) / 8).astype(np.complex64)
    with pytest.raises(NotSeparableError):
        _separate(psk8, 3)
    # a separable shape whose I coordinate does not follow the I bits alone
    bad = qam16.copy()
    bad[5] = bad[5] + np.float32(0.01)
    with pytest.raises(NotSeparableError):
        _separate(bad, 4)
    with pytest.raises(ValueError, match="unknown"):
        FastQAM("qam32")


# ---------------------------------------------------------------------------
# mapping
# ---------------------------------------------------------------------------
@pytest.mark.parametrize("mod", MODS)
@pytest.mark.parametrize("shape", [(3, 40), (2, 3, 17)])
def test_map_bit_exact_vs_sionna(mod, shape):
    q = _qam(mod)
    m = q.num_bits_per_symbol
    g = torch.Generator().manual_seed(hash((mod, shape)) % 2**31)
    bits = torch.randint(0, 2, shape[:-1] + (shape[-1] * m,), generator=g)
    ref = _sionna(mod, "map", bits.to(torch.float32))
    for b in (bits.to(torch.float32), bits.to(torch.uint8), bits.bool(), bits.to(torch.int64),
              bits.to(torch.int32)):
        x = q.map(b)
        assert x.dtype == torch.complex64 and x.shape == shape
        assert torch.equal(torch.view_as_real(x), torch.view_as_real(ref))  # bit for bit


def test_map_parallel_and_errors():
    q = _qam("qam64")
    g = torch.Generator().manual_seed(1)
    bits = torch.randint(0, 2, (5, 6 * 20000), generator=g, dtype=torch.uint8)
    with _numba_threads(1):
        a = q.map(bits)
    with _numba_threads(2):
        b = q.map(bits)
    assert torch.equal(a, b)
    assert torch.equal(a, _sionna("qam64", "map", bits.to(torch.int32)))
    # non-contiguous input
    assert torch.equal(q.map(bits.t().contiguous().t()), a)
    assert q.map(torch.zeros(4, 0, dtype=torch.uint8)).shape == (4, 0)
    with pytest.raises(ValueError, match="multiple of 6"):
        q.map(torch.zeros(2, 7))


# ---------------------------------------------------------------------------
# APP demapping
# ---------------------------------------------------------------------------
@pytest.mark.parametrize("mod", MODS)
@pytest.mark.parametrize("per_symbol", [True, False], ids=["no-per-symbol", "no-scalar"])
def test_app_matches_sionna(mod, per_symbol):
    q = _qam(mod)
    for k, snr in enumerate((-5.0, 0.0, 5.0, 10.0, 15.0, 20.0, 25.0, 30.0)):
        _, _, y, no = _noisy(mod, (4, 300), snr, seed=10 * k + len(mod), per_symbol=per_symbol)
        llr = q.demap(y, no if per_symbol else float(no))
        assert llr.dtype == torch.float32 and llr.shape == (4, 300 * q.num_bits_per_symbol)
        ref_s = _sionna(mod, "app", y, no)
        truth, scale = _reference(mod, y, no)
        tol = 16 * U * scale
        err_s = (ref_s.double() - truth).abs()
        err_f = (llr.double() - truth).abs()
        assert (err_s <= tol).all(), f"Sionna itself off by {(err_s / tol).max():.2f} tol at {snr} dB"
        assert (err_f <= tol).all(), f"FastQAM off by {(err_f / tol).max():.2f} tol at {snr} dB"
        assert ((llr.double() - ref_s.double()).abs() <= 2 * tol).all()
        # decisions agree wherever the LLR is not within rounding of zero
        sure = truth.abs() > tol
        assert torch.equal(torch.sign(llr)[sure], torch.sign(ref_s)[sure])
        assert sure.float().mean() > 0.9


def test_app_broadcast_no_and_rank3():
    q = _qam("qam16")
    _, _, y, _ = _noisy("qam16", (2, 3, 50), 8.0, seed=5)
    no = torch.tensor([[0.05], [0.3]], dtype=torch.float32).unsqueeze(-1)  # [2, 1, 1]
    llr = q.demap(y, no)
    ref = _sionna("qam16", "app", y, no)
    truth, scale = _reference("qam16", y, no)
    assert llr.shape == (2, 3, 200)
    assert ((llr.double() - truth).abs() <= 16 * U * scale).all()
    assert ((llr.double() - ref.double()).abs() <= 32 * U * scale).all()
    # no as float64 0-d tensor / Python float / per-symbol tensor give the same result
    a = q.demap(y, torch.tensor(0.1, dtype=torch.float64))
    b = q.demap(y, 0.1)
    c = q.demap(y, torch.full(y.shape, 0.1))
    d = q.demap(y, np.full((3, 50), 0.1, np.float32))  # numpy, broadcast over the batch
    e = q.demap(y.clone().requires_grad_(True), torch.full((50,), 0.1, requires_grad=True))
    assert torch.equal(a, b) and torch.equal(b, c) and torch.equal(c, d) and torch.equal(d, e)
    with pytest.raises(ValueError, match="broadcastable"):
        q.demap(y, torch.ones(7))
    with pytest.raises(TypeError, match="complex"):
        q.demap(y.real, 0.1)
    with pytest.raises(ValueError, match="method"):
        q.demap(y, 0.1, method="exact")


def test_parallel_equals_serial():
    """Each symbol is computed the same way whatever the chunking / threads."""
    q = _qam("qam64")
    _, _, y, no = _noisy("qam64", (3, 7000), 18.0, seed=7)
    with _numba_threads(1):
        a = q.demap(y, no)
        am = q.demap(y, no, method="maxlog")
    with _numba_threads(2):
        b = q.demap(y, no)
        bm = q.demap(y, no, method="maxlog")
    assert torch.equal(a, b) and torch.equal(am, bm)
    # one symbol at a time (non-contiguous view, conjugate view) gives the same values
    assert torch.equal(q.demap(y[:, :5], no[:, :5]), a[:, :30])
    assert torch.equal(q.demap(y.conj().conj(), no), a)
    assert torch.equal(q.demap(y.t().contiguous().t(), no), a)


# ---------------------------------------------------------------------------
# max-log
# ---------------------------------------------------------------------------
@pytest.mark.parametrize("mod", MODS)
def test_maxlog_brute_force_and_close_to_app(mod):
    q = _qam(mod)
    m = q.num_bits_per_symbol
    h = 1 if mod == "bpsk" else (1 << (m // 2)) // 2
    for k, snr in enumerate((-5.0, 5.0, 15.0, 30.0)):
        _, _, y, no = _noisy(mod, (3, 200), snr, seed=100 + k)
        ml = q.demap(y, no, method="maxlog")
        truth, scale = _reference(mod, y, no, method="maxlog")
        assert ((ml.double() - truth).abs() <= 16 * U * scale).all()
        ref_s = _sionna(mod, "maxlog", y, no)
        assert ((ml.double() - ref_s.double()).abs() <= 32 * U * scale).all()
        app = q.demap(y, no)
        # each log-sum-exp exceeds its max by at most log(H): exact bound
        assert ((app.double() - ml.double()).abs() <= math.log(h) + 32 * U * scale).all()
        if h == 1:
            assert torch.equal(app, ml)  # one level per set: APP is max-log exactly
    # at high SNR the other terms of each log-sum-exp vanish: max-log ~ APP
    _, _, y, no = _noisy(mod, (3, 1000), 30.0, seed=99, per_symbol=False)
    app, ml = q.demap(y, no), q.demap(y, no, method="maxlog")
    rel = (app - ml).abs() / (1.0 + app.abs())
    assert rel.quantile(0.99) < 1e-3 and rel.max() < 0.05


# ---------------------------------------------------------------------------
# flip, robustness, property test
# ---------------------------------------------------------------------------
@pytest.mark.parametrize("method", ["app", "maxlog"])
def test_flip_negates_exactly(method):
    q = _qam("qam64")
    _, _, y, no = _noisy("qam64", (2, 3000), 12.0, seed=3)
    g = torch.Generator().manual_seed(4)
    f = torch.randint(0, 2, (2, 18000), generator=g, dtype=torch.uint8)
    base = q.demap(y, no, method=method)
    want = torch.where(f.bool(), -base, base)
    for ff in (f, f.bool(), f.to(torch.int64) * 3):
        assert torch.equal(q.demap(y, no, method=method, flip=ff), want)
    # broadcast flip (same sequence for both rows)
    assert torch.equal(q.demap(y, no, method=method, flip=f[0]),
                       torch.where(f[0].bool(), -base, base))
    with pytest.raises(TypeError, match="flip"):
        q.demap(y, no, flip=f.float())


@pytest.mark.parametrize("mod", MODS)
def test_extreme_noise_is_finite(mod):
    q = _qam(mod)
    _, x, y, _ = _noisy(mod, (2, 64), 10.0, seed=9)
    far = y * 1e4
    for yy in (x, y, torch.zeros_like(y), far):
        for no in (0.0, 1e-45, 1e-38, 1e-30, 1e-10, 1e-3, 1.0, 1e10, 1e38, math.inf):
            for method in ("app", "maxlog"):
                llr = q.demap(yy, no, method=method)
                assert torch.isfinite(llr).all(), (yy.abs().max(), no, method)
    # where Sionna is finite the two agree (huge SNR: no = 1e-10, LLRs ~ 1e10)
    for no in (1e-10, 1e10):
        llr = q.demap(y, no)
        ref = _sionna(mod, "app", y, torch.tensor(no))
        truth, scale = _reference(mod, y, no)
        assert ((llr.double() - truth).abs() <= 16 * U * scale).all()
        assert ((llr.double() - ref.double()).abs() <= 32 * U * scale).all()
    # per-symbol no mixing extremes
    no = torch.tensor([0.0, 1e-30, 1e-10, 1.0, 1e30, math.inf]).repeat(2, 11)[:, :64]
    assert torch.isfinite(q.demap(y, no)).all()


@settings(max_examples=50, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(mod=st.sampled_from(MODS),
       shape=st.lists(st.integers(1, 12), min_size=1, max_size=3),
       log_no=st.floats(-4.0, 2.0),
       amp=st.floats(0.0, 3.0),
       per_symbol=st.booleans(),
       seed=st.integers(0, 2**31 - 1))
def test_property_app_vs_exact(mod, shape, log_no, amp, per_symbol, seed):
    """Random shapes, amplitudes (received points anywhere, not only near the
    constellation) and noise levels: within float rounding of the exact APP
    LLR, flip negates exactly, and the output layout is [..., n*m]."""
    q = _qam(mod)
    m = q.num_bits_per_symbol
    g = torch.Generator().manual_seed(seed)
    y = (amp * torch.randn(shape, dtype=torch.complex64, generator=g)).to(torch.complex64)
    no0 = 10.0 ** log_no
    no = no0 * (0.5 + torch.rand(shape, generator=g)) if per_symbol else torch.tensor(no0)
    llr = q.demap(y, no)
    assert llr.shape == tuple(shape[:-1]) + (shape[-1] * m,)
    truth, scale = _reference(mod, y, no)
    assert ((llr.double() - truth).abs() <= 16 * U * scale).all()
    flip = torch.randint(0, 2, llr.shape, generator=g, dtype=torch.uint8)
    assert torch.equal(q.demap(y, no, flip=flip), torch.where(flip.bool(), -llr, llr))
