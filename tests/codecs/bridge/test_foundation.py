"""Eq. (13): CLAP / CLIP / BERT similarities through the real from_pretrained path on tiny models."""

from __future__ import annotations

import pytest
import torch

pytest.importorskip("transformers")

from linksim.codecs.bridge.foundation import FoundationModels  # noqa: E402
from linksim.data.digits_av import SAMPLE_RATE, load_digits_av  # noqa: E402


@pytest.fixture(scope="module")
def tiny_models(tmp_path_factory):
    """Tiny CLAP, CLIP and BERT built from configs, written with save_pretrained."""
    from transformers import (
        BertConfig,
        BertModel,
        BertTokenizer,
        ClapConfig,
        ClapFeatureExtractor,
        ClapModel,
        CLIPConfig,
        CLIPImageProcessor,
        CLIPModel,
    )

    root = tmp_path_factory.mktemp("foundation")
    torch.manual_seed(0)
    text_cfg = dict(hidden_size=32, intermediate_size=37, num_attention_heads=4, num_hidden_layers=1, vocab_size=99)
    CLIPModel(CLIPConfig(text_config=text_cfg, projection_dim=16,
                         vision_config=dict(hidden_size=32, image_size=30, patch_size=6, num_attention_heads=4,
                                            num_hidden_layers=1, intermediate_size=37))).save_pretrained(root / "clip")
    CLIPImageProcessor(size={"shortest_edge": 30}, crop_size={"height": 30, "width": 30}).save_pretrained(root / "clip")
    audio_cfg = dict(spec_size=64, num_mel_bins=16, window_size=4, patch_size=4, patch_stride=(4, 4), hidden_size=32,
                     depths=[1, 1], num_attention_heads=[2, 2], patch_embeds_hidden_size=16, enable_fusion=False)
    ClapModel(ClapConfig(text_config=text_cfg, audio_config=audio_cfg, projection_dim=16)).save_pretrained(root / "clap")
    ClapFeatureExtractor(feature_size=16, sampling_rate=16000, hop_length=160, max_length_s=1, frequency_max=8000,
                         fft_window_size=512).save_pretrained(root / "clap")
    BertModel(BertConfig(vocab_size=40, hidden_size=32, num_hidden_layers=1, num_attention_heads=4,
                         intermediate_size=37)).save_pretrained(root / "bert")
    words = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "a", "handwritten", "moving", "left", "right", "up",
             "down", "zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine"]
    (root / "vocab.txt").write_text("\n".join(words) + "\n")
    BertTokenizer(str(root / "vocab.txt")).save_pretrained(root / "bert")
    return {k: str(root / k) for k in ("clap", "clip", "bert")}


@pytest.mark.slow
def test_similarities_are_one_for_identical_inputs_and_lower_for_others(tiny_models):
    fm = FoundationModels(audio=tiny_models["clap"], image=tiny_models["clip"], text=tiny_models["bert"])
    assert fm._loaded == {}  # nothing loads before it is needed
    batch = load_digits_av("test", 4)
    original = {"audio": batch.audio, "video": batch.frames, "text": batch.captions}
    same = fm.similarities(original, original, SAMPLE_RATE)
    assert set(same) == {"audio_sim", "video_sim", "text_sim"}
    for name, v in same.items():
        assert v.shape == (4,) and torch.allclose(v, torch.ones(4, dtype=torch.float64), atol=1e-5), name
    gen = torch.Generator().manual_seed(0)
    other = {"audio": 0.3 * torch.randn(batch.audio.shape, generator=gen),
             "video": torch.rand(batch.frames.shape, generator=gen),
             "text": ["a handwritten zero moving up"] * 4}
    different = fm.similarities(original, other, SAMPLE_RATE)
    for name, v in different.items():
        assert bool((v < 1 - 1e-4).all()), name


