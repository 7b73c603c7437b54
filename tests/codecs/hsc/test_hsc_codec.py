"""The ``hsc`` codec: shipped weights, streams, training, weights files, end to end."""

from __future__ import annotations

import csv
import math

import pytest
import torch

from linksim.codecs import AnalogPayload, CodecContext, StreamOverride, codec_class
from linksim.codecs.hsc import (
    DEFAULT_WEIGHTS,
    SemanticConfig,
    SemanticModel,
    load_semantic_model,
    save_semantic_model,
)
from linksim.codecs.hsc.training import TrainConfig, train_semantic
from linksim.data import load_dataset

HSC = codec_class("hsc")


def _ctx(shape=(1, 28, 28), budget=None):
    # a stand-in for the runner's: 16QAM, rate 1/2 -> 2 bits per resource element
    return CodecContext(device=torch.device("cpu"), sample_shape=shape,
                        channel_uses=lambda stream, bits: -(-int(bits) // 2), budget_channel_uses=budget)


def _codec(params: dict, streams: dict | None = None, shape=(1, 28, 28), budget=None):
    p = HSC.Params.model_validate(params)
    t = HSC.resolve_transports({k: StreamOverride(**v) for k, v in (streams or {}).items()})
    return HSC(p, t, _ctx(shape, budget))


def _loopback(codec, x):
    """Error-free channel: every stream arrives as sent."""
    sent = codec.encode(x)
    received = {n: (p.values if isinstance(p, AnalogPayload) else p.bits) for n, p in sent.items()}
    return sent, codec.decode(received, sent)


def _mse(a, b):
    return float((a - b).square().mean())


@pytest.fixture(scope="module")
def digits():
    return load_dataset("digits28", 64).images


@pytest.mark.parametrize("kind", ["vae", "vqvae"])
def test_shipped_weights_exist_and_are_small(kind):
    path = DEFAULT_WEIGHTS[kind]
    assert path.is_file() and path.stat().st_size < 4 * 2**20
    m = load_semantic_model(path)
    assert m.config.kind == kind and m.config.image_shape == (1, 28, 28) and m.config.k == 128


def test_shipped_weights_recomposition_beats_sr_for_every_d(digits):
    """Error-free channel, exact CR (float32): MSE(X̃) < MSE(X̂) for every d >= 1, -> 0 at d = L."""
    sr_mse, previous = None, math.inf
    for d in range(0, 29):
        codec = _codec({"d": d}, {"cr": {"dtype": "float32"}})
        _, rec = _loopback(codec, digits)
        mse = _mse(rec.x_hat, digits)
        if d == 0:
            sr_mse = mse
            torch.testing.assert_close(rec.metrics["mse_sr"].mean().item(), mse, rtol=1e-5, atol=1e-9)
        else:
            assert mse < sr_mse
            assert mse <= previous * (1 + 1e-3) + 1e-9
        previous = mse
    assert previous < 1e-9


def test_default_cr_is_jpeg2000_bytes(digits):
    codec = _codec({"d": 1})
    assert codec.transports["cr"].modulation == "qam16" and codec.transports["cr"].code_rate == 0.5
    sent, rec = _loopback(codec, digits[:8])
    assert sent["cr"].lengths is not None
    assert isinstance(sent["sr"], AnalogPayload) and sent["sr"].values.shape == (8, 256)
    # power normalisation: k complex symbols of average power P = 1
    torch.testing.assert_close(sent["sr"].values.square().sum(dim=1), torch.full((8,), 128.0))
    assert int(rec.rates["fallback_rate"][0].sum()) == 0
    assert _mse(rec.x_hat, digits[:8]) < float(rec.metrics["mse_sr"].mean())
    torch.testing.assert_close(rec.metrics["eta"], torch.full((8,), (128 / 0.8 + 2 * 1 * 28) / 784, dtype=torch.float64))


def test_damaged_cr_falls_back_to_sr(digits):
    codec = _codec({"d": 3})
    sent = codec.encode(digits[:4])
    received = {"sr": sent["sr"].values, "cr": torch.zeros_like(sent["cr"].bits)}  # header all zero: lo = hi
    rec = codec.decode(received, sent)
    assert torch.isfinite(rec.x_hat).all()
    assert rec.x_hat.shape == digits[:4].shape


def test_digital_sr_with_dtype(digits):
    assert _codec({"d": 4}, {"cr": {"dtype": "float32"}}).payload_bits() is None  # analog SR: measured
    codec = _codec({"d": 4}, {"sr": {"path": "digital", "dtype": "float16"}, "cr": {"dtype": "float32"}})
    assert codec.payload_bits() == {"sr": 256 * 16, "cr": 4 * 56 * 32}
    _, rec = _loopback(codec, digits[:8])
    assert _mse(rec.x_hat, digits[:8]) < float(rec.metrics["mse_sr"].mean())


def test_clamp_policy_on_float_streams(digits):
    codec = _codec({"d": 2}, {"sr": {"path": "digital", "dtype": "float16", "nonfinite": "clamp"},
                              "cr": {"dtype": "float16", "nonfinite": "clamp"}})
    sent = codec.encode(digits[:4])
    bits = sent["cr"].bits.clone()
    bits[:, 1:6] = 1.0  # the first value's exponent all ones: inf / NaN
    rec = codec.decode({"sr": sent["sr"].bits, "cr": bits}, sent)
    assert torch.isfinite(rec.x_hat).all()
    assert int(rec.rates["cr_nonfinite_rate"][0].sum()) == 4


def test_d_auto_fills_the_budget():
    # SR: 128 REs (analog); CR float32: d * 56 * 32 bits / 2 bits per RE = 896 d REs
    codec = _codec({"d": "auto"}, {"cr": {"dtype": "float32"}}, budget=128 + 3 * 896 + 10)
    assert codec.d == 3
    assert _codec({"d": "auto"}, {"cr": {"dtype": "float32"}}, budget=100).d == 0
    with pytest.raises(ValueError, match="budget"):
        _codec({"d": "auto"})


def test_params_are_checked():
    with pytest.raises(ValueError):
        HSC.Params.model_validate({"d": -1})
    with pytest.raises(ValueError):
        HSC.Params.model_validate({"sr": "nope"})
    with pytest.raises(ValueError, match="k = 128"):
        _codec({"k": 64})


def test_another_codec_as_sr(digits):
    codec = _codec({"sr": "jpeg2000", "sr_params": {"params": {"compression_ratio": 10}}, "d": 6},
                   {"cr": {"dtype": "float32"}})
    sent, rec = _loopback(codec, digits[:8])
    assert set(sent) == {"sr.bytes", "cr"} and "sr.bytes" in codec.transports
    assert _mse(rec.x_hat, digits[:8]) < float(rec.metrics["mse_sr"].mean())


def test_rgb_with_jpeg2000_sr_recovers_the_image_at_full_rank():
    g = torch.Generator().manual_seed(0)
    x = torch.rand(3, 3, 16, 20, generator=g)
    for d, check in ((0, None), (6, None), (16, 0.0)):
        codec = _codec({"sr": "jpeg2000", "sr_params": {"params": {"compression_ratio": 20}}, "d": d},
                       {"cr": {"dtype": "float64"}}, shape=(3, 16, 20))
        sent, rec = _loopback(codec, x)
        if d:
            assert sent["cr"].bits.shape[1] == d * (16 + 3 * 20) * 64
            assert _mse(rec.x_hat, x) < float(rec.metrics["mse_sr"].mean())
        if check is not None:
            assert _mse(rec.x_hat, x) < 1e-12


def _tiny_model(kind: str) -> SemanticModel:
    torch.manual_seed(0)
    return SemanticModel(SemanticConfig(kind=kind, image_shape=(1, 28, 28), k=8, hidden=(32,), codebook_size=16))


@pytest.mark.parametrize("half", [False, True])
def test_weights_round_trip(tmp_path, half):
    m = _tiny_model("vae").eval()
    path = save_semantic_model(m, tmp_path / "m.safetensors", half=half)
    back = load_semantic_model(path)
    assert back.config == m.config
    x = torch.rand(3, 1, 28, 28)
    tol = 1e-2 if half else 0.0
    torch.testing.assert_close(back.decode(back.encode(x).z), m.decode(m.encode(x).z), atol=tol, rtol=0)


def test_vqvae_codec_sends_codeword_or_index(tmp_path, digits):
    path = save_semantic_model(_tiny_model("vqvae"), tmp_path / "vq.safetensors")
    analog = _codec({"sr": "vqvae", "weights": str(path), "d": 28}, {"cr": {"dtype": "float64"}})
    _, rec = _loopback(analog, digits[:4])
    assert _mse(rec.x_hat, digits[:4]) < 1e-9
    digital = _codec({"sr": "vqvae", "weights": str(path), "d": 2}, {"sr": {"path": "digital"}})
    assert digital.payload_bits() is None  # CR as JPEG2000: data dependent
    sent, _ = _loopback(digital, digits[:4])
    assert sent["sr"].bits.shape == (4, 4)  # log2(16) bits per index


def test_short_training_and_resume(tmp_path):
    cfg = TrainConfig(steps=3, batch_size=8, k=4, hidden=(16,), checkpoint_every=2, num_samples=32)
    out = tmp_path / "w.safetensors"
    res = train_semantic(cfg, out, progress=False)
    assert res["step"] == 3 and math.isfinite(res["train_mse"])
    assert (tmp_path / "w.ckpt.json").is_file() and (tmp_path / "w.optim.safetensors").is_file()
    cfg.steps = 5
    res = train_semantic(cfg, out, resume=True, progress=False)
    assert res["step"] == 5
    assert load_semantic_model(out).config.k == 4
    vq = train_semantic(TrainConfig(kind="vqvae", steps=2, batch_size=8, k=4, hidden=(16,), num_samples=32),
                        tmp_path / "vq", progress=False)
    assert load_semantic_model(vq["weights"]).config.kind == "vqvae"


def test_finetuning_through_the_analog_link(tmp_path):
    from linksim.cli import main

    path = save_semantic_model(_tiny_model("vae"), tmp_path / "m.safetensors")
    out = tmp_path / "ft.safetensors"
    assert main(["train", "hsc", "--finetune-from", str(path), "--out", str(out), "--steps", "2",
                 "--batch-size", "4", "--num-samples", "16", "--channel", "awgn", "--quiet"]) == 0
    before, after = load_semantic_model(path), load_semantic_model(out)
    assert after.config == before.config
    assert not torch.equal(after.decoder[0].weight, before.decoder[0].weight)


def test_ncr_adapters_train_load_and_plug_into_the_codec(tmp_path, digits):
    from linksim.cli import main
    from linksim.codecs.hsc.models import (
        NCRAdapters,
        NCRConfig,
        load_ncr_adapters,
        save_ncr_adapters,
    )

    # untrained adapters are the identity
    fresh = save_ncr_adapters(NCRAdapters(NCRConfig(k=128, d=3)), tmp_path / "id.safetensors")
    plain, adapted = _codec({"d": 3}, {"cr": {"dtype": "float32"}}), _codec({"d": 3, "adapters": str(fresh)},
                                                                              {"cr": {"dtype": "float32"}})
    torch.testing.assert_close(_loopback(adapted, digits[:4])[1].x_hat, _loopback(plain, digits[:4])[1].x_hat,
                               atol=1e-5, rtol=0)
    with pytest.raises(ValueError, match="trained for d = 3"):
        _codec({"d": 2, "adapters": str(fresh)})
    # a few training steps through the analog SR link and the digital CR link
    out = tmp_path / "ncr.safetensors"
    assert main(["train", "hsc", "--ncr-for", str(DEFAULT_WEIGHTS["vae"]), "--d", "3", "--out", str(out),
                 "--steps", "2", "--batch-size", "4", "--num-samples", "16", "--channel", "awgn", "--quiet"]) == 0
    trained = load_ncr_adapters(out)
    assert trained.config.d == 3 and not torch.equal(trained.dec[-1].weight, torch.zeros_like(trained.dec[-1].weight))
    _, rec = _loopback(_codec({"d": 3, "adapters": str(out)}, {"cr": {"dtype": "float32"}}), digits[:4])
    assert torch.isfinite(rec.x_hat).all()


def test_cli_train_from_scratch(tmp_path):
    from linksim.cli import main

    out = tmp_path / "cli.safetensors"
    assert main(["train", "hsc", "--steps", "2", "--batch-size", "4", "--num-samples", "16", "--k", "4",
                 "--hidden", "16", "--out", str(out), "--quiet", "--half"]) == 0
    assert load_semantic_model(out).config.hidden == (16,)


TINY = """
name: hsc-tiny
seed: 1
data: {source: digits28, num_samples: 4, batch_size: 4}
phy:
  ofdm: {fft_size: 72, num_ofdm_symbols: 14, subcarrier_spacing_hz: 30.0e3, cyclic_prefix_length: 6,
         pilot_ofdm_symbol_indices: [2, 11]}
  csi: perfect
channels: [{model: awgn}]
sweep: {snr_db: [30]}
codecs:
  - name: sr-only
    type: hsc
    series: hsc
    params: {d: 0}
  - name: hsc-d4
    type: hsc
    series: hsc
    params: {d: 4}
    streams: {cr: {dtype: float16, modulation: qam16, code_rate: 0.5}}
metrics: [ber, mse]
"""


def test_end_to_end_through_linksim_run(tmp_path):
    from linksim.cli import main

    scenario = tmp_path / "hsc.yaml"
    scenario.write_text(TINY)
    assert main(["validate", str(scenario)]) == 0
    out = tmp_path / "out"
    assert main(["run", str(scenario), "--out", str(out), "--quiet"]) == 0
    with open(out / "results.csv", newline="") as fh:
        rows = list(csv.DictReader(fh))
    mse = {r["codec"]: float(r["value"]) for r in rows if r["metric"] == "mse"}
    assert mse["hsc-d4"] < mse["sr-only"]
    assert {r["metric"] for r in rows if r["codec"] == "hsc-d4"} >= {"channel_uses", "payload_bits/cr"}
    import h5py

    with h5py.File(out / "results.h5", "r") as f:
        groups = [g for g in f["points"].values() if g.attrs["codec"] == "hsc-d4"]
        eta = groups[0]["per_sample"]["eta"][()]
        mse_sr = groups[0]["per_sample"]["mse_sr"][()]
    assert eta == pytest.approx([(128 / 0.8 + 2 * 4 * 28) / 784] * 4)
    assert mse_sr.mean() == pytest.approx(mse["sr-only"], rel=0.05)
    # the series: MSE against the load, and X-hat beside X-tilde (the paper's Figs. 2 and 5)
    assert (out / "plots" / "mse_vs_eta.png").is_file() and (out / "plots" / "mse_vs_channel_uses.png").is_file()
    assert (out / "samples" / "hsc__awgn__30dB.png").is_file()
    (out / "plots" / "mse_vs_eta.png").unlink()
    assert main(["plot", str(out)]) == 0
    assert (out / "plots" / "mse_vs_eta.png").is_file()


def test_weights_are_named_by_shipped_name_or_path(tmp_path):
    from linksim.codecs.hsc.models import WEIGHTS_DIR, resolve_weights, shipped_weights

    assert {"digits28_vae", "digits28_vqvae", "digits28_vae_rayleigh"} <= set(shipped_weights())
    assert resolve_weights("digits28_vae") == WEIGHTS_DIR / "digits28_vae.safetensors"
    assert resolve_weights(str(tmp_path / "w.safetensors")) == tmp_path / "w.safetensors"
    with pytest.raises(ValueError, match="no shipped weights named 'digits28_nope'.*digits28_vae"):
        resolve_weights("digits28_nope")
    # the scenario's validation names the field
    with pytest.raises(ValueError, match="weights"):
        HSC.Params.model_validate({"weights": "digits28_nope"})
    codec = _codec({"d": 0, "weights": "digits28_vae_rayleigh"})
    assert codec.model.config.k == 128


def test_finetuning_and_ncr_checkpoint_and_resume(tmp_path):
    """Fine-tuning and NCR training write checkpoints and continue from them; NCR takes a list of d."""
    import json

    from linksim.cli import main
    from linksim.codecs.hsc.models import load_ncr_adapters

    path = save_semantic_model(_tiny_model("vae"), tmp_path / "m.safetensors")
    common = ["--batch-size", "4", "--num-samples", "8", "--channel", "awgn", "--quiet", "--checkpoint-every", "1"]
    ft = tmp_path / "ft.safetensors"
    assert main(["train", "hsc", "--finetune-from", str(path), "--out", str(ft), "--steps", "2", *common]) == 0
    assert json.loads((tmp_path / "ft.ckpt.json").read_text())["step"] == 2
    assert main(["train", "hsc", "--finetune-from", str(path), "--out", str(ft), "--steps", "3", "--resume",
                 *common]) == 0
    assert json.loads((tmp_path / "ft.ckpt.json").read_text())["step"] == 3
    assert (tmp_path / "ft.optim.safetensors").is_file()

    pattern = str(tmp_path / "ncr_d{d}.safetensors")
    assert main(["train", "hsc", "--ncr-for", str(ft), "--d", "1,2", "--out", pattern, "--steps", "2",
                 "--half", *common]) == 0
    for d in (1, 2):
        assert load_ncr_adapters(tmp_path / f"ncr_d{d}.safetensors").config.d == d
        assert json.loads((tmp_path / f"ncr_d{d}.ckpt.json").read_text())["step"] == 2
    assert main(["train", "hsc", "--ncr-for", str(ft), "--d", "2", "--out", str(tmp_path / "ncr_d2.safetensors"),
                 "--steps", "3", "--resume", *common]) == 0
    assert json.loads((tmp_path / "ncr_d2.ckpt.json").read_text())["step"] == 3
    with pytest.raises(FileNotFoundError, match="no checkpoint"):
        from linksim.codecs.hsc.training import train_ncr

        train_ncr(load_semantic_model(ft), torch.rand(4, 1, 28, 28), 1, channel="awgn", steps=1, progress=False,
                  out=tmp_path / "none.safetensors", resume=True)
