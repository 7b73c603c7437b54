"""Tests of linksim.phy.fast_ldpc_encoder.FastLDPC5GEncoder against Sionna's LDPC5GEncoder.

Sionna's reference encodings run with one torch thread: on a loaded 2-core
machine torch's OpenMP pool otherwise oversubscribes the cores and slows down by
an order of magnitude.
"""

from __future__ import annotations

import warnings

import numba
import numpy as np
import pytest
import torch

from sionna.phy.fec.ldpc import LDPC5GEncoder

from torch_threads import torch_threads

from linksim.phy.fast_ldpc_encoder import FastLDPC5GEncoder, _circulant_blocks

# (k, n, num_bits_per_symbol): BG1 and BG2, many lifting sizes, with and without
# filler bits, without interleaver and with every specialised interleaver width
# (1, 2, 4, 6, 8) plus generic ones (3, 10), code rates 0.2 ... 0.95
CASES = [
    (12, 60, None),  # BG2, smallest k, Z=2, 8 filler bits, rate 0.2
    (40, 200, 2),  # BG2, Z=7, rate 0.2
    (100, 300, None),  # BG2, Z=18, 80 filler bits
    (200, 252, 4),  # BG2, Z=26, rate 0.79
    (308, 352, 4),  # BG1, Z=14, rate 0.875
    (500, 750, 3),  # BG2, generic interleaver width
    (640, 800, 8),  # BG1, rate 0.8
    (1000, 5000, 1),  # BG2 (rate <= 1/4), rate 0.2, trivial interleaver
    (1728, 3456, 4),  # BG2, Z=176, 32 filler bits (the link's code block)
    (1760, 3520, None),  # BG2, Z=176, no filler
    (3000, 3180, 6),  # BG1, rate 0.943 (> 948/1024: Sionna warns)
    (3840, 7680, 4),  # BG1, Z=176, 32 filler bits
    (4224, 8450, 10),  # BG1, Z=192, generic interleaver width
    (8448, 9000, 2),  # BG1, Z=384, no filler, rate 0.94
    (8448, 16896, None),  # BG1, Z=384, rate 1/2
]
IDS = [f"k{k}-n{n}-m{m}" for k, n, m in CASES]




_ENCODERS: dict = {}


def _encoders(k: int, n: int, m):
    """(Sionna encoder, fast encoder), built once per code for the whole module."""
    key = (k, n, m)
    if key not in _ENCODERS:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)  # rate > 948/1024
            enc = LDPC5GEncoder(k, n, num_bits_per_symbol=m)
        _ENCODERS[key] = (enc, FastLDPC5GEncoder(enc))
    return _ENCODERS[key]


def _bits(shape, seed: int) -> torch.Tensor:
    rng = np.random.default_rng(seed)
    return torch.from_numpy(rng.integers(0, 2, shape).astype(np.float32))


def _sionna(enc: LDPC5GEncoder, u: torch.Tensor) -> torch.Tensor:
    with torch_threads(1):
        return enc(u)


@pytest.mark.parametrize("k,n,m", CASES, ids=IDS)
def test_bit_exact_with_sionna(k, n, m):
    enc, fast = _encoders(k, n, m)
    batch = 12 if k <= 2000 else 4
    u = _bits((batch, k), seed=k + n)
    c = fast(u)
    assert c.shape == (batch, n) and c.dtype == torch.float32
    assert torch.equal(c, _sionna(enc, u))
    # [B, C, k] keeps the leading shape
    u3 = _bits((2, 3, k), seed=k + n + 1)
    c3 = fast(u3)
    assert c3.shape == (2, 3, n)
    assert torch.equal(c3, _sionna(enc, u3))
    # NumPy uint8 path
    c8 = fast.encode_numpy(u.numpy().astype(np.uint8))
    assert c8.dtype == np.uint8 and c8.shape == (batch, n)
    np.testing.assert_array_equal(c8, c.numpy().astype(np.uint8))


@pytest.mark.parametrize("k,n,m", CASES, ids=IDS)
def test_mother_codeword_satisfies_pcm(k, n, m):
    enc, fast = _encoders(k, n, m)
    u = _bits((6, k), seed=3 * k + n).numpy().astype(np.uint8)
    c = fast.mother_codeword_numpy(u)
    assert c.shape == (6, enc.n_ldpc)
    np.testing.assert_array_equal(c[:, :k], u)
    assert not c[:, k:enc.k_ldpc].any(), "filler bits are zero"
    syndrome = enc.pcm.astype(np.int64) @ c.T.astype(np.int64)
    assert not (syndrome % 2).any()


