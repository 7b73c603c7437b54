"""Throughput of linksim's DigitalLink against the same Sionna blocks in a bare loop.

Chain (both sides): payload bits -> segmentation into CRC24B code blocks -> 5G LDPC
(rate 1/2 by default) -> TB5GScrambler (one n_rnti per slot) -> 16QAM -> resource
grid -> TDL-A (GenerateOFDMChannel + ApplyOFDMChannel, AWGN) -> LS estimation ->
LMMSE -> APP demapper -> descrambling -> LDPC decoder -> CRC check -> bit/block errors.

The bare loop calls the Sionna blocks directly (CRCEncoder, LDPC5GEncoder,
TB5GScrambler, Mapper, ResourceGridMapper, GenerateOFDMChannel(TDL),
ApplyOFDMChannel, LSChannelEstimator, LMMSEEqualizer, Demapper, LDPC5GDecoder,
CRCDecoder) on the same grid and pilots, without any linksim wrapper. With
``--decoder fast`` both sides use linksim's FastLDPC5GDecoder instead of Sionna's.

Both sides get the same seed before each call, so they draw the same channels and
noise: their error counts must be identical (the ``same`` column). Each
configuration is warmed up once, then the two sides are timed alternately
(``--repeats`` times each, to share the machine's load fairly); the table shows
medians. Throughput = information (payload) bits per second.

    python benchmarks/phy_throughput.py                      # defaults, < ~3 min
    python benchmarks/phy_throughput.py --batch-sizes 16 64 --payload-bits 500 --repeats 2
"""

from __future__ import annotations

import argparse
import math
import statistics
import sys
import time

import numpy as np
import sionna
import torch
from sionna.phy.channel import ApplyOFDMChannel, GenerateOFDMChannel
from sionna.phy.channel import tr38901
from sionna.phy.fec.crc import CRCDecoder, CRCEncoder
from sionna.phy.fec.ldpc import LDPC5GDecoder, LDPC5GEncoder
from sionna.phy.fec.scrambling import TB5GScrambler
from sionna.phy.mapping import Constellation, Demapper, Mapper
from sionna.phy.mimo import StreamManagement
from sionna.phy.ofdm import LMMSEEqualizer, LSChannelEstimator, PilotPattern, ResourceGrid, ResourceGridMapper

from linksim.phy.channels import build_channel, channel_class
from linksim.phy.digital_link import DigitalLink
from linksim.phy.ofdm import OFDMGrid
from linksim.phy.transceiver import OFDMTransceiver

FFT, SYMS, SCS, CP, PILOTS = 72, 14, 30e3, 6, (2, 11)
MODULATION, BITS_PER_SYMBOL = "qam16", 4
DELAY_SPREAD, CARRIER, SPEED = 100e-9, 3.5e9, 3.0


def build_linksim(args) -> DigitalLink:
    grid = OFDMGrid(FFT, SYMS, SCS, CP, list(PILOTS))
    params = channel_class("tdl").Params(model="tdl", profile="A", delay_spread_s=DELAY_SPREAD,
                                         carrier_frequency_hz=CARRIER, speed_mps=SPEED)
    tr = OFDMTransceiver(grid, build_channel(params, grid), "ls")
    return DigitalLink(tr, MODULATION, code_rate=args.code_rate, ldpc_iterations=args.iterations,
                       decoder=args.decoder, max_block_bits=args.max_block_bits, schedule=args.schedule)


