"""DigitalLink: bits -> CRC + 5G LDPC -> scrambling -> QAM -> OFDM channel -> LLRs -> bits."""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from typing import Any, Literal

import torch
from sionna.phy.fec.crc import CRCDecoder, CRCEncoder
from sionna.phy.fec.ldpc import LDPC5GDecoder, LDPC5GEncoder
from sionna.phy.fec.scrambling import TB5GScrambler
from sionna.phy.mapping import Demapper, Mapper

from .code_blocks import CRC_BITS, DEFAULT_MAX_BLOCK_BITS, CodeBlockLayout, check_code_rate, plan_code_blocks
from .dlpack import as_tensor
from .modulation import bits_per_symbol, make_constellation
from .transceiver import OFDMTransceiver

Decoder = Literal["sionna", "fast"]
#: ``sionna``: Sionna's blocks for mapping, demapping, CRC, LDPC encoding and scrambling;
#: ``fast``: linksim's CPU kernels for the same steps (identical results up to float rounding)
Implementation = Literal["sionna", "fast"]
DemapperMethod = Literal["app", "maxlog"]


@dataclass(frozen=True)
class DigitalLinkPlan:
    """Resources one sample of ``layout.payload_bits`` takes on the link."""

    layout: CodeBlockLayout
    bits_per_symbol: int
    num_symbols: int  # data resource elements carrying coded bits (no slot padding)
    num_slots: int

    @property
    def channel_uses(self) -> int:
        """Data resource elements used per sample (the last slot's padding excluded)."""
        return self.num_symbols


@dataclass(frozen=True)
class DigitalLinkResult:
    """What came out of a :class:`DigitalLink` for a batch of ``B`` samples.

    :ivar bits: ``[B, L]`` float32 received payload bits.
    :ivar bit_errors: ``[B]`` int64 payload bit errors (only within each sample's length).
    :ivar num_bits: ``[B]`` int64 payload bits counted per sample.
    :ivar block_errors: ``[B]`` int64 code blocks with at least one payload bit error.
    :ivar num_blocks: ``[B]`` int64 code blocks that carry payload bits of the sample.
    :ivar crc_ok: ``[B, C]`` bool CRC status per code block (all True when uncoded).
    :ivar channel_uses: ``[B]`` int64 data resource elements each sample needs on its own.
    """

    bits: torch.Tensor
    bit_errors: torch.Tensor
    num_bits: torch.Tensor
    block_errors: torch.Tensor
    num_blocks: torch.Tensor
    crc_ok: torch.Tensor
    channel_uses: torch.Tensor


