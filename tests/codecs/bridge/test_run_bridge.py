"""Bridge through ``linksim run`` / ``linksim validate``: multimodal batches in the sweep."""

from __future__ import annotations

import csv
import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from linksim.cli import main
from linksim.scenario import ScenarioError, load_scenario, validate_scenario

SCENARIOS = Path(__file__).resolve().parents[3] / "scenarios"


def _rows(path: Path) -> dict[tuple, dict]:
    with open(path, newline="") as f:
        return {(r["codec"], r["channel"], float(r["snr_db"]), r["metric"]): r for r in csv.DictReader(f)}


@pytest.mark.slow
def test_cut_down_digits_av_scenario_end_to_end(tmp_path):
    """The shipped scenario with 24 samples, 2 SNRs and the full model only (digital and analog), through the CLI."""
    raw = yaml.safe_load((SCENARIOS / "bridge_digits_av.yaml").read_text())
    raw["data"].update(num_samples=24, batch_size=24)
    raw["sweep"] = {"snr_db": [-10, 15]}
    raw["codecs"] = raw["codecs"][:2]  # the ablations' weights load in test_both_scenarios_validate
    path = tmp_path / "s.yaml"
    path.write_text(yaml.safe_dump(raw))
    run = subprocess.run([sys.executable, "-m", "linksim", "run", str(path), "--out", str(tmp_path / "out"), "--quiet"],
                         capture_output=True, text=True, env=dict(os.environ), timeout=600, check=False)
    assert run.returncode == 0, run.stderr
    rows = _rows(tmp_path / "out" / "results.csv")
    for codec in ("bridge-digital", "bridge-analog"):
        for channel in ("awgn", "rayleigh"):
            for metric in ("psnr", "ssim", "audio_mse", "si_sdr", "text_acc", "probe_acc", "channel_uses"):
                assert (codec, channel, 15.0, metric) in rows, (codec, channel, metric)
    assert ("bridge-digital", "awgn", 15.0, "ber/video") in rows
    assert ("bridge-analog", "awgn", 15.0, "symbol_mse/audio") in rows
    assert float(rows[("bridge-digital", "awgn", 15.0, "channel_uses")]["value"]) == 432  # 280 + 88 + 64 REs
    assert float(rows[("bridge-analog", "awgn", 15.0, "channel_uses")]["value"]) == 720  # (256 + 64 + 40) * 32 / 2
    # QPSK 1/2 at 15 dB over AWGN: no bit error, so the digital codes are the sent ones
    assert float(rows[("bridge-digital", "awgn", 15.0, "ber")]["value"]) == 0.0
    assert float(rows[("bridge-digital", "awgn", 15.0, "text_acc")]["value"]) == 1.0
    # Metrics improve with SNR over AWGN. The tolerance: each row's 95 % interval (t-interval
    # over the 24 samples) must lie wholly on the better side of the other SNR's interval, a
    # test whose false-alarm rate is below 5 % even if the two SNRs were alike; with the gaps
    # measured (docs/codecs/bridge.md: e.g. text accuracy 0.05 -> 1.0) the intervals are far apart.
    for codec in ("bridge-digital", "bridge-analog"):
        for metric, higher_is_better in (("psnr", True), ("ssim", True), ("text_acc", True), ("audio_mse", False),
                                         ("si_sdr", True)):
            low, high = rows[(codec, "awgn", -10.0, metric)], rows[(codec, "awgn", 15.0, metric)]
            if higher_is_better:
                assert float(high["ci_low"]) > float(low["ci_high"]), (codec, metric, low, high)
            else:
                assert float(high["ci_high"]) < float(low["ci_low"]), (codec, metric, low, high)
    samples = sorted(p.name for p in (tmp_path / "out" / "samples").glob("*.png"))
    assert "bridge-digital__awgn.png" in samples and "bridge-analog__rayleigh.png" in samples
    assert (tmp_path / "out" / "plots").is_dir()


def test_both_scenarios_validate(capsys):
    assert main(["validate", str(SCENARIOS / "bridge_digits_av.yaml")]) == 0
    out = capsys.readouterr().out
    assert "5 codecs x 2 channels x 6 SNR points = 60 points, 128 samples each" in out
    assert main(["validate", str(SCENARIOS / "bridge_vggsound.yaml")]) == 0
    assert "scenario is valid" in capsys.readouterr().out


def _scenario(**changes) -> dict:
    raw = {"name": "t", "data": {"source": "digits-av", "num_samples": 4}, "channels": [{"model": "awgn"}],
           "sweep": {"snr_db": [10]}, "codecs": [{"name": "b", "type": "bridge"}]}
    raw.update(changes)
    return raw


