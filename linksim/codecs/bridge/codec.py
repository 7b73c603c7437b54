"""The ``bridge`` codec: one stream per modality, VQ indices (digital) or invariant features (analog).

Stream ``video`` / ``audio`` / ``text`` carries that modality's representation:

- **digital** (default): the ``T_m`` shared-codebook indices of each sample,
  ``ceil(log2 K)`` bits each (:class:`~linksim.phy.payload.IndexPayload`); a received
  index ``>= K`` (possible when ``K`` is not a power of two) is clamped and counted;
- **analog**: the un-quantised invariant features ``z^m`` ``[B, T_m, D]`` as real
  values (two per complex symbol), so digital and analog delivery of the same
  representation can be compared. ``params.analog_requantize`` snaps the received
  features to their nearest codes before decoding (off: decode them as received).

The receiver runs the lightweight decoders; the foundation-model similarities and
the fidelity metrics are computed from the originals by :func:`bridge_metrics`.
Runner integration (multimodal batches in the sweep) is not done yet: the codec is
used directly (see the tests and the README).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import torch
from pydantic import Field

from linksim.data.multimodal import MultimodalBatch
from linksim.phy.payload import IndexPayload

from ..base import AnalogPayload, Codec, CodecContext, CodecParams, DigitalPayload, Message, ReceivedStreams, Transport
from ..registry import register_codec
from .config import MODALITIES
from .foundation import FoundationModels
from .metrics import reconstruction_metrics, text_accuracy
from .model import load_bridge_model, model_inputs

__all__ = ["DEFAULT_WEIGHTS", "BridgeCodec", "BridgeParams", "MultimodalReconstruction", "bridge_metrics"]

DEFAULT_WEIGHTS = Path(__file__).parent / "weights" / "digits_av.safetensors"
"""Weights shipped with linksim, trained on ``digits-av:train`` (see the README for the command)."""


class BridgeParams(CodecParams):
    """``params`` of a ``bridge`` codec in a scenario."""

    weights: str | None = Field(default=None, description="safetensors file; default: the shipped digits-av model")
    analog_requantize: bool = Field(default=False, description="analog path: snap received features to codes")
    audio_model: str | None = Field(default=None, description="CLAP id or folder for audio_sim")
    image_model: str | None = Field(default=None, description="CLIP id or folder for video_sim")
    text_model: str | None = Field(default=None, description="BERT id or folder for text_sim")


@dataclass
class MultimodalReconstruction:
    """What the receiver rebuilt from one batch.

    :ivar frames: ``[B, T, C, H, W]`` in [0, 1]; :ivar audio: ``[B, S]`` in [-1, 1];
    :ivar tokens: ``[B, L]`` int64 token ids; :ivar captions: ``B`` strings.
    :ivar rates: ``name -> (events [B], trials [B])``, e.g. ``index_out_of_range/video``.
    """

    frames: torch.Tensor
    audio: torch.Tensor
    tokens: torch.Tensor
    captions: list[str]
    rates: dict[str, tuple[torch.Tensor, torch.Tensor]] = field(default_factory=dict)


@register_codec("bridge")
class BridgeCodec(Codec):
    """Bridge over the PHY: see the module docstring."""

    Params = BridgeParams
    default_streams = {m: Transport(path="digital", modulation="qpsk", code_rate=0.5) for m in MODALITIES}
    analog_streams = frozenset(MODALITIES)

    def __init__(self, params: BridgeParams, transports: dict[str, Transport], context: CodecContext) -> None:
        super().__init__(params, transports, context)
        path = Path(params.weights) if params.weights else DEFAULT_WEIGHTS
        self.model = load_bridge_model(path, context.device).requires_grad_(False)
        self.indices = IndexPayload(self.model.config.codebook_size)
        self.steps = self.model.config.time_steps()
        self.vocabulary = self.model.config.word_vocabulary()
        self.foundation = FoundationModels(params.audio_model, params.image_model, params.text_model, context.device)

    def payload_bits(self) -> dict[str, int]:
        """Bits per sample of each digital stream: ``T_m * ceil(log2 K)``."""
        return {m: self.indices.num_bits((self.steps[m],)) for m, t in self.transports.items() if t.path == "digital"}

    def _check(self, batch: MultimodalBatch) -> None:
        cfg = self.model.config
        expected = {"frames": (tuple(batch.frames.shape[1:]), cfg.frame_shape),
                    "audio": (tuple(batch.audio.shape[1:]), (cfg.audio_samples,)),
                    "tokens": (tuple(batch.tokens.shape[1:]), (cfg.text_length,))}
        for name, (got, want) in expected.items():
            if got != want:
                raise ValueError(f"bridge: {name} per sample are {got}, the weights expect {want}")

    def encode(self, batch: MultimodalBatch) -> Message:  # type: ignore[override]
        """A :class:`MultimodalBatch` -> streams ``video``, ``audio``, ``text``."""
        if not isinstance(batch, MultimodalBatch):
            raise ValueError("bridge: needs multimodal samples (video, audio, text); linksim run does not feed "
                             "them to codecs yet, use the codec from Python (see the README)")
        self._check(batch)
        inputs = {m: x.to(self.context.device) for m, x in model_inputs(batch).items()}
        with torch.no_grad():
            z = {m: self.model.shared(self.model.encoders[m](x)) for m, x in inputs.items()}
        message: Message = {}
        for m, t in self.transports.items():
            if t.path == "analog":
                message[m] = AnalogPayload(z[m])
            else:
                message[m] = DigitalPayload(self.indices.to_bits(self.model.vq.nearest(z[m])))
        return message

    def decode(self, received: ReceivedStreams, sent: Message) -> MultimodalReconstruction:  # type: ignore[override]
        """Received bits / features per stream -> :class:`MultimodalReconstruction`."""
        features, rates = {}, {}
        for m, t in self.transports.items():
            if t.path == "analog":
                z = received[m].to(torch.float32)
                features[m] = self.model.vq.lookup(self.model.vq.nearest(z)) if self.params.analog_requantize else z
            else:
                dec = self.indices.from_bits(received[m], (self.steps[m],))
                features[m] = self.model.vq.lookup(dec.values)
                rates[f"index_out_of_range/{m}"] = (dec.out_of_range, torch.full_like(dec.out_of_range, self.steps[m]))
        with torch.no_grad():
            recon = self.model.decode_features(features)
        tokens = recon["text"].argmax(dim=-1)
        return MultimodalReconstruction(frames=recon["video"], audio=recon["audio"], tokens=tokens,
                                        captions=self.vocabulary.decode(tokens), rates=rates)


def bridge_metrics(codec: BridgeCodec, batch: MultimodalBatch, recon: MultimodalReconstruction
                   ) -> dict[str, torch.Tensor]:
    """Per-sample metrics ``[B]``: ``psnr``, ``ssim``, ``audio_mse``, ``si_sdr``, ``text_accuracy``,
    and ``audio_sim`` / ``video_sim`` / ``text_sim`` for the foundation models the params name."""
    inputs = model_inputs(batch.to(codec.context.device))
    out = reconstruction_metrics({m: inputs[m] for m in ("video", "audio")}, {"video": recon.frames,
                                                                              "audio": recon.audio})
    out["text_accuracy"] = text_accuracy(inputs["text"], recon.tokens)
    out.update(codec.foundation.similarities(
        {"audio": batch.audio, "video": batch.frames, "text": batch.captions},
        {"audio": recon.audio, "video": recon.frames, "text": recon.captions}, batch.sample_rate))
    return out