@pytest.mark.slow
def test_video_similarity_is_differentiable_and_only_named_models_score(tiny_models):
    fm = FoundationModels(image=tiny_models["clip"])
    frames = load_digits_av("test", 2).frames
    recon = (0.5 * frames + 0.25).requires_grad_(True)
    sim = torch.nn.functional.cosine_similarity(fm.video_embedding(frames), fm.video_embedding(recon), dim=-1)
    (1 - sim).sum().backward()
    assert recon.grad is not None and float(recon.grad.abs().sum()) > 0
    assert set(fm.similarities({"video": frames, "audio": torch.zeros(2, 2048)},
                               {"video": frames, "audio": torch.zeros(2, 2048)}, SAMPLE_RATE)) == {"video_sim"}


@pytest.mark.slow
def test_pretrained_text_backbone_is_frozen_and_gives_features(tiny_models):
    from linksim.codecs.bridge import BridgeConfig
    from linksim.codecs.bridge.encoders import PretrainedTextEncoder
    from linksim.data.digits_av import VOCABULARY

    cfg = BridgeConfig(feature_dim=12)
    enc = PretrainedTextEncoder(cfg, tiny_models["bert"], VOCABULARY)
    tokens = load_digits_av("test", 3).tokens
    feats = enc(tokens)
    assert feats.shape == (3, cfg.text_length, 12)
    feats.sum().backward()
    assert all(p.grad is None for p in enc.backbone.parameters())
    assert enc.project.weight.grad is not None


@pytest.mark.slow
def test_video_similarity_as_a_training_loss(tiny_models, tmp_path):
    from linksim.codecs.bridge import BridgeConfig, LossWeights
    from linksim.codecs.bridge.training import TrainConfig, train_bridge

    tiny = BridgeConfig(feature_dim=16, latent_dim=8, specific_dim=8, codebook_size=16, mi_dim=4, critic_hidden=8,
                        macs_dim=8, gate_hidden=8)
    cfg = TrainConfig(model=tiny, weights=LossWeights(alpha_sem=1.0), steps=2, batch_size=4,
                      image_model=tiny_models["clip"])
    res = train_bridge(cfg, tmp_path / "w.safetensors", progress=False, data=load_digits_av("train", 8))
    assert res["step"] == 2 and res["loss_last"] == res["loss_last"]  # finite, not NaN
    with pytest.raises(ValueError, match="alpha_sem: > 0 needs an image_model"):
        train_bridge(TrainConfig(model=tiny, weights=LossWeights(alpha_sem=1.0), steps=1), tmp_path / "x",
                     progress=False, data=load_digits_av("train", 8))


@pytest.mark.slow
def test_similarity_rows_through_linksim_run(tiny_models, tmp_path):
    """Named foundation models give audio_sim / video_sim / text_sim rows in results.csv."""
    import csv

    import yaml

    from linksim.cli import main

    scenario = {"name": "sims", "data": {"source": "digits-av", "num_samples": 4, "batch_size": 4},
                "channels": [{"model": "awgn"}], "sweep": {"snr_db": [20]},
                "codecs": [{"name": "b", "type": "bridge",
                            "params": {"audio_model": tiny_models["clap"], "image_model": tiny_models["clip"],
                                       "text_model": tiny_models["bert"]}}],
                "metrics": ["ber", "text_acc", "audio_sim", "video_sim", "text_sim"]}
    path = tmp_path / "s.yaml"
    path.write_text(yaml.safe_dump(scenario))
    assert main(["run", str(path), "--out", str(tmp_path / "out"), "--quiet"]) == 0
    with open(tmp_path / "out" / "results.csv", newline="") as f:
        rows = {r["metric"]: r for r in csv.DictReader(f)}
    assert float(rows["ber"]["value"]) == 0.0 and float(rows["text_acc"]["value"]) == 1.0
    # error-free captions decode to the originals: BERT embeds identical strings
    assert float(rows["text_sim"]["value"]) == pytest.approx(1.0, abs=1e-5)
    for name in ("audio_sim", "video_sim"):
        assert -1.0 <= float(rows[name]["value"]) <= 1.0 and int(rows[name]["n"]) == 4
    assert "psnr" not in rows  # only what metrics asks for
