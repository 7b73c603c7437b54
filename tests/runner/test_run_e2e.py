"""End to end: tiny scenario files through the real `linksim` entry point."""

from __future__ import annotations

import csv
from pathlib import Path

import h5py
import pytest

from linksim.cli import main
from linksim.results import CSV_COLUMNS

TINY = """
name: tiny
seed: 3
data: {{source: digits28, num_samples: 6, batch_size: 4, image_size: 8}}
phy:
  ofdm: {{fft_size: 24, num_ofdm_symbols: 14, subcarrier_spacing_hz: 30.0e3, cyclic_prefix_length: 2,
         pilot_ofdm_symbol_indices: [2, 11]}}
  csi: {csi}
channels:
  - {{model: awgn}}
  - {{model: rayleigh}}
sweep: {{snr_db: [0, 30]}}
codecs:
  - name: f32
    type: raw
    streams: {{data: {{dtype: float32, modulation: qpsk, code_rate: 1.0}}}}
  - name: f16-ldpc
    type: raw
    streams: {{data: {{dtype: float16, modulation: qam16, code_rate: 0.5}}}}
  - name: analog
    type: raw
    streams: {{data: {{path: analog}}}}
  - name: jpeg
    type: jpeg
    params: {{quality: 90}}
metrics: [ber, bler, mse, psnr, ssim]
"""


def _write(tmp_path: Path, csi: str = "perfect", decoder: str = "auto") -> Path:
    path = tmp_path / "tiny.yaml"
    path.write_text(TINY.format(csi=csi).replace("  csi:", f"  decoder: {decoder}\n  csi:"))
    return path


def _rows(path: Path) -> list[dict]:
    with open(path, newline="") as fh:
        return list(csv.DictReader(fh))


