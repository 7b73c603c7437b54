"""Low-level modality encoders ``phi^m`` (Sec. 3, eq. 1-2): raw modality -> ``[B, T_m, F]``.

Small built-in networks, sized for CPU training on ``digits-av``:

- :class:`VideoEncoder`: a 2-layer strided CNN per frame, then a linear map of the
  frame's feature map to a ``g x g`` grid of tokens (``T_v = T * g^2``);
- :class:`AudioEncoder`: a strided 1-D CNN on the waveform, pooled to ``T_a`` steps;
- :class:`TextEncoder`: token + position embeddings and one Transformer encoder layer;
- :class:`PretrainedTextEncoder`: a frozen ``transformers`` backbone named by model id
  or local folder (loaded with ``from_pretrained`` when built), resampled to ``L``
  steps and projected to ``F``; :func:`build_encoders` uses it when
  ``BridgeConfig.text_backbone`` is set.
"""

from __future__ import annotations

import torch
from torch import nn

from .config import BridgeConfig

__all__ = ["BACKBONE_HOW", "AudioEncoder", "PretrainedTextEncoder", "TextEncoder", "VideoEncoder", "build_encoders"]

BACKBONE_HOW = ("set params.text_backbone (scenario) or --text-backbone (linksim train bridge) to a hub id in the "
                "local cache or a folder saved with save_pretrained (model and tokenizer)")
"""How a user provides a text backbone that cannot be loaded (the end of its one-line error)."""

_POOLED = 7  # side of the feature map every frame is pooled to before tokenisation


class VideoEncoder(nn.Module):
    """``phi^v``: frames ``[B, T, C, H, W]`` in [0, 1] -> features ``[B, T*g^2, F]``."""

    def __init__(self, config: BridgeConfig) -> None:
        super().__init__()
        _, c, _, _ = config.frame_shape
        self.grid, self.feature_dim = config.frame_grid, config.feature_dim
        self.cnn = nn.Sequential(nn.Conv2d(c, 8, 4, 2, 1), nn.ReLU(), nn.Conv2d(8, 16, 4, 2, 1), nn.ReLU(),
                                 nn.AdaptiveAvgPool2d(_POOLED))
        self.to_tokens = nn.Linear(16 * _POOLED * _POOLED, self.grid**2 * config.feature_dim)

    def forward(self, frames: torch.Tensor) -> torch.Tensor:
        b, t = frames.shape[:2]
        maps = self.cnn(frames.flatten(0, 1)).flatten(1)  # [B*T, 16*7*7]
        return self.to_tokens(maps).reshape(b, t * self.grid**2, self.feature_dim)


class AudioEncoder(nn.Module):
    """``phi^a``: waveforms ``[B, S]`` in [-1, 1] -> features ``[B, T_a, F]``."""

    def __init__(self, config: BridgeConfig) -> None:
        super().__init__()
        f = config.feature_dim
        self.cnn = nn.Sequential(nn.Conv1d(1, 16, 16, 8, 4), nn.ReLU(), nn.Conv1d(16, 32, 8, 4, 2), nn.ReLU(),
                                 nn.Conv1d(32, f, 3, 1, 1), nn.AdaptiveAvgPool1d(config.audio_steps))

    def forward(self, audio: torch.Tensor) -> torch.Tensor:
        return self.cnn(audio[:, None, :]).transpose(1, 2)


class TextEncoder(nn.Module):
    """``phi^t``: token ids ``[B, L]`` -> features ``[B, L, F]`` (one Transformer layer)."""

    def __init__(self, config: BridgeConfig) -> None:
        super().__init__()
        f = config.feature_dim
        self.tokens = nn.Embedding(config.vocab_size, f)
        self.positions = nn.Parameter(0.02 * torch.randn(config.text_length, f))
        self.layer = nn.TransformerEncoderLayer(f, nhead=4, dim_feedforward=2 * f, dropout=0.0, batch_first=True)

    def forward(self, tokens: torch.Tensor) -> torch.Tensor:
        return self.layer(self.tokens(tokens) + self.positions[: tokens.shape[1]])


class PretrainedTextEncoder(nn.Module):
    """``phi^t`` from a frozen ``transformers`` backbone (e.g. ``bert-base-uncased``).

    The captions are re-tokenised by the backbone's own tokenizer; its last hidden
    state ``[B, L', H]`` is average-pooled to ``L`` steps and projected to ``F`` by a
    trainable linear layer (the backbone itself stays frozen).

    :param model: a ``transformers`` model id or a local folder holding the model and
        its tokenizer.
    :param vocabulary: the caption vocabulary, to turn token ids back into words.
    """

    def __init__(self, config: BridgeConfig, model: str, vocabulary) -> None:
        super().__init__()
        from transformers import AutoModel, AutoTokenizer

        from linksim.pretrained import from_pretrained

        what = "bridge text_backbone (the frozen text encoder phi^t)"
        self.tokenizer = from_pretrained(AutoTokenizer.from_pretrained, model, what, BACKBONE_HOW)
        self.backbone = from_pretrained(AutoModel.from_pretrained, model, what, BACKBONE_HOW).eval().requires_grad_(False)
        self.vocabulary, self.length = vocabulary, config.text_length
        self.project = nn.Linear(self.backbone.config.hidden_size, config.feature_dim)

    def train(self, mode: bool = True) -> "PretrainedTextEncoder":
        """Only the projection switches mode: the frozen backbone stays in eval (no dropout)."""
        super().train(mode)
        self.backbone.eval()
        return self

    def forward(self, tokens: torch.Tensor) -> torch.Tensor:
        enc = self.tokenizer(self.vocabulary.decode(tokens), return_tensors="pt", padding=True)
        enc = {k: v.to(tokens.device) for k, v in enc.items()}
        hidden = self.backbone(**enc).last_hidden_state  # [B, L', H]
        pooled = nn.functional.adaptive_avg_pool1d(hidden.transpose(1, 2), self.length).transpose(1, 2)
        return self.project(pooled)


def build_encoders(config: BridgeConfig, text_backbone: str | None = None) -> nn.ModuleDict:
    """``phi^m`` of every modality, keyed ``video``, ``audio``, ``text``: the built-in networks, and
    :class:`PretrainedTextEncoder` for text when ``config.text_backbone`` is set.

    :param text_backbone: where to load ``config.text_backbone`` from instead (same architecture at
        another place, e.g. a local copy); only meaningful when ``config.text_backbone`` is set.
    :raises linksim.pretrained.ModelUnavailable: the backbone cannot be loaded (one line).
    """
    if config.text_backbone is None:
        text: nn.Module = TextEncoder(config)
    else:
        text = PretrainedTextEncoder(config, text_backbone or config.text_backbone, config.word_vocabulary())
    return nn.ModuleDict({"video": VideoEncoder(config), "audio": AudioEncoder(config), "text": text})
