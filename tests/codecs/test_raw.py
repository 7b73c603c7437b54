"""The ``raw`` codec: IEEE floats, n-bit quantisation and the analog path.

Digital streams are checked over a perfect link (the sent bits are the received
bits) and over hand-made bit errors in the exponent field, whose effect on an
IEEE-754 value is known exactly.
"""

from __future__ import annotations

import math

import pytest
import torch

from linksim.codecs import AnalogPayload, CodecContext, DigitalPayload, StreamOverride, codec_class

SHAPE = (1, 28, 28)
NUMEL = math.prod(SHAPE)

# dtype -> (torch dtype, same-width integer dtype, width, exponent bits)
FLOATS = {
    "float16": (torch.float16, torch.int16, 16, 5),
    "float32": (torch.float32, torch.int32, 32, 8),
    "float64": (torch.float64, torch.int64, 64, 11),
}


def _context(channel_uses=lambda stream, bits: 0) -> CodecContext:
    return CodecContext(device=torch.device("cpu"), sample_shape=SHAPE, channel_uses=channel_uses)


def make_raw(params: dict | None = None, **stream):
    """A ``raw`` codec with ``streams.data`` set to ``stream`` (a scenario override)."""
    cls = codec_class("raw")
    transports = cls.resolve_transports({"data": StreamOverride(**stream)} if stream else {})
    return cls(cls.Params(**(params or {})), transports, _context())


def images(batch: int = 4, seed: int = 0) -> torch.Tensor:
    """``[batch, 1, 28, 28]`` values in [0, 1]; the first four are 0.0, 0.3, 0.5, 0.1."""
    g = torch.Generator().manual_seed(seed)
    x = torch.rand(batch, *SHAPE, generator=g)
    x[:, 0, 0, :4] = torch.tensor([0.0, 0.3, 0.5, 0.1])
    return x


def set_exponent_all_ones(bits: torch.Tensor, dtype: str, elements: list[int]) -> torch.Tensor:
    """Bits with the whole exponent field of the given elements (every sample) set to 1.

    An all-ones exponent is +-inf (zero mantissa) or NaN (non-zero mantissa): always
    non-finite, whatever the value was.
    """
    _, _, width, exp_bits = FLOATS[dtype]
    out = bits.clone().reshape(bits.shape[0], NUMEL, width)
    for e in elements:
        out[:, e, 1 : 1 + exp_bits] = 1.0
    return out.reshape(bits.shape)


# --------------------------------------------------------------------------- #
# IEEE floats over a perfect link
# --------------------------------------------------------------------------- #


@pytest.mark.parametrize("dtype", list(FLOATS))
def test_float_round_trip_is_bit_exact(dtype):
    torch_dtype, int_dtype, width, _ = FLOATS[dtype]
    codec = make_raw(dtype=dtype)
    x = images()
    msg = codec.encode(x)
    payload = msg["data"]
    assert isinstance(payload, DigitalPayload)
    assert payload.bits.shape == (x.shape[0], NUMEL * width)
    assert payload.bits.dtype == torch.float32
    assert set(payload.bits.unique().tolist()) <= {0.0, 1.0}

    rec = codec.decode({"data": payload.bits}, msg)
    assert rec.x_hat.shape == x.shape
    # what was sent is x rounded to the dtype: compare the bit patterns of that
    sent = x.to(torch_dtype).view(int_dtype)
    got = rec.x_hat.to(torch_dtype).view(int_dtype)
    assert torch.equal(got, sent)
    events, trials = rec.rates["nonfinite_rate"]
    assert events.tolist() == [0] * x.shape[0]
    assert trials.tolist() == [NUMEL] * x.shape[0]


def test_float32_is_the_default_dtype_and_lossless():
    codec = make_raw()
    x = images()
    msg = codec.encode(x)
    rec = codec.decode({"data": msg["data"].bits}, msg)
    assert torch.equal(rec.x_hat.view(torch.int32), x.view(torch.int32))