@pytest.mark.parametrize("k,n,m", [CASES[0], CASES[8], CASES[11], CASES[13]],
                         ids=[IDS[0], IDS[8], IDS[11], IDS[13]])
def test_zero_and_linearity(k, n, m):
    _, fast = _encoders(k, n, m)
    assert not fast(torch.zeros(3, k)).any()
    a = _bits((16, k), seed=11).numpy().astype(np.uint8)
    b = _bits((16, k), seed=12).numpy().astype(np.uint8)
    np.testing.assert_array_equal(fast.encode_numpy(a ^ b),
                                  fast.encode_numpy(a) ^ fast.encode_numpy(b))


def test_input_dtypes_and_empty_batch():
    k, n, m = 1728, 3456, 4
    _, fast = _encoders(k, n, m)
    u = _bits((5, k), seed=5)
    ref = fast(u)
    for dt in (torch.float64, torch.uint8, torch.bool, torch.int64, torch.int32, torch.float16):
        assert torch.equal(fast(u.to(dt)), ref), dt
    assert torch.equal(fast(u.t().contiguous().t()), ref)  # non-contiguous input
    np.testing.assert_array_equal(fast.encode_numpy(u.numpy().astype(bool)), ref.numpy().astype(np.uint8))
    assert fast(torch.zeros(0, k)).shape == (0, n)
    assert fast(torch.zeros(2, 0, k)).shape == (2, 0, n)


def test_errors():
    k, n, m = 1728, 3456, 4
    _, fast = _encoders(k, n, m)
    with pytest.raises(ValueError, match="k=1728"):
        fast(torch.zeros(2, k + 1))
    with pytest.raises(ValueError, match="k=1728"):
        fast.encode_numpy(np.zeros((2, k - 1), np.uint8))
    with pytest.raises(ValueError, match="only 0 and 1"):
        fast(torch.full((2, k), 0.5))
    with pytest.raises(ValueError, match="only 0 and 1"):
        fast(torch.full((2, k), 2, dtype=torch.uint8))
    with pytest.raises(ValueError, match="only 0 and 1"):
        fast(torch.full((2, k), 1 - 1e-12, dtype=torch.float64))
    with pytest.raises(ValueError, match="LDPC5GEncoder"):
        FastLDPC5GEncoder("not an encoder")


def test_only_transmitted_parity_blocks_are_computed():
    k, n, m = 1728, 3456, 4  # BG2, Z=176: 2Z + n + 32 filler bits = 3840 bits = 21.8 blocks
    enc, fast = _encoders(k, n, m)
    assert enc.n_ldpc // enc.z == 52
    assert fast.num_parity_blocks == 22 - 10  # 4 core + 8 of the 38 extension blocks
    _, fast_full = _encoders(1000, 5000, 1)  # rate 0.2 needs all 42 parity blocks but 1
    assert fast_full.num_parity_blocks >= 41


def test_threads_give_identical_results():
    _, fast = _encoders(1728, 3456, 4)
    u = _bits((37, 1728), seed=9).numpy().astype(np.uint8)
    old = numba.get_num_threads()
    try:
        numba.set_num_threads(1)
        one = fast.encode_numpy(u)
        numba.set_num_threads(numba.config.NUMBA_NUM_THREADS)
        many = fast.encode_numpy(u)
    finally:
        numba.set_num_threads(old)
    np.testing.assert_array_equal(one, many)


def test_circulant_decomposition_rejects_non_quasi_cyclic_tables():
    enc, _ = _encoders(200, 252, 4)
    z = enc.z
    ind = enc._pcm_a_ind.numpy().astype(np.int64).copy()
    blocks = _circulant_blocks(ind, 4 * z, enc.k_ldpc, z, "A")
    assert len(blocks) == int((enc._bm[:4, :enc.k_ldpc // z] >= 0).sum())
    ind[0, 0] = (ind[0, 0] + 1) % enc.k_ldpc  # move one edge: no longer circulant
    with pytest.raises(ValueError, match="circulant"):
        _circulant_blocks(ind, 4 * z, enc.k_ldpc, z, "A")


def test_out_buffer():
    k, n, m = 1728, 3456, 4
    _, fast = _encoders(k, n, m)
    u = _bits((2, 3, k), seed=21)
    buf = torch.full((2, 3, n), 7.0)
    res = fast(u, out=buf)
    assert res is buf
    assert torch.equal(buf, fast(u))
    for bad in (torch.zeros(6, n), torch.zeros(2, 3, n, dtype=torch.float64),
                torch.zeros(2, n, 3).transpose(1, 2)):
        with pytest.raises(ValueError, match="out must be"):
            fast(u, out=bad)
