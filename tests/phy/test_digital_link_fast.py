"""The fast DigitalLink (``implementation="fast"``: FastCRC, FastLDPC5GEncoder, a precomputed
scrambling sequence, FastQAM, the SISO transceiver) against Sionna's blocks.

Where the computation is the same, the results are the same: the transmitted symbols bit for
bit, and the decoded bits given the same received symbols. Where randomness enters (noise,
fading), both paths must show the same BLER and BER on every channel model: Clopper-Pearson
intervals at a family-wise level of 1e-3 (Bonferroni over the points of a test) must overlap.
"""

from __future__ import annotations

import math

import pytest
import sionna
import torch
from scipy import stats

from torch_threads import torch_threads

from linksim.metrics.intervals import clopper_pearson
from linksim.phy.channels import build_channel, channel_class
from linksim.phy.digital_link import DigitalLink
from linksim.phy.ofdm import OFDMGrid
from linksim.phy.transceiver import make_transceiver

FAMILY_ALPHA = 1e-3


@pytest.fixture(autouse=True)
def _one_thread():
    with torch_threads(1):  # Sionna's reference blocks (see torch_threads)
        yield


@pytest.fixture(scope="module")
def grid():
    return OFDMGrid(72, 14, 30e3, 6, [2, 11])


def _channel(grid, model, **params):
    return build_channel(channel_class(model).Params(model=model, **params), grid)


def _bits(shape, seed=0):
    return torch.randint(0, 2, shape, generator=torch.Generator().manual_seed(seed)).to(torch.float32)


class _Recorder(torch.nn.Module):
    """A transceiver that records what it is sent and returns it with fixed pseudo-noise
    (its own generator, so both implementations see the same channel output)."""

    def __init__(self, grid, no_eff: float = 0.0) -> None:
        super().__init__()
        self.grid, self.no_eff, self.sent = grid, no_eff, None

    def forward(self, symbols, no):
        self.sent = symbols.clone()
        g = torch.Generator().manual_seed(123)
        # the noise of a whole number of slots, cut to the symbols given: the Sionna path sends
        # the last slot's padding too, the fast path does not, and both must see the same noise
        batch, num = symbols.shape
        width = self.grid.slots_for(num) * self.grid.data_symbols_per_slot
        n = torch.randn(batch, width, dtype=torch.complex64, generator=g)[:, :num] * math.sqrt(self.no_eff)
        return symbols + n, torch.full(symbols.shape, max(self.no_eff, 1e-3))


@pytest.mark.parametrize("modulation,rate,length", [("qam16", 0.5, 1704), ("qpsk", 0.33, 5000),
                                                    ("qam64", 0.75, 3000), ("qam256", 0.9, 9000),
                                                    ("bpsk", 1.0, 700), ("qam16", 1.0, 2000)])
def test_transmitted_symbols_are_bit_identical(grid, modulation, rate, length):
    """CRC, LDPC encoding, rate matching, interleaving, scrambling and mapping: the fast path
    sends exactly the symbols Sionna's blocks send (those carrying coded bits)."""
    bits = _bits((3, length), seed=length)
    sent = {}
    for impl in ("sionna", "fast"):
        tr = _Recorder(grid)
        link = DigitalLink(tr, modulation, rate, implementation=impl)
        link(bits, 0.1)
        sent[impl] = tr.sent
    used = link.plan(length).num_symbols
    assert sent["fast"].shape == (3, used)
    assert torch.equal(sent["fast"], sent["sionna"][:, :used])


