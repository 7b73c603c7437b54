"""The fast SISO transceiver against Sionna's blocks: the same resource-element order, the
same equalisation and LS estimates up to float rounding, the same statistics, gradients."""

from __future__ import annotations

import math

import numpy as np
import pytest
import sionna.phy
import torch
from scipy.stats import chi2, ks_2samp
from sionna.phy.channel import cir_to_ofdm_channel
from sionna.phy.mimo import StreamManagement
from sionna.phy.ofdm import LMMSEEqualizer, LSChannelEstimator, RemoveNulledSubcarriers, ResourceGridMapper

from torch_threads import torch_threads

from linksim.phy.channels import build_channel, channel_class, ofdm_response
from linksim.phy.fast_siso import FastSISOTransceiver, equalize
from linksim.phy.ofdm import OFDMGrid
from linksim.phy.transceiver import OFDMTransceiver


@pytest.fixture(autouse=True)
def _one_thread():
    with torch_threads(1):  # Sionna's reference blocks (see torch_threads)
        yield


GRIDS = {
    "nr-like": (72, 14, [2, 11]),
    "three-pilots": (24, 14, [0, 6, 13]),
    "one-pilot": (12, 7, [3]),
    "no-pilots": (16, 4, []),
}


def _grid(name: str) -> OFDMGrid:
    fft, syms, pilots = GRIDS[name]
    return OFDMGrid(fft, syms, 30e3, 0, pilots)


def _channel(model: str, grid: OFDMGrid, **kw):
    return build_channel(channel_class(model).Params(model=model, **kw), grid)


def _random_complex(*shape, seed=0):
    g = torch.Generator().manual_seed(seed)
    return torch.randn(*shape, dtype=torch.complex64, generator=g)


@pytest.mark.parametrize("name", list(GRIDS))
def test_data_resource_elements_are_sionnas_mapping_order(name):
    grid = _grid(name)
    fast = FastSISOTransceiver(grid, _channel("awgn", grid))
    d = grid.data_symbols_per_slot
    x = _random_complex(3, 1, 1, d)
    mapped = ResourceGridMapper(grid.resource_grid)(x).reshape(3, -1)
    assert torch.equal(mapped[:, fast.data_resource_elements], x.reshape(3, d))


@pytest.mark.parametrize("name", ["nr-like", "one-pilot"])
def test_equalisation_with_perfect_csi_matches_sionna_lmmse(name):
    grid = _grid(name)
    fast = FastSISOTransceiver(grid, _channel("awgn", grid))
    batch, t, f = 16, grid.num_ofdm_symbols, grid.fft_size
    y = _random_complex(batch, 1, 1, t, f, seed=1)
    h = _random_complex(batch, 1, 1, 1, 1, t, f, seed=2)
    no = torch.rand(batch, generator=torch.Generator().manual_seed(3)) * 0.5 + 0.01
    rg = grid.resource_grid
    eq = LMMSEEqualizer(rg, StreamManagement(np.ones([1, 1], int), 1))
    x_ref, no_ref = eq(y, RemoveNulledSubcarriers(rg)(h), torch.zeros(()), no.reshape(-1, 1, 1))
    idx = fast.data_resource_elements
    x_fast, no_fast = equalize(y.reshape(batch, -1)[:, idx], h.reshape(batch, -1)[:, idx], no.reshape(-1, 1))
    # the same quantity, computed through a Cholesky whitening and a 1x1 solve in Sionna:
    # equal up to a few float32 roundings
    torch.testing.assert_close(x_fast, x_ref.reshape(batch, -1), rtol=2e-5, atol=1e-6)
    # Sionna forms no_eff as 1/d - 1 with d = |h|^2/(|h|^2 + N0) close to 1 where the SNR is
    # high: its absolute error is a few float32 ulp of 1, not relative to the small result
    torch.testing.assert_close(no_fast, no_ref.reshape(batch, -1), rtol=2e-5, atol=4 * 2.0**-23)


