"""Throughput of linksim's DigitalLink against the same chain built from bare Sionna blocks.

Chain (both sides): payload bits -> segmentation into CRC24B code blocks -> 5G LDPC
(rate 1/2, k = 1728, n = 3456: one block fills one slot's 864 data REs at 16QAM) ->
TB5GScrambler (one n_rnti per slot) -> 16QAM -> resource grid -> channel + AWGN -> LS
estimation (linear interpolation) or perfect CSI -> LMMSE -> APP demapper -> descrambling
-> LDPC decoding (20 iterations) -> CRC check -> bit and block errors.

* linksim: ``DigitalLink`` with ``implementation="fast"`` (the SISO transceiver, FastQAM,
  FastCRC, FastLDPC5GEncoder, a precomputed scrambling sequence) and the fast layered
  decoder with the given check-node rule (early stopping).
* bare: Sionna's blocks called directly (CRCEncoder, LDPC5GEncoder, TB5GScrambler, Mapper,
  ResourceGridMapper, GenerateOFDMChannel(RayleighBlockFading | TDL) or h = 1 for AWGN,
  ApplyOFDMChannel, LSChannelEstimator, LMMSEEqualizer, Demapper, LDPC5GDecoder with the
  same check-node rule (flooding, no early stopping: Sionna has none), CRCDecoder) on the
  same grid and pilots, without any linksim wrapper.

The two sides draw different noise and fading (their generators are used differently), so
their error counts differ by chance only: both BLERs are printed with their counts. Each
configuration is warmed up once, then the sides are timed alternately, ``--repeats`` times
each; the table gives the median and the fastest call. Throughput = information (payload)
bits per second. The load average is printed on every row: this machine is shared, judge
by the ratio of two sides measured in the same minute.

Threads: ``--threads N`` gives linksim N numba threads (its kernels parallelise over code
blocks and symbols) and the bare chain N torch threads; linksim's own torch operations run
on one thread (two torch threads on a loaded 2-core machine slow calls 10-50x at random).

    python benchmarks/phy_throughput.py                               # ~5 min
    python benchmarks/phy_throughput.py --channels tdl --rules boxplus-phi --batch 64 --repeats 2
"""

from __future__ import annotations

import argparse
import math
import os
import statistics
import sys
import time

import numba
import numpy as np
import sionna.phy
import torch
from sionna.phy.channel import ApplyOFDMChannel, GenerateOFDMChannel, RayleighBlockFading
from sionna.phy.channel import tr38901
from sionna.phy.fec.crc import CRCDecoder, CRCEncoder
from sionna.phy.fec.ldpc import LDPC5GDecoder, LDPC5GEncoder
from sionna.phy.fec.scrambling import TB5GScrambler
from sionna.phy.mapping import Constellation, Demapper, Mapper
from sionna.phy.mimo import StreamManagement
from sionna.phy.ofdm import LMMSEEqualizer, LSChannelEstimator, PilotPattern, RemoveNulledSubcarriers, ResourceGrid, ResourceGridMapper

from linksim.phy.channels import build_channel, channel_class
from linksim.phy.digital_link import DigitalLink
from linksim.phy.ofdm import OFDMGrid
from linksim.phy.transceiver import make_transceiver

FFT, SYMS, SCS, CP, PILOTS = 72, 14, 30e3, 6, (2, 11)
MODULATION, BITS_PER_SYMBOL = "qam16", 4
DELAY_SPREAD, CARRIER, SPEED = 100e-9, 3.5e9, 3.0
#: Es/N0 [dB] per channel where the BLER with LS CSI and the layered boxplus-phi decoder is
#: about 0.1 (measured: AWGN 0.95 at 8 dB, 0.014 at 9 dB; Rayleigh 0.09 at 19 dB; TDL-A
#: 0.17 at 15 dB, 0.06 at 18 dB): the middle of the waterfall, where sweeps spend their time
SNR_DB = {"awgn": 8.8, "rayleigh": 19.0, "tdl": 16.0}
CHANNEL_PARAMS = {
    "awgn": {},
    "rayleigh": {},
    "tdl": {"profile": "A", "delay_spread_s": DELAY_SPREAD, "carrier_frequency_hz": CARRIER, "speed_mps": SPEED},
}


