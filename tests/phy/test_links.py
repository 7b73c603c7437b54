"""Statistical and functional tests of linksim's DigitalLink and AnalogLink.

SNR is Es/N0 per data resource element (unit-energy constellations, unit average
channel gain), so ``no = 10 ** (-snr_db / 10)``.

Tolerances are derived from the number of independent trials, never hand-picked:
a statistical check at ``P`` points of one test uses a two-sided confidence level
of ``1 - FAMILY_ALPHA / P`` per point (Bonferroni), so that the whole test fails by
chance with probability at most ``FAMILY_ALPHA`` = 0.1 %. (The seeds are fixed, so a
run is reproducible; the level says how unlikely a correct link is to fail with
*another* seed.)
"""

from __future__ import annotations

import math

import numpy as np
import pytest
import sionna
import torch
from scipy import integrate, stats

from linksim.metrics.intervals import clopper_pearson
from linksim.phy.analog_link import AnalogLink
from linksim.phy.channels import build_channel, channel_class
from linksim.phy.digital_link import DigitalLink
from linksim.phy.dlpack import as_tensor
from linksim.phy.ofdm import OFDMGrid
from linksim.phy.transceiver import OFDMTransceiver

FAMILY_ALPHA = 1e-3


# -- helpers ----------------------------------------------------------------------------
@pytest.fixture(autouse=True)
def _seed():
    sionna.phy.config.seed = 20240611


@pytest.fixture(scope="module")
def grid():
    """The quickstart grid: 72 x 14, pilots on OFDM symbols 2 and 11 (864 data REs/slot)."""
    return OFDMGrid(72, 14, 30e3, 6, [2, 11])


def _transceiver(grid, model="awgn", csi="perfect", **params):
    return OFDMTransceiver(grid, build_channel(channel_class(model).Params(model=model, **params), grid), csi)


def _no(snr_db: float) -> float:
    return 10.0 ** (-snr_db / 10.0)


def _random_bits(shape, seed=0) -> torch.Tensor:
    return torch.randint(0, 2, shape, generator=torch.Generator().manual_seed(seed)).to(torch.float32)


def qfunc(x):
    return stats.norm.sf(x)


def ber_qpsk_awgn(esn0):
    """Gray QPSK over AWGN: each bit is BPSK with Eb = Es/2, so Q(sqrt(2 Eb/N0)) = Q(sqrt(Es/N0))."""
    return qfunc(np.sqrt(esn0))


def ber_16qam_awgn(esn0):
    """Exact BER of Gray-coded 16QAM over AWGN.

    Per I/Q dimension (4-PAM at +-1, +-3 with Es = 10, i.e. d_min/2 = sqrt(Es/10) and a
    noise std of sqrt(N0/2) per dimension) with x = sqrt(Es / (5 N0)): the sign bit errs
    with (Q(x) + Q(3x))/2, the inner/outer bit with (2Q(x) + Q(3x) - Q(5x))/2, hence
    Pb = 3/4 Q(x) + 1/2 Q(3x) - 1/4 Q(5x)  (Cho & Yoon, IEEE Trans. Commun. 50(7), 2002).
    """
    x = np.sqrt(esn0 / 5.0)
    return 0.75 * qfunc(x) + 0.5 * qfunc(3 * x) - 0.25 * qfunc(5 * x)


def _binomial_check(errors: int, bits: int, theory: float, num_points: int) -> tuple[float, float]:
    """Clopper-Pearson interval of ``errors / bits`` at 1 - FAMILY_ALPHA/num_points; must hold ``theory``."""
    lo, hi = clopper_pearson(errors, bits, 1 - FAMILY_ALPHA / num_points)
    assert lo <= theory <= hi, f"BER {errors / bits:.4e} (CI [{lo:.4e}, {hi:.4e}]) vs theory {theory:.4e}"
    return lo, hi


def _two_proportion_z(k1: int, n1: int, k2: int, n2: int) -> float:
    """z statistic of the difference of two binomial proportions (pooled variance)."""
    p = (k1 + k2) / (n1 + n2)
    return (k1 / n1 - k2 / n2) / math.sqrt(p * (1 - p) * (1 / n1 + 1 / n2))


def _z(num_points: int) -> float:
    return float(stats.norm.isf(FAMILY_ALPHA / num_points / 2))


