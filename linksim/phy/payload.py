"""Payload bits: serialise tensors, indices, text and raw bytes into bits and back.

A digital stream is bits. Every serialiser here follows linksim's (and Sionna's)
bit convention: a ``torch.float32`` tensor of 0.0/1.0 values of shape
``[batch, num_bits]``, on the device of the input. ``from_bits`` accepts hard
bits of any real dtype (a value ``> 0.5`` is a 1, so NaN is a 0; for integer and
bool tensors any non-zero value is a 1) and never raises on the *content* of
the bits: whatever a noisy channel delivers is decoded, and the damage that the
decoder had to repair is counted per sample.

Serialisers (all vectorised over the batch and the elements):

* :class:`FloatPayload` -- IEEE-754 float16/float32/float64, exactly the bit
  layout of the dtype (sign, exponent, mantissa, MSB first), elements in C order;
  a declared policy for NaN/inf after bit errors (``keep | zero | clamp``).
* :class:`QuantizedPayload` -- uniform n-bit quantisation (1..32 bits), the
  range fixed by the codec or sent per sample as side information.
* :class:`IndexPayload` -- unsigned integer indices (VQ codes), ceil(log2 K) bits.
* :class:`TextPayload` -- 8-bit ASCII or UTF-8 text in a fixed number of bytes.
* :class:`BytesPayload` -- raw byte strings (JPEG / JPEG2000 files) of varying
  length.

:func:`payload_for_dtype` maps a scenario's ``dtype`` string (``float16``,
``float32``, ``float64``, ``uint1`` .. ``uint32``) to a serialiser.
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Union

import numpy as np
import torch

from linksim.phy.dlpack import as_tensor

__all__ = [
    "BytesPayload",
    "DecodedFloats",
    "DecodedIndices",
    "DecodedTexts",
    "FloatPayload",
    "IndexPayload",
    "PAYLOAD_DTYPES",
    "Payload",
    "QuantizedPayload",
    "TextPayload",
    "is_valid_dtype",
    "payload_for_dtype",
    "valid_dtypes",
]


# --------------------------------------------------------------------------- #
# Decoded results
# --------------------------------------------------------------------------- #


@dataclass(frozen=True)
class DecodedFloats:
    """Floats decoded from bits.

    Attributes:
        values: ``[B, *shape]`` decoded values (the payload's float dtype for
            :class:`FloatPayload`, float32 for :class:`QuantizedPayload`), after the
            non-finite policy was applied.
        nonfinite: ``[B]`` int64, per sample the number of values the decoder found
            non-finite (NaN, +inf, -inf) *before* the policy was applied (for
            :class:`QuantizedPayload`: the values of a sample whose received range
            was invalid, see there).
    """

    values: torch.Tensor
    nonfinite: torch.Tensor


@dataclass(frozen=True)
class DecodedIndices:
    """Indices decoded from bits.

    Attributes:
        values: ``[B, *shape]`` int64 indices, all in ``[0, num_symbols)``.
        out_of_range: ``[B]`` int64, per sample the number of received indices that
            were ``>= num_symbols`` (and were clamped to ``num_symbols - 1``).
    """

    values: torch.Tensor
    out_of_range: torch.Tensor


@dataclass(frozen=True)
class DecodedTexts:
    """Texts decoded from bits.

    Attributes:
        texts: ``B`` decoded strings, trailing NUL padding removed.
        replaced: ``[B]`` int64, per sample the number of characters the decoder
            had to replace (by ``'?'`` for ASCII, by U+FFFD for UTF-8).
    """

    texts: list[str]
    replaced: torch.Tensor


# --------------------------------------------------------------------------- #
# Helpers
# --------------------------------------------------------------------------- #


def _check_shape(shape: Sequence[int] | int, name: str = "shape") -> tuple[int, ...]:
    """Validate a per-sample shape; an int is a 1-D shape."""
    if isinstance(shape, (int, np.integer)) and not isinstance(shape, bool):
        shape = (int(shape),)
    if isinstance(shape, torch.Size):
        shape = tuple(shape)
    if not isinstance(shape, (tuple, list)):
        raise ValueError(f"{name} must be a tuple of non-negative ints, received {shape!r}")
    out = []
    for d in shape:
        if isinstance(d, bool) or not isinstance(d, (int, np.integer)) or d < 0:
            raise ValueError(f"{name} must be a tuple of non-negative ints, received {shape!r}")
        out.append(int(d))
    return tuple(out)


def _numel(shape: tuple[int, ...]) -> int:
    return math.prod(shape)


def _check_batch_tensor(x: object, name: str) -> torch.Tensor:
    """Accept tensors and DLPack / NumPy arrays; require a batch dimension."""
    if not isinstance(x, torch.Tensor):
        try:
            x = as_tensor(x)
        except TypeError as exc:
            raise ValueError(f"{name} must be a tensor, received {type(x).__name__}") from exc
    if x.dim() < 1:
        raise ValueError(f"{name} must have a batch dimension, received a 0-d tensor")
    if x.is_complex():
        raise ValueError(f"{name} must be real, received dtype {x.dtype}")
    return x


def _check_bits(bits: object, expected: int | None, what: str) -> torch.Tensor:
    """Validate a ``[B, n]`` bit tensor (and n when ``expected`` is given)."""
    if not isinstance(bits, torch.Tensor):
        raise ValueError(f"bits must be a torch.Tensor of shape [batch, num_bits], "
                         f"received {type(bits).__name__}")
    if bits.dim() != 2:
        raise ValueError(f"bits must have shape [batch, num_bits], received shape "
                         f"{tuple(bits.shape)}")
    if bits.is_complex():
        raise ValueError(f"bits must be real, received dtype {bits.dtype}")
    if expected is not None and bits.shape[1] != expected:
        raise ValueError(f"bits: expected {expected} bits per sample ({what}), "
                         f"received {bits.shape[1]}")
    return bits


def _hard_bits(bits: torch.Tensor, dtype: torch.dtype) -> torch.Tensor:
    """0/1 integers of ``dtype``: float > 0.5 (NaN -> 0); int/bool non-zero."""
    if bits.is_floating_point():
        hard = bits > 0.5
    else:
        hard = bits != 0
    return hard.to(dtype)


def _shifts(width: int, dtype: torch.dtype, device: torch.device) -> torch.Tensor:
    """``[width-1, ..., 1, 0]``: the MSB-first shift amounts."""
    return torch.arange(width - 1, -1, -1, dtype=dtype, device=device)


def _int_to_bits(v: torch.Tensor, width: int) -> torch.Tensor:
    """Integers ``[...]`` -> float32 bits ``[..., width]``, MSB first.

    Bits ``width-1 .. 0`` of the two's-complement representation (works for
    signed views of floats: the arithmetic shift only fills bits above ``width``).
    """
    shifts = _shifts(width, v.dtype, v.device)
    return ((v.unsqueeze(-1) >> shifts) & 1).to(torch.float32)


def _bits_to_int(hard: torch.Tensor) -> torch.Tensor:
    """0/1 integers ``[..., width]`` (MSB first) -> integers ``[...]`` (same dtype).

    The bits are distinct powers of two, so summing them is a bitwise OR and can
    never overflow: with the sign bit set the result is the two's-complement value.
    """
    width = hard.shape[-1]
    shifts = _shifts(width, hard.dtype, hard.device)
    return (hard << shifts).sum(dim=-1, dtype=hard.dtype)


def _check_range(value: object, name: str, strict: bool) -> tuple[float, float]:
    """A ``(lo, hi)`` pair of finite floats with lo < hi (strict) or lo <= hi."""
    try:
        lo, hi = (float(v) for v in value)  # type: ignore[union-attr]
    except (TypeError, ValueError) as exc:
        raise ValueError(f"{name} must be a pair (lo, hi) of floats, received {value!r}") from exc
    if not (math.isfinite(lo) and math.isfinite(hi)):
        raise ValueError(f"{name} must be finite, received {value!r}")
    if lo > hi or (strict and lo == hi):
        rel = "<" if strict else "<="
        raise ValueError(f"{name} must satisfy lo {rel} hi, received {value!r}")
    return lo, hi


# --------------------------------------------------------------------------- #
# IEEE-754 floats
# --------------------------------------------------------------------------- #

# name -> (float dtype, same-size integer dtype used for the bit view, width)
_FLOATS: dict[str, tuple[torch.dtype, torch.dtype, int]] = {
    "float16": (torch.float16, torch.int16, 16),
    "float32": (torch.float32, torch.int32, 32),
    "float64": (torch.float64, torch.int64, 64),
}
_NONFINITE_POLICIES = ("keep", "zero", "clamp")


class FloatPayload:
    """IEEE-754 floats, exactly the bit layout of the dtype.

    Per element: sign, exponent, mantissa, most significant bit first (the
    big-endian bit string of the value: ``1.0`` in float32 is ``0x3F800000`` =
    ``0 01111111 000...0``); elements in C order; ``16``/``32``/``64`` bits each.
    The bit patterns are copied through integer views, so NaN payloads, signed
    zeros and subnormals survive bit-exactly.

    Args:
        dtype: ``"float16"``, ``"float32"`` or ``"float64"``.
        nonfinite: what the decoder does with NaN / +-inf values, which a bit error
            in an exponent produces: ``"keep"`` leaves them; ``"zero"`` sets them
            to 0; ``"clamp"`` maps +inf -> hi, -inf -> lo, NaN -> 0 clipped into
            ``[lo, hi]``, and also clips every finite value into ``[lo, hi]`` (an
            exponent error can make a finite value huge).
        clamp_range: ``(lo, hi)``, finite, ``lo <= hi``; required by ``"clamp"``
            (a ``ValueError`` otherwise), ignored by the other policies. Bounds
            beyond the dtype's finite range are limited to it.
    """

    def __init__(
        self,
        dtype: str,
        nonfinite: str = "keep",
        clamp_range: tuple[float, float] | None = None,
    ) -> None:
        if dtype not in _FLOATS:
            raise ValueError(f"dtype must be one of {sorted(_FLOATS)}, received {dtype!r}")
        if nonfinite not in _NONFINITE_POLICIES:
            raise ValueError(
                f"nonfinite must be one of {list(_NONFINITE_POLICIES)}, received {nonfinite!r}"
            )
        if clamp_range is not None:
            clamp_range = _check_range(clamp_range, "clamp_range", strict=False)
        elif nonfinite == "clamp":
            raise ValueError("clamp_range is required when nonfinite='clamp'")
        self.dtype = dtype
        self.nonfinite = nonfinite
        self.clamp_range = clamp_range
        self.torch_dtype, self._int_dtype, self.width = _FLOATS[dtype]

    def __repr__(self) -> str:
        return (f"FloatPayload(dtype={self.dtype!r}, nonfinite={self.nonfinite!r}, "
                f"clamp_range={self.clamp_range!r})")

    def num_bits(self, shape: Sequence[int] | int) -> int:
        """Bits per sample for a per-sample ``shape``: ``numel(shape) * width``."""
        return _numel(_check_shape(shape)) * self.width

    def to_bits(self, x: torch.Tensor) -> torch.Tensor:
        """Serialise ``x``.

        Args:
            x: ``[B, *shape]`` real tensor (any dtype, any device; NumPy / DLPack
                arrays are accepted too); cast to the payload dtype first (so a
                float32 value sent as float16 is rounded, may overflow to inf).
                Not differentiable (the result is detached).

        Returns:
            ``[B, numel(shape) * width]`` float32 bits on ``x``'s device.
        """
        x = _check_batch_tensor(x, "x")
        batch, numel = x.shape[0], _numel(tuple(x.shape[1:]))
        v = x.detach().to(self.torch_dtype).reshape(batch, numel).contiguous()
        ints = v.view(self._int_dtype)  # same bits, integer element type
        return _int_to_bits(ints, self.width).reshape(batch, numel * self.width)

    def from_bits(self, bits: torch.Tensor, shape: Sequence[int] | int) -> DecodedFloats:
        """Deserialise.

        Args:
            bits: ``[B, num_bits(shape)]`` hard bits (any real dtype).
            shape: the per-sample shape.

        Returns:
            :class:`DecodedFloats` with ``values`` ``[B, *shape]`` in the payload
            dtype (policy applied) and ``nonfinite`` ``[B]`` int64 (counted before
            the policy), on ``bits``' device.

        Raises:
            ValueError: ``bits`` is not ``[B, num_bits(shape)]`` (the message gives
                the expected and received lengths).
        """
        shape = _check_shape(shape)
        numel = _numel(shape)
        bits = _check_bits(bits, numel * self.width, f"{numel} x {self.dtype}")
        batch = bits.shape[0]
        hard = _hard_bits(bits, self._int_dtype).reshape(batch, numel, self.width)
        values = _bits_to_int(hard).view(self.torch_dtype)  # [B, numel]
        bad = ~torch.isfinite(values)
        counts = bad.sum(dim=1, dtype=torch.int64)
        if self.nonfinite == "zero":
            values = torch.where(bad, torch.zeros_like(values), values)
        elif self.nonfinite == "clamp":
            assert self.clamp_range is not None
            fmax = float(torch.finfo(self.torch_dtype).max)
            lo = max(self.clamp_range[0], -fmax)
            hi = min(self.clamp_range[1], fmax)
            values = torch.nan_to_num(values, nan=0.0, posinf=hi, neginf=lo).clamp(lo, hi)
        return DecodedFloats(values=values.reshape(batch, *shape), nonfinite=counts)


# --------------------------------------------------------------------------- #
# Uniform quantisation
# --------------------------------------------------------------------------- #

_SIDE_INFO_BITS = 64  # lo and hi as two IEEE float32


class QuantizedPayload:
    """Uniform n-bit quantisation of a real tensor.

    ``level = round((x - lo) / (hi - lo) * (2^n - 1))`` clipped to ``[0, 2^n - 1]``,
    sent as an n-bit unsigned integer, MSB first, elements in C order; decoded as
    ``lo + level / (2^n - 1) * (hi - lo)`` (float32). The error of a value inside
    ``[lo, hi]`` is at most half a step ``(hi - lo) / (2^n - 1) / 2`` (plus float32
    rounding of the decoded value). The arithmetic is float64, so 32-bit levels
    are exact.

    Args:
        bits: bits per value, 1..32.
        value_range: ``(lo, hi)`` with ``lo < hi``, fixed by the codec and known to
            the receiver: values outside are clipped. ``None``: each sample's
            ``lo = min`` and ``hi = max`` over its finite values are sent at the
            head of its payload as two IEEE float32 (``lo`` then ``hi``, 64 bits,
            crossing the channel like the rest and counted in :meth:`num_bits`).

    Input values: the input is cast to float32 first; ``+inf`` is sent as the top
    level, ``-inf`` and NaN as level 0 (``lo``); a sample with no finite value is
    sent with range ``[0, 0]``. A constant sample (``hi == lo``) is sent as level 0
    everywhere and decoded exactly.

    Received side information (``value_range=None``): if the decoded ``lo`` or
    ``hi`` is not finite, or ``lo > hi`` (never produced by the encoder: a bit error
    hit the header), the sample's range is replaced by ``[0, 0]``: every value of
    that sample decodes to ``0.0`` (an erasure, like ``nonfinite='zero'``), and
    all its values are counted in ``DecodedFloats.nonfinite``. A finite but wrong
    range (e.g. a flipped exponent bit making ``hi`` huge) cannot be detected and
    decodes as received. The decoded values are always finite.
    """

    def __init__(self, bits: int, value_range: tuple[float, float] | None = None) -> None:
        if isinstance(bits, bool) or not isinstance(bits, (int, np.integer)) or not 1 <= bits <= 32:
            raise ValueError(f"bits must be an int in 1..32, received {bits!r}")
        self.bits = int(bits)
        self.value_range = (
            None if value_range is None else _check_range(value_range, "value_range", strict=True)
        )
        self.levels = (1 << self.bits) - 1  # the top level, 2^n - 1

    def __repr__(self) -> str:
        return f"QuantizedPayload(bits={self.bits}, value_range={self.value_range!r})"

    @property
    def side_info_bits(self) -> int:
        """Header bits per sample: 64 when the range is sent, else 0."""
        return _SIDE_INFO_BITS if self.value_range is None else 0

    def num_bits(self, shape: Sequence[int] | int) -> int:
        """Bits per sample: ``numel(shape) * bits`` plus the 64-bit range header if any."""
        return _numel(_check_shape(shape)) * self.bits + self.side_info_bits

    def to_bits(self, x: torch.Tensor) -> torch.Tensor:
        """Quantise and serialise ``x``.

        Args:
            x: ``[B, *shape]`` real tensor (any device; NumPy / DLPack accepted).

        Returns:
            ``[B, num_bits(shape)]`` float32 bits on ``x``'s device: the optional
            header (float32 ``lo``, float32 ``hi``) then the levels.
        """
        x = _check_batch_tensor(x, "x")
        batch, numel = x.shape[0], _numel(tuple(x.shape[1:]))
        xf = x.detach().to(torch.float32).reshape(batch, numel)
        if self.value_range is not None:
            lo = torch.full((batch, 1), self.value_range[0], dtype=torch.float64, device=x.device)
            hi = torch.full((batch, 1), self.value_range[1], dtype=torch.float64, device=x.device)
            header = None
        else:
            finite = torch.isfinite(xf)
            inf = torch.tensor(float("inf"), dtype=torch.float32, device=x.device)
            if numel > 0:
                lo32 = torch.where(finite, xf, inf).amin(dim=1, keepdim=True)
                hi32 = torch.where(finite, xf, -inf).amax(dim=1, keepdim=True)
            else:
                lo32 = hi32 = torch.full((batch, 1), inf.item(), device=x.device)
            has_finite = torch.isfinite(lo32)  # false only when no value is finite
            lo32 = torch.where(has_finite, lo32, torch.zeros_like(lo32))
            hi32 = torch.where(has_finite, hi32, torch.zeros_like(hi32))
            header = _int_to_bits(torch.cat([lo32, hi32], dim=1).view(torch.int32), 32)
            header = header.reshape(batch, _SIDE_INFO_BITS)
            lo, hi = lo32.double(), hi32.double()
        span = hi - lo
        safe = torch.where(span > 0, span, torch.ones_like(span))
        t = torch.where(span > 0, (xf.double() - lo) / safe, torch.zeros_like(safe))
        # +inf -> top level; -inf and NaN -> level 0 (t = 0).
        t = torch.nan_to_num(t, nan=0.0, posinf=1.0, neginf=0.0)
        level = torch.round(t * self.levels).clamp_(0, self.levels).to(torch.int64)
        payload = _int_to_bits(level, self.bits).reshape(batch, numel * self.bits)
        return payload if header is None else torch.cat([header, payload], dim=1)

    def from_bits(self, bits: torch.Tensor, shape: Sequence[int] | int) -> DecodedFloats:
        """Deserialise and dequantise.

        Args:
            bits: ``[B, num_bits(shape)]`` hard bits (any real dtype).
            shape: the per-sample shape.

        Returns:
            :class:`DecodedFloats`: ``values`` ``[B, *shape]`` float32 (always
            finite), ``nonfinite`` ``[B]`` int64 (``numel(shape)`` for a sample whose
            received range was invalid, else 0).

        Raises:
            ValueError: wrong bit length (expected and received lengths named).
        """
        shape = _check_shape(shape)
        numel = _numel(shape)
        bits = _check_bits(bits, self.num_bits(shape), f"{numel} x uint{self.bits}"
                           + (" + 64-bit range header" if self.value_range is None else ""))
        batch, device = bits.shape[0], bits.device
        nonfinite = torch.zeros(batch, dtype=torch.int64, device=device)
        if self.value_range is not None:
            lo = torch.full((batch, 1), self.value_range[0], dtype=torch.float64, device=device)
            hi = torch.full((batch, 1), self.value_range[1], dtype=torch.float64, device=device)
            body = bits
        else:
            head = _hard_bits(bits[:, :_SIDE_INFO_BITS], torch.int32).reshape(batch, 2, 32)
            rng = _bits_to_int(head).view(torch.float32).double()  # [B, 2]
            lo, hi = rng[:, :1], rng[:, 1:]
            valid = torch.isfinite(lo) & torch.isfinite(hi) & (lo <= hi)
            lo = torch.where(valid, lo, torch.zeros_like(lo))
            hi = torch.where(valid, hi, torch.zeros_like(hi))
            nonfinite = torch.where(valid[:, 0], nonfinite, torch.full_like(nonfinite, numel))
            body = bits[:, _SIDE_INFO_BITS:]
        hard = _hard_bits(body, torch.int64).reshape(batch, numel, self.bits)
        level = _bits_to_int(hard).double()  # [B, numel], in [0, 2^n - 1]
        values = lo + level / self.levels * (hi - lo)
        values = torch.minimum(torch.maximum(values, lo), hi).to(torch.float32)
        return DecodedFloats(values=values.reshape(batch, *shape), nonfinite=nonfinite)


# --------------------------------------------------------------------------- #
# Indices
# --------------------------------------------------------------------------- #


class IndexPayload:
    """Unsigned integer indices in ``[0, num_symbols)`` (e.g. VQ codebook indices).

    Each index takes ``max(1, ceil(log2 num_symbols))`` bits, MSB first, elements
    in C order. When ``num_symbols`` is not a power of two a bit error can produce
    an index ``>= num_symbols``: the decoder counts it and clamps it to
    ``num_symbols - 1``.

    Args:
        num_symbols: K, the alphabet size, ``1 <= K < 2**63``.
    """

    def __init__(self, num_symbols: int) -> None:
        if (isinstance(num_symbols, bool) or not isinstance(num_symbols, (int, np.integer))
                or not 1 <= num_symbols < 2**63):
            raise ValueError(f"num_symbols must be an int >= 1, received {num_symbols!r}")
        self.num_symbols = int(num_symbols)
        self.width = max(1, (self.num_symbols - 1).bit_length())  # ceil(log2 K), >= 1

    def __repr__(self) -> str:
        return f"IndexPayload(num_symbols={self.num_symbols})"

    def num_bits(self, shape: Sequence[int] | int) -> int:
        """Bits per sample: ``numel(shape) * width``."""
        return _numel(_check_shape(shape)) * self.width

    def to_bits(self, idx: torch.Tensor) -> torch.Tensor:
        """Serialise indices.

        Args:
            idx: ``[B, *shape]`` integer tensor (int64 typically), values in
                ``[0, num_symbols)``.

        Returns:
            ``[B, numel(shape) * width]`` float32 bits on ``idx``'s device.

        Raises:
            ValueError: ``idx`` is not an integer tensor or holds a value outside
                ``[0, num_symbols)`` (checking it synchronises a CUDA device).
        """
        idx = _check_batch_tensor(idx, "idx")
        if idx.is_floating_point() or idx.dtype == torch.bool:
            raise ValueError(f"idx must be an integer tensor, received dtype {idx.dtype}")
        batch, numel = idx.shape[0], _numel(tuple(idx.shape[1:]))
        v = idx.detach().reshape(batch, numel).to(torch.int64)
        if v.numel() > 0:
            lo, hi = int(v.min()), int(v.max())
            if lo < 0 or hi >= self.num_symbols:
                raise ValueError(
                    f"idx must lie in [0, {self.num_symbols}), received values in [{lo}, {hi}]"
                )
        return _int_to_bits(v, self.width).reshape(batch, numel * self.width)

    def from_bits(self, bits: torch.Tensor, shape: Sequence[int] | int) -> DecodedIndices:
        """Deserialise indices.

        Args:
            bits: ``[B, num_bits(shape)]`` hard bits (any real dtype).
            shape: the per-sample shape.

        Returns:
            :class:`DecodedIndices`: ``values`` ``[B, *shape]`` int64 in
            ``[0, num_symbols)``; ``out_of_range`` ``[B]`` int64.

        Raises:
            ValueError: wrong bit length (expected and received lengths named).
        """
        shape = _check_shape(shape)
        numel = _numel(shape)
        bits = _check_bits(bits, numel * self.width, f"{numel} x {self.width}-bit index")
        batch = bits.shape[0]
        hard = _hard_bits(bits, torch.int64).reshape(batch, numel, self.width)
        values = _bits_to_int(hard)
        over = values >= self.num_symbols
        counts = over.sum(dim=1, dtype=torch.int64)
        values = values.clamp(max=self.num_symbols - 1)
        return DecodedIndices(values=values.reshape(batch, *shape), out_of_range=counts)


# --------------------------------------------------------------------------- #
# Text
# --------------------------------------------------------------------------- #

_TEXT_ENCODINGS = ("ascii", "utf-8")
# Bytes a received ASCII text may contain: printable ASCII plus tab, LF, CR.
_ASCII_OK = np.zeros(256, dtype=bool)
_ASCII_OK[0x20:0x7F] = True
_ASCII_OK[[0x09, 0x0A, 0x0D]] = True
# Sender side: every other byte becomes '?'.
_ASCII_SEND_TABLE = bytes(b if _ASCII_OK[b] else ord("?") for b in range(256))
_FFFD_UTF8 = "\ufffd".encode()


def _bytes_to_bits(buf: np.ndarray, device: torch.device | str | None) -> torch.Tensor:
    """uint8 ``[B, n]`` -> float32 bits ``[B, 8n]`` (MSB first) on ``device``."""
    bits = np.unpackbits(buf, axis=1) if buf.size else np.zeros((buf.shape[0], 8 * buf.shape[1]),
                                                                 dtype=np.uint8)
    return torch.from_numpy(bits).to(device=device, dtype=torch.float32)


def _bits_to_bytes(bits: torch.Tensor) -> np.ndarray:
    """Hard bits ``[B, 8n]`` -> uint8 ``[B, n]`` NumPy array (packed on the device)."""
    batch, n = bits.shape
    hard = _hard_bits(bits, torch.int32).reshape(batch, n // 8, 8)
    return _bits_to_int(hard).to(torch.uint8).cpu().numpy()


def _check_str_list(texts: object) -> list[str]:
    if isinstance(texts, str) or not isinstance(texts, Sequence):
        raise ValueError(f"texts must be a list of str, received {type(texts).__name__}")
    for t in texts:
        if not isinstance(t, str):
            raise ValueError(f"texts must be a list of str, found an item of type "
                             f"{type(t).__name__}")
    return list(texts)


class TextPayload:
    """Text in a fixed number of bytes per sample (the fixed length is sent).

    ``"ascii"``: 8-bit ASCII, one byte per character, as in the caption + latent
    paper. Only printable ASCII (0x20..0x7E), tab, LF and CR are sent as they are;
    any other character (non-ASCII, other control characters, NUL) is sent as
    ``'?'``. ``"utf-8"``: UTF-8, truncated without splitting a multi-byte
    character (lone surrogates are sent as ``'?'``).

    Texts longer than ``max_bytes`` are truncated, shorter ones padded with NUL
    bytes; the receiver strips trailing NULs (so a UTF-8 text ending in ``"\\x00"``
    loses those characters).

    Decoding never raises, whatever the bits: for ASCII, a received byte >= 128 or
    a control character other than tab/LF/CR and the trailing NUL padding
    becomes ``'?'`` and is counted; for UTF-8 the bytes are decoded with
    ``errors="replace"`` and the replacement characters U+FFFD the decoder
    inserted are counted (a U+FFFD that arrived as valid UTF-8 is not).

    Args:
        encoding: ``"ascii"`` or ``"utf-8"``.
        max_bytes: bytes per sample, >= 1.
    """

    def __init__(self, encoding: str, max_bytes: int) -> None:
        if encoding not in _TEXT_ENCODINGS:
            raise ValueError(f"encoding must be one of {list(_TEXT_ENCODINGS)}, "
                             f"received {encoding!r}")
        if isinstance(max_bytes, bool) or not isinstance(max_bytes, (int, np.integer)) \
                or max_bytes < 1:
            raise ValueError(f"max_bytes must be an int >= 1, received {max_bytes!r}")
        self.encoding = encoding
        self.max_bytes = int(max_bytes)

    def __repr__(self) -> str:
        return f"TextPayload(encoding={self.encoding!r}, max_bytes={self.max_bytes})"

    def num_bits(self, shape: object = None) -> int:
        """Bits per sample: ``8 * max_bytes`` (``shape`` is ignored)."""
        return 8 * self.max_bytes

    def encode_bytes(self, text: str) -> bytes:
        """The bytes sent for one text (before NUL padding), at most ``max_bytes``."""
        if self.encoding == "ascii":
            raw = text.encode("ascii", errors="replace").translate(_ASCII_SEND_TABLE)
            return raw[: self.max_bytes]
        raw = text.encode("utf-8", errors="replace")
        if len(raw) <= self.max_bytes:
            return raw
        cut = self.max_bytes
        while cut > 0 and (raw[cut] & 0xC0) == 0x80:  # raw[cut] continues a character
            cut -= 1
        return raw[:cut]

    def to_bits(self, texts: Sequence[str], device: torch.device | str | None = None) -> torch.Tensor:
        """Serialise a batch of texts.

        Args:
            texts: ``B`` strings.
            device: device of the result (default CPU).

        Returns:
            ``[B, 8 * max_bytes]`` float32 bits.
        """
        texts = _check_str_list(texts)
        buf = np.zeros((len(texts), self.max_bytes), dtype=np.uint8)
        for i, text in enumerate(texts):  # Python strings: one loop over the batch
            raw = self.encode_bytes(text)
            buf[i, : len(raw)] = np.frombuffer(raw, dtype=np.uint8)
        return _bytes_to_bits(buf, device)

    def from_bits(self, bits: torch.Tensor) -> DecodedTexts:
        """Deserialise; never raises on any bit pattern.

        Args:
            bits: ``[B, 8 * max_bytes]`` hard bits (any real dtype).

        Returns:
            :class:`DecodedTexts` (``replaced`` on ``bits``' device).

        Raises:
            ValueError: wrong bit length (expected and received lengths named).
        """
        bits = _check_bits(bits, 8 * self.max_bytes, f"{self.max_bytes} bytes of {self.encoding}")
        buf = _bits_to_bytes(bits)  # [B, max_bytes] uint8 on the CPU
        is_nul = buf == 0
        trailing = np.logical_and.accumulate(is_nul[:, ::-1], axis=1)[:, ::-1]
        lengths = self.max_bytes - trailing.sum(axis=1)
        texts: list[str] = []
        if self.encoding == "ascii":
            bad = ~_ASCII_OK[buf] & ~trailing
            replaced = bad.sum(axis=1)
            buf = np.where(bad, np.uint8(ord("?")), buf)
            for row, n in zip(buf, lengths):
                texts.append(row[:n].tobytes().decode("ascii"))
        else:
            replaced = np.zeros(len(buf), dtype=np.int64)
            for i, (row, n) in enumerate(zip(buf, lengths)):
                raw = row[:n].tobytes()
                text = raw.decode("utf-8", errors="replace")
                replaced[i] = text.count("\ufffd") - raw.count(_FFFD_UTF8)
                texts.append(text)
        counts = torch.as_tensor(np.asarray(replaced, dtype=np.int64), device=bits.device)
        return DecodedTexts(texts=texts, replaced=counts)


# --------------------------------------------------------------------------- #
# Raw bytes
# --------------------------------------------------------------------------- #


class BytesPayload:
    """Raw byte strings of varying length (JPEG / JPEG2000 files), 8 bits per byte,
    MSB first.

    The receiver is assumed to know each sample's length: it is taken to travel in
    a header sent reliably (outside this payload, not counted in its bits and not
    exposed to channel errors). The padding bits after a sample's length are not
    part of its payload: a link should send only ``lengths_bits[b]`` bits of
    sample ``b``.
    """

    def __repr__(self) -> str:
        return "BytesPayload()"

    def to_bits(
        self,
        blobs: Sequence[bytes],
        device: torch.device | str | None = None,
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Serialise a batch of byte strings.

        Args:
            blobs: ``B`` ``bytes`` / ``bytearray`` / ``memoryview`` objects.
            device: device of the results (default CPU).

        Returns:
            ``(bits, lengths_bits)``: ``[B, 8 * max_len]`` float32 bits, zero padded
            after each sample's data; ``[B]`` int64 lengths in bits (``8 * len``).
        """
        if isinstance(blobs, (bytes, bytearray, memoryview, str)) or not isinstance(blobs, Sequence):
            raise ValueError(f"blobs must be a list of bytes, received {type(blobs).__name__}")
        raws = []
        for b in blobs:
            if not isinstance(b, (bytes, bytearray, memoryview)):
                raise ValueError(f"blobs must be a list of bytes, found an item of type "
                                 f"{type(b).__name__}")
            raws.append(bytes(b))
        lengths = np.array([len(r) for r in raws], dtype=np.int64)
        buf = np.zeros((len(raws), int(lengths.max(initial=0))), dtype=np.uint8)
        for i, raw in enumerate(raws):  # Python objects: one loop over the batch
            buf[i, : len(raw)] = np.frombuffer(raw, dtype=np.uint8)
        lengths_bits = torch.as_tensor(8 * lengths, dtype=torch.int64, device=device)
        return _bytes_to_bits(buf, device), lengths_bits

    def from_bits(self, bits: torch.Tensor, lengths_bits: torch.Tensor | Sequence[int]) -> list[bytes]:
        """Deserialise.

        Args:
            bits: ``[B, n]`` hard bits (any real dtype), ``n`` a multiple of 8.
            lengths_bits: ``[B]`` lengths in bits (multiples of 8, ``<= n``), as
                returned by :meth:`to_bits`.

        Returns:
            ``B`` ``bytes`` objects of ``lengths_bits[b] // 8`` bytes.

        Raises:
            ValueError: bad shapes or lengths (not multiples of 8, negative, or
                longer than ``n``).
        """
        bits = _check_bits(bits, None, "")
        batch, n = bits.shape
        if n % 8:
            raise ValueError(f"bits: expected a multiple of 8 bits per sample, received {n}")
        lengths = torch.as_tensor(lengths_bits).detach().cpu()
        if lengths.dim() != 1 or lengths.shape[0] != batch or lengths.is_floating_point():
            raise ValueError(f"lengths_bits must be {batch} integers, received shape "
                             f"{tuple(lengths.shape)} of dtype {lengths.dtype}")
        lengths = lengths.to(torch.int64)
        if batch and (bool((lengths % 8 != 0).any()) or bool((lengths < 0).any())
                      or bool((lengths > n).any())):
            raise ValueError(f"lengths_bits must be multiples of 8 in [0, {n}], "
                             f"received {lengths.tolist()}")
        buf = _bits_to_bytes(bits)
        return [row[: int(m) // 8].tobytes() for row, m in zip(buf, lengths)]


# --------------------------------------------------------------------------- #
# dtype strings (the scenario's `dtype` field)
# --------------------------------------------------------------------------- #

Payload = Union[FloatPayload, QuantizedPayload, IndexPayload, TextPayload, BytesPayload]

#: Every dtype string a digital tensor stream accepts.
PAYLOAD_DTYPES: tuple[str, ...] = (
    "float16", "float32", "float64", *(f"uint{n}" for n in range(1, 33))
)
_UINT_RE = re.compile(r"uint([1-9][0-9]?)")


def valid_dtypes() -> tuple[str, ...]:
    """The accepted dtype strings: ``float16``, ``float32``, ``float64``, ``uint1`` .. ``uint32``."""
    return PAYLOAD_DTYPES


def is_valid_dtype(s: object) -> bool:
    """Whether ``s`` is an accepted dtype string (see :data:`PAYLOAD_DTYPES`)."""
    return isinstance(s, str) and s in PAYLOAD_DTYPES


def payload_for_dtype(
    dtype: str,
    nonfinite: str = "keep",
    value_range: tuple[float, float] | None = None,
) -> FloatPayload | QuantizedPayload:
    """The serialiser of a tensor stream from its dtype string.

    Args:
        dtype: ``"float16" | "float32" | "float64"`` -> :class:`FloatPayload`;
            ``"uint<N>"`` with N in 1..32 (e.g. ``"uint8"``) -> :class:`QuantizedPayload`.
        nonfinite: the float decoder's policy (``keep | zero | clamp``); ignored by
            quantised dtypes (their decoded values are always finite).
        value_range: float dtypes: the clamp range (required by ``nonfinite='clamp'``);
            ``uint<N>``: the fixed quantiser range, or ``None`` to send each sample's
            range as a 64-bit header.

    Raises:
        ValueError: unknown dtype (the accepted forms are listed) or bad arguments.
    """
    if isinstance(dtype, str) and dtype in _FLOATS:
        return FloatPayload(dtype, nonfinite=nonfinite, clamp_range=value_range)
    m = _UINT_RE.fullmatch(dtype) if isinstance(dtype, str) else None
    if m and 1 <= int(m.group(1)) <= 32:
        if nonfinite not in _NONFINITE_POLICIES:
            raise ValueError(
                f"nonfinite must be one of {list(_NONFINITE_POLICIES)}, received {nonfinite!r}"
            )
        return QuantizedPayload(int(m.group(1)), value_range=value_range)
    raise ValueError(
        f"dtype must be 'float16', 'float32', 'float64' or 'uint<N>' with N in 1..32 "
        f"(e.g. 'uint8'), received {dtype!r}"
    )