@pytest.fixture(scope="module")
def finished_run(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("run")
    scenario = _write(tmp)
    out = tmp / "out"
    assert main(["run", str(scenario), "--out", str(out), "--quiet"]) == 0
    return scenario, out


def test_run_writes_every_output(finished_run):
    _, out = finished_run
    assert (out / "results.csv").exists() and (out / "results.h5").exists()
    assert (out / "scenario.yaml").exists()
    for fmt in ("png", "pdf", "svg"):  # the default outputs: section
        assert (out / "plots" / f"ber_vs_snr.{fmt}").is_file() and (out / "plots" / f"psnr_vs_snr.{fmt}").is_file()
    import json

    context = json.loads((out / "figures.json").read_text())
    assert context["source_values"] == 8 * 8 and set(context["channel_titles"].values()) >= {"AWGN"}
    assert len(list((out / "samples").glob("*.png"))) == 4 * 2  # codec x channel
    with open(out / "results.csv", newline="") as fh:
        assert next(csv.reader(fh)) == CSV_COLUMNS
    with h5py.File(out / "results.h5") as f:
        assert len(f["points"]) == 4 * 2 * 2
        assert "sionna" in f.attrs["version_sionna"] or f.attrs["version_sionna"]
        assert "scenario" in f.attrs


def test_rows_follow_the_contract(finished_run):
    _, out = finished_run
    rows = _rows(out / "results.csv")
    metrics = {(r["codec"], r["metric"]) for r in rows}
    for codec in ("f32", "f16-ldpc", "jpeg"):
        for m in ("ber", "bler", "ber/" + ("bytes" if codec == "jpeg" else "data"), "payload_bits", "channel_uses"):
            assert (codec, m) in metrics, (codec, m)
    assert ("analog", "ber") not in metrics  # no bits on the analog path
    assert ("analog", "channel_uses") in metrics
    assert ("f32", "nonfinite_rate") in metrics and ("jpeg", "fallback_rate") in metrics
    by = {(r["codec"], r["channel"], float(r["snr_db"]), r["metric"]): r for r in rows}
    # channel uses: 64 float32 values = 2048 bits, QPSK uncoded -> 1024 REs per sample
    assert float(by[("f32", "awgn", 0.0, "channel_uses")]["value"]) == 1024
    assert float(by[("f32", "awgn", 0.0, "payload_bits")]["value"]) == 64 * 32
    # 30 dB over AWGN: error-free, float32 reconstructs bit-exactly
    assert float(by[("f32", "awgn", 30.0, "ber")]["value"]) == 0.0
    assert float(by[("f32", "awgn", 30.0, "mse")]["value"]) == 0.0
    assert by[("f32", "awgn", 30.0, "psnr")]["value"] == "inf"
    # 0 dB uncoded: errors, and fidelity is worse than at 30 dB
    assert float(by[("f32", "awgn", 0.0, "ber")]["value"]) > 0.01
    # ... and bit errors in exponents create non-finite floats, counted and shown as the policy says
    assert float(by[("f32", "awgn", 0.0, "nonfinite_rate")]["value"]) > 0
    assert float(by[("f32", "awgn", 30.0, "nonfinite_rate")]["value"]) == 0
    assert float(by[("analog", "awgn", 0.0, "mse")]["value"]) > float(by[("analog", "awgn", 30.0, "mse")]["value"])
    # confidence intervals bracket the value where they apply, empty where they do not
    r = by[("f32", "awgn", 0.0, "ber")]
    assert float(r["ci_low"]) <= float(r["value"]) <= float(r["ci_high"])
    assert by[("f32", "awgn", 0.0, "channel_uses")]["ci_low"] == ""


def test_second_run_resumes_and_force_recomputes(finished_run, capsys):
    scenario, out = finished_run
    before = (out / "results.csv").read_text()
    capsys.readouterr()
    assert main(["run", str(scenario), "--out", str(out), "--quiet"]) == 0
    assert "0 points simulated, 16 resumed" in capsys.readouterr().out
    assert (out / "results.csv").read_text() == before
    assert main(["run", str(scenario), "--out", str(out), "--quiet", "--force"]) == 0
    assert "16 points simulated" in capsys.readouterr().out
    assert (out / "results.csv").read_text() == before  # same seed, same numbers


def test_changed_scenario_recomputes_only_what_changed(finished_run, tmp_path, capsys):
    scenario, out = finished_run
    copy = tmp_path / "out"
    import shutil

    shutil.copytree(out, copy)
    changed = tmp_path / "changed.yaml"
    changed.write_text(scenario.read_text().replace("params: {quality: 90}", "params: {quality: 50}"))
    capsys.readouterr()
    assert main(["run", str(changed), "--out", str(copy), "--quiet"]) == 0
    assert "4 points simulated, 12 resumed" in capsys.readouterr().out


@pytest.mark.parametrize("decoder", ["sionna", "fast"])
def test_ls_estimation_runs_with_either_decoder(tmp_path, decoder):
    out = tmp_path / "out"
    assert main(["run", str(_write(tmp_path, csi="ls", decoder=decoder)), "--out", str(out), "--quiet"]) == 0
    by = {(r["codec"], r["channel"], float(r["snr_db"]), r["metric"]): r for r in _rows(out / "results.csv")}
    assert float(by[("f16-ldpc", "awgn", 30.0, "ber")]["value"]) == 0.0
    assert float(by[("f16-ldpc", "awgn", 0.0, "bler")]["value"]) > 0.5


def test_unwritable_output_is_a_clear_error_before_simulating(tmp_path, capsys):
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    assert main(["run", str(_write(tmp_path)), "--out", str(blocker / "sub"), "--quiet"]) == 1
    err = capsys.readouterr().err
    assert "not writable" in err and "Traceback" not in err


EARLY = """
name: early
seed: 5
data: {source: digits28, num_samples: 4, batch_size: 2, image_size: 8}
phy:
  ofdm: {fft_size: 24, num_ofdm_symbols: 14, subcarrier_spacing_hz: 30.0e3, cyclic_prefix_length: 2,
         pilot_ofdm_symbol_indices: [2, 11]}
channels: [{model: awgn}]
sweep: {snr_db: [0, 30, 35], target_bit_errors: 50, max_samples: 40}
codecs:
  - name: f32
    type: raw
    streams: {data: {dtype: float32, modulation: qpsk, code_rate: 1.0}}
  - name: analog
    type: raw
    streams: {data: {path: analog}}
metrics: [ber, mse]
"""


def test_points_stop_at_the_error_target_and_skip_beyond_an_error_free_snr(tmp_path, capsys):
    path = tmp_path / "early.yaml"
    path.write_text(EARLY)
    out = tmp_path / "out"
    assert main(["run", str(path), "--out", str(out), "--quiet"]) == 0
    assert "1 points skipped" in capsys.readouterr().out
    by = {(r["codec"], float(r["snr_db"]), r["metric"]): r for r in _rows(out / "results.csv")}
    # 0 dB uncoded QPSK: ~8 % of 2048 bits per sample are wrong, the first batch already has > 50
    low = by[("f32", 0.0, "ber")]
    assert float(low["n"]) == 2 * 64 * 32 and float(by[("f32", 0.0, "mse")]["n"]) == 2
    # 30 dB: no error in all 40 samples (the data set cycled 10 times), so 35 dB is skipped
    assert float(by[("f32", 30.0, "ber")]["n"]) == 40 * 64 * 32 and float(by[("f32", 30.0, "ber")]["value"]) == 0
    assert ("f32", 35.0, "ber") not in by
    # analog streams have no bit errors to count: every point draws max_samples
    assert float(by[("analog", 35.0, "mse")]["n"]) == 40


def test_an_snr_sweep_with_targets_reports_the_snr_each_codec_needs(tmp_path, capsys):
    """required_snr.csv and its table (printed with --quiet too: it is a result)."""
    import yaml

    raw = yaml.safe_load(_write(tmp_path).read_text())
    raw["codecs"] = [c for c in raw["codecs"] if c["name"] == "analog"]
    raw["sweep"] = {"snr_db": [0, 10, 20]}
    raw["targets"] = {"psnr": 18.0}
    raw["metrics"] = ["psnr"]
    path = tmp_path / "targets.yaml"
    path.write_text(yaml.safe_dump(raw))
    capsys.readouterr()
    assert main(["run", str(path), "--out", str(tmp_path / "out"), "--quiet"]) == 0
    text = capsys.readouterr().out
    assert "SNR each codec needs for each target" in text
    rows = _rows(tmp_path / "out" / "required_snr.csv")
    assert [(r["codec"], r["channel"], r["metric"], float(r["target"])) for r in rows] == [
        ("analog", "awgn", "psnr", 18.0), ("analog", "rayleigh", "psnr", 18.0)]
    for r in rows:  # analog pixels reach 18 dB between 0 and 20 dB on both channels (seeded)
        assert r["crossing"] == "crossed" and 0.0 < float(r["required_snr_db"]) < 20.0
        assert float(r["required_snr_low_db"]) <= float(r["required_snr_db"]) <= float(r["required_snr_high_db"])
    assert not (tmp_path / "out" / "range.csv").exists()