class DigitalLink(torch.nn.Module):
    """Carries payload bits over the scenario's OFDM link.

    bits -> segmentation into CRC24B-protected code blocks -> 5G NR LDPC at ``code_rate``
    (skipped when 1.0) -> 5G NR scrambling (TS 38.211 Gold sequence, a different
    ``n_rnti`` per slot) -> Gray QAM -> resource grid -> channel -> perfect or LS CSI ->
    LMMSE -> APP demapping to LLRs -> descrambling -> LDPC decoding -> CRC check -> bits.

    :param transceiver: the grid + channel + receiver to use.
    :param modulation: ``bpsk | qpsk | qam16 | qam64 | qam256``.
    :param code_rate: LDPC rate in [0.2, 0.95], or 1.0 for uncoded.
    :param ldpc_iterations: maximum belief-propagation iterations.
    :param decoder: ``sionna`` (Sionna's LDPC5GDecoder, flooding) or ``fast`` (linksim's
        numba CPU decoder, :class:`~linksim.phy.fast_ldpc.FastLDPC5GDecoder`).
    :param cn_update: check-node rule (``boxplus-phi | minsum | offset-minsum``, and
        ``normalized-minsum`` with the fast decoder).
    :param schedule: ``layered`` or ``flooding`` (fast decoder only; Sionna's floods).
    :param max_block_bits: largest LDPC information block, CRC included.
    :param n_id: scrambling identity (TS 38.211 n_ID, 0..1023).
    :param implementation: ``sionna`` (Sionna's ``CRCEncoder``, ``LDPC5GEncoder``,
        ``TB5GScrambler``, ``Mapper`` and ``Demapper``) or ``fast`` (linksim's CPU kernels:
        :class:`~linksim.phy.fast_crc.FastCRC`,
        :class:`~linksim.phy.fast_ldpc_encoder.FastLDPC5GEncoder`, a precomputed scrambling
        sequence and :class:`~linksim.phy.fast_qam.FastQAM`; CPU only). The transceiver is
        chosen separately (:func:`~linksim.phy.transceiver.make_transceiver`).
    :param demapper: ``app`` (exact a-posteriori LLRs) or ``maxlog`` (max-log approximation).
    """

    def __init__(
        self,
        transceiver: OFDMTransceiver,
        modulation: str = "qam16",
        code_rate: float = 0.5,
        ldpc_iterations: int = 20,
        decoder: Decoder = "fast",
        max_block_bits: int = DEFAULT_MAX_BLOCK_BITS,
        n_id: int = 1,
        cn_update: str = "boxplus-phi",
        schedule: str = "layered",
        implementation: Implementation = "sionna",
        demapper: DemapperMethod = "app",
    ) -> None:
        super().__init__()
        try:
            check_code_rate(float(code_rate))
        except ValueError as e:
            raise ValueError(f"code_rate: {e}") from None
        if not 0 <= n_id <= 1023:
            raise ValueError(f"n_id: must be in [0, 1023] (TS 38.211), got {n_id}")
        if not (CRC_BITS + 12 < max_block_bits <= 8448 or (code_rate == 1.0 and max_block_bits >= 1)):
            raise ValueError(f"max_block_bits: must be in ({CRC_BITS + 12}, 8448], got {max_block_bits}")
        if ldpc_iterations < 1:
            raise ValueError(f"ldpc_iterations: must be >= 1, got {ldpc_iterations}")
        if decoder not in ("sionna", "fast"):
            raise ValueError(f"decoder: must be 'sionna' or 'fast', got '{decoder}'")
        if implementation not in ("sionna", "fast"):
            raise ValueError(f"implementation: must be 'sionna' or 'fast', got '{implementation}'")
        if demapper not in ("app", "maxlog"):
            raise ValueError(f"demapper: must be 'app' or 'maxlog', got '{demapper}'")
        if implementation == "fast" and torch.device(transceiver.grid.device or "cpu").type != "cpu":
            raise ValueError("implementation: 'fast' runs on the CPU; use 'sionna' on "
                             f"{transceiver.grid.device}")
        self.transceiver = transceiver
        self.modulation = modulation
        self.code_rate = float(code_rate)
        self.ldpc_iterations = int(ldpc_iterations)
        self.decoder = decoder
        self.cn_update = cn_update
        self.schedule = schedule
        if decoder == "sionna" and cn_update not in ("boxplus-phi", "minsum", "offset-minsum"):
            raise ValueError(f"cn_update: Sionna's decoder has no '{cn_update}' rule")
        self.max_block_bits = int(max_block_bits)
        self.n_id = int(n_id)
        self.bits_per_symbol = bits_per_symbol(modulation)
        self.implementation = implementation
        self.demapper = demapper
        dev = transceiver.grid.device
        if implementation == "fast":
            from .fast_crc import FastCRC
            from .fast_qam import FastQAM

            self._qam = FastQAM(modulation)
            self._crc = FastCRC("CRC24B")
        else:
            constellation = make_constellation(modulation, device=dev)
            self._mapper = Mapper(constellation=constellation, device=dev)
            self._demapper = Demapper(demapper, constellation=constellation, device=dev)
            self._crc_encoder = CRCEncoder("CRC24B", device=dev)
            self._crc_decoder = CRCDecoder(self._crc_encoder, device=dev)
        self._codes: dict[tuple[int, int], tuple[Any, Any]] = {}
        self._scramblers: dict[int, TB5GScrambler] = {}

    # -- planning ---------------------------------------------------------------------
    def plan(self, payload_bits: int) -> DigitalLinkPlan:
        """Resources for one sample of ``payload_bits`` bits (no simulation)."""
        return plan_digital_payload(int(payload_bits), self.code_rate, self.bits_per_symbol, self.max_block_bits,
                     self.transceiver.grid.data_symbols_per_slot)

    # -- simulation -------------------------------------------------------------------
    def forward(self, bits: Any, no: Any, lengths: Any = None) -> DigitalLinkResult:
        """Transmit a batch of payloads.

        :param bits: ``[B, L]`` payload bits (0/1, any real, integer or bool dtype): a torch
            tensor or any DLPack array (NumPy, JAX, CuPy, ...).
        :param no: noise variance per complex resource element, ``1 / (Es/N0)`` (linear):
            a number, or ``[B]`` values (one per sample).
        :param lengths: optional ``[B]`` valid payload bits per sample (the rest of each
            row is padding: sent, but neither counted as payload nor as errors); a torch
            tensor, a DLPack array or a sequence of ints.
        """
        bits = as_tensor(bits)
        if not isinstance(no, (int, float)):
            no = as_tensor(no)
        if bits.dim() != 2 or bits.shape[1] < 1:
            raise ValueError(f"bits: expected shape [batch, num_bits>0], got {tuple(bits.shape)}")
        if bits.is_complex():
            raise ValueError("bits: expected real 0/1 values, got a complex tensor")
        if lengths is not None:
            if isinstance(lengths, (list, tuple)):
                lengths = torch.as_tensor(lengths)
            lengths = as_tensor(lengths)
            if lengths.dim() != 1 or lengths.shape[0] != bits.shape[0] or lengths.is_complex() or lengths.is_floating_point():
                raise ValueError(f"lengths: expected {bits.shape[0]} integers (one per sample), "
                                 f"got shape {tuple(lengths.shape)} {lengths.dtype}")
        dev = self.transceiver.grid.device
        bits = bits.to(device=dev, dtype=torch.float32)
        batch, length = bits.shape
        plan = self.plan(length)
        lay = plan.layout
        blocks = torch.nn.functional.pad(bits, (0, lay.filler_bits)).reshape(batch, lay.num_blocks, lay.block_payload_bits)
        if self.implementation == "fast":
            payload_hat, crc_ok = self._transmit_fast(blocks, no, plan)
        else:
            payload_hat, crc_ok = self._transmit_sionna(blocks, no, plan)
        bits_hat = payload_hat.reshape(batch, -1)[:, :length]
        return self._count(bits, bits_hat, lengths, lay, crc_ok)

    def _transmit_sionna(self, blocks: torch.Tensor, no: Any, plan: DigitalLinkPlan) -> tuple[torch.Tensor, torch.Tensor]:
        """Sionna's blocks: ``[B, C, kp]`` payload blocks -> ``([B, C, kp]`` received, ``[B, C]`` CRC ok)."""
        batch, lay, dev = blocks.shape[0], plan.layout, blocks.device
        per_slot_bits = self.transceiver.grid.data_symbols_per_slot * self.bits_per_symbol
        if lay.coded:
            encoder, decoder = self._code(lay.k, lay.n)
            codewords = encoder(self._crc_encoder(blocks))
        else:
            codewords = blocks
        tx = torch.nn.functional.pad(codewords.reshape(batch, -1), (0, plan.num_slots * per_slot_bits - lay.coded_bits))
        scrambler = self._scrambler(plan.num_slots)
        tx = scrambler(tx.reshape(batch, plan.num_slots, per_slot_bits)).reshape(batch, -1)
        symbols = self._mapper(tx)

        x_hat, no_eff = self.transceiver(symbols, no)
        # demap only the symbols that carry coded bits: APP demapping is the costliest step
        # after decoding, and the last slot's padding needs none (its LLRs are left at 0)
        llr = self._demapper(x_hat[:, : plan.num_symbols], no_eff[:, : plan.num_symbols])
        llr = torch.nn.functional.pad(llr, (0, plan.num_slots * per_slot_bits - llr.shape[1]))
        llr = scrambler(llr.reshape(batch, plan.num_slots, per_slot_bits), binary=False).reshape(batch, -1)
        llr = llr[:, : lay.coded_bits].reshape(batch, lay.num_blocks, lay.n)

        if lay.coded:
            decoded = decoder(llr)
            payload_hat, crc_ok = self._crc_decoder(decoded)
            crc_ok = crc_ok.squeeze(-1)
        else:
            payload_hat = (llr > 0).to(torch.float32)  # Sionna LLRs are logits log p(1)/p(0)
            crc_ok = torch.ones(batch, lay.num_blocks, dtype=torch.bool, device=dev)
        return payload_hat, crc_ok

    def _transmit_fast(self, blocks: torch.Tensor, no: Any, plan: DigitalLinkPlan) -> tuple[torch.Tensor, torch.Tensor]:
        """linksim's CPU kernels, on the used resource elements only (no slot padding)."""
        batch, lay = blocks.shape[0], plan.layout
        if lay.coded:
            encoder, decoder = self._code(lay.k, lay.n)
            codewords = encoder(self._crc.encode(blocks))
        else:
            codewords = blocks
        num_bits = plan.num_symbols * self.bits_per_symbol  # n is a multiple of m: no padding when coded
        tx = torch.nn.functional.pad(codewords.reshape(batch, -1), (0, num_bits - lay.coded_bits))
        sequence = self._sequence(plan.num_slots)[:num_bits]
        tx = torch.logical_xor(tx.to(torch.bool), sequence).to(torch.uint8)
        symbols = self._qam.map(tx)
        x_hat, no_eff = self.transceiver(symbols, no)
        llr = self._qam.demap(x_hat, no_eff, method=self.demapper, flip=sequence.expand(batch, -1))
        llr = llr[:, : lay.coded_bits].reshape(batch, lay.num_blocks, lay.n)
        if lay.coded:
            payload_hat, crc_ok = self._crc.check(decoder(llr))
        else:
            payload_hat = (llr > 0).to(torch.float32)
            crc_ok = torch.ones(batch, lay.num_blocks, dtype=torch.bool, device=llr.device)
        return payload_hat, crc_ok

    # -- helpers ----------------------------------------------------------------------
    def _count(self, bits, bits_hat, lengths, lay: CodeBlockLayout, crc_ok) -> DigitalLinkResult:
        batch, length = bits.shape
        dev = bits.device
        if lengths is None:
            lengths = torch.full((batch,), length, dtype=torch.int64, device=dev)
        else:
            lengths = lengths.to(device=dev, dtype=torch.int64).clamp(0, length)
        errors = bits != bits_hat
        if bool((lengths < length).any()):
            errors &= torch.arange(length, device=dev)[None, :] < lengths[:, None]
        if lay.filler_bits:
            errors_in_blocks = torch.nn.functional.pad(errors, (0, lay.filler_bits))
        else:
            errors_in_blocks = errors
        block_errors = errors_in_blocks.reshape(batch, lay.num_blocks, -1).any(dim=-1).sum(dim=-1)
        num_blocks = torch.div(lengths + lay.block_payload_bits - 1, lay.block_payload_bits, rounding_mode="floor")
        # one plan per distinct length (a batch usually has one or a few), not one per sample
        distinct, which = torch.unique(lengths, return_inverse=True)
        uses = torch.tensor([self.plan(int(n)).channel_uses if n > 0 else 0 for n in distinct.tolist()],
                            dtype=torch.int64, device=dev)[which]
        return DigitalLinkResult(
            bits=bits_hat,
            bit_errors=errors.sum(dim=-1),
            num_bits=lengths,
            block_errors=block_errors,
            num_blocks=num_blocks,
            crc_ok=crc_ok,
            channel_uses=uses,
        )

    def _code(self, k: int, n: int):
        key = (k, n)
        if key not in self._codes:
            dev = self.transceiver.grid.device
            encoder = LDPC5GEncoder(k, n, num_bits_per_symbol=self.bits_per_symbol, device=dev)
            encode = encoder
            if self.implementation == "fast":
                from .fast_ldpc_encoder import FastLDPC5GEncoder

                encode = FastLDPC5GEncoder(encoder)
            if self.decoder == "fast":
                from .fast_ldpc import FastLDPC5GDecoder

                fast = FastLDPC5GDecoder(encoder, cn_update=self.cn_update, schedule=self.schedule,
                                         num_iter=self.ldpc_iterations, early_stop=True)
                decoder = lambda llr: fast(llr).bits  # noqa: E731
            else:
                decoder = LDPC5GDecoder(encoder, cn_update=self.cn_update, num_iter=self.ldpc_iterations,
                                        hard_out=True, return_infobits=True, device=dev)
            self._codes[key] = (encode, decoder)
        return self._codes[key]

    def _sequence(self, num_slots: int) -> torch.Tensor:
        """``[num_slots * data bits per slot]`` bool: the scrambling sequence of
        :meth:`_scrambler` (XOR with it scrambles bits; flipping LLRs where it is 1 descrambles)."""
        per_slot_bits = self.transceiver.grid.data_symbols_per_slot * self.bits_per_symbol
        return _scrambling_sequence(self.n_id, num_slots, per_slot_bits, str(self.transceiver.grid.device or "cpu"))

    def _scrambler(self, num_slots: int) -> TB5GScrambler:
        if num_slots not in self._scramblers:
            rnti = [s % 65536 for s in range(num_slots)]
            self._scramblers[num_slots] = TB5GScrambler(
                n_rnti=rnti, n_id=[self.n_id] * num_slots, binary=True, device=self.transceiver.grid.device
            )
        return self._scramblers[num_slots]


