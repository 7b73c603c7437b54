"""The OFDM transceiver of a 1x1 link as per-resource-element torch operations.

:class:`~linksim.phy.transceiver.OFDMTransceiver` builds the whole chain from Sionna's
generic MIMO blocks: it maps symbols onto padded resource grids, applies the channel to
every resource element of every slot, estimates the channel with the LS estimator's
gather/permute machinery and equalises with a Cholesky-whitened LMMSE solve per resource
element. On a single-antenna link every one of those steps reduces to a few vector
operations on the resource elements that carry data, which is what this module does
(hand-written because no library offers a SISO-specialised OFDM receiver; Sionna's blocks
stay the reference, and the path on CUDA):

* mapping / extraction: an index gather (positions probed from Sionna's
  ``ResourceGridMapper``, so the order is Sionna's by construction);
* channel: the model's response gathered at the used data resource elements only (the last
  slot's padding and the pilots cost nothing); flat models give one gain per slot
  (:meth:`~linksim.phy.channels.ChannelModel.slot_gains`) and no grid is built at all;
* LS estimation: ``y_p / p`` on the pilot OFDM symbols, then Sionna's linear
  interpolation between the two pilot symbols that bracket each OFDM symbol (its
  extrapolation at the slot's edges included); pilots cover every subcarrier, so the
  frequency interpolation is the identity;
* equalisation: ``x_hat = y / h_hat`` and ``no_eff = (N0 + err_var) / |h_hat|^2``, which is
  what Sionna's unbiased, whitened LMMSE equaliser computes on a 1x1 link.

Every step is a differentiable torch operation: the analog link backpropagates through it.
"""

from __future__ import annotations

from typing import Literal

import numpy as np
import torch

from .channels import ChannelModel
from .ofdm import OFDMGrid
from .transceiver import CSI, check_csi

#: ``flat``: the error variance Sionna's interpolator reports (the pilots' ``N0 / |p|^2``,
#: interpolated linearly, so ``N0`` everywhere with unit-power pilots); ``per_position``: the
#: true variance of the interpolated estimate, ``(1 - w)^2 e0 + w^2 e1`` for an estimate
#: ``(1 - w) h0 + w h1`` from two pilots with independent errors (0.5 N0 mid-slot, 1.54 N0 at
#: the extrapolated edges of a 14-symbol slot with pilots on symbols 2 and 11).
LSErrorVariance = Literal["flat", "per_position"]


