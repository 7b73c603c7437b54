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
the fidelity metrics are computed from the originals by :func:`bridge_metrics`
(:meth:`BridgeCodec.sample_metrics` gives them the names of the results rows), and
:meth:`BridgeCodec.code_features` turns sent or received streams into the features of
the linear probe. ``linksim run`` feeds it multimodal sources (``digits-av``,
``triples:``, ``vggsound:``, ``coco:``).
"""

from __future__ import annotations

import math

from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import ClassVar

import torch
from pydantic import Field, ValidationInfo, field_validator

from linksim.data.multimodal import MultimodalBatch, frame_strips
from linksim.phy.payload import IndexPayload

from linksim.pretrained import ModelUnavailable

from ..base import (AnalogPayload, Codec, CodecContext, CodecParams, DigitalPayload, Message, ReceivedStreams, Transport,
                    input_path)
from .config import MODALITIES
from .foundation import FoundationModels
from .metrics import (
    AUDIO_MSE,
    AUDIO_SIM,
    PROBE_ACC,
    SI_SDR,
    TEXT_ACC,
    TEXT_SIM,
    VIDEO_SIM,
    ProbeAccuracy,
    reconstruction_metrics,
    text_accuracy,
)
from .model import load_bridge_model, model_inputs, stored_config

__all__ = ["DEFAULT_WEIGHTS", "BridgeCodec", "BridgeParams", "MultimodalReconstruction", "bridge_metrics", "weights_path"]

DEFAULT_WEIGHTS = Path(__file__).parent / "weights" / "digits_av.safetensors"
"""Weights shipped with linksim, trained on ``digits-av:train`` (docs/codecs/bridge.md gives the command)."""


class BridgeParams(CodecParams):
    """``params`` of a ``bridge`` codec in a scenario."""

    weights: str | None = Field(default=None, description="safetensors file, or the name of shipped weights "
                                                          "(digits_av, digits_av_no_sdmi, digits_av_no_macs, "
                                                          "digits_av_none); default: digits_av",
                                 json_schema_extra=input_path("file_or_name"))
    analog_requantize: bool = Field(default=False, description="analog path: snap received features to codes")
    audio_model: str | None = Field(default=None, description="CLAP id or folder for audio_sim",
                                       json_schema_extra=input_path("model"))
    image_model: str | None = Field(default=None, description="CLIP id or folder for video_sim",
                                       json_schema_extra=input_path("model"))
    text_model: str | None = Field(default=None, description="BERT id or folder for text_sim",
                                      json_schema_extra=input_path("model"))
    text_backbone: str | None = Field(default=None, description="where to load the weights' frozen text backbone "
                                                                "from (hub id or folder; same architecture as the "
                                                                "one they were trained with); default: the id "
                                                                "stored in the weights",
                                         json_schema_extra=input_path("model"))

    @field_validator("weights")
    @classmethod
    def _weights(cls, v: str | None) -> str | None:
        if v is not None and weights_path(v) is None:
            shipped = ", ".join(sorted(p.stem for p in DEFAULT_WEIGHTS.parent.glob("*.safetensors")))
            raise ValueError(f"'{v}' is neither a file nor shipped weights ({shipped})")
        return v

    @field_validator("text_backbone")
    @classmethod
    def _text_backbone(cls, v: str | None, info: ValidationInfo) -> str | None:
        if v is None:
            return v
        if not v.strip():
            raise ValueError("must be a hub id or a folder, got an empty string")
        if "weights" not in info.data:  # weights already invalid: reported on its own
            return v
        name = info.data["weights"]
        path = weights_path(name) if name else DEFAULT_WEIGHTS
        if path is not None and stored_config(path).text_backbone is None:
            raise ValueError(f"the weights {name or 'digits_av'} were trained without a text backbone (built-in "
                             "text encoder); leave text_backbone unset or train with linksim train bridge "
                             "--text-backbone")
        return v


def weights_path(name: str) -> Path | None:
    """The weights file ``name`` means: an existing file, else shipped weights of that stem; None if neither."""
    path = Path(name).expanduser()
    if path.is_file():
        return path
    shipped = DEFAULT_WEIGHTS.parent / f"{name}.safetensors"
    return shipped if "/" not in name and shipped.is_file() else None


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


class BridgeCodec(Codec):
    """Bridge over the PHY: see the module docstring."""

    Params = BridgeParams
    default_streams = {m: Transport(path="digital", modulation="qpsk", code_rate=0.5) for m in MODALITIES}
    analog_streams = frozenset(MODALITIES)
    multimodal = True
    trainer = "linksim.codecs.bridge.training:main"
    provides_metrics = ("psnr", "ssim", AUDIO_MSE, SI_SDR, TEXT_ACC, AUDIO_SIM, VIDEO_SIM, TEXT_SIM, PROBE_ACC)
    default_metrics = ("ber", "bler", "psnr", "ssim", "audio_mse", "si_sdr", "text_acc", "probe_acc")
    #: results-row name of each metric of :func:`bridge_metrics` (the others keep theirs)
    ROW_NAMES: ClassVar[dict[str, str]] = {"text_accuracy": "text_acc"}
    #: similarity metric -> the params field naming its foundation model
    SIMILARITY_MODELS: ClassVar[dict[str, str]] = {"audio_sim": "audio_model", "video_sim": "image_model",
                                                   "text_sim": "text_model"}

    @classmethod
    def metric_problems(cls, params: BridgeParams, metrics: list[str]) -> dict[str, str]:
        """A similarity metric in ``metrics`` whose foundation model ``params`` does not name."""
        kinds = {"audio_model": "a CLAP", "image_model": "a CLIP", "text_model": "a BERT"}
        return {field: f"metrics has {m}: name {kinds[field]} model (hub id or folder)"
                for m, field in cls.SIMILARITY_MODELS.items() if m in metrics and getattr(params, field) is None}

    def __init__(self, params: BridgeParams, transports: dict[str, Transport], context: CodecContext) -> None:
        super().__init__(params, transports, context)
        path = weights_path(params.weights) if params.weights else DEFAULT_WEIGHTS
        try:
            self.model = load_bridge_model(path, context.device, params.text_backbone).requires_grad_(False)
        except ModelUnavailable as e:
            # the codec is built before any point is simulated: stop there with the loader's one line
            from linksim.errors import RunError

            raise RunError(str(e)) from None
        self.indices = IndexPayload(self.model.config.codebook_size)
        self.steps = self.model.config.time_steps()
        self.vocabulary = self.model.config.word_vocabulary()
        self.foundation = FoundationModels(params.audio_model, params.image_model, params.text_model, context.device)
        self._probes: dict[int, list] = {}  # sample count -> fitted fold probes (the sent codes never change)

    def payload_bits(self) -> dict[str, int]:
        """Bits per sample of each digital stream: ``T_m * ceil(log2 K)``."""
        return {m: self.indices.num_bits((self.steps[m],)) for m, t in self.transports.items() if t.path == "digital"}

    def analog_values(self, stream: str) -> int:
        """Real values per sample of an analog stream: ``T_m * D``."""
        return self.steps[stream] * self.model.config.latent_dim

    def load_models(self) -> None:
        """Load the foundation models the params name (a missing one stops the run before any point)."""
        for modality, name in self.foundation.names.items():
            if name is None:
                continue
            try:
                self.foundation._load(modality)
            except Exception as e:  # noqa: BLE001 - any loading failure: one line naming the model
                field_name = {"audio": "audio_model", "video": "image_model", "text": "text_model"}[modality]
                raise ModelUnavailable(f"bridge: params.{field_name} '{name}' cannot be loaded "
                                       f"({type(e).__name__}: {str(e).splitlines()[0] if str(e) else ''}); give a hub id "
                                       "in the local cache or a folder saved with save_pretrained") from None

    def check_data(self, data: MultimodalBatch) -> None:
        """The data set's sample shapes are the weights' and its captions use the weights' vocabulary."""
        if not isinstance(data, MultimodalBatch):
            raise ValueError("bridge: needs multimodal samples (video, audio, text)")
        self._check(data.select(slice(0, 1)))
        if data.vocabulary.words != self.vocabulary.words:
            self.vocabulary.encode(data.captions, self.steps["text"])  # DataError naming an unknown word

    def _check(self, batch: MultimodalBatch) -> None:
        cfg = self.model.config
        expected = {"frames": (tuple(batch.frames.shape[1:]), cfg.frame_shape),
                    "audio": (tuple(batch.audio.shape[1:]), (cfg.audio_samples,)),
                    "tokens": (tuple(batch.tokens.shape[1:]), (cfg.text_length,))}
        for name, (got, want) in expected.items():
            if got != want:
                raise ValueError(f"bridge: {name} per sample are {got}, the weights expect {want} (train weights "
                                 "on this data: linksim train bridge --data <source>)")

    def encode(self, batch: MultimodalBatch) -> Message:  # type: ignore[override]
        """A :class:`MultimodalBatch` -> streams ``video``, ``audio``, ``text``."""
        if not isinstance(batch, MultimodalBatch):
            raise ValueError("bridge: needs multimodal samples (video, audio, text): use a multimodal data.source "
                             "(digits-av, triples:<dir>, vggsound:<dir>, coco:<dir>)")
        self._check(batch)
        inputs = {m: x.to(self.context.device) for m, x in model_inputs(batch).items()}
        if batch.vocabulary.words != self.vocabulary.words:  # a user's data set: ids of the weights' vocabulary
            inputs["text"] = self.vocabulary.encode(batch.captions, self.steps["text"]).to(self.context.device)
        with torch.no_grad():
            z = {m: self.model.shared(self.model.encoders[m](x)) for m, x in inputs.items()}
        message: Message = {}
        for m, t in self.transports.items():
            if t.path == "analog":
                message[m] = AnalogPayload(z[m])
            else:
                message[m] = DigitalPayload(self.indices.to_bits(self.model.vq.nearest(z[m])))
        return message

    def _features(self, received: ReceivedStreams) -> tuple[dict[str, torch.Tensor], dict]:
        """Received bits / features -> features ``{m: [B, T_m, D]}`` for the decoders, and index rates."""
        features, rates = {}, {}
        for m, t in self.transports.items():
            if t.path == "analog":
                z = received[m].to(torch.float32)
                shape = (self.steps[m], self.model.config.latent_dim)
                if tuple(z.shape[1:]) != shape:
                    raise ValueError(f"bridge: analog stream '{m}' expected {math.prod(shape)} values {shape} per "
                                     f"sample, got {tuple(z.shape[1:])}")
                # a non-finite feature (the channel can deliver one) is zeroed before the decoders, and counted
                bad = ~torch.isfinite(z)
                rates[f"nonfinite_rate/{m}"] = (bad.flatten(1).sum(dim=1).cpu(),
                                                torch.full((z.shape[0],), math.prod(shape), dtype=torch.int64))
                z = torch.where(bad, torch.zeros_like(z), z)
                features[m] = self.model.vq.lookup(self.model.vq.nearest(z)) if self.params.analog_requantize else z
            else:
                dec = self.indices.from_bits(received[m], (self.steps[m],))
                features[m] = self.model.vq.lookup(dec.values)
                rates[f"index_out_of_range/{m}"] = (dec.out_of_range, torch.full_like(dec.out_of_range, self.steps[m]))
        return features, rates

    def code_features(self, streams: ReceivedStreams) -> torch.Tensor:
        """Linear-probe features ``[B, 3 * D]`` of sent or received streams: per modality the
        features the decoders get (codes ``e_k``, or analog ``z^m``) averaged over time."""
        features, _ = self._features(streams)
        return torch.cat([features[m].mean(dim=1) for m in MODALITIES], dim=1)

    def sample_metrics(self, batch: MultimodalBatch, recon: MultimodalReconstruction) -> dict[str, torch.Tensor]:
        """:func:`bridge_metrics` under the names of the results rows (``text_accuracy`` -> ``text_acc``)."""
        if batch.vocabulary.words != self.vocabulary.words:
            batch = replace(batch, tokens=self.vocabulary.encode(batch.captions, self.steps["text"]),
                            vocabulary=self.vocabulary)
        return {self.ROW_NAMES.get(k, k): v for k, v in bridge_metrics(self, batch, recon).items()}

    def point_metrics(self, names: list[str]) -> dict[str, ProbeAccuracy]:
        """``probe_acc``: a linear probe needs every sample of the point (scored at its end)."""
        return {"probe_acc": ProbeAccuracy(self.code_features, self._probes)} if "probe_acc" in names else {}

    def preview(self, rec: MultimodalReconstruction) -> torch.Tensor:
        """Four evenly spaced frames of each clip side by side ``[B, C, H, 4W]`` (the sample grids)."""
        return frame_strips(rec.frames)

    def decode(self, received: ReceivedStreams, sent: Message) -> MultimodalReconstruction:  # type: ignore[override]
        """Received bits / features per stream -> :class:`MultimodalReconstruction`."""
        features, rates = self._features(received)
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
