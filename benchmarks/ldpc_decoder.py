"""Information throughput of Sionna's LDPC5GDecoder vs linksim's FastLDPC5GDecoder.

Both decoders get the same LLRs: random information bits -> Sionna LDPC5GEncoder
(with the 16QAM output interleaver) -> Sionna Mapper (16QAM) -> AWGN (Sionna,
``ebnodb2no``) -> Sionna APP Demapper, at an Eb/N0 where the BLER is about 1e-2.
Sionna decodes in batches of 32 with 20 iterations (it has no early stopping);
the fast decoder decodes the same batches (``--fast-batch`` to change) with
at most 20 iterations and early stopping, in the flooding schedule (Sionna's)
and the layered schedule, for several check-node rules.  All decoders run on
all CPU threads (torch and numba).  Each decoder is warmed up first (numba JIT /
cache load, torch first call), then timed over all batches ``--repeats`` times;
the best pass is reported.  Mbit/s = decoded information bits per second.

    python benchmarks/ldpc_decoder.py                   # both codes, ~2 min (Sionna dominates)
    python benchmarks/ldpc_decoder.py --batches 20 --codes bg2 --repeats 1
"""

from __future__ import annotations

import argparse
import os
import sys
import time

import numba
import torch

import sionna.phy
from sionna.phy.channel import AWGN
from sionna.phy.fec.ldpc import LDPC5GDecoder, LDPC5GEncoder
from sionna.phy.mapping import BinarySource, Demapper, Mapper
from sionna.phy.utils import ebnodb2no

from linksim.phy.fast_ldpc import FastLDPC5GDecoder

# name -> (k, n, default Eb/N0 [dB] giving BLER ~1e-2 with boxplus-phi flooding, 20 it., 16QAM)
CODES = {
    "bg2": (1824, 3648, 3.65),
    "bg1": (4000, 8000, 3.6),
}
FAST_VARIANTS = [
    ("flooding", "boxplus-phi"),
    ("flooding", "offset-minsum"),
    ("layered", "boxplus-phi"),
    ("layered", "offset-minsum"),
    ("layered", "normalized-minsum"),
]


def make_llrs(enc: LDPC5GEncoder, batches: int, batch: int, ebno_db: float, nbps: int = 4):
    source, mapper = BinarySource(), Mapper("qam", nbps)
    demapper, awgn = Demapper("app", "qam", nbps), AWGN()
    no = ebnodb2no(ebno_db, nbps, enc.k / enc.n)
    us, llrs = [], []
    for _ in range(batches):
        u = source([batch, enc.k])
        llrs.append(demapper(awgn(mapper(enc(u)), no), no))
        us.append(u)
    return us, llrs


def time_decoder(fn, llrs, repeats: int):
    fn(llrs[0])  # warm-up (JIT / first call)
    best, outs = float("inf"), None
    for _ in range(repeats):
        t0 = time.perf_counter()
        outs = [fn(x) for x in llrs]
        best = min(best, time.perf_counter() - t0)
    return best, outs


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--codes", nargs="+", choices=sorted(CODES), default=["bg2", "bg1"])
    p.add_argument("--batches", type=int, default=30, help="number of batches of --batch codewords")
    p.add_argument("--batch", type=int, default=32, help="Sionna batch size (default 32)")
    p.add_argument("--fast-batch", type=int, default=None,
                   help="batch size for the fast decoder (default: same batches as Sionna)")
    p.add_argument("--iterations", type=int, default=20)
    p.add_argument("--ebno", type=float, nargs="+", default=None,
                   help="Eb/N0 [dB] per code (default: the BLER~1e-2 points in CODES)")
    p.add_argument("--threads", type=int, default=os.cpu_count(), help="torch and numba threads")
    p.add_argument("--repeats", type=int, default=2, help="timed passes per decoder (best is shown)")
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--skip-sionna", action="store_true", help="only time the fast decoder")
    args = p.parse_args(argv)

    torch.set_num_threads(args.threads)
    numba.set_num_threads(min(args.threads, numba.config.NUMBA_NUM_THREADS))
    sionna.phy.config.seed = args.seed
    print(f"torch {torch.__version__}, numba {numba.__version__}; threads: torch {torch.get_num_threads()},"
          f" numba {numba.get_num_threads()}; cpus {os.cpu_count()};"
          f" load average {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    print(f"16QAM/AWGN, {args.iterations} max iterations, {args.batches} batches x {args.batch} codewords,"
          f" best of {args.repeats} passes")

    for ci, name in enumerate(args.codes):
        k, n, ebno = CODES[name]
        if args.ebno is not None:
            ebno = args.ebno[min(ci, len(args.ebno) - 1)]
        enc = LDPC5GEncoder(k, n, num_bits_per_symbol=4)
        us, llrs = make_llrs(enc, args.batches, args.batch, ebno)
        u_all = torch.cat(us)
        n_cw = u_all.shape[0]
        print(f"\n=== {name.upper()}: k={k} n={n} (base graph {enc._bg[-1]}, Z={enc.z}), "
              f"Eb/N0={ebno} dB, {n_cw} codewords")
        print(f"{'decoder':44s} {'Mbit/s':>8s} {'x Sionna':>9s} {'BLER':>8s} {'BER':>9s} {'avg it':>7s}")
        rows = []
        ref_rate = None
        if not args.skip_sionna:
            dec = LDPC5GDecoder(enc, num_iter=args.iterations, hard_out=True, return_infobits=True)
            t, outs = time_decoder(dec, llrs, args.repeats)
            bits = torch.cat(outs)
            ref_rate = n_cw * k / t / 1e6
            rows.append(("Sionna LDPC5GDecoder boxplus-phi flooding", ref_rate, bits, float(args.iterations)))
        if args.fast_batch is None:
            fast_llrs = llrs
        else:
            allx = torch.cat(llrs)
            fast_llrs = list(torch.split(allx, args.fast_batch))
        for schedule, rule in FAST_VARIANTS:
            dec = FastLDPC5GDecoder(enc, cn_update=rule, schedule=schedule, num_iter=args.iterations,
                                    early_stop=True)
            t, outs = time_decoder(dec, fast_llrs, args.repeats)
            bits = torch.cat([o.bits for o in outs])
            its = torch.cat([o.iterations for o in outs]).float().mean().item()
            rows.append((f"fast {rule} {schedule} (early stop)", n_cw * k / t / 1e6, bits, its))
        for label, rate, bits, its in rows:
            bler = (bits != u_all).any(dim=1).float().mean().item()
            ber = (bits != u_all).float().mean().item()
            ratio = f"{rate / ref_rate:8.1f}x" if ref_rate else "        -"
            print(f"{label:44s} {rate:8.2f} {ratio} {bler:8.4f} {ber:9.2e} {its:7.2f}")
        sys.stdout.flush()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