def _uncoded_ber(link: DigitalLink, bits: torch.Tensor, snr_db: float) -> tuple[int, int]:
    r = link(bits, _no(snr_db))
    return int(r.bit_errors.sum()), int(r.num_bits.sum())


# -- 1. uncoded BER over AWGN vs closed form -------------------------------------------
AWGN_CASES = {
    # modulation: (SNR points [dB], closed form, payload shape [B, L])
    "qpsk": ([0.0, 3.0, 6.0, 9.0], ber_qpsk_awgn, (16, 24 * 1728)),  # 663552 bits per point
    "qam16": ([6.0, 9.0, 12.0, 15.0], ber_16qam_awgn, (16, 12 * 3456)),  # 663552 bits per point
}


@pytest.mark.parametrize("modulation", list(AWGN_CASES))
def test_uncoded_ber_awgn_matches_theory(grid, modulation):
    """Uncoded Gray QAM over AWGN with perfect CSI: at each of the 4 SNR points the
    closed-form BER lies inside the exact Clopper-Pearson interval of the measured
    errors/bits at level 1 - 0.1 %/4 (Bonferroni over the points)."""
    snrs, theory, shape = AWGN_CASES[modulation]
    link = DigitalLink(_transceiver(grid), modulation, code_rate=1.0)
    bits = _random_bits(shape)
    for snr in snrs:
        k, n = _uncoded_ber(link, bits, snr)
        lo, hi = _binomial_check(k, n, theory(10 ** (snr / 10)), len(snrs))
        print(f"{modulation} {snr:5.1f} dB: BER {k / n:.4e} [{lo:.4e}, {hi:.4e}] theory {theory(10 ** (snr / 10)):.4e}")


# -- 2. flat Rayleigh, QPSK ------------------------------------------------------------
def ber_qpsk_rayleigh(esn0):
    """Average BER of Gray QPSK over flat Rayleigh fading (E|h|^2 = 1) with coherent detection.

    Per bit it is BPSK with an average Eb/N0 of gb = Es/(2 N0); averaging Q(sqrt(2 gb |h|^2))
    over |h|^2 ~ Exp(1) gives 0.5 (1 - sqrt(gb / (1 + gb)))  (Proakis, Digital Communications, 14.3).
    """
    gb = esn0 / 2.0
    return 0.5 * (1.0 - np.sqrt(gb / (1.0 + gb)))


def _per_slot_ber_variance(esn0: float, bits_per_slot: int) -> float:
    """Variance of one slot's bit-error fraction under flat block fading.

    Given the slot's fade g = |h|^2 ~ Exp(1), its bits err independently with p(g) =
    Q(sqrt(Es/N0 * g)) (I and Q noise are independent), so by the law of total variance
    Var = Var_g[p(g)] + E_g[p(g)(1 - p(g))] / bits_per_slot.
    """
    p = lambda g: qfunc(np.sqrt(esn0 * g))  # noqa: E731
    m1 = integrate.quad(lambda g: p(g) * np.exp(-g), 0, np.inf)[0]
    m2 = integrate.quad(lambda g: p(g) ** 2 * np.exp(-g), 0, np.inf)[0]
    return (m2 - m1**2) + (m1 - m2) / bits_per_slot


def test_uncoded_ber_flat_rayleigh_matches_theory():
    """One fade per slot makes the bits of a slot dependent: the tolerance comes from the
    number of independent *slots*: the BER is the mean of the i.i.d. per-slot error
    fractions, whose variance is computed exactly from the model (law of total
    variance), and the normal interval at 1 - 0.1 %/4 (Bonferroni) must hold the
    measured BER. (A small grid without pilots gives many slots per second: the
    tolerance is dominated by the fades, not by the bits per slot.)"""
    grid = OFDMGrid(6, 14, 30e3, 0, [])
    link = DigitalLink(_transceiver(grid, "rayleigh"), "qpsk", code_rate=1.0)
    bits_per_slot = grid.data_symbols_per_slot * 2
    slots_per_sample = 25
    bits = _random_bits((400, slots_per_sample * bits_per_slot), seed=1)  # 10000 slots
    num_slots = bits.shape[0] * slots_per_sample
    snrs = [0.0, 5.0, 10.0, 15.0]
    z = _z(len(snrs))
    for snr in snrs:
        esn0 = 10 ** (snr / 10)
        k, n = _uncoded_ber(link, bits, snr)
        theory = ber_qpsk_rayleigh(esn0)
        assert theory == pytest.approx(integrate.quad(lambda g: qfunc(np.sqrt(esn0 * g)) * np.exp(-g), 0, np.inf)[0])
        tol = z * math.sqrt(_per_slot_ber_variance(esn0, bits_per_slot) / num_slots)
        print(f"rayleigh qpsk {snr:4.1f} dB: BER {k / n:.4e} theory {theory:.4e} +- {tol:.1e}")
        assert abs(k / n - theory) <= tol


