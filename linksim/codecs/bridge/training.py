"""Training of Bridge (``linksim train bridge``): eq. (14) with SDMI's min-max schedule.

Each step draws a batch and runs one forward pass over an error-free link, then:

1. critic step (when SDMI is on): ``psi_m``, ``psi_inv``, ``T_theta`` ascend the DV
   bound (eq. 3) on detached features — the maximising side;
2. model step: everything else descends ``L_total`` (eq. 14), whose ``+alpha1 L_SDMI``
   pushes the encoders to make ``h^m`` and ``z^m`` independent — the minimising side;
3. usage monitoring (eq. 10-11): the step's indices enter the window, codes shared
   by fewer than two modalities over the last ``N_reset`` steps are re-drawn.

Files: ``<out>.safetensors`` (the model, what ``params.weights`` will load),
``<out>.optim.pt`` (both optimisers, the random generators, the loss history) and
``<out>.ckpt.json`` (step and hyper-parameters, human-readable). ``resume=True``
continues from them up to ``steps`` in total.
"""

from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path

import torch

from linksim.data.multimodal import MultimodalBatch

from .config import BridgeConfig
from .losses import LossWeights, total_loss
from .model import BridgeModel, load_bridge_model, model_inputs, save_bridge_model

__all__ = ["TrainConfig", "fit_to_data", "train_bridge", "training_data"]


@dataclass
class TrainConfig:
    """Hyper-parameters of :func:`train_bridge` (stored in the checkpoint).

    :ivar weights: loss coefficients and ablation.
    :ivar source: ``digits-av:train`` | ``digits-av:test``.
    :ivar lr, critic_lr: Adam learning rates of the model and of the SDMI critic side.
    :ivar model: the architecture (ignored on resume: the checkpoint's wins); its
        ``text_backbone`` names a frozen pretrained text encoder (only its projection trains).
    :ivar image_model: CLIP id or folder; with ``weights.alpha_sem > 0`` the loss gains
        ``alpha_sem * mean(1 - video_sim)`` between reconstructed and original clips (eq. 13
        used as a training signal; CLIP stays frozen).
    """

    model: BridgeConfig = field(default_factory=BridgeConfig)
    weights: LossWeights = field(default_factory=LossWeights)
    source: str = "digits-av:train"
    num_samples: int | None = None
    steps: int = 1500
    batch_size: int = 64
    lr: float = 2e-3
    critic_lr: float = 1e-3
    seed: int = 0
    checkpoint_every: int = 250
    image_model: str | None = None


def training_data(source: str, num_samples: int | None = None) -> MultimodalBatch:
    """The whole training set of ``source`` on CPU: ``digits-av:train`` | ``digits-av:test`` |
    ``triples:<dir>`` (a folder of image / .txt / .wav triples, see :mod:`linksim.data.triples`) |
    ``vggsound:<dir>[:split]`` | ``coco:<dir>[:split]`` (default split: train)."""
    from linksim.data.dataset import DataError

    kind, _, arg = source.partition(":")
    if kind == "digits-av":
        from linksim.data.digits_av import load_digits_av

        return load_digits_av(arg or "train", num_samples)
    if kind == "triples" and arg:
        from linksim.data.triples import load_triples

        return load_triples(arg, num_samples)
    if kind in ("vggsound", "coco") and arg:
        from linksim.data.registry import _folder_and_split

        directory, split = _folder_and_split(source, arg, kind, default="train")
        if kind == "vggsound":
            from linksim.data.vggsound import load_vggsound

            return load_vggsound(directory, split, num_samples)
        from linksim.data.coco import load_coco_captions

        return load_coco_captions(directory, split, num_samples)
    raise DataError(f"--data {source!r}: unknown training source; use 'digits-av:train', 'digits-av:test', "
                    "'triples:<dir>', 'vggsound:<dir>[:train|test]' or 'coco:<dir>[:train|val]'")