class BareChain:
    """The same work with Sionna blocks only (the segmentation arithmetic inlined)."""

    def __init__(self, args, payload_bits: int) -> None:
        m = BITS_PER_SYMBOL
        # resource grid with the same fixed QPSK pilots as linksim's OFDMGrid
        mask = np.zeros([1, 1, SYMS, FFT], bool)
        mask[..., list(PILOTS), :] = True
        rng = np.random.default_rng(0)
        n_p = len(PILOTS) * FFT
        qpsk = (1 - 2 * rng.integers(0, 2, n_p)) + 1j * (1 - 2 * rng.integers(0, 2, n_p))
        pilots = (qpsk / np.sqrt(2)).astype(np.complex64).reshape(1, 1, n_p)
        rg = ResourceGrid(num_ofdm_symbols=SYMS, fft_size=FFT, subcarrier_spacing=SCS, num_tx=1,
                          num_streams_per_tx=1, cyclic_prefix_length=CP,
                          pilot_pattern=PilotPattern(mask, pilots, normalize=True))
        self.per_slot = int(rg.num_data_symbols)
        # segmentation (5G style, as linksim does): C equal blocks + CRC24B
        self.L = payload_bits
        self.C = math.ceil(payload_bits / (args.max_block_bits - 24))
        self.kp = math.ceil(payload_bits / self.C)
        self.k = self.kp + 24
        self.n = m * math.ceil(self.k / (args.code_rate * m))
        while self.k / self.n < 0.2:
            self.n -= m
        self.num_slots = max(1, math.ceil(math.ceil(self.C * self.n / m) / self.per_slot))
        self.slot_bits = self.per_slot * m
        self.bits_per_symbol = m

        self.crc_enc = CRCEncoder("CRC24B")
        self.crc_dec = CRCDecoder(self.crc_enc)
        self.ldpc_enc = LDPC5GEncoder(self.k, self.n, num_bits_per_symbol=m)
        if args.decoder == "fast":
            from linksim.phy.fast_ldpc import FastLDPC5GDecoder

            fast = FastLDPC5GDecoder(self.ldpc_enc, num_iter=args.iterations, schedule=args.schedule)
            self.ldpc_dec = lambda llr: fast(llr).bits  # noqa: E731
        else:
            self.ldpc_dec = LDPC5GDecoder(self.ldpc_enc, num_iter=args.iterations, hard_out=True,
                                          return_infobits=True)
        self.scrambler = TB5GScrambler(n_rnti=list(range(self.num_slots)), n_id=[1] * self.num_slots,
                                       binary=True)
        const = Constellation("qam", m, normalize=True)
        self.mapper = Mapper(constellation=const)
        self.demapper = Demapper("app", constellation=const)
        self.rg_mapper = ResourceGridMapper(rg)
        tdl = tr38901.TDL("A", delay_spread=DELAY_SPREAD, carrier_frequency=CARRIER,
                          min_speed=SPEED, max_speed=SPEED)
        self.gen_channel = GenerateOFDMChannel(tdl, rg, normalize_channel=False)
        self.apply_channel = ApplyOFDMChannel()
        self.estimator = LSChannelEstimator(rg, interpolation_type="lin")
        self.equalizer = LMMSEEqualizer(rg, StreamManagement(np.ones([1, 1], int), 1))

    def __call__(self, bits: torch.Tensor, no: float) -> tuple[int, int]:
        B, S = bits.shape[0], self.num_slots
        blocks = torch.nn.functional.pad(bits, (0, self.C * self.kp - self.L)).reshape(B, self.C, self.kp)
        cw = self.ldpc_enc(self.crc_enc(blocks))
        tx = torch.nn.functional.pad(cw.reshape(B, -1), (0, S * self.slot_bits - self.C * self.n))
        tx = self.scrambler(tx.reshape(B, S, self.slot_bits)).reshape(B, -1)
        x = self.mapper(tx).reshape(B * S, 1, 1, self.per_slot)
        x_grid = self.rg_mapper(x)
        h = self.gen_channel(B * S)
        no_t = torch.as_tensor(no, dtype=torch.float32)
        y = self.apply_channel(x_grid, h, no_t)
        h_hat, err_var = self.estimator(y, no_t)
        x_hat, no_eff = self.equalizer(y, h_hat, err_var, no_t)
        used = -(-self.C * self.n // self.bits_per_symbol)  # symbols that carry coded bits
        llr = self.demapper(x_hat.reshape(B, -1)[:, :used], no_eff.reshape(B, -1)[:, :used])
        llr = torch.nn.functional.pad(llr, (0, S * self.slot_bits - llr.shape[1]))
        llr = self.scrambler(llr.reshape(B, S, self.slot_bits), binary=False).reshape(B, -1)
        llr = llr[:, : self.C * self.n].reshape(B, self.C, self.n)
        payload, crc_ok = self.crc_dec(self.ldpc_dec(llr))
        errors = payload.reshape(B, -1)[:, : self.L] != bits
        padded = torch.nn.functional.pad(errors, (0, self.C * self.kp - self.L)).reshape(B, self.C, self.kp)
        return int(errors.sum()), int(padded.any(-1).sum())


def run_linksim(link: DigitalLink, bits: torch.Tensor, no: float) -> tuple[int, int]:
    r = link(bits, no)
    return int(r.bit_errors.sum()), int(r.block_errors.sum())


def timed(fn, seed: int) -> tuple[float, tuple[int, int]]:
    """(wall seconds, fn's result) of one call after seeding Sionna."""
    sionna.phy.config.seed = seed
    t0 = time.perf_counter()
    out = fn()
    return time.perf_counter() - t0, out


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--batch-sizes", type=int, nargs="+", default=[16, 64, 256, 512])
    # defaults: one LDPC block (k = 1728, n = 3456) that fills exactly one slot's 864 data REs
    ap.add_argument("--payload-bits", type=int, default=1704, help="payload bits per sample")
    ap.add_argument("--max-block-bits", type=int, default=1728, help="largest LDPC info block k (CRC incl.)")
    ap.add_argument("--code-rate", type=float, default=0.5)
    ap.add_argument("--iterations", type=int, default=20, help="LDPC BP iterations")
    ap.add_argument("--decoder", choices=["sionna", "fast"], default="sionna")
    ap.add_argument("--schedule", choices=["layered", "flooding"], default="layered",
                    help="check-node schedule of the fast decoder (Sionna's always floods)")
    ap.add_argument("--snr-db", type=float, default=12.0, help="Es/N0 per data RE [dB]")
    ap.add_argument("--repeats", type=int, default=3, help="timed calls per side (median reported)")
    ap.add_argument("--seed", type=int, default=7)
    # One thread by default: on a small shared machine, torch's OpenMP pool spin-waits on
    # preempted threads and calls become 10-50x slower at random; 0 keeps torch's default.
    ap.add_argument("--threads", type=int, default=1, help="torch.set_num_threads (0: torch's default)")
    args = ap.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    no = 10.0 ** (-args.snr_db / 10.0)

    link = build_linksim(args)
    bare = BareChain(args, args.payload_bits)
    lay = link.plan(args.payload_bits).layout
    assert (lay.num_blocks, lay.k, lay.n) == (bare.C, bare.k, bare.n), "segmentation differs"
    print(f"# DigitalLink vs bare Sionna: {MODULATION}, LDPC k={bare.k} n={bare.n} x {bare.C} blocks/sample, "
          f"{args.payload_bits} payload bits/sample, {bare.num_slots} slot(s)/sample, TDL-A LS+LMMSE, "
          f"{args.snr_db} dB, decoder={args.decoder}, {args.iterations} it, torch threads={torch.get_num_threads()}, "
          f"median of {args.repeats}")
    header = (f"{'batch':>6} {'linksim Mbit/s':>15} {'bare Mbit/s':>12} {'ratio':>7} {'overhead %':>11} "
              f"{'min overhead %':>15} {'BER':>9} {'same':>5}")
    print(header)
    print("-" * len(header))
    for B in args.batch_sizes:
        bits = torch.randint(0, 2, (B, args.payload_bits), generator=torch.Generator().manual_seed(args.seed))
        bits = bits.to(torch.float32)
        seed = args.seed + B
        f_link = lambda: run_linksim(link, bits, no)  # noqa: E731
        f_bare = lambda: bare(bits, no)  # noqa: E731
        timed(f_link, seed)  # warm-up (builds codes, scramblers, caches)
        timed(f_bare, seed)
        wall = {"link": [], "bare": []}
        results = {}
        same = True
        for rep in range(args.repeats):
            # alternate who goes first, so that a load change on the machine hits both sides
            order = [("link", f_link), ("bare", f_bare)] if rep % 2 == 0 else [("bare", f_bare), ("link", f_link)]
            for name, fn in order:
                w, results[name] = timed(fn, seed)
                wall[name].append(w)
            same &= results["link"] == results["bare"]
        tl, tb = statistics.median(wall["link"]), statistics.median(wall["bare"])
        ml, mb = min(wall["link"]), min(wall["bare"])
        info = B * args.payload_bits
        print(f"{B:>6} {info / tl / 1e6:>15.4f} {info / tb / 1e6:>12.4f} {tb / tl:>7.3f} "
              f"{100 * (tl / tb - 1):>+11.1f} {100 * (ml / mb - 1):>+15.1f} "
              f"{results['link'][0] / info:>9.2e} {'yes' if same else 'NO':>5}", flush=True)
    print("# ratio = linksim throughput / bare throughput; overhead = linksim time / bare time - 1 "
          "(wall-clock medians; min: fastest calls, less sensitive to other load); same = identical bit and block error counts")
    return 0


if __name__ == "__main__":
    sys.exit(main())
