"""Tests of linksim.phy.fast_ldpc.FastLDPC5GDecoder against Sionna's LDPC5GDecoder.

Sionna's reference decodes run with one torch thread: on a loaded 2-core
machine torch's OpenMP pool otherwise oversubscribes the cores and slows down by
an order of magnitude.
"""

from __future__ import annotations

import contextlib

import numba
import numpy as np
import pytest
import torch
from scipy.stats import beta as beta_dist

from sionna.phy.fec.ldpc import LDPC5GDecoder, LDPC5GEncoder
from sionna.phy.mapping import Demapper, Mapper
from sionna.phy.utils import ebnodb2no

from linksim.phy.fast_ldpc import SIONNA_OFFSET, FastDecodeResult, FastLDPC5GDecoder, torch_sum_tree

# (k, n, num_bits_per_symbol of the encoder's interleaver, bits/symbol of the QAM used, Eb/N0 [dB])
# Eb/N0 values are in the waterfall (BLER roughly 0.05 - 0.5 with 20 iterations).
CODES = {
    "bg2-z7-r1/3": (40, 120, None, 2, 1.5),
    "bg2-z16-r2/3-int2": (96, 144, 2, 2, 2.5),
    "bg2-z26-r0.79-int4": (200, 252, 4, 4, 6.5),
    "bg1-z14-r0.875-int4": (308, 352, 4, 4, 7.5),
    "bg1-z20-r0.91": (400, 440, None, 2, 4.5),
}
# codewords per code for the bit-exactness test, per check-node rule
N_EQUIV = {"boxplus-phi": 800, "minsum": 700, "offset-minsum": 600}


@contextlib.contextmanager
def _torch_threads(n: int):
    old = torch.get_num_threads()
    torch.set_num_threads(n)
    try:
        yield
    finally:
        torch.set_num_threads(old)


def _channel_llrs(enc: LDPC5GEncoder, batch: int, ebno_db: float, nbps: int, seed: int):
    """Random info bits -> 5G LDPC encoder -> QAM (Sionna Mapper) -> AWGN ->
    APP demapper logits (Sionna Demapper).  The noise is drawn from a local
    torch.Generator so that the test is deterministic without touching
    Sionna's global seed."""
    gen = torch.Generator().manual_seed(seed)
    u = torch.randint(0, 2, (batch, enc.k), generator=gen).to(torch.float32)
    c = enc(u)
    no = float(ebnodb2no(ebno_db, nbps, enc.k / enc.n))
    x = Mapper("qam", nbps)(c)
    noise = torch.randn(x.shape + (2,), generator=gen) * np.sqrt(no / 2)
    y = x + torch.complex(noise[..., 0], noise[..., 1])
    llr = Demapper("app", "qam", nbps)(y, torch.tensor(no))
    return u, llr


def _sionna_decode(enc, llr, cn_update, num_iter):
    with _torch_threads(1):
        dec = LDPC5GDecoder(enc, cn_update=cn_update, num_iter=num_iter, hard_out=True,
                            return_infobits=True)
        return dec(llr)


def _clopper_pearson(errors: int, trials: int, alpha: float = 0.01):
    lo = 0.0 if errors == 0 else beta_dist.ppf(alpha / 2, errors, trials - errors + 1)
    hi = 1.0 if errors == trials else beta_dist.ppf(1 - alpha / 2, errors + 1, trials - errors)
    return lo, hi


@pytest.fixture(scope="module")
def encoders():
    return {name: LDPC5GEncoder(k, n, num_bits_per_symbol=nb) for name, (k, n, nb, _, _) in CODES.items()}


# --------------------------------------------------------------------------- (1) bit-exactness
@pytest.mark.parametrize("cn_update", ["boxplus-phi", "minsum", "offset-minsum"])
def test_flooding_bit_exact_vs_sionna(encoders, cn_update):
    """Flooding, early stopping off, same num_iter: the hard information bits
    equal Sionna's bit for bit, on codes covering BG1/BG2, several lifting
    sizes and rates, with and without output interleaver, in the waterfall."""
    num_iter = 20
    total_cw = total_err_cw = 0
    for i, (name, (k, n, nb, m, ebno)) in enumerate(CODES.items()):
        enc = encoders[name]
        u, llr = _channel_llrs(enc, N_EQUIV[cn_update], ebno, m, seed=100 + i)
        ref = _sionna_decode(enc, llr, cn_update, num_iter)
        dec = FastLDPC5GDecoder(enc, cn_update=cn_update, schedule="flooding",
                                num_iter=num_iter, early_stop=False)
        assert dec.exact_sum_order, "torch's summation order could not be identified"
        res = dec(llr)
        assert res.bits.shape == ref.shape and res.bits.dtype == torch.float32
        mism = (res.bits != ref).sum().item()
        assert mism == 0, f"{name}: {mism} bits differ from Sionna"
        ref_err = (ref != u).any(dim=1)
        total_cw += u.shape[0]
        total_err_cw += int(ref_err.sum())
        # without early stopping every codeword runs num_iter iterations
        assert torch.all(res.iterations == num_iter)
        # the syndrome flag is consistent with the decoding outcome (a frame with
        # correct info bits may still have unsatisfied parities after 20
        # oscillating iterations; a zero syndrome with wrong bits is an
        # undetected error and must be rare)
        assert res.syndrome_ok[~ref_err].float().mean() > 0.9
        assert res.syndrome_ok[ref_err].float().mean() < 0.1
    # equality is only meaningful if decoding errors actually occur
    assert 0.05 * total_cw < total_err_cw < 0.8 * total_cw


