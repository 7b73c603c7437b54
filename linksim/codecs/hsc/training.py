"""Training of the HSC semantic models (``linksim train hsc``).

Stage 1 (Sec. II, last paragraph): the VAE / VQ-VAE is trained over an error-free
channel (``ẑ = z``) on a training split (``digits28:train`` or ``mnist:<dir>:train``).
Loss: per-image squared error ``||X - X̂||²`` plus ``beta`` times the Gaussian KL
(VAE: the variational lower bound), or plus the codebook and commitment terms
(VQ-VAE, commitment weight 0.25).

Stage 2 (Sec. III-B): few-shot fine-tuning of encoder and decoder through the real
differentiable analog link (eq. 22), then NCR adapters for each CR rank ``d`` with the
fine-tuned model frozen (eq. 23).

Checkpoints (all three stages): ``<out>.safetensors`` (the model or adapters, loadable as
``params.weights`` / ``params.adapters``), ``<out>.optim.safetensors`` (Adam moments) and
``<out>.ckpt.json`` (step, hyper-parameters, recent loss); ``resume=True`` continues from
them to ``steps`` total.
"""

from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass
from pathlib import Path

import torch

from .models import (
    SemanticConfig,
    SemanticModel,
    load_semantic_model,
    save_semantic_model,
)

__all__ = ["TrainConfig", "train_semantic", "training_images"]


@dataclass
class TrainConfig:
    """Hyper-parameters of :func:`train_semantic` (stored in the checkpoint json)."""

    kind: str = "vae"
    source: str = "digits28:train"
    num_samples: int | None = None
    steps: int = 3000
    batch_size: int = 64
    lr: float = 1e-3
    k: int = 128
    hidden: tuple[int, ...] = (2048, 1024, 512)
    beta: float = 1e-3
    seed: int = 0
    checkpoint_every: int = 500
    shift: int = 2
    weight_decay: float = 0.0


def training_images(source: str, num_samples: int | None = None) -> torch.Tensor:
    """All (or ``num_samples``) images of a training source, ``[N, C, H, W]`` in [0, 1].

    ``digits28:train`` holds a fixed split of the bundled digits; other sources
    (``mnist:<dir>:train``, ``folder:<path>``) need ``num_samples`` or default to 50,000.
    """
    from linksim.data import load_dataset

    if num_samples is None:
        if source.startswith("digits28"):
            from linksim.data.digits import _split_indices

            split = source.split(":", 1)[1] if ":" in source else "test"
            num_samples = len(_split_indices()[split])
        else:
            num_samples = 50_000
    return load_dataset(source, num_samples).images


def _paths(out: Path) -> tuple[Path, Path, Path]:
    out = Path(out)
    stem = str(out)[: -len(".safetensors")] if out.suffix == ".safetensors" else str(out)
    return Path(f"{stem}.safetensors"), Path(f"{stem}.optim.safetensors"), Path(f"{stem}.ckpt.json")


def _save_checkpoint(save_module, params: list[torch.nn.Parameter], opt: torch.optim.Optimizer, step: int,
                     out: Path, history: list, info: dict) -> None:
    """Write a training checkpoint beside ``out``: the module (``save_module(path)``, loadable
    as weights / adapters at once), the Adam moments of ``params`` and a json with ``step``,
    ``info`` (hyper-parameters) and the recent loss history."""
    from safetensors.torch import save_file

    weights, optim_path, meta_path = _paths(out)
    save_module(weights)
    tensors, counts = {}, {}
    for i, p in enumerate(params):
        st = opt.state.get(p, {})
        if "exp_avg" in st:
            tensors[f"{i}.exp_avg"] = st["exp_avg"].detach().cpu().contiguous()
            tensors[f"{i}.exp_avg_sq"] = st["exp_avg_sq"].detach().cpu().contiguous()
            counts[str(i)] = float(st["step"])
    save_file(tensors, str(optim_path))
    meta_path.write_text(json.dumps({"step": step, **info, "adam_steps": counts, "history": history[-50:]},
                                    indent=1))


