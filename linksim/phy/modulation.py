"""Modulation names used in scenario files, mapped onto Sionna constellations.

:data:`MODULATIONS` and :func:`bits_per_symbol` are plain tables (scenario validation and
resource-element counts use them without Sionna); :func:`make_constellation` imports Sionna.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from sionna.phy.mapping import Constellation

#: scenario name -> (Sionna constellation type, bits per symbol)
MODULATIONS: dict[str, tuple[str, int]] = {
    "bpsk": ("pam", 1),
    "qpsk": ("qam", 2),
    "qam16": ("qam", 4),
    "qam64": ("qam", 6),
    "qam256": ("qam", 8),
}


def bits_per_symbol(modulation: str) -> int:
    """Bits carried by one symbol of ``modulation`` (e.g. 4 for ``qam16``)."""
    return _lookup(modulation)[1]


def make_constellation(modulation: str, device: str | None = None) -> "Constellation":
    """Gray-labelled, unit-energy Sionna :class:`Constellation` for ``modulation``."""
    from sionna.phy.mapping import Constellation

    kind, m = _lookup(modulation)
    return Constellation(kind, m, normalize=True, device=device)


def _lookup(modulation: str) -> tuple[str, int]:
    try:
        return MODULATIONS[modulation]
    except KeyError:
        known = ", ".join(MODULATIONS)
        raise ValueError(f"modulation: unknown '{modulation}' (known: {known})") from None