def test_bit_exact_total_codewords():
    """The equivalence test above covers >= 10,000 codewords in total."""
    assert sum(N_EQUIV.values()) * len(CODES) >= 10_000


# --------------------------------------------------------------------------- (2) early stopping
@pytest.mark.slow
def test_early_stopping_error_rates_match_sionna():
    """With early stopping, BER and BLER agree with Sionna's (no early stopping)
    within Clopper-Pearson intervals at three points of the waterfall, and
    decoding takes fewer iterations."""
    k, n, m = 100, 300, 2
    enc = LDPC5GEncoder(k, n)
    dec = FastLDPC5GDecoder(enc, cn_update="boxplus-phi", schedule="flooding", num_iter=20,
                            early_stop=True)
    for j, ebno in enumerate([1.0, 1.5, 2.0]):
        u, llr = _channel_llrs(enc, 2000, ebno, m, seed=7 + j)
        ref = _sionna_decode(enc, llr, "boxplus-phi", 20)
        res = dec(llr)
        for name, e_ref, e_fast, trials in [
            ("BLER", int((ref != u).any(1).sum()), int((res.bits != u).any(1).sum()), u.shape[0]),
            ("BER", int((ref != u).sum()), int((res.bits != u).sum()), u.numel()),
        ]:
            lo_r, hi_r = _clopper_pearson(e_ref, trials)
            lo_f, hi_f = _clopper_pearson(e_fast, trials)
            assert e_ref > 0, f"no errors at {ebno} dB: not in the waterfall"
            assert lo_r <= e_fast / trials <= hi_r and lo_f <= e_ref / trials <= hi_f, (
                f"{name} at {ebno} dB: fast {e_fast}/{trials} vs Sionna {e_ref}/{trials}")
        assert res.iterations.float().mean() < 20
        # codewords with a zero syndrome stopped early
        assert torch.all(res.iterations[res.syndrome_ok] <= 20)


# --------------------------------------------------------------------------- (3) layered
@pytest.mark.parametrize("cn_update", ["boxplus-phi", "offset-minsum", "normalized-minsum"])
def test_layered_at_least_as_good_with_fewer_iterations(cn_update):
    k, n, m, ebno = 1824, 3648, 4, 3.5
    enc = LDPC5GEncoder(k, n, num_bits_per_symbol=m)
    u, llr = _channel_llrs(enc, 600, ebno, m, seed=3)
    res = {}
    for schedule in ["flooding", "layered"]:
        dec = FastLDPC5GDecoder(enc, cn_update=cn_update, schedule=schedule, num_iter=20)
        res[schedule] = dec(llr)
    err = {s: int((r.bits != u).any(1).sum()) for s, r in res.items()}
    lo, hi = _clopper_pearson(err["flooding"], u.shape[0])
    assert err["flooding"] > 0
    assert err["layered"] / u.shape[0] <= hi, err
    it_f = res["flooding"].iterations.float().mean().item()
    it_l = res["layered"].iterations.float().mean().item()
    assert it_l < 0.75 * it_f, (it_l, it_f)


# --------------------------------------------------------------------------- (4) sanity
@pytest.mark.parametrize("schedule", ["flooding", "layered"])
@pytest.mark.parametrize("cn_update", ["boxplus-phi", "minsum", "offset-minsum", "normalized-minsum"])
@pytest.mark.parametrize("kn", [(40, 120, None), (300, 330, 2), (1824, 3648, 4)])
def test_error_free_one_iteration_and_garbage(kn, cn_update, schedule):
    k, n, nb = kn
    enc = LDPC5GEncoder(k, n, num_bits_per_symbol=nb)
    torch.manual_seed(0)
    u = torch.randint(0, 2, (37, k), dtype=torch.float32)
    llr = 8.0 * (2.0 * enc(u) - 1.0)  # logits: positive <=> bit 1
    dec = FastLDPC5GDecoder(enc, cn_update=cn_update, schedule=schedule, num_iter=20)
    res = dec(llr)
    assert isinstance(res, FastDecodeResult)
    assert torch.equal(res.bits, u)
    assert bool(res.syndrome_ok.all())
    assert torch.all(res.iterations == 1)
    assert res.iterations.dtype == torch.int32 and res.syndrome_ok.dtype == torch.bool
    # garbage: random logits are (almost surely) no codeword and do not converge
    garbage = 3.0 * torch.randn(23, n)
    res = dec(garbage)
    assert not bool(res.syndrome_ok.any())
    assert torch.all(res.iterations == 20)