def _resume_checkpoint(out: Path, params: list[torch.nn.Parameter], opt: torch.optim.Optimizer,
                       device: torch.device) -> tuple[int, list]:
    """Restore the Adam moments of ``params`` from the checkpoint beside ``out``; ``(step, history)``."""
    from safetensors.torch import load_file

    _, optim_path, meta_path = _paths(out)
    if not meta_path.is_file():
        raise FileNotFoundError(f"--resume: no checkpoint {meta_path}")
    meta = json.loads(meta_path.read_text())
    start = int(meta["step"])
    if optim_path.is_file():
        saved = load_file(str(optim_path))
        counts = meta.get("adam_steps", {})
        for i, p in enumerate(params):
            if f"{i}.exp_avg" in saved:
                opt.state[p] = {"step": torch.tensor(counts.get(str(i), start), dtype=torch.float32),
                                "exp_avg": saved[f"{i}.exp_avg"].to(device),
                                "exp_avg_sq": saved[f"{i}.exp_avg_sq"].to(device)}
    return start, list(meta.get("history", []))


def random_shift(x: torch.Tensor, shift: int, gen: torch.Generator) -> torch.Tensor:
    """Augmentation: each image ``[B, C, H, W]`` translated by up to ``shift`` pixels (zero fill)."""
    if shift <= 0:
        return x
    b, _, h, w = x.shape
    padded = torch.nn.functional.pad(x, (shift, shift, shift, shift))
    dy = torch.randint(0, 2 * shift + 1, (b,), generator=gen).tolist()
    dx = torch.randint(0, 2 * shift + 1, (b,), generator=gen).tolist()
    return torch.stack([padded[i, :, dy[i]:dy[i] + h, dx[i]:dx[i] + w] for i in range(b)])


def _loss(model: SemanticModel, x: torch.Tensor, beta: float) -> tuple[torch.Tensor, torch.Tensor]:
    x_hat, out = model(x)
    rec = (x_hat - x).square().flatten(1).sum(dim=1).mean()
    if out.logvar is not None:
        kl = -0.5 * (1 + out.logvar - out.mu.square() - out.logvar.exp()).sum(dim=1).mean()
        extra = beta * kl
    else:
        extra = out.vq_loss * out.mu.shape[1]
    return rec + extra, (x_hat.detach() - x).square().mean()


def _recent_mse(step: int, mses: list[float], history: list) -> float:
    """Per-pixel MSE over the last 50 steps; every 50 steps it also goes into ``history``."""
    recent = sum(mses[-50:]) / max(1, len(mses[-50:]))
    if (step + 1) % 50 == 0:
        history.append({"step": step + 1, "mse": recent})
    return recent


def _draw_batch_and_snr(images: torch.Tensor, batch_size: int, snr_db: tuple[float, float],
                        gen: torch.Generator) -> tuple[torch.Tensor, float]:
    """One training batch ``[B, C, H, W]`` and one SNR [dB] uniform in ``snr_db`` (in that order from ``gen``)."""
    idx = torch.randint(len(images), (min(batch_size, len(images)),), generator=gen)
    return images[idx], snr_db[0] + (snr_db[1] - snr_db[0]) * float(torch.rand((), generator=gen))


def _optimise(opt: torch.optim.Optimizer, loss: torch.Tensor) -> None:
    opt.zero_grad()
    loss.backward()
    opt.step()


