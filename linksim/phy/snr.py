"""SNR conventions: what ``snr_db`` in a scenario means, as a noise variance."""

from __future__ import annotations

from typing import Literal

SNRType = Literal["esn0", "ebn0"]


def noise_variance(snr_db: float, snr_type: SNRType = "esn0", bits_per_symbol: int = 1, code_rate: float = 1.0) -> float:
    """Noise variance N0 per complex resource element for unit-energy symbols.

    :param snr_db: the scenario's SNR [dB]. ``esn0``: average received Es/N0 per data
        resource element (the channel has unit average gain). ``ebn0``: energy per
        *information* bit, Es/N0 = Eb/N0 * bits_per_symbol * code_rate (pilots, CRC and
        slot padding are not counted against it).
    :param bits_per_symbol: bits per modulation symbol (ebn0 only).
    :param code_rate: channel code rate (ebn0 only).
    :return: N0 (linear), so that Es/N0 = 1 / N0.
    """
    if snr_type == "esn0":
        esn0_db = snr_db
    elif snr_type == "ebn0":
        import math

        esn0_db = snr_db + 10.0 * math.log10(bits_per_symbol * code_rate)
    else:
        raise ValueError(f"snr_type: must be 'esn0' or 'ebn0', got '{snr_type}'")
    return 10.0 ** (-esn0_db / 10.0)