# -- 3. cross-check against scikit-commpy ----------------------------------------------
def test_16qam_matches_commpy_modem(grid):
    """Same Es/N0, same number of bits: linksim's 16QAM and commpy's QAMModem(16) + AWGN
    agree within the two-proportion interval of their difference (and both with theory).

    commpy's 16QAM points are the unnormalised +-1, +-3 grid (Es = 10, ``modem.Es``), so
    the noise variance per complex symbol is Es / (Es/N0), not 1 / (Es/N0)."""
    commpy_modulation = pytest.importorskip("commpy.modulation")
    modem = commpy_modulation.QAMModem(16)
    es = float(np.mean(np.abs(modem.constellation) ** 2))
    assert es == pytest.approx(10.0) and es == pytest.approx(modem.Es)
    link = DigitalLink(_transceiver(grid), "qam16", code_rate=1.0)
    bits = _random_bits((16, 12 * 3456), seed=2)  # 663552 bits
    n_bits = bits.numel()
    rng = np.random.default_rng(3)
    snrs = [9.0, 13.0]
    z = _z(3 * len(snrs))  # three checks per point
    for snr in snrs:
        esn0 = 10 ** (snr / 10)
        k1, n1 = _uncoded_ber(link, bits, snr)
        tx_bits = rng.integers(0, 2, n_bits)
        sym = modem.modulate(tx_bits)
        n0 = es / esn0
        noise = rng.normal(scale=math.sqrt(n0 / 2), size=(2, sym.size))
        rx_bits = modem.demodulate(sym + noise[0] + 1j * noise[1], "hard")
        k2, n2 = int(np.count_nonzero(rx_bits != tx_bits)), n_bits
        theory = ber_16qam_awgn(esn0)
        zd = _two_proportion_z(k1, n1, k2, n2)
        print(f"16QAM {snr} dB: linksim {k1 / n1:.4e} commpy {k2 / n2:.4e} theory {theory:.4e} z={zd:+.2f}")
        assert abs(zd) <= z
        _binomial_check(k1, n1, theory, 3 * len(snrs))
        _binomial_check(k2, n2, theory, 3 * len(snrs))


# -- 4. scrambling ----------------------------------------------------------------------
def _float32_bits(values: np.ndarray) -> torch.Tensor:
    """IEEE-754 float32 bit patterns of ``values`` [B, N] (MSB first) -> [B, 32 N] bits."""
    raw = np.ascontiguousarray(values, dtype=">f4").view(np.uint8)
    return torch.from_numpy(np.unpackbits(raw, axis=-1).astype(np.float32))


