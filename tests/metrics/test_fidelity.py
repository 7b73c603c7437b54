"""Tests for linksim.metrics.fidelity."""

import math

import pytest
import torch
from torchmetrics.functional.image import structural_similarity_index_measure as tm_ssim

from linksim.metrics.fidelity import (
    mse,
    psnr,
    sanitize_images,
    ssim,
    ssim_window,
)
from linksim.metrics.table import METRICS


def fidelity_metric(name):
    return METRICS[name].compute


def _images(b=4, c=1, h=28, w=28, seed=0):
    g = torch.Generator().manual_seed(seed)
    x = torch.rand(b, c, h, w, generator=g)
    noise = 0.1 * torch.randn(b, c, h, w, generator=g) * torch.arange(b).view(b, 1, 1, 1)
    return x, (x + noise).clamp(0, 1)


def test_image_metrics_are_in_the_table():
    assert fidelity_metric("psnr") is psnr and fidelity_metric("mse") is mse and fidelity_metric("ssim") is ssim
    for name in ("mse", "psnr", "ssim"):
        assert METRICS[name].computed_by == "function" and METRICS[name].data == "image"


def test_mse_psnr_by_hand():
    x = torch.zeros(2, 1, 2, 2)
    x_hat = torch.zeros(2, 1, 2, 2)
    x_hat[0, 0, 0, 0] = 0.2  # mse = 0.04 / 4 = 0.01 -> psnr 20 dB
    x_hat[1] = 0.5           # mse = 0.25 -> psnr 10*log10(4)
    m = mse(x, x_hat)
    assert m.shape == (2,) and m.dtype == torch.float64
    torch.testing.assert_close(m, torch.tensor([0.01, 0.25], dtype=torch.float64))
    p = psnr(x, x_hat)
    torch.testing.assert_close(p, torch.tensor([20.0, 10 * math.log10(4)], dtype=torch.float64))


def test_psnr_perfect_is_inf():
    x, _ = _images()
    p = psnr(x, x.clone())
    assert torch.isinf(p).all() and (p > 0).all()


def test_ssim_identical_is_one():
    x, _ = _images(c=3, h=32, w=32)
    torch.testing.assert_close(ssim(x, x.clone()), torch.ones(4, dtype=torch.float64), atol=1e-5, rtol=0)


def test_ssim_per_sample_equals_torchmetrics_single():
    x, x_hat = _images(b=5, h=28, w=28)
    batch = ssim(x, x_hat)
    assert batch.shape == (5,)
    for i in range(5):
        ref = tm_ssim(x_hat[i : i + 1], x[i : i + 1], data_range=1.0)
        assert batch[i].item() == pytest.approx(ref.item(), abs=1e-6)
    # worse noise, lower SSIM
    assert (batch[1:] < batch[:-1]).all()


def test_small_images():
    assert ssim_window(28, 28) == (11, 1.5)
    k, sigma = ssim_window(8, 8)
    assert k == 7
    x, x_hat = _images(b=3, c=1, h=8, w=8)
    s = ssim(x, x_hat)
    assert s.shape == (3,) and torch.isfinite(s).all()
    ref = tm_ssim(x_hat[1:2], x[1:2], data_range=1.0, sigma=sigma)
    assert s[1].item() == pytest.approx(ref.item(), abs=1e-6)
    torch.testing.assert_close(ssim(x, x), torch.ones(3, dtype=torch.float64), atol=1e-5, rtol=0)
    # tiny and non-square images still give a value
    for h, w in [(4, 4), (3, 5), (1, 1), (2, 9)]:
        x, x_hat = _images(b=2, h=h, w=w)
        assert torch.isfinite(ssim(x, x_hat)).all()


def test_nan_and_out_of_range_input():
    x, x_hat = _images(b=3)
    bad = x_hat.clone()
    bad[0, 0, :5, :5] = float("nan")
    bad[1, 0, 0, 0] = float("inf")
    bad[2, 0, 0, :3] = torch.tensor([-5.0, 7.0, float("-inf")])
    clean = sanitize_images(bad)
    assert torch.isfinite(clean).all() and clean.min() >= 0 and clean.max() <= 1
    assert clean[0, 0, 0, 0] == 0 and clean[1, 0, 0, 0] == 1
    assert clean[2, 0, 0, :3].tolist() == [0.0, 1.0, 0.0]
    for name in ("mse", "psnr", "ssim"):
        v = fidelity_metric(name)(x, bad)
        assert v.shape == (3,) and torch.isfinite(v).all(), name
        torch.testing.assert_close(v, fidelity_metric(name)(x, clean))
    # sanitize does not modify its input
    assert torch.isnan(bad).any()


def test_shape_checks():
    x, x_hat = _images()
    with pytest.raises(ValueError):
        mse(x, x_hat[:2])
    with pytest.raises(ValueError):
        psnr(x[0], x_hat[0])


def test_float64_and_half_inputs():
    x, x_hat = _images(b=2)
    ref = ssim(x, x_hat)
    torch.testing.assert_close(ssim(x.double(), x_hat.double()), ref, atol=1e-5, rtol=0)
    torch.testing.assert_close(ssim(x.half(), x_hat.half()), ref, atol=5e-3, rtol=0)
