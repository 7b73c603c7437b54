"""``raw``: the sample tensor itself, as IEEE floats, quantised values, or analog symbols."""

from __future__ import annotations

import math

import torch
from pydantic import Field, model_validator

from linksim.phy.payload import FloatPayload, payload_for_dtype

from .base import AnalogPayload, Codec, CodecContext, CodecParams, DigitalPayload, Message, ReceivedStreams, Reconstruction, Transport


class RawParams(CodecParams):
    value_range: tuple[float, float] = Field(
        default=(0.0, 1.0),
        description="range of the values: fixes the quantiser's range, the clamp policy's range, "
        "and the analog path's offset (the midpoint is subtracted so no power is spent on DC)",
    )

    fit_budget: bool = Field(
        default=False,
        description="with a bandwidth budget: quantise to the most bits per value (16 down to 1) whose "
        "coded payload fits budget.channel_uses, instead of the stream's dtype",
    )

    @model_validator(mode="after")
    def _check(self) -> "RawParams":
        lo, hi = self.value_range
        if not (math.isfinite(lo) and math.isfinite(hi) and lo < hi):
            raise ValueError(f"value_range: must be finite with low < high, got {self.value_range}")
        return self


class RawCodec(Codec):
    """Sends the input tensor as it is: one stream ``data``.

    Digital: each value as an IEEE-754 float of the stream's ``dtype`` (default float32)
    or as an n-bit uniform quantisation (``uint<N>``) over ``value_range``; a float
    payload's non-finite values are handled by the stream's ``nonfinite`` policy and
    counted as ``nonfinite_rate``. With ``fit_budget`` and a bandwidth budget, the
    quantiser's bits per value adapt to the budget. Analog: values minus the range
    midpoint, two per complex symbol.
    """

    Params = RawParams
    default_streams = {"data": Transport(path="digital", dtype="float32")}
    analog_streams = frozenset({"data"})
    dtype_streams = frozenset({"data"})

    def __init__(self, params: RawParams, transports: dict[str, Transport], context: CodecContext) -> None:
        super().__init__(params, transports, context)
        t = transports["data"]
        self._serializer = None
        if params.fit_budget and t.path == "analog":
            raise ValueError("params.fit_budget: only applies to the digital path (analog uses one RE per two values)")
        if t.path == "digital":
            dtype = t.dtype or "float32"
            if params.fit_budget and context.budget_channel_uses is not None:
                dtype = self._bits_for_budget(context.budget_channel_uses)
            self._serializer = payload_for_dtype(dtype, t.nonfinite, params.value_range)

    def _bits_for_budget(self, budget: int) -> str:
        """``uint<N>`` with the largest N in 16..1 whose payload fits ``budget`` REs per sample
        (``uint1`` when none does: the point is then reported infeasible)."""
        numel = math.prod(self.context.sample_shape)
        for bits in range(16, 0, -1):
            if self.context.channel_uses("data", bits * numel) <= budget:
                return f"uint{bits}"
        return "uint1"

    def payload_bits(self) -> dict[str, int] | None:
        if self._serializer is None:
            return {}
        return {"data": self._serializer.num_bits(self.context.sample_shape)}

    def encode(self, x: torch.Tensor) -> Message:
        """``x`` ``[B, C, H, W]`` -> ``{"data": bits [B, C*H*W*width]}`` or analog values."""
        if self._serializer is None:
            mid = 0.5 * (self.params.value_range[0] + self.params.value_range[1])
            return {"data": AnalogPayload(x - mid)}
        return {"data": DigitalPayload(self._serializer.to_bits(x))}

    def decode(self, received: ReceivedStreams, sent: Message) -> Reconstruction:
        shape = tuple(self.context.sample_shape)
        r = received["data"]
        if self._serializer is None:
            if r.dim() < 1 or r[0].numel() != math.prod(shape):
                raise ValueError(f"data: expected {math.prod(shape)} analog values per sample {shape}, "
                                 f"received shape {tuple(r.shape)}")
            lo, hi = self.params.value_range
            x_hat = r.reshape(r.shape[0], *shape).to(torch.float32) + 0.5 * (lo + hi)
            # the analog path has no exponent to break, but an equaliser can still divide by a
            # zero channel: count what is not finite and apply the stream's policy, as digitally
            bad = ~torch.isfinite(x_hat)
            nonfinite = bad.flatten(1).sum(dim=1)
            policy = self.transports["data"].nonfinite
            if policy == "zero":
                x_hat = torch.where(bad, torch.zeros_like(x_hat), x_hat)
            elif policy == "clamp":
                x_hat = torch.nan_to_num(x_hat, nan=lo, posinf=hi, neginf=lo).clamp(lo, hi)
            return Reconstruction(x_hat=x_hat, rates={"nonfinite_rate": (nonfinite, torch.full_like(nonfinite, math.prod(shape)))})
        decoded = self._serializer.from_bits(r, shape)
        x_hat = decoded.values.to(torch.float32)
        rates = {}
        if isinstance(self._serializer, FloatPayload):
            nonfinite = decoded.nonfinite
            if decoded.values.dtype == torch.float64:
                # finite float64 values beyond float32's range overflow in the cast: they
                # are non-finite to the receiver too, so count them and apply the policy
                overflow = torch.isfinite(decoded.values) & ~torch.isfinite(x_hat)
                nonfinite = nonfinite + overflow.flatten(1).sum(dim=1)
                if self._serializer.nonfinite == "zero":
                    x_hat = torch.where(overflow, torch.zeros_like(x_hat), x_hat)
                elif self._serializer.nonfinite == "clamp":
                    lo, hi = self.params.value_range
                    x_hat = torch.where(overflow, x_hat.clamp(lo, hi), x_hat)
            # a fixed-range quantiser always decodes to finite values: no rate to report
            rates["nonfinite_rate"] = (nonfinite, torch.full_like(nonfinite, math.prod(shape)))
        return Reconstruction(x_hat=x_hat, rates=rates)
