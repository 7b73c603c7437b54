"""Sionna's APP demapper vs linksim's FastQAM demapper on CPU.

Random Gray-QAM symbols (FastQAM.map, bit-identical to Sionna's Mapper) plus
complex AWGN with a per-symbol noise variance (as an equaliser's effective
noise: ``no`` varies by a factor 4 around ``10^(-SNR/10)``), ``--symbols``
symbols in a ``[1000, symbols/1000]`` tensor.  Timed: Sionna
``Demapper("app")`` (one torch thread: more threads oversubscribe a loaded
small machine), FastQAM.demap ``"app"`` and ``"maxlog"`` with numba on 1 and 2
threads.  Every variant is warmed up (numba cache load / torch first call),
then the variants run interleaved ``--repeats`` times, so that load changes on
the machine hit all of them alike; min and median wall times are reported,
with the load average before and after.  A sanity line gives the largest
difference between FastQAM and Sionna relative to ``1 + |LLR|``.

    python benchmarks/qam_demapper.py                     # qam16, qam64; ~1-2 min (Sionna dominates)
    python benchmarks/qam_demapper.py --mods qam256 --snr 30 --repeats 3
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time

import numba
import torch

from sionna.phy.mapping import Demapper

from linksim.phy.fast_qam import FastQAM
from linksim.phy.modulation import make_constellation

#: default SNR [dB] per modulation: around the LDPC waterfall at code rates ~1/2 - 3/4
DEFAULT_SNR = {"bpsk": 2.0, "qpsk": 5.0, "qam16": 11.0, "qam64": 17.0, "qam256": 23.0}


def make_inputs(q: FastQAM, nsym: int, snr_db: float, seed: int):
    g = torch.Generator().manual_seed(seed)
    rows = 1000 if nsym % 1000 == 0 else 1
    shape = (rows, nsym // rows)
    bits = torch.randint(0, 2, shape[:-1] + (shape[-1] * q.num_bits_per_symbol,), generator=g,
                         dtype=torch.uint8)
    x = q.map(bits)
    no = 10.0 ** (-snr_db / 10.0) * 2.0 ** (4.0 * torch.rand(shape, generator=g) - 2.0)
    y = x + torch.sqrt(no) * torch.randn(shape, dtype=torch.complex64, generator=g)
    return y, no.to(torch.float32)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--mods", nargs="+", default=["qam16", "qam64"], choices=sorted(DEFAULT_SNR))
    p.add_argument("--symbols", type=int, default=1_000_000)
    p.add_argument("--snr", type=float, default=None, help="SNR [dB] (default: per modulation)")
    p.add_argument("--repeats", type=int, default=5)
    p.add_argument("--threads", type=int, nargs="+", default=[1, 2], help="numba thread counts")
    p.add_argument("--no-sionna", action="store_true", help="time FastQAM only")
    args = p.parse_args(argv)

    torch.set_num_threads(1)
    threads = [t for t in args.threads if t <= numba.config.NUMBA_NUM_THREADS]
    print(f"torch {torch.__version__} (1 thread for Sionna), numba {numba.__version__}, "
          f"{os.cpu_count()} CPUs, numba threads {threads}")
    print(f"load average before: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    old_threads = numba.get_num_threads()
    for mod in args.mods:
        snr = DEFAULT_SNR[mod] if args.snr is None else args.snr
        q = FastQAM(mod)
        y, no = make_inputs(q, args.symbols, snr, seed=1)
        variants = {}
        if not args.no_sionna:
            demapper = Demapper("app", constellation=make_constellation(mod, device="cpu"))
            variants["sionna app (torch 1 thr)"] = (None, lambda: demapper(y, no))
        for method in ("app", "maxlog"):
            for t in threads:
                variants[f"fast {method} (numba {t} thr)"] = (
                    t, lambda method=method: q.demap(y, no, method=method))
        times = {k: [] for k in variants}
        outs = {}
        for name, (t, fn) in variants.items():  # warm-up
            numba.set_num_threads(t or old_threads)
            outs[name] = fn()
        for _ in range(args.repeats):
            for name, (t, fn) in variants.items():
                numba.set_num_threads(t or old_threads)
                t0 = time.perf_counter()
                fn()
                times[name].append(time.perf_counter() - t0)
        numba.set_num_threads(old_threads)

        print(f"\n{mod}: {args.symbols:,} symbols, SNR {snr:g} dB, per-symbol no, "
              f"{args.repeats} interleaved repeats")
        ref = min(times["sionna app (torch 1 thr)"]) if not args.no_sionna else None
        for name, ts in times.items():
            tmin, tmed = min(ts), statistics.median(ts)
            speed = f"  x{ref / tmin:7.1f} vs Sionna (min)" if ref else ""
            print(f"  {name:28s} min {1e3 * tmin:9.1f} ms  median {1e3 * tmed:9.1f} ms  "
                  f"{1e9 * tmin / args.symbols:8.1f} ns/symbol{speed}")
        if not args.no_sionna:
            s = outs["sionna app (torch 1 thr)"]
            f = next(v for k, v in outs.items() if k.startswith("fast app"))
            rel = ((f - s).abs() / (1.0 + s.abs())).max().item()
            print(f"  check: max |fast - sionna| / (1 + |sionna|) = {rel:.2e}")
    print(f"\nload average after: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
