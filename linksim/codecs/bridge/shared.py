"""The two branches on top of ``phi^m``: specific (eq. 1) and shared invariant (eq. 2)."""

from __future__ import annotations

import torch
from torch import nn

__all__ = ["SharedEncoder", "SpecificBranch"]


class SpecificBranch(nn.Module):
    """Eq. (1): ``h^m = MLP_spec^m(phi^m(x^m)) + eps^m``, ``eps^m ~ N(0, sigma^2 I)``.

    The noise is a regulariser: it is added in training mode only, so that a trained
    model is deterministic at evaluation. Input ``[B, T, F]`` -> ``[B, T, D_s]``.

    :param generator: draws ``eps`` (a seeded generator on the features' device);
        None uses torch's default generator.
    """

    def __init__(self, feature_dim: int, specific_dim: int, noise_std: float) -> None:
        super().__init__()
        self.mlp = nn.Sequential(nn.Linear(feature_dim, specific_dim), nn.GELU(), nn.Linear(specific_dim, specific_dim))
        self.noise_std = noise_std

    def forward(self, features: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
        h = self.mlp(features)
        if self.training and self.noise_std > 0:
            h = h + self.noise_std * torch.randn(h.shape, generator=generator, device=h.device, dtype=h.dtype)
        return h


class SharedEncoder(nn.Module):
    """Eq. (2): ``z^m = g_shared(phi^m(x^m))``, one network for every modality.

    Input ``[B, T, F]`` -> ``[B, T, D]``. It ends in a LayerNorm without affine
    parameters so that every ``z_t`` has zero mean and unit variance over its ``D``
    entries: the scale of the ``N(0, I)`` codes that eq. (11) re-draws.
    """

    def __init__(self, feature_dim: int, latent_dim: int) -> None:
        super().__init__()
        self.mlp = nn.Sequential(nn.Linear(feature_dim, latent_dim), nn.GELU(), nn.Linear(latent_dim, latent_dim),
                                 nn.LayerNorm(latent_dim, elementwise_affine=False))

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        return self.mlp(features)