def fit_to_data(config: BridgeConfig, data: MultimodalBatch) -> BridgeConfig:
    """``config`` with the data-given sizes of ``data``: frame shape, audio samples, caption
    length and vocabulary (kept as None for digits-av, whose vocabulary is the default)."""
    from linksim.data.digits_av import VOCABULARY

    words = None if data.vocabulary.words == VOCABULARY.words else data.vocabulary.words[1:]
    return replace(config, frame_shape=tuple(data.frames.shape[1:]), audio_samples=data.audio.shape[1],
                   text_length=data.tokens.shape[1], vocab_size=len(data.vocabulary), vocabulary=words)


def _paths(out: Path) -> tuple[Path, Path, Path]:
    stem = str(out)[: -len(".safetensors")] if str(out).endswith(".safetensors") else str(out)
    return Path(f"{stem}.safetensors"), Path(f"{stem}.optim.pt"), Path(f"{stem}.ckpt.json")


def train_bridge(cfg: TrainConfig, out: str | Path, resume: bool = False, progress: bool = True,
                 device: str | torch.device = "cpu", data: MultimodalBatch | None = None) -> dict:
    """Train a Bridge model on ``cfg.source`` (or on ``data`` when given).

    :param out: weights path (``.safetensors``); the checkpoint files sit beside it.
    :param resume: continue from the checkpoint at ``out`` to ``cfg.steps`` steps in total.
    :returns: ``{"step", "loss_first", "loss_last", "weights", "history"}``: ``loss_*`` are
        means of ``L_total`` over the first / last (up to) 50 steps of this call.
    """
    device = torch.device(device)
    if cfg.weights.alpha_sem > 0 and cfg.image_model is None:
        raise ValueError("alpha_sem: > 0 needs an image_model (CLIP) to compare reconstructions with")
    weights_path, optim_path, meta_path = _paths(Path(out))
    data = (data if data is not None else training_data(cfg.source, cfg.num_samples)).to(device)
    index_gen = torch.Generator().manual_seed(cfg.seed)  # batch draws (CPU)
    noise_gen = torch.Generator(device=device).manual_seed(cfg.seed + 1)  # eq. (1) noise, eq. (11) resets
    start, history = 0, []
    if resume:
        if not (meta_path.is_file() and optim_path.is_file()):
            raise FileNotFoundError(f"--resume: no checkpoint beside {weights_path} ({meta_path.name}, {optim_path.name})")
        model = load_bridge_model(weights_path, device)
    else:
        torch.manual_seed(cfg.seed)  # the CLI owns this process: parameter init follows the seed
        cfg = replace(cfg, model=fit_to_data(cfg.model, data))  # stored with the checkpoint
        model = BridgeModel(cfg.model).to(device)
        with torch.no_grad():  # codes start on real latents (see vq.py)
            _, z0 = model.features(model_inputs(data.select(torch.randperm(len(data), generator=index_gen)[:256])))
        model.vq.init_from_latents(torch.cat([v.reshape(-1, v.shape[-1]) for v in z0.values()]), noise_gen)
    model.train()
    main_opt = torch.optim.Adam(model.main_parameters(), lr=cfg.lr)
    critic_opt = torch.optim.Adam(model.critic_parameters(), lr=cfg.critic_lr)
    if resume:
        # everything loads to CPU: generator states must be CPU byte tensors, even for a
        # CUDA generator; the optimisers move their state to the parameters' device
        state = torch.load(optim_path, map_location="cpu", weights_only=True)
        main_opt.load_state_dict(state["main"])
        critic_opt.load_state_dict(state["critic"])
        index_gen.set_state(state["index_gen"])
        noise_gen.set_state(state["noise_gen"])
        start, history = int(state["step"]), list(json.loads(meta_path.read_text()).get("history", []))
    w = cfg.weights
    foundation = None
    if w.alpha_sem > 0:
        from .foundation import FoundationModels, cosine

        foundation = FoundationModels(image=cfg.image_model, device=device)
    losses: list[float] = []
    resets = 0  # codes re-initialised since the last history entry
    bar = _progress(progress)
    with bar:
        task = bar.add_task(f"train bridge ({w.ablation})", total=cfg.steps, completed=start)
        for step in range(start, cfg.steps):
            idx = torch.randint(len(data), (min(cfg.batch_size, len(data)),), generator=index_gen)
            inputs = model_inputs(data.select(idx))
            out_ = model(inputs, noise_gen)
            if w.use_sdmi:
                critic_loss = -model.sdmi({m: v.detach() for m, v in out_.h.items()},
                                          {m: v.detach() for m, v in out_.z.items()})
                critic_opt.zero_grad()
                critic_loss.backward()
                critic_opt.step()
            terms = model.loss_terms(out_, inputs, w)
            if foundation is not None:
                with torch.no_grad():
                    target = foundation.video_embedding(inputs["video"])
                terms.sem = (1 - cosine(foundation.video_embedding(out_.recon["video"]), target)).mean()
                terms.parts["sem/video"] = float(terms.sem.detach())
            loss = total_loss(terms, w)
            main_opt.zero_grad()
            loss.backward()
            main_opt.step()
            resets += int(model.vq.record_usage(out_.indices, noise_gen, out_.z).sum())
            losses.append(float(loss.detach()))
            if (step + 1) % 50 == 0:
                history.append({"step": step + 1, "loss": sum(losses[-50:]) / len(losses[-50:]),
                                "resets": resets, **terms.parts})
                resets = 0
            bar.update(task, advance=1, description=f"train bridge ({w.ablation}) loss {losses[-1]:.3f}")
            if (step + 1) % cfg.checkpoint_every == 0 or step + 1 == cfg.steps:
                _save(model, main_opt, critic_opt, index_gen, noise_gen, cfg, step + 1, history, weights_path,
                      optim_path, meta_path)
    if not weights_path.is_file():
        _save(model, main_opt, critic_opt, index_gen, noise_gen, cfg, start, history, weights_path, optim_path,
              meta_path)
    model.eval()
    first, last = losses[:50] or [math.nan], losses[-50:] or [math.nan]
    return {"step": max(start, cfg.steps), "loss_first": sum(first) / len(first), "loss_last": sum(last) / len(last),
            "weights": str(weights_path), "history": history, "model": model}