@pytest.mark.parametrize("name", ["nr-like", "three-pilots", "one-pilot"])
def test_ls_estimates_match_sionnas_estimator_and_interpolator(name):
    grid = _grid(name)
    fast = FastSISOTransceiver(grid, _channel("awgn", grid), "ls")
    batch, t, f = 8, grid.num_ofdm_symbols, grid.fft_size
    y = _random_complex(batch, 1, 1, t, f, seed=4)
    no = torch.full((batch,), 0.2)
    h_ref, err_ref = LSChannelEstimator(grid.resource_grid, interpolation_type="lin")(y, no.reshape(-1, 1, 1))
    pil = grid.pilot_ofdm_symbol_indices
    y_pilots = y.reshape(batch, 1, t, f)[:, :, pil, :]
    d = grid.data_symbols_per_slot
    h_fast, err_fast = fast.ls_estimate(y_pilots, no.reshape(-1, 1), d)
    idx = fast.data_resource_elements
    # Sionna interpolates in frequency too (the identity here, up to one rounding of
    # (y1 - y0) + y0) and divides by the pilot spacing in complex arithmetic
    torch.testing.assert_close(h_fast, h_ref.reshape(batch, -1)[:, idx], rtol=1e-5, atol=1e-6)
    torch.testing.assert_close(err_fast, err_ref.expand(h_ref.shape).reshape(batch, -1)[:, idx], rtol=1e-6, atol=1e-7)


def test_per_position_error_variance_is_the_interpolations_true_error():
    """With h = 1 (AWGN), the LS estimate's error at OFDM symbol t has variance
    N0 ((1 - w)^2 + w^2): 125/81 N0 at symbol 0, 1/2 N0 mid-slot (pilots on 2 and 11)."""
    grid = _grid("nr-like")
    tr = FastSISOTransceiver(grid, _channel("awgn", grid), "ls", ls_error_variance="per_position")
    batch, d, no = 4000, grid.data_symbols_per_slot, 0.05
    sionna.phy.config.seed = 5
    n0 = torch.full((batch, 1), no)
    y_pilots = grid_pilots(tr) + math.sqrt(no) * _random_complex(batch, 1, 2, grid.fft_size, seed=6)
    h_hat, err_var = tr.ls_estimate(y_pilots, n0, d)
    err = (h_hat - 1).abs().square()  # [batch, d]
    t_of = tr.data_resource_elements // grid.fft_size
    for t in (0, 5, 6, 13):
        cols = t_of == t
        n = int(cols.sum()) * batch  # independent complex errors (one per subcarrier and sample)
        measured = float(err[:, cols].sum())
        predicted = float(err_var[0, cols][0])
        # sum of n |CN(0, v)|^2 = v/2 * chi2(2n): a two-sided 1e-4 interval
        lo, hi = chi2.ppf(5e-5, 2 * n) * predicted / 2, chi2.ppf(1 - 5e-5, 2 * n) * predicted / 2
        assert lo <= measured <= hi, (t, measured / n, predicted)
    assert float(err_var[0, t_of == 0][0]) == pytest.approx(no * 125 / 81, rel=1e-6)
    w_mid = (6 - 2) / 9
    assert float(err_var[0, t_of == 6][0]) == pytest.approx(no * ((1 - w_mid) ** 2 + w_mid**2), rel=1e-6)


def grid_pilots(tr: FastSISOTransceiver) -> torch.Tensor:
    """``[1, 1, P, F]`` the pilot symbols (y_p on a channel h = 1 without noise)."""
    return tr._pilot_values.reshape(1, 1, *tr._pilot_values.shape)


@pytest.mark.parametrize("model,kw", [("tdl", {"profile": "A", "speed_mps": 30.0}), ("cdl", {"profile": "C"})])
def test_ofdm_response_equals_sionnas_cir_to_ofdm_channel(model, kw):
    grid = _grid("nr-like")
    ch = _channel(model, grid, **kw)
    gen = ch._generate
    sionna.phy.config.seed = 9
    a, tau = gen._cir_sampler(32, gen._num_ofdm_symbols, gen._sampling_frequency)
    ref = cir_to_ofdm_channel(gen._frequencies, a, tau)
    sionna.phy.config.seed = 9
    fast = ofdm_response(gen, 32)
    # the same float32 phases; cos/sin instead of complex exp: a few ulp per path
    torch.testing.assert_close(fast, ref, rtol=0, atol=2e-6)


