"""Training of DeepJSCC / ADJSCC (``linksim train deepjscc``) through the real analog link.

Each step draws a batch and one SNR uniformly in ``--snr-db lo,hi`` (Es/N0 per data
resource element, dB; one value for a per-SNR DeepJSCC model), encodes the batch (an
``adjscc`` encoder gets that SNR), sends the power-normalised symbols through the
differentiable :class:`~linksim.phy.analog_link.AnalogLink` (OFDM, the ``--channel``
model, channel estimation, LMMSE equaliser with the ``--equalizer`` output, ``unbiased`` by
default as the codec's stream, as a run does), decodes (an ``adjscc`` decoder gets the
receiver's per-sample effective SNR from ``no_eff``, see :func:`receiver_snr_db`) and
minimises the per-pixel MSE with Adam (the papers' loss and optimiser).

Data (``--data``):

- ``digits28``: the bundled digits' train split (1,438 images, 1x28x28); the test split
  (359) measures the result.
- ``photos``: square crops (side uniform in [1/4, 3/4] of the photo's short side, resized to
  ``--image-size``, 32 by default, or 64) of the bundled photos except the held-out
  :data:`HELD_OUT_PHOTOS`; crops of those measure the result. The crops are drawn once
  from ``--seed`` (``--num-samples``, 2,048 by default). Note that a scenario with
  ``source: photos`` codes all photos, held-out ones included.

Checkpoints, ``--resume`` (exact: Adam, every generator, Sionna's included), progress and
option checking are :mod:`linksim.codecs.training`'s, as for ``linksim train hsc``.
"""

from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass, field
from pathlib import Path

import torch

from linksim.errors import DataError, ModelUnavailable, ScenarioError

from ..training import (
    ArgParser,
    Checkpoint,
    analog_link,
    channel,
    check_options,
    device,
    draw_batch_and_snr,
    float_list,
    integer,
    number,
    one_line,
    optimise,
    optional,
    progress as _progress,
    read_checkpoint,
    recent_mse,
    save_checkpoint,
    snr_range,
    training_paths,
)
from .codec import SNR_CLIP_DB, parse_ratio
from .models import VARIANTS, DeepJSCCConfig, DeepJSCCModel, channels_for_ratio, load_deepjscc_model, save_deepjscc_model

__all__ = ["HELD_OUT_PHOTOS", "TrainConfig", "evaluate", "main", "photo_crops", "receiver_snr_db", "train_deepjscc",
           "training_data"]

#: photos never used for training (``--data photos``): their crops measure the result
HELD_OUT_PHOTOS = ("chelsea", "flower", "camera")
#: ``linksim`` metadata of a training state file (the format of this module)
STATE_KIND = "deepjscc-training-state/1"
DATA = ("digits28", "photos")


@dataclass
class TrainConfig:
    """Hyper-parameters of :func:`train_deepjscc` (stored in the checkpoint and the weights)."""

    variant: str = "deepjscc"
    bandwidth_ratio: float = 1 / 6
    data: str = "digits28"
    image_size: int | None = None
    num_samples: int | None = None
    channel: str = "awgn"
    csi: str = "perfect"
    equalizer: str = "unbiased"
    snr_db: tuple[float, float] = (10.0, 10.0)
    steps: int = 3000
    batch_size: int = 64
    lr: float = 1e-3
    seed: int = 0
    checkpoint_every: int = 500
    filters: tuple[int, int] = field(default=(16, 32))


# --------------------------------------------------------------------------- options

def _ratio(v) -> str | None:
    try:
        parse_ratio(v)
    except ValueError as e:
        return str(e)
    return None


def _image_size(v) -> str | None:
    if v is None:
        return None
    if isinstance(v, bool) or not isinstance(v, int) or not 4 <= v <= 1024 or v % 4:
        return f"must be a multiple of 4 from 4 to 1024 (two stride-2 layers), got {v!r}"
    return None


def _filters(v) -> str | None:
    if not isinstance(v, (tuple, list)) or len(v) != 2 or any(integer(1, 4096)(f) for f in v):
        return f"must be two widths from 1 to 4096 (first layer, middle layers; paper: 16,32), got {v!r}"
    return None