def _save(model, main_opt, critic_opt, index_gen, noise_gen, cfg, step, history, weights_path, optim_path,
          meta_path) -> None:
    save_bridge_model(model, weights_path, extra={"step": step, "train": asdict(cfg)})
    torch.save({"main": main_opt.state_dict(), "critic": critic_opt.state_dict(), "step": step,
                "index_gen": index_gen.get_state(), "noise_gen": noise_gen.get_state()}, optim_path)
    meta_path.write_text(json.dumps({"step": step, "train": asdict(cfg), "history": history[-100:]}, indent=1))


def _progress(enabled: bool):
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn

    return Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                    TimeRemainingColumn(), disable=not enabled)


def _parser():
    import argparse

    d, m, w = TrainConfig(), BridgeConfig(), LossWeights()
    p = argparse.ArgumentParser(prog="linksim train bridge",
                                description="Train a Bridge model (eq. 14, SDMI min-max) on a multimodal set.")
    p.add_argument("--out", type=Path, required=True, help="weights file (.safetensors); checkpoint files sit beside it")
    p.add_argument("--data", default=d.source, help="training set: digits-av:train | digits-av:test | triples:<dir> | "
                                                "vggsound:<dir>[:train|test] | coco:<dir>[:train|val]")
    p.add_argument("--num-samples", type=int, default=None, help="training samples (default: the whole split)")
    p.add_argument("--steps", type=int, default=d.steps, help="total optimiser steps (resume included)")
    p.add_argument("--batch-size", type=int, default=d.batch_size)
    p.add_argument("--lr", type=float, default=d.lr)
    p.add_argument("--critic-lr", type=float, default=d.critic_lr, help="learning rate of the SDMI critic side")
    p.add_argument("--seed", type=int, default=d.seed)
    p.add_argument("--checkpoint-every", type=int, default=d.checkpoint_every)
    p.add_argument("--ablation", choices=["full", "no_sdmi", "no_macs", "none"], default=w.ablation)
    for name in ("alpha_sdmi", "alpha_macs", "alpha_recon", "alpha_vq", "alpha_sem", "lambda_video", "lambda_audio",
                 "lambda_text"):
        p.add_argument("--" + name.replace("_", "-"), type=float, default=getattr(w, name))
    p.add_argument("--image-model", default=None, help="CLIP id or folder for the --alpha-sem video_sim loss")
    p.add_argument("--text-backbone", default=None,
                   help="transformers id or folder (model + tokenizer) whose frozen encoder is phi^t; only its "
                        "projection trains, and its weights are not stored (reloaded from here)")
    p.add_argument("--codebook-size", type=int, default=m.codebook_size, help="K shared codes")
    p.add_argument("--latent-dim", type=int, default=m.latent_dim, help="D, width of z and of the codes")
    p.add_argument("--reset-window", type=int, default=m.reset_window, help="N_reset steps (eq. 10)")
    p.add_argument("--reset-to", choices=["normal", "latents"], default=m.reset_to,
                   help="re-draw reset codes from N(0, I) (eq. 11) or among the step's latents")
    p.add_argument("--resume", action="store_true", help="continue from the checkpoint at --out")
    p.add_argument("--device", default="cpu")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    return p