def test_modalities_must_agree():
    sc = validate_scenario(_scenario())
    assert sc.metrics == ["ber", "bler", "psnr", "ssim", "audio_mse", "si_sdr", "text_acc", "probe_acc"]
    with pytest.raises(ScenarioError) as e:
        validate_scenario(_scenario(codecs=[{"name": "r", "type": "raw"}]))
    assert e.value.problems == [("codecs[0].type: 'raw' codes images, but data.source 'digits-av' gives (video, "
                                 "audio, text) samples: use a multimodal codec (bridge) or an image source")]
    with pytest.raises(ScenarioError) as e:
        validate_scenario(_scenario(data={"source": "digits28", "num_samples": 4}))
    assert e.value.problems[0].startswith("codecs[0].type: 'bridge' needs (video, audio, text) samples")
    with pytest.raises(ScenarioError) as e:
        validate_scenario(_scenario(metrics=["ber", "mse", "lpips"]))
    assert e.value.problems[0].startswith("metrics[1]: 'mse' does not apply to the (video, audio, text)")
    assert e.value.problems[1].startswith("metrics[2]: 'lpips' does not apply to the (video, audio, text)")
    with pytest.raises(ScenarioError) as e:
        validate_scenario(_scenario(metrics=["video_sim", "text_sim"]))
    assert e.value.problems == [
        "codecs[0].params.image_model: metrics has video_sim: name a CLIP model (hub id or folder)",
        "codecs[0].params.text_model: metrics has text_sim: name a BERT model (hub id or folder)"]
    with pytest.raises(ScenarioError) as e:
        validate_scenario(_scenario(codecs=[{"name": "b", "type": "bridge", "params": {"weights": "nope"}}]))
    assert e.value.problems == [("codecs[0].params.weights: 'nope' is neither a file nor shipped weights "
                                 "(digits_av, digits_av_no_macs, digits_av_no_sdmi, digits_av_none)")]


def test_named_but_missing_foundation_model_is_one_line(tmp_path, capsys):
    raw = _scenario(metrics=["psnr", "video_sim"],
                    codecs=[{"name": "b", "type": "bridge", "params": {"image_model": str(tmp_path / "no-clip")}}])
    path = tmp_path / "s.yaml"
    path.write_text(yaml.safe_dump(raw))
    assert main(["run", str(path), "--out", str(tmp_path / "out"), "--quiet"]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("error: bridge: params.image_model ") and "cannot be loaded" in err[0]


def test_data_the_weights_cannot_code_is_a_data_error(tmp_path, capsys):
    demo = SCENARIOS / "data" / "vggsound_layout_demo"
    raw = _scenario(data={"source": f"vggsound:{demo}", "num_samples": 2, "image_size": 16})
    path = tmp_path / "s.yaml"
    path.write_text(yaml.safe_dump(raw))
    assert main(["validate", str(path)]) == 2
    err = capsys.readouterr().err.strip()
    assert err == (f"data.source 'vggsound:{demo}': codec 'b': bridge: frames per sample are (8, 1, 16, 16), the "
                   "weights expect (8, 1, 28, 28) (train weights on this data: linksim train bridge --data <source>)")
    assert load_scenario(SCENARIOS / "bridge_vggsound.yaml").data.source == f"vggsound:{demo}"


def test_cross_fitted_probe_scores_received_codes_with_probes_fitted_on_sent_ones():
    import torch

    from linksim.codecs.bridge.metrics import cross_fitted_probe

    gen = torch.Generator().manual_seed(0)
    labels = torch.arange(40) % 4
    sent = torch.nn.functional.one_hot(labels, 4).double() * 5 + 0.1 * torch.randn(40, 4, generator=gen,
                                                                                    dtype=torch.float64)
    assert cross_fitted_probe(sent, sent, labels).tolist() == [1.0] * 40  # separable, error-free
    # received codes of another class: every probe is wrong on every sample
    assert cross_fitted_probe(sent, sent.roll(1, dims=1), labels).sum() == 0
    one_class = cross_fitted_probe(sent[:8], sent[:8], torch.zeros(8, dtype=torch.int64))
    assert torch.isnan(one_class).all()  # nothing to fit: NaN, not a made-up accuracy


def test_frame_strips_put_evenly_spaced_frames_side_by_side():
    import torch

    from linksim.data.multimodal import frame_strips

    frames = torch.arange(8.0).reshape(1, 8, 1, 1, 1).expand(2, 8, 1, 3, 2)  # frame t is filled with t
    strip = frame_strips(frames)
    assert strip.shape == (2, 1, 3, 8)
    assert strip[0, 0, 0].tolist() == [0.0, 0.0, 2.0, 2.0, 5.0, 5.0, 7.0, 7.0]  # frames 0, 2, 5, 7
