"""``caption_latent`` end to end through ``linksim run`` on tiny models loaded with ``from_pretrained``."""

from __future__ import annotations

import csv
from pathlib import Path

import pytest

from linksim.cli import main

SIZE = 16  # pixels; the tiny VAE downsamples by 2 -> latent [4, 8, 8]

SCENARIO = """
name: cl-modes
seed: 5
device: cpu
data: {{source: photos, num_samples: 2, batch_size: 2, image_size: {size}}}
channels:
  - {{model: awgn}}
  - {{model: tdl, profile: A, delay_spread_s: 100.0e-9, carrier_frequency_hz: 3.5e9, speed_mps: 3.0}}
sweep: {{snr_db: [{snr}]}}
{budget}
codecs:
  - name: text-latent
    type: caption_latent
    params: {{captioner: {blip}, pipeline: {sd}, num_inference_steps: 4, strength: 0.5, caption_max_tokens: 6}}
  - name: text
    type: caption_latent
    params: {{mode: text, captioner: {blip}, pipeline: {sd}, num_inference_steps: 2, caption_max_tokens: 6}}
  - name: latent-vae
    type: caption_latent
    params: {{mode: latent, pipeline: {sd}, strength: 0.0}}
  - name: latent-diffused
    type: caption_latent
    params: {{mode: latent, pipeline: {sd}, num_inference_steps: 4, strength: 0.5}}
    streams: {{latent: {{path: analog}}}}
  - name: auto
    type: caption_latent
    params: {{mode: auto, captioner: {blip}, pipeline: {sd}, num_inference_steps: 2, strength: 0.5,
             caption_max_tokens: 6, auto_min_snr_db: 10}}
    streams: {{latent: {{dtype: uint8, code_rate: 0.5}}}}
metric_models: {{clip: {clip}, lpips_backbone: {alexnet}}}
metrics: [ber, bler, mse, psnr, ssim, lpips, clip_score, fid, caption_cer]
"""


def write_scenario(path: Path, models, snr: float = 40.0, budget: str = "", **override) -> Path:
    fields = dict(size=SIZE, snr=snr, budget=budget, blip=models.blip, sd=models.sd, clip=models.clip,
                  alexnet=models.alexnet)
    fields.update(override)
    path.write_text(SCENARIO.format(**fields))
    return path


def rows(out: Path) -> list[dict]:
    with open(out / "results.csv", newline="") as fh:
        return list(csv.DictReader(fh))


@pytest.fixture(scope="module")
def modes_run(tiny_models, tmp_path_factory):
    tmp = tmp_path_factory.mktemp("cl_run")
    scenario = write_scenario(tmp / "modes.yaml", tiny_models)
    out = tmp / "out"
    assert main(["run", str(scenario), "--out", str(out), "--quiet"]) == 0
    return out, rows(out)


def value(table, codec, channel, metric):
    found = [r for r in table if (r["codec"], r["channel"], r["metric"]) == (codec, channel, metric)]
    assert len(found) == 1, (codec, channel, metric)
    return found[0]


@pytest.mark.slow
def test_every_mode_runs_over_awgn_and_tdl(modes_run):
    out, table = modes_run
    codecs = ["text-latent", "text", "latent-vae", "latent-diffused", "auto"]
    channels = sorted({r["channel"] for r in table})
    assert len(channels) == 2 and "awgn" in channels
    for codec in codecs:
        for ch in channels:
            for metric in ("mse", "ssim", "lpips", "fid"):
                v = float(value(table, codec, ch, metric)["value"])
                assert v == v, (codec, ch, metric)  # not NaN: every mode produced images
    assert (out / "samples").is_dir()