def main(argv: list[str]) -> int:
    """``linksim train bridge ...``: train, then print the error-free test metrics. Returns the exit code."""
    from rich.console import Console

    from linksim.data.dataset import DataError
    from linksim.pretrained import ModelUnavailable

    args = _parser().parse_args(argv)
    console, err = Console(), Console(stderr=True, soft_wrap=True)
    try:
        weights = LossWeights(ablation=args.ablation, alpha_sdmi=args.alpha_sdmi, alpha_macs=args.alpha_macs,
                              alpha_recon=args.alpha_recon, alpha_vq=args.alpha_vq, alpha_sem=args.alpha_sem,
                              lambda_video=args.lambda_video,
                              lambda_audio=args.lambda_audio, lambda_text=args.lambda_text)
        model = BridgeConfig(codebook_size=args.codebook_size, latent_dim=args.latent_dim,
                             reset_window=args.reset_window, reset_to=args.reset_to, text_backbone=args.text_backbone)
        cfg = TrainConfig(model=model, weights=weights, source=args.data, num_samples=args.num_samples,
                          steps=args.steps, batch_size=args.batch_size, lr=args.lr, critic_lr=args.critic_lr,
                          seed=args.seed, checkpoint_every=args.checkpoint_every, image_model=args.image_model)
        res = train_bridge(cfg, args.out, resume=args.resume, progress=not args.quiet, device=args.device)
    except (DataError, ValueError, FileNotFoundError, ModelUnavailable) as e:
        err.print(f"error: {e}", markup=False, highlight=False)
        return 2 if isinstance(e, (DataError, ValueError)) else 1
    console.print(f"trained bridge ({args.ablation}): step {res['step']}, loss {res['loss_first']:.3f} -> "
                  f"{res['loss_last']:.3f}, weights {res['weights']}")
    if args.data.startswith("digits-av"):
        from .metrics import reconstruction_metrics

        test = training_data("digits-av:test").to(args.device)
        model_ = res["model"].eval()
        inputs = model_inputs(test)
        with torch.no_grad():
            metrics = reconstruction_metrics(inputs, model_.decode_indices(model_.encode(inputs)))
        console.print("error-free digits-av:test: " + ", ".join(f"{k} {float(v.mean()):.4g}" for k, v in metrics.items()))
    return 0