def test_scrambling_makes_ber_independent_of_payload(grid):
    """An all-zero payload (a float32 tensor of zeros: all bits 0) and a random one see
    the same uncoded BER (16QAM, AWGN, 14 dB, BER ~ 1e-2): their difference lies within
    the two-proportion interval, and both match theory.

    Without the 5G scrambler all-zero bits would always map to 16QAM's inner point 1+1j
    (label 0000), whose BER is (2Q(x) + Q(3x))/2 ~ Q(x): a third above the average
    3/4 Q(x), about 30 standard deviations away with this many bits (checked below)."""
    zeros = _float32_bits(np.zeros((16, 1296), np.float32))  # 16 x 41472 bits, all 0
    assert zeros.shape == (16, 41472) and not zeros.any()
    rand = _random_bits(zeros.shape, seed=4)
    link = DigitalLink(_transceiver(grid), "qam16", code_rate=1.0)
    snr = 14.0
    esn0 = 10 ** (snr / 10)
    k0, n0 = _uncoded_ber(link, zeros, snr)
    k1, n1 = _uncoded_ber(link, rand, snr)
    theory = ber_16qam_awgn(esn0)
    x = math.sqrt(esn0 / 5)
    unscrambled_zero = (2 * qfunc(x) + qfunc(3 * x)) / 2
    print(f"16QAM {snr} dB: zeros {k0 / n0:.4e} random {k1 / n1:.4e} theory {theory:.4e} "
          f"unscrambled zeros would be {unscrambled_zero:.4e}")
    assert abs(_two_proportion_z(k0, n0, k1, n1)) <= _z(3)
    _binomial_check(k0, n0, theory, 3)
    _binomial_check(k1, n1, theory, 3)
    lo, hi = clopper_pearson(k0, n0, 1 - FAMILY_ALPHA)
    assert not lo <= unscrambled_zero <= hi, "the test can tell a scrambled link from an unscrambled one"
    # the scrambler is its own inverse: a noiseless link returns the payload exactly
    r = link(zeros[:2], 1e-6)
    assert int(r.bit_errors.sum()) == 0 and not r.bits.any()


# -- 5. LDPC waterfall ------------------------------------------------------------------
def _block_errors(bits: torch.Tensor, r, block_payload_bits: int) -> torch.Tensor:
    """[B, C] bool: which code blocks carry at least one payload bit error."""
    err = bits != r.bits
    return err.reshape(bits.shape[0], -1, block_payload_bits).any(dim=-1)


@pytest.mark.slow
def test_ldpc_rate_half_16qam_waterfall(grid):
    """5G LDPC rate 1/2 (k = 500 incl. CRC24B, n = 1000) + 16QAM over AWGN.

    A coarse sweep of Es/N0 in 0.5 dB steps finds the last point with BLER > 0.5; 2 dB
    above it the BLER must be below 1e-2 with 600 code blocks, whose 95 % Clopper-Pearson
    upper bound is also below 2e-2. The CRC confirms the counts: no block with payload
    errors passes its CRC (an undetected error has probability ~2^-24), and the CRC flags
    no more than a few blocks whose payload came through intact (the decoder left errors
    only in the 24 CRC bits).
    """
    block_payload = 476
    link = DigitalLink(_transceiver(grid), "qam16", code_rate=0.5, max_block_bits=block_payload + 24)
    lay = link.plan(8 * block_payload).layout
    assert (lay.num_blocks, lay.k, lay.n) == (8, 500, 1000)

    def run(snr, batch, seed):
        bits = _random_bits((batch, 8 * block_payload), seed=seed)
        r = link(bits, _no(snr))
        be = _block_errors(bits, r, block_payload)
        assert torch.equal(be.sum(dim=1), r.block_errors)
        assert not (be & r.crc_ok).any(), "a block with payload errors passed its CRC"
        crc_only = int((~r.crc_ok & ~be).sum())
        assert crc_only <= max(2, 0.05 * int(be.sum())), crc_only
        return int(be.sum()), be.numel()

    sweep = []
    snr = 4.5
    while True:
        k, n = run(snr, 10, seed=int(snr * 10))  # 80 blocks per point
        sweep.append((snr, k / n))
        if k / n <= 0.5:
            break
        snr += 0.5
        assert snr <= 10.0, f"no waterfall below 10 dB: {sweep}"
    assert len(sweep) >= 2, f"BLER already <= 0.5 at the first point: {sweep}"
    threshold = sweep[-2][0]
    k, n = run(threshold + 2.0, 75, seed=99)  # 600 blocks
    _, hi = clopper_pearson(k, n, 0.95)
    print(f"sweep {sweep}; BLER > 0.5 at {threshold} dB; at {threshold + 2} dB: {k}/{n} blocks, CP95 upper {hi:.2e}")
    assert k / n < 1e-2 and hi < 2e-2