def train_semantic(cfg: TrainConfig, out: str | Path, resume: bool = False, progress: bool = True,
                   device: str | torch.device = "cpu") -> dict:
    """Train a VAE / VQ-VAE semantic model over an error-free channel.

    :param cfg: hyper-parameters (``steps`` is the total, including resumed ones).
    :param out: weights path (``.safetensors``); checkpoint files sit beside it.
    :param resume: continue from the checkpoint at ``out`` (its config wins for the model).
    :returns: ``{"step", "train_mse", "weights"}`` (``train_mse``: per-pixel MSE of the
        last 50 steps, error-free channel).
    """
    device = torch.device(device)
    weights, optim_path, meta_path = _paths(Path(out))
    gen = torch.Generator().manual_seed(cfg.seed)
    torch.manual_seed(cfg.seed)  # the CLI owns this process: parameter init follows the seed
    images = training_images(cfg.source, cfg.num_samples).to(device)
    start, history = 0, []
    if resume:
        if not meta_path.is_file():
            raise FileNotFoundError(f"--resume: no checkpoint {meta_path}")
        model = load_semantic_model(weights, device).train()
    else:
        model = SemanticModel(SemanticConfig(kind=cfg.kind, image_shape=tuple(images.shape[1:]), k=cfg.k,
                                             hidden=tuple(cfg.hidden))).to(device).train()
        if cfg.kind == "vqvae":  # initialise the codebook on encoder outputs of real images
            with torch.no_grad():
                mu = model.mu(model.encoder(images[torch.randperm(len(images), generator=gen)[:256]].flatten(1)))
                model.codebook.data[: len(mu)] = mu
    opt = torch.optim.Adam(model.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)
    if resume:
        start, history = _resume_checkpoint(weights, list(model.parameters()), opt, device)
        gen.manual_seed(cfg.seed + start)

    def checkpoint(step: int) -> None:
        _save_checkpoint(lambda path: save_semantic_model(model, path, extra={"step": step, "train": asdict(cfg)}),
                         list(model.parameters()), opt, step, weights, history,
                         {"train": asdict(cfg), "model": json.loads(model.config.to_json())})

    mses: list[float] = []
    bar = _progress(progress)
    with bar:
        task = bar.add_task(f"train {model.config.kind}", total=cfg.steps, completed=start)
        for step in range(start, cfg.steps):
            idx = torch.randint(len(images), (min(cfg.batch_size, len(images)),), generator=gen)
            loss, mse = _loss(model, random_shift(images[idx.to(device)], cfg.shift, gen), cfg.beta)
            _optimise(opt, loss)
            mses.append(float(mse))
            recent = _recent_mse(step, mses, history)
            bar.update(task, advance=1, description=f"train {model.config.kind} mse {recent:.4f}")
            if (step + 1) % cfg.checkpoint_every == 0 or step + 1 == cfg.steps:
                checkpoint(step + 1)
    if start >= cfg.steps and not weights.is_file():
        checkpoint(start)
    last = mses[-50:] or [math.nan]
    return {"step": max(start, cfg.steps), "train_mse": sum(last) / len(last), "weights": str(weights)}


def _progress(enabled: bool):
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        TextColumn,
        TimeElapsedColumn,
        TimeRemainingColumn,
    )

    return Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                    TimeRemainingColumn(), disable=not enabled)


