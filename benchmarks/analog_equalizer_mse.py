"""Per-symbol MSE of the analog receiver's two estimates on Rayleigh block fading.

``AnalogLink`` equalises each symbol to the unbiased estimate ``z = y h*/|h|^2`` (error
variance ``no_eff = N0/|h|^2``, plus the estimation error with LS CSI) and returns either
``z`` (``analog_equalizer: unbiased``) or the linear MMSE estimate ``z / (1 + no_eff)``
(``mmse``). With perfect CSI the MMSE estimate's mean MSE is ``N0 e^N0 E1(N0)``; the
unbiased one's is ``E[N0/|h|^2]``, which is infinite for |h|^2 ~ Exp(1) (a sample mean
grows with the number of fades drawn), with median ``N0/ln 2 = 1.44 N0``.

Each sample is one slot (one fade, 864 symbols); the table gives the mean and median of
the per-sample symbol MSE over ``--samples`` fades.

    python benchmarks/analog_equalizer_mse.py
"""

from __future__ import annotations

import argparse
import math
import os

import sionna.phy
import torch
from scipy.special import exp1

from linksim.phy.analog_link import AnalogLink
from linksim.phy.channels import build_channel, channel_class
from linksim.phy.ofdm import OFDMGrid
from linksim.phy.transceiver import make_transceiver


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--samples", type=int, default=20000, help="fades (one slot each) per point")
    ap.add_argument("--snr-db", type=float, nargs="+", default=[0.0, 10.0, 20.0])
    args = ap.parse_args()
    grid = OFDMGrid(72, 14, 30e3, 6, [2, 11])
    channel = build_channel(channel_class("rayleigh").Params(model="rayleigh"), grid)
    x = torch.randn(args.samples, 2 * grid.data_symbols_per_slot, generator=torch.Generator().manual_seed(1))
    print(f"# Rayleigh block fading, {args.samples} fades per point, load {os.getloadavg()[0]:.1f}")
    print(f"{'CSI':>8} {'Es/N0':>6} {'N0':>7} {'unbiased mean':>14} {'unbiased median':>16} "
          f"{'MMSE mean':>10} {'MMSE median':>12} {'MMSE theory':>12}")
    for csi in ("perfect", "ls"):
        for snr in args.snr_db:
            n0 = 10.0 ** (-snr / 10.0)
            row = {}
            for eq in ("unbiased", "mmse"):
                sionna.phy.config.seed = 7  # the same fades and noise for both estimates
                link = AnalogLink(make_transceiver(grid, channel, csi, "fast"), eq)
                with torch.no_grad():
                    mse = link(x, n0).symbol_mse.double()
                row[eq] = (float(mse.mean()), float(mse.median()))
            theory = n0 * math.exp(n0) * exp1(n0) if csi == "perfect" else float("nan")
            print(f"{csi:>8} {snr:>6.1f} {n0:>7.4f} {row['unbiased'][0]:>14.4g} {row['unbiased'][1]:>16.4f} "
                  f"{row['mmse'][0]:>10.4f} {row['mmse'][1]:>12.4f} {theory:>12.4f}")


if __name__ == "__main__":
    main()