@pytest.mark.parametrize("csi", ["perfect", "ls"])
@pytest.mark.parametrize("model,kw", [("awgn", {}), ("rayleigh", {}), ("tdl", {"profile": "A", "speed_mps": 3.0})])
def test_same_statistics_as_the_sionna_chain_on_every_channel(model, kw, csi):
    """Per slot (an independent channel draw), the mean squared error of the equalised
    symbols and the mean effective noise variance the receiver reports: the fast path and
    Sionna's chain draw from the same distributions (two-sample Kolmogorov-Smirnov test at
    a 1e-4 false-alarm rate each). With perfect CSI, |x_hat - x|^2 / no_eff is a unit
    exponential per resource element, so its mean is 1 within 6 / sqrt(N)."""
    grid = _grid("nr-like")
    ch = _channel(model, grid, **kw)
    fast = FastSISOTransceiver(grid, ch, csi)
    ref = OFDMTransceiver(grid, ch, csi)
    d = grid.data_symbols_per_slot
    batch, n = 300, 2 * d + d // 2  # three slots per sample, the last one half filled
    x = torch.exp(2j * torch.pi * torch.rand(batch, n, generator=torch.Generator().manual_seed(7))).to(torch.complex64)
    sionna.phy.config.seed = 11
    xf, nf = fast(x, 0.1)
    sionna.phy.config.seed = 12
    xr, nr = ref(x, 0.1)
    assert xf.shape == x.shape and nf.shape == x.shape and nf.dtype == torch.float32

    def per_slot(v):  # rounded: float-rounding differences must not count as a difference in law
        return np.round(torch.cat([v[:, :d].mean(1), v[:, d: 2 * d].mean(1), v[:, 2 * d:].mean(1)]).numpy(), 5)

    for stat_f, stat_r in (((xf - x).abs().square(), (xr - x).abs().square()), (nf, nr)):
        assert ks_2samp(per_slot(stat_f), per_slot(stat_r)).pvalue > 1e-4
    if csi == "perfect":
        ratio = ((xf - x).abs().square() / nf).flatten()
        assert abs(float(ratio.mean()) - 1) < 6 / math.sqrt(ratio.numel())


def test_per_sample_noise_and_gradients():
    grid = _grid("nr-like")
    tr = FastSISOTransceiver(grid, _channel("rayleigh", grid), "ls")
    x = torch.randn(4, 100, dtype=torch.complex64, requires_grad=True)
    sionna.phy.config.seed = 1
    x_hat, no_eff = tr(x, torch.tensor([0.01, 0.1, 1.0, 10.0]))
    x_hat.real.sum().backward()
    assert x.grad is not None and torch.isfinite(x.grad).all() and x.grad.abs().sum() > 0
    with pytest.raises(ValueError, match="no: expected a scalar or 4 values"):
        tr(x.detach(), torch.ones(3))


def test_same_seed_same_draws():
    grid = _grid("nr-like")
    tr = FastSISOTransceiver(grid, _channel("tdl", grid, profile="B"), "ls")
    x = torch.ones(2, 900, dtype=torch.complex64)
    sionna.phy.config.seed = 3
    a = tr(x, 0.1)
    sionna.phy.config.seed = 3
    b = tr(x, 0.1)
    assert torch.equal(a[0], b[0]) and torch.equal(a[1], b[1])


def test_refuses_bad_options():
    grid = _grid("no-pilots")
    with pytest.raises(ValueError, match="needs pilots"):
        FastSISOTransceiver(grid, _channel("awgn", grid), "ls")
    with pytest.raises(ValueError, match="ls_error_variance"):
        FastSISOTransceiver(grid, _channel("awgn", grid), "perfect", ls_error_variance="exact")
