"""Tests of linksim.phy.fast_crc.FastCRC against Sionna's CRCEncoder / CRCDecoder."""

from __future__ import annotations


import numpy as np
import pytest
import torch

from sionna.phy.fec.crc import CRCDecoder, CRCEncoder

from torch_threads import torch_threads

from linksim.phy.fast_crc import FastCRC, FastCRC24B

POLYS = ["CRC24A", "CRC24B", "CRC24C", "CRC16", "CRC11", "CRC6"]
KS = [1, 7, 8, 13, 64, 101, 1704]




def _bits(shape, seed: int) -> torch.Tensor:
    rng = np.random.default_rng(seed)
    return torch.from_numpy(rng.integers(0, 2, shape).astype(np.float32))


@pytest.mark.parametrize("name", POLYS)
def test_encode_and_check_bit_exact_with_sionna(name):
    enc = CRCEncoder(name)
    dec = CRCDecoder(enc)
    fast = FastCRC(enc)
    assert fast.crc_length == enc.crc_length
    rng = np.random.default_rng(len(name))
    for k in KS:
        for shape in ((9, k), (2, 3, k)):
            u = _bits(shape, seed=k)
            with torch_threads(1):
                ref = enc(u)
            x = fast.encode(u)
            assert x.dtype == torch.float32 and x.shape == shape[:-1] + (k + fast.crc_length,)
            assert torch.equal(x, ref), (name, k)
            # corrupt about half of the words (1-3 random bit flips), compare the checks
            y = x.clone().reshape(-1, x.shape[-1])
            for r in range(0, y.shape[0], 2):
                for pos in rng.integers(0, y.shape[1], rng.integers(1, 4)):
                    y[r, pos] = 1 - y[r, pos]
            y = y.reshape(x.shape)
            with torch_threads(1):
                ref_bits, ref_ok = dec(y)
            bits, ok = fast.check(y)
            assert ok.dtype == torch.bool and ok.shape == shape[:-1]
            assert torch.equal(ok, ref_ok.squeeze(-1)), (name, k)
            assert bits.dtype == torch.float32 and torch.equal(bits, ref_bits)


def test_crc24b_single_bit_errors_are_flagged():
    fast = FastCRC24B()
    for k in (13, 100, 1704):
        x = fast.encode(_bits((1, k), seed=k))
        n = k + 24
        flips = x.repeat(n, 1)
        idx = torch.arange(n)
        flips[idx, idx] = 1 - flips[idx, idx]  # word i has bit i flipped
        payload, ok = fast.check(torch.cat([x, flips]))
        assert bool(ok[0]) and not ok[1:].any()
        assert torch.equal(payload[0], x[0, :k])


def test_numpy_paths_and_dtypes():
    fast = FastCRC24B()
    u = _bits((6, 333), seed=1)
    ref = fast.encode(u)
    for dt in (torch.float64, torch.uint8, torch.bool, torch.int64):
        assert torch.equal(fast.encode(u.to(dt)), ref), dt
        bits, ok = fast.check(ref.to(dt))
        assert ok.all() and torch.equal(bits, u)
    x8 = fast.encode_numpy(u.numpy().astype(np.uint8))
    assert x8.dtype == np.uint8
    np.testing.assert_array_equal(x8, ref.numpy())
    bits8, ok8 = fast.check_numpy(x8)
    assert ok8.dtype == np.bool_ and ok8.all() and bits8.dtype == np.uint8
    np.testing.assert_array_equal(bits8, u.numpy())
    assert fast.encode(torch.zeros(0, 40)).shape == (0, 64)
    bits0, ok0 = fast.check(torch.zeros(0, 64))
    assert bits0.shape == (0, 40) and ok0.shape == (0,)
    assert not fast.encode(torch.zeros(3, 40))[:, 40:].any()  # zero-initialised CRC


def test_errors():
    fast = FastCRC24B(k=100)
    with pytest.raises(ValueError, match="k=100"):
        fast.encode(torch.zeros(2, 101))
    with pytest.raises(ValueError, match="124"):
        fast.check(torch.zeros(2, 100))
    with pytest.raises(ValueError, match="only 0 and 1"):
        fast.encode(torch.full((2, 100), 0.5))
    with pytest.raises(ValueError, match="only 0 and 1"):
        fast.check(torch.full((2, 124), 3.0))
    with pytest.raises(ValueError):
        FastCRC24B().check(torch.zeros(2, 23))  # shorter than the CRC
    with pytest.raises(ValueError):
        FastCRC("CRC99")
    # a CRCEncoder built for a fixed k fixes k
    assert FastCRC(CRCEncoder("CRC24B", k=50)).k == 50


def test_out_buffer():
    fast = FastCRC24B()
    u = _bits((4, 2, 50), seed=3)
    buf = torch.full((4, 2, 74), 7.0)
    assert fast.encode(u, out=buf) is buf
    assert torch.equal(buf, fast.encode(u))
    with pytest.raises(ValueError, match="out must be"):
        fast.encode(u, out=torch.zeros(8, 74))
