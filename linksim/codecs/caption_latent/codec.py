"""``caption_latent``: BLIP caption + Stable Diffusion latent, img2img at the receiver.

The language-oriented semantic latent codec of Nam et al. (seeds/002, Fig. 2):

- **Transmitter**: BLIP (:class:`~.models.Captioner`) captions the image; the caption,
  cut to ``max_caption_chars`` (77, CLIP's token limit), travels as 8-bit ASCII in a
  fixed ``8 * max_caption_chars`` bits (stream ``caption``). The Stable Diffusion VAE
  encoder gives the latent ``z`` (``[4, 64, 64]`` for a 512x512 image), sent by default
  as IEEE-754 float64 over uncoded 16QAM as in the paper (stream ``latent``; any dtype,
  ``uint<N>`` quantisation, LDPC rate or the analog path via the scenario).
- **Receiver**: ``z'`` is noised to step ``T = int(num_inference_steps * strength)``
  (eq. 2) and denoised by DDIM for ``T`` steps, conditioned through CLIP on the received
  caption ``y'`` with classifier-free guidance ``guidance_scale``; the VAE decodes
  ``z_0``. The paper: T = 30 of 50 with the latent, 50 steps from pure noise with text only.

Modes: ``text+latent``; ``text`` (no latent: text-to-image from pure noise);
``latent`` (no caption: unconditional denoising, or with ``T = 0`` the VAE alone —
a plain VAE transceiver, the paper's Fig. 5); ``auto`` (drop the latent when caption +
latent exceed ``budget.channel_uses`` or the SNR is below ``auto_min_snr_db``).

Received text is decoded robustly: any byte that is not printable ASCII becomes
``'?'`` (counted in ``caption_replaced_rate``) and the caption that arrived is what
conditions the UNet. A float latent's non-finite values follow the stream's
``nonfinite`` policy (default ``clamp`` to ``latent_range``) and are counted in
``nonfinite_rate``.
"""

from __future__ import annotations

import math

import torch
from pydantic import Field, model_validator

from linksim.phy.payload import FloatPayload, TextPayload, payload_for_dtype

from ..base import (
    AnalogPayload,
    Codec,
    CodecContext,
    CodecParams,
    DigitalPayload,
    Message,
    ReceivedStreams,
    Reconstruction,
    Transport,
    input_path,
)
from .models import LatentGeometry, captioner, latent_diffusion, latent_geometry, model_dtype
from .modes import MODE_STREAMS, Mode, sends_latent

DEFAULT_CAPTIONER = "Salesforce/blip-image-captioning-large"
DEFAULT_PIPELINE = "stable-diffusion-v1-5/stable-diffusion-v1-5"


class CaptionLatentParams(CodecParams):
    mode: Mode = Field(default="text+latent", description="text+latent | text | latent | auto")
    captioner: str = Field(default=DEFAULT_CAPTIONER, description="BLIP hub id or save_pretrained folder (with processor)",
                           json_schema_extra=input_path("model"))
    pipeline: str = Field(default=DEFAULT_PIPELINE, description="Stable Diffusion hub id or diffusers pipeline folder",
                          json_schema_extra=input_path("model"))
    strength: float = Field(default=0.6, ge=0.0, le=1.0,
                            description="img2img noise level: T = int(num_inference_steps * strength) DDIM steps "
                                        "(0.6 x 50 = the paper's 30); T = 0: VAE decoder alone")
    num_inference_steps: int = Field(default=50, ge=0, le=1000,
                                     description="DDIM schedule length; text mode runs all of them from pure noise")
    guidance_scale: float = Field(default=7.5, ge=0.0, le=100.0, description="classifier-free guidance scale")
    max_caption_chars: int = Field(default=77, ge=1, le=1024, description="caption cut to this many 8-bit characters")
    caption_max_tokens: int = Field(default=40, ge=1, le=512, description="BLIP generation length [tokens]")
    latent_range: tuple[float, float] = Field(
        default=(-16.0, 16.0), description="clamp range of a float latent under nonfinite: clamp (SD latents lie well inside)")
    auto_min_snr_db: float = Field(default=5.0, description="auto mode: below this SNR [dB] only the caption is sent")

    @model_validator(mode="after")
    def _check(self) -> "CaptionLatentParams":
        lo, hi = self.latent_range
        if not (math.isfinite(lo) and math.isfinite(hi) and lo < hi):
            raise ValueError(f"latent_range: must be finite with low < high, got {self.latent_range}")
        if self.mode == "text" and self.num_inference_steps == 0:
            raise ValueError("num_inference_steps: text mode generates from pure noise and needs at least one step")
        return self

    def diffusion_steps(self) -> int:
        """T: the DDIM steps run from the received latent (what diffusers' img2img runs)."""
        return int(self.num_inference_steps * self.strength)


