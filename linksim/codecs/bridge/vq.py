"""The shared codebook (Sec. 3, eq. 7-11): one set of ``K`` codes for every modality.

- eq. (7): nearest code per time step, ``k = argmin_j ||z_t - e_j||``;
- eq. (8): straight-through estimator ``z_hat = z + sg[e_k - z]``;
- eq. (9): ``sum_m sum_t ||sg[z_t] - e_k||^2 + beta ||z_t - sg[e_k]||^2`` (summed over
  modalities and time steps, averaged over the batch);
- eq. (10)-(11): over the last ``N_reset`` training steps, count the distinct
  modalities that used each code; a code used by fewer than ``min_modalities`` (2)
  is re-drawn from ``N(0, I)`` and counted as shared over the whole window, so that
  it gets ``N_reset`` steps to be picked up before it can be reset again.

The paper leaves the initial codes open: :meth:`SharedCodebook.init_from_latents`
sets them to latents of real data (the usual remedy for a codebook whose random
codes lie far from every latent, which collapses all of a modality onto one code).
``reset_to="latents"`` re-draws reset codes among the step's latents instead of
``N(0, I)`` (the dead-code restart of Jukebox/SoundStream); ``"normal"`` is eq. (11).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

__all__ = ["Quantized", "SharedCodebook"]


@dataclass
class Quantized:
    """Eq. (7)-(8) for one modality: ``indices`` ``[B, T]`` int64, ``z_hat`` ``[B, T, D]``
    (straight-through: the value of ``e_k``, the gradient of ``z``), ``codes`` ``[B, T, D]``
    (``e_k``, gradient to the codebook)."""

    indices: torch.Tensor
    z_hat: torch.Tensor
    codes: torch.Tensor


class SharedCodebook(nn.Module):
    """``K`` codes of width ``D`` shared by ``modalities``, with cross-modal usage monitoring.

    The usage window is a buffer ``[N_reset, M, K]`` of booleans (saved with the
    weights, so a resumed training continues the same window).
    """

    def __init__(self, modalities: tuple[str, ...], size: int, dim: int, commitment: float = 0.25,
                 reset_window: int = 200, min_modalities: int = 2, reset_to: str = "normal") -> None:
        super().__init__()
        if reset_to not in ("normal", "latents"):
            raise ValueError(f"reset_to: must be 'normal' (eq. 11) or 'latents', got {reset_to!r}")
        self.modalities = tuple(modalities)
        self.commitment, self.min_modalities, self.reset_to = commitment, min_modalities, reset_to
        self.codebook = nn.Parameter(torch.randn(size, dim))
        self.register_buffer("usage", torch.zeros(reset_window, len(modalities), size, dtype=torch.bool))
        self.register_buffer("steps_recorded", torch.zeros((), dtype=torch.int64))

    @property
    def size(self) -> int:
        """``K``."""
        return self.codebook.shape[0]

    def nearest(self, z: torch.Tensor) -> torch.Tensor:
        """Eq. (7): ``z`` ``[..., D]`` -> indices ``[...]`` int64 of the nearest codes (L2)."""
        flat = z.reshape(-1, z.shape[-1])
        # ||z||^2 - 2 z.e + ||e||^2 without the [N, K, D] difference tensor of a naive cdist
        d = flat.square().sum(-1, keepdim=True) - 2 * flat @ self.codebook.T + self.codebook.square().sum(-1)
        return d.argmin(dim=-1).reshape(z.shape[:-1])

    def lookup(self, indices: torch.Tensor) -> torch.Tensor:
        """Indices ``[...]`` -> codes ``[..., D]`` (what a receiver does with received indices)."""
        return self.codebook[indices]

    def forward(self, z: torch.Tensor) -> Quantized:
        """Eq. (7)-(8) for ``z`` ``[B, T, D]``."""
        indices = self.nearest(z.detach())
        codes = self.lookup(indices)
        z_hat = z + (codes - z).detach()  # eq. (8): identity in the backward pass
        return Quantized(indices=indices, z_hat=z_hat, codes=codes)

    def loss(self, z: torch.Tensor, codes: torch.Tensor) -> torch.Tensor:
        """Eq. (9) for one modality: ``z``, ``codes`` ``[B, T, D]`` -> a scalar (sum over t, mean over B)."""
        codebook_term = (z.detach() - codes).square().sum(dim=(1, 2))
        commitment_term = (z - codes.detach()).square().sum(dim=(1, 2))
        return (codebook_term + self.commitment * commitment_term).mean()

    @torch.no_grad()
    def init_from_latents(self, latents: torch.Tensor, generator: torch.Generator | None = None) -> None:
        """Set the codes to ``K`` latents ``[N, D]`` drawn without replacement (with, if ``N < K``)."""
        self.codebook.data.copy_(self._draw(latents, self.size, generator))

    def _draw(self, latents: torch.Tensor, n: int, generator: torch.Generator | None) -> torch.Tensor:
        flat = latents.reshape(-1, latents.shape[-1]).detach()
        if flat.shape[0] >= n:
            pick = torch.randperm(flat.shape[0], generator=generator, device=generator.device if generator else "cpu")[:n]
        else:
            pick = torch.randint(flat.shape[0], (n,), generator=generator, device=generator.device if generator else "cpu")
        return flat[pick.to(flat.device)].to(self.codebook.dtype)

    def usage_count(self) -> torch.Tensor:
        """Eq. (10): ``C_i`` ``[K]`` int64, distinct modalities that used code ``i`` within the window."""
        return self.usage.any(dim=0).sum(dim=0)

    @torch.no_grad()
    def record_usage(self, indices: dict[str, torch.Tensor], generator: torch.Generator | None = None,
                     latents: dict[str, torch.Tensor] | None = None) -> torch.Tensor:
        """Record one training step's indices and apply eq. (11) once the window is full.

        :param indices: ``modality -> [B, T]`` indices used at this step.
        :param latents: ``modality -> z [B, T, D]`` of this step (needed by ``reset_to="latents"``).
        :param generator: draws the new codes (on the codebook's device); None uses
            torch's default generator.
        :returns: ``[K]`` bool, the codes re-initialised at this step.
        """
        window, _, k = self.usage.shape
        row = int(self.steps_recorded) % window
        self.usage[row] = False
        for i, m in enumerate(self.modalities):
            if m in indices:
                self.usage[row, i].index_fill_(0, indices[m].reshape(-1), True)
        self.steps_recorded += 1
        reset = torch.zeros(k, dtype=torch.bool, device=self.codebook.device)
        if int(self.steps_recorded) >= window:
            reset = self.usage_count() < self.min_modalities
            n = int(reset.sum())
            if n:
                if self.reset_to == "latents" and latents:
                    fresh = self._draw(torch.cat([v.reshape(-1, v.shape[-1]) for v in latents.values()]), n, generator)
                else:
                    fresh = torch.randn(n, self.codebook.shape[1], generator=generator, device=self.codebook.device)
                self.codebook.data[reset] = fresh.to(self.codebook.dtype)
                # a fresh code starts a fresh window: it can only be reset again after N_reset steps
                self.usage[:, :, reset] = True
        return reset
