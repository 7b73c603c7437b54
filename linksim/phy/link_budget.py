"""Link budgets (distance -> received SNR) and bandwidth budgets (Hz x s -> resource elements).

Link budget, all in dB / dBm:

    EIRP          = P_tx + G_tx
    P_rx          = EIRP - PL(d, f_c) - shadowing margin - other losses + G_rx
    N             = 10 log10(k T / 1 mW) + 10 log10(B) + NF          (kT = -174.0 dBm/Hz at 290 K)
    SNR (Es/N0)   = P_rx - N
    Eb/N0         = Es/N0 - 10 log10(bits per symbol x code rate)     (per digital stream)

``B`` is the budget's ``bandwidth_hz``: the received power is spread over the
occupied bandwidth and compared with the noise in that bandwidth. When the signal
power is spread evenly over the subcarriers, the SNR per resource element (Es/N0 per
RE, what every ``snr_db`` of linksim means) equals this wideband SNR.

Bandwidth budget: ``bandwidth_hz`` and ``duration_s`` (per sample) become resource
elements through the scenario's OFDM numerology:

    channel_uses = floor(data REs per slot x floor(duration_s / T_slot) x floor(bandwidth_hz / Δf) / fft_size)

with T_slot = num_ofdm_symbols x (fft_size + cp) / (fft_size x Δf), i.e. as many slots
as fit in the duration, each as wide as the number of subcarriers that fit in the
bandwidth (a grid of ``fft_size`` subcarriers scaled to that width).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from .pathloss import PathlossModel, PathlossRangeError

BOLTZMANN = 1.380649e-23  # J/K
#: the largest |SNR| [dB] a distance may give: the same guard as ``sweep.snr_db``'s
MAX_ABS_SNR_DB = 300.0


def thermal_noise_dbm(bandwidth_hz: float, temperature_k: float = 290.0) -> float:
    """Thermal noise power kTB [dBm] in ``bandwidth_hz`` [Hz] at ``temperature_k`` [K]."""
    return 10.0 * math.log10(BOLTZMANN * temperature_k * bandwidth_hz / 1e-3)


@dataclass(frozen=True)
class LinkBudget:
    """The parameters of a link budget (the scenario's ``link_budget`` section, resolved).

    Powers in dBm, gains and losses in dB(i), frequencies and bandwidths in Hz,
    temperature in K, distances in metres.
    """

    tx_power_dbm: float
    tx_antenna_gain_dbi: float
    rx_antenna_gain_dbi: float
    other_losses_db: float
    carrier_frequency_hz: float
    bandwidth_hz: float
    noise_figure_db: float
    temperature_k: float
    pathloss: PathlossModel
    shadowing_margin_db: float = 0.0

    @property
    def eirp_dbm(self) -> float:
        return self.tx_power_dbm + self.tx_antenna_gain_dbi

    @property
    def noise_dbm(self) -> float:
        """Noise power in the bandwidth [dBm]: kTB + NF."""
        return thermal_noise_dbm(self.bandwidth_hz, self.temperature_k) + self.noise_figure_db

    def pathloss_db(self, distance_m: float) -> float:
        return self.pathloss(distance_m, self.carrier_frequency_hz)

    def rx_power_dbm(self, distance_m: float) -> float:
        return (self.eirp_dbm - self.pathloss_db(distance_m) - self.shadowing_margin_db - self.other_losses_db
                + self.rx_antenna_gain_dbi)

    def snr_db(self, distance_m: float) -> float:
        """Received Es/N0 per resource element [dB] at ``distance_m`` [m] (see the module docstring)."""
        return self.rx_power_dbm(distance_m) - self.noise_dbm

    def check_distance(self, distance_m: float) -> None:
        """Whether ``distance_m`` [m] can be a sweep point of this budget: inside the path-loss
        model's validity range (free space: the far field of the carrier, see
        :mod:`~linksim.phy.pathloss`) and giving an SNR within +-:data:`MAX_ABS_SNR_DB` dB.

        :raises PathlossRangeError: one line, naming the distance and what is wrong.
        """
        self.pathloss.check_frequency(self.carrier_frequency_hz)
        self.pathloss.check_heights()
        self.pathloss.check_distance(distance_m, self.carrier_frequency_hz)
        snr = self.snr_db(distance_m)
        if not (math.isfinite(snr) and abs(snr) <= MAX_ABS_SNR_DB):
            raise PathlossRangeError(f"{distance_m:g} m gives an SNR of {snr:.1f} dB, outside +-{MAX_ABS_SNR_DB:g} dB "
                                     "(the range of snr_db): check the link budget's powers, gains and bandwidth")

    def table(self, distance_m: float, streams: dict[str, tuple[int, float]] | None = None) -> list[tuple[str, str, str]]:
        """The budget line by line: ``(item, value, unit)``.

        :param streams: label -> (bits per symbol, code rate) of digital streams, each
            adding an Eb/N0 line.
        """
        pl = self.pathloss
        kt = thermal_noise_dbm(1.0, self.temperature_k)
        state = "" if pl.model == "free_space" else (" LoS" if pl.los else " NLoS")
        rows = [
            ("distance", f"{distance_m:g}", "m"),
            ("carrier frequency", f"{self.carrier_frequency_hz / 1e9:g}", "GHz"),
            ("transmit power", f"{self.tx_power_dbm:.2f}", "dBm"),
            ("+ transmit antenna gain", f"{self.tx_antenna_gain_dbi:.2f}", "dBi"),
            ("= EIRP", f"{self.eirp_dbm:.2f}", "dBm"),
        ]
        if pl.model != "free_space":  # the geometry behind the path loss
            fc = self.carrier_frequency_hz
            rows += [
                ("BS height h_BS", f"{pl.h_bs:g}", "m"),
                ("UT height h_UT", f"{pl.h_ut_m:g}", "m"),
                ("d_3D = sqrt(d_2D^2 + (h_BS - h_UT)^2)", f"{pl.d3d_m(distance_m):.2f}", "m"),
                ("breakpoint distance", f"{pl.breakpoint_m(fc):.1f}", "m"),
                ("path loss formula", pl.branch(distance_m, fc), ""),
            ]
        rows += [
            (f"- path loss ({pl.name}{state})", f"{self.pathloss_db(distance_m):.2f}", "dB"),
            ("- shadowing margin", f"{self.shadowing_margin_db:.2f}", "dB"),
            ("- other losses", f"{self.other_losses_db:.2f}", "dB"),
            ("+ receive antenna gain", f"{self.rx_antenna_gain_dbi:.2f}", "dBi"),
            ("= received power", f"{self.rx_power_dbm(distance_m):.2f}", "dBm"),
            (f"thermal noise density kT ({self.temperature_k:g} K)", f"{kt:.2f}", "dBm/Hz"),
            (f"+ 10 log10(B), B = {self.bandwidth_hz / 1e6:g} MHz", f"{10 * math.log10(self.bandwidth_hz):.2f}", "dB"),
            ("+ noise figure", f"{self.noise_figure_db:.2f}", "dB"),
            ("= noise power", f"{self.noise_dbm:.2f}", "dBm"),
            ("SNR = Es/N0 per resource element", f"{self.snr_db(distance_m):.2f}", "dB"),
        ]
        for label, (bps, rate) in (streams or {}).items():
            ebn0 = self.snr_db(distance_m) - 10.0 * math.log10(bps * rate)
            rows.append((f"Eb/N0 {label}", f"{ebn0:.2f}", "dB"))
        return rows


def budget_channel_uses(bandwidth_hz: float, duration_s: float, data_symbols_per_slot: int, fft_size: int,
                        subcarrier_spacing_hz: float, slot_duration_s: float) -> int:
    """Resource elements per sample that ``bandwidth_hz`` [Hz] x ``duration_s`` [s] give.

    ``floor(data_symbols_per_slot * floor(duration_s / slot_duration_s) * floor(bandwidth_hz / Δf) / fft_size)``
    (see the module docstring). A tiny relative tolerance keeps exact multiples exact.
    """
    slots = math.floor(duration_s / slot_duration_s * (1 + 1e-9))
    subcarriers = math.floor(bandwidth_hz / subcarrier_spacing_hz * (1 + 1e-9))
    return math.floor(data_symbols_per_slot * slots * subcarriers / fft_size)