def add_train_arguments(p) -> None:
    """The options of ``linksim train hsc`` on an argparse parser."""
    d = TrainConfig()
    p.add_argument("--kind", choices=["vae", "vqvae"], default=d.kind, help="semantic model")
    p.add_argument("--data", default=d.source, help="training source: digits28:train | mnist:<dir>:train | ...")
    p.add_argument("--num-samples", type=int, default=None, help="training images (default: the whole split)")
    p.add_argument("--steps", type=int, default=d.steps, help="total optimiser steps")
    p.add_argument("--batch-size", type=int, default=d.batch_size)
    p.add_argument("--lr", type=float, default=None,
                   help=f"learning rate (default: {d.lr} training, 1e-4 fine-tuning, 1e-3 NCR adapters)")
    p.add_argument("--k", type=int, default=d.k, help="SR complex symbols")
    p.add_argument("--hidden", type=lambda s: tuple(int(v) for v in s.split(",")), default=d.hidden,
                   help="encoder widths, comma separated (paper: 2048,1024,512)")
    p.add_argument("--beta", type=float, default=d.beta, help="KL weight (VAE)")
    p.add_argument("--seed", type=int, default=d.seed)
    p.add_argument("--shift", type=int, default=d.shift, help="augmentation: random translation up to N pixels (0: off)")
    p.add_argument("--weight-decay", type=float, default=d.weight_decay)
    p.add_argument("--checkpoint-every", type=int, default=d.checkpoint_every)
    p.add_argument("--out", type=Path, required=True, help="weights file (.safetensors); checkpoint files sit beside it")
    p.add_argument("--resume", action="store_true",
                   help="continue from the checkpoint at --out (training, fine-tuning and NCR alike)")
    p.add_argument("--half", action="store_true", help="store the final weights as float16 (half the size)")
    p.add_argument("--device", default="cpu")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.add_argument("--finetune-from", type=Path, default=None,
                   help="instead of training from scratch: few-shot fine-tune these weights through the "
                        "analog link (Sec. III-B), --steps steps, lr --lr, on --num-samples images of --data")
    p.add_argument("--ncr-for", type=Path, default=None,
                   help="instead: train NCR adapters (eq. 23) for these (fine-tuned) weights and CR rank --d; "
                        "--out gets the adapters (params.adapters)")
    p.add_argument("--d", type=lambda s: [int(v) for v in s.split(",")], default=[4],
                   help="CR rank(s) of the NCR adapters, comma separated: one adapter per d (eq. 23 trains "
                        "each d independently); with several, --out names the files with {d} or gets _d<D>")
    p.add_argument("--cr-dtype", default="float16", help="NCR: dtype of the CR on the digital link (LDPC 1/2, 16QAM)")
    p.add_argument("--channel", default="rayleigh", help="fine-tuning channel model (awgn | rayleigh | ...)")
    p.add_argument("--snr-db", type=lambda s: tuple(float(v) for v in s.split(",")), default=(0.0, 5.0),
                   help="fine-tuning SNR range lo,hi [dB] (Es/N0 per resource element)")


def main(argv: list[str]) -> int:
    """``linksim train hsc ...`` (the codec's ``trainer``): parse the options, train, report."""
    import argparse

    from rich.console import Console

    parser = argparse.ArgumentParser(prog="linksim train hsc",
                                     description="train HSC's semantic model, fine-tune it through the channel, "
                                                 "or train NCR adapters")
    add_train_arguments(parser)
    return run_train(parser.parse_args(argv), Console())


