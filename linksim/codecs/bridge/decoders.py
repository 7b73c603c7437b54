"""Lightweight per-modality decoders (stage one of Sec. 3's decoding) and eq. (12).

Each decoder maps the (quantised, or received) invariant features of its own
modality ``[B, T_m, D]`` back to the signal:

- :class:`VideoDecoder`: the ``g^2`` tokens of a frame -> a 7x7 map -> two transposed
  convolutions -> ``[B, T, C, H, W]`` in [0, 1] (sigmoid);
- :class:`AudioDecoder`: each time step -> its ``S / T_a`` samples by an MLP,
  concatenated -> ``[B, S]`` in [-1, 1] (tanh);
- :class:`TextDecoder`: each time step -> logits over the vocabulary ``[B, L, V]``.
"""

from __future__ import annotations

import torch
from torch import nn

from .config import BridgeConfig

__all__ = ["AudioDecoder", "TextDecoder", "VideoDecoder", "build_decoders", "reconstruction_loss"]

_MAP = 7  # side of the map the transposed convolutions start from


class VideoDecoder(nn.Module):
    """``[B, T*g^2, D]`` -> frames ``[B, T, C, H, W]`` in [0, 1]."""

    def __init__(self, config: BridgeConfig) -> None:
        super().__init__()
        self.frame_shape, self.tokens_per_frame = config.frame_shape, config.frame_grid**2
        c = config.frame_shape[1]
        self.to_map = nn.Sequential(nn.Linear(self.tokens_per_frame * config.latent_dim, 16 * _MAP * _MAP), nn.ReLU())
        self.deconv = nn.Sequential(nn.ConvTranspose2d(16, 8, 4, 2, 1), nn.ReLU(), nn.ConvTranspose2d(8, c, 4, 2, 1))

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        t, c, h, w = self.frame_shape
        b = z.shape[0]
        per_frame = z.reshape(b * t, self.tokens_per_frame * z.shape[-1])
        x = self.deconv(self.to_map(per_frame).reshape(b * t, 16, _MAP, _MAP))  # [B*T, C, 28, 28]
        if x.shape[-2:] != (h, w):
            x = nn.functional.interpolate(x, size=(h, w), mode="bilinear", align_corners=False)
        return torch.sigmoid(x).reshape(b, t, c, h, w)


class AudioDecoder(nn.Module):
    """``[B, T_a, D]`` -> waveforms ``[B, S]`` in [-1, 1]."""

    def __init__(self, config: BridgeConfig) -> None:
        super().__init__()
        hop = config.audio_samples // config.audio_steps
        self.mlp = nn.Sequential(nn.Linear(config.latent_dim, 256), nn.GELU(), nn.Linear(256, hop))

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return torch.tanh(self.mlp(z)).flatten(1)


class TextDecoder(nn.Module):
    """``[B, L, D]`` -> token logits ``[B, L, V]``."""

    def __init__(self, config: BridgeConfig) -> None:
        super().__init__()
        self.mlp = nn.Sequential(nn.Linear(config.latent_dim, config.feature_dim), nn.GELU(),
                                 nn.Linear(config.feature_dim, config.vocab_size))

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return self.mlp(z)


def build_decoders(config: BridgeConfig) -> nn.ModuleDict:
    """The decoder of every modality, keyed ``video``, ``audio``, ``text``."""
    return nn.ModuleDict({"video": VideoDecoder(config), "audio": AudioDecoder(config), "text": TextDecoder(config)})


def reconstruction_loss(recon: dict[str, torch.Tensor], target: dict[str, torch.Tensor],
                        weights: dict[str, float]) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
    """Eq. (12): ``lambda_a ||x_a_hat - x_a||^2 + lambda_v ||x_v_hat - x_v||^2 + lambda_t CE(x_t_hat, x_t)``.

    The squared errors are per-element means (MSE) and the cross-entropy a mean over
    tokens (nats), so that the ``lambda`` weights do not depend on the clip sizes.

    :param recon: ``video`` ``[B, T, C, H, W]``, ``audio`` ``[B, S]``, ``text`` logits ``[B, L, V]``
        (any subset).
    :param target: the originals: frames, waveforms, token ids ``[B, L]``.
    :param weights: ``modality -> lambda``.
    :returns: ``(L_recon, {modality: its unweighted term})``.
    """
    terms = {}
    for m, x_hat in recon.items():
        if m == "text":
            terms[m] = nn.functional.cross_entropy(x_hat.flatten(0, 1), target[m].flatten())
        else:
            terms[m] = nn.functional.mse_loss(x_hat, target[m])
    total = sum(weights[m] * t for m, t in terms.items())
    return total, terms
