"""End to end: a tiny scenario with ``hevc``, ``avif`` and ``webp`` on digits28 through ``linksim run``."""

from __future__ import annotations

import csv

from linksim.cli import main

TINY = """
name: tiny-image-files
seed: 5
data: {source: digits28, num_samples: 2, batch_size: 2}
phy:
  ofdm: {fft_size: 72, num_ofdm_symbols: 14, subcarrier_spacing_hz: 30.0e3, cyclic_prefix_length: 6,
         pilot_ofdm_symbol_indices: [2, 11]}
channels: [{model: awgn}]
sweep: {snr_db: [0, 30]}
codecs:
  - {name: hevc, type: hevc, params: {target_channel_uses: 1200}}
  - {name: avif, type: avif, params: {quality: 60}}
  - {name: webp, type: webp, params: {target_channel_uses: 1200}}
metrics: [ber, mse, psnr]
"""


def test_tiny_run(tmp_path):
    scenario = tmp_path / "tiny.yaml"
    scenario.write_text(TINY)
    out = tmp_path / "out"
    assert main(["run", str(scenario), "--out", str(out), "--quiet"]) == 0
    with open(out / "results.csv", newline="") as fh:
        by = {(r["codec"], float(r["snr_db"]), r["metric"]): r["value"] for r in csv.DictReader(fh)}
    for codec in ("hevc", "avif", "webp"):
        # 30 dB: error-free, every file decodes; 0 dB with 16QAM: the files are lost
        assert float(by[(codec, 30.0, "ber")]) == 0.0 and float(by[(codec, 30.0, "fallback_rate")]) == 0.0
        assert float(by[(codec, 30.0, "psnr")]) > 25
        assert float(by[(codec, 0.0, "fallback_rate")]) > 0.5
    for codec in ("hevc", "webp"):  # the target is met
        assert float(by[(codec, 30.0, "over_budget_rate")]) == 0.0
        assert float(by[(codec, 30.0, "channel_uses")]) <= 1200
