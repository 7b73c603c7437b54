"""``deepjscc``: the learned analog baseline, DeepJSCC and its SNR-adaptive variant ADJSCC.

One codec type, two variants (``params.variant``; the weights say which they hold):

- ``deepjscc`` (Bourtsoulatze, Kurka, Gündüz, IEEE TCCN 2019): a model trained at one SNR
  (or an SNR range) that ignores the SNR at run time;
- ``adjscc`` (Xu, Ai, Chen, Wu, Chen, IEEE TCSVT 2021): attention feature modules take the
  SNR in encoder and decoder, so that one model serves every SNR.

One analog stream, ``z``: the encoder's ``c x H/4 x W/4`` reals, power-normalised per image
to ``k = ceil(c H W / 32)`` complex symbols of average power 1 (the analog link's own
normalisation is then the identity). The bandwidth ratio is ``k / (C H W)``.

SNRs (Es/N0 per data resource element, dB): the transmitter of ``adjscc`` knows the point's
SNR (:meth:`start_point`). The receiver uses what a real receiver knows: the stream's
receiver CSI when the runner hands it over (``received.csi["z"]``): the effective SNR of
each sample, ``-10 log10(mean no_eff)`` over the symbols it travelled on (the equaliser's
noise variance, which includes fading and channel-estimation error), else the receiver's
``snr_db`` estimate; without CSI, the point's SNR.
"""

from __future__ import annotations

import math
from fractions import Fraction
from typing import Literal

import torch
from pydantic import Field, field_validator

from ..base import (
    AnalogPayload,
    Codec,
    CodecContext,
    CodecParams,
    Message,
    ReceivedStreams,
    Reconstruction,
    StreamOverride,
    Transport,
    input_path,
)
from .models import (
    DeepJSCCConfig,
    DeepJSCCModel,
    channels_for_ratio,
    load_deepjscc_model,
    resolve_weights,
)

#: shipped weights used when ``params.weights`` is not given: (variant, image shape) -> name
DEFAULT_WEIGHTS: dict[tuple[str, tuple[int, int, int]], str] = {
    ("deepjscc", (1, 28, 28)): "digits28_r6_awgn_10db",
    ("adjscc", (1, 28, 28)): "digits28_r6_adjscc_awgn_0-20db",
    ("deepjscc", (3, 32, 32)): "photos32_r6_awgn_10db",
    ("adjscc", (3, 32, 32)): "photos32_r6_adjscc_awgn_0-20db",
}
#: the weights value for an untrained model (seeded by the scenario seed): tests, and the
#: "random weights" reference point
RANDOM = "random"
#: bandwidth ratio of an untrained model when ``params.bandwidth_ratio`` is not given
DEFAULT_RATIO = 1 / 6
#: SNR [dB] of an ``adjscc`` model before any point told it one
FALLBACK_SNR_DB = 10.0
#: receiver SNRs [dB] fed to the AF modules are clipped to this range (a vanishing or
#: non-finite noise variance must not reach the network)
SNR_CLIP_DB = (-30.0, 60.0)
#: received values are clipped to this magnitude before the decoder (unit-power symbols:
#: anything beyond is damage)
VALUE_CLIP = 1e4


def parse_ratio(v) -> float:
    """``1/6``, ``"1/6"``, ``0.1667`` -> a float in (0, 2]."""
    if isinstance(v, str):
        try:
            r = float(Fraction(v.strip()))
        except (ValueError, ZeroDivisionError):
            raise ValueError(f"must be a number or a fraction such as 1/6, got {v!r}") from None
    elif isinstance(v, (int, float)) and not isinstance(v, bool):
        r = float(v)
    else:
        raise ValueError(f"must be a number or a fraction such as 1/6, got {v!r}")
    if not (math.isfinite(r) and 0 < r <= 2):
        raise ValueError(f"must be in (0, 2] channel uses per source value, got {v!r}")
    return r


def _channels(ratio: float, shape: tuple[int, int, int]) -> int | None:
    try:
        return channels_for_ratio(ratio, shape)
    except ValueError:
        return None


class DeepJSCCParams(CodecParams):
    variant: Literal["deepjscc", "adjscc"] | None = Field(
        default=None, description="deepjscc (one model per SNR) | adjscc (SNR-adaptive AF modules); "
                                  "default: what the weights hold (deepjscc for random weights)")
    bandwidth_ratio: float | str | None = Field(
        default=None, description="k/n, complex channel symbols per source value (e.g. 1/6, 1/12, 0.0833); sets the "
                                  "encoder's output channels c (k = ceil(c*H*W/32)); the nearest achievable ratio "
                                  "within 15 % is used. Default: the weights' (1/6 for random weights)")
    weights: str | None = Field(
        default=None, description="a shipped name (e.g. digits28_r6_awgn_10db), a .safetensors path from "
                                  "'linksim train deepjscc', or 'random' (untrained, seeded by the scenario seed); "
                                  "default: the shipped weights for the data's image shape",
        json_schema_extra=input_path("file_or_name"))

    @field_validator("bandwidth_ratio")
    @classmethod
    def _ratio(cls, v):
        return None if v is None else parse_ratio(v)

    @field_validator("weights")
    @classmethod
    def _shipped(cls, v):
        if v is not None and v != RANDOM:
            resolve_weights(v)  # a bare name must be shipped; paths are checked when loading
        return v