@pytest.mark.parametrize("modulation,rate,no_eff", [("qam16", 0.5, 0.26), ("qam64", 0.66, 0.047), ("qam16", 1.0, 0.02)])
def test_same_received_symbols_give_the_same_decoded_bits(grid, modulation, rate, no_eff):
    """Descrambling, demapping, decoding and the CRC check: given the same channel output,
    both paths decode the same blocks (LLRs differ by float rounding only, so a block the
    decoder barely fails to correct may differ: at most one in a hundred), and uncoded hard
    decisions are identical."""
    bits = _bits((40, 3000), seed=1)
    out = {}
    for impl in ("sionna", "fast"):
        link = DigitalLink(_Recorder(grid, no_eff), modulation, rate, implementation=impl)
        out[impl] = link(bits, no_eff)
    fast, ref = out["fast"], out["sionna"]
    assert torch.equal(fast.num_bits, ref.num_bits) and torch.equal(fast.num_blocks, ref.num_blocks)
    if rate == 1.0:
        assert torch.equal(fast.bits, ref.bits) and int(fast.bit_errors.sum()) > 0
        return
    assert 0 < int(ref.crc_ok.sum()) < ref.crc_ok.numel(), "choose no_eff in the waterfall"
    assert int((fast.crc_ok != ref.crc_ok).sum()) <= max(1, ref.crc_ok.numel() // 100)


def _overlap(k1: int, n1: int, k2: int, n2: int, points: int) -> bool:
    level = 1 - FAMILY_ALPHA / points
    lo1, hi1 = clopper_pearson(k1, n1, level)
    lo2, hi2 = clopper_pearson(k2, n2, level)
    return lo1 <= hi2 and lo2 <= hi1


# channel -> (parameters, Es/N0 [dB] in the waterfall of rate-1/2 16QAM with LS CSI)
CHANNELS = {
    "awgn": ({}, 8.5),
    "rayleigh": ({}, 17.0),
    "tdl": ({"profile": "A", "speed_mps": 3.0}, 11.0),
    "cdl": ({"profile": "C"}, 13.0),
    "umi": ({"los": False}, 13.0),
    "uma": ({"los": True}, 12.0),
}


@pytest.mark.parametrize("model", list(CHANNELS))
def test_same_bler_and_ber_as_the_sionna_path_on_every_channel(grid, model):
    params, snr_db = CHANNELS[model]
    ch = _channel(grid, model, **params)
    bits = _bits((200, 1704), seed=3)  # one k = 1728, n = 3456 block per sample, one slot
    counts = {}
    for impl in ("sionna", "fast"):
        link = DigitalLink(make_transceiver(grid, ch, "ls", impl), "qam16", 0.5, decoder="fast",
                           implementation=impl)
        blk = nblk = err = nbits = 0
        for rep in range(3):
            sionna.phy.config.seed = 1000 * rep + (0 if impl == "sionna" else 1)
            r = link(bits, 10 ** (-snr_db / 10))
            blk += int(r.block_errors.sum())
            nblk += int(r.num_blocks.sum())
            err += int(r.bit_errors.sum())
            nbits += int(r.num_bits.sum())
        counts[impl] = (blk, nblk, err, nbits)
    (b1, n1, e1, m1), (b2, n2, e2, m2) = counts["sionna"], counts["fast"]
    assert 0 < b1 < n1 and 0 < b2 < n2, f"{model} at {snr_db} dB is outside the waterfall: {counts}"
    assert _overlap(b1, n1, b2, n2, 2), f"BLER sionna {b1}/{n1} vs fast {b2}/{n2}"
    # bit errors cluster in failed blocks: BER is compared with the block as the trial (as
    # if all of a block's bits erred together: n = blocks, k = BER x blocks), the
    # conservative bound for bits that are not independent
    assert _overlap(round(e1 / m1 * n1), n1, round(e2 / m2 * n2), n2, 2), f"BER sionna {e1 / m1} vs fast {e2 / m2}"


@pytest.mark.parametrize("modulation,snr_db", [("qpsk", 3.0), ("qam16", 9.0), ("qam64", 15.0), ("qam256", 21.0)])
def test_uncoded_ber_on_awgn_matches_the_sionna_path_and_theory(grid, modulation, snr_db):
    """Uncoded BER over AWGN: the fast path against Sionna's (the bits of one symbol are
    not independent, so each side counts as ``bits / m`` trials with ``errors / m`` errors,
    the conservative bound), and QPSK against its closed form Q(sqrt(Es/N0)) (its two bits
    are independent: one per real dimension)."""
    m = {"qpsk": 2, "qam16": 4, "qam64": 6, "qam256": 8}[modulation]
    slots = 20 if m <= 4 else 4  # Sionna's demapper over 64 and 256 points is slow; BER ~1e-2 needs few
    bits = _bits((16, slots * 864 * m), seed=2)
    counts = {}
    for impl in ("sionna", "fast"):
        link = DigitalLink(make_transceiver(grid, _channel(grid, "awgn"), "perfect", impl), modulation, 1.0,
                           implementation=impl)
        sionna.phy.config.seed = 5 if impl == "fast" else 6
        r = link(bits, 10 ** (-snr_db / 10))
        counts[impl] = (int(r.bit_errors.sum()), int(r.num_bits.sum()))
    (k1, n1), (k2, n2) = counts["sionna"], counts["fast"]
    assert _overlap(round(k1 / m), n1 // m, round(k2 / m), n2 // m, 1), counts
    if modulation == "qpsk":
        lo, hi = clopper_pearson(k2, n2, 1 - FAMILY_ALPHA)
        assert lo <= stats.norm.sf(math.sqrt(10 ** (snr_db / 10))) <= hi


def test_maxlog_demapper_is_an_option_and_close_to_app(grid):
    ch = _channel(grid, "awgn")
    bits = _bits((300, 1704), seed=4)
    res = {}
    for method in ("app", "maxlog"):
        link = DigitalLink(make_transceiver(grid, ch, "perfect", "fast"), "qam16", 0.5, implementation="fast",
                           demapper=method)
        sionna.phy.config.seed = 9
        r = link(bits, 10 ** (-7.6 / 10))
        res[method] = (int(r.block_errors.sum()), int(r.num_blocks.sum()))
    assert DigitalLink(make_transceiver(grid, ch), "qam16").demapper == "app"  # never the silent default
    # max-log loses a few tenths of a dB at most: its BLER is no better than exact APP's
    # beyond chance, and not wildly worse
    (ka, na), (km, _) = res["app"], res["maxlog"]
    assert km >= ka - 3 * math.sqrt(ka + 1)
    assert km <= na


def test_per_position_ls_variance_is_no_worse_than_flat(grid):
    """The true interpolation variance scales the LLRs better: its BLER is not worse than
    the flat N0 Sionna reports (one-sided, family level 1e-3)."""
    ch = _channel(grid, "tdl", profile="A", speed_mps=3.0)
    bits = _bits((300, 1704), seed=6)
    res = {}
    for variance in ("flat", "per_position"):
        link = DigitalLink(make_transceiver(grid, ch, "ls", "fast", variance), "qam16", 0.5, implementation="fast")
        blk = nblk = 0
        for rep in range(3):
            sionna.phy.config.seed = 77 + rep  # the same channels and noise for both
            r = link(bits, 10 ** (-11.0 / 10))
            blk += int(r.block_errors.sum())
            nblk += int(r.num_blocks.sum())
        res[variance] = (blk, nblk)
    (kf, _), (kp, _) = res["flat"], res["per_position"]
    # paired draws: the difference of the two counts is at most a few discordant blocks by chance
    assert kp <= kf + stats.norm.isf(FAMILY_ALPHA) * math.sqrt(kf + kp + 1), res


def test_fast_implementation_refuses_a_gpu_grid():
    if not torch.cuda.is_available():
        pytest.skip("no CUDA device")
    g = OFDMGrid(72, 14, 30e3, 6, [2, 11], device="cuda")
    with pytest.raises(ValueError, match="implementation: 'fast' runs on the CPU"):
        DigitalLink(make_transceiver(g, _channel(g, "awgn")), "qam16", implementation="fast")


def test_rejects_unknown_options(grid):
    tr = make_transceiver(grid, _channel(grid, "awgn"))
    with pytest.raises(ValueError, match="implementation"):
        DigitalLink(tr, "qam16", implementation="numba")
    with pytest.raises(ValueError, match="demapper"):
        DigitalLink(tr, "qam16", demapper="exact")
    with pytest.raises(ValueError, match="per_position"):
        make_transceiver(grid, _channel(grid, "awgn"), "ls", "sionna", "per_position")