_RULES = {
    "steps": integer(1, 10**9),
    "batch_size": integer(1, 65536),
    "num_samples": optional(integer(1, 1_000_000)),
    "lr": number(0.0, 1.0, lo_open=True),
    "seed": integer(0, 2**63 - 1),
    "checkpoint_every": integer(1, 10**9),
    "snr_db": snr_range,
    "device": device,
    "channel": channel,
    "bandwidth_ratio": _ratio,
    "image_size": _image_size,
    "filters": _filters,
}


def image_shape(data: str, image_size: int | None) -> tuple[int, int, int]:
    """``(C, H, W)`` of the training images of ``--data`` at ``--image-size``."""
    if data == "digits28":
        s = image_size or 28
        return 1, s, s
    s = image_size or 32
    return 3, s, s


def check_config(cfg: TrainConfig, dev: str = "cpu") -> list[str]:
    """Every problem of ``cfg``, one ``--option: ...`` line each; [] when all are fine."""
    problems = check_options(_RULES, steps=cfg.steps, batch_size=cfg.batch_size, num_samples=cfg.num_samples,
                             lr=cfg.lr, seed=cfg.seed, checkpoint_every=cfg.checkpoint_every,
                             snr_db=tuple(cfg.snr_db), device=dev, channel=cfg.channel,
                             bandwidth_ratio=cfg.bandwidth_ratio, image_size=cfg.image_size,
                             filters=tuple(cfg.filters))
    if cfg.variant not in VARIANTS:
        problems.append(f"--variant: must be one of {', '.join(VARIANTS)}, got {cfg.variant!r}")
    if cfg.data not in DATA:
        problems.append(f"--data: must be one of {', '.join(DATA)}, got {cfg.data!r}")
    if cfg.csi not in ("perfect", "ls"):
        problems.append(f"--csi: must be perfect or ls, got {cfg.csi!r}")
    if cfg.equalizer not in ("unbiased", "mmse"):
        problems.append(f"--equalizer: must be unbiased or mmse, got {cfg.equalizer!r}")
    if not problems:
        try:
            channels_for_ratio(parse_ratio(cfg.bandwidth_ratio), image_shape(cfg.data, cfg.image_size))
        except ValueError as e:
            problems.append(f"--bandwidth-ratio: {e}")
    return problems


# --------------------------------------------------------------------------- data

def photo_crops(names: tuple[str, ...] | None, exclude: tuple[str, ...], n: int, size: int, seed: int) -> torch.Tensor:
    """``n`` square crops ``[n, 3, size, size]`` in [0, 1] of the bundled photos named ``names``
    (None: all) minus ``exclude``, in turn: side uniform in [1/4, 3/4] of the photo's short
    side, position uniform, resized with LANCZOS; drawn from ``numpy.random.default_rng(seed)``
    (the crops of :func:`linksim.data.photos.load_photos`)."""
    from linksim.data.photos import load_photos

    try:
        return load_photos("photos", n, size, seed, names=names, exclude=exclude, crops_only=True).images
    except DataError:
        raise DataError("--data photos: none of the bundled photos is available (scikit-image / scikit-learn)") from None


def training_data(data: str, image_size: int | None, num_samples: int | None, seed: int
                  ) -> tuple[torch.Tensor, torch.Tensor]:
    """``(train, test)`` images ``[N, C, H, W]`` in [0, 1] of ``--data`` (see the module docstring)."""
    from linksim.data import load_dataset

    if data == "digits28":
        from linksim.data.digits import _split_indices

        splits = _split_indices()
        n_train = len(splits["train"]) if num_samples is None else min(num_samples, len(splits["train"]))
        train = load_dataset("digits28:train", n_train, image_size).images
        return train, load_dataset("digits28", len(splits["test"]), image_size).images
    size = image_size or 32
    train = photo_crops(None, HELD_OUT_PHOTOS, num_samples or 2048, size, seed)
    return train, photo_crops(HELD_OUT_PHOTOS, (), 256, size, seed + 1)


# --------------------------------------------------------------------------- the loop