class DeepJSCCCodec(Codec):
    """DeepJSCC / ADJSCC (see the module docstring)."""

    trainer = "linksim.codecs.deepjscc.training:main"

    Params = DeepJSCCParams
    #: MMSE equalisation (``z / (1 + no_eff)``): bounded values in deep fades; the trainer's default too
    # the unbiased receiver: on AWGN it hands the decoder y = x + n, the papers' channel; a
    # decoder trained at one SNR then sees the same scale at every SNR (with mmse, the
    # shrinkage 1/(1 + N0) changes with the SNR and a fixed-SNR decoder degrades away from
    # its training SNR in both directions, measured)
    default_streams = {"z": Transport(path="analog", analog_equalizer="unbiased")}
    analog_streams = frozenset({"z"})

    @classmethod
    def resolve_transports(cls, overrides: dict[str, StreamOverride]) -> dict[str, Transport]:
        """As :meth:`Codec.resolve_transports`; :raises ValueError: for a digital ``z``."""
        out = super().resolve_transports(overrides)
        if out["z"].path != "analog":
            raise ValueError("stream 'z' is analog only (its values are channel symbols)")
        return out

    def __init__(self, params: DeepJSCCParams, transports: dict[str, Transport], context: CodecContext) -> None:
        super().__init__(params, transports, context)
        shape = tuple(int(v) for v in context.sample_shape)
        self.trained: dict = {}
        if params.weights == RANDOM:
            variant = params.variant or "deepjscc"
            ratio = params.bandwidth_ratio if params.bandwidth_ratio is not None else DEFAULT_RATIO
            try:
                config = DeepJSCCConfig(variant=variant, image_shape=shape, c=channels_for_ratio(ratio, shape))
            except ValueError as e:
                raise ValueError(f"deepjscc: params.bandwidth_ratio: {e}") from None
            with torch.random.fork_rng(devices=[]):
                torch.manual_seed(context.seed)
                model = DeepJSCCModel(config).eval()
        else:
            name = params.weights
            if name is None:
                name = DEFAULT_WEIGHTS.get((params.variant or "deepjscc", shape))
                if name is None:
                    raise ValueError(f"deepjscc: no shipped {params.variant or 'deepjscc'} weights for "
                                     f"{'x'.join(map(str, shape))} images; give params.weights (a .safetensors "
                                     f"file from 'linksim train deepjscc') or weights: random (untrained)")
            path = resolve_weights(name)
            model, self.trained = load_deepjscc_model(path)
            cfg = model.config
            if params.variant is not None and params.variant != cfg.variant:
                raise ValueError(f"deepjscc: weights {path} hold a {cfg.variant} model, params.variant is {params.variant}")
            if tuple(cfg.image_shape) != shape:
                raise ValueError(f"deepjscc: weights {path} are for images {cfg.image_shape}, the data is {shape}")
            trained_with = self.trained.get("analog_equalizer")
            if trained_with is not None and trained_with != transports["z"].analog_equalizer:
                raise ValueError(f"deepjscc: weights {path} were trained with analog_equalizer {trained_with}, the "
                                 f"stream z uses {transports['z'].analog_equalizer}: set streams.z.analog_equalizer: "
                                 f"{trained_with} (a decoder sees another scale through the other receiver)")
            if params.bandwidth_ratio is not None and _channels(params.bandwidth_ratio, shape) != cfg.c:
                raise ValueError(f"deepjscc: params.bandwidth_ratio = {params.bandwidth_ratio:.4g}, but the weights "
                                 f"{path} send {cfg.k}/{math.prod(shape)} = {cfg.bandwidth_ratio:.4g}")
        for p in model.parameters():
            p.requires_grad_(False)
        self.model = model.to(context.device)
        self._snr_db: float | None = None

    # -- sizes ------------------------------------------------------------------------
    @property
    def config(self) -> DeepJSCCConfig:
        return self.model.config

    @property
    def bandwidth_ratio(self) -> float:
        """``k / n`` exactly: complex symbols per source value."""
        return self.config.bandwidth_ratio

    def analog_values(self, stream: str) -> int | None:
        return self.config.num_values

    def payload_bits(self) -> dict[str, int] | None:
        return {}

    def check_data(self, data) -> None:
        shape = tuple(getattr(data, "images", torch.empty(0, *self.config.image_shape)).shape[1:])
        if shape != tuple(self.config.image_shape):
            raise ValueError(f"deepjscc: the model codes {self.config.image_shape} images, the data has {shape}")

    def payload_table(self) -> list[dict] | None:
        """``linksim validate``'s table: the image, and ``z`` with its exact bandwidth ratio."""
        c, h, w = self.config.image_shape
        n, k = c * h * w, self.config.k
        lc, lh, lw = self.config.latent_shape
        return [
            {"name": "image", "shape": f"[{c},{h},{w}]", "data_type": "float64", "bits": 64 * n, "bytes": 8 * n,
             "channel_uses": None, "note": f"n = {n} source values"},
            {"name": "z", "shape": f"[{lc},{lh},{lw}]", "data_type": "analog", "bits": None, "bytes": None,
             "channel_uses": k, "note": f"{self.config.variant}: k/n = {k}/{n} = {k / n:.4g} (1/{n / k:.3g})"},
        ]

    # -- SNRs -------------------------------------------------------------------------
    def start_point(self, snr_db: float) -> None:
        """The point's SNR [dB] (Es/N0 per data RE): the transmitter's, and the receiver's
        when no CSI arrives with the stream."""
        self._snr_db = float(snr_db)

    def _point_snr(self) -> float:
        if self._snr_db is not None:
            return self._snr_db
        lo_hi = self.trained.get("snr_db")
        return float(sum(lo_hi) / 2) if isinstance(lo_hi, list) and len(lo_hi) == 2 else FALLBACK_SNR_DB

    def receiver_snr_db(self, received: ReceivedStreams, batch: int) -> torch.Tensor:
        """``[B]`` SNR [dB] the decoder's AF modules get: from the stream's receiver CSI (the
        effective SNR ``-10 log10(mean no_eff)`` of each sample, else its ``snr_db``), else the
        point's SNR; clipped to :data:`SNR_CLIP_DB`, non-finite values replaced by the point's."""
        dev = self.context.device
        point = torch.full((batch,), self._point_snr(), dtype=torch.float32, device=dev)
        csi = (getattr(received, "csi", None) or {}).get("z")
        snr = point
        if csi is not None:
            no_eff = getattr(csi, "no_eff", None)
            if no_eff is not None and no_eff.dim() >= 1 and no_eff.shape[0] == batch:
                mean = no_eff.reshape(batch, -1).to(device=dev, dtype=torch.float32).mean(dim=1)
                snr = -10.0 * torch.log10(mean)
            elif getattr(csi, "snr_db", None) is not None:
                snr = torch.as_tensor(csi.snr_db, dtype=torch.float32, device=dev).reshape(-1).expand(batch)
        # no_eff 0 -> +inf dB and no_eff inf -> -inf dB clip to the range's ends; NaN -> the point's SNR
        return torch.where(torch.isnan(snr), point, snr).clamp(*SNR_CLIP_DB)

    # -- codec face -------------------------------------------------------------------
    @torch.no_grad()
    def encode(self, x: torch.Tensor) -> Message:
        """``x`` ``[B, C, H, W]`` in [0, 1] -> ``z``: ``[B, c, H/4, W/4]`` reals, energy ``k`` per image."""
        snr = self._point_snr() if self.model.adaptive else None
        return {"z": AnalogPayload(self.model.encode(x.to(torch.float32), snr))}

    @torch.no_grad()
    def decode(self, received: ReceivedStreams, sent: Message) -> Reconstruction:
        """Received ``z`` -> ``x_hat`` ``[B, C, H, W]``; non-finite values are counted
        (``nonfinite_rate``), then zeroed, and every value clipped to +-1e4 before the decoder."""
        r = received["z"]
        n = self.config.num_values
        if r.dim() < 1 or r[0].numel() != n:
            raise ValueError(f"z: expected {n} analog values per sample {self.config.latent_shape}, "
                             f"received shape {tuple(r.shape)}")
        batch = r.shape[0]
        y = r.reshape(batch, *self.config.latent_shape).to(device=self.context.device, dtype=torch.float32)
        nonfinite = (~torch.isfinite(y)).flatten(1).sum(dim=1).cpu()
        y = torch.nan_to_num(y, nan=0.0, posinf=0.0, neginf=0.0).clamp(-VALUE_CLIP, VALUE_CLIP)
        snr = self.receiver_snr_db(received, batch) if self.model.adaptive else None
        x_hat = torch.nan_to_num(self.model.decode(y, snr), nan=0.5).clamp(0.0, 1.0)
        return Reconstruction(x_hat=x_hat, rates={"nonfinite_rate": (nonfinite, torch.full_like(nonfinite, n))})
