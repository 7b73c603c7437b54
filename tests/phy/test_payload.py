"""Tests of linksim.phy.payload: round trips, bit layout, error policies."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from linksim.phy.payload import (
    PAYLOAD_DTYPES,
    BytesPayload,
    DecodedFloats,
    FloatPayload,
    IndexPayload,
    QuantizedPayload,
    TextPayload,
    is_valid_dtype,
    payload_for_dtype,
    valid_dtypes,
)

FAST = settings(max_examples=40, deadline=None)

# dtype name -> (NumPy unsigned view, NumPy big-endian float, width)
FLOAT_INFO = {
    "float16": (np.uint16, ">f2", 16),
    "float32": (np.uint32, ">f4", 32),
    "float64": (np.uint64, ">f8", 64),
}
DEVICES = ["cpu"] + (["cuda"] if torch.cuda.is_available() else [])


def _random_bits(seed: int, batch: int, n: int, device: str = "cpu") -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    return torch.randint(0, 2, (batch, n), generator=g).to(device=device, dtype=torch.float32)


def _pattern_arrays(dtype: str):
    """Arbitrary bit patterns of a float dtype: NaN payloads, inf, subnormals, -0."""
    uint = FLOAT_INFO[dtype][0]
    return hnp.arrays(
        uint, hnp.array_shapes(min_dims=1, max_dims=4, min_side=0, max_side=5)
    ).map(lambda a: a.view(np.dtype(dtype)))


def _reference_bits(a: np.ndarray, dtype: str) -> np.ndarray:
    """Per row: np.unpackbits of the big-endian bytes of the values in C order."""
    big = np.ascontiguousarray(a, dtype=FLOAT_INFO[dtype][1])
    big = big.reshape(a.shape[0], math.prod(a.shape[1:]))
    return np.unpackbits(big.view(np.uint8), axis=1).astype(np.float32)


# --------------------------------------------------------------------------- #
# FloatPayload
# --------------------------------------------------------------------------- #


@pytest.mark.parametrize("dtype", list(FLOAT_INFO))
@FAST
@given(data=st.data())
def test_float_layout_and_round_trip_bit_exact(dtype, data):
    a = data.draw(_pattern_arrays(dtype))
    p = FloatPayload(dtype)
    x = torch.from_numpy(a.copy())
    bits = p.to_bits(x)
    per_sample = tuple(a.shape[1:])
    assert bits.dtype == torch.float32
    assert bits.shape == (a.shape[0], p.num_bits(per_sample))
    np.testing.assert_array_equal(bits.numpy(), _reference_bits(a, dtype))

    dec = p.from_bits(bits, per_sample)
    assert dec.values.dtype == getattr(torch, dtype)
    assert dec.values.shape == x.shape
    uint = FLOAT_INFO[dtype][0]
    # Compare bit patterns (NaN payloads, signed zeros, subnormals), not values.
    np.testing.assert_array_equal(dec.values.numpy().view(uint), a.view(uint))
    expected_nonfinite = (~np.isfinite(a)).reshape(a.shape[0], math.prod(a.shape[1:])).sum(axis=1)
    np.testing.assert_array_equal(dec.nonfinite.numpy(), expected_nonfinite)
    assert dec.nonfinite.dtype == torch.int64


@pytest.mark.parametrize("dtype", list(FLOAT_INFO))
def test_float_special_values(dtype):
    tdt = getattr(torch, dtype)
    tiny_sub = float(torch.finfo(tdt).smallest_normal) / 4  # a subnormal
    x = torch.tensor(
        [[0.0, -0.0, math.inf, -math.inf, math.nan, tiny_sub, -tiny_sub, 1.0, -1.5]], dtype=tdt
    )
    p = FloatPayload(dtype)
    bits = p.to_bits(x)
    np.testing.assert_array_equal(bits.numpy(), _reference_bits(x.numpy(), dtype))
    dec = p.from_bits(bits, (9,))
    uint = FLOAT_INFO[dtype][0]
    np.testing.assert_array_equal(dec.values.numpy().view(uint), x.numpy().view(uint))
    assert dec.nonfinite.tolist() == [3]


def test_float32_hand_written_one():
    bits = FloatPayload("float32").to_bits(torch.tensor([[1.0]]))
    expected = [int(c) for c in f"{0x3F800000:032b}"]  # 0 01111111 000...0
    assert bits[0].tolist() == expected
    assert bits.dtype == torch.float32


def test_float_elements_in_c_order_and_cast():
    x = torch.tensor([[[1.0, 2.0], [3.0, 4.0]]], dtype=torch.float64)  # [1, 2, 2]
    p = FloatPayload("float16")
    bits = p.to_bits(x)  # cast to float16 first
    assert bits.shape == (1, 4 * 16)
    ref = _reference_bits(x.numpy().astype(np.float16), "float16")
    np.testing.assert_array_equal(bits.numpy(), ref)
    dec = p.from_bits(bits, (2, 2))
    assert dec.values.dtype == torch.float16
    assert torch.equal(dec.values.double(), x)


def test_float_non_contiguous_input_and_1d():
    x = torch.arange(12, dtype=torch.float32).reshape(3, 4).t()  # non-contiguous [4, 3]
    p = FloatPayload("float32")
    np.testing.assert_array_equal(p.to_bits(x).numpy(), _reference_bits(x.numpy(), "float32"))
    # a [B] tensor is B scalars
    y = torch.tensor([1.0, -2.0])
    dec = p.from_bits(p.to_bits(y), ())
    assert torch.equal(dec.values, y)


def _flip(bits: torch.Tensor, positions: list[int]) -> torch.Tensor:
    out = bits.clone()
    out[:, positions] = 1.0 - out[:, positions]
    return out


def test_float_nonfinite_policies_after_exponent_flips():
    # per sample: [1.0, 0.5, -1.0, 3.0]; flip exponent MSB (bit 1 of each element)
    x = torch.tensor([[1.0, 0.5, -1.0, 3.0]])
    base = FloatPayload("float32").to_bits(x)
    # 1.0 (0x3F800000) -> +inf; 0.5 (0x3F000000) -> 1.7e38; -1.0 -> -inf
    flipped = _flip(base, [1, 32 + 1, 64 + 1])
    # make element 3 NaN: all exponent bits 1 and a mantissa bit set
    nan_bits = [int(c) for c in f"{0x7FC00001:032b}"]
    flipped[0, 96:128] = torch.tensor(nan_bits, dtype=torch.float32)

    keep = FloatPayload("float32").from_bits(flipped, (4,))
    assert keep.nonfinite.tolist() == [3]
    v = keep.values[0]
    assert v[0] == math.inf and v[1] > 1e38 and v[2] == -math.inf and torch.isnan(v[3])

    zero = FloatPayload("float32", nonfinite="zero").from_bits(flipped, (4,))
    assert zero.nonfinite.tolist() == [3]
    assert zero.values[0].tolist() == [0.0, float(v[1]), 0.0, 0.0]

    clamp = FloatPayload("float32", "clamp", clamp_range=(-2.0, 2.0)).from_bits(flipped, (4,))
    assert clamp.nonfinite.tolist() == [3]
    assert clamp.values[0].tolist() == [2.0, 2.0, -2.0, 0.0]

    # NaN -> 0 clipped into a range that excludes 0
    pos = FloatPayload("float32", "clamp", clamp_range=(1.0, 5.0)).from_bits(flipped, (4,))
    assert pos.values[0].tolist() == [5.0, 5.0, 1.0, 1.0]


def test_float16_clamp_range_beyond_dtype():
    p = FloatPayload("float16", "clamp", clamp_range=(-1e6, 1e6))
    x = torch.tensor([[math.inf, -math.inf, math.nan, 3.0]], dtype=torch.float16)
    dec = p.from_bits(p.to_bits(x), (4,))
    fmax = float(torch.finfo(torch.float16).max)
    assert dec.values[0].tolist() == [fmax, -fmax, 0.0, 3.0]
    assert dec.nonfinite.tolist() == [3]


@pytest.mark.parametrize("dtype", list(FLOAT_INFO))
@pytest.mark.parametrize("policy", ["keep", "zero", "clamp"])
def test_float_random_bits_never_raise(dtype, policy):
    p = FloatPayload(dtype, policy, clamp_range=(-10.0, 10.0))
    bits = _random_bits(0, 16, p.num_bits((3, 5)))
    dec = p.from_bits(bits, (3, 5))
    assert dec.values.shape == (16, 3, 5)
    assert dec.nonfinite.shape == (16,)
    if policy != "keep":
        assert torch.isfinite(dec.values).all()
    if policy == "clamp":
        assert (dec.values.abs() <= 10).all()


def test_float_from_bits_accepts_soft_and_bool_bits():
    x = torch.tensor([[1.0, -3.25]])
    p = FloatPayload("float32")
    bits = p.to_bits(x)
    assert torch.equal(p.from_bits(bits.bool(), (2,)).values, x)
    assert torch.equal(p.from_bits(bits.to(torch.int8), (2,)).values, x)
    soft = bits * 0.8 + 0.1  # 0 -> 0.1, 1 -> 0.9
    assert torch.equal(p.from_bits(soft.double(), (2,)).values, x)


def test_float_errors():
    with pytest.raises(ValueError, match="dtype"):
        FloatPayload("bfloat16")
    with pytest.raises(ValueError, match="nonfinite"):
        FloatPayload("float32", nonfinite="drop")
    with pytest.raises(ValueError, match="clamp_range"):
        FloatPayload("float32", nonfinite="clamp")
    with pytest.raises(ValueError, match="clamp_range"):
        FloatPayload("float32", nonfinite="clamp", clamp_range=(1.0, -1.0))
    p = FloatPayload("float32")
    with pytest.raises(ValueError, match=r"expected 64 .*received 63"):
        p.from_bits(torch.zeros(2, 63), (2,))
    with pytest.raises(ValueError, match="bits"):
        p.from_bits(torch.zeros(64), (2,))
    with pytest.raises(ValueError, match="shape"):
        p.from_bits(torch.zeros(1, 64), (2.0,))
    with pytest.raises(ValueError, match="x"):
        p.to_bits(torch.tensor(1.0))
    with pytest.raises(ValueError, match="x"):
        p.to_bits(torch.zeros(2, 2, dtype=torch.complex64))


def test_float_empty_batch_and_empty_shape():
    p = FloatPayload("float64")
    bits = p.to_bits(torch.zeros(0, 3))
    assert bits.shape == (0, 192)
    assert p.from_bits(bits, (3,)).values.shape == (0, 3)
    bits = p.to_bits(torch.zeros(2, 0))
    assert bits.shape == (2, 0)
    assert p.from_bits(bits, (0,)).nonfinite.tolist() == [0, 0]


def test_float_accepts_numpy():
    a = np.array([[1.0, 2.0]], dtype=np.float32)
    np.testing.assert_array_equal(
        FloatPayload("float32").to_bits(a).numpy(), _reference_bits(a, "float32")
    )


# --------------------------------------------------------------------------- #
# QuantizedPayload
# --------------------------------------------------------------------------- #

finite32 = st.floats(width=32, allow_nan=False, allow_infinity=False)


def _check_quantiser_error(x: torch.Tensor, dec: torch.Tensor, lo, hi, n: int) -> None:
    x64, d64 = x.double(), dec.double()
    lo64 = torch.as_tensor(lo, dtype=torch.float64)
    hi64 = torch.as_tensor(hi, dtype=torch.float64)
    step = (hi64 - lo64) / (2**n - 1)
    # half a step, plus the float32 rounding of the decoded value
    tol = step / 2 * (1 + 1e-9) + torch.maximum(lo64.abs(), hi64.abs()) * 2.0**-24
    assert ((x64 - d64).abs() <= tol).all(), ((x64 - d64).abs() - tol).max()


@FAST
@given(
    n=st.integers(1, 32),
    a=hnp.arrays(np.float32, st.tuples(st.integers(1, 4), st.integers(1, 6)), elements=finite32),
)
def test_quantised_side_info_error_at_most_half_step(n, a):
    p = QuantizedPayload(n)
    x = torch.from_numpy(a)
    bits = p.to_bits(x)
    assert bits.shape == (a.shape[0], 64 + a.shape[1] * n) == (a.shape[0], p.num_bits(a.shape[1]))
    # the header: float32 min then max, IEEE bit layout
    header = np.stack([a.min(axis=1), a.max(axis=1)], axis=1)
    sent = FloatPayload("float32").from_bits(bits[:, :64], (2,)).values.numpy()
    np.testing.assert_array_equal(sent, header)  # == : min(-0, 0) may be either zero
    dec = p.from_bits(bits, (a.shape[1],))
    assert dec.values.dtype == torch.float32
    assert dec.nonfinite.tolist() == [0] * a.shape[0]
    lo = x.amin(dim=1, keepdim=True)
    hi = x.amax(dim=1, keepdim=True)
    _check_quantiser_error(x, dec.values, lo, hi, n)
    assert (dec.values >= lo).all() and (dec.values <= hi).all()


@FAST
@given(n=st.integers(1, 32), data=st.data())
def test_quantised_fixed_range_error_at_most_half_step(n, data):
    lo = data.draw(st.floats(-1e6, 1e6, width=32))
    hi = float(np.float32(lo + data.draw(st.floats(1e-3, 1e6))))
    if hi <= lo:
        hi = float(np.nextafter(np.float32(lo), np.float32(np.inf)))
    a = data.draw(hnp.arrays(np.float32, (3, 5), elements=st.floats(lo, hi, width=32)))
    a = np.clip(a, lo, hi)  # float32 rounding of the bounds
    p = QuantizedPayload(n, value_range=(lo, hi))
    x = torch.from_numpy(a)
    bits = p.to_bits(x)
    assert bits.shape == (3, 5 * n) == (3, p.num_bits((5,)))
    dec = p.from_bits(bits, (5,))
    _check_quantiser_error(x.clamp(lo, hi), dec.values, lo, hi, n)


def test_quantised_levels_msb_first():
    p = QuantizedPayload(3, value_range=(0.0, 7.0))
    bits = p.to_bits(torch.tensor([[0.0, 1.0, 6.0, 7.0, 9.0, -1.0]]))
    assert bits[0].tolist() == [0, 0, 0, 0, 0, 1, 1, 1, 0, 1, 1, 1, 1, 1, 1, 0, 0, 0]


def test_quantised_constant_input_and_nonfinite_input():
    p = QuantizedPayload(8)
    x = torch.full((2, 3, 3), 2.5)
    dec = p.from_bits(p.to_bits(x), (3, 3))
    assert torch.equal(dec.values, x)
    # +inf -> top, -inf and NaN -> bottom; the range comes from the finite values
    y = torch.tensor([[1.0, 3.0, math.inf, -math.inf, math.nan], [math.nan] * 5])
    dec = p.from_bits(p.to_bits(y), (5,))
    assert dec.values[0].tolist() == [1.0, 3.0, 3.0, 1.0, 1.0]
    assert dec.values[1].tolist() == [0.0] * 5
    assert torch.isfinite(dec.values).all()


def test_quantised_corrupted_header():
    p = QuantizedPayload(4)
    x = torch.tensor([[0.0, 1.0, 2.0], [0.0, 1.0, 2.0], [0.0, 1.0, 2.0], [0.0, 1.0, 2.0]])
    bits = p.to_bits(x)
    bits[0, 32:41] = 1.0  # hi: exponent all ones -> inf / NaN
    bits[1, 0] = 1.0 - bits[1, 0]  # lo = -0.0: still valid (-0 <= 2)
    bits[2, 32] = 1.0  # hi = -2 < lo = 0: reversed
    bits[3, 33] = 1.0 - bits[3, 33]  # hi 2.0 -> 0.0 ... flip exponent MSB
    dec = p.from_bits(bits, (3,))
    assert dec.nonfinite.tolist() == [3, 0, 3, 0]
    assert dec.values[0].tolist() == [0.0, 0.0, 0.0]
    assert dec.values[2].tolist() == [0.0, 0.0, 0.0]
    assert torch.allclose(dec.values[1], x[1], atol=0.07)
    assert torch.isfinite(dec.values).all()


@pytest.mark.parametrize("value_range", [None, (-1.0, 1.0)])
@pytest.mark.parametrize("n", [1, 7, 32])
def test_quantised_random_bits_never_raise(n, value_range):
    p = QuantizedPayload(n, value_range)
    dec = p.from_bits(_random_bits(n, 32, p.num_bits((4, 2))), (4, 2))
    assert dec.values.shape == (32, 4, 2)
    assert torch.isfinite(dec.values).all()
    if value_range is not None:
        assert (dec.values.abs() <= 1).all()


def test_quantised_errors():
    for bad in (0, 33, 2.0, True):
        with pytest.raises(ValueError, match="bits"):
            QuantizedPayload(bad)
    with pytest.raises(ValueError, match="value_range"):
        QuantizedPayload(8, value_range=(1.0, 1.0))
    with pytest.raises(ValueError, match="value_range"):
        QuantizedPayload(8, value_range=(0.0, math.inf))
    p = QuantizedPayload(8)
    with pytest.raises(ValueError, match=r"expected 88 .*received 80"):
        p.from_bits(torch.zeros(1, 80), (3,))


# --------------------------------------------------------------------------- #
# IndexPayload
# --------------------------------------------------------------------------- #


@pytest.mark.parametrize(
    "k,width", [(1, 1), (2, 1), (3, 2), (4, 2), (5, 3), (256, 8), (257, 9), (1024, 10)]
)
def test_index_width(k, width):
    p = IndexPayload(k)
    assert p.width == width
    assert p.num_bits((2, 3)) == 6 * width


@FAST
@given(k=st.integers(1, 2**40), data=st.data())
def test_index_round_trip(k, data):
    p = IndexPayload(k)
    shape = data.draw(st.tuples(st.integers(0, 3), st.integers(0, 4), st.integers(1, 3)))
    a = data.draw(hnp.arrays(np.int64, shape, elements=st.integers(0, k - 1)))
    idx = torch.from_numpy(a)
    bits = p.to_bits(idx)
    assert bits.shape == (shape[0], p.num_bits(shape[1:]))
    # layout: each index as `width` bits, MSB first
    ref = [[int(c) for v in row.ravel() for c in format(int(v), f"0{p.width}b")] for row in a]
    assert bits.tolist() == [list(map(float, r)) for r in ref] or shape[0] == 0
    dec = p.from_bits(bits, shape[1:])
    assert dec.values.dtype == torch.int64
    assert torch.equal(dec.values, idx)
    assert dec.out_of_range.tolist() == [0] * shape[0]


@pytest.mark.parametrize("k", [1, 2, 5, 1000, 2**20])
def test_index_random_bits_out_of_range(k):
    p = IndexPayload(k)
    bits = _random_bits(k, 64, p.num_bits((7,)))
    dec = p.from_bits(bits, (7,))
    raw = bits.reshape(64, 7, p.width).long()
    raw_idx = (raw * (2 ** torch.arange(p.width - 1, -1, -1))).sum(-1)
    assert dec.out_of_range.tolist() == (raw_idx >= k).sum(1).tolist()
    assert torch.equal(dec.values, raw_idx.clamp(max=k - 1))
    assert dec.values.min() >= 0 and dec.values.max() < k


def test_index_errors():
    for bad in (0, -3, 2.5, True):
        with pytest.raises(ValueError, match="num_symbols"):
            IndexPayload(bad)
    p = IndexPayload(10)
    with pytest.raises(ValueError, match="idx"):
        p.to_bits(torch.tensor([[0, 10]]))
    with pytest.raises(ValueError, match="idx"):
        p.to_bits(torch.tensor([[-1, 3]]))
    with pytest.raises(ValueError, match="idx"):
        p.to_bits(torch.tensor([[1.0, 3.0]]))
    with pytest.raises(ValueError, match=r"expected 8 .*received 9"):
        p.from_bits(torch.zeros(1, 9), (2,))


# --------------------------------------------------------------------------- #
# TextPayload
# --------------------------------------------------------------------------- #

ascii_clean = st.text(
    alphabet=st.sampled_from([chr(c) for c in range(0x20, 0x7F)] + ["\t", "\n", "\r"]),
    max_size=40,
)


def _ascii_expected(text: str, max_bytes: int) -> str:
    ok = {chr(c) for c in range(0x20, 0x7F)} | {"\t", "\n", "\r"}
    return "".join(c if c in ok else "?" for c in text)[:max_bytes]


@FAST
@given(texts=st.lists(ascii_clean, min_size=1, max_size=4), max_bytes=st.integers(1, 32))
def test_text_ascii_round_trip(texts, max_bytes):
    p = TextPayload("ascii", max_bytes)
    bits = p.to_bits(texts)
    assert bits.shape == (len(texts), 8 * max_bytes) and bits.dtype == torch.float32
    # layout: 8-bit ASCII, MSB first, NUL padded
    raw = texts[0].encode("ascii")[:max_bytes].ljust(max_bytes, b"\0")
    np.testing.assert_array_equal(bits[0].numpy(), np.unpackbits(np.frombuffer(raw, np.uint8)))
    dec = p.from_bits(bits)
    assert dec.texts == [t[:max_bytes] for t in texts]
    assert dec.replaced.tolist() == [0] * len(texts)


@FAST
@given(texts=st.lists(st.text(max_size=20), min_size=1, max_size=4), max_bytes=st.integers(1, 24))
def test_text_ascii_replaces_what_it_cannot_send(texts, max_bytes):
    p = TextPayload("ascii", max_bytes)
    dec = p.from_bits(p.to_bits(texts))
    assert dec.texts == [_ascii_expected(t, max_bytes) for t in texts]
    assert dec.replaced.tolist() == [0] * len(texts)


def _utf8_expected(text: str, max_bytes: int) -> str:
    out = ""
    for c in text:  # the longest prefix that fits
        if len((out + c).encode("utf-8")) > max_bytes:
            break
        out += c
    return out.rstrip("\x00")


@FAST
@given(texts=st.lists(st.text(max_size=20), min_size=1, max_size=4), max_bytes=st.integers(1, 40))
def test_text_utf8_round_trip_with_truncation(texts, max_bytes):
    p = TextPayload("utf-8", max_bytes)
    bits = p.to_bits(texts)
    assert bits.shape == (len(texts), 8 * max_bytes)
    dec = p.from_bits(bits)
    assert dec.texts == [_utf8_expected(t, max_bytes) for t in texts]
    assert dec.replaced.tolist() == [0] * len(texts)


def test_text_utf8_truncation_does_not_split():
    p = TextPayload("utf-8", 5)
    # "aé€" = 1 + 2 + 3 bytes; 5 bytes keep "aé"
    assert p.from_bits(p.to_bits(["aé€"])).texts == ["aé"]
    assert p.encode_bytes("€€") == "€".encode()
    assert p.from_bits(p.to_bits(["\ufffd"])).replaced.tolist() == [0]


def test_text_ascii_decoder_replaces_and_counts():
    p = TextPayload("ascii", 6)
    raw = np.array([[ord("a"), 0x01, 0xC3, 0, ord("b"), 0], [0, 0, 0, 0, 0, 0]], np.uint8)
    bits = torch.from_numpy(np.unpackbits(raw, axis=1).astype(np.float32))
    dec = p.from_bits(bits)
    # an embedded NUL is not padding: replaced; the trailing one is stripped
    assert dec.texts == ["a???b", ""]
    assert dec.replaced.tolist() == [3, 0]


def test_text_utf8_decoder_counts_replacements():
    p = TextPayload("utf-8", 6)
    raw = np.array([[ord("a"), 0xC3, ord("b"), 0xFF, 0xFE, 0]], np.uint8)
    bits = torch.from_numpy(np.unpackbits(raw, axis=1).astype(np.float32))
    dec = p.from_bits(bits)
    assert dec.texts == ["a\ufffdb\ufffd\ufffd"]
    assert dec.replaced.tolist() == [3]


@pytest.mark.parametrize("encoding", ["ascii", "utf-8"])
def test_text_random_bits_never_raise(encoding):
    p = TextPayload(encoding, 17)
    bits = _random_bits(3, 64, p.num_bits())
    dec = p.from_bits(bits)
    assert len(dec.texts) == 64 and dec.replaced.shape == (64,)
    assert all(len(t.encode("utf-8", "surrogatepass")) <= 17 * 3 for t in dec.texts)
    if encoding == "ascii":
        assert all(len(t) <= 17 and t.isascii() for t in dec.texts)
        assert int(dec.replaced.sum()) > 0


def test_text_errors():
    with pytest.raises(ValueError, match="encoding"):
        TextPayload("latin-1", 8)
    with pytest.raises(ValueError, match="max_bytes"):
        TextPayload("ascii", 0)
    p = TextPayload("ascii", 4)
    with pytest.raises(ValueError, match="texts"):
        p.to_bits("abc")
    with pytest.raises(ValueError, match="texts"):
        p.to_bits([b"abc"])
    with pytest.raises(ValueError, match=r"expected 32 .*received 31"):
        p.from_bits(torch.zeros(1, 31))


def test_text_empty_batch():
    p = TextPayload("utf-8", 4)
    bits = p.to_bits([])
    assert bits.shape == (0, 32)
    dec = p.from_bits(bits)
    assert dec.texts == [] and dec.replaced.shape == (0,)


# --------------------------------------------------------------------------- #
# BytesPayload
# --------------------------------------------------------------------------- #


@FAST
@given(blobs=st.lists(st.binary(max_size=64), min_size=0, max_size=5))
def test_bytes_round_trip(blobs):
    p = BytesPayload()
    bits, lengths = p.to_bits(blobs)
    max_len = max((len(b) for b in blobs), default=0)
    assert bits.shape == (len(blobs), 8 * max_len) and bits.dtype == torch.float32
    assert lengths.dtype == torch.int64
    assert lengths.tolist() == [8 * len(b) for b in blobs]
    for row, b in zip(bits, blobs):
        np.testing.assert_array_equal(
            row[: 8 * len(b)].numpy(), np.unpackbits(np.frombuffer(b, np.uint8))
        )
        assert not row[8 * len(b):].any()
    assert p.from_bits(bits, lengths) == blobs


def test_bytes_random_bits_and_errors():
    p = BytesPayload()
    bits = _random_bits(5, 3, 80)
    out = p.from_bits(bits, [80, 0, 16])
    assert [len(b) for b in out] == [10, 0, 2]
    with pytest.raises(ValueError, match="lengths_bits"):
        p.from_bits(bits, [81, 0, 16])
    with pytest.raises(ValueError, match="lengths_bits"):
        p.from_bits(bits, [88, 0, 16])
    with pytest.raises(ValueError, match="lengths_bits"):
        p.from_bits(bits, [8, 8])
    with pytest.raises(ValueError, match="bits"):
        p.from_bits(torch.zeros(1, 12), [8])
    with pytest.raises(ValueError, match="blobs"):
        p.to_bits(b"abc")
    with pytest.raises(ValueError, match="blobs"):
        p.to_bits(["abc"])


# --------------------------------------------------------------------------- #
# dtype strings
# --------------------------------------------------------------------------- #


def test_payload_for_dtype():
    for name in ("float16", "float32", "float64"):
        p = payload_for_dtype(name)
        assert isinstance(p, FloatPayload) and p.dtype == name
    p = payload_for_dtype("float32", nonfinite="clamp", value_range=(-1, 1))
    assert p.nonfinite == "clamp" and p.clamp_range == (-1.0, 1.0)
    q = payload_for_dtype("uint8")
    assert isinstance(q, QuantizedPayload) and q.bits == 8 and q.value_range is None
    q = payload_for_dtype("uint32", value_range=(0, 1))
    assert q.bits == 32 and q.value_range == (0.0, 1.0)
    assert payload_for_dtype("uint1").bits == 1
    for bad in ("uint0", "uint33", "uint08", "int8", "float8", "UINT8", "", None):
        with pytest.raises(ValueError, match="uint<N>"):
            payload_for_dtype(bad)


def test_valid_dtypes():
    assert valid_dtypes() == PAYLOAD_DTYPES
    assert len(PAYLOAD_DTYPES) == 35
    for s in PAYLOAD_DTYPES:
        assert is_valid_dtype(s)
        payload_for_dtype(s)
    for bad in ("uint0", "uint33", "bfloat16", 8, None, "float"):
        assert not is_valid_dtype(bad)


# --------------------------------------------------------------------------- #
# Devices
# --------------------------------------------------------------------------- #


@pytest.mark.parametrize("device", DEVICES)
def test_outputs_follow_the_input_device(device):
    x = torch.randn(2, 3, device=device)
    for p in (FloatPayload("float16"), QuantizedPayload(5), QuantizedPayload(5, (-1.0, 1.0))):
        bits = p.to_bits(x)
        assert bits.device.type == device and bits.dtype == torch.float32
        dec = p.from_bits(bits, (3,))
        assert isinstance(dec, DecodedFloats)
        assert dec.values.device.type == device and dec.nonfinite.device.type == device
    ip = IndexPayload(7)
    bits = ip.to_bits(torch.tensor([[1, 6]], device=device))
    assert bits.device.type == device
    assert ip.from_bits(bits, (2,)).values.device.type == device
    tp = TextPayload("ascii", 4)
    bits = tp.to_bits(["hi"], device=device)
    assert bits.device.type == device
    assert tp.from_bits(bits).replaced.device.type == device
    bits, lengths = BytesPayload().to_bits([b"\x01\x02"], device=device)
    assert bits.device.type == device and lengths.device.type == device
    assert BytesPayload().from_bits(bits, lengths) == [b"\x01\x02"]