def receiver_snr_db(out) -> torch.Tensor:
    """``[B]`` SNR [dB] an ``adjscc`` decoder gets, in training as in a run (the codec's
    :meth:`~linksim.codecs.deepjscc.codec.DeepJSCCCodec.receiver_snr_db`): the effective SNR
    ``-10 log10(mean no_eff)`` of each sample, from the link's ``no_eff`` (the receiver's CSI),
    clipped to [-30, 60] dB."""
    batch = out.values.shape[0]
    mean = out.no_eff.detach().reshape(batch, -1).float().mean(dim=1)
    snr = -10.0 * torch.log10(mean)
    return torch.nan_to_num(snr, nan=0.0).clamp(*SNR_CLIP_DB).to(out.values.device)


def _step(model: DeepJSCCModel, link, x: torch.Tensor, snr: float) -> torch.Tensor:
    """Per-pixel MSE of one batch sent through ``link`` at ``snr`` dB (differentiable)."""
    from linksim.phy.snr import noise_variance

    out = link(model.encode(x, snr), noise_variance(snr))
    x_hat = model.decode(out.values, receiver_snr_db(out))
    return (x_hat - x).square().mean()


@torch.no_grad()
def evaluate(model: DeepJSCCModel, images: torch.Tensor, snr_db: float, channel_name: str = "awgn",
             csi: str = "perfect", batch_size: int = 128, seed: int = 0, equalizer: str = "unbiased") -> float:
    """PSNR [dB] of ``images`` coded by ``model`` through the analog link at ``snr_db`` (mean of
    the per-image PSNRs, peak 1)."""
    import sionna

    from linksim.phy.snr import noise_variance

    sionna.phy.config.seed = seed
    link = analog_link(channel_name, csi, device=images.device, equalizer=equalizer)
    psnrs = []
    for i in range(0, len(images), batch_size):
        x = images[i:i + batch_size]
        out = link(model.encode(x, snr_db), noise_variance(snr_db))
        x_hat = model.decode(out.values, receiver_snr_db(out))
        mse = (x_hat - x).square().flatten(1).mean(dim=1).clamp_min(1e-10)
        psnrs.append(-10.0 * torch.log10(mse))
    return float(torch.cat(psnrs).mean())