def test_float32_bit_layout_is_ieee_msb_first():
    codec = make_raw(dtype="float32")
    x = torch.zeros(1, *SHAPE)
    x[0, 0, 0, 0] = 1.0  # 0x3F800000 = 0 01111111 000...0
    bits = codec.encode(x)["data"].bits
    first = bits[0, :32].to(torch.int64).tolist()
    assert first == [0] + [0] + [1] * 7 + [0] * 23
    assert bits[0, 32:].sum() == 0


# --------------------------------------------------------------------------- #
# Non-finite values after exponent errors, and the nonfinite policies
# --------------------------------------------------------------------------- #

BAD = [0, 1, 2, 5, 100, 783]  # element 0 is 0.0 (-> +inf), element 1 is 0.3 (-> NaN)


@pytest.mark.parametrize("dtype", list(FLOATS))
def test_exponent_errors_make_nonfinite_values_and_are_counted(dtype):
    codec = make_raw(dtype=dtype, nonfinite="keep")
    x = images()
    msg = codec.encode(x)
    rx = set_exponent_all_ones(msg["data"].bits, dtype, BAD)
    rx[1] = msg["data"].bits[1]  # sample 1 arrives intact
    rec = codec.decode({"data": rx}, msg)
    flat = rec.x_hat.flatten(1)
    bad = ~torch.isfinite(flat)
    assert bad.sum(1).tolist() == [len(BAD), 0, len(BAD), len(BAD)]
    assert torch.isposinf(flat[0, 0])  # 0.0 with an all-ones exponent is +inf
    assert torch.isnan(flat[0, 1])
    events, trials = rec.rates["nonfinite_rate"]
    assert events.tolist() == [len(BAD), 0, len(BAD), len(BAD)]
    assert trials.tolist() == [NUMEL] * 4
    # the untouched elements are still bit-exact
    keep = torch.ones(NUMEL, dtype=torch.bool)
    keep[BAD] = False
    torch_dtype = FLOATS[dtype][0]
    assert torch.equal(rec.x_hat.flatten(1)[:, keep], x.to(torch_dtype).to(torch.float32).flatten(1)[:, keep])


def _damaged(dtype: str, nonfinite: str, value_range=(0.0, 1.0)):
    codec = make_raw({"value_range": value_range}, dtype=dtype, nonfinite=nonfinite)
    x = images()
    msg = codec.encode(x)
    bits = msg["data"].bits.clone().reshape(x.shape[0], NUMEL, FLOATS[dtype][2])
    # element 3: flip the top exponent bit of 0.1 -> a huge *finite* value (> 6000 even in float16)
    bits[:, 3, 1] = 1.0 - bits[:, 3, 1]
    rx = set_exponent_all_ones(bits.reshape(x.shape[0], -1), dtype, [0, 1])  # 0.0 -> +inf, 0.3 -> NaN
    # element 2 (0.5) becomes -0.5 (sign flip): finite, outside [0.25, 0.75]
    rx = rx.reshape(x.shape[0], NUMEL, -1)
    rx[:, 2, 0] = 1.0
    return codec, x, msg, rx.reshape(x.shape[0], -1)


@pytest.mark.parametrize("dtype", list(FLOATS))
def test_policy_zero_sets_nonfinite_values_to_zero(dtype):
    codec, x, msg, rx = _damaged(dtype, "zero")
    rec = codec.decode({"data": rx}, msg)
    flat = rec.x_hat.flatten(1)
    assert (flat[:, :2] == 0).all()
    assert (flat[:, 2] == -0.5).all()  # finite values are left alone
    if dtype == "float64":
        # 0.1 * 2**1024 is finite in float64 but overflows the float32 reconstruction:
        # non-finite to the receiver, so it is zeroed and counted
        assert (flat[:, 3] == 0).all()
        assert rec.rates["nonfinite_rate"][0].tolist() == [3] * x.shape[0]
    else:
        assert (flat[:, 3] > 1e3).all()  # huge but finite in the payload dtype: left alone
        assert rec.rates["nonfinite_rate"][0].tolist() == [2] * x.shape[0]
    assert torch.isfinite(flat).all()


