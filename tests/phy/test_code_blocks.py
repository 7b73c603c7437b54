"""Tests of linksim.phy.code_blocks: segmentation of a payload into 5G LDPC code blocks."""

from __future__ import annotations

import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from linksim.phy.code_blocks import (
    CRC_BITS,
    MAX_CODE_RATE,
    MIN_CODE_RATE,
    check_code_rate,
    plan_code_blocks,
)

BITS_PER_SYMBOL = st.sampled_from([1, 2, 4, 6, 8])
PAYLOAD = st.integers(min_value=1, max_value=200_000)
CODED_RATE = st.one_of(
    st.sampled_from([MIN_CODE_RATE, 1 / 3, 0.5, 2 / 3, 0.75, 5 / 6, MAX_CODE_RATE]),
    st.floats(min_value=MIN_CODE_RATE, max_value=MAX_CODE_RATE, allow_nan=False),
)
MAX_BLOCK = st.integers(min_value=CRC_BITS + 13, max_value=8448)


def _check_cover(lay, payload_bits: int, max_payload_per_block: int) -> None:
    """The blocks cover the payload exactly once, in as few equal blocks as possible."""
    assert lay.payload_bits == payload_bits
    assert lay.num_blocks == math.ceil(payload_bits / max_payload_per_block)
    assert lay.num_blocks * lay.block_payload_bits >= payload_bits
    # equal blocks: the filler is shorter than one bit per block, and no block is empty
    assert lay.filler_bits == lay.num_blocks * lay.block_payload_bits - payload_bits
    assert 0 <= lay.filler_bits < lay.num_blocks
    assert (lay.num_blocks - 1) * lay.block_payload_bits < payload_bits
    assert lay.block_payload_bits <= max_payload_per_block


@settings(max_examples=300, deadline=None)
@given(payload=PAYLOAD, rate=CODED_RATE, m=BITS_PER_SYMBOL, max_block=MAX_BLOCK)
def test_coded_layout_properties(payload, rate, m, max_block):
    lay = plan_code_blocks(payload, rate, m, max_block)
    assert lay.coded and lay.crc_bits == CRC_BITS
    _check_cover(lay, payload, max_block - CRC_BITS)
    assert lay.k == lay.block_payload_bits + CRC_BITS
    assert lay.k <= max_block
    assert lay.n % m == 0, "every codeword fills whole QAM symbols"
    assert lay.coded_bits == lay.num_blocks * lay.n
    eff = lay.k / lay.n
    assert eff >= MIN_CODE_RATE
    # n is the smallest whole number of symbols with k/n <= rate ...
    n_target = m * math.ceil(lay.k / (rate * m))
    if lay.k / n_target >= MIN_CODE_RATE:
        assert lay.n == n_target
        assert eff <= rate * (1 + 1e-12)
        assert lay.k / (lay.n - m) > rate * (1 - 1e-12)  # one symbol less would exceed the rate
    else:
        # ... unless that falls below 5G's 1/5 floor (only possible for a rate close to
        # 1/5): then n is the largest whole number of symbols with k/n >= 1/5, and the
        # effective rate may exceed the requested one by less than one symbol's worth.
        assert lay.n == m * ((5 * lay.k) // m)
        assert lay.k / (lay.n + m) < MIN_CODE_RATE


@settings(max_examples=200, deadline=None)
@given(payload=PAYLOAD, rate=st.sampled_from([0.5, 0.75]), m=BITS_PER_SYMBOL)
def test_effective_rate_within_bounds_for_usual_rates(payload, rate, m):
    """For rates well above 1/5 the effective rate lies in [1/5, code_rate]."""
    lay = plan_code_blocks(payload, rate, m)
    assert MIN_CODE_RATE <= lay.k / lay.n <= rate


@settings(max_examples=200, deadline=None)
@given(payload=PAYLOAD, m=BITS_PER_SYMBOL, max_block=st.integers(min_value=1, max_value=20_000))
def test_uncoded_layout(payload, m, max_block):
    lay = plan_code_blocks(payload, 1.0, m, max_block)
    assert not lay.coded
    assert lay.crc_bits == 0
    assert lay.k == lay.n == lay.block_payload_bits
    assert lay.k <= max_block
    _check_cover(lay, payload, max_block)
    assert lay.coded_bits == lay.num_blocks * lay.block_payload_bits


def test_known_layout():
    # 3808 = 8 x 476 payload bits; k = 476 + 24 = 500; rate 1/2 with 16QAM -> n = 1000.
    lay = plan_code_blocks(3808, 0.5, 4, 500)
    assert (lay.num_blocks, lay.block_payload_bits, lay.k, lay.n, lay.filler_bits) == (8, 476, 500, 1000, 0)
    lay = plan_code_blocks(3809, 0.5, 4, 500)  # one bit more: a ninth block, equal sizes
    assert (lay.num_blocks, lay.block_payload_bits, lay.filler_bits) == (9, 424, 9 * 424 - 3809)


@pytest.mark.parametrize(
    ("rate", "match"),
    [
        (0.0, r"must be in \(0, 1\]"),
        (-0.5, r"must be in \(0, 1\]"),
        (1.5, r"must be in \(0, 1\]"),
        (0.1, r"5G NR LDPC supports rates in \[0.2, 0.95\]"),
        (0.97, r"5G NR LDPC supports rates in \[0.2, 0.95\]"),
    ],
)
def test_check_code_rate_errors(rate, match):
    with pytest.raises(ValueError, match=match):
        check_code_rate(rate)
    with pytest.raises(ValueError, match=match):
        plan_code_blocks(1000, rate, 2)


@pytest.mark.parametrize("rate", [1.0, MIN_CODE_RATE, MAX_CODE_RATE, 0.5])
def test_check_code_rate_accepts(rate):
    check_code_rate(rate)


def test_plan_rejects_bad_arguments():
    with pytest.raises(ValueError, match="payload_bits"):
        plan_code_blocks(0, 0.5, 2)
    with pytest.raises(ValueError, match="max_block_bits"):
        plan_code_blocks(100, 0.5, 2, max_block_bits=CRC_BITS + 12)
    with pytest.raises(ValueError, match="max_block_bits"):
        plan_code_blocks(100, 0.5, 2, max_block_bits=8449)


@pytest.mark.parametrize("max_block", [0, -8])
def test_uncoded_plan_rejects_bad_max_block_bits(max_block):
    with pytest.raises(ValueError, match="max_block_bits"):
        plan_code_blocks(100, 1.0, 2, max_block_bits=max_block)
