"""Where the time of one DigitalLink call goes, stage by stage (percentages).

Runs ``DigitalLink`` (``implementation="fast"`` by default) under cProfile for a few calls
and attributes the cumulative time of the functions that implement each stage of the chain;
what no stage claims is "other" (Python glue, padding, reshapes).

    python benchmarks/profile_link.py                          # TDL-A, LS, batch 512
    python benchmarks/profile_link.py --channel awgn --implementation sionna
"""

from __future__ import annotations

import argparse
import cProfile
import os
import pstats
import sys

import numba
import sionna.phy
import torch

sys.path.insert(0, os.path.dirname(__file__))
import phy_throughput as pt  # noqa: E402  (the same link as the throughput benchmark)

def _stages() -> dict[str, list]:
    """stage -> the functions (both implementations) whose cumulative times make it up."""
    from sionna.phy.fec.crc import CRCDecoder, CRCEncoder
    from sionna.phy.fec.ldpc import LDPC5GDecoder, LDPC5GEncoder
    from sionna.phy.fec.scrambling import TB5GScrambler
    from sionna.phy.mapping import Demapper, Mapper

    from linksim.phy import channels
    from linksim.phy.digital_link import DigitalLink
    from linksim.phy.fast_crc import FastCRC
    from linksim.phy.fast_ldpc import FastLDPC5GDecoder
    from linksim.phy.fast_ldpc_encoder import FastLDPC5GEncoder
    from linksim.phy.fast_qam import FastQAM
    from linksim.phy.fast_siso import FastSISOTransceiver
    from linksim.phy.transceiver import OFDMTransceiver

    responses = [getattr(c, f) for c in vars(channels).values() if isinstance(c, type)
                 for f in ("frequency_response", "slot_gains") if f in vars(c)]
    return {
        "CRC encode": [FastCRC.encode, CRCEncoder.call],
        "LDPC encode": [FastLDPC5GEncoder.__call__, LDPC5GEncoder.call],
        "scrambling": [TB5GScrambler.call],
        "QAM mapping": [FastQAM.map, Mapper.call],
        "channel response": responses,
        "transceiver (grid, noise, LS, equaliser)": [FastSISOTransceiver.forward, OFDMTransceiver.forward],
        "QAM demapping": [FastQAM.demap, Demapper.call],
        "LDPC decoding": [FastLDPC5GDecoder.__call__, LDPC5GDecoder.call],
        "CRC check": [FastCRC.check, CRCDecoder.call],
        "error counting": [DigitalLink._count],
    }


def _cumulative(stats, functions) -> float:
    keys = {(f.__code__.co_filename, f.__code__.co_firstlineno, f.__code__.co_name) for f in functions}
    return sum(v[3] for k, v in stats.items() if k in keys)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--channel", choices=list(pt.SNR_DB), default="tdl")
    ap.add_argument("--csi", choices=["ls", "perfect"], default="ls")
    ap.add_argument("--rule", default="boxplus-phi")
    ap.add_argument("--implementation", choices=["fast", "sionna"], default="fast")
    ap.add_argument("--batch", type=int, default=512)
    ap.add_argument("--calls", type=int, default=3)
    ap.add_argument("--threads", type=int, default=1, help="numba threads (torch: 1)")
    args = ap.parse_args(argv)
    torch.set_num_threads(1)
    numba.set_num_threads(args.threads)
    ns = argparse.Namespace(code_rate=0.5, iterations=20, max_block_bits=1728, csi=args.csi)
    link = pt.build_linksim(args.channel, args.rule, ns)
    if args.implementation == "sionna":
        from linksim.phy.digital_link import DigitalLink
        from linksim.phy.transceiver import make_transceiver

        tr = make_transceiver(link.transceiver.grid, link.transceiver.channel, args.csi, "sionna")
        link = DigitalLink(tr, pt.MODULATION, 0.5, 20, decoder="fast", max_block_bits=1728, cn_update=args.rule,
                           implementation="sionna")
    bits = torch.randint(0, 2, (args.batch, 1704), generator=torch.Generator().manual_seed(0)).to(torch.float32)
    no = 10 ** (-pt.SNR_DB[args.channel] / 10)
    sionna.phy.config.seed = 1
    link(bits, no)  # warm-up
    prof = cProfile.Profile()
    prof.enable()
    for _ in range(args.calls):
        link(bits, no)
    prof.disable()
    stats = pstats.Stats(prof).stats
    from linksim.phy.digital_link import DigitalLink

    stages = _stages()
    total = _cumulative(stats, [DigitalLink.forward])
    rows = []
    for stage, functions in stages.items():
        t = _cumulative(stats, functions)
        if stage.startswith("transceiver"):  # the channel response is its own row
            t -= _cumulative(stats, stages["channel response"])
        rows.append((stage, t))
    rows.append(("other (glue, padding, reshapes)", total - sum(t for _, t in rows)))
    load = "/".join(f"{x:.1f}" for x in os.getloadavg())
    print(f"# DigitalLink implementation={args.implementation}, {args.channel}, CSI {args.csi}, {args.rule}, "
          f"batch {args.batch} x 1704 bits, {args.calls} calls, numba threads {args.threads}, load {load}")
    print(f"# {total / args.calls * 1e3:.1f} ms per call, {args.batch * 1704 * args.calls / total / 1e6:.2f} "
          f"information Mbit/s (under cProfile)")
    print(f"{'stage':<42} {'ms/call':>9} {'share':>7}")
    for stage, t in rows:
        print(f"{stage:<42} {t / args.calls * 1e3:>9.1f} {100 * t / total:>6.1f}%")
    return 0


if __name__ == "__main__":
    sys.exit(main())