@lru_cache(maxsize=64)
def _scrambling_sequence(n_id: int, num_slots: int, per_slot_bits: int, device: str) -> torch.Tensor:
    """The bits ``TB5GScrambler`` XORs into ``num_slots`` slots (``n_rnti`` = slot index):
    Gold sequences take Sionna ~30 ms per slot count to generate, and every link of a run
    with the same grid and modulation shares them."""
    rnti = [s % 65536 for s in range(num_slots)]
    scrambler = TB5GScrambler(n_rnti=rnti, n_id=[n_id] * num_slots, binary=True, device=device)
    zeros = torch.zeros(1, num_slots, per_slot_bits, device=device)
    return scrambler(zeros).reshape(-1).to(torch.bool)


@lru_cache(maxsize=4096)
def plan_digital_payload(payload_bits: int, code_rate: float, m: int, max_block_bits: int, symbols_per_slot: int) -> DigitalLinkPlan:
    """Resources for one sample of ``payload_bits`` at ``code_rate`` with ``m`` bits per symbol
    on a grid of ``symbols_per_slot`` data REs per slot (no link needed: pure arithmetic)."""
    layout = plan_code_blocks(payload_bits, code_rate, m, max_block_bits)
    num_symbols = -(-layout.coded_bits // m)
    num_slots = max(1, -(-num_symbols // symbols_per_slot))
    return DigitalLinkPlan(layout, m, num_symbols, num_slots)
