"""MACS (Sec. 3, eq. 4-6): pairwise-gated bilinear InfoNCE between modalities.

For an anchor modality ``a`` and a candidate modality ``b``, the ``N`` samples of a
batch give ``N x N`` anchor-candidate pairs; pair ``(t, t)`` is the positive.
``s_tj = phi_a(z_t^a)^T W phi_b(z_j^b)`` (eq. 5), ``g_tj = sigmoid(MLP_gate([phi_a || phi_b]))``
(eq. 6), and ``L = -1/N sum_t log softmax_j(g_tj s_tj)[t]`` (eq. 4), i.e. the
cross-entropy of the gated logits with the diagonal as target.
"""

from __future__ import annotations

import itertools

import torch
from torch import nn

__all__ = ["MACS", "gated_info_nce"]


def gated_info_nce(similarity: torch.Tensor, gate: torch.Tensor | None = None) -> torch.Tensor:
    """Eq. (4): ``-1/N sum_t log( exp(g_tt s_tt) / sum_j exp(g_tj s_tj) )``, a scalar (nats).

    :param similarity: ``s`` ``[N, N]``, anchors along rows, candidates along columns.
    :param gate: ``g`` ``[N, N]`` in ``(0, 1]``; None means all ones (standard InfoNCE).
    """
    logits = similarity if gate is None else gate * similarity
    target = torch.arange(logits.shape[0], device=logits.device)
    return nn.functional.cross_entropy(logits, target)


class MACS(nn.Module):
    """The MACS objective over every pair of modalities.

    Invariant features ``z^m`` ``[B, T_m, D]`` are pooled over time to one vector per
    sample. The two asymmetric heads ``phi_a`` (anchors) and ``phi_b`` (candidates) end
    in an L2 normalisation (eq. 5 leaves the norm open; bounded projections keep the
    logits finite, and ``W``, initialised to ``scale * I``, learns the temperature).

    :param modalities: anchors come from the earlier modality of each pair.
    :param latent_dim: ``D``; :param proj_dim: ``d``; :param gate_hidden: width of ``MLP_gate``.
    """

    def __init__(self, modalities: tuple[str, ...], latent_dim: int, proj_dim: int, gate_hidden: int,
                 scale: float = 10.0) -> None:
        super().__init__()
        self.pairs = list(itertools.combinations(modalities, 2))
        self.phi_a = nn.Sequential(nn.Linear(latent_dim, proj_dim), nn.GELU(), nn.Linear(proj_dim, proj_dim))
        self.phi_b = nn.Sequential(nn.Linear(latent_dim, proj_dim), nn.GELU(), nn.Linear(proj_dim, proj_dim))
        self.W = nn.Parameter(scale * torch.eye(proj_dim))
        self.gate = nn.Sequential(nn.Linear(2 * proj_dim, gate_hidden), nn.GELU(), nn.Linear(gate_hidden, 1))

    def similarity_and_gate(self, za: torch.Tensor, zb: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Eq. (5)-(6) for pooled anchors ``[N, D]`` and candidates ``[N, D]``: ``s``, ``g`` ``[N, N]``."""
        pa = nn.functional.normalize(self.phi_a(za), dim=-1)
        pb = nn.functional.normalize(self.phi_b(zb), dim=-1)
        s = pa @ self.W @ pb.T
        pairs = torch.cat(torch.broadcast_tensors(pa[:, None, :], pb[None, :, :]), dim=-1)  # [N, N, 2d]
        g = torch.sigmoid(self.gate(pairs).squeeze(-1))
        return s, g

    def per_pair(self, z: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        """``"a-b" -> L_MACS`` of each modality pair present in ``z`` (scalars, nats)."""
        out = {}
        for a, b in self.pairs:
            if a in z and b in z:
                s, g = self.similarity_and_gate(z[a].mean(dim=1), z[b].mean(dim=1))
                out[f"{a}-{b}"] = gated_info_nce(s, g)
        return out

    def forward(self, z: dict[str, torch.Tensor]) -> torch.Tensor:
        """Mean of :meth:`per_pair` over the modality pairs (a scalar, nats)."""
        return torch.stack(list(self.per_pair(z).values())).mean()