class FastSISOTransceiver(torch.nn.Module):
    """Maps data symbols onto the grid, sends them through the channel and equalises them:
    the same interface and statistics as :class:`~linksim.phy.transceiver.OFDMTransceiver`.

    Payloads are split across as many slots as they need (every slot of every sample is an
    independent channel realisation); noise is drawn from Sionna's seeded generator for the
    symbols' device (``sionna.phy.config.torch_rng``).

    :param grid: the scenario's OFDM grid; pilots, if any, must fill whole OFDM symbols
        (as :class:`~linksim.phy.ofdm.OFDMGrid` builds them).
    :param channel: the channel model.
    :param csi: ``perfect`` (the true frequency response) or ``ls``.
    :param ls_error_variance: the estimation error variance handed to the equaliser with
        ``ls``: ``flat`` (Sionna's) or ``per_position`` (see :data:`LSErrorVariance`).

    :input symbols: ``[batch, num_symbols]`` complex64, average energy 1 per symbol.
    :input no: noise variance per complex resource element, ``1 / (Es/N0)`` (linear): a
        number, or ``[batch]`` values (one per sample).
    :output x_hat: ``[batch, num_symbols]`` complex64 unbiased estimates of ``symbols``.
    :output no_eff: ``[batch, num_symbols]`` float32 effective noise variance per symbol.
    """

    def __init__(self, grid: OFDMGrid, channel: ChannelModel, csi: CSI = "perfect",
                 ls_error_variance: LSErrorVariance = "flat") -> None:
        super().__init__()
        check_csi(csi, grid)
        if ls_error_variance not in ("flat", "per_position"):
            raise ValueError(f"ls_error_variance: must be 'flat' or 'per_position', got '{ls_error_variance}'")
        self.grid = grid
        self.channel = channel
        self.csi = csi
        self.ls_error_variance = ls_error_variance
        layout = _grid_layout(grid)
        self._data_re = layout.data_re  # [D] flat (symbol * fft_size + subcarrier) index per data RE
        self._pilot_values = layout.pilot_values  # [P, F] complex, the pilot OFDM symbols' values
        self._pilot_symbols = layout.pilot_symbols  # [P] OFDM symbol index of each pilot symbol
        # per OFDM symbol: the two pilot symbols (as indices into the P of them) Sionna's
        # linear interpolator uses, and the weight of the second one
        self._k0, self._k1, self._w = _time_interpolation(grid.num_ofdm_symbols, grid.pilot_ofdm_symbol_indices)
        self._position_cache: dict[tuple[int, str], tuple[torch.Tensor, torch.Tensor]] = {}

    def slots_for(self, num_symbols: int) -> int:
        """Slots one sample of ``num_symbols`` data symbols occupies."""
        return self.grid.slots_for(num_symbols)

    def forward(self, symbols: torch.Tensor, no: float | torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        batch, num_symbols = symbols.shape
        dev = symbols.device
        g = self.grid
        num_slots = g.slots_for(num_symbols)
        slot, re = self._positions(num_symbols, dev)
        n0 = _per_sample_no(no, batch, dev)  # [batch, 1] float32
        rng = _generator(dev)

        gains = self.channel.slot_gains(batch * num_slots)
        if gains is not None:
            gains = gains.reshape(batch, num_slots)
            h = gains[:, slot]
            h_grid = None
        else:
            h_grid = self.channel.frequency_response(batch * num_slots, distance_m=self.channel.point_distance_m)
            h_grid = h_grid.reshape(batch, num_slots * g.num_ofdm_symbols * g.fft_size)
            h = h_grid[:, slot * (g.num_ofdm_symbols * g.fft_size) + re]
        y = h * symbols + n0.sqrt() * _complex_noise((batch, num_symbols), rng, dev)

        if self.csi == "perfect":
            h_hat, err_var = h, None
        else:
            if gains is not None:
                h_p = gains.reshape(batch, num_slots, 1, 1)
            else:  # [batch, slots, P, F]
                h_p = h_grid.reshape(batch, num_slots, g.num_ofdm_symbols, g.fft_size)[:, :, self._pilot_symbols.to(dev), :]
            pilots = self._pilot_values.to(dev)
            shape = (batch, num_slots) + tuple(pilots.shape)
            y_p = h_p * pilots + n0.reshape(-1, 1, 1, 1).sqrt() * _complex_noise(shape, rng, dev)
            h_hat, err_var = self.ls_estimate(y_p, n0, num_symbols)
        return equalize(y, h_hat, n0, err_var)

    def ls_estimate(self, y_pilots: torch.Tensor, no: torch.Tensor, num_symbols: int) -> tuple[torch.Tensor, torch.Tensor]:
        """LS channel estimates on the pilot OFDM symbols of every slot, interpolated to the
        first ``num_symbols`` data resource elements of each sample.

        :param y_pilots: ``[batch, num_slots, P, fft_size]`` complex64 received pilot symbols
            (``P`` pilot OFDM symbols per slot, in increasing order).
        :param no: ``[batch, 1]`` float32 noise variance.
        :param num_symbols: data symbols per sample.
        :return h_hat: ``[batch, num_symbols]`` complex64 channel estimates.
        :return err_var: ``[batch, num_symbols]`` float32 estimation error variance.
        """
        g = self.grid
        batch, num_slots = y_pilots.shape[:2]
        slot, re = self._positions(num_symbols, y_pilots.device)
        dev = y_pilots.device
        pilots = self._pilot_values.to(dev)  # [P, F]
        num_p = pilots.shape[0]
        h_ls = (y_pilots / pilots).reshape(batch, num_slots * num_p * g.fft_size)
        t = re // g.fft_size
        f = re - t * g.fft_size
        k0, k1, w = self._k0.to(dev)[t], self._k1.to(dev)[t], self._w.to(dev)[t]
        base = slot * (num_p * g.fft_size) + f
        h0 = h_ls[:, base + k0 * g.fft_size]
        h1 = h_ls[:, base + k1 * g.fft_size]
        h_hat = h0 + w * (h1 - h0)
        # error variance of each pilot estimate: N0 / |p|^2 (unit-power pilots: N0)
        inv_p = 1.0 / (pilots.real.square() + pilots.imag.square())  # [P, F]
        e0, e1 = inv_p[k0, f], inv_p[k1, f]
        if self.ls_error_variance == "flat":  # Sionna interpolates the variance like the estimate
            factor = ((1 - w) * e0 + w * e1).clamp_min(0.0)
        else:
            factor = (1 - w).square() * e0 + w.square() * e1
        return h_hat, no * factor

    # -- index tables ----------------------------------------------------------------
    def _positions(self, num_symbols: int, device: torch.device) -> tuple[torch.Tensor, torch.Tensor]:
        """``(slot, re)``: ``[num_symbols]`` int64 slot of each symbol within its sample and
        flat resource-element index (``symbol * fft_size + subcarrier``) within the slot."""
        key = (num_symbols, str(device))
        if key not in self._position_cache:
            d = self._data_re.numel()
            i = torch.arange(num_symbols, dtype=torch.int64)
            self._position_cache[key] = ((i // d).to(device), self._data_re[i % d].to(device))
        return self._position_cache[key]

    @property
    def data_resource_elements(self) -> torch.Tensor:
        """``[data_symbols_per_slot]`` int64 flat index (``symbol * fft_size + subcarrier``)
        of each data resource element, in the order symbols are mapped onto a slot."""
        return self._data_re


# ----------------------------------------------------------------------------------
# helpers
# ----------------------------------------------------------------------------------
class _GridLayout:
    def __init__(self, data_re: torch.Tensor, pilot_symbols: torch.Tensor, pilot_values: torch.Tensor) -> None:
        self.data_re, self.pilot_symbols, self.pilot_values = data_re, pilot_symbols, pilot_values


def _grid_layout(grid: OFDMGrid) -> _GridLayout:
    """Where Sionna's ``ResourceGridMapper`` puts data and pilots on one slot of ``grid``
    (probed once, so the fast path's order is Sionna's by construction)."""
    from sionna.phy.ofdm import ResourceGridMapper

    t_n, f_n = grid.num_ofdm_symbols, grid.fft_size
    d = grid.data_symbols_per_slot
    mapper = ResourceGridMapper(grid.resource_grid, device=grid.device)
    probe = (torch.arange(1, d + 1, dtype=torch.float32) + 0j).to(torch.complex64).reshape(1, 1, 1, d)
    probe = probe.to(mapper.device)
    with torch.no_grad():  # the tables live on the CPU; forward moves what it needs
        filled = mapper(probe).reshape(t_n, f_n).cpu()  # data 1..D, pilots as they are
        pilots_only = mapper(torch.zeros_like(probe)).reshape(t_n, f_n).cpu()
    mask = grid.resource_grid.pilot_pattern.mask.reshape(-1, t_n, f_n)[0].cpu().numpy().astype(bool)
    data_pos = np.flatnonzero(~mask.reshape(-1))
    values = filled.reshape(-1)[torch.as_tensor(data_pos)].real.round().to(torch.int64).numpy() - 1
    order = np.empty(d, np.int64)
    order[values] = data_pos  # data symbol i sits at flat RE order[i]
    if sorted(values.tolist()) != list(range(d)):
        raise ValueError("fast receiver: could not locate the data resource elements of the grid")
    pilot_symbols = sorted(set(np.nonzero(mask.any(axis=1))[0].tolist()))
    if not mask[pilot_symbols].all() or mask.sum() != len(pilot_symbols) * f_n:
        raise ValueError("fast receiver: pilots must fill whole OFDM symbols (every subcarrier), "
                         "as linksim's OFDMGrid places them")
    pilot_values = pilots_only[pilot_symbols, :].clone() if pilot_symbols else torch.zeros(0, f_n, dtype=torch.complex64)
    return _GridLayout(torch.as_tensor(order), torch.as_tensor(pilot_symbols, dtype=torch.int64), pilot_values)


def _time_interpolation(num_ofdm_symbols: int, pilot_symbols: list[int]) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Per OFDM symbol ``t``: the pilot symbols ``(k0, k1)`` (indices into the sorted pilot
    symbols) and the weight ``w`` with ``h(t) = (1 - w) h_k0 + w h_k1``, chosen as Sionna's
    ``LinearInterpolator`` chooses them: the first two pilot symbols until ``t`` reaches the
    second, then the next pair, and linear extrapolation before the first and after the last;
    one pilot symbol: its estimate everywhere."""
    pil = sorted(pilot_symbols)
    k0 = np.zeros(num_ofdm_symbols, np.int64)
    k1 = np.zeros(num_ofdm_symbols, np.int64)
    w = np.zeros(num_ofdm_symbols, np.float32)
    if len(pil) >= 2:
        a, b = 0, 1
        for t in range(num_ofdm_symbols):  # Sionna's loop in LinearInterpolator.__init__
            k0[t], k1[t] = a, b
            w[t] = (t - pil[a]) / (pil[b] - pil[a])
            if t == pil[b] and b < len(pil) - 1:
                a, b = b, b + 1
    return torch.as_tensor(k0), torch.as_tensor(k1), torch.as_tensor(w)


def equalize(y: torch.Tensor, h_hat: torch.Tensor, no: torch.Tensor,
             err_var: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """Unbiased LMMSE equalisation of a 1x1 link, per resource element: what Sionna's
    whitened ``LMMSEEqualizer`` computes there, ``x_hat = y / h_hat`` and
    ``no_eff = (N0 + err_var) / |h_hat|^2``.

    :param y: ``[..., N]`` complex64 received symbols.
    :param h_hat: ``[..., N]`` complex64 channel (estimates).
    :param no: noise variance, broadcastable to ``y`` (float32).
    :param err_var: estimation error variance broadcastable to ``y``, or ``None`` (perfect CSI).
    :return x_hat: ``[..., N]`` complex64.
    :return no_eff: ``[..., N]`` float32 effective noise variance.
    """
    noise = no if err_var is None else no + err_var
    inv_gain = 1.0 / (h_hat.real.square() + h_hat.imag.square())
    # y * conj(h) / |h|^2: a complex division and its backward cost about three times this
    return y * (h_hat.conj() * inv_gain), noise * inv_gain


def _per_sample_no(no: float | torch.Tensor, batch: int, device: torch.device) -> torch.Tensor:
    no_t = torch.as_tensor(no, dtype=torch.float32, device=device)
    if no_t.dim() == 0:
        return no_t.reshape(1, 1)
    if no_t.numel() != batch:
        raise ValueError(f"no: expected a scalar or {batch} values (one per sample), got shape {tuple(no_t.shape)}")
    return no_t.reshape(batch, 1)


def _generator(device: torch.device) -> torch.Generator:
    import sionna.phy

    key = "cpu" if device.type == "cpu" else f"cuda:{device.index or 0}"
    return sionna.phy.config.torch_rng(key)


def _complex_noise(shape: tuple[int, ...], rng: torch.Generator, device: torch.device) -> torch.Tensor:
    """CN(0, 1) samples (each real dimension of variance 1/2)."""
    return torch.randn(shape, dtype=torch.complex64, generator=rng, device=device)
