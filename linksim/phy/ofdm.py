"""The OFDM resource grid shared by every link of a scenario."""

from __future__ import annotations

import math

import numpy as np
from sionna.phy.ofdm import PilotPattern, ResourceGrid


class OFDMGrid:
    """One slot of OFDM: ``num_ofdm_symbols`` x ``fft_size`` resource elements.

    A payload longer than one slot fills as many slots as it needs; each slot is an
    independent channel use (block fading between slots). Pilots are QPSK symbols on
    the OFDM symbols ``pilot_ofdm_symbol_indices`` (Kronecker pattern), drawn from a
    fixed generator so that the grid is identical in every process.

    :param fft_size: subcarriers per OFDM symbol.
    :param num_ofdm_symbols: OFDM symbols per slot.
    :param subcarrier_spacing_hz: subcarrier spacing [Hz].
    :param cyclic_prefix_length: cyclic prefix [samples]; only matters for time-domain
        channels and for the bandwidth accounting.
    :param pilot_ofdm_symbol_indices: OFDM symbols that carry pilots (may be empty
        when every link uses perfect CSI).
    """

    def __init__(
        self,
        fft_size: int,
        num_ofdm_symbols: int,
        subcarrier_spacing_hz: float,
        cyclic_prefix_length: int = 0,
        pilot_ofdm_symbol_indices: list[int] | tuple[int, ...] = (),
        device: str | None = None,
    ) -> None:
        pilots = sorted(set(int(i) for i in pilot_ofdm_symbol_indices))
        if any(i < 0 or i >= num_ofdm_symbols for i in pilots):
            raise ValueError(
                f"pilot_ofdm_symbol_indices: {pilots} must lie in [0, {num_ofdm_symbols - 1}]"
            )
        if len(pilots) >= num_ofdm_symbols:
            raise ValueError("pilot_ofdm_symbol_indices: no OFDM symbol is left for data")
        self.fft_size = int(fft_size)
        self.num_ofdm_symbols = int(num_ofdm_symbols)
        self.subcarrier_spacing_hz = float(subcarrier_spacing_hz)
        self.cyclic_prefix_length = int(cyclic_prefix_length)
        self.pilot_ofdm_symbol_indices = pilots
        self.device = device
        # Sionna's KroneckerPilotPattern draws its QPSK pilots from the global Sionna RNG at
        # construction; building the same pattern from a fixed generator keeps the grid
        # independent of when (and in which worker) it is built.
        mask = np.zeros([1, 1, num_ofdm_symbols, fft_size], bool)
        mask[..., pilots, :] = True
        rng = np.random.default_rng(0)
        n_p = len(pilots) * fft_size
        qpsk = (1 - 2 * rng.integers(0, 2, n_p)) + 1j * (1 - 2 * rng.integers(0, 2, n_p))
        pilot_values = (qpsk / np.sqrt(2)).astype(np.complex64).reshape(1, 1, n_p)
        self.resource_grid = ResourceGrid(
            num_ofdm_symbols=self.num_ofdm_symbols,
            fft_size=self.fft_size,
            subcarrier_spacing=self.subcarrier_spacing_hz,
            num_tx=1,
            num_streams_per_tx=1,
            cyclic_prefix_length=self.cyclic_prefix_length,
            pilot_pattern=PilotPattern(mask, pilot_values, normalize=True, device=device),
            device=device,
        )

    @property
    def data_symbols_per_slot(self) -> int:
        """Data resource elements in one slot (all REs minus pilots)."""
        return int(self.resource_grid.num_data_symbols)

    @property
    def resource_elements_per_slot(self) -> int:
        """All resource elements of one slot, pilots included."""
        return self.fft_size * self.num_ofdm_symbols

    @property
    def slot_duration_s(self) -> float:
        """Duration of one slot [s], cyclic prefixes included."""
        sample_rate = self.fft_size * self.subcarrier_spacing_hz
        return self.num_ofdm_symbols * (self.fft_size + self.cyclic_prefix_length) / sample_rate

    @property
    def bandwidth_hz(self) -> float:
        """Occupied bandwidth [Hz] = fft_size x subcarrier spacing."""
        return self.fft_size * self.subcarrier_spacing_hz

    def slots_for(self, num_symbols: int) -> int:
        """Slots needed to carry ``num_symbols`` data symbols (at least one)."""
        return max(1, math.ceil(int(num_symbols) / self.data_symbols_per_slot))
