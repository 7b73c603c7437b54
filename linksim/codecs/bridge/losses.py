"""The training objective of Bridge (Sec. 3, eq. 14) and the paper's ablations.

``L_total = alpha1 L_SDMI + alpha2 L_MACS + alpha3 L_recon + alpha4 L_VQ`` (+ an
optional foundation-model alignment term, eq. 13, weighted ``alpha_sem``). The
ablations of Sec. 4 switch SDMI and/or MACS off: ``full``, ``no_sdmi``, ``no_macs``,
``none`` (without both). A switched-off term is neither computed nor trained.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import torch

__all__ = ["ABLATIONS", "LossTerms", "LossWeights", "total_loss"]

ABLATIONS = {"full": (True, True), "no_sdmi": (False, True), "no_macs": (True, False), "none": (False, False)}
"""Ablation name -> ``(use_sdmi, use_macs)``."""


@dataclass(frozen=True)
class LossWeights:
    """The coefficients of eq. (12) and (14) and the ablation switches.

    :ivar alpha_sdmi, alpha_macs, alpha_recon, alpha_vq: ``alpha1..alpha4`` of eq. (14).
    :ivar alpha_sem: weight of the foundation-model alignment term (0: not used).
    :ivar lambda_video, lambda_audio, lambda_text: ``lambda_v``, ``lambda_a``, ``lambda_t`` of eq. (12).
    :ivar ablation: ``full`` | ``no_sdmi`` | ``no_macs`` | ``none``.
    """

    alpha_sdmi: float = 0.1
    alpha_macs: float = 0.1
    alpha_recon: float = 1.0
    alpha_vq: float = 0.01
    alpha_sem: float = 0.0
    lambda_video: float = 10.0
    lambda_audio: float = 10.0
    lambda_text: float = 1.0
    ablation: str = "full"

    def __post_init__(self) -> None:
        if self.ablation not in ABLATIONS:
            raise ValueError(f"ablation: unknown {self.ablation!r} (known: {', '.join(ABLATIONS)})")
        for name in ("alpha_sdmi", "alpha_macs", "alpha_recon", "alpha_vq", "alpha_sem", "lambda_video",
                     "lambda_audio", "lambda_text"):
            if getattr(self, name) < 0:
                raise ValueError(f"{name}: must be >= 0, got {getattr(self, name)}")

    @property
    def use_sdmi(self) -> bool:
        return ABLATIONS[self.ablation][0]

    @property
    def use_macs(self) -> bool:
        return ABLATIONS[self.ablation][1]

    def recon_weights(self) -> dict[str, float]:
        """``modality -> lambda`` for :func:`~linksim.codecs.bridge.decoders.reconstruction_loss`."""
        return {"video": self.lambda_video, "audio": self.lambda_audio, "text": self.lambda_text}


@dataclass
class LossTerms:
    """The terms of eq. (14) for one batch (scalars; a switched-off term is None).

    :ivar parts: unweighted sub-terms for logging (``recon/video``, ``macs/video-audio``...).
    """

    recon: torch.Tensor
    vq: torch.Tensor
    sdmi: torch.Tensor | None = None
    macs: torch.Tensor | None = None
    sem: torch.Tensor | None = None
    parts: dict[str, float] = field(default_factory=dict)


def total_loss(terms: LossTerms, weights: LossWeights) -> torch.Tensor:
    """Eq. (14): the weighted sum of the terms that are on (a scalar)."""
    total = weights.alpha_recon * terms.recon + weights.alpha_vq * terms.vq
    if weights.use_sdmi and terms.sdmi is not None:
        total = total + weights.alpha_sdmi * terms.sdmi
    if weights.use_macs and terms.macs is not None:
        total = total + weights.alpha_macs * terms.macs
    if weights.alpha_sem > 0 and terms.sem is not None:
        total = total + weights.alpha_sem * terms.sem
    return total