@pytest.mark.slow
def test_payload_bits_match_the_formula_for_the_tiny_latent(modes_run, tiny_models):
    _, table = modes_run
    latent_values = tiny_models.latent_channels * (SIZE // tiny_models.downsampling) ** 2
    assert float(value(table, "text-latent", "awgn", "payload_bits/caption")["value"]) == 8 * 77
    assert float(value(table, "text-latent", "awgn", "payload_bits/latent")["value"]) == 64 * latent_values
    assert float(value(table, "text-latent", "awgn", "payload_bits")["value"]) == 8 * 77 + 64 * latent_values
    assert float(value(table, "text", "awgn", "payload_bits")["value"]) == 8 * 77
    assert float(value(table, "latent-vae", "awgn", "payload_bits")["value"]) == 64 * latent_values
    # uint8 quantiser: 8 bits per value plus the 64-bit range header
    assert float(value(table, "auto", "awgn", "payload_bits/latent")["value"]) == 8 * latent_values + 64
    assert not [r for r in table if r["codec"] == "latent-diffused" and r["metric"].startswith("payload_bits")]


@pytest.mark.slow
def test_text_metrics_only_for_codecs_that_send_text(modes_run):
    _, table = modes_run
    assert float(value(table, "text-latent", "awgn", "caption_cer")["value"]) == 0.0  # 40 dB: error-free
    assert value(table, "text", "awgn", "clip_score/received")
    assert not [r for r in table if r["codec"].startswith("latent-") and r["metric"].startswith(("clip", "caption"))]
    fid = value(table, "text", "awgn", "fid")
    assert fid["n"] == "2" and fid["ci_low"] == "" and fid["ci_high"] == ""


@pytest.mark.slow
def test_auto_drops_the_latent_below_its_snr_and_over_the_budget(tiny_models, tmp_path):
    low = write_scenario(tmp_path / "low.yaml", tiny_models, snr=5.0)
    text = low.read_text().replace("name: cl-modes", "name: cl-auto")
    # keep only the auto codec: the others are covered above
    head, _, tail = text.partition("codecs:\n")
    auto = tail[tail.index("  - name: auto"):]
    low.write_text(head + "codecs:\n" + auto)
    assert main(["run", str(low), "--out", str(tmp_path / "low"), "--quiet"]) == 0
    table = rows(tmp_path / "low")
    assert float(value(table, "auto", "awgn", "payload_bits")["value"]) == 8 * 77
    assert not [r for r in table if r["metric"] == "payload_bits/latent"]

    # 40 dB but a budget that fits only the caption (616 bits = 154 REs at 16QAM)
    budget = low.read_text().replace("snr_db: [5.0]", "snr_db: [40.0]").replace("\n\ncodecs:", "\nbudget: {channel_uses: 200}\ncodecs:")
    over = tmp_path / "budget.yaml"
    over.write_text(budget)
    assert "channel_uses: 200" in budget
    assert main(["run", str(over), "--out", str(tmp_path / "budget"), "--quiet"]) == 0
    table = rows(tmp_path / "budget")
    assert float(value(table, "auto", "awgn", "payload_bits")["value"]) == 8 * 77
    assert float(value(table, "auto", "awgn", "infeasible")["value"]) == 0.0


def test_a_missing_model_stops_the_run_before_any_simulation(tiny_models, tmp_path, capsys):
    for field, missing, expect in [("blip", tmp_path / "no-blip", "params.captioner"),
                                   ("clip", tmp_path / "no-clip", "metric_models.clip"),
                                   ("alexnet", tmp_path / "no-alexnet.pth", "metric_models.lpips_backbone")]:
        scenario = write_scenario(tmp_path / f"{field}.yaml", tiny_models, **{field: missing})
        out = tmp_path / f"out-{field}"
        assert main(["run", str(scenario), "--out", str(out), "--quiet"]) == 1
        err = capsys.readouterr().err.strip().splitlines()
        assert len(err) == 1 and expect in err[0] and str(missing) in err[0], err
        assert not (out / "results.csv").exists()


def test_validate_loads_no_model_and_prints_the_payload_table(tiny_models, tmp_path, capsys):
    # validation must work without the models: point them at folders that do not exist
    scenario = write_scenario(tmp_path / "v.yaml", tiny_models, blip=tmp_path / "absent", clip=tmp_path / "absent")
    assert main(["validate", str(scenario)]) == 0
    out = capsys.readouterr().out
    assert "scenario is valid" in out and "payload per sample" in out
    assert "616" in out


def test_image_size_must_suit_the_vae(tiny_models, tmp_path, capsys):
    scenario = write_scenario(tmp_path / "odd.yaml", tiny_models, size=15)
    assert main(["validate", str(scenario)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("data.image_size:") and "multiples of 2" in err[0]


REPO = Path(__file__).resolve().parents[3]


def test_shipped_flickr8k_scenario_prints_table_1(capsys):
    assert main(["validate", str(REPO / "scenarios" / "caption_latent_flickr8k.yaml")]) == 0
    out = capsys.readouterr().out
    for figure in ("50,331,648", "1,048,576", "616", "6,291,456", "131,072", "[4,64,64]"):
        assert figure in out, figure


def test_flickr8k_scenario_takes_a_user_folder(tmp_path, capsys):
    from PIL import Image

    folder = tmp_path / "Flicker8k_Dataset"
    folder.mkdir()
    for i in range(3):
        Image.new("RGB", (500, 375 + i), (40 * i, 90, 200)).save(folder / f"{i}_flickr.jpg")
    text = (REPO / "scenarios" / "caption_latent_flickr8k.yaml").read_text()
    text = text.replace("  source: photos ", f"  source: folder:{folder} ").replace("num_samples: 100", "num_samples: 3")
    assert f"folder:{folder}" in text
    (tmp_path / "f.yaml").write_text(text)
    assert main(["validate", str(tmp_path / "f.yaml")]) == 0
    assert "3 samples each" in capsys.readouterr().out