@pytest.mark.parametrize(
    "dtype",
    [
        "float16",
        "float32",
        "float64",
    ],
)
def test_policy_zero_gives_a_finite_reconstruction(dtype):
    """With ``nonfinite: zero`` nothing non-finite may reach the metrics."""
    codec, x, msg, rx = _damaged(dtype, "zero")
    rec = codec.decode({"data": rx}, msg)
    assert torch.isfinite(rec.x_hat).all()


@pytest.mark.parametrize("dtype", list(FLOATS))
def test_policy_clamp_uses_value_range(dtype):
    lo, hi = 0.25, 0.75
    codec, x, msg, rx = _damaged(dtype, "clamp", (lo, hi))
    rec = codec.decode({"data": rx}, msg)
    flat = rec.x_hat.flatten(1)
    assert torch.isfinite(flat).all()
    assert flat.min() >= lo and flat.max() <= hi
    assert (flat[:, 0] == hi).all()  # +inf -> hi
    assert (flat[:, 1] == lo).all()  # NaN -> 0, clipped into [lo, hi]
    assert (flat[:, 2] == lo).all()  # -0.5 -> lo
    assert (flat[:, 3] == hi).all()  # huge finite -> hi
    expected = x.to(FLOATS[dtype][0]).to(torch.float32).clamp(lo, hi).flatten(1)
    assert torch.equal(flat[:, 4:], expected[:, 4:])
    # counted before the policy: only the two non-finite values
    assert rec.rates["nonfinite_rate"][0].tolist() == [2] * x.shape[0]


@pytest.mark.parametrize("dtype", list(FLOATS))
def test_policy_keep_leaves_nonfinite_values(dtype):
    codec, x, msg, rx = _damaged(dtype, "keep")
    rec = codec.decode({"data": rx}, msg)
    flat = rec.x_hat.flatten(1)
    assert torch.isposinf(flat[:, 0]).all()
    assert torch.isnan(flat[:, 1]).all()
    assert (flat[:, 2] == -0.5).all()
    # float64: 0.1 * 2**1024 overflows the float32 reconstruction and is counted too
    expected = 3 if dtype == "float64" else 2
    assert rec.rates["nonfinite_rate"][0].tolist() == [expected] * x.shape[0]


def test_default_policy_is_keep():
    codec = make_raw()
    assert codec.transports["data"].nonfinite == "keep"


# --------------------------------------------------------------------------- #
# uint<N> quantisation
# --------------------------------------------------------------------------- #


@pytest.mark.parametrize("n_bits", [1, 3, 8, 12])
@pytest.mark.parametrize("value_range", [(0.0, 1.0), (-1.0, 2.0)])
def test_quantised_round_trip_within_half_a_step(n_bits, value_range):
    lo, hi = value_range
    codec = make_raw({"value_range": value_range}, dtype=f"uint{n_bits}")
    g = torch.Generator().manual_seed(1)
    x = lo + (hi - lo) * torch.rand(3, *SHAPE, generator=g)
    x[:, 0, 0, :2] = torch.tensor([lo, hi])
    msg = codec.encode(x)
    assert msg["data"].bits.shape == (3, NUMEL * n_bits)
    rec = codec.decode({"data": msg["data"].bits}, msg)
    assert rec.x_hat.dtype == torch.float32
    half_step = (hi - lo) / (2**n_bits - 1) / 2
    err = (rec.x_hat - x).abs().max().item()
    assert err <= half_step * (1 + 1e-5) + 1e-6
    # the range ends are levels: exact
    assert rec.x_hat[0, 0, 0, 0].item() == pytest.approx(lo, abs=1e-6)
    assert rec.x_hat[0, 0, 0, 1].item() == pytest.approx(hi, abs=1e-6)
    # a fixed-range quantiser always decodes finite values: no nonfinite_rate
    assert "nonfinite_rate" not in rec.rates
    assert torch.isfinite(rec.x_hat).all()