def train_deepjscc(cfg: TrainConfig, out: str | Path, resume: bool = False, progress: bool = True,
                   device: str | torch.device = "cpu", images: torch.Tensor | None = None) -> dict:
    """Train a DeepJSCC / ADJSCC model through the analog link (see the module docstring).

    :param cfg: hyper-parameters (``steps`` is the total, resumed ones included); checked first.
    :param out: weights path (``.safetensors``); checkpoint files sit beside it.
    :param resume: continue from the training state at ``out`` exactly where it stopped (its
        model config wins; the other hyper-parameters are ``cfg``'s).
    :param images: training images ``[N, C, H, W]`` (default: those of ``cfg.data``).
    :returns: ``{"step", "train_mse", "weights", "model"}`` (``train_mse``: per-pixel MSE of
        the last 50 steps, through the channel).
    :raises ScenarioError: (a ValueError) an invalid hyper-parameter, one line each.
    """
    import sionna

    problems = check_config(cfg, str(device))
    if problems:
        raise ScenarioError(problems)
    device = torch.device(device)
    weights = training_paths(out)[0]
    ckpt = read_checkpoint(weights, STATE_KIND) if resume else None
    gen = torch.Generator().manual_seed(cfg.seed)
    torch.manual_seed(cfg.seed)  # the CLI owns this process: parameter init follows the seed
    sionna.phy.config.seed = cfg.seed
    if images is None:
        images = training_data(cfg.data, cfg.image_size, cfg.num_samples, cfg.seed)[0]
    images = images.to(device)
    if ckpt is not None:
        config = _checkpoint_config(ckpt)
    else:
        shape = tuple(images.shape[1:])
        config = DeepJSCCConfig(variant=cfg.variant, image_shape=shape, filters=tuple(cfg.filters),
                                c=channels_for_ratio(parse_ratio(cfg.bandwidth_ratio), shape))
    model = DeepJSCCModel(config).to(device)
    if ckpt is not None:
        ckpt.load_module(model, "a model")
    model.train()
    link = analog_link(cfg.channel, cfg.csi, device=device, equalizer=cfg.equalizer)
    opt = torch.optim.Adam(model.parameters(), lr=cfg.lr)
    start, history, mses = 0, [], []
    if ckpt is not None:
        ckpt.restore(opt, gen, sionna=True, lr=cfg.lr)  # the batches, the SNRs and the channel go on as they were
        start, history, mses = ckpt.step, ckpt.history, ckpt.recent
    train = {**asdict(cfg), "snr_db": list(cfg.snr_db), "filters": list(cfg.filters)}
    info = {"train": train, "model": json.loads(config.to_json())}

    def checkpoint(step: int) -> None:
        extra = {"step": step, "channel": cfg.channel, "snr_db": list(cfg.snr_db), "data": cfg.data,
                 "analog_equalizer": cfg.equalizer,
                 "held_out_photos": list(HELD_OUT_PHOTOS) if cfg.data == "photos" else None, "train": train}
        save_checkpoint(model, lambda path: save_deepjscc_model(model, path, extra=extra), opt, gen, step, weights,
                        history, mses, info, sionna=True, kind=STATE_KIND)

    label = f"{config.variant} k/n={config.k}/{math.prod(config.image_shape)} over {cfg.channel}"
    bar = _progress(progress)
    with bar:
        task = bar.add_task(label, total=cfg.steps, completed=start)
        for step in range(start, cfg.steps):
            x, snr = draw_batch_and_snr(images, cfg.batch_size, tuple(cfg.snr_db), gen)
            loss = _step(model, link, x, snr)
            optimise(opt, loss)
            mses.append(loss.item())
            recent = recent_mse(step, mses, history)
            bar.update(task, advance=1, description=f"{label} mse {recent:.4f}")
            if (step + 1) % cfg.checkpoint_every == 0 or step + 1 == cfg.steps:
                checkpoint(step + 1)
    if start >= cfg.steps:  # nothing left to train: rewrite the weights and json from the state
        checkpoint(start)
    model.eval()
    last = mses[-50:] or [math.nan]
    return {"step": max(start, cfg.steps), "train_mse": sum(last) / len(last), "weights": str(weights), "model": model}


def _checkpoint_config(ckpt: Checkpoint) -> DeepJSCCConfig:
    try:
        return DeepJSCCConfig.from_json(json.dumps(ckpt.info["model"]))
    except (KeyError, TypeError, ValueError) as e:
        raise ModelUnavailable(f"--resume: checkpoint {ckpt.path} holds no model config ({one_line(e)})") from None


# --------------------------------------------------------------------------- the command

def _snr_option(text: str) -> tuple[float, ...]:
    """``"10"`` -> ``(10, 10)``; ``"0,20"`` -> ``(0, 20)``."""
    values = float_list(text)
    return values * 2 if len(values) == 1 else values


_snr_option.__name__ = "SNR [dB] or lo,hi"