def run_train(args, console) -> int:
    """``linksim train hsc``: train (or fine-tune, or train NCR adapters), then report."""
    if args.ncr_for is not None:
        from .models import save_ncr_adapters

        model = load_semantic_model(args.ncr_for, args.device)
        images = training_images(args.data, args.num_samples).to(args.device)
        for d in args.d:
            out = ncr_output_path(args.out, d, len(args.d))
            adapters, res = train_ncr(model, images, d, tuple(args.snr_db), args.channel, args.steps,
                                      args.batch_size, args.lr or 1e-3, args.cr_dtype, args.seed,
                                      progress=not args.quiet, out=out, resume=args.resume,
                                      checkpoint_every=args.checkpoint_every)
            path = save_ncr_adapters(adapters, out, half=args.half)
            console.print(f"NCR adapters for d = {d} over {args.channel} {args.snr_db} dB: "
                          f"train MSE {res['mse']:.3e}, adapters {path}")
        return 0
    if args.finetune_from is not None:
        model = load_semantic_model(args.finetune_from, args.device)
        images = training_images(args.data, args.num_samples).to(args.device)
        res = finetune_semantic(model, images, tuple(args.snr_db), args.channel, args.steps, args.batch_size,
                                args.lr or 1e-4, args.seed, progress=not args.quiet, out=args.out,
                                resume=args.resume, checkpoint_every=args.checkpoint_every)
        path = save_semantic_model(model, args.out, half=args.half,
                                   extra={"finetuned_from": str(args.finetune_from), "channel": args.channel,
                                          "snr_db": list(args.snr_db), "steps": args.steps})
        console.print(f"fine-tuned over {args.channel} {args.snr_db} dB: train MSE {res['mse']:.3e}, weights {path}")
        return 0
    cfg = TrainConfig(kind=args.kind, source=args.data, num_samples=args.num_samples, steps=args.steps,
                      batch_size=args.batch_size, lr=args.lr or TrainConfig.lr, k=args.k, hidden=tuple(args.hidden), beta=args.beta,
                      seed=args.seed, checkpoint_every=args.checkpoint_every,
                      shift=args.shift, weight_decay=args.weight_decay)
    res = train_semantic(cfg, args.out, resume=args.resume, progress=not args.quiet, device=args.device)
    if args.half:
        model = load_semantic_model(res["weights"])
        save_semantic_model(model, res["weights"], half=True, extra={"step": res["step"], "train": asdict(cfg)})
    console.print(f"trained {cfg.kind}: step {res['step']}, train MSE {res['train_mse']:.3e}, weights {res['weights']}")
    test = cfg.source.rsplit(":", 1)[0] + ":test" if cfg.source.endswith(":train") else None
    if test:
        x = training_images(test, args.num_samples and min(args.num_samples, 10_000))
        model = load_semantic_model(res["weights"])
        with torch.no_grad():
            mse = float((model.decode(model.encode(x).z) - x).square().mean())
        console.print(f"test MSE (error-free, {len(x)} images of {test}): {mse:.3e}")
    return 0


def ncr_output_path(out: Path, d: int, count: int) -> Path:
    """Where the adapters for rank ``d`` go: ``out`` with ``{d}`` filled in, else ``out`` itself
    for a single ``d`` or ``<stem>_d<D>.safetensors`` for several."""
    text = str(out)
    if "{d}" in text:
        return Path(text.replace("{d}", str(d)))
    return Path(out) if count == 1 else Path(out).with_name(f"{Path(out).stem}_d{d}{Path(out).suffix}")


def analog_link(channel: str = "rayleigh", csi: str = "perfect", device: str | torch.device = "cpu"):
    """The real differentiable :class:`~linksim.phy.analog_link.AnalogLink` over a default
    OFDM grid (72 subcarriers x 14 symbols, 30 kHz, pilots on symbols 2 and 11) and the
    channel model ``channel`` (``awgn`` | ``rayleigh`` | any registered model with
    default parameters)."""
    from linksim.phy.analog_link import AnalogLink
    from linksim.phy.channels import build_channel, channel_class
    from linksim.phy.ofdm import OFDMGrid
    from linksim.phy.transceiver import OFDMTransceiver

    grid = OFDMGrid(72, 14, 30e3, 6, [2, 11], device=str(device))
    ch = build_channel(channel_class(channel).Params.model_validate({"model": channel}), grid)
    return AnalogLink(OFDMTransceiver(grid, ch, csi))


