"""``linksim train deepjscc``: options checked first (one line, exit 2, nothing written), a
few steps through the real analog link write a checkpoint that loads into the codec, and
``--resume`` continues exactly as an uninterrupted run (optimizer, batches, SNRs, and
Sionna's channel and noise draws).

The trainer is named by class reference (``linksim train <module:Class>``), which works
whether or not the checkout's entry points are installed."""

from __future__ import annotations

import pytest
import torch

import linksim
from linksim.cli import main
from linksim.codecs.deepjscc.models import load_deepjscc_model
from linksim.codecs.deepjscc.training import TrainConfig, photo_crops, train_deepjscc, training_data

REF = "linksim.codecs.deepjscc.codec:DeepJSCCCodec"
TINY_ARGS = ["--batch-size", "4", "--num-samples", "8", "--filters", "4,8", "--quiet"]

BAD_OPTIONS = [
    (["--steps", "0"], "--steps"),
    (["--lr", "nan"], "--lr"),
    (["--lr", "0"], "--lr"),
    (["--snr-db", "20,0"], "--snr-db"),
    (["--snr-db", "nan"], "--snr-db"),
    (["--snr-db", "0,400"], "--snr-db"),
    (["--snr-db", "1,2,3"], "--snr-db"),
    (["--batch-size", "0"], "--batch-size"),
    (["--checkpoint-every", "0"], "--checkpoint-every"),
    (["--seed", "-1"], "--seed"),
    (["--device", "banana"], "--device"),
    (["--channel", "nope"], "--channel"),
    (["--variant", "djscc"], "--variant"),
    (["--data", "cifar"], "--data"),
    (["--csi", "genie"], "--csi"),
    (["--equalizer", "zf"], "--equalizer"),
    (["--image-size", "30"], "--image-size"),
    (["--bandwidth-ratio", "1/40"], "--bandwidth-ratio"),
    (["--bandwidth-ratio", "abc"], "--bandwidth-ratio"),
    (["--filters", "4"], "--filters"),
    (["--steps", "x"], "--steps"),
]


@pytest.mark.parametrize(("options", "field"), BAD_OPTIONS, ids=[" ".join(o) for o, _ in BAD_OPTIONS])
def test_bad_options_exit_2_with_one_line_naming_the_option(tmp_path, capsys, options, field):
    rc = main(["train", REF, "--out", str(tmp_path / "w.safetensors"), "--steps", "2", *TINY_ARGS, *options])
    err = capsys.readouterr().err
    assert rc == 2, err
    assert err.startswith(f"{field}: ") and err.count("\n") == 1, err
    assert not list(tmp_path.iterdir())  # nothing written


def test_a_few_steps_write_weights_the_codec_loads(tmp_path, capsys):
    out = tmp_path / "w.safetensors"
    rc = main(["train", REF, "--out", str(out), "--steps", "2", "--variant", "adjscc", "--channel", "rayleigh",
               "--snr-db", "0,20", "--half", *TINY_ARGS])
    text = capsys.readouterr().out
    assert rc == 0, text
    assert "k/n = 123/784" in text and "test PSNR over rayleigh at 0 dB" in text and "at 20 dB" in text
    assert {p.name for p in tmp_path.iterdir()} == {"w.safetensors", "w.optim.safetensors", "w.ckpt.json"}
    model, extra = load_deepjscc_model(out)
    assert model.config.variant == "adjscc" and extra["channel"] == "rayleigh" and extra["snr_db"] == [0.0, 20.0]
    codec = linksim.build_codec(REF, {"weights": str(out)})
    assert codec.config == model.config and codec.bandwidth_ratio == 123 / 784


def _assert_same(a: dict, b: dict, atol: float = 1e-6) -> None:
    assert a.keys() == b.keys()
    worst = max(float((a[k] - b[k]).abs().max()) for k in a)
    assert worst <= atol, f"largest difference {worst:.3g}"


@pytest.mark.parametrize(("variant", "channel"), [("deepjscc", "awgn"), ("adjscc", "rayleigh")])
def test_resume_continues_exactly(tmp_path, variant, channel):
    images = training_data("digits28", None, 16, 0)[0]
    cfg = dict(variant=variant, channel=channel, snr_db=(0.0, 20.0), batch_size=4, filters=(4, 8), seed=3,
               checkpoint_every=100)
    full = train_deepjscc(TrainConfig(steps=5, **cfg), tmp_path / "full", progress=False, images=images)
    part = train_deepjscc(TrainConfig(steps=2, **cfg), tmp_path / "part", progress=False, images=images)
    assert part["step"] == 2
    resumed = train_deepjscc(TrainConfig(steps=5, **cfg), tmp_path / "part", resume=True, progress=False,
                             images=images)
    assert resumed["step"] == 5
    _assert_same(full["model"].state_dict(), resumed["model"].state_dict())
    _assert_same(load_deepjscc_model(full["weights"])[0].state_dict(),
                 load_deepjscc_model(resumed["weights"])[0].state_dict())
    assert resumed["train_mse"] == pytest.approx(full["train_mse"], rel=1e-6)


def test_resume_without_or_with_a_damaged_checkpoint_is_one_line(tmp_path, capsys):
    out = tmp_path / "w.safetensors"
    assert main(["train", REF, "--out", str(out), "--steps", "1", "--resume", *TINY_ARGS]) == 1
    assert "no checkpoint" in capsys.readouterr().err
    assert main(["train", REF, "--out", str(out), "--steps", "1", *TINY_ARGS]) == 0
    (tmp_path / "w.optim.safetensors").write_bytes(b"garbage" * 10)
    capsys.readouterr()
    assert main(["train", REF, "--out", str(out), "--steps", "2", "--resume", *TINY_ARGS]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "w.optim.safetensors" in err and "Traceback" not in err, err


def test_photo_crops_hold_out_photos():
    train = photo_crops(None, ("chelsea", "flower", "camera"), 4, 32, 0)
    test = photo_crops(("chelsea", "flower", "camera"), (), 3, 32, 1)
    assert train.shape == (4, 3, 32, 32) and test.shape == (3, 3, 32, 32)
    assert torch.equal(train, photo_crops(None, ("chelsea", "flower", "camera"), 4, 32, 0))  # same seed, same crops


def test_validate_prints_the_exact_ratio(tmp_path, capsys):
    (tmp_path / "s.yaml").write_text(f"""
name: v
device: cpu
data: {{source: digits28, num_samples: 2, batch_size: 2}}
channels: [{{model: awgn}}]
sweep: {{snr_db: [10]}}
codecs:
  - {{name: adj, type: "{REF}", params: {{variant: adjscc, weights: random, bandwidth_ratio: 1/12}}}}
metrics: [psnr]
""")
    assert main(["validate", str(tmp_path / "s.yaml")]) == 0
    out = " ".join(capsys.readouterr().out.split())
    assert "adjscc: k/n = 74/784 = 0.09439" in out and "[3,7,7]" in out
