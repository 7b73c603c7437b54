"""The Bridge model end to end: shapes, bits, save/load, training lowers eq. (14), resume, ablations."""

from __future__ import annotations

import math

import pytest
import torch

from linksim.codecs.bridge import (
    BridgeConfig,
    BridgeModel,
    LossWeights,
    load_bridge_model,
    model_inputs,
    save_bridge_model,
    total_loss,
)
from linksim.codecs.bridge.training import TrainConfig, train_bridge
from linksim.data.digits_av import load_digits_av

# a small model: the tests exercise the code paths, not the capacity
TINY = BridgeConfig(feature_dim=16, latent_dim=8, specific_dim=8, codebook_size=16, reset_window=4, mi_dim=4,
                    critic_hidden=8, macs_dim=8, gate_hidden=8)


@pytest.fixture(scope="module")
def data():
    return load_digits_av("train", 48)


def test_forward_shapes_indices_and_bits(data):
    torch.manual_seed(0)
    model = BridgeModel(TINY).eval()
    inputs = model_inputs(data.select(slice(0, 6)))
    out = model(inputs)
    assert out.z["video"].shape == (6, 8 * 4, 8) and out.h["audio"].shape == (6, 8, 8)
    assert out.recon["video"].shape == (6, 8, 1, 28, 28) and out.recon["audio"].shape == (6, 2048)
    assert out.recon["text"].shape == (6, 5, 18)
    indices = model.encode(inputs)
    assert {m: tuple(v.shape) for m, v in indices.items()} == {"video": (6, 32), "audio": (6, 8), "text": (6, 5)}
    assert all(int(v.min()) >= 0 and int(v.max()) < 16 for v in indices.values())
    assert model.bits_per_index == 4 and BridgeModel(BridgeConfig(codebook_size=300)).bits_per_index == 9
    # the receiver's decode of the indices is the training pass's decode of z_hat
    for m, x in model.decode_indices(indices).items():
        assert torch.allclose(x, out.recon[m], atol=1e-5)


def test_weights_round_trip_through_safetensors(tmp_path, data):
    torch.manual_seed(1)
    model = BridgeModel(TINY).eval()
    model.vq.usage[0, 1, 3] = True  # buffers travel too
    path = save_bridge_model(model, tmp_path / "w.safetensors", extra={"note": "test"})
    loaded = load_bridge_model(path)
    assert loaded.config == TINY
    for (k, a), (k2, b) in zip(model.state_dict().items(), loaded.state_dict().items()):
        assert k == k2 and torch.equal(a, b), k
    inputs = model_inputs(data.select(slice(0, 4)))
    with torch.no_grad():
        assert all(torch.equal(a, b) for a, b in zip(model.encode(inputs).values(), loaded.encode(inputs).values()))
    half = load_bridge_model(save_bridge_model(model, tmp_path / "h.safetensors", half=True))
    assert torch.allclose(half.vq.codebook, model.vq.codebook, rtol=1e-3, atol=1e-3)


def test_loading_something_else_is_a_clear_error(tmp_path):
    from safetensors.torch import save_file

    save_file({"x": torch.zeros(1)}, str(tmp_path / "other.safetensors"))
    with pytest.raises(ValueError, match="(?i)holds no bridge model"):
        load_bridge_model(tmp_path / "other.safetensors")
    with pytest.raises(FileNotFoundError, match="no such file"):
        load_bridge_model(tmp_path / "missing.safetensors")


def _fixed_batch_loss(model: BridgeModel, data, weights: LossWeights) -> float:
    model.eval()  # no eq. (1) noise: a deterministic value to compare
    inputs = model_inputs(data)
    with torch.no_grad():
        return float(total_loss(model.loss_terms(model(inputs), inputs, weights), weights))


def test_a_few_training_steps_lower_the_total_loss(tmp_path, data):
    cfg = TrainConfig(model=TINY, steps=25, batch_size=16, lr=3e-3, seed=0, checkpoint_every=100)
    torch.manual_seed(cfg.seed)  # train_bridge draws the same initial parameters from this seed
    before = _fixed_batch_loss(BridgeModel(TINY), data, cfg.weights)
    res = train_bridge(cfg, tmp_path / "w.safetensors", progress=False, data=data)
    # the codebook starts on latents in training: compare with the trained model on the same batch
    after = _fixed_batch_loss(res["model"], data, cfg.weights)
    assert after < 0.8 * before
    assert (tmp_path / "w.safetensors").is_file() and (tmp_path / "w.ckpt.json").is_file()
    assert math.isfinite(res["loss_last"])


def test_resume_continues_exactly_where_training_stopped(tmp_path, data):
    cfg = TrainConfig(model=TINY, steps=12, batch_size=8, seed=3, checkpoint_every=6)
    straight = train_bridge(cfg, tmp_path / "a.safetensors", progress=False, data=data)["model"]
    train_bridge(TrainConfig(model=TINY, steps=6, batch_size=8, seed=3, checkpoint_every=6),
                 tmp_path / "b.safetensors", progress=False, data=data)
    resumed = train_bridge(cfg, tmp_path / "b.safetensors", resume=True, progress=False, data=data)
    assert resumed["step"] == 12
    for (k, a), b in zip(straight.state_dict().items(), resumed["model"].state_dict().values()):
        assert torch.allclose(a, b, atol=1e-6), k


def test_ablation_without_sdmi_leaves_the_critic_untouched(tmp_path, data):
    cfg = TrainConfig(model=TINY, weights=LossWeights(ablation="none"), steps=3, batch_size=8, seed=0)
    torch.manual_seed(0)
    initial = {k: v.clone() for k, v in BridgeModel(TINY).sdmi.state_dict().items()}
    model = train_bridge(cfg, tmp_path / "w.safetensors", progress=False, data=data)["model"]
    assert all(torch.equal(initial[k], v) for k, v in model.sdmi.state_dict().items())
    terms = model.loss_terms(model(model_inputs(data.select(slice(0, 4)))), model_inputs(data.select(slice(0, 4))),
                             cfg.weights)
    assert terms.sdmi is None and terms.macs is None


def test_bad_loss_settings_name_the_field():
    with pytest.raises(ValueError, match="ablation: unknown 'no_vq'"):
        LossWeights(ablation="no_vq")
    with pytest.raises(ValueError, match="audio_samples: 2000 is not a multiple of audio_steps 24"):
        BridgeConfig(audio_samples=2000, audio_steps=24)


def test_linksim_train_bridge_trains_resumes_and_reports(tmp_path, capsys):
    from linksim.cli import main

    out = tmp_path / "w.safetensors"
    common = ["train", "bridge", "--out", str(out), "--batch-size", "4", "--num-samples", "8", "--quiet",
              "--codebook-size", "16", "--latent-dim", "8", "--reset-window", "2"]
    assert main(common + ["--steps", "2"]) == 0
    assert main(common + ["--steps", "3", "--resume"]) == 0
    printed = capsys.readouterr().out
    assert "step 3" in printed and "error-free digits-av:test: psnr" in printed
    assert load_bridge_model(out).config.codebook_size == 16
    assert main(["train", "bridge", "--out", str(tmp_path / "x.safetensors"), "--data", "photos"]) == 2
    assert "unknown training source" in capsys.readouterr().err
    assert main(["train", "bridge", "--out", str(tmp_path / "x.safetensors"), "--data", "vggsound:/nope"]) == 2
    assert "vggsound:/nope': folder /nope does not exist" in capsys.readouterr().err
