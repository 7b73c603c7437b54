"""``tiny-ae``: a tiny convolutional autoencoder for 28x28 grey digits, as a linksim codec plugin.

One stream, ``latent``: the ``[L, 7, 7]`` latent of :class:`~linksim_example_codec.model.TinyAutoencoder`
(``L = 4`` in the shipped weights: 196 real values per sample).

* **analog** (the default): the power-normalised latent goes straight onto the OFDM grid,
  two values per complex resource element (196 values -> 98 REs), DeepJSCC style.
* **digital**: the latent as a payload of the stream's ``dtype``: ``uint<N>`` (default
  ``uint8``: 196 x 8 = 1,568 bits) quantises uniformly over ``params.quant_range``, fixed by
  the codec and known to the receiver (``quant_range: null`` sends each sample's range as a
  64-bit header instead); ``float16/32/64`` sends IEEE floats, whose bit errors can make
  values NaN/inf, handled by the stream's ``nonfinite`` policy.

Reliability rules this decoder follows (what linksim asks of every decoder):

* a payload of the wrong size is refused with a ``ValueError`` that says what was expected;
* any payload of the right size decodes: non-finite received values are counted as
  ``nonfinite_rate`` (events: values per sample; trials: latent values per sample) and the
  network never sees one (whatever the policy left non-finite becomes 0, the latent's mean;
  a finite value beyond the largest value the encoder can send, ``sqrt(n / 2)``, is limited
  to it, so no overflow can reach the output);
* a reconstruction that is still not finite is replaced by mid-grey and counted as
  ``fallback_rate`` (events: samples; never expected, reported so that it can be checked).

Imports come from ``linksim.codecs`` and ``linksim.phy`` only: a codec never calls the
runner, the scenario module or the CLI.
"""

from __future__ import annotations

import math

import torch
from pydantic import Field, field_validator

