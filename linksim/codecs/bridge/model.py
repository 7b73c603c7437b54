"""The Bridge model: encoders, both branches, SDMI, MACS, the shared codebook, decoders.

Transmitter: ``x^m -> phi^m -> g_shared -> z^m -> VQ indices`` (per modality
``[B, T_m]``); receiver: indices ``-> e_k -> decoder^m -> x_hat^m``. The specific
branch ``h^m`` and the SDMI/MACS heads only shape training; they are not sent.
Weights are stored as safetensors with the config in the metadata; a frozen pretrained
text backbone (``config.text_backbone``) is not stored but reloaded from its source.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path

import torch
from torch import nn

from linksim.data.multimodal import MultimodalBatch

from ..weights import read_weights, save_weights
from .config import MODALITIES, BridgeConfig
from .decoders import build_decoders, reconstruction_loss
from .encoders import PretrainedTextEncoder, build_encoders
from .losses import LossTerms, LossWeights
from .macs import MACS
from .sdmi import SDMI
from .shared import SharedEncoder, SpecificBranch
from .vq import Quantized, SharedCodebook

__all__ = ["BridgeModel", "BridgeOutput", "load_bridge_model", "model_inputs", "save_bridge_model", "stored_config"]


def model_inputs(batch: MultimodalBatch) -> dict[str, torch.Tensor]:
    """``video`` frames ``[B, T, C, H, W]``, ``audio`` ``[B, S]``, ``text`` token ids ``[B, L]``."""
    return {"video": batch.frames, "audio": batch.audio, "text": batch.tokens}


@dataclass
class BridgeOutput:
    """Everything one forward pass computes, per modality (``modality -> tensor``).

    :ivar h: specific features ``[B, T_m, D_s]`` (eq. 1).
    :ivar z: invariant features ``[B, T_m, D]`` (eq. 2).
    :ivar quantized: eq. (7)-(8): indices ``[B, T_m]``, ``z_hat``, ``codes``.
    :ivar recon: reconstructions: frames, waveforms, text logits ``[B, L, V]``.
    """

    h: dict[str, torch.Tensor]
    z: dict[str, torch.Tensor]
    quantized: dict[str, Quantized]
    recon: dict[str, torch.Tensor] = field(default_factory=dict)

    @property
    def indices(self) -> dict[str, torch.Tensor]:
        return {m: q.indices for m, q in self.quantized.items()}


class BridgeModel(nn.Module):
    """Bridge (Sec. 3) for the modalities ``video``, ``audio``, ``text``.

    :param config: the architecture.
    :param text_backbone: load ``config.text_backbone`` from here instead (see :func:`build_encoders`).
    """

    def __init__(self, config: BridgeConfig, text_backbone: str | None = None) -> None:
        super().__init__()
        self.config = config
        self.encoders = build_encoders(config, text_backbone)
        self.specific = nn.ModuleDict({m: SpecificBranch(config.feature_dim, config.specific_dim,
                                                         config.specific_noise_std) for m in MODALITIES})
        self.shared = SharedEncoder(config.feature_dim, config.latent_dim)
        self.sdmi = SDMI(MODALITIES, config.specific_dim, config.latent_dim, config.mi_dim, config.critic_hidden)
        self.macs = MACS(MODALITIES, config.latent_dim, config.macs_dim, config.gate_hidden)
        self.vq = SharedCodebook(MODALITIES, config.codebook_size, config.latent_dim, config.commitment,
                                 config.reset_window, config.reset_min_modalities, config.reset_to)
        self.decoders = build_decoders(config)

    @property
    def bits_per_index(self) -> int:
        """``ceil(log2 K)``: bits of one VQ index on the digital path."""
        return math.ceil(math.log2(self.config.codebook_size))

    def critic_parameters(self) -> list[nn.Parameter]:
        """The maximising side of SDMI's min-max: ``psi_m``, ``psi_inv``, ``T_theta``."""
        return list(self.sdmi.parameters())

    def main_parameters(self) -> list[nn.Parameter]:
        """Everything the total loss (eq. 14) trains: all but :meth:`critic_parameters`."""
        critic = {id(p) for p in self.critic_parameters()}
        return [p for p in self.parameters() if id(p) not in critic and p.requires_grad]  # not a frozen backbone

    def frozen_state_keys(self) -> set[str]:
        """``state_dict`` keys of the frozen pretrained text backbone (empty without one): they
        are not saved with the weights but reloaded from ``config.text_backbone``."""
        text = self.encoders["text"]
        if not isinstance(text, PretrainedTextEncoder):
            return set()
        return {f"encoders.text.backbone.{k}" for k in text.backbone.state_dict()}

    def features(self, inputs: dict[str, torch.Tensor], generator: torch.Generator | None = None
                 ) -> tuple[dict[str, torch.Tensor], dict[str, torch.Tensor]]:
        """Eq. (1)-(2): ``(h, z)`` per modality present in ``inputs`` (see :func:`model_inputs`)."""
        h, z = {}, {}
        for m, x in inputs.items():
            phi = self.encoders[m](x)
            h[m] = self.specific[m](phi, generator)
            z[m] = self.shared(phi)
        return h, z

    def encode(self, inputs: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        """The transmitter: ``modality -> VQ indices [B, T_m]`` int64 in ``[0, K)``."""
        z = {m: self.shared(self.encoders[m](x)) for m, x in inputs.items()}
        return {m: self.vq.nearest(v) for m, v in z.items()}

    def decode_features(self, z: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        """Decoders on (quantised or received analog) features ``[B, T_m, D]`` -> reconstructions."""
        return {m: self.decoders[m](v) for m, v in z.items()}

    def decode_indices(self, indices: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        """The receiver: indices ``[B, T_m]`` -> codes -> reconstructions (text as logits ``[B, L, V]``)."""
        return self.decode_features({m: self.vq.lookup(i.clamp(0, self.vq.size - 1)) for m, i in indices.items()})

    def forward(self, inputs: dict[str, torch.Tensor], generator: torch.Generator | None = None) -> BridgeOutput:
        """A training pass over an error-free link: features, quantisation, reconstructions."""
        h, z = self.features(inputs, generator)
        quantized = {m: self.vq(v) for m, v in z.items()}
        recon = self.decode_features({m: q.z_hat for m, q in quantized.items()})
        return BridgeOutput(h=h, z=z, quantized=quantized, recon=recon)

    def loss_terms(self, out: BridgeOutput, inputs: dict[str, torch.Tensor], weights: LossWeights) -> LossTerms:
        """The terms of eq. (14) for a forward pass ``out`` of ``inputs``.

        SDMI gradients reach both the encoders and the critic; the training loop steps
        only the encoders with them (the critic is stepped on ``-L_SDMI`` separately).
        """
        recon, recon_parts = reconstruction_loss(out.recon, inputs, weights.recon_weights())
        vq = torch.stack([self.vq.loss(out.z[m], q.codes) for m, q in out.quantized.items()]).sum()
        parts = {f"recon/{m}": float(v.detach()) for m, v in recon_parts.items()}
        terms = LossTerms(recon=recon, vq=vq, parts=parts)
        if weights.use_sdmi:
            per = self.sdmi.per_modality(out.h, out.z)
            terms.sdmi = torch.stack(list(per.values())).sum()
            parts.update({f"sdmi/{m}": float(v.detach()) for m, v in per.items()})
        if weights.use_macs:
            per = self.macs.per_pair(out.z)
            terms.macs = torch.stack(list(per.values())).mean()
            parts.update({f"macs/{k}": float(v.detach()) for k, v in per.items()})
        return terms


class _StateView:
    """What :func:`~linksim.codecs.weights.save_weights` reads of a module (``state_dict()``), here a
    chosen subset of a model's state: the shared writer stays the single file format."""

    def __init__(self, state: dict[str, torch.Tensor]) -> None:
        self._state = state

    def state_dict(self) -> dict[str, torch.Tensor]:
        return self._state


def save_bridge_model(model: BridgeModel, path: str | Path, half: bool = False, extra: dict | None = None) -> Path:
    """Write ``model`` (config in the metadata) to a safetensors file, without its frozen text
    backbone (:meth:`BridgeModel.frozen_state_keys`: only the trainable parts are stored).

    :param half: store floating-point tensors as float16 (loaded back as float32).
    """
    frozen = model.frozen_state_keys()
    state = {k: v for k, v in model.state_dict().items() if k not in frozen}
    return save_weights(_StateView(state), path, "bridge", model.config.to_json(), half, extra)  # type: ignore[arg-type]


def stored_config(path: str | Path) -> BridgeConfig:
    """The architecture recorded in a weights file's metadata (the tensors are not read)."""
    from safetensors import safe_open

    with safe_open(str(path), framework="pt") as f:
        meta = f.metadata() or {}
    if meta.get("linksim") != "bridge" or "config" not in meta:
        raise ValueError(f"bridge weights: {path} holds no bridge model (no such config in its metadata)")
    return BridgeConfig.from_json(meta["config"])


def load_bridge_model(path: str | Path, device: torch.device | str | None = None,
                      text_backbone: str | None = None) -> BridgeModel:
    """Read a model written by :func:`save_bridge_model` (float32, eval mode).

    The frozen text backbone, when the weights have one, is loaded from ``text_backbone``
    (e.g. a local copy) or else from the id stored in the weights.

    :raises ValueError: ``text_backbone`` given for weights trained without one, or the file's
        tensors are not exactly the trainable part of its architecture.
    :raises linksim.pretrained.ModelUnavailable: the backbone cannot be loaded.
    """
    meta, state = read_weights(path, "bridge weights", "bridge")
    config = BridgeConfig.from_json(meta["config"])
    if text_backbone is not None and config.text_backbone is None:
        raise ValueError(f"text_backbone: the bridge weights {path} were trained without a text backbone "
                         "(built-in text encoder); leave text_backbone unset")
    model = BridgeModel(config, text_backbone)
    frozen = model.frozen_state_keys()
    # the backbone's tensors come from its own from_pretrained; the file must hold all the rest
    missing, unexpected = model.load_state_dict(state, strict=False)
    if set(missing) != frozen or unexpected:
        extra = sorted(set(missing) ^ frozen) + sorted(unexpected)
        raise ValueError(f"bridge weights: {path} does not match its architecture ({len(extra)} tensors missing or "
                         f"unexpected, e.g. {extra[0]})")
    return model.to(device or "cpu").eval()
