"""``hsc``: hybrid semantic communication (Nam, Park, Choi, Kim), eqs. (1)-(21).

Two streams:

- ``sr`` — the semantic representation: ``k`` complex symbols (``2k`` reals) of a
  VAE / VQ-VAE encoder (:mod:`.models`), analog by default; digitally as the stream's
  ``dtype`` (default float32; a VQ-VAE with no ``dtype`` sends its 8-bit codeword index).
  ``params.sr`` may instead name any other registered image codec (e.g. ``jpeg2000``):
  its streams then travel as ``sr.<name>`` with the transports of ``params.sr_params``
  (``{params: {...}, streams: {...}}``) and the ``sr`` stream itself is not sent.
- ``cr`` — the complementary representation ``C = [A | AX]`` (:mod:`.cr`), digital.
  Default (the paper's): ``A`` and ``AX`` quantised to one 8-bit grey image (each block
  with its own range, sent as a 16-byte float32 header), JPEG2000 at
  ``cr_compression_ratio`` (5), LDPC 1/2, 16QAM. When the ``cr`` stream names a
  ``dtype`` the values of ``C`` go raw in that dtype instead.

The transmitter decodes its own SR (error-free) to get ``X̂``, builds ``A`` from
``(X - X̂)(X - X̂)ᵀ`` (eq. 20); the receiver recomposes ``X̃ = A†AX + (I - A†A)X̂``
(eq. 8) with the ``X̂`` of the received SR, clipped to [0, 1]. A CR that cannot be
decoded (damaged header or file) is dropped: ``X̃ = X̂``, counted in ``fallback_rate``.

Per-sample metrics: ``eta`` (eq. 21, ``R = 0.8``), ``mse_sr`` (MSE of ``X̂`` alone).
"""

from __future__ import annotations

import io
import math
import struct
from typing import Any, Literal

import numpy as np
import torch
from PIL import Image
from pydantic import Field, field_validator, model_validator

from linksim.phy.payload import (
    BytesPayload,
    FloatPayload,
    IndexPayload,
    payload_for_dtype,
)

from ..base import (
    AnalogPayload,
    Codec,
    CodecContext,
    CodecParams,
    DigitalPayload,
    Message,
    ReceivedStreams,
    Reconstruction,
    StreamOverride,
    Transport,
    input_path,
)
from ..image_files.jpeg2000 import compress_jpeg2000
from ..registry import codec_class
from .cr import (
    complementary_basis,
    complementary_representation,
    load_eta,
    recompose,
    split_representation,
)
from .models import (
    WEIGHTS_DIR,
    NCRAdapters,
    SemanticModel,
    load_ncr_adapters,
    load_semantic_model,
    resolve_weights,
)

#: the shipped weights per semantic-model kind (28x28 grey digits)
DEFAULT_WEIGHTS = {"vae": WEIGHTS_DIR / "digits28_vae.safetensors", "vqvae": WEIGHTS_DIR / "digits28_vqvae.safetensors"}
_HEADER = struct.Struct("<4f")  # lo/hi of A, lo/hi of AX
PAPER_R = 0.8


class HSCParams(CodecParams):
    sr: str = Field(default="vae", description="vae | vqvae | any other registered image codec (e.g. jpeg2000)")
    sr_params: dict[str, Any] = Field(
        default_factory=dict, description="sr = another codec: {params: {...}, streams: {...}} of that codec"
    )
    k: int | None = Field(default=None, ge=1, description="SR complex symbols; must match the weights (default: theirs)")
    d: int | Literal["auto"] = Field(default=8, description="CR rank 0..H, or auto: the largest that fits budget.channel_uses")
    cr_compression_ratio: float = Field(default=5.0, ge=1.0, le=1000.0, description="JPEG2000 ratio of the CR image")
    weights: str | None = Field(default=None, description="semantic model: a shipped name (e.g. digits28_vae_rayleigh) "
                                "or a .safetensors path (default: digits28_vae / digits28_vqvae)",
                                json_schema_extra=input_path("file_or_name"))
    adapters: str | None = Field(default=None, description="NCR adapters trained for this d (eq. 23): a shipped name "
                                 "(e.g. digits28_ncr_rayleigh_d4) or a .safetensors path",
                                 json_schema_extra=input_path("file_or_name"))

    @field_validator("weights", "adapters")
    @classmethod
    def _shipped(cls, v):
        if v is not None:
            resolve_weights(v)  # a bare name must be a shipped file; paths are checked when loading
        return v

    @field_validator("d")
    @classmethod
    def _d(cls, v):
        if isinstance(v, int) and v < 0:
            raise ValueError("must be >= 0 or 'auto'")
        return v

    @model_validator(mode="after")
    def _check(self) -> "HSCParams":
        if self.adapters is not None and self.sr not in ("vae", "vqvae"):
            raise ValueError("adapters: only with sr = vae | vqvae")
        if self.sr in ("vae", "vqvae"):
            if self.sr_params:
                raise ValueError("sr_params: only for sr = another codec")
            return self
        if self.sr == "hsc":
            raise ValueError("sr: hsc cannot be its own semantic representation")
        cls = codec_class(self.sr)
        unknown = set(self.sr_params) - {"params", "streams"}
        if unknown:
            raise ValueError(f"sr_params: unknown keys {sorted(unknown)} (params, streams)")
        cls.Params.model_validate(self.sr_params.get("params", {}))
        cls.resolve_transports({n: StreamOverride.model_validate(o) for n, o in self.sr_params.get("streams", {}).items()})
        return self