def finetune_semantic(model: SemanticModel, images: torch.Tensor, snr_db: tuple[float, float] = (0.0, 5.0),
                      channel: str = "rayleigh", steps: int = 300, batch_size: int = 64, lr: float = 1e-4,
                      seed: int = 0, progress: bool = True, out: str | Path | None = None, resume: bool = False,
                      checkpoint_every: int = 500) -> dict:
    """Few-shot fine-tuning of encoder and decoder through the channel (Sec. III-B, eq. 22).

    Each step draws a batch and one SNR uniformly in ``snr_db`` (Es/N0 per resource
    element, dB), sends the SR through the differentiable analog link and minimises
    ``||X - X̂||²``. ``model`` is updated in place.

    :param images: ``[N, C, H, W]`` few-shot training images in [0, 1].
    :param out: weights path: checkpoints every ``checkpoint_every`` steps and at the end
        (float32, with the Adam state beside it); ``resume`` continues from them.
    :returns: ``{"steps", "mse"}``, ``mse``: per-pixel MSE over the last 50 steps.
    """
    import sionna

    from linksim.phy.snr import noise_variance

    gen = torch.Generator().manual_seed(seed)
    sionna.phy.config.seed = seed
    link = analog_link(channel, device=images.device)
    start, history = 0, []
    if resume:
        if out is None or not _paths(Path(out))[2].is_file():
            raise FileNotFoundError(f"--resume: no checkpoint {_paths(Path(out))[2] if out else '(no out path)'}")
        model.load_state_dict(load_semantic_model(_paths(Path(out))[0], images.device).state_dict())
    model.train()
    for p in model.parameters():
        p.requires_grad_(True)
    opt = torch.optim.Adam(model.parameters(), lr=lr)
    if resume:
        start, history = _resume_checkpoint(Path(out), list(model.parameters()), opt, images.device)
        gen.manual_seed(seed + start)
        sionna.phy.config.seed = seed + start  # the channel's draws go on from a fresh, deterministic state
    info = {"finetune": {"channel": channel, "snr_db": list(snr_db), "steps": steps, "batch_size": batch_size,
                         "lr": lr, "seed": seed}, "model": json.loads(model.config.to_json())}

    def checkpoint(step: int) -> None:
        _save_checkpoint(lambda path: save_semantic_model(model, path, extra={"step": step, **info}),
                         list(model.parameters()), opt, step, Path(out), history, info)

    mses: list[float] = []
    bar = _progress(progress)
    with bar:
        task = bar.add_task(f"fine-tune over {channel}", total=steps, completed=start)
        for step in range(start, steps):
            x, snr = _draw_batch_and_snr(images, batch_size, snr_db, gen)
            enc = model.encode(x)
            z_rx = link(enc.z, noise_variance(snr)).values
            loss = (model.decode(z_rx) - x).square().flatten(1).sum(dim=1).mean()
            _optimise(opt, loss)
            mses.append(loss.item() / x[0].numel())
            recent = _recent_mse(step, mses, history)
            bar.update(task, advance=1, description=f"fine-tune over {channel} mse {recent:.4f}")
            if out is not None and ((step + 1) % checkpoint_every == 0 or step + 1 == steps):
                checkpoint(step + 1)
    model.eval()
    return {"steps": steps, "mse": sum(mses[-50:]) / max(1, len(mses[-50:]))}