def test_quantised_values_outside_the_range_are_clipped():
    codec = make_raw(dtype="uint8")
    x = images()
    x[:, 0, 0, 0] = 3.0
    x[:, 0, 0, 1] = -2.0
    msg = codec.encode(x)
    rec = codec.decode({"data": msg["data"].bits}, msg)
    assert rec.x_hat[:, 0, 0, 0].tolist() == [1.0] * 4
    assert rec.x_hat[:, 0, 0, 1].tolist() == [0.0] * 4


def test_quantised_random_bits_still_decode_inside_the_range():
    codec = make_raw({"value_range": (-1.0, 1.0)}, dtype="uint8")
    x = images()
    msg = codec.encode(x)
    g = torch.Generator().manual_seed(3)
    rx = torch.randint(0, 2, msg["data"].bits.shape, generator=g).float()
    rec = codec.decode({"data": rx}, msg)
    assert rec.x_hat.min() >= -1.0 and rec.x_hat.max() <= 1.0


# --------------------------------------------------------------------------- #
# Analog path
# --------------------------------------------------------------------------- #


@pytest.mark.parametrize("value_range", [(0.0, 1.0), (-2.0, 4.0)])
def test_analog_sends_values_minus_midpoint_and_adds_it_back(value_range):
    mid = 0.5 * (value_range[0] + value_range[1])
    codec = make_raw({"value_range": value_range}, path="analog")
    x = images()
    msg = codec.encode(x)
    payload = msg["data"]
    assert isinstance(payload, AnalogPayload)
    assert payload.values.shape == x.shape
    assert torch.allclose(payload.values, x - mid)
    received = payload.values + 0.125  # what a noisy link might deliver
    rec = codec.decode({"data": received}, msg)
    assert torch.allclose(rec.x_hat, received + mid)
    # nothing non-finite arrived: the analog path counts it like the digital one (none here)
    assert list(rec.rates) == ["nonfinite_rate"] and rec.rates["nonfinite_rate"][0].tolist() == [0] * x.shape[0]
    assert codec.payload_bits() == {}


def test_analog_path_is_differentiable():
    codec = make_raw(path="analog")
    x = images().requires_grad_(True)
    msg = codec.encode(x)
    rec = codec.decode({"data": msg["data"].values * 2.0}, msg)
    rec.x_hat.sum().backward()
    assert x.grad is not None
    assert torch.allclose(x.grad, torch.full_like(x, 2.0))


# --------------------------------------------------------------------------- #
# payload_bits and transports
# --------------------------------------------------------------------------- #


@pytest.mark.parametrize(
    "stream, bits",
    [
        ({}, NUMEL * 32),
        ({"dtype": "float16"}, NUMEL * 16),
        ({"dtype": "float32"}, NUMEL * 32),
        ({"dtype": "float64"}, NUMEL * 64),
        ({"dtype": "uint8"}, NUMEL * 8),
        ({"dtype": "uint3"}, NUMEL * 3),
        ({"dtype": "uint1"}, NUMEL),
        ({"dtype": "uint32"}, NUMEL * 32),
    ],
)
def test_payload_bits(stream, bits):
    codec = make_raw(**stream)
    assert codec.payload_bits() == {"data": bits}
    assert codec.encode(images(2))["data"].bits.shape == (2, bits)


def test_payload_bits_match_quickstart_numbers():
    assert make_raw(dtype="float32").payload_bits() == {"data": 25088}