def add_train_arguments(p) -> None:
    """The options of ``linksim train deepjscc`` on an argparse parser."""
    d = TrainConfig()
    p.add_argument("--variant", default=d.variant, help="deepjscc (one model per SNR) | adjscc (SNR-adaptive)")
    p.add_argument("--bandwidth-ratio", default="1/6",
                   help="k/n: complex channel symbols per source value, e.g. 1/6, 1/12 (the nearest achievable "
                        "ratio within 15 %% is used and reported)")
    p.add_argument("--data", default=d.data, help="digits28 (its train split) | photos (crops of all but the "
                                                  f"held-out {', '.join(HELD_OUT_PHOTOS)})")
    p.add_argument("--image-size", type=int, default=None, help="side of the images (photos: 32 or 64, default 32)")
    p.add_argument("--num-samples", type=int, default=None,
                   help="training images (digits28: at most the 1,438 of the split; photos: crops, default 2048)")
    p.add_argument("--channel", default=d.channel, help="channel model: awgn | rayleigh | any registered model")
    p.add_argument("--csi", default=d.csi, help="receiver CSI: perfect | ls")
    p.add_argument("--equalizer", default=d.equalizer,
                   help="analog equaliser: unbiased (the codec's default analog_equalizer) | mmse")
    p.add_argument("--snr-db", type=_snr_option, default=d.snr_db,
                   help="training SNR [dB] (Es/N0 per resource element): one value, or lo,hi drawn per batch")
    p.add_argument("--steps", type=int, default=d.steps, help="total optimiser steps")
    p.add_argument("--batch-size", type=int, default=d.batch_size)
    p.add_argument("--lr", type=float, default=d.lr, help="Adam learning rate")
    p.add_argument("--filters", type=lambda t: tuple(int(v) for v in t.split(",")), default=d.filters,
                   help="filters of the first and the middle convolutions (paper: 16,32)")
    p.add_argument("--seed", type=int, default=d.seed)
    p.add_argument("--checkpoint-every", type=int, default=d.checkpoint_every)
    p.add_argument("--out", type=Path, required=True, help="weights file (.safetensors); checkpoint files sit beside it")
    p.add_argument("--resume", action="store_true", help="continue from the checkpoint at --out, exactly")
    p.add_argument("--half", action="store_true", help="store the final weights as float16 (for shipping)")
    p.add_argument("--device", default="cpu")
    p.add_argument("--quiet", action="store_true", help="no progress bar")


def main(argv: list[str]) -> int:
    """``linksim train deepjscc ...`` (the codec's ``trainer``): parse the options, train, report."""
    import argparse

    from rich.console import Console

    parser = type("DeepJSCCTrainParser", (ArgParser, argparse.ArgumentParser), {})(
        prog="linksim train deepjscc",
        description="train a DeepJSCC or ADJSCC model through the analog link (OFDM, channel, LMMSE)")
    add_train_arguments(parser)
    return run_train(parser.parse_args(argv), Console())


def run_train(args, console) -> int:
    """Check every option, train, save, and report the test PSNR.

    :raises ScenarioError: invalid options, one line each (exit 2), before anything is loaded or written.
    :raises ModelUnavailable: a checkpoint that cannot be read, naming it (exit 1).
    """
    cfg = TrainConfig(variant=args.variant, bandwidth_ratio=args.bandwidth_ratio, data=args.data,
                      image_size=args.image_size, num_samples=args.num_samples, channel=args.channel, csi=args.csi,
                      equalizer=args.equalizer,
                      snr_db=tuple(args.snr_db), steps=args.steps, batch_size=args.batch_size, lr=args.lr,
                      seed=args.seed, checkpoint_every=args.checkpoint_every, filters=tuple(args.filters))
    problems = check_config(cfg, str(args.device))
    if Path(args.out).is_dir():
        problems.append(f"--out: {args.out} is a folder; give the weights file to write (.safetensors)")
    if problems:
        raise ScenarioError(problems)
    train, test = training_data(cfg.data, cfg.image_size, cfg.num_samples, cfg.seed)
    res = train_deepjscc(cfg, args.out, resume=args.resume, progress=not args.quiet, device=args.device,
                         images=train)
    model = res["model"]
    if args.half:
        _, extra = load_deepjscc_model(res["weights"])
        save_deepjscc_model(model, res["weights"], half=True, extra=extra)
    cfg_m = model.config
    n = math.prod(cfg_m.image_shape)
    console.print(f"trained {cfg_m.variant} (c = {cfg_m.c}, k/n = {cfg_m.k}/{n} = {cfg_m.bandwidth_ratio:.4g}) over "
                  f"{cfg.channel}: step {res['step']}, train MSE {res['train_mse']:.3e}, weights {res['weights']}")
    lo, hi = cfg.snr_db
    for snr in sorted({lo, hi}):
        psnr = evaluate(model, test.to(args.device), snr, cfg.channel, cfg.csi, seed=cfg.seed, equalizer=cfg.equalizer)
        console.print(f"test PSNR over {cfg.channel} at {snr:g} dB ({len(test)} held-out images): {psnr:.2f} dB")
    return 0