def test_shapes_threads_and_empty():
    enc = LDPC5GEncoder(96, 144, num_bits_per_symbol=2)
    u, llr = _channel_llrs(enc, 24, 3.0, 2, seed=11)
    dec = FastLDPC5GDecoder(enc, schedule="layered", cn_update="offset-minsum")
    flat = dec(llr)
    nested = dec(llr.reshape(2, 3, 4, 144))
    assert nested.bits.shape == (2, 3, 4, 96)
    assert nested.syndrome_ok.shape == (2, 3, 4) and nested.iterations.shape == (2, 3, 4)
    assert torch.equal(nested.bits.reshape(24, 96), flat.bits)
    single = dec(llr[5])
    assert single.bits.shape == (96,) and single.syndrome_ok.shape == ()
    assert torch.equal(single.bits, flat.bits[5])
    # float64 input is accepted
    assert torch.equal(dec(llr.double()).bits, flat.bits)
    # results do not depend on the number of threads
    old = numba.get_num_threads()
    try:
        numba.set_num_threads(1)
        assert torch.equal(dec(llr).bits, flat.bits)
    finally:
        numba.set_num_threads(old)
    empty = dec(torch.zeros(0, 144))
    assert empty.bits.shape == (0, 96) and empty.iterations.shape == (0,)


def test_many_lifting_sizes_noiseless():
    """All eight lifting-size sets of both base graphs (Z = 3 ... 384), with
    shortening, puncturing and truncation: noiseless codewords decode."""
    cases = []
    for z in [2, 3, 5, 7, 9, 11, 13, 15, 24, 36, 52, 60, 88, 104]:
        cases.append((10 * z, 30 * z))  # BG2 (k <= 3840, rate 1/3): k_b = 10
        cases.append((max(12, 10 * z - 3), int(1.5 * (10 * z - 3)) + 1))  # shortened, truncated
    for z in [16, 24, 20, 28, 18, 22, 26, 15]:  # lifting sets 0..7
        cases.append((22 * z, int(22 * z / 0.8)))  # BG1 (k > 292, rate > 0.67)
    cases += [(8448, 9387), (3824, 11472)]  # Z = 384: BG1 at max k, BG2
    torch.manual_seed(5)
    for k, n in cases:
        enc = LDPC5GEncoder(k, n)
        u = torch.randint(0, 2, (3, k), dtype=torch.float32)
        llr = 6.0 * (2.0 * enc(u) - 1.0)
        for schedule in ["flooding", "layered"]:
            res = FastLDPC5GDecoder(enc, cn_update="offset-minsum", schedule=schedule)(llr)
            assert torch.equal(res.bits, u), (k, n, schedule)
            assert bool(res.syndrome_ok.all())


def test_bad_arguments():
    enc = LDPC5GEncoder(40, 120)
    for kwargs, param in [
        ({"cn_update": "boxplus"}, "cn_update"),
        ({"schedule": "serial"}, "schedule"),
        ({"num_iter": 0}, "num_iter"),
        ({"num_iter": 2.5}, "num_iter"),
        ({"early_stop": 1}, "early_stop"),
        ({"llr_max": 0.0}, "llr_max"),
        ({"normalization": 1.5}, "normalization"),
        ({"offset": -0.1}, "offset"),
    ]:
        with pytest.raises(ValueError, match=param):
            FastLDPC5GDecoder(enc, **kwargs)
    with pytest.raises(ValueError, match="encoder"):
        FastLDPC5GDecoder("not an encoder")  # type: ignore[arg-type]
    dec = FastLDPC5GDecoder(enc)
    with pytest.raises(ValueError, match="llr_ch"):
        dec(torch.zeros(4, 121))
    with pytest.raises(ValueError, match="llr_ch"):
        dec(np.zeros((4, 120), np.float32))  # type: ignore[arg-type]
    assert SIONNA_OFFSET == 0.5


def test_torch_sum_tree_matches_torch():
    for d in [2, 3, 5, 8, 9, 16, 19, 30]:
        tree = torch_sum_tree(d)
        assert tree is not None
        x = torch.randn(5, 101, d) * torch.rand(5, 101, d) * 10

        def ev(node):
            if isinstance(node, int):
                return x[..., node].numpy()
            return (ev(node[0]) + ev(node[1])).astype(np.float32)

        assert np.array_equal(ev(tree), x.sum(dim=2).numpy())