# -- 6. AnalogLink ----------------------------------------------------------------------
@pytest.mark.parametrize(("model", "params"), [("rayleigh", {}), ("tdl", {"profile": "A", "speed_mps": 3.0})])
def test_analog_link_is_differentiable(grid, model, params):
    """A gradient reaches the input through a fading channel, LS estimation and LMMSE."""
    link = AnalogLink(_transceiver(grid, model, "ls", **params))
    x = torch.randn(3, 5, 101, generator=torch.Generator().manual_seed(5)).requires_grad_()
    out = link(x, _no(10.0))
    loss = (out.values - x.detach()).square().mean()
    loss.backward()
    assert x.grad is not None and x.grad.shape == x.shape
    assert torch.isfinite(x.grad).all()
    assert x.grad.abs().sum() > 0
    assert (x.grad.reshape(3, -1).abs().sum(dim=1) > 0).all(), "every sample gets a gradient"


def test_analog_symbol_mse_matches_noise_variance(grid):
    """AWGN, perfect CSI: the unbiased LMMSE estimate is y/h = x + n with n ~ CN(0, N0),
    so the mean of |error|^2 over M symbols is Gamma(M, N0/M): its exact interval at
    1 - 0.1 %/3 (three SNR points) must hold the measured symbol MSE."""
    link = AnalogLink(_transceiver(grid))
    g = torch.Generator().manual_seed(6)
    x = torch.rand(16, 3, 1001, generator=g) * 4 - 1  # non-zero mean, odd count per sample
    m = 16 * link.channel_uses(3 * 1001)
    snrs = [0.0, 10.0, 20.0]
    a = FAMILY_ALPHA / len(snrs)
    for snr in snrs:
        no = _no(snr)
        out = link(x, no)
        mse = float(out.symbol_mse.mean())
        lo, hi = stats.gamma.ppf([a / 2, 1 - a / 2], m, scale=no / m)
        print(f"analog AWGN {snr} dB: symbol MSE {mse:.4e} expected {no:.4e} [{lo:.4e}, {hi:.4e}]")
        assert lo <= mse <= hi
        # in value units the error scales with each sample's RMS symbol amplitude
        z = x.reshape(16, -1)
        scale2 = torch.cat([z, z.new_zeros(16, 1)], 1).square().sum(1) / link.channel_uses(3 * 1001)
        val_err = (out.values - x).reshape(16, -1).square().sum(1) / link.channel_uses(3 * 1001)
        assert torch.allclose(val_err, out.symbol_mse * scale2, rtol=2e-2)


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64, torch.float16])
@pytest.mark.parametrize("shape", [(2, 7), (3, 5, 3), (1, 1, 1)])
def test_analog_link_shape_dtype_and_odd_counts(grid, dtype, shape):
    link = AnalogLink(_transceiver(grid))
    x = torch.randn(shape, generator=torch.Generator().manual_seed(7)).to(dtype)
    out = link(x, _no(40.0))
    assert out.values.shape == x.shape and out.values.dtype == dtype
    n_vals = math.prod(shape[1:])
    assert link.channel_uses(n_vals) == (n_vals + 1) // 2
    assert out.channel_uses.tolist() == [(n_vals + 1) // 2] * shape[0]
    assert out.symbol_mse.shape == (shape[0],)
    torch.testing.assert_close(out.values.float(), x.float(), atol=0.05, rtol=0.05)


def test_analog_link_many_slots_and_zero_sample(grid):
    link = AnalogLink(_transceiver(grid, "rayleigh", "ls"))
    n_vals = 2 * grid.data_symbols_per_slot * 2 + 3  # 3 slots, the last one nearly empty
    x = torch.randn(2, n_vals, generator=torch.Generator().manual_seed(8))
    x[1] = 0.0  # an all-zero sample has nothing to normalise and must not give NaN
    out = link(x, _no(20.0))
    assert out.values.shape == x.shape and torch.isfinite(out.values).all()
    assert out.channel_uses.tolist() == [(n_vals + 1) // 2] * 2


def test_analog_link_rejects_bad_input(grid):
    link = AnalogLink(_transceiver(grid))
    with pytest.raises(ValueError, match="x"):
        link(torch.randn(5), 1.0)
    with pytest.raises(ValueError, match="x"):
        link(torch.randn(2, 3, dtype=torch.complex64), 1.0)
    with pytest.raises(ValueError, match="x"):
        link(torch.randn(2, 0), 1.0)


# -- 7. DLPack boundary -----------------------------------------------------------------
def test_numpy_through_as_tensor_into_both_links(grid):
    tr = _transceiver(grid)
    rng = np.random.default_rng(9)
    bits_np = rng.integers(0, 2, (3, 1000)).astype(np.float32)
    bits = as_tensor(bits_np)
    assert bits.dtype == torch.float32 and np.shares_memory(bits.numpy(), bits_np)
    r = DigitalLink(tr, "qam16", code_rate=0.5, max_block_bits=524)(bits, _no(20.0))
    assert r.bits.shape == (3, 1000)
    assert int(r.bit_errors.sum()) == 0 and bool(r.crc_ok.all())
    np.testing.assert_array_equal(r.bits.numpy(), bits_np)

    r = DigitalLink(tr, "qpsk", code_rate=1.0)(as_tensor(bits_np.astype(np.uint8)), _no(30.0))
    np.testing.assert_array_equal(r.bits.numpy(), bits_np)

    values_np = rng.standard_normal((2, 4, 9)).astype(np.float32)
    out = AnalogLink(tr)(as_tensor(values_np), _no(30.0))
    assert out.values.shape == (2, 4, 9) and out.values.dtype == torch.float32
    np.testing.assert_allclose(out.values.numpy(), values_np, atol=0.2)


# -- 8. slots, lengths, plan, argument errors ------------------------------------------
def test_payload_spanning_many_slots(grid):
    """A payload over several slots with the last slot partly filled arrives intact at
    high SNR (uncoded and coded), and the reported resources match the plan."""
    per_slot = grid.data_symbols_per_slot  # 864
    tr = _transceiver(grid, "tdl", "ls", profile="A", speed_mps=3.0)
    for modulation, rate, length in [("qpsk", 1.0, 5 * 2 * per_slot + 77), ("qam16", 0.5, 4500)]:
        link = DigitalLink(tr, modulation, code_rate=rate, max_block_bits=500)
        plan = link.plan(length)
        assert plan.num_slots >= 3 and plan.num_symbols % per_slot != 0  # last slot partly filled
        bits = _random_bits((2, length), seed=10)
        r = link(bits, _no(40.0))
        assert int(r.bit_errors.sum()) == 0 and torch.equal(r.bits, bits)
        assert r.channel_uses.tolist() == [plan.channel_uses] * 2
        assert r.num_blocks.tolist() == [plan.layout.num_blocks] * 2


def test_plan_numbers(grid):
    tr = _transceiver(grid)
    per_slot = grid.data_symbols_per_slot
    # uncoded QPSK: 5000 bits -> 2500 symbols -> 3 slots of 864, padding not counted
    p = DigitalLink(tr, "qpsk", code_rate=1.0).plan(5000)
    assert (p.num_symbols, p.num_slots, p.channel_uses, p.bits_per_symbol) == (2500, 3, 2500, 2)
    assert p.channel_uses < p.num_slots * per_slot
    # uncoded odd bit count: 5001 bits -> 2501 symbols (the last one half filled)
    assert DigitalLink(tr, "qpsk", code_rate=1.0).plan(5001).channel_uses == 2501
    # rate 1/2 16QAM, k = 500: 3808 bits = 8 x (476 + 24 CRC) -> 8 x 1000 coded bits -> 2000 symbols
    p = DigitalLink(tr, "qam16", code_rate=0.5, max_block_bits=500).plan(3808)
    assert (p.layout.num_blocks, p.layout.k, p.layout.n) == (8, 500, 1000)
    assert (p.num_symbols, p.num_slots, p.channel_uses) == (2000, 3, 2000)
    # exactly one full slot
    p = DigitalLink(tr, "qam16", code_rate=1.0).plan(4 * per_slot)
    assert (p.num_symbols, p.num_slots, p.channel_uses) == (per_slot, 1, per_slot)
    # a tiny payload still takes one slot but only its own symbols count
    p = DigitalLink(tr, "qam64", code_rate=1.0).plan(7)
    assert (p.num_symbols, p.num_slots, p.channel_uses) == (2, 1, 2)


def test_lengths_mask_padding(grid):
    """Errors beyond each sample's length are neither bits nor errors nor blocks."""
    link = DigitalLink(_transceiver(grid), "qpsk", code_rate=1.0, max_block_bits=1000)
    length = 3000
    bits = _random_bits((4, length), seed=11)
    lengths = torch.tensor([3000, 1500, 1, 0])
    r = link(bits, _no(-3.0), lengths=lengths)  # BER ~ 0.24: errors everywhere
    err = r.bits != bits
    valid = torch.arange(length)[None, :] < lengths[:, None]
    assert torch.equal(r.bit_errors, (err & valid).sum(dim=1))
    assert int((err & ~valid).sum()) > 0, "there are errors in the padding to ignore"
    assert r.num_bits.tolist() == [3000, 1500, 1, 0]
    assert r.bit_errors[3] == 0 and r.block_errors[3] == 0
    assert r.num_blocks.tolist() == [3, 2, 1, 0]  # blocks of 1000 payload bits
    assert torch.equal(r.block_errors, (err & valid).reshape(4, 3, 1000).any(-1).sum(-1))
    assert r.channel_uses.tolist() == [1500, 750, 1, 0]
    # the same batch without lengths counts everything
    r_all = link(bits, _no(-3.0))
    assert r_all.num_bits.tolist() == [3000] * 4


def test_invalid_arguments_name_the_parameter(grid):
    tr = _transceiver(grid)
    with pytest.raises(ValueError, match="modulation"):
        DigitalLink(tr, "qam8")
    with pytest.raises(ValueError, match="ldpc_iterations"):
        DigitalLink(tr, ldpc_iterations=0)
    with pytest.raises(ValueError, match="decoder"):
        DigitalLink(tr, decoder="turbo")
    link = DigitalLink(tr, "qpsk", code_rate=1.0)
    with pytest.raises(ValueError, match="bits"):
        link(torch.zeros(10), 1.0)
    with pytest.raises(ValueError, match="bits"):
        link(torch.zeros(2, 0), 1.0)
    with pytest.raises(ValueError, match="max_block_bits"):
        DigitalLink(tr, "qpsk", code_rate=0.5, max_block_bits=30).plan(100)
    with pytest.raises(ValueError, match="csi"):
        OFDMTransceiver(grid, tr.channel, "genie")
    with pytest.raises(ValueError, match="csi"):
        _transceiver(OFDMGrid(12, 14, 30e3, 0, []), csi="ls")  # LS without pilots
    with pytest.raises(ValueError, match="pilot_ofdm_symbol_indices"):
        OFDMGrid(72, 14, 30e3, 6, [14])
    with pytest.raises(ValueError, match="foo"):
        channel_class("awgn").Params(model="awgn", foo=1)


@pytest.mark.parametrize("kwargs", [{"code_rate": 1.5}, {"code_rate": 0.1}, {"code_rate": 0.0},
                                    {"n_id": 5000}, {"n_id": -1}, {"max_block_bits": 0, "code_rate": 1.0},
                                    {"max_block_bits": 30, "code_rate": 0.5}])
def test_invalid_link_arguments_fail_at_construction(grid, kwargs):
    """Bad link arguments fail when the link is built (not at the first forward), naming the field."""
    name = next(k for k in kwargs if k != "code_rate" or len(kwargs) == 1)
    with pytest.raises(ValueError, match=f"^{name}: "):
        DigitalLink(_transceiver(grid), "qpsk", **kwargs)


@pytest.mark.parametrize("csi", ["perfect", "ls"])
def test_one_noise_variance_per_sample_over_multi_slot_payloads(grid, csi):
    """``no`` of shape [B] applies to every slot of its own sample only."""
    from linksim.phy.channels import build_channel, channel_class
    from linksim.phy.transceiver import OFDMTransceiver

    transceiver = OFDMTransceiver(grid, build_channel(channel_class("rayleigh").Params(), grid), csi)
    link = DigitalLink(transceiver, "qpsk", 1.0)
    bits = torch.zeros(3, 4 * grid.data_symbols_per_slot * 2 + 17)  # several slots, last one partial
    res = link(bits, torch.tensor([10.0, 1e-9, 1e-9]))
    assert res.bit_errors[0] > 0.1 * bits.shape[1]
    assert res.bit_errors[1:].tolist() == [0, 0]
    with pytest.raises(ValueError, match="no"):
        link(bits, torch.tensor([1.0, 1.0]))


# -- the analog receiver: unbiased vs MMSE, and its per-value CSI ----------------------------
def _fast_analog(grid, model, equalizer, csi="perfect"):
    from linksim.phy.transceiver import make_transceiver

    channel = build_channel(channel_class(model).Params(model=model), grid)
    return AnalogLink(make_transceiver(grid, channel, csi, "fast"), equalizer)


@pytest.mark.parametrize("snr_db", [10.0, 20.0])
def test_analog_mmse_mse_matches_rayleigh_theory(grid, snr_db):
    """Rayleigh block fading, perfect CSI, one slot (one fade) per sample. The MMSE
    estimate's per-symbol MSE averages N0/(|h|^2 + N0), whose mean over |h|^2 ~ Exp(1) is
    N0 e^N0 E1(N0) (0.2015 at 10 dB); the per-sample values are bounded by 1, so the
    mean of 3000 fades lies within 4 standard errors of it. The unbiased estimate's
    per-sample MSE is N0/|h|^2 (no finite mean): its median is N0/ln 2, so about half the
    samples lie below 1.4427 N0 (binomial, 4 sigma)."""
    from scipy.special import exp1

    n0 = _no(snr_db)
    batch, values = 3000, 2 * grid.data_symbols_per_slot
    x = torch.randn(batch, values, generator=torch.Generator().manual_seed(11))
    sionna.phy.config.seed = 3
    mmse = _fast_analog(grid, "rayleigh", "mmse")(x, n0).symbol_mse.double()
    theory = n0 * math.exp(n0) * exp1(n0)
    se = float(mmse.std()) / math.sqrt(batch)
    print(f"MMSE {snr_db} dB: {float(mmse.mean()):.4f} theory {theory:.4f} (se {se:.4f})")
    assert abs(float(mmse.mean()) - theory) <= 4 * se
    sionna.phy.config.seed = 4
    unbiased = _fast_analog(grid, "rayleigh", "unbiased")(x, n0).symbol_mse.double()
    below = float((unbiased <= n0 / math.log(2.0)).double().mean())
    assert abs(below - 0.5) <= 4 * math.sqrt(0.25 / batch), below
    assert float(unbiased.mean()) > float(mmse.mean())


@pytest.mark.parametrize("csi", ["perfect", "ls"])
def test_analog_no_eff_per_value_and_mmse_shrinkage(grid, csi):
    """no_eff comes per received value (both values of a symbol share it); with perfect
    CSI on AWGN it is N0; the MMSE values are the unbiased ones shrunk by 1/(1 + no_eff)
    (same seed, same channel and noise)."""
    x = torch.randn(4, 3, 301, generator=torch.Generator().manual_seed(12))
    n0 = _no(5.0)
    outs = {}
    for eq in ("unbiased", "mmse"):
        sionna.phy.config.seed = 21
        outs[eq] = _fast_analog(grid, "rayleigh", eq, csi)(x, n0)
    u, m = outs["unbiased"], outs["mmse"]
    assert u.no_eff.shape == x.shape and not u.no_eff.requires_grad
    assert torch.equal(u.no_eff, m.no_eff)
    flat = u.no_eff.reshape(4, -1)
    assert torch.equal(flat[:, 0:-1:2], flat[:, 1::2])  # pairs share a symbol
    assert torch.allclose(m.values, u.values / (1.0 + u.no_eff), rtol=1e-5, atol=1e-6)
    assert (m.symbol_mse < u.symbol_mse).all()
    sionna.phy.config.seed = 22
    awgn = _fast_analog(grid, "awgn", "unbiased")(x, n0)
    assert torch.allclose(awgn.no_eff, torch.full_like(awgn.no_eff, n0), rtol=1e-5)


def test_analog_equalizer_argument():
    from linksim import Link

    with pytest.raises(ValueError, match="analog_equalizer: only applies to path 'analog'"):
        Link("awgn", analog_equalizer="mmse")
    with pytest.raises(ValueError, match="analog_equalizer: must be"):
        Link("awgn", path="analog", analog_equalizer="zf")
    link = Link("rayleigh", path="analog", analog_equalizer="mmse", seed=1, device="cpu")
    out = link(torch.randn(2, 64), 10.0)
    assert link.link.equalizer == "mmse" and out.no_eff.shape == (2, 64)
