"""Tests of linksim.phy.channels: the channel registry and its models."""

from __future__ import annotations

import numpy as np
import pytest
import sionna
import torch
from pydantic import ValidationError
from scipy import stats

from linksim.metrics.intervals import t_interval
from linksim.phy.channels import CHANNELS, ChannelModel, build_channel, channel_class
from linksim.phy.ofdm import OFDMGrid
from linksim.phy.transceiver import OFDMTransceiver

GAIN_CASES = [("awgn", None), ("rayleigh", None)] + [(m, p) for m in ("tdl", "cdl") for p in "ABCDE"]
#: Family-wise error rate of the unit-gain checks, split over the cases (Bonferroni).
FAMILY_ALPHA = 1e-3
NUM_SLOTS = 2000


@pytest.fixture(autouse=True)
def _seed():
    sionna.phy.config.seed = 1234


@pytest.fixture(scope="module")
def grid():
    return OFDMGrid(72, 14, 30e3, 6, [2, 11])


def _params(model: str, profile: str | None = None, **kw):
    if profile is not None:
        kw["profile"] = profile
    return channel_class(model).Params(model=model, **kw)


def test_registry_has_the_documented_models():
    assert {"awgn", "rayleigh", "tdl", "cdl"} <= set(CHANNELS)
    for cls in CHANNELS.values():
        assert issubclass(cls, ChannelModel)


@pytest.mark.parametrize(("model", "profile"), GAIN_CASES)
def test_unit_average_gain(grid, model, profile):
    """E|h|^2 = 1 over realisations.

    The per-slot mean gain (averaged over the slot's resource elements) is i.i.d. across
    slots, so a Student-t interval over ``NUM_SLOTS`` slots at confidence
    ``1 - FAMILY_ALPHA / len(GAIN_CASES)`` must contain 1 (for flat Rayleigh, where the
    per-slot gain is exactly Exp(1), the exact Gamma interval is used instead).
    """
    ch = build_channel(_params(model, profile, speed_mps=3.0) if profile else _params(model), grid)
    h = ch.frequency_response(NUM_SLOTS)
    assert h.shape == (NUM_SLOTS, 1, 1, 1, 1, grid.num_ofdm_symbols, grid.fft_size)
    assert h.dtype == torch.complex64
    assert torch.isfinite(torch.view_as_real(h)).all()
    gain = h.abs().square().mean(dim=(1, 2, 3, 4, 5, 6)).double().numpy()
    conf = 1 - FAMILY_ALPHA / len(GAIN_CASES)
    if model == "awgn":
        np.testing.assert_allclose(gain, 1.0, rtol=1e-6)
        return
    if model == "rayleigh":
        # sum of n i.i.d. Exp(1) ~ Gamma(n, 1)
        a = 1 - conf
        lo, hi = stats.gamma.ppf([a / 2, 1 - a / 2], NUM_SLOTS) / NUM_SLOTS
        assert lo <= gain.mean() <= hi, (gain.mean(), lo, hi)
        return
    mean, lo, hi = t_interval(gain, conf)
    assert lo <= 1.0 <= hi, f"{model}-{profile}: E|h|^2 = {mean:.3f}, CI [{lo:.3f}, {hi:.3f}]"


def test_labels(grid):
    assert build_channel(_params("awgn"), grid).label == "awgn"
    assert build_channel(_params("rayleigh"), grid).label == "rayleigh"
    assert build_channel(_params("tdl", "C"), grid).label == "tdl-C"
    assert build_channel(_params("cdl", "D"), grid).label == "cdl-D"
    assert build_channel(_params("tdl"), grid).label == "tdl-A"  # default profile
    assert build_channel(_params("tdl", "B", name="office"), grid).label == "office"
    assert build_channel(_params("awgn", name="ideal"), grid).label == "ideal"


def test_params_validation():
    with pytest.raises(ValidationError, match="colour"):
        _params("awgn", colour="white")  # unknown field
    with pytest.raises(ValidationError, match="profile"):
        _params("tdl", "F")
    with pytest.raises(ValidationError, match="profile"):
        _params("cdl", "a")
    with pytest.raises(ValidationError, match="profile"):
        _params("rayleigh", profile="A")  # flat Rayleigh has no profile
    with pytest.raises(ValidationError, match="delay_spread_s"):
        _params("tdl", delay_spread_s=-1.0)
    with pytest.raises(ValidationError, match="speed_mps"):
        _params("cdl", speed_mps=-3.0)
    with pytest.raises(ValidationError, match="carrier_frequency_hz"):
        _params("tdl", carrier_frequency_hz=0.0)
    with pytest.raises(ValidationError, match="model"):
        channel_class("tdl").Params(model="cdl")
    assert issubclass(ValidationError, ValueError)