class HSCCodec(Codec):
    """Hybrid semantic + complementary representation (see the module docstring)."""

    trainer = "linksim.codecs.hsc.training:main"

    Params = HSCParams
    default_streams = {
        "sr": Transport(path="analog", dtype=None),
        "cr": Transport(path="digital", modulation="qam16", code_rate=0.5),
    }
    analog_streams = frozenset({"sr"})
    dtype_streams = frozenset({"sr", "cr"})

    def __init__(self, params: HSCParams, transports: dict[str, Transport], context: CodecContext) -> None:
        super().__init__(params, transports, context)
        c, h, w = context.sample_shape
        self.model: SemanticModel | None = None
        self.inner: Codec | None = None
        self._sr_ser = None
        self.adapters: NCRAdapters | None = None
        if params.sr in ("vae", "vqvae"):
            path = resolve_weights(params.weights) if params.weights else DEFAULT_WEIGHTS[params.sr]
            model = load_semantic_model(path)
            if model.config.kind != params.sr:
                raise ValueError(f"hsc: weights {path} hold a {model.config.kind}, params.sr is {params.sr}")
            if tuple(model.config.image_shape) != (c, h, w):
                raise ValueError(f"hsc: weights {path} are for images {model.config.image_shape}, data is {(c, h, w)}")
            if params.k is not None and params.k != model.config.k:
                raise ValueError(f"hsc: params.k = {params.k} but the weights {path} have k = {model.config.k}")
            for p in model.parameters():
                p.requires_grad_(False)
            self.model = model
            if params.adapters is not None:
                ad = load_ncr_adapters(resolve_weights(params.adapters))
                if ad.config.k != model.k or tuple(ad.config.image_shape) != (c, h, w):
                    raise ValueError(f"hsc: adapters {params.adapters} do not fit the semantic model (k, image shape)")
                if params.d != ad.config.d:
                    raise ValueError(f"hsc: adapters {params.adapters} were trained for d = {ad.config.d}, params.d is {params.d}")
                for p in ad.parameters():
                    p.requires_grad_(False)
                self.adapters = ad
            t = transports["sr"]
            if t.path == "digital":
                if params.sr == "vqvae" and t.dtype is None:
                    self._sr_ser = IndexPayload(model.config.codebook_size)
                else:
                    self._sr_ser = payload_for_dtype(t.dtype or "float32", t.nonfinite,
                                                     (-math.sqrt(model.k * model.config.power),
                                                      math.sqrt(model.k * model.config.power))
                                                     if t.nonfinite == "clamp" else None)
        else:
            cls = codec_class(params.sr)
            overrides = {n: StreamOverride.model_validate(o) for n, o in params.sr_params.get("streams", {}).items()}
            inner_t = cls.resolve_transports(overrides)
            for name, t in inner_t.items():  # the runner looks transports up by stream name
                transports[f"sr.{name}"] = t
            inner_ctx = CodecContext(
                device=context.device, sample_shape=context.sample_shape,
                channel_uses=lambda s, b: context.channel_uses(f"sr.{s}", b),
                budget_channel_uses=None, seed=context.seed, max_block_bits=context.max_block_bits,
            )
            self.inner = cls(cls.Params.model_validate(params.sr_params.get("params", {})), inner_t, inner_ctx)
        tc = transports["cr"]
        # every value of C = [A | AX] lies in [-sqrt(H), sqrt(H)]: |A| <= 1, |e·x_col| <= ||x_col|| for X in [0, 1]
        self._cr_ser = payload_for_dtype(tc.dtype, tc.nonfinite, (-math.sqrt(h), math.sqrt(h))
                                         if tc.nonfinite == "clamp" else None) if tc.dtype else None
        self._bytes = BytesPayload()
        self.d = self._resolve_d() if params.d == "auto" else int(params.d)
        if not 0 <= self.d <= h:
            raise ValueError(f"hsc: params.d = {self.d} must be at most the image height {h}")
        # only the streams actually sent (the runner and `linksim validate` walk this dict);
        # the dict the runner passed keeps every stream for its channel-use look-ups
        sent = {"sr"} if self.model is not None else {f"sr.{n}" for n in self.inner.transports}
        if self.d > 0:
            sent.add("cr")
        self.transports = {n: t for n, t in transports.items() if n in sent}

    # -- sizes ------------------------------------------------------------------------
    def _sr_uses(self) -> int:
        """Resource elements per sample of the SR."""
        if self.model is not None:
            if self._sr_ser is None:
                return self.model.k
            return self.context.channel_uses("sr", self._sr_ser.num_bits((2 * self.model.k,)
                                                                             if not isinstance(self._sr_ser, IndexPayload) else (1,)))
        bits = self.inner.payload_bits()
        if bits is None:
            raise ValueError(f"hsc: d = auto needs an SR of known size; {self.params.sr} is data-dependent")
        uses = sum(self.context.channel_uses(f"sr.{n}", b) for n, b in bits.items())
        for n, t in self.inner.transports.items():
            if t.path == "analog":
                uses += -(-math.prod(self.context.sample_shape) // 2)
        return uses

    def _cr_shape(self, d: int) -> tuple[int, int]:
        c, h, w = self.context.sample_shape
        return d, h + c * w

    def cr_bits(self, d: int) -> int:
        """Payload bits per sample of the CR at rank ``d`` (JPEG2000: estimated on a noise image)."""
        if d == 0:
            return 0
        if self._cr_ser is not None:
            return self._cr_ser.num_bits(self._cr_shape(d))
        rng = np.random.default_rng(0)
        img = Image.fromarray(rng.integers(0, 256, self._cr_shape(d), dtype=np.uint8), mode="L")
        return 8 * (_HEADER.size + len(compress_jpeg2000(img, self.params.cr_compression_ratio)))

    def _resolve_d(self) -> int:
        budget = self.context.budget_channel_uses
        if budget is None:
            raise ValueError("hsc: params.d = auto needs budget.channel_uses in the scenario")
        sr = self._sr_uses()
        best = 0
        for d in range(1, self.context.sample_shape[1] + 1):
            if sr + self.context.channel_uses("cr", self.cr_bits(d)) <= budget:
                best = d
        return best

    def payload_bits(self) -> dict[str, int] | None:
        # None (data-dependent, measured by encoding) also for an analog SR, so that
        # `linksim validate` counts its 2k values rather than the image's
        if self.inner is not None or self._sr_ser is None or (self._cr_ser is None and self.d > 0):
            return None
        out = {}
        if self._sr_ser is not None:
            out["sr"] = self._sr_ser.num_bits((1,) if isinstance(self._sr_ser, IndexPayload) else (2 * self.model.k,))
        if self.d > 0:
            out["cr"] = self.cr_bits(self.d)
        return out

    # -- SR ---------------------------------------------------------------------------
    def _sr_encode(self, x: torch.Tensor) -> tuple[Message, torch.Tensor]:
        """SR streams and the transmitter's own (error-free) decoding ``X̂``."""
        if self.model is None:
            sent = self.inner.encode(x)
            loop = {n: (p.bits if isinstance(p, DigitalPayload) else p.values) for n, p in sent.items()}
            x_hat = self.inner.decode(loop, sent).x_hat.to(x.device, torch.float32)
            return {f"sr.{n}": p for n, p in sent.items()}, x_hat
        out = self.model.encode(x, sample=False)
        z = self.adapters.encode(out.z) if self.adapters is not None else out.z
        x_hat = self._generate(z)
        if self._sr_ser is None:
            return {"sr": AnalogPayload(z)}, x_hat
        if isinstance(self._sr_ser, IndexPayload):
            return {"sr": DigitalPayload(self._sr_ser.to_bits(out.index[:, None]))}, x_hat
        return {"sr": DigitalPayload(self._sr_ser.to_bits(z))}, x_hat

    def _generate(self, z: torch.Tensor) -> torch.Tensor:
        """Received (or sent) SR ``[B, 2k]`` -> ``X̂`` ``[B, C, H, W]``, through the NCR decoder adapter if any."""
        x_hat = self.model.decode(z)
        return self.adapters.decode(x_hat) if self.adapters is not None else x_hat

    def _sr_decode(self, received: ReceivedStreams, sent: Message, rates: dict) -> torch.Tensor:
        if self.model is None:
            inner_rx = ReceivedStreams({n[3:]: v for n, v in received.items() if n.startswith("sr.")},
                                       {n[3:]: c for n, c in getattr(received, "csi", {}).items() if n.startswith("sr.")})
            inner_tx = {n[3:]: v for n, v in sent.items() if n.startswith("sr.")}
            rec = self.inner.decode(inner_rx, inner_tx)
            rates.update({f"sr_{n}": v for n, v in rec.rates.items()})
            return rec.x_hat.to(torch.float32)
        r = received["sr"]
        if self._sr_ser is None:
            if r.dim() < 1 or r[0].numel() != 2 * self.model.k:
                raise ValueError(f"sr: expected {2 * self.model.k} analog values per sample, received shape {tuple(r.shape)}")
            # as on the digital path: non-finite values are counted, then made harmless for the decoder
            z = r.reshape(r.shape[0], 2 * self.model.k).to(torch.float32)
            nonfinite = (~torch.isfinite(z)).sum(dim=1).cpu()
            rates["sr_nonfinite_rate"] = (nonfinite, torch.full_like(nonfinite, 2 * self.model.k))
            return self._generate(torch.nan_to_num(z, nan=0.0, posinf=0.0, neginf=0.0).clamp(-1e4, 1e4))
        if isinstance(self._sr_ser, IndexPayload):
            idx = self._sr_ser.from_bits(r, (1,)).values[:, 0].to(torch.int64)
            z = self.model.codeword(idx)
            return self._generate(self.adapters.encode(z) if self.adapters is not None else z)
        dec = self._sr_ser.from_bits(r, (2 * self.model.k,))
        z = dec.values.to(torch.float32)
        if isinstance(self._sr_ser, FloatPayload):
            rates["sr_nonfinite_rate"] = (dec.nonfinite, torch.full_like(dec.nonfinite, 2 * self.model.k))
        return self._generate(torch.nan_to_num(z, nan=0.0, posinf=0.0, neginf=0.0).clamp(-1e4, 1e4))

    # -- codec face -------------------------------------------------------------------
    @torch.no_grad()
    def encode(self, x: torch.Tensor) -> Message:
        """``x`` ``[B, C, H, W]`` in [0, 1] -> ``sr`` (or ``sr.<name>``) and, for ``d > 0``, ``cr``."""
        self._last_x = x.detach().to(torch.float32)
        msg, x_hat = self._sr_encode(x)
        self._sr_uses_batch = self._sr_message_uses(msg)
        if self.d == 0:
            return msg
        a = complementary_basis(x.to(torch.float32), x_hat, self.d)
        cr = complementary_representation(a, x.to(torch.float32))  # [B, d, H + C*W]
        if self._cr_ser is not None:
            msg["cr"] = DigitalPayload(self._cr_ser.to_bits(cr))
        else:
            bits, lengths = self._bytes.to_bits([pack_cr(c, self.params.cr_compression_ratio, self.context.sample_shape[1])
                                                 for c in cr.cpu()], device=x.device)
            msg["cr"] = DigitalPayload(bits, lengths)
        return msg

    def _sr_message_uses(self, msg: Message) -> torch.Tensor:
        total = None
        for name, p in msg.items():
            if isinstance(p, AnalogPayload):
                u = torch.full((p.values.shape[0],), -(-p.values[0].numel() // 2), dtype=torch.int64)
            else:
                n = p.lengths.cpu() if p.lengths is not None else torch.full((p.bits.shape[0],), p.bits.shape[1])
                u = torch.tensor([self.context.channel_uses(name, int(b)) for b in n], dtype=torch.int64)
            total = u if total is None else total + u
        return total

    @torch.no_grad()
    def decode(self, received: ReceivedStreams, sent: Message) -> Reconstruction:
        rates: dict = {}
        x_hat = self._sr_decode(received, sent, rates)
        c, h, w = self.context.sample_shape
        batch = x_hat.shape[0]
        x_tilde = x_hat
        if self.d > 0:
            if self._cr_ser is not None:
                dec = self._cr_ser.from_bits(received["cr"], self._cr_shape(self.d))
                cr = dec.values.to(torch.float32)
                bad = ~torch.isfinite(cr).flatten(1).all(dim=1)
                if isinstance(self._cr_ser, FloatPayload):
                    rates["cr_nonfinite_rate"] = (dec.nonfinite, torch.full_like(dec.nonfinite, cr[0].numel()))
            else:
                blobs = self._bytes.from_bits(received["cr"], sent["cr"].lengths)
                unpacked = [unpack_cr(b, self._cr_shape(self.d), h) for b in blobs]
                bad = torch.tensor([u is None for u in unpacked])
                cr = torch.stack([torch.zeros(self._cr_shape(self.d)) if u is None else u for u in unpacked])
            cr = torch.nan_to_num(cr.to(x_hat.device), nan=0.0, posinf=0.0, neginf=0.0)
            a, ax = split_representation(cr, c, h)
            x_tilde = recompose(a, ax, x_hat).to(torch.float32)
            bad = bad.to(x_hat.device) | ~torch.isfinite(x_tilde).flatten(1).all(dim=1)
            x_tilde = torch.where(bad[:, None, None, None], x_hat, x_tilde)
            rates["fallback_rate"] = (bad.to(torch.int64).cpu(), torch.ones(batch, dtype=torch.int64))
        x_tilde = x_tilde.clamp(0.0, 1.0)
        k_sr = self._sr_uses_batch.to(torch.float64)[:batch] if getattr(self, "_sr_uses_batch", None) is not None \
            else torch.zeros(batch, dtype=torch.float64)
        eta = torch.tensor([load_eta(float(k), self.d, (c, h, w), PAPER_R) for k in k_sr], dtype=torch.float64)
        metrics = {"eta": eta}
        x_sent = getattr(self, "_last_x", None)  # the simulator's view, for the SR-only metric
        if x_sent is not None and x_sent.shape == x_hat.shape:
            metrics["mse_sr"] = (x_hat.clamp(0.0, 1.0) - x_sent.to(x_hat.device)).square().flatten(1).mean(dim=1)
        return Reconstruction(x_hat=x_tilde, rates=rates, metrics=metrics)


def pack_cr(cr: torch.Tensor, ratio: float, height: int) -> bytes:
    """One sample's CR ``[d, H + C*W]`` -> 16-byte header + JPEG2000 codestream.

    ``A`` (the first ``H`` columns) and ``AX`` (the rest) are each mapped to 0..255 over
    their own ``[lo, hi]`` (the four floats of the header), as one 8-bit grey image.
    """
    a, ax = cr[:, :height].double(), cr[:, height:].double()
    header, parts = [], []
    for block in (a, ax):
        lo, hi = float(block.min()), float(block.max())
        header += [lo, hi]
        scale = (hi - lo) if hi > lo else 1.0
        parts.append(((block - lo) / scale * 255.0).round().clamp(0, 255))
    img = torch.cat(parts, dim=1).to(torch.uint8).numpy()
    return _HEADER.pack(*header) + compress_jpeg2000(Image.fromarray(img, mode="L"), ratio)


def unpack_cr(blob: bytes, shape: tuple[int, int], height: int) -> torch.Tensor | None:
    """Inverse of :func:`pack_cr`; None when the header or the file is unusable."""
    if len(blob) <= _HEADER.size:
        return None
    lo_a, hi_a, lo_x, hi_x = _HEADER.unpack(blob[: _HEADER.size])
    if not all(math.isfinite(v) and abs(v) < 1e6 for v in (lo_a, hi_a, lo_x, hi_x)) or lo_a > hi_a or lo_x > hi_x:
        return None
    try:
        with Image.open(io.BytesIO(blob[_HEADER.size:]), formats=["JPEG2000"]) as im:
            if im.size != (shape[1], shape[0]):
                return None
            arr = np.asarray(im.convert("L"), dtype=np.float64) / 255.0
    except Exception:  # noqa: BLE001 - a damaged file is a dropped CR, by design
        return None
    out = np.concatenate([lo_a + arr[:, :height] * (hi_a - lo_a), lo_x + arr[:, height:] * (hi_x - lo_x)], axis=1)
    return torch.from_numpy(out).to(torch.float32)
