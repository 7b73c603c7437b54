"""SDMI (Sec. 3, eq. 3): the Donsker-Varadhan (MINE) bound between specific and invariant features.

``L_SDMI = E_p(h,z)[T(h, z)] - log E_p(h)p(z)[exp T(h, z)]`` is a lower bound on the
mutual information ``I(h^m; z^m)`` (nats), tight when ``T`` is the log density ratio.
It is trained min-max: the critic ``T_theta`` and the projection heads ``psi_m``,
``psi_inv`` *maximise* it (a better estimate of the dependency), the encoders
*minimise* it (less dependency between the specific and the invariant branch).

The product of marginals is estimated with every off-diagonal pair ``(h_i, z_j)``,
``i != j``, of the batch (``N (N - 1)`` pairs) instead of one shuffled pairing: no
random draw, and a lower-variance estimate of the second term. MINE's moving-average
bias correction of the gradient is not used (the plain DV bound, as eq. 3 states).
"""

from __future__ import annotations

import math

import torch
from torch import nn

__all__ = ["DVCritic", "MutualInformationCritic", "SDMI", "dv_bound"]


def dv_bound(t_joint: torch.Tensor, t_marginal: torch.Tensor) -> torch.Tensor:
    """Eq. (3): ``mean(t_joint) - log mean(exp(t_marginal))`` in nats (a scalar).

    :param t_joint: ``[N]`` critic values on samples of the joint ``p(a, b)``.
    :param t_marginal: ``[M]`` critic values on samples of ``p(a) p(b)``.
    """
    return t_joint.mean() - (torch.logsumexp(t_marginal, dim=0) - math.log(t_marginal.numel()))


def _pair_dv(critic: "DVCritic", pa: torch.Tensor, pb: torch.Tensor) -> torch.Tensor:
    """DV estimate from projected pairs ``[N, p]``, ``[N, p]``: diagonal = joint, off-diagonal = marginals."""
    n = pa.shape[0]
    if n < 2:
        raise ValueError(f"the DV bound needs at least 2 samples per batch, got {n}")
    t = critic(pa, pb)
    off_diagonal = ~torch.eye(n, dtype=torch.bool, device=t.device)
    return dv_bound(t.diagonal(), t[off_diagonal])


class DVCritic(nn.Module):
    """The critic ``T_theta``: ``T(a, b) = MLP([a || b])`` on projected features.

    :meth:`forward` scores every pair: ``a`` ``[N, p]``, ``b`` ``[M, p]`` -> ``[N, M]``.
    """

    def __init__(self, proj_dim: int, hidden: int) -> None:
        super().__init__()
        self.mlp = nn.Sequential(nn.Linear(2 * proj_dim, hidden), nn.ELU(), nn.Linear(hidden, hidden), nn.ELU(),
                                 nn.Linear(hidden, 1))

    def forward(self, a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
        pairs = torch.cat(torch.broadcast_tensors(a[:, None, :], b[None, :, :]), dim=-1)  # [N, M, 2p]
        return self.mlp(pairs).squeeze(-1)


class MutualInformationCritic(nn.Module):
    """A MINE estimator of ``I(a; b)``: heads ``psi_a``, ``psi_b`` and a :class:`DVCritic`.

    :meth:`forward` takes paired samples ``a`` ``[N, d_a]``, ``b`` ``[N, d_b]`` (row ``i``
    of both is one draw of the joint) and returns the DV estimate in nats (a scalar).
    """

    def __init__(self, dim_a: int, dim_b: int, proj_dim: int, hidden: int) -> None:
        super().__init__()
        self.psi_a = nn.Linear(dim_a, proj_dim)
        self.psi_b = nn.Linear(dim_b, proj_dim)
        self.critic = DVCritic(proj_dim, hidden)

    def forward(self, a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
        return _pair_dv(self.critic, self.psi_a(a), self.psi_b(b))


class SDMI(nn.Module):
    """Eq. (3) summed over modalities: the DV bound between ``h^m`` and ``z^m``, pooled over time.

    ``psi_m`` is one head per modality (the specific features differ by modality);
    ``psi_inv`` and ``T_theta`` are shared, as the invariant features live in one space.
    Input: dicts ``modality -> h^m [B, T_m, D_s]`` and ``modality -> z^m [B, T_m, D]``;
    output: a scalar, nats. All parameters belong to the maximising side of the min-max.
    """

    def __init__(self, modalities: tuple[str, ...], specific_dim: int, latent_dim: int, proj_dim: int,
                 hidden: int) -> None:
        super().__init__()
        self.psi_m = nn.ModuleDict({m: nn.Linear(specific_dim, proj_dim) for m in modalities})
        self.psi_inv = nn.Linear(latent_dim, proj_dim)
        self.critic = DVCritic(proj_dim, hidden)

    def per_modality(self, h: dict[str, torch.Tensor], z: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        """``modality -> DV estimate of I(h^m; z^m)`` (nats, scalars)."""
        return {m: _pair_dv(self.critic, self.psi_m[m](h[m].mean(dim=1)), self.psi_inv(z[m].mean(dim=1)))
                for m in h}

    def forward(self, h: dict[str, torch.Tensor], z: dict[str, torch.Tensor]) -> torch.Tensor:
        return torch.stack(list(self.per_modality(h, z).values())).sum()
