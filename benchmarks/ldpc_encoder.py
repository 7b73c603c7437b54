"""Throughput of Sionna's LDPC5GEncoder / CRC24B vs linksim's FastLDPC5GEncoder / FastCRC24B.

The link's code block: 1704 payload bits + CRC24B = k = 1728 bits, LDPC rate 1/2
(n = 3456) with the 16QAM output interleaver (num_bits_per_symbol = 4).  For
each batch size every contender is warmed up (numba JIT / cache load, torch's
first call), then the contenders run interleaved, round after round, so that a
change of load on the machine hits all of them alike; min and median over the
rounds are reported, and Mbit/s = information bits (LDPC: k, CRC: payload bits)
per second of the min.  Sionna runs with one torch thread (on a loaded 2-core
machine more threads are slower, at random); the fast kernels run with one
numba thread and with all of them, and the encoder also into a reused output
buffer (``out=``: a fresh buffer above glibc's 32 MiB mmap threshold is
page-faulted in on every call).  The outputs are compared bit for bit once.

    python benchmarks/ldpc_encoder.py                     # batches 512 and 4096, ~1 min
    python benchmarks/ldpc_encoder.py --batches 512 --rounds 3
"""

from __future__ import annotations

import argparse
import os
import time
import warnings

import numba
import numpy as np
import torch

from sionna.phy.fec.crc import CRCDecoder, CRCEncoder
from sionna.phy.fec.ldpc import LDPC5GEncoder

from linksim.phy.fast_crc import FastCRC24B
from linksim.phy.fast_ldpc_encoder import FastLDPC5GEncoder

K_PAYLOAD, N, M = 1704, 3456, 4
K = K_PAYLOAD + 24


def _with_numba_threads(fn, threads: int):
    def run(x):
        old = numba.get_num_threads()
        numba.set_num_threads(threads)
        try:
            return fn(x)
        finally:
            numba.set_num_threads(old)
    return run


def _load() -> str:
    return "load average %.2f %.2f %.2f" % os.getloadavg()


def bench(batch: int, rounds: int, seed: int = 0) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        enc = LDPC5GEncoder(K, N, num_bits_per_symbol=M)
    fenc = FastLDPC5GEncoder(enc)
    crc_enc = CRCEncoder("CRC24B")
    crc_dec = CRCDecoder(crc_enc)
    fcrc = FastCRC24B()
    gen = torch.Generator().manual_seed(seed)
    payload = torch.randint(0, 2, (batch, K_PAYLOAD), generator=gen).to(torch.float32)
    u = crc_enc(payload)  # [batch, K]
    nt = numba.config.NUMBA_NUM_THREADS
    cw_buf = torch.empty(batch, N)  # a reused output buffer (no page faults)

    # name -> (function, input, info bits per call, group for the equality check)
    groups = {
        "LDPC encode": [("sionna", enc, u), ("fast, 1 thread", _with_numba_threads(fenc, 1), u),
                        (f"fast, {nt} threads", _with_numba_threads(fenc, nt), u),
                        ("fast, 1 th., out=", _with_numba_threads(lambda x: fenc(x, out=cw_buf), 1), u)],
        "CRC24B encode": [("sionna", crc_enc, payload),
                          ("fast, 1 thread", _with_numba_threads(fcrc.encode, 1), payload),
                          (f"fast, {nt} threads", _with_numba_threads(fcrc.encode, nt), payload)],
        "CRC24B check": [("sionna", crc_dec, u),
                         ("fast, 1 thread", _with_numba_threads(fcrc.check, 1), u),
                         (f"fast, {nt} threads", _with_numba_threads(fcrc.check, nt), u)],
    }
    info = {"LDPC encode": K, "CRC24B encode": K_PAYLOAD, "CRC24B check": K_PAYLOAD}

    torch.set_num_threads(1)
    # warm-up and bit-exactness
    for g, contenders in groups.items():
        outs = [fn(x) for _, fn, x in contenders]
        for o in outs[1:]:
            if g == "CRC24B check":
                assert torch.equal(o[0], outs[0][0]) and torch.equal(o[1], outs[0][1].squeeze(-1))
            else:
                assert torch.equal(o, outs[0]), g
    times = {(g, name): [] for g, cs in groups.items() for name, _, _ in cs}
    print(f"\nbatch {batch}: k={K} (payload {K_PAYLOAD} + CRC24B), n={N}, "
          f"num_bits_per_symbol={M}; {rounds} rounds; torch threads 1; {_load()}")
    for r in range(rounds):
        for g, contenders in groups.items():
            order = contenders if r % 2 == 0 else contenders[::-1]
            for name, fn, x in order:
                t0 = time.perf_counter()
                fn(x)
                times[(g, name)].append(time.perf_counter() - t0)
    for g, contenders in groups.items():
        ref = min(times[(g, contenders[0][0])])
        for name, _, _ in contenders:
            ts = np.asarray(times[(g, name)])
            tmin, tmed = ts.min(), float(np.median(ts))
            print(f"  {g:14s} {name:16s} min {tmin * 1e3:9.2f} ms  median {tmed * 1e3:9.2f} ms  "
                  f"{batch * info[g] / tmin / 1e6:9.1f} Mbit/s  x{ref / tmin:7.1f}")
    print(f"  after: {_load()}")


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--batches", type=int, nargs="+", default=[512, 4096])
    p.add_argument("--rounds", type=int, default=5)
    args = p.parse_args(argv)
    print(f"{_load()}; numba threads {numba.config.NUMBA_NUM_THREADS} "
          f"({os.cpu_count()} CPUs); torch {torch.__version__}")
    for b in args.batches:
        bench(b, args.rounds)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
