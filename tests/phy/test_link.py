"""Tests of linksim.phy.Link (the PHY in one call) and of the DLPack entry of the links.

Statistical checks follow tests/phy/test_links.py: the tolerance comes from the number
of trials (exact Clopper-Pearson intervals, or a normal quantile of a mean of i.i.d.
terms), at a family-wise level of FAMILY_ALPHA = 0.1 % per test (Bonferroni over its
points). Seeds are fixed, so a run is reproducible.
"""

from __future__ import annotations

import math
import subprocess
import sys

import numpy as np
import pytest
import sionna
import torch
from scipy import stats

import linksim.phy
from linksim.metrics.intervals import clopper_pearson
from linksim.phy import AnalogLink, DigitalLink, Link, OFDMGrid, OFDMTransceiver, build_channel, channel_class
from linksim.phy.digital_link import plan_digital_payload
from linksim.phy.link import AnalogLinkOutput, DigitalLinkOutput
from linksim.phy.ofdm_params import OFDMParams

FAMILY_ALPHA = 1e-3


def _bits(shape, seed=0) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 2, shape)


def _qfunc(x):
    return stats.norm.sf(x)


# -- 1. exact delivery ---------------------------------------------------------------------
@pytest.mark.parametrize("channel,csi", [("awgn", "perfect"), ("rayleigh", "ls")])
def test_error_free_link_reproduces_bits(channel, csi):
    """Rate-1/2 LDPC + QAM16 at 40 dB: every bit arrives, every CRC passes."""
    link = Link(channel, modulation="qam16", code_rate=0.5, csi=csi, seed=1)
    bits = torch.as_tensor(_bits((4, 1500)))
    out = link(bits, snr_db=40.0)
    assert isinstance(out, DigitalLinkOutput)
    assert torch.equal(out.bits, bits) and out.bits.dtype == bits.dtype
    assert out.ber == 0.0 and out.bler == 0.0
    assert bool(out.crc_ok.all())
    assert out.num_bits.tolist() == [1500] * 4
    assert out.ber_per_sample.tolist() == [0.0] * 4
    assert out.channel_uses.tolist() == [link.channel_uses(1500)] * 4


# -- 2. uncoded QPSK over AWGN vs theory, Es/N0 and Eb/N0 -------------------------------
def test_uncoded_qpsk_ber_awgn_matches_theory():
    """Gray QPSK, uncoded, AWGN, perfect CSI: BER = Q(sqrt(Es/N0)) = Q(sqrt(2 Eb/N0)).

    Two points given as Es/N0 and two as Eb/N0 (Es/N0 = Eb/N0 + 3.01 dB for QPSK at rate
    1): the closed form must lie inside the Clopper-Pearson interval of each point's
    errors / bits at level 1 - 0.1 %/4.
    """
    bits = _bits((16, 3456), seed=3)  # 55296 bits per point, 32 slots
    points = [("esn0", 2.0), ("esn0", 6.0), ("ebn0", 1.0), ("ebn0", 4.0)]
    links = {t: Link("awgn", modulation="qpsk", code_rate=1.0, snr_type=t, seed=7) for t in ("esn0", "ebn0")}
    for snr_type, snr_db in points:
        out = links[snr_type](bits, snr_db=snr_db)
        esn0 = 10 ** (snr_db / 10) * (2 if snr_type == "ebn0" else 1)
        theory = _qfunc(math.sqrt(esn0))
        k, n = int(out.bit_errors.sum()), int(out.num_bits.sum())
        lo, hi = clopper_pearson(k, n, 1 - FAMILY_ALPHA / len(points))
        assert lo <= theory <= hi, f"{snr_type} {snr_db} dB: BER {k / n:.4e} [{lo:.4e}, {hi:.4e}] vs {theory:.4e}"
        assert out.ber == k / n
        assert torch.allclose(out.esn0_db, torch.full((16,), 10 * math.log10(esn0)), atol=1e-5)


def test_ebn0_offset_includes_code_rate():
    """Eb/N0 counts information bits: Es/N0 = Eb/N0 + 10 log10(bits_per_symbol * code_rate)."""
    link = Link("awgn", modulation="qam16", code_rate=0.5, snr_type="ebn0", seed=0)
    out = link(_bits((2, 200)), snr_db=5.0)
    assert torch.allclose(out.esn0_db, torch.full((2,), 5.0 + 10 * math.log10(2.0)), atol=1e-5)