class CaptionLatentCodec(Codec):
    """BLIP caption + Stable Diffusion latent (see the module docstring)."""

    Params = CaptionLatentParams
    default_streams = {
        "caption": Transport(path="digital", modulation="qam16", code_rate=1.0),
        "latent": Transport(path="digital", modulation="qam16", code_rate=1.0, dtype="float64", nonfinite="clamp"),
    }
    analog_streams = frozenset({"latent"})
    dtype_streams = frozenset({"latent"})

    def __init__(self, params: CaptionLatentParams, transports: dict[str, Transport], context: CodecContext) -> None:
        # the mode decides which streams exist: a stream never sent has no transport
        transports = {k: v for k, v in transports.items() if k in MODE_STREAMS[params.mode]}
        super().__init__(params, transports, context)
        c, h, w = context.sample_shape
        self.geometry: LatentGeometry = latent_geometry(params.pipeline)
        f = self.geometry.downsampling
        if c not in (1, 3) or h % f or w % f:
            from linksim.errors import ScenarioError

            raise ScenarioError([f"data.image_size: caption_latent needs RGB or grey images whose sides are multiples "
                                 f"of {f} (the VAE downsamples by {f}); got {c}x{h}x{w}"])
        self.latent_shape = self.geometry.shape(h, w)
        self._text = TextPayload("ascii", params.max_caption_chars)
        self._latent = None
        t = transports.get("latent")
        if t is not None and t.path == "digital":
            dtype = t.dtype or "float64"
            # a float clamps to latent_range; a quantiser sends each sample's range (latents have no fixed range)
            self._latent = payload_for_dtype(dtype, t.nonfinite, params.latent_range if dtype.startswith("float") else None)
        self._snr_db: float | None = None

    # -- accounting --------------------------------------------------------------------------
    def payload_bits(self) -> dict[str, int]:
        """Bits per sample of every digital stream the mode may send (``auto``: both)."""
        out = {}
        if "caption" in self.transports:
            out["caption"] = self._text.num_bits()
        if self._latent is not None:
            out["latent"] = self._latent.num_bits(self.latent_shape)
        return out

    def analog_values(self, stream: str) -> int | None:
        """The latent's values per sample (``c * h * w``) when it takes the analog path."""
        return math.prod(self.latent_shape) if stream == "latent" else None

    def payload_table(self) -> list[dict]:
        """The paper's Table 1 for this codec's image size and transports, in explicit units.

        Rows: ``name``, ``shape``, ``data_type``, ``bits``, ``bytes``, ``channel_uses``
        (resource elements per sample, None for the whole image, which is never sent, and for
        streams this mode does not send), and ``note`` where the latent geometry is assumed.
        """
        c, h, w = self.context.sample_shape
        caption_bits = self._text.num_bits()
        t = self.transports.get("latent") or self.resolve_transports({})["latent"]
        numel = math.prod(self.latent_shape)
        if t.path == "analog":
            latent_bits, latent_type, latent_uses = None, "analog (2 reals / RE)", math.ceil(numel / 2)
        else:
            latent_bits = self._latent.num_bits(self.latent_shape) if self._latent else 64 * numel
            latent_type = t.dtype or "float64"
            latent_uses = self.context.channel_uses("latent", latent_bits) if "latent" in self.transports else None
        caption_uses = self.context.channel_uses("caption", caption_bits) if "caption" in self.transports else None
        chars = self.params.max_caption_chars
        rows = [
            {"name": "whole image", "shape": f"[{c},{h},{w}]", "data_type": "float64", "bits": 64 * c * h * w,
             "channel_uses": None},
            {"name": "text only", "shape": f"[{chars}]", "data_type": "8-bit ASCII", "bits": caption_bits,
             "channel_uses": caption_uses},
            {"name": "latent only", "shape": "[{},{},{}]".format(*self.latent_shape), "data_type": latent_type,
             "bits": latent_bits, "channel_uses": latent_uses},
            {"name": "text + latent", "shape": "[{},{},{}] + [{}]".format(*self.latent_shape, chars),
             "data_type": f"8-bit ASCII + {latent_type}",
             "bits": None if latent_bits is None else caption_bits + latent_bits,
             "channel_uses": None if caption_uses is None or latent_uses is None else caption_uses + latent_uses},
        ]
        for r in rows:
            r["bytes"] = None if r["bits"] is None else r["bits"] / 8
        if not self.geometry.from_config:
            for r in rows[2:]:
                r["note"] = (f"latent shape assumes Stable Diffusion v1's VAE (4 channels, /8): the config of "
                             f"'{self.params.pipeline}' is not available offline")
        return rows

    # -- models ------------------------------------------------------------------------------
    def load_models(self) -> None:
        """Load the captioner (when a caption is sent) and the SD pipeline (always)."""
        if "caption" in self.transports:
            captioner(self.params.captioner, self.context.device)
        latent_diffusion(self.params.pipeline, self.context.device)

    def start_point(self, snr_db: float) -> None:
        self._snr_db = snr_db

    def _sends_latent(self) -> bool:
        if "latent" not in self.transports:
            return False
        if self._latent is None:
            latent_uses = math.ceil(math.prod(self.latent_shape) / 2)
        else:
            latent_uses = self.context.channel_uses("latent", self._latent.num_bits(self.latent_shape))
        caption_uses = self.context.channel_uses("caption", self._text.num_bits()) if "caption" in self.transports else 0
        return sends_latent(self.params.mode, self._snr_db, self.params.auto_min_snr_db, caption_uses, latent_uses,
                            self.context.budget_channel_uses)

    # -- transmitter -------------------------------------------------------------------------
    def encode(self, x: torch.Tensor) -> Message:
        """``x`` ``[B, C, H, W]`` in [0, 1] -> ``caption`` bits ``[B, 8 * max_caption_chars]`` and/or
        ``latent`` bits ``[B, numel(z) * width]`` (or analog values ``[B, c, h, w]``)."""
        rgb = x.expand(-1, 3, -1, -1) if x.shape[1] == 1 else x
        msg: Message = {}
        if "caption" in self.transports:
            captions = captioner(self.params.captioner, x.device)(rgb, self.params.caption_max_tokens)
            captions = [c[: self.params.max_caption_chars] for c in captions]
            msg["caption"] = DigitalPayload(self._text.to_bits(captions, device=x.device))
        if self._sends_latent():
            z = latent_diffusion(self.params.pipeline, x.device).encode(rgb)
            if self._latent is None:
                # analog: the (zero-mean) latent values themselves, two per complex symbol
                msg["latent"] = AnalogPayload(z)
            else:
                msg["latent"] = DigitalPayload(self._latent.to_bits(z))
        return msg

    # -- receiver ----------------------------------------------------------------------------
    def decode(self, received: ReceivedStreams, sent: Message) -> Reconstruction:
        """What arrived -> ``x_hat`` ``[B, C, H, W]`` in [0, 1]; texts sent/received for the metrics."""
        p = self.params
        c, h, w = self.context.sample_shape
        rates: dict[str, tuple[torch.Tensor, torch.Tensor]] = {}
        texts: dict[str, list[str]] = {}
        prompts = None
        if "caption" in received:
            got = self._text.from_bits(received["caption"])
            prompts = got.texts
            rates["caption_replaced_rate"] = (got.replaced.cpu(), torch.full_like(got.replaced.cpu(), p.max_caption_chars))
            # the evaluation needs the caption that was meant: decode the sent bits (not a receiver's knowledge)
            texts = {"sent": self._text.from_bits(sent["caption"].bits).texts, "received": got.texts}
        z = None
        if "latent" in received:
            r = received["latent"]
            if self._latent is None:  # analog: count what the channel made non-finite, as the other codecs do
                if r[0].numel() != math.prod(self.latent_shape):
                    raise ValueError(f"caption_latent: analog latent expected {math.prod(self.latent_shape)} values "
                                     f"{tuple(self.latent_shape)} per sample, got {r[0].numel()}")
                z = r.reshape(r.shape[0], *self.latent_shape)
                nonfinite = (~torch.isfinite(z)).flatten(1).sum(dim=1)
                rates["nonfinite_rate"] = (nonfinite.cpu(), torch.full_like(nonfinite.cpu(), math.prod(self.latent_shape)))
            else:
                dec = self._latent.from_bits(r, self.latent_shape)
                z = dec.values
                if isinstance(self._latent, FloatPayload):
                    z, nonfinite = self._overflow(z, dec.nonfinite)
                    rates["nonfinite_rate"] = (nonfinite.cpu(), torch.full_like(nonfinite.cpu(), math.prod(self.latent_shape)))
        batch = (z.shape[0] if z is not None else len(prompts))
        sd = latent_diffusion(p.pipeline, self.context.device)
        generator = _generator(self.context.device)
        if z is None:
            x_hat = sd.from_text(prompts, h, w, p.num_inference_steps, p.guidance_scale, generator)
        elif p.diffusion_steps() == 0:
            x_hat = sd.decode(z)
        else:
            x_hat = sd.from_latent(z, prompts if prompts is not None else [""] * batch, p.strength,
                                   p.num_inference_steps, p.guidance_scale, generator)
        if c == 1:
            x_hat = x_hat.mean(dim=1, keepdim=True)
        # a huge but finite latent (nonfinite: keep) can still overflow inside the VAE / UNet:
        # the images that came out non-finite are counted, never passed on silently
        broken = (~torch.isfinite(x_hat)).flatten(1).any(dim=1).to(torch.int64).cpu()
        rates["nonfinite_output_rate"] = (broken, torch.ones_like(broken))
        return Reconstruction(x_hat=x_hat, rates=rates, texts=texts)

    def _overflow(self, z: torch.Tensor, nonfinite: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Finite received values beyond the models' dtype (float32, float16 on CUDA) become
        infinite in the cast: count them as non-finite ``[B]`` and apply the ``zero`` policy to them
        (``clamp`` already bounded them to ``latent_range``; ``keep`` keeps the infinities)."""
        limit = torch.finfo(model_dtype(self.context.device)).max
        over = torch.isfinite(z) & (z.abs() > limit)
        nonfinite = nonfinite + over.flatten(1).sum(dim=1)
        if self._latent.nonfinite == "zero":
            z = torch.where(over, torch.zeros_like(z), z)
        return z, nonfinite


def _generator(device: torch.device) -> torch.Generator:
    """A generator for the diffusion noise, seeded from Sionna's per-device generator (which the
    runner reseeds for every point): the same point gives the same images."""
    import sionna.phy

    seed = int(torch.randint(0, 2**62, (1,), generator=sionna.phy.config.torch_rng(str(device)),
                             device=device).item())
    return torch.Generator(device=device).manual_seed(seed)
