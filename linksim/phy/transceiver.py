"""Symbols onto the resource grid, through the channel, and back: shared by both links."""

from __future__ import annotations

from typing import Literal

import numpy as np
import torch
from sionna.phy.channel import ApplyOFDMChannel
from sionna.phy.mimo import StreamManagement
from sionna.phy.ofdm import LMMSEEqualizer, LSChannelEstimator, RemoveNulledSubcarriers, ResourceGridMapper

from .channels import ChannelModel
from .ofdm import OFDMGrid

CSI = Literal["perfect", "ls"]


def check_csi(csi: str, grid: OFDMGrid) -> None:
    """Raise ``ValueError`` (one line) unless ``csi`` is ``perfect``, or ``ls`` on a grid with pilots."""
    if csi not in ("perfect", "ls"):
        raise ValueError(f"csi: must be 'perfect' or 'ls', got '{csi}'")
    if csi == "ls" and not grid.pilot_ofdm_symbol_indices:
        raise ValueError("csi: 'ls' needs pilots, but phy.ofdm.pilot_ofdm_symbol_indices is empty")


class OFDMTransceiver(torch.nn.Module):
    """Complex data symbols -> resource grid -> channel + AWGN -> channel estimate -> LMMSE.

    The data symbols of each sample fill consecutive slots (``grid.data_symbols_per_slot``
    per slot); a partly filled last slot is completed with zero symbols unless the caller
    already filled it. Every slot of every sample is one independent channel realisation.
    Everything is a differentiable torch operation, so gradients reach the symbols.

    :param grid: the scenario's OFDM grid.
    :param channel: the channel model.
    :param csi: ``perfect`` (the true frequency response) or ``ls`` (least-squares
        estimate on the pilots, linearly interpolated in time and frequency).
    """

    def __init__(self, grid: OFDMGrid, channel: ChannelModel, csi: CSI = "perfect") -> None:
        super().__init__()
        check_csi(csi, grid)
        self.grid = grid
        self.channel = channel
        self.csi = csi
        rg, dev = grid.resource_grid, grid.device
        self._mapper = ResourceGridMapper(rg, device=dev)
        self._apply_channel = ApplyOFDMChannel(device=dev)
        self._remove_nulled = RemoveNulledSubcarriers(rg, device=dev)
        self._estimator = LSChannelEstimator(rg, interpolation_type="lin", device=dev) if csi == "ls" else None
        self._equalizer = LMMSEEqualizer(rg, StreamManagement(np.ones([1, 1], int), 1), device=dev)

    def forward(self, symbols: torch.Tensor, no: float | torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Send symbols over the channel.

        :param symbols: ``[batch, num_symbols]`` complex64, average energy 1 per symbol.
        :param no: noise variance per complex resource element (linear): ``1 / (Es/N0)``;
            a scalar, or ``[batch]`` for one value per sample.
        :return x_hat: ``[batch, num_symbols]`` complex64 LMMSE estimates (unbiased).
        :return no_eff: ``[batch, num_symbols]`` float32 effective noise variance per symbol.
        """
        batch, num_symbols = symbols.shape
        per_slot = self.grid.data_symbols_per_slot
        num_slots = self.grid.slots_for(num_symbols)
        pad = num_slots * per_slot - num_symbols
        if pad:
            symbols = torch.nn.functional.pad(symbols, (0, pad))
        x = symbols.reshape(batch * num_slots, 1, 1, per_slot)
        x_grid = self._mapper(x)
        h = self.channel.frequency_response(batch * num_slots, distance_m=self.channel.point_distance_m)
        no_t = torch.as_tensor(no, dtype=torch.float32, device=x_grid.device)
        if no_t.dim() > 0:  # one N0 per sample: every slot of a sample gets its sample's N0
            if no_t.numel() != batch:
                raise ValueError(f"no: expected a scalar or {batch} values (one per sample), got shape {tuple(no_t.shape)}")
            no_t = no_t.reshape(batch).repeat_interleave(num_slots).reshape(-1, 1, 1)
        y = self._apply_channel(x_grid, h, no_t)
        if self._estimator is None:
            h_hat = self._remove_nulled(h)
            err_var = torch.zeros((), dtype=torch.float32, device=y.device)
        else:
            h_hat, err_var = self._estimator(y, no_t)
        x_hat, no_eff = self._equalizer(y, h_hat, err_var, no_t)
        x_hat = x_hat.reshape(batch, num_slots * per_slot)[:, :num_symbols]
        no_eff = no_eff.reshape(batch, num_slots * per_slot)[:, :num_symbols]
        return x_hat, no_eff

    def slots_for(self, num_symbols: int) -> int:
        """Slots one sample of ``num_symbols`` data symbols occupies."""
        return self.grid.slots_for(num_symbols)


def make_transceiver(grid: OFDMGrid, channel: ChannelModel, csi: CSI = "perfect", implementation: str = "sionna",
                     ls_error_variance: str = "flat") -> torch.nn.Module:
    """The transceiver of a link: Sionna's blocks (:class:`OFDMTransceiver`) or the
    per-resource-element SISO path (:class:`~linksim.phy.fast_siso.FastSISOTransceiver`),
    which share one interface and give the same statistics.

    :param implementation: ``sionna`` or ``fast``.
    :param ls_error_variance: ``flat`` (Sionna's) or ``per_position`` (``fast`` only; see
        :data:`~linksim.phy.fast_siso.LSErrorVariance`).
    """
    if implementation == "fast":
        from .fast_siso import FastSISOTransceiver

        return FastSISOTransceiver(grid, channel, csi, ls_error_variance)
    if implementation != "sionna":
        raise ValueError(f"implementation: must be 'sionna' or 'fast', got '{implementation}'")
    if ls_error_variance != "flat":
        raise ValueError("ls_error_variance: 'per_position' needs implementation 'fast' "
                         "(Sionna's interpolator reports N0 on every resource element)")
    return OFDMTransceiver(grid, channel, csi)
