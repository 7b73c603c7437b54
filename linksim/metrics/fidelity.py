"""Per-sample image fidelity metrics (MSE, PSNR, SSIM) through torchmetrics.

Every registered metric is a function ``f(x, x_hat) -> Tensor[B]``:

* ``x``: original images ``[B, C, H, W]`` in [0, 1] (data range 1.0);
* ``x_hat``: reconstructions, same shape. They are passed through
  :func:`sanitize_images` first (NaN -> 0, clamp to [0, 1]): a receiver displays
  what it got, and one corrupted float must not turn a whole batch into NaN.
* result: one value per sample, ``float64``, on the device of the inputs.

Everything is batched (no Python loop over samples). Each has its facts in the metric
table (:mod:`linksim.metrics.table`) as :data:`MSE`, :data:`PSNR`, :data:`SSIM`, found
through linksim's ``linksim.metrics`` entry points; a plugin adds a metric the same way.

torch and torchmetrics are imported by the functions, not by this module: the metric table
reads the facts below for ``linksim list`` and scenario validation, which compute nothing
(torchmetrics alone imports transformers, over a second).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from linksim.metrics.table import Metric

if TYPE_CHECKING:
    from torch import Tensor

__all__ = [
    "MSE",
    "PSNR",
    "SSIM",
    "sanitize_images",
    "ssim_window",
    "mse",
    "psnr",
    "ssim",
]

DATA_RANGE = 1.0
SSIM_KERNEL_SIZE = 11
SSIM_SIGMA = 1.5


def sanitize_images(x_hat: Tensor) -> Tensor:
    """What a receiver would display: NaN -> 0, +inf -> 1, -inf -> 0, clamp to [0, 1].

    Args:
        x_hat: images of any shape (typically ``[B, C, H, W]``), any float dtype.

    Returns:
        A new tensor of the same shape and dtype (integer inputs become float32),
        every value in [0, 1]. Differentiable where the input was already in range.
    """
    import torch

    if not torch.is_floating_point(x_hat):
        x_hat = x_hat.to(torch.float32)
    return torch.nan_to_num(x_hat, nan=0.0, posinf=1.0, neginf=0.0).clamp(0.0, 1.0)


def _prepare(x: Tensor, x_hat: Tensor) -> tuple[Tensor, Tensor]:
    import torch

    if x.shape != x_hat.shape:
        raise ValueError(f"x and x_hat must have the same shape, got {tuple(x.shape)} and {tuple(x_hat.shape)}")
    if x.ndim != 4:
        raise ValueError(f"expected images [B, C, H, W], got shape {tuple(x.shape)}")
    dtype = torch.float64 if torch.float64 in (x.dtype, x_hat.dtype) else torch.float32
    x_hat = sanitize_images(x_hat).to(dtype)
    x = x.to(device=x_hat.device, dtype=dtype)
    return x, x_hat


def ssim_window(height: int, width: int) -> tuple[int, float]:
    """Gaussian SSIM window ``(kernel_size, sigma)`` used for ``height x width`` images.

    The standard window (11 x 11, sigma 1.5) when both sides are >= 11 pixels.
    For smaller images the kernel shrinks to the largest odd size that fits,
    ``k <= min(height, width)``, and sigma shrinks with it in the same ratio as
    torchmetrics' gaussian truncation (``sigma = (k - 1) / 2 / 3.5``; torchmetrics
    derives the kernel size from sigma), e.g. 8 x 8 -> (7, 0.857).
    """
    side = min(int(height), int(width))
    if side < 1:
        raise ValueError(f"images must be at least 1x1, got {height}x{width}")
    if side >= SSIM_KERNEL_SIZE:
        return SSIM_KERNEL_SIZE, SSIM_SIGMA
    k = side if side % 2 == 1 else side - 1
    half = (k - 1) // 2
    # half == 0 (1x1 or 2x2 images): a 1-tap window, i.e. per-pixel SSIM.
    sigma = half / 3.5 if half > 0 else 0.1
    return k, sigma


def mse(x: Tensor, x_hat: Tensor) -> Tensor:
    """Per-sample mean squared error over C, H, W. ``[B,C,H,W] x2 -> [B]`` float64 (unit: data range^2)."""
    import torch

    x, x_hat = _prepare(x, x_hat)
    d = x_hat.to(torch.float64) - x.to(torch.float64)
    return d.square().flatten(1).mean(dim=1)


def psnr(x: Tensor, x_hat: Tensor) -> Tensor:
    """Per-sample PSNR in dB (data range 1.0). ``[B,C,H,W] x2 -> [B]`` float64.

    A perfect reconstruction (MSE = 0) gives ``+inf``, kept as is: averaging
    (:func:`linksim.metrics.intervals.t_interval`) ignores non-finite values.
    """
    import torch
    from torchmetrics.functional.image import peak_signal_noise_ratio

    x, x_hat = _prepare(x, x_hat)
    return peak_signal_noise_ratio(
        x_hat.to(torch.float64),
        x.to(torch.float64),
        data_range=DATA_RANGE,
        reduction="none",
        dim=(1, 2, 3),
    )


def ssim(x: Tensor, x_hat: Tensor) -> Tensor:
    """Per-sample SSIM (gaussian window, see :func:`ssim_window`; data range 1.0).

    ``[B,C,H,W] x2 -> [B]`` float64; 1 for identical images. Channels are averaged.
    """
    import torch
    from torchmetrics.functional.image import structural_similarity_index_measure

    x, x_hat = _prepare(x, x_hat)
    kernel, sigma = ssim_window(x.shape[-2], x.shape[-1])
    val = structural_similarity_index_measure(
        x_hat,
        x,
        gaussian_kernel=True,
        sigma=sigma,
        kernel_size=kernel,
        data_range=DATA_RANGE,
        reduction="none",
    )
    return val.to(torch.float64)


MSE = Metric("mse", "mean squared error per pixel, data range 1", "function", unit="", higher_is_better=False,
             scale="log", label="MSE", data="image", compute=mse)
PSNR = Metric("psnr", "peak signal-to-noise ratio of the point's mean MSE (data range 1)", "function", unit="dB",
              higher_is_better=True, interval="psnr_of_mean_mse", label="PSNR [dB]", data="image", compute=psnr)
SSIM = Metric("ssim", "structural similarity (gaussian window, channels averaged)", "function",
              higher_is_better=True, label="SSIM", data="image", compute=ssim)
