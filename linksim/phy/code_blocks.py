"""Segmentation of a payload into CRC-protected 5G NR LDPC code blocks.

Sionna's ``nr.TBEncoder`` does the full 38.212 transport-block chain but decodes
large base-graph-1 blocks slowly on a CPU; linksim segments on its own, 5G style:
``C`` equal blocks of at most ``max_block_bits`` information bits, each with a
CRC24B so that the receiver knows which blocks failed, then LDPC at the stream's rate.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

CRC_BITS = 24
#: 5G NR LDPC supports effective rates in [1/5, 0.95] (TS 38.212 5.4.2.1 / Sionna).
MIN_CODE_RATE = 0.2
MAX_CODE_RATE = 0.95
#: Largest information block of base graph 2 (TS 38.212); BG1 blocks (up to 8448) are
#: allowed but decode far more slowly on a CPU.
DEFAULT_MAX_BLOCK_BITS = 3840


def check_code_rate(code_rate: float) -> None:
    """Raise ``ValueError`` unless ``code_rate`` is 1 (uncoded) or within 5G LDPC's range."""
    if not (0.0 < code_rate <= 1.0):
        raise ValueError(f"must be in (0, 1], got {code_rate}")
    if code_rate != 1.0 and not (MIN_CODE_RATE <= code_rate <= MAX_CODE_RATE):
        raise ValueError(
            f"5G NR LDPC supports rates in [{MIN_CODE_RATE}, {MAX_CODE_RATE}] or 1.0 (uncoded), got {code_rate}"
        )


@dataclass(frozen=True)
class CodeBlockLayout:
    """How one sample's payload of ``payload_bits`` is cut into code blocks.

    ``num_blocks`` blocks carry ``block_payload_bits`` payload bits each (the last one
    zero-filled), plus ``crc_bits``; ``k = block_payload_bits + crc_bits`` information
    bits enter the LDPC encoder, which emits ``n`` coded bits (``n = k`` uncoded).
    """

    payload_bits: int
    num_blocks: int
    block_payload_bits: int
    crc_bits: int
    k: int
    n: int
    coded: bool

    @property
    def coded_bits(self) -> int:
        """Coded bits of the whole sample: ``num_blocks * n``."""
        return self.num_blocks * self.n

    @property
    def filler_bits(self) -> int:
        """Zero bits appended to the payload to fill the last block."""
        return self.num_blocks * self.block_payload_bits - self.payload_bits


def plan_code_blocks(
    payload_bits: int, code_rate: float, bits_per_symbol: int, max_block_bits: int = DEFAULT_MAX_BLOCK_BITS
) -> CodeBlockLayout:
    """Lay out ``payload_bits`` into code blocks.

    :param payload_bits: payload of one sample [bits], > 0.
    :param code_rate: LDPC rate in [0.2, 0.95], or 1.0 for uncoded transmission. The
        effective rate ``k / n`` is at most ``code_rate``, except just above 1/5, where
        whole symbols and 5G's 1/5 floor may leave it slightly above (e.g. 49/240).
    :param bits_per_symbol: bits per QAM symbol; ``n`` is a multiple of it so that
        every codeword fills whole symbols (and Sionna's interleaver applies).
    :param max_block_bits: largest LDPC information block ``k`` (CRC included).
    """
    if payload_bits < 1:
        raise ValueError(f"payload_bits: must be positive, got {payload_bits}")
    check_code_rate(code_rate)
    if bits_per_symbol < 1:
        raise ValueError(f"bits_per_symbol: must be positive, got {bits_per_symbol}")
    if code_rate == 1.0:
        if max_block_bits < 1:
            raise ValueError(f"max_block_bits: must be positive, got {max_block_bits}")
        num_blocks = math.ceil(payload_bits / max_block_bits)
        per_block = math.ceil(payload_bits / num_blocks)
        return CodeBlockLayout(payload_bits, num_blocks, per_block, 0, per_block, per_block, coded=False)
    if max_block_bits <= CRC_BITS + 12 or max_block_bits > 8448:
        raise ValueError(f"max_block_bits: must be in ({CRC_BITS + 12}, 8448], got {max_block_bits}")
    num_blocks = math.ceil(payload_bits / (max_block_bits - CRC_BITS))
    per_block = math.ceil(payload_bits / num_blocks)
    k = per_block + CRC_BITS
    n = bits_per_symbol * math.ceil(k / (code_rate * bits_per_symbol))
    while k / n < MIN_CODE_RATE:  # rounding n up to whole symbols may cross the 1/5 floor
        n -= bits_per_symbol
    return CodeBlockLayout(payload_bits, num_blocks, per_block, CRC_BITS, k, n, coded=True)
