"""Train the tiny autoencoder on ``digits28:train`` with a noisy latent; save float16 safetensors.

::

    OMP_NUM_THREADS=1 python -m linksim_example_codec.train --out weights.safetensors --steps 4000

Each step draws a batch of training digits, encodes them, sends the latent through a
noisy channel at an SNR drawn per sample uniformly from ``--snr-db`` (Es/N0 per complex
resource element, dB), decodes and takes an Adam step on the pixel MSE. The channel:

* ``latent`` (default, fast): complex AWGN added to the power-normalised latent,
  ``N0/2`` per real value, which is what :class:`linksim.phy.AnalogLink` over ``awgn`` with
  perfect CSI delivers (unit-power symbols, unbiased LMMSE);
* ``awgn`` / ``rayleigh``: through linksim's real :class:`~linksim.phy.AnalogLink` (OFDM grid
  of the quickstart scenario, Sionna channel, LMMSE equaliser; slower), since that path is
  differentiable end to end.

At the end it prints the error-free PSNR / SSIM on the first ``--eval-samples`` digits of
``digits28:test`` (the same metric code as ``linksim run``), for the trained model and for
the same architecture with random weights. This script is the training side of the plugin:
unlike the codec, it may use ``linksim.data`` and ``linksim.metrics``.
"""

from __future__ import annotations

import argparse
import json
import math
import time
from dataclasses import asdict
from pathlib import Path

import torch

from .model import TinyAEConfig, TinyAutoencoder, save_model

__all__ = ["evaluate", "main", "train"]

TRAIN_DIGITS = 1438  # the whole digits28:train split


def _analog_link(channel: str):
    """linksim's AnalogLink over ``channel`` on the quickstart OFDM grid (CPU, perfect CSI)."""
    from linksim.phy.analog_link import AnalogLink
    from linksim.phy.channels import ChannelParams, build_channel
    from linksim.phy.ofdm import OFDMGrid
    from linksim.phy.transceiver import OFDMTransceiver

    grid = OFDMGrid(72, 14, 30e3, 6, [2, 11], device="cpu")
    return AnalogLink(OFDMTransceiver(grid, build_channel(ChannelParams(model=channel), grid), csi="perfect"))


def train(out: str | Path, steps: int = 4000, batch_size: int = 64, lr: float = 3e-3,
          snr_db: tuple[float, float] = (0.0, 25.0), channel: str = "latent",
          config: TinyAEConfig = TinyAEConfig(), seed: int = 0, log_every: int = 500) -> dict:
    """Train a :class:`TinyAutoencoder` and save it (float16) to ``out``.

    :param steps: Adam steps (learning rate ``lr``, cosine decay to 0).
    :param batch_size: digits per step, drawn with replacement from ``digits28:train``.
    :param snr_db: ``(low, high)`` range of the per-sample SNR [dB] (Es/N0 per complex RE).
    :param channel: ``latent`` | ``awgn`` | ``rayleigh`` (see the module docstring).
    :param seed: seeds the initial weights, the batches and the noise.
    :return: ``{"weights", "steps", "train_mse", "seconds", "latent_max_abs"}`` (``train_mse``: mean
        pixel MSE of the last 10 % of steps, at the training SNRs; ``latent_max_abs``: the largest
        ``|latent value|`` over the training split, which a ``uint<N>`` payload's ``quant_range`` should cover).
    """
    from linksim.data import load_dataset

    images = load_dataset("digits28:train", TRAIN_DIGITS).images  # [N, 1, 28, 28] in [0, 1]
    if tuple(images.shape[1:]) != tuple(config.image_shape):
        raise ValueError(f"config.image_shape {config.image_shape} does not match digits28 {tuple(images.shape[1:])}")
    with torch.random.fork_rng():
        torch.manual_seed(seed)
        model = TinyAutoencoder(config)
    gen = torch.Generator().manual_seed(seed)
    link = None
    if channel != "latent":
        import sionna

        sionna.phy.config.seed = seed
        link = _analog_link(channel)
    opt = torch.optim.Adam(model.parameters(), lr=lr)
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda s: 0.5 * (1 + math.cos(math.pi * min(s, steps) / steps)))
    lo, hi = snr_db
    recent: list[float] = []
    t0 = time.perf_counter()
    model.train()
    for step in range(1, steps + 1):
        x = images[torch.randint(len(images), (batch_size,), generator=gen)]
        z = model.encode(x)
        snr = lo + (hi - lo) * torch.rand(batch_size, generator=gen)
        no = 10.0 ** (-snr / 10.0)  # [B] noise variance per complex RE, unit-power symbols
        if link is None:
            noise = torch.randn(z.shape, generator=gen) * (no / 2).sqrt().reshape(-1, 1, 1, 1)
            z_rx = z + noise
        else:
            z_rx = link(z, no).values
        loss = torch.nn.functional.mse_loss(model.decode(z_rx), x)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        sched.step()
        if step > 0.9 * steps:
            recent.append(loss.item())
        if log_every and step % log_every == 0:
            print(f"step {step:6d}  mse {loss.item():.5f}  ({time.perf_counter() - t0:.0f} s)", flush=True)
    seconds = time.perf_counter() - t0
    train_mse = sum(recent) / max(len(recent), 1)
    with torch.no_grad():  # the largest latent value on the training split: a guide for params.quant_range
        latent_max_abs = float(model.eval().encode(images).abs().max())
    extra = {"steps": steps, "batch_size": batch_size, "lr": lr, "snr_db": list(snr_db), "channel": channel,
             "seed": seed, "data": "digits28:train", "train_mse": train_mse, "latent_max_abs": latent_max_abs}
    path = save_model(model, out, half=True, extra=extra)
    return {"weights": str(path), "steps": steps, "train_mse": train_mse, "seconds": seconds,
            "latent_max_abs": latent_max_abs}