def train_ncr(model: SemanticModel, images: torch.Tensor, d: int, snr_db: tuple[float, float] = (0.0, 5.0),
              channel: str = "rayleigh", steps: int = 200, batch_size: int = 64, lr: float = 1e-3,
              cr_dtype: str = "float16", seed: int = 0, progress: bool = True, out: str | Path | None = None,
              resume: bool = False, checkpoint_every: int = 500):
    """NCR fine-tuning (Sec. III-B, eq. 23): train adapters for rank ``d`` with ``model`` frozen.

    Each step draws a batch and one SNR uniformly in ``snr_db`` (Es/N0 per resource
    element, dB). The SR (through the adapters) crosses the differentiable analog link;
    the CR ``[A | AX]`` (``A`` from the adapted ``X̂`` at the transmitter) crosses the
    real digital link (``cr_dtype`` values, LDPC 1/2, 16QAM) over the same channel and
    arrives corrupted; a received CR that is not finite or beyond ``|1e3|`` is dropped
    (``X̃ = X̂``, as the codec does). The loss is ``||X - X̃||²`` with ``X̃`` recomposed
    (eq. 8) and clipped to [0, 1]; only the adapters learn.

    :param images: ``[N, C, H, W]`` training images in [0, 1].
    :param out: adapters path: checkpoints every ``checkpoint_every`` steps and at the end
        (with the Adam state beside it); ``resume`` continues from them.
    :returns: ``(adapters, {"steps", "mse"})``, ``mse``: per-pixel MSE of ``X̃`` over the last 50 steps.
    """
    import sionna

    from linksim.phy.digital_link import DigitalLink
    from linksim.phy.payload import payload_for_dtype
    from linksim.phy.snr import noise_variance

    from .cr import (
        complementary_basis,
        complementary_representation,
        recompose,
        split_representation,
    )
    from .models import NCRAdapters, NCRConfig, load_ncr_adapters, save_ncr_adapters

    gen = torch.Generator().manual_seed(seed)
    sionna.phy.config.seed = seed
    alink = analog_link(channel, device=images.device)
    dlink = DigitalLink(alink.transceiver, "qam16", 0.5)
    ser = payload_for_dtype(cr_dtype)
    model.eval()
    for p in model.parameters():
        p.requires_grad_(False)
    cfg = model.config
    adapters = NCRAdapters(NCRConfig(k=cfg.k, image_shape=cfg.image_shape, d=d, power=cfg.power)).to(images.device)
    if resume:
        if out is None or not _paths(Path(out))[2].is_file():
            raise FileNotFoundError(f"--resume: no checkpoint {_paths(Path(out))[2] if out else '(no out path)'}")
        adapters.load_state_dict(load_ncr_adapters(_paths(Path(out))[0], images.device).state_dict())
    opt = torch.optim.Adam(adapters.parameters(), lr=lr)
    start, history = 0, []
    if resume:
        start, history = _resume_checkpoint(Path(out), list(adapters.parameters()), opt, images.device)
        gen.manual_seed(seed + start)
        sionna.phy.config.seed = seed + start
    info = {"ncr": {"d": d, "channel": channel, "snr_db": list(snr_db), "steps": steps, "batch_size": batch_size,
                    "lr": lr, "cr_dtype": cr_dtype, "seed": seed}}
    c, h, _ = cfg.image_shape
    mses: list[float] = []
    bar = _progress(progress)
    with bar:
        task = bar.add_task(f"NCR d={d} over {channel}", total=steps, completed=start)
        for step in range(start, steps):
            x, snr = _draw_batch_and_snr(images, batch_size, snr_db, gen)
            no = noise_variance(snr)
            z = adapters.encode(model.encode(x, sample=False).z)
            with torch.no_grad():
                x_hat_tx = adapters.decode(model.decode(z))
                cr = complementary_representation(complementary_basis(x, x_hat_tx, d), x)
                rx = dlink(ser.to_bits(cr), no).bits
                cr_rx = ser.from_bits(rx, tuple(cr.shape[1:])).values.to(torch.float32)
                bad = ~(torch.isfinite(cr_rx) & (cr_rx.abs() < 1e3)).flatten(1).all(dim=1)
                cr_rx = torch.where(bad[:, None, None], torch.zeros_like(cr_rx), cr_rx)
            a, ax = split_representation(cr_rx, c, h)
            x_hat_rx = adapters.decode(model.decode(alink(z, no).values))
            x_tilde = recompose(a, ax, x_hat_rx).clamp(0.0, 1.0)
            loss = (x_tilde - x).square().flatten(1).sum(dim=1).mean()
            _optimise(opt, loss)
            mses.append(loss.item() / x[0].numel())
            _recent_mse(step, mses, history)
            bar.update(task, advance=1)
            if out is not None and ((step + 1) % checkpoint_every == 0 or step + 1 == steps):
                _save_checkpoint(lambda path: save_ncr_adapters(adapters, path), list(adapters.parameters()), opt,
                                 step + 1, Path(out), history, info)
    adapters.eval()
    return adapters, {"steps": steps, "mse": sum(mses[-50:]) / max(1, len(mses[-50:]))}
