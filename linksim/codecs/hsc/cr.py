"""The complementary representation (CR) of HSC, Sec. III of the paper.

Images are ``X`` ``[B, C, H, W]``; the projection ``A`` ``[B, d, H]`` acts on the rows
(``H`` plays the role of the paper's ``L``). One ``A`` per sample serves all ``C``
colour channels (Sec. IV-C): it is built from the error matrices averaged over them.

- :func:`error_matrix` — eq. (14): ``B = (X - X̂)(X - X̂)ᵀ`` (channel mean).
- :func:`complementary_basis` — eq. (20): the eigenvectors of ``B`` for its ``d``
  largest eigenvalues, as the rows of ``A``.
- :func:`complementary_representation` — eq. (21): ``C = [A | AX]``.
- :func:`split_representation` — the inverse of the packing above.
- :func:`recompose` — eq. (8): ``X̃ = A†AX + (I - A†A)X̂``.
- :func:`residual_energy` — eq. (19) at its optimum: ``Σ_{l>d} λ_l``.
- :func:`load_eta` — eq. (21): the transmission load ``η``.
"""

from __future__ import annotations

import torch

__all__ = [
    "complementary_basis",
    "complementary_representation",
    "error_matrix",
    "load_eta",
    "recompose",
    "residual_energy",
    "split_representation",
]


def error_matrix(x: torch.Tensor, x_hat: torch.Tensor) -> torch.Tensor:
    """Eq. (14): ``B = (X - X̂)(X - X̂)ᵀ``, averaged over colour channels.

    :param x: ``[B, C, H, W]`` original images.
    :param x_hat: ``[B, C, H, W]`` generated (SR-decoded) images.
    :returns: ``[B, H, H]`` symmetric positive semi-definite error matrices.
    """
    e = (x - x_hat).to(torch.promote_types(x.dtype, torch.float32))
    return (e @ e.transpose(-1, -2)).mean(dim=1)


def complementary_basis(x: torch.Tensor, x_hat: torch.Tensor, d: int) -> torch.Tensor:
    """Eq. (20): ``A = [e_1 ... e_d]ᵀ``, the top-``d`` eigenvectors of the error matrix.

    ``torch.linalg.eigh`` (batched) returns ascending eigenvalues; the last ``d``
    eigenvectors are taken, largest eigenvalue first. The rows of ``A`` are orthonormal,
    so ``A† = Aᵀ``.

    :param x: ``[B, C, H, W]`` originals; :param x_hat: ``[B, C, H, W]`` SR decodings.
    :param d: CR rank, ``0 <= d <= H``.
    :returns: ``[B, d, H]`` projection matrices (same float dtype as the error matrix).
    """
    h = x.shape[-2]
    if not 0 <= d <= h:
        raise ValueError(f"d: must be in [0, {h}], got {d}")
    _, vecs = torch.linalg.eigh(error_matrix(x, x_hat))  # columns, ascending eigenvalues
    return vecs[..., h - d:].flip(-1).transpose(-1, -2).contiguous()


def residual_energy(x: torch.Tensor, x_hat: torch.Tensor, d: int) -> torch.Tensor:
    """Eq. (19) at the optimum: ``Σ_{l>d} λ_l`` of the error matrix, per sample.

    For one channel this is ``||X - X̃||²`` (a sum, not a mean) with the optimal ``A``.

    :returns: ``[B]`` sum of the ``H - d`` smallest eigenvalues.
    """
    vals = torch.linalg.eigvalsh(error_matrix(x, x_hat))  # ascending
    return vals[..., : x.shape[-2] - d].sum(dim=-1)


def complementary_representation(a: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    """Eq. (21): ``C = [A | AX]``, the CR that goes on the digital link.

    :param a: ``[B, d, H]`` projection; :param x: ``[B, C, H, W]`` originals.
    :returns: ``[B, d, H + C*W]``: ``A`` then ``A X_c`` for every channel ``c``
        (``r = 2dL`` values for a grey ``L x L`` image).
    """
    ax = a.unsqueeze(1).to(x.dtype) @ x  # [B, C, d, W]
    parts = [a.to(x.dtype)] + [ax[:, c] for c in range(x.shape[1])]
    return torch.cat(parts, dim=-1)


def split_representation(cr: torch.Tensor, channels: int, height: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Inverse of :func:`complementary_representation`.

    :param cr: ``[B, d, H + C*W]``.
    :returns: ``(A [B, d, H], AX [B, C, d, W])``.
    """
    a = cr[..., :height]
    ax = torch.stack(cr[..., height:].chunk(channels, dim=-1), dim=1)
    return a, ax


def recompose(a: torch.Tensor, ax: torch.Tensor, x_hat: torch.Tensor) -> torch.Tensor:
    """Eq. (8): ``X̃ = A†(AX) + (I - A†A) X̂``, the range part from the CR, the null part from the SR.

    ``A†`` is the Moore–Penrose pseudo-inverse (``torch.linalg.pinv``), so a received
    ``A`` that is no longer orthonormal (quantised, corrupted) still gives a projection.
    ``d = 0`` returns ``X̂``.

    :param a: ``[B, d, H]``; :param ax: ``[B, C, d, W]``; :param x_hat: ``[B, C, H, W]``.
    :returns: ``[B, C, H, W]`` recomposed images.
    """
    if a.shape[-2] == 0:
        return x_hat
    dtype = torch.promote_types(x_hat.dtype, torch.float32)
    a = a.to(dtype)
    a_pinv = torch.linalg.pinv(a)  # [B, H, d]
    a_pinv, a = a_pinv.unsqueeze(1), a.unsqueeze(1)
    x_hat_t = x_hat.to(dtype)
    return a_pinv @ ax.to(dtype) + x_hat_t - a_pinv @ (a @ x_hat_t)


def load_eta(k: float, d: int, shape: tuple[int, int, int], rate: float = 0.8) -> float:
    """Eq. (21): ``η = (k/R + |C|) / |X|``, the load relative to sending the image.

    :param k: SR channel symbols per sample; :param d: CR rank;
    :param shape: ``(C, H, W)``; :param rate: the paper's CR-to-symbol ratio ``R`` (0.8).
    For a grey ``L x L`` image this is ``(k/R + 2dL) / L²``.
    """
    c, h, w = shape
    return (k / rate + d * (h + c * w)) / (c * h * w)