@torch.no_grad()
def evaluate(model: TinyAutoencoder, num_samples: int = 256, snr_db: float | None = None, seed: int = 0) -> dict[str, float]:
    """Mean PSNR [dB] and SSIM of ``model`` on the first ``num_samples`` digits of ``digits28:test``.

    :param snr_db: None: error-free latent; else complex AWGN on the latent at this Es/N0 [dB].
    """
    from linksim.data import load_dataset
    from linksim.metrics.table import METRICS

    x = load_dataset("digits28:test", num_samples).images
    z = model.eval().encode(x)
    if snr_db is not None:
        gen = torch.Generator().manual_seed(seed)
        z = z + torch.randn(z.shape, generator=gen) * math.sqrt(10.0 ** (-snr_db / 10.0) / 2)
    x_hat = model.decode(z)
    return {m: float(METRICS[m].compute(x, x_hat).mean()) for m in ("psnr", "ssim")}


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m linksim_example_codec.train", description=__doc__.splitlines()[0])
    p.add_argument("--out", type=Path, required=True, help="weights file to write (.safetensors, float16)")
    p.add_argument("--steps", type=int, default=4000)
    p.add_argument("--batch-size", type=int, default=64)
    p.add_argument("--lr", type=float, default=3e-3)
    p.add_argument("--snr-db", type=float, nargs=2, default=(0.0, 25.0), metavar=("LOW", "HIGH"),
                   help="per-sample training SNR range, Es/N0 per complex RE [dB]")
    p.add_argument("--channel", choices=("latent", "awgn", "rayleigh"), default="latent",
                   help="latent: AWGN on the latent (fast); awgn/rayleigh: through linksim's AnalogLink")
    p.add_argument("--latent-channels", type=int, default=4, help="L: L x 7 x 7 latent values per digit")
    p.add_argument("--hidden", type=int, default=16)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--eval-samples", type=int, default=256, help="test digits for the final report (0: none)")
    args = p.parse_args(argv)
    cfg = TinyAEConfig(hidden=args.hidden, latent_channels=args.latent_channels)
    res = train(args.out, args.steps, args.batch_size, args.lr, tuple(args.snr_db), args.channel, cfg, args.seed)
    print(f"trained {res['steps']} steps in {res['seconds']:.0f} s: train MSE {res['train_mse']:.5f}; "
          f"weights {res['weights']} ({Path(res['weights']).stat().st_size} bytes); "
          f"largest |latent| on the training split {res['latent_max_abs']:.2f} (params.quant_range should cover it)")
    if args.eval_samples:
        from .model import load_model

        trained = load_model(res["weights"])  # what was saved (float16), not the float32 copy
        with torch.random.fork_rng():
            torch.manual_seed(args.seed + 1)
            untrained = TinyAutoencoder(cfg)
        report = {"config": asdict(cfg), "test_samples": args.eval_samples,
                  "error_free": evaluate(trained, args.eval_samples),
                  "error_free_random_weights": evaluate(untrained, args.eval_samples),
                  **{f"latent_awgn_{s}dB": evaluate(trained, args.eval_samples, s) for s in (0, 5, 10, 20)}}
        print(json.dumps(report, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