def test_transport_overrides_are_applied():
    cls = codec_class("raw")
    t = cls.resolve_transports(
        {"data": StreamOverride(modulation="qam64", code_rate=0.75, dtype="float16", ldpc_iterations=10, nonfinite="zero")}
    )["data"]
    assert (t.path, t.modulation, t.code_rate, t.dtype, t.ldpc_iterations, t.nonfinite) == (
        "digital", "qam64", 0.75, "float16", 10, "zero"
    )
    assert t.link_key() == ("digital", "qam64", 0.75, 10)
    assert cls.resolve_transports({"data": StreamOverride(path="analog")})["data"].link_key() == ("analog", "unbiased")


def test_resolve_transports_unknown_stream():
    with pytest.raises(ValueError, match=r"unknown stream.*bogus"):
        codec_class("raw").resolve_transports({"bogus": StreamOverride()})


def test_resolve_transports_analog_on_a_stream_that_cannot():
    for name in ("jpeg", "jpeg2000"):
        with pytest.raises(ValueError, match=r"'bytes' cannot take the analog path"):
            codec_class(name).resolve_transports({"bytes": StreamOverride(path="analog")})


def test_resolve_transports_dtype_on_a_bytes_stream():
    with pytest.raises(ValueError, match=r"'dtype' does not apply"):
        codec_class("jpeg").resolve_transports({"bytes": StreamOverride(dtype="float16")})


@pytest.mark.parametrize("field, value", [("code_rate", 0.0), ("code_rate", 1.5), ("code_rate", 0.1),
                                          ("dtype", "int8"), ("dtype", "uint33"), ("modulation", "qam1024"),
                                          ("nonfinite", "drop"), ("path", "optical")])
def test_stream_override_rejects_bad_values(field, value):
    with pytest.raises(ValueError):
        StreamOverride(**{field: value})


def test_raw_params_reject_bad_value_range():
    params = codec_class("raw").Params
    for bad in [(1.0, 0.0), (0.5, 0.5), (0.0, float("inf")), (float("nan"), 1.0)]:
        with pytest.raises(ValueError):
            params(value_range=bad)
    with pytest.raises(ValueError):
        params(bogus=1)


def _budget_codec(budget, path="digital", modulation="qpsk", rate=1.0):
    from linksim.codecs.base import CodecContext, Transport
    from linksim.codecs.raw import RawCodec, RawParams
    from linksim.phy.digital_link import plan_digital_payload

    def uses(stream, bits):
        return plan_digital_payload(bits, rate, 2, 3840, 864).channel_uses

    ctx = CodecContext(device=torch.device("cpu"), sample_shape=(1, 8, 8), channel_uses=uses, budget_channel_uses=budget)
    t = {"data": Transport(path=path, modulation=modulation, code_rate=rate, dtype="float32")}
    return RawCodec(RawParams(fit_budget=True), t, ctx)


@pytest.mark.parametrize("budget,bits", [(10_000, 16), (256, 8), (100, 3), (32, 1), (5, 1)])
def test_fit_budget_picks_the_most_bits_that_fit(budget, bits):
    # 64 values, uncoded QPSK: N bits per value need 32 N resource elements
    codec = _budget_codec(budget)
    assert codec.payload_bits() == {"data": 64 * bits}


def test_fit_budget_refuses_the_analog_path():
    with pytest.raises(ValueError, match="fit_budget"):
        _budget_codec(100, path="analog")


@pytest.mark.parametrize("policy", ["keep", "zero", "clamp"])
def test_analog_nonfinite_values_are_counted_and_follow_the_policy(policy):
    codec = make_raw({"value_range": (0.0, 1.0)}, path="analog", nonfinite=policy)
    x = images()
    msg = codec.encode(x)
    received = msg["data"].values.clone()
    received[:, 0, 0, :3] = torch.tensor([math.nan, math.inf, -math.inf])
    rec = codec.decode({"data": received}, msg)
    assert rec.rates["nonfinite_rate"][0].tolist() == [3] * x.shape[0]
    assert bool(torch.isfinite(rec.x_hat).all()) == (policy != "keep")
    with pytest.raises(ValueError, match="expected 784 analog values"):
        codec.decode({"data": received.flatten(1)[:, 1:]}, msg)