from linksim.codecs import (
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
from linksim.phy.payload import FloatPayload, QuantizedPayload, payload_for_dtype

from .model import DEFAULT_WEIGHTS, TinyAutoencoder, load_model, resolve_weights

__all__ = ["TinyAEParams", "TinyAutoencoderCodec"]


class TinyAEParams(CodecParams):
    """The scenario's ``params`` of a ``tiny-ae`` codec (unknown keys are errors)."""

    weights: str = Field(
        default=DEFAULT_WEIGHTS,
        description="a shipped weights name (tiny_ae_digits28) or a path to a .safetensors file "
        "written by `python -m linksim_example_codec.train`",
        # a path here is resolved against the scenario file and its bytes are in the fingerprint
        json_schema_extra=input_path("file_or_name"),
    )
    latent_channels: int | None = Field(
        default=None, ge=1,
        description="latent channels L (L x 7 x 7 values per sample); must match the weights (default: theirs)",
    )
    quant_range: tuple[float, float] | None = Field(
        default=(-3.0, 3.0),
        description="range of a uint<N> latent payload, fixed by the codec (values outside are clipped; the "
        "shipped weights' latents stay within +-3.02 on digits28:train); null: each sample's range is sent "
        "as a 64-bit header",
    )

    @field_validator("weights")
    @classmethod
    def _shipped(cls, v: str) -> str:
        resolve_weights(v)  # a bare name must be shipped; a path is checked when the codec loads it
        return v

    @field_validator("quant_range")
    @classmethod
    def _range(cls, v: tuple[float, float] | None) -> tuple[float, float] | None:
        if v is not None and not (math.isfinite(v[0]) and math.isfinite(v[1]) and v[0] < v[1]):
            raise ValueError(f"must be finite with low < high, got {v}")
        return v


class TinyAutoencoderCodec(Codec):
    """A tiny convolutional autoencoder codec (see the module docstring).

    :param params: :class:`TinyAEParams`.
    :param transports: ``{"latent": Transport}`` (analog by default).
    :param context: the run's device and sample shape; the model is placed on ``context.device``.
    :raises ValueError: weights that cannot be loaded or that disagree with ``params.latent_channels``.
    """

    Params = TinyAEParams
    default_streams = {"latent": Transport(path="analog")}
    analog_streams = frozenset({"latent"})
    dtype_streams = frozenset({"latent"})
    trainer = "linksim_example_codec.train:main"  # linksim train tiny-ae ... (imported only then)

    def __init__(self, params: TinyAEParams, transports: dict[str, Transport], context: CodecContext) -> None:
        super().__init__(params, transports, context)
        path = resolve_weights(params.weights)
        try:
            model = load_model(path)
        except FileNotFoundError as e:
            raise ValueError(f"params.weights: {e}") from None
        cfg = model.config
        if params.latent_channels is not None and params.latent_channels != cfg.latent_channels:
            raise ValueError(f"params.latent_channels = {params.latent_channels} but the weights {path} "
                             f"have {cfg.latent_channels}")
        for p in model.parameters():  # the codec runs the network; train.py trains it
            p.requires_grad_(False)
        self.model: TinyAutoencoder = model.eval().to(context.device)
        self.latent_shape = cfg.latent_shape
        self.num_values = cfg.latent_values
        #: the largest |value| the encoder can send: sum(z**2) = n / 2 per sample
        self.bound = math.sqrt(self.num_values / 2)
        t = transports["latent"]
        self._serializer: FloatPayload | QuantizedPayload | None = None
        if t.path == "digital":
            dtype = t.dtype or "uint8"
            rng = params.quant_range if dtype.startswith("uint") else (-self.bound, self.bound)
            self._serializer = payload_for_dtype(dtype, t.nonfinite, rng)

    # -- what the runner may ask before running ---------------------------------------
    def check_data(self, data) -> None:
        """Refuse images of another shape than the weights' (``ValueError`` naming both)."""
        shape = tuple(self.context.sample_shape)
        if shape != tuple(self.model.config.image_shape):
            raise ValueError(f"tiny-ae weights {self.params.weights} code images {tuple(self.model.config.image_shape)} "
                             f"(C, H, W); the data has {shape}")

    def payload_bits(self) -> dict[str, int] | None:
        """Bits per sample of the digital latent (``{}`` on the analog path): e.g. 196 x 8 for ``uint8``."""
        if self._serializer is None:
            return {}
        return {"latent": self._serializer.num_bits(self.latent_shape)}

    def analog_values(self, stream: str) -> int | None:
        """Real values per sample of the analog latent (two per resource element): ``L * 7 * 7``."""
        return self.num_values if stream == "latent" else None

    # -- the codec face ---------------------------------------------------------------------
    def encode(self, x: torch.Tensor) -> Message:
        """Code a batch.

        :input x: ``[B, C, H, W]`` float, values in [0, 1], ``(C, H, W)`` the weights' image shape.
        :output: ``{"latent": AnalogPayload(values [B, L, H/4, W/4])}`` (float32, average
            complex-symbol power 1 per sample) or ``{"latent": DigitalPayload(bits [B, n_bits])}``.
        :raises ValueError: ``x`` of another shape.
        """
        want = tuple(self.model.config.image_shape)
        if x.dim() != 4 or tuple(x.shape[1:]) != want:
            raise ValueError(f"x: expected shape [batch, {', '.join(map(str, want))}], got {tuple(x.shape)}")
        device = next(self.model.parameters()).device
        z = self.model.encode(x.to(device=device, dtype=torch.float32))
        if self._serializer is None:
            return {"latent": AnalogPayload(z)}
        return {"latent": DigitalPayload(self._serializer.to_bits(z))}

    def decode(self, received: ReceivedStreams, sent: Message) -> Reconstruction:
        """Rebuild the batch from the received latent (``sent`` is not read).

        :input received: ``{"latent": ...}``: analog values ``[B, L, H/4, W/4]`` (any shape
            with ``n = L*H/4*W/4`` values per sample) or bits ``[B, n_bits]``.
        :output: :class:`Reconstruction` with ``x_hat`` ``[B, C, H, W]`` float32 in [0, 1], and
            ``rates``: ``nonfinite_rate`` (values; not for a fixed-range ``uint<N>`` payload,
            which always decodes to finite values) and ``fallback_rate`` (samples).
        :raises ValueError: a payload of the wrong size (the message says what was expected).
        """
        device = next(self.model.parameters()).device
        r = received["latent"]
        if not isinstance(r, torch.Tensor):
            raise ValueError(f"latent: expected a tensor, received {type(r).__name__}")
        rates: dict[str, tuple[torch.Tensor, torch.Tensor]] = {}
        if self._serializer is None:
            if r.dim() < 1 or r.shape[0] < 1 or r[0].numel() != self.num_values:
                raise ValueError(f"latent: expected {self.num_values} analog values per sample "
                                 f"{self.latent_shape}, received shape {tuple(r.shape)}")
            z = r.to(device=device, dtype=torch.float32).reshape(r.shape[0], *self.latent_shape)
            nonfinite = (~torch.isfinite(z)).flatten(1).sum(dim=1)
            policy = self.transports["latent"].nonfinite
            if policy == "zero":
                z = torch.nan_to_num(z, nan=0.0, posinf=0.0, neginf=0.0)
            elif policy == "clamp":
                z = torch.nan_to_num(z, nan=0.0, posinf=self.bound, neginf=-self.bound)
            rates["nonfinite_rate"] = (nonfinite, torch.full_like(nonfinite, self.num_values))
        else:
            dec = self._serializer.from_bits(r.to(device), self.latent_shape)  # ValueError on a wrong length
            z = dec.values.to(torch.float32)
            nonfinite = dec.nonfinite
            # finite float64 values beyond float32's range overflow in the cast: count them too
            nonfinite = nonfinite + (torch.isfinite(dec.values) & ~torch.isfinite(z)).flatten(1).sum(dim=1)
            if isinstance(self._serializer, FloatPayload) or self._serializer.value_range is None:
                rates["nonfinite_rate"] = (nonfinite, torch.full_like(nonfinite, self.num_values))
        # the network never sees a value the encoder cannot have sent ('keep' keeps it in the counts only)
        z = torch.nan_to_num(z, nan=0.0, posinf=0.0, neginf=0.0).clamp(-self.bound, self.bound)
        x_hat = self.model.decode(z)
        bad = ~torch.isfinite(x_hat).flatten(1).all(dim=1)
        x_hat = torch.where(bad[:, None, None, None], torch.full_like(x_hat, 0.5), x_hat)
        fallback = bad.to(torch.int64)
        rates["fallback_rate"] = (fallback, torch.ones_like(fallback))
        return Reconstruction(x_hat=x_hat, rates=rates)