# -- 3. analog ------------------------------------------------------------------------------
def test_analog_symbol_mse_at_high_snr_matches_noise():
    """AWGN, perfect CSI: the equalised symbol is x + n with E|n|^2 = N0, so the batch mean
    of symbol_mse estimates N0 = 10^(-snr/10) with a relative std of 1/sqrt(symbols)
    (|n|^2 is exponential). Per real value, the error is power * symbol_mse / 2 exactly."""
    snr_db, batch, values = 30.0, 4, 2 * 3000
    link = Link("awgn", path="analog", seed=2)
    x = 3.0 * torch.randn(batch, values, generator=torch.Generator().manual_seed(0))
    out = link(x, snr_db=snr_db)
    assert isinstance(out, AnalogLinkOutput)
    assert out.values.shape == x.shape and out.values.dtype == x.dtype
    no = 10 ** (-snr_db / 10)
    symbols = batch * values // 2
    z = float(stats.norm.isf(FAMILY_ALPHA / 2))
    assert abs(out.mean_symbol_mse - no) <= z * no / math.sqrt(symbols), (out.mean_symbol_mse, no)
    power = x.reshape(batch, -1, 2).square().sum(-1).mean(-1)
    value_mse = (out.values - x).square().mean(-1)
    torch.testing.assert_close(value_mse, power * out.symbol_mse / 2, rtol=1e-3, atol=0)
    assert out.channel_uses.tolist() == [values // 2] * batch == [link.channel_uses(values)] * batch


def test_analog_per_sample_snr():
    """``snr_db`` may give one value per sample: a 0 dB sample is far noisier than a 40 dB one."""
    link = Link("awgn", path="analog", seed=4)
    out = link(torch.randn(2, 512), snr_db=np.array([0.0, 40.0]))
    assert out.esn0_db.tolist() == [0.0, 40.0]
    assert out.symbol_mse[0] > 1000 * out.symbol_mse[1]


def test_gradients_flow_through_the_analog_link():
    """Backward through fading, LS estimation and LMMSE reaches the input and a layer before it."""
    layer = torch.nn.Linear(16, 16)
    link = Link({"model": "tdl", "profile": "A", "delay_spread_s": 100e-9}, path="analog", csi="ls", seed=5)
    x = torch.randn(3, 16, requires_grad=True)
    target = torch.randn(3, 16)
    out = link(layer(x), snr_db=10.0)
    loss = (out.values - target).square().mean()
    loss.backward()
    for g in (x.grad, layer.weight.grad, layer.bias.grad):
        assert g is not None and bool(torch.isfinite(g).all()) and float(g.abs().sum()) > 0


def test_analog_gradient_is_identity_at_high_snr():
    """Over AWGN at 80 dB the received values are the sent ones, so d sum(values) / dx = 1."""
    link = Link("awgn", path="analog", seed=6)
    x = torch.randn(2, 4, 6, dtype=torch.float64, requires_grad=True)
    link(x, snr_db=80.0).values.sum().backward()
    torch.testing.assert_close(x.grad, torch.ones_like(x), atol=1e-3, rtol=0)


# -- 4. DLPack / NumPy entry --------------------------------------------------------------
class _ForeignArray:
    """An array from some other library: only the DLPack protocol."""

    def __init__(self, a: np.ndarray) -> None:
        self._a = a

    def __dlpack__(self, **kwargs):
        return self._a.__dlpack__(**kwargs)

    def __dlpack_device__(self):
        return self._a.__dlpack_device__()


@pytest.fixture(scope="module")
def clean_qpsk():
    """Uncoded QPSK over AWGN at 40 dB: error-free (Q(100) underflows), cheap."""
    return Link("awgn", modulation="qpsk", code_rate=1.0, seed=8)


@pytest.mark.parametrize("dtype", [np.float32, np.float64, np.int64, np.int8, np.uint8, np.bool_])
def test_numpy_bits_of_any_dtype(clean_qpsk, dtype):
    bits = _bits((3, 400), seed=9).astype(dtype)
    out = clean_qpsk(bits, snr_db=40.0)
    assert isinstance(out.bits, torch.Tensor) and out.bits.device == torch.device(clean_qpsk.device)
    assert out.bits.dtype == torch.from_numpy(bits).dtype
    np.testing.assert_array_equal(out.bits.numpy(), bits)
    for t in (out.bit_errors, out.num_bits, out.block_errors, out.num_blocks, out.crc_ok, out.channel_uses):
        assert isinstance(t, torch.Tensor) and t.device == torch.device(clean_qpsk.device)


@pytest.mark.parametrize("view", ["strided", "reversed", "transposed", "read-only", "dlpack-only"])
def test_numpy_views_and_dlpack_producers(clean_qpsk, view):
    base = _bits((6, 900), seed=10).astype(np.float32)
    bits = {
        "strided": base[::2, ::3],
        "reversed": base[::-1, ::-1][:, :300],
        "transposed": np.ascontiguousarray(base[:, :300].T).T,
        "read-only": np.broadcast_to(base[:1, :300], (3, 300)),
        "dlpack-only": _ForeignArray(base[:3, :300]),
    }[view]
    ref = np.asarray(bits._a if isinstance(bits, _ForeignArray) else bits)
    out = clean_qpsk(bits, snr_db=40.0)
    np.testing.assert_array_equal(out.bits.numpy(), ref)
    assert out.ber == 0.0


def test_numpy_lengths_and_variable_payloads():
    """``lengths`` (a NumPy array here): padding bits are sent but not counted; channel uses
    follow each sample's own length, as the runner counts them."""
    link = Link("awgn", modulation="qam16", code_rate=0.5, seed=11)
    lengths = np.array([1200, 500, 1])
    out = link(_bits((3, 1200)), snr_db=40.0, lengths=lengths)
    assert out.num_bits.tolist() == lengths.tolist()
    assert out.ber == 0.0
    expected = [plan_digital_payload(int(n), 0.5, 4, 3840, link.grid.data_symbols_per_slot).channel_uses
                for n in lengths]
    assert out.channel_uses.tolist() == expected == [link.channel_uses(int(n)) for n in lengths]


def test_analog_numpy_input():
    # AWGN: with fading, any seed gives some sample a deep fade (|h|^2 < 1e-3 once in a thousand)
    link = Link("awgn", path="analog", seed=12)
    x = np.random.default_rng(0).standard_normal((2, 3, 10, 10))[:, :, ::2, ::2]  # float64, non-contiguous
    out = link(x, snr_db=np.float32(40.0))
    assert isinstance(out.values, torch.Tensor) and out.values.dtype == torch.float64
    assert out.values.shape == x.shape and out.values.device == torch.device(link.device)
    assert float((out.values.numpy() - x).std()) < 0.2 * float(x.std())
    ints = link(np.arange(24).reshape(2, 12), snr_db=40.0)  # integers are sent as float32
    assert ints.values.dtype == torch.float32


def test_blocks_accept_numpy_directly():
    """DigitalLink and AnalogLink themselves take NumPy (the AttributeError on ``.dim`` is gone)."""
    grid = OFDMGrid(72, 14, 30e3, 6, [2, 11], device="cpu")
    trx = OFDMTransceiver(grid, build_channel(channel_class("awgn").Params(model="awgn"), grid))
    sionna.phy.config.seed = 13
    r = AnalogLink(trx)(np.ones((2, 8), np.float32), np.float64(1e-4))
    assert isinstance(r.values, torch.Tensor) and r.values.shape == (2, 8)
    bits = _bits((2, 100))
    d = DigitalLink(trx, "qpsk", code_rate=1.0)(bits, 1e-4, lengths=np.array([100, 50]))
    np.testing.assert_array_equal(d.bits.numpy(), bits)
    assert d.num_bits.tolist() == [100, 50]


# -- 5. reproducibility --------------------------------------------------------------------
def test_same_seed_same_outputs_and_globals_untouched():
    x = torch.randn(2, 64, generator=torch.Generator().manual_seed(0))
    a, b = Link("rayleigh", path="analog", seed=21), Link("rayleigh", path="analog", seed=21)
    torch.manual_seed(123)
    sionna.phy.config.seed = 77
    expected_torch = torch.rand(4)
    expected_sionna = torch.rand(4, generator=sionna.phy.config.torch_rng("cpu"))
    torch.manual_seed(123)
    sionna.phy.config.seed = 77
    a1, a2 = a(x, 0.0), a(x, 0.0)
    # the caller's streams continue as if no link had run
    assert torch.equal(torch.rand(4), expected_torch)
    assert torch.equal(torch.rand(4, generator=sionna.phy.config.torch_rng("cpu")), expected_sionna)
    b1, b2 = b(x, 0.0), b(x, 0.0)
    assert torch.equal(a1.values, b1.values) and torch.equal(a2.values, b2.values)
    assert not torch.equal(a1.values, a2.values)  # successive calls are independent draws
    # a per-call seed pins that call and leaves the link's stream where it was
    assert torch.equal(a(x, 0.0, seed=5).values, b(x, 0.0, seed=5).values)
    assert torch.equal(a(x, 0.0).values, b(x, 0.0).values)


def test_refused_call_does_not_advance_the_stream():
    x = torch.randn(2, 32)
    a, b = Link("awgn", path="analog", seed=22), Link("awgn", path="analog", seed=22)
    with pytest.raises(ValueError):
        a(x, snr_db=[1.0, 2.0, 3.0])
    assert torch.equal(a(x, 0.0).values, b(x, 0.0).values)


def test_seeded_digital_link_is_reproducible():
    bits = _bits((2, 2000), seed=14)
    outs = [Link("rayleigh", modulation="qpsk", code_rate=1.0, csi="ls", seed=3)(bits, snr_db=5.0) for _ in range(2)]
    assert torch.equal(outs[0].bits, outs[1].bits) and outs[0].ber == outs[1].ber > 0


# -- 6. configuration errors: one line naming the parameter -------------------------------
@pytest.mark.parametrize("kwargs,field", [
    ({"channel": {"model": "tdl", "delay_spread_s": -1.0}}, "channel.delay_spread_s"),
    ({"channel": {"model": "tdl", "profil": "A"}}, "channel.profil"),
    ({"channel": {"model": "tdl", "profile": "Z"}}, "channel.profile"),
    ({"channel": "nakagami"}, "channel.model"),
    ({"channel": {"profile": "A"}}, "channel.model"),
    ({"ofdm": {"fft_size": 0}}, "ofdm.fft_size"),
    ({"ofdm": {"pilot_ofdm_symbol_indices": [20]}}, "ofdm.pilot_ofdm_symbol_indices"),
    ({"modulation": "qam32"}, "modulation"),
    ({"code_rate": 0.1}, "code_rate"),
    ({"path": "optical"}, "path"),
    ({"csi": "blind"}, "csi"),
    ({"decoder": "magic"}, "decoder"),
    ({"snr_type": "sinr"}, "snr_type"),
    ({"device": "tpu"}, "device"),
    ({"seed": -1}, "seed"),
    ({"path": "analog", "modulation": "qpsk"}, "modulation"),
    ({"path": "analog", "snr_type": "ebn0"}, "snr_type"),
])
def test_bad_configuration_is_one_clear_value_error(kwargs, field):
    with pytest.raises(ValueError) as e:
        Link(**kwargs)
    msg = str(e.value)
    assert msg.startswith(field) and "\n" not in msg, msg


def test_bad_call_arguments():
    link = Link("awgn", modulation="qpsk", code_rate=1.0)
    with pytest.raises(ValueError, match=r"^bits: every value must be 0 or 1"):
        link(np.array([[0, 2, 1]]), 10.0)
    with pytest.raises(ValueError, match=r"^bits: expected"):
        link(np.zeros(5), 10.0)
    with pytest.raises(ValueError, match=r"^snr_db: expected a number or 2 values"):
        link(np.zeros((2, 5)), np.zeros(3))
    with pytest.raises(ValueError, match=r"^lengths: expected 2 integers"):
        link(np.zeros((2, 5)), 10.0, lengths=np.array([1.5, 2.0]))
    with pytest.raises(ValueError, match=r"^lengths: only the digital path"):
        Link("awgn", path="analog")(np.zeros((2, 4)), 10.0, lengths=[4, 4])


# -- 7. configuration -----------------------------------------------------------------------
def test_ofdm_grid_is_the_scenarios_model():
    from linksim.scenario import OFDMSection

    assert issubclass(OFDMSection, OFDMParams)  # one model: the defaults cannot drift apart
    assert OFDMParams().model_dump() == OFDMSection().model_dump()


def test_ofdm_override_and_channel_params():
    link = Link({"model": "tdl", "profile": "C", "delay_spread_s": 300e-9, "speed_mps": 3.0},
                ofdm={"fft_size": 36, "pilot_ofdm_symbol_indices": [2]}, path="analog")
    assert link.grid.fft_size == 36 and link.grid.data_symbols_per_slot == 36 * 13
    assert link.channel_params.profile == "C" and link.channel.label == "tdl-C"
    assert link.device in ("cpu",) or link.device.startswith("cuda:")


def test_public_names_are_lazy():
    """``import linksim.phy`` does not import Sionna; each public name resolves to its module."""
    code = "import sys, linksim.phy as p; assert 'sionna' not in sys.modules; assert 'Link' in dir(p)"
    subprocess.run([sys.executable, "-c", code], check=True)
    for name in linksim.phy.__all__:
        assert getattr(linksim.phy, name) is not None
    assert linksim.phy.Link is Link
    with pytest.raises(AttributeError):
        linksim.phy.NoSuchThing  # noqa: B018


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_cuda_link_outputs_live_on_cuda():
    link = Link("rayleigh", modulation="qpsk", code_rate=0.5, device="cuda", seed=1)
    out = link(_bits((2, 500)), snr_db=40.0)  # NumPy in, CUDA out
    assert out.bits.is_cuda and out.channel_uses.is_cuda and out.ber == 0.0
    alink = Link("awgn", path="analog", device="cuda", seed=1)
    assert alink(np.ones((2, 8), np.float32), 30.0).values.is_cuda
