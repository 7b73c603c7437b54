"""Which streams a ``caption_latent`` transmitter sends: the fixed modes and ``auto``.

``auto`` is the adaptive transmission the paper leaves to future work (Sec. 3.2, Tab. 1):
send caption and latent when the link is good, the caption alone when the latent does
not fit the bandwidth budget or the SNR is below a threshold.
"""

from __future__ import annotations

from typing import Literal

Mode = Literal["text+latent", "text", "latent", "auto"]

#: streams a fixed mode sends (``auto`` may send either set)
MODE_STREAMS: dict[str, tuple[str, ...]] = {
    "text+latent": ("caption", "latent"),
    "text": ("caption",),
    "latent": ("latent",),
    "auto": ("caption", "latent"),
}


def sends_latent(mode: str, snr_db: float | None, min_snr_db: float, caption_uses: int, latent_uses: int,
                 budget_uses: int | None) -> bool:
    """Whether the transmitter sends the latent at this point.

    :param snr_db: the point's SNR [dB] (Es/N0 per data RE) the transmitter is told; None if unknown.
    :param min_snr_db: ``auto``: below this SNR [dB] the latent is dropped.
    :param caption_uses: resource elements per sample of the caption stream.
    :param latent_uses: resource elements per sample of the latent stream.
    :param budget_uses: the scenario's ``budget.channel_uses`` per sample, or None.
    """
    if mode != "auto":
        return "latent" in MODE_STREAMS[mode]
    if budget_uses is not None and caption_uses + latent_uses > budget_uses:
        return False
    return snr_db is None or snr_db >= min_snr_db