def test_unknown_model_names_known_ones():
    with pytest.raises(ValueError, match="unknown channel model 'umx'.*awgn.*cdl.*rayleigh.*tdl"):
        channel_class("umx")


def test_rayleigh_fresh_draw_per_slot(grid):
    h = build_channel(_params("rayleigh"), grid).frequency_response(64)
    coef = h.reshape(64, -1)
    # flat and constant within a slot (block fading) ...
    assert torch.equal(coef, coef[:, :1].expand_as(coef))
    # ... and a fresh, independent CN(0, 1) draw in every slot
    first = coef[:, 0]
    differ = first[:, None] != first[None, :]
    assert differ[~torch.eye(64, dtype=torch.bool)].all(), "no two slots share a coefficient"
    h2 = build_channel(_params("rayleigh"), grid).frequency_response(64).reshape(64, -1)[:, 0]
    assert not torch.equal(first, h2), "a second call draws new realisations"


@pytest.mark.parametrize("model", ["tdl", "cdl"])
def test_selective_models_vary_across_slots_and_frequency(grid, model):
    h = build_channel(_params(model, "C", speed_mps=30.0), grid).frequency_response(8)
    h = h.reshape(8, grid.num_ofdm_symbols, grid.fft_size)
    assert not torch.allclose(h[0], h[1]), "slots are independent realisations"
    assert not torch.allclose(h[0, 0, 0], h[0, 0, -1]), "TDL/CDL-C is frequency selective over 2.16 MHz"
    assert not torch.allclose(h[0, 0], h[0, -1]), "the response evolves within a slot at 30 m/s"


@pytest.mark.parametrize("model", ["awgn", "rayleigh", "tdl", "cdl"])
@pytest.mark.parametrize("csi", ["perfect", "ls"])
def test_transceiver_runs_with_every_channel_and_csi(grid, model, csi):
    """Symbols cross every channel with both CSI modes; at 30 dB the LMMSE output is close."""
    params = _params(model, "A", speed_mps=3.0) if model in ("tdl", "cdl") else _params(model)
    tr = OFDMTransceiver(grid, build_channel(params, grid), csi)
    g = torch.Generator().manual_seed(0)
    n = grid.data_symbols_per_slot + 100  # two slots, the last one partly filled
    qpsk = torch.complex(*(1 - 2 * torch.randint(0, 2, (2, 4, n), generator=g).float())) / 2**0.5
    x_hat, no_eff = tr(qpsk, 10 ** (-30 / 10))
    assert x_hat.shape == (4, n) and x_hat.dtype == torch.complex64
    assert no_eff.shape == (4, n) and torch.isfinite(no_eff).all() and (no_eff >= 0).all()
    # symbol error rate of a hard QPSK decision: tiny at 30 dB even on fading channels
    # (deep fades aside), so check most symbols come back right
    dec = torch.complex(torch.sign(x_hat.real), torch.sign(x_hat.imag)) / 2**0.5
    ser = (dec != qpsk).float().mean().item()
    assert ser < 0.05, ser


def test_channel_titles_say_what_the_channel_is():
    from linksim.phy.channels import channel_class

    def title(model, **kw):
        return channel_class(model).Params(model=model, **kw).title()

    assert title("awgn") == "AWGN"
    assert title("rayleigh") == "Rayleigh block fading"
    assert title("tdl", speed_mps=3.0, delay_spread_s=300e-9) == "TDL-A, 300 ns, 3 m/s, 3.5 GHz"
    assert title("cdl", profile="C") == "CDL-C, 100 ns, 0 m/s, 3.5 GHz"
    assert title("umi", los=True, carrier_frequency_hz=28e9) == "UMi LoS, 0 m/s, 28 GHz"
    assert title("uma") == "UMa, 0 m/s"  # LoS or not follows the link budget
    assert title("tdl", name="slow") == "slow: TDL-A, 100 ns, 0 m/s, 3.5 GHz"
