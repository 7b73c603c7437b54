"""Learned metrics: LPIPS from weight files, CLIP score, FID over a point, caption CER."""

from __future__ import annotations

import pytest
import torch

from linksim.metrics.learned import MetricModels, caption_cer, load_metrics
from linksim.metrics.lpips import LPIPSAlex, default_heads_path, load_lpips
from linksim.pretrained import ModelUnavailable

CPU = torch.device("cpu")


@pytest.fixture(scope="module")
def metrics(tiny_models):
    models = MetricModels(clip=str(tiny_models.clip), lpips_backbone=str(tiny_models.alexnet))
    return load_metrics(["lpips", "clip_score", "fid", "caption_cer", "psnr"], models, CPU)


def test_lpips_loads_the_published_heads_and_behaves_like_a_distance(tiny_models, metrics):
    net = metrics.lpips
    heads = torch.load(default_heads_path(), map_location="cpu", weights_only=True)
    assert torch.equal(net.heads[2].weight, heads["lin2.model.1.weight"])
    backbone = torch.load(tiny_models.alexnet, weights_only=True)
    assert torch.equal(net.convs[1].weight, backbone["features.3.weight"])
    gen = torch.Generator().manual_seed(0)
    x, y = torch.rand(3, 3, 64, 64, generator=gen), torch.rand(3, 3, 64, 64, generator=gen)
    d = net(x, y)
    assert d.shape == (3,) and (d > 0).all()
    assert torch.allclose(net(x, x), torch.zeros(3), atol=1e-6)
    assert torch.allclose(net(y, x), d, rtol=1e-5)
    assert torch.allclose(net(x[1:2], y[1:2]), d[1:2], rtol=1e-5)  # batching does not mix samples
    # closer images are closer: a slightly noisy copy beats an unrelated image
    assert (net(x, (x + 0.02 * torch.randn(x.shape, generator=gen)).clamp(0, 1)) < d).all()


def test_lpips_names_the_missing_or_wrong_weights(tmp_path):
    with pytest.raises(ModelUnavailable, match="metric_models.lpips_backbone.*does not exist.*alexnet-owt"):
        load_lpips(str(tmp_path / "none.pth"), None, CPU)
    torch.save({"features.0.weight": torch.zeros(1)}, tmp_path / "bad.pth")
    with pytest.raises(ModelUnavailable, match="not AlexNet"):
        load_lpips(str(tmp_path / "bad.pth"), None, CPU)
    assert isinstance(LPIPSAlex(), torch.nn.Module)


def test_clip_score_matches_the_clip_models_own_forward(metrics, tiny_models):
    """Reference: CLIPModel's forward on the processor's inputs (torchmetrics' clip_score itself
    fails on transformers 5, whose get_image_features returns a model output, not a tensor)."""
    from transformers import CLIPModel, CLIPProcessor

    model = CLIPModel.from_pretrained(tiny_models.clip)
    processor = CLIPProcessor.from_pretrained(tiny_models.clip)
    gen = torch.Generator().manual_seed(1)
    # images at the processor's own size, on the uint8 grid: its PIL path and ours see the same pixels
    x = torch.randint(0, 256, (2, 3, 32, 32), generator=gen).float() / 255
    texts = ["a red dog", "a cat on the grass"]
    ours = metrics.clip.score(x, texts)
    inputs = processor(text=texts, images=list((x * 255).round().to(torch.uint8)), return_tensors="pt", padding=True)
    with torch.no_grad():
        out = model(**inputs)
    cos = (out.logits_per_image / model.logit_scale.exp()).diagonal()
    assert torch.allclose(ours, (100 * cos).clamp(min=0), atol=0.05)
    # the unclamped cosines agree too (a negative score would make the line above trivial)
    a = torch.nn.functional.normalize(metrics.clip.image_features(x), dim=-1)
    b = torch.nn.functional.normalize(metrics.clip.text_features(texts), dim=-1)
    assert torch.allclose((a * b).sum(-1), cos, atol=5e-4)


def test_fid_accumulates_over_batches_like_one_pass(metrics):
    gen = torch.Generator().manual_seed(2)
    x, y = torch.rand(6, 3, 32, 32, generator=gen), torch.rand(6, 3, 32, 32, generator=gen) ** 2
    acc = metrics.accumulators()["fid"]
    acc.update(x[:4], y[:4])
    acc.update(x[4:], y[4:])
    one = metrics.accumulators()["fid"]
    one.update(x, y)
    assert acc.samples == 6 and acc.compute() == pytest.approx(one.compute(), rel=1e-6)
    same = metrics.accumulators()["fid"]
    same.update(x, x)
    assert abs(same.compute()) < 1e-3 * max(1.0, acc.compute())
    single = metrics.accumulators()["fid"]
    single.update(x[:1], y[:1])
    assert single.compute() != single.compute()  # NaN: no covariance from one sample


def test_caption_cer_per_sample():
    from torchmetrics.functional.text import char_error_rate

    sent = ["a dog on the grass", "a cat", ""]
    got = ["a dog on the grass", "a c?t ", ""]
    cer = caption_cer(sent, got)
    assert cer.dtype == torch.float64 and cer.shape == (3,)
    assert cer[0] == 0 and cer[2] == 0
    assert cer[1].item() == pytest.approx(char_error_rate("a c?t ", "a cat").item())
    assert caption_cer([""], ["x"]).item() == 1.0


def test_text_metrics_need_texts(metrics):
    x = torch.rand(2, 3, 32, 32)
    out = metrics.per_sample(x, x, {})
    assert set(out) == {"lpips"}
    out = metrics.per_sample(x, x.clone().fill_(float("nan")), {"sent": ["a", "b"], "received": ["a", "c"]})
    assert set(out) == {"lpips", "clip_score", "clip_score/received", "caption_cer"}
    assert all(torch.isfinite(v).all() for v in out.values())  # NaN reconstructions are sanitised first


def test_missing_clip_is_one_line(tmp_path):
    with pytest.raises(ModelUnavailable) as e:
        load_metrics(["clip_score"], MetricModels(clip=str(tmp_path / "clip")), CPU)
    assert "metric_models.clip" in str(e.value) and "\n" not in str(e.value)
