"""Throughput of linksim's AnalogLink: the fast SISO transceiver against Sionna's blocks.

Both sides are ``AnalogLink`` (real values paired into complex symbols, power-normalised,
sent onto the grid, equalised, scaled back); only the transceiver differs:
``implementation="sionna"`` (ResourceGridMapper, GenerateOFDMChannel, ApplyOFDMChannel,
LSChannelEstimator, LMMSEEqualizer: linksim's analog path before the fast transceiver) and
``implementation="fast"`` (:class:`~linksim.phy.fast_siso.FastSISOTransceiver`). The
values require gradients and each timed call includes the backward pass of a sum of the
output (as when a codec is trained through the channel) unless ``--no-grad``.

Sides alternate, ``--repeats`` calls each after a warm-up; median and fastest call are
printed with the load average. Throughput = real values sent per second.

    python benchmarks/analog_throughput.py
    python benchmarks/analog_throughput.py --channels tdl --batch 64 --values 4096
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time

import sionna.phy
import torch

from linksim.phy.analog_link import AnalogLink
from linksim.phy.channels import build_channel, channel_class
from linksim.phy.ofdm import OFDMGrid
from linksim.phy.transceiver import make_transceiver

CHANNEL_PARAMS = {
    "awgn": {},
    "rayleigh": {},
    "tdl": {"profile": "A", "delay_spread_s": 100e-9, "carrier_frequency_hz": 3.5e9, "speed_mps": 3.0},
}


def build(channel: str, csi: str, implementation: str) -> AnalogLink:
    grid = OFDMGrid(72, 14, 30e3, 6, [2, 11])
    params = channel_class(channel).Params(model=channel, **CHANNEL_PARAMS[channel])
    return AnalogLink(make_transceiver(grid, build_channel(params, grid), csi, implementation))


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--channels", nargs="+", choices=list(CHANNEL_PARAMS), default=["awgn", "rayleigh", "tdl"])
    ap.add_argument("--csi", nargs="+", choices=["perfect", "ls"], default=["perfect", "ls"])
    ap.add_argument("--batch", type=int, default=128)
    ap.add_argument("--values", type=int, default=3 * 1024, help="real values per sample (1,536 REs: 2 slots)")
    ap.add_argument("--snr-db", type=float, default=10.0)
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--no-grad", action="store_true", help="time the forward pass only")
    args = ap.parse_args(argv)
    torch.set_num_threads(1)  # two torch threads on a loaded 2-core machine: 10-50x slowdowns at random
    no = 10.0 ** (-args.snr_db / 10.0)
    x0 = torch.randn(args.batch, args.values, generator=torch.Generator().manual_seed(0))
    print(f"# AnalogLink, fast vs Sionna transceiver: batch {args.batch} x {args.values} values, "
          f"{args.snr_db} dB, {'forward only' if args.no_grad else 'forward + backward'}, torch threads 1, "
          f"{args.repeats} timed calls per side")
    header = (f"{'channel':>9} {'csi':>8} {'fast Mvalues/s':>15} {'sionna Mvalues/s':>17} {'ratio':>6} "
              f"{'min ratio':>9} {'load 1/5/15':>13}")
    print(header)
    print("-" * len(header))
    for channel in args.channels:
        for csi in args.csi:
            links = {"fast": build(channel, csi, "fast"), "sionna": build(channel, csi, "sionna")}

            def call(link):
                x = x0.clone().requires_grad_(not args.no_grad)
                t = time.perf_counter()
                out = link(x, no)
                if not args.no_grad:
                    out.values.sum().backward()
                return time.perf_counter() - t

            for link in links.values():
                call(link)  # warm-up
            wall = {"fast": [], "sionna": []}
            for rep in range(args.repeats):
                for name in (["fast", "sionna"] if rep % 2 == 0 else ["sionna", "fast"]):
                    sionna.phy.config.seed = rep
                    wall[name].append(call(links[name]))
            tf, ts = statistics.median(wall["fast"]), statistics.median(wall["sionna"])
            n = args.batch * args.values
            avg = "/".join(f"{x:.1f}" for x in os.getloadavg())
            print(f"{channel:>9} {csi:>8} {n / tf / 1e6:>15.2f} {n / ts / 1e6:>17.2f} {ts / tf:>6.1f} "
                  f"{min(wall['sionna']) / min(wall['fast']):>9.1f} {avg:>13}", flush=True)
    print("# ratio = median Sionna-transceiver time / median fast time (same AnalogLink code around it)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