def build_linksim(channel: str, rule: str, args) -> DigitalLink:
    grid = OFDMGrid(FFT, SYMS, SCS, CP, list(PILOTS))
    params = channel_class(channel).Params(model=channel, **CHANNEL_PARAMS[channel])
    tr = make_transceiver(grid, build_channel(params, grid), args.csi, "fast")
    return DigitalLink(tr, MODULATION, code_rate=args.code_rate, ldpc_iterations=args.iterations, decoder="fast",
                       max_block_bits=args.max_block_bits, schedule="layered", cn_update=rule,
                       implementation="fast")


class BareChain:
    """The same work with Sionna blocks only (the segmentation arithmetic inlined)."""

    def __init__(self, channel: str, rule: str, args, payload_bits: int) -> None:
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
        self.ldpc_dec = LDPC5GDecoder(self.ldpc_enc, cn_update=rule, num_iter=args.iterations, hard_out=True,
                                      return_infobits=True)
        self.scrambler = TB5GScrambler(n_rnti=list(range(self.num_slots)), n_id=[1] * self.num_slots, binary=True)
        const = Constellation("qam", m, normalize=True)
        self.mapper = Mapper(constellation=const)
        self.demapper = Demapper("app", constellation=const)
        self.rg_mapper = ResourceGridMapper(rg)
        self.rg = rg
        if channel == "tdl":
            model = tr38901.TDL("A", delay_spread=DELAY_SPREAD, carrier_frequency=CARRIER, min_speed=SPEED,
                                max_speed=SPEED)
            self.gen_channel = GenerateOFDMChannel(model, rg, normalize_channel=False)
        elif channel == "rayleigh":
            self.gen_channel = GenerateOFDMChannel(RayleighBlockFading(1, 1, 1, 1), rg, normalize_channel=False)
        else:
            self.gen_channel = lambda b: torch.ones(b, 1, 1, 1, 1, SYMS, FFT, dtype=torch.complex64)  # noqa: E731
        self.apply_channel = ApplyOFDMChannel()
        self.csi = args.csi
        self.estimator = LSChannelEstimator(rg, interpolation_type="lin")
        self.remove_nulled = RemoveNulledSubcarriers(rg)
        self.equalizer = LMMSEEqualizer(rg, StreamManagement(np.ones([1, 1], int), 1))

    def __call__(self, bits: torch.Tensor, no: float) -> tuple[int, int, int]:
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
        if self.csi == "ls":
            h_hat, err_var = self.estimator(y, no_t)
        else:
            h_hat, err_var = self.remove_nulled(h), torch.zeros(())
        x_hat, no_eff = self.equalizer(y, h_hat, err_var, no_t)
        used = -(-self.C * self.n // self.bits_per_symbol)  # symbols that carry coded bits
        llr = self.demapper(x_hat.reshape(B, -1)[:, :used], no_eff.reshape(B, -1)[:, :used])
        llr = torch.nn.functional.pad(llr, (0, S * self.slot_bits - llr.shape[1]))
        llr = self.scrambler(llr.reshape(B, S, self.slot_bits), binary=False).reshape(B, -1)
        llr = llr[:, : self.C * self.n].reshape(B, self.C, self.n)
        payload, crc_ok = self.crc_dec(self.ldpc_dec(llr))
        errors = payload.reshape(B, -1)[:, : self.L] != bits
        padded = torch.nn.functional.pad(errors, (0, self.C * self.kp - self.L)).reshape(B, self.C, self.kp)
        return int(errors.sum()), int(padded.any(-1).sum()), B * self.C


def run_linksim(link: DigitalLink, bits: torch.Tensor, no: float) -> tuple[int, int, int]:
    r = link(bits, no)
    return int(r.bit_errors.sum()), int(r.block_errors.sum()), int(r.num_blocks.sum())


def timed(fn) -> tuple[float, tuple[int, int, int]]:
    t0 = time.perf_counter()
    out = fn()
    return time.perf_counter() - t0, out


def load() -> str:
    return "/".join(f"{x:.1f}" for x in os.getloadavg())


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--channels", nargs="+", choices=list(SNR_DB), default=["tdl", "awgn", "rayleigh"])
    ap.add_argument("--rules", nargs="+", default=["boxplus-phi", "minsum"],
                    choices=["boxplus-phi", "minsum", "offset-minsum"], help="check-node rules (both sides)")
    ap.add_argument("--csi", choices=["ls", "perfect"], default="ls")
    ap.add_argument("--batch", type=int, default=128, help="samples per call (one code block each by default)")
    # defaults: one LDPC block (k = 1728, n = 3456) that fills exactly one slot's 864 data REs
    ap.add_argument("--payload-bits", type=int, default=1704, help="payload bits per sample")
    ap.add_argument("--max-block-bits", type=int, default=1728, help="largest LDPC info block k (CRC incl.)")
    ap.add_argument("--code-rate", type=float, default=0.5)
    ap.add_argument("--iterations", type=int, default=20, help="LDPC iterations")
    ap.add_argument("--snr-db", type=float, default=None, help="Es/N0 [dB] for every channel (default: per channel)")
    ap.add_argument("--repeats", type=int, default=3, help="timed calls per side")
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--threads", type=int, default=1, help="numba threads (linksim) = torch threads (bare Sionna)")
    args = ap.parse_args(argv)
    numba.set_num_threads(args.threads)

    bits = torch.randint(0, 2, (args.batch, args.payload_bits), generator=torch.Generator().manual_seed(args.seed))
    bits = bits.to(torch.float32)
    print(f"# DigitalLink (implementation fast, layered decoder) vs bare Sionna blocks: {MODULATION}, "
          f"LDPC rate {args.code_rate}, {args.payload_bits} payload bits/sample, batch {args.batch}, "
          f"{args.iterations} it, CSI {args.csi}, threads {args.threads}, {args.repeats} timed calls per side")
    header = (f"{'channel':>8} {'rule':>12} {'dB':>5} {'linksim Mbit/s':>15} {'bare Mbit/s':>12} {'ratio':>7} "
              f"{'min ratio':>9} {'BLER linksim':>15} {'BLER bare':>15} {'load 1/5/15':>13}")
    print(header)
    print("-" * len(header))
    info = args.batch * args.payload_bits
    for channel in args.channels:
        snr = SNR_DB[channel] if args.snr_db is None else args.snr_db
        no = 10.0 ** (-snr / 10.0)
        for rule in args.rules:
            link = build_linksim(channel, rule, args)
            bare = BareChain(channel, rule, args, args.payload_bits)
            lay = link.plan(args.payload_bits).layout
            assert (lay.num_blocks, lay.k, lay.n) == (bare.C, bare.k, bare.n), "segmentation differs"
            torch.set_num_threads(1)
            timed(lambda: run_linksim(link, bits, no))  # warm-up: codes, tables, numba cache
            torch.set_num_threads(args.threads)
            timed(lambda: bare(bits, no))
            wall = {"linksim": [], "bare": []}
            counts = {"linksim": [0, 0], "bare": [0, 0]}
            for rep in range(args.repeats):
                sides = [("linksim", link), ("bare", bare)]
                for name, side in (sides if rep % 2 == 0 else sides[::-1]):  # alternate who goes first
                    torch.set_num_threads(1 if name == "linksim" else args.threads)
                    sionna.phy.config.seed = args.seed + rep
                    fn = (lambda: run_linksim(link, bits, no)) if name == "linksim" else (lambda: bare(bits, no))
                    w, (_, blk, nblk) = timed(fn)
                    wall[name].append(w)
                    counts[name][0] += blk
                    counts[name][1] += nblk
            tl, tb = statistics.median(wall["linksim"]), statistics.median(wall["bare"])
            ml, mb = min(wall["linksim"]), min(wall["bare"])

            def bler(name):
                e, n = counts[name]
                return f"{e / n:.2e} ({e}/{n})"

            print(f"{channel:>8} {rule:>12} {snr:>5.1f} {info / tl / 1e6:>15.3f} {info / tb / 1e6:>12.4f} "
                  f"{tb / tl:>7.1f} {mb / ml:>9.1f} {bler('linksim'):>15} {bler('bare'):>15} {load():>13}", flush=True)
    print("# ratio = median bare time / median linksim time; min ratio = fastest bare / fastest linksim call")
    return 0


if __name__ == "__main__":
    sys.exit(main())
