"""Training of the HSC semantic models (``linksim train hsc``).

Stage 1 (Sec. II, last paragraph): the VAE / VQ-VAE is trained over an error-free
channel (``ẑ = z``) on a training split (``digits28:train`` or ``mnist:<dir>:train``).
Loss: per-image squared error ``||X - X̂||²`` plus ``beta`` times the Gaussian KL
(VAE: the variational lower bound), or plus the codebook and commitment terms
(VQ-VAE, commitment weight 0.25).

Stage 2 (Sec. III-B): few-shot fine-tuning of encoder and decoder through the real
differentiable analog link (eq. 22), then NCR adapters for each CR rank ``d`` with the
fine-tuned model frozen (eq. 23).

Checkpoints (all three stages), every ``checkpoint_every`` steps and at the end:

- ``<out>.optim.safetensors``, the training state in **one file**: the module (float32),
  the whole Adam state, every random generator the loop draws from (the batch generator,
  torch's, and for fine-tuning and NCR Sionna's, which draws the channel and the noise), the
  loss history and the step. ``resume=True`` reads this file alone and continues exactly as
  an uninterrupted run would (the same weights to float rounding, tested to 1e-6).
- ``<out>.safetensors``: the model or adapters, loadable as ``params.weights`` /
  ``params.adapters`` at once;
- ``<out>.ckpt.json``: step, hyper-parameters and recent loss, for people.

Each is written to a temporary file, flushed to disk and renamed over the old one, in that
order: a kill at any moment leaves a complete training state (the old one or the new one),
and a resume rewrites the two others from it.
"""

from __future__ import annotations

import json
import math
import os
import re
from dataclasses import asdict, dataclass
from pathlib import Path

import torch

from linksim.errors import ModelUnavailable, ScenarioError

from .models import (
    SemanticConfig,
    SemanticModel,
    load_semantic_model,
    save_semantic_model,
)

__all__ = ["TrainConfig", "check_options", "train_semantic", "training_images"]


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
    """``(weights, training state, json)`` beside ``out``."""
    out = Path(out)
    stem = str(out)[: -len(".safetensors")] if out.suffix == ".safetensors" else str(out)
    return Path(f"{stem}.safetensors"), Path(f"{stem}.optim.safetensors"), Path(f"{stem}.ckpt.json")


# --------------------------------------------------------------------------- options

#: the largest |SNR| [dB] of ``--snr-db`` (as a scenario's ``snr_db``)
MAX_ABS_SNR_DB = 300.0


def _integer(lo: int, hi: int):
    def rule(v) -> str | None:
        if isinstance(v, bool) or not isinstance(v, int) or not lo <= v <= hi:
            return f"must be an integer from {lo} to {hi}, got {v!r}"
        return None
    return rule


def _number(lo: float, hi: float, lo_open: bool = False):
    def rule(v) -> str | None:
        ok = (not isinstance(v, bool) and isinstance(v, (int, float)) and math.isfinite(v)
              and (v > lo if lo_open else v >= lo) and v <= hi)
        return None if ok else f"must be a finite number in {'(' if lo_open else '['}{lo:g}, {hi:g}], got {v!r}"
    return rule


def _optional(rule):
    return lambda v: None if v is None else rule(v)


def _hidden(v) -> str | None:
    if not v or len(v) > 16 or any(_integer(1, 65536)(w) for w in v):
        return f"must be 1 to 16 comma-separated widths from 1 to 65536, got {','.join(map(str, v or ())) or 'none'}"
    return None


def _snr_range(v) -> str | None:
    ok = (isinstance(v, (tuple, list)) and len(v) == 2
          and all(not isinstance(x, bool) and isinstance(x, (int, float)) and math.isfinite(x)
                  and abs(x) <= MAX_ABS_SNR_DB for x in v) and v[0] <= v[1])
    if ok:
        return None
    shown = ",".join(f"{x:g}" if isinstance(x, (int, float)) else repr(x) for x in v) if isinstance(v, (tuple, list)) else repr(v)
    return f"give lo,hi [dB]: two finite values, lo <= hi, within +-{MAX_ABS_SNR_DB:g} dB, got {shown}"


def _ranks(v) -> str | None:
    if (not v or any(isinstance(d, bool) or not isinstance(d, int) or d < 1 for d in v)
            or len(set(v)) != len(v)):
        return f"CR ranks must be integers >= 1, comma separated, without repeats, got {','.join(map(str, v or ())) or 'none'}"
    return None


def _device(v) -> str | None:
    text = str(v)
    if not re.fullmatch(r"cpu|cuda(:\d+)?", text):
        return f"must be cpu, cuda or cuda:<index>, got {text!r}"
    if text.startswith("cuda"):
        if not torch.cuda.is_available():
            return f"{text} is not available here (torch sees no CUDA device); use --device cpu"
        index = int(text.partition(":")[2] or 0)
        if index >= torch.cuda.device_count():
            return f"{text}: torch sees {torch.cuda.device_count()} CUDA device(s)"
    return None


def _cr_dtype(v) -> str | None:
    from linksim.phy.payload import payload_for_dtype

    try:
        payload_for_dtype(str(v))
    except (ValueError, TypeError) as e:
        return str(e)
    return None


def _channel(v) -> str | None:
    from linksim.errors import PluginError
    from linksim.phy.channels import channel_class

    try:
        channel_class(str(v))
    except (ValueError, PluginError) as e:
        return str(e)
    return None


_RULES = {
    "steps": _integer(1, 10**9),
    "batch_size": _integer(1, 65536),
    "num_samples": _optional(_integer(1, 10_000_000)),
    "lr": _number(0.0, 1.0, lo_open=True),
    "k": _integer(1, 65536),
    "hidden": _hidden,
    "beta": _number(0.0, 1e6),
    "seed": _integer(0, 2**63 - 1),
    "shift": _integer(0, 10_000),
    "weight_decay": _number(0.0, 1e3),
    "checkpoint_every": _integer(1, 10**9),
    "snr_db": _snr_range,
    "d": _ranks,
    "device": _device,
    "cr_dtype": _cr_dtype,
    "channel": _channel,
}


def check_options(**options) -> list[str]:
    """One ``--option: problem`` line per invalid option, by the options' Python names
    (``steps``, ``batch_size``, ``lr``, ``snr_db``...; see :data:`_RULES`); [] when all are fine.

    Every option of ``linksim train hsc`` is checked before anything is loaded or written:
    counts are integers in range, rates and weights finite, the SNR range ordered and within
    +-300 dB, the device present, the channel model and CR dtype known.
    """
    problems = []
    for name, value in options.items():
        message = _RULES[name](value)
        if message:
            problems.append(f"--{name.replace('_', '-')}: {message}")
    return problems


def _require(**options) -> None:
    """:raises ScenarioError: (a ValueError) listing :func:`check_options`' problems."""
    problems = check_options(**options)
    if problems:
        raise ScenarioError(problems)


def _check_shift(shift: int, images: torch.Tensor) -> None:
    h, w = images.shape[-2:]
    if shift >= min(h, w):
        raise ScenarioError([f"--shift: {shift} pixels would move {h}x{w} images out of the frame; "
                             f"use less than {min(h, w)}"])


# --------------------------------------------------------------------------- checkpoints

#: ``linksim`` metadata of a training state file (the format of this module)
STATE_KIND = "hsc-training-state/2"


def _one_line(e: BaseException) -> str:
    return " ".join(f"{type(e).__name__}: {e}".split())


def _fsync_dir(folder: Path) -> None:
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:  # pragma: no cover - a system without directory file descriptors
        return
    try:
        os.fsync(fd)
    except OSError:  # pragma: no cover
        pass
    finally:
        os.close(fd)


def _atomic_write(path: Path, write) -> None:
    """``write(tmp)``, flush ``tmp`` to disk, rename it over ``path``: ``path`` is either the old
    file or the new one, whenever the process dies."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        write(tmp)
        with open(tmp, "rb") as fh:
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
    _fsync_dir(path.parent)


def _sionna_config():
    import sionna

    return sionna.phy.config


def _rng_state(gen: torch.Generator, sionna: bool) -> tuple[dict[str, torch.Tensor], dict]:
    """Every random generator a training loop draws from: tensors and JSON-able extras."""
    tensors = {"rng.gen": gen.get_state(), "rng.torch": torch.random.get_rng_state()}
    if torch.cuda.is_available():
        for i, state in enumerate(torch.cuda.get_rng_state_all()):
            tensors[f"rng.cuda.{i}"] = state
    extra = {}
    if sionna:
        cfg = _sionna_config()
        for d in cfg.available_devices:
            tensors[f"rng.sionna.{d}"] = cfg.torch_rng(d).get_state()
        np_rng, py_rng = getattr(cfg, "_np_rng", None), getattr(cfg, "_py_rng", None)
        if np_rng is not None:
            extra["sionna_np"] = np_rng.bit_generator.state
        if py_rng is not None:
            extra["sionna_py"] = py_rng.getstate()
    return tensors, extra


def _set_rng_state(tensors: dict[str, torch.Tensor], extra: dict, gen: torch.Generator, sionna: bool) -> None:
    gen.set_state(tensors["rng.gen"])
    torch.random.set_rng_state(tensors["rng.torch"])
    if torch.cuda.is_available():
        for i in range(torch.cuda.device_count()):
            if f"rng.cuda.{i}" in tensors:
                torch.cuda.set_rng_state(tensors[f"rng.cuda.{i}"], i)
    if sionna:
        import random

        import numpy as np

        cfg = _sionna_config()
        for d in cfg.available_devices:
            if f"rng.sionna.{d}" in tensors:
                cfg.torch_rng(d).set_state(tensors[f"rng.sionna.{d}"])
        if "sionna_np" in extra and hasattr(cfg, "_np_rng"):
            cfg._np_rng = np.random.default_rng()
            cfg._np_rng.bit_generator.state = extra["sionna_np"]
        if "sionna_py" in extra and hasattr(cfg, "_py_rng"):
            version, internal, gauss = extra["sionna_py"]
            cfg._py_rng = random.Random()
            cfg._py_rng.setstate((version, tuple(internal), gauss))


@dataclass
class _Checkpoint:
    """A training state read back: ``step``, the module's state, and what restores the rest."""

    path: Path
    step: int
    module: dict[str, torch.Tensor]
    tensors: dict[str, torch.Tensor]
    body: dict

    @property
    def history(self) -> list:
        return list(self.body.get("history", []))

    @property
    def recent(self) -> list[float]:
        return [float(v) for v in self.body.get("recent", [])]

    def load_module(self, module: torch.nn.Module, what: str) -> None:
        try:
            module.load_state_dict(self.module)
        except RuntimeError as e:
            raise ModelUnavailable(f"--resume: checkpoint {self.path} holds {what} of another shape "
                                   f"({_one_line(e)[:300]})") from None

    def restore(self, opt: torch.optim.Optimizer, gen: torch.Generator, sionna: bool, **hyper) -> None:
        """Adam's whole state (with the current ``hyper`` parameters, e.g. ``lr``) and every generator."""
        state: dict = {}
        for name, value in self.tensors.items():
            if name.startswith("optim."):
                _, index, key = name.split(".", 2)
                state.setdefault(int(index), {})[key] = value
        for index, scalars in self.body.get("optim_scalars", {}).items():
            state.setdefault(int(index), {}).update(scalars)
        groups = self.body["param_groups"]
        try:
            opt.load_state_dict({"state": state, "param_groups": groups})
        except (ValueError, KeyError, RuntimeError) as e:
            raise ModelUnavailable(f"--resume: checkpoint {self.path} holds an optimizer state that does not fit "
                                   f"({_one_line(e)[:300]})") from None
        for group in opt.param_groups:
            group.update(hyper)
        _set_rng_state(self.tensors, self.body.get("rng", {}), gen, sionna)


def _save_checkpoint(module: torch.nn.Module, export, opt: torch.optim.Optimizer, gen: torch.Generator, step: int,
                     out: Path, history: list, recent: list[float], info: dict, sionna: bool) -> None:
    """Write a training checkpoint beside ``out`` (see the module docstring): the training
    state (one file: ``module``, Adam, the generators, the history), then the module as
    weights (``export(path)``), then the json; each atomically, in that order."""
    from safetensors.torch import save_file

    weights, state_path, meta_path = _paths(out)
    tensors = {f"model.{k}": v.detach().float().cpu().contiguous().clone() if v.is_floating_point()
               else v.detach().cpu().contiguous().clone() for k, v in module.state_dict().items()}
    sd = opt.state_dict()
    scalars: dict[str, dict] = {}
    for index, entry in sd["state"].items():
        for key, value in entry.items():
            if isinstance(value, torch.Tensor):
                tensors[f"optim.{index}.{key}"] = value.detach().cpu().contiguous().clone()
            else:
                scalars.setdefault(str(index), {})[key] = value
    rng_tensors, rng_extra = _rng_state(gen, sionna)
    tensors.update(rng_tensors)
    body = {"step": step, "param_groups": sd["param_groups"], "optim_scalars": scalars, "rng": rng_extra,
            "history": history, "recent": recent[-50:], "info": info}
    meta = {"linksim": STATE_KIND, "step": str(step), "state": json.dumps(body)}
    _atomic_write(state_path, lambda tmp: save_file(tensors, str(tmp), metadata=meta))
    _atomic_write(weights, export)
    text = json.dumps({"step": step, **info, "history": history[-50:]}, indent=1)
    _atomic_write(meta_path, lambda tmp: tmp.write_text(text))


def _read_checkpoint(out: Path) -> _Checkpoint:
    """The training state beside ``out``.

    :raises FileNotFoundError: there is none. :raises ModelUnavailable: one line naming the
        file when it cannot be read (damaged, truncated, not a training state of this version).
    """
    from safetensors import safe_open

    _, state_path, _ = _paths(out)
    if not state_path.is_file():
        raise FileNotFoundError(f"--resume: no checkpoint {state_path}")
    try:
        with safe_open(str(state_path), framework="pt") as f:
            meta = f.metadata() or {}
            if meta.get("linksim") != STATE_KIND:
                raise ValueError(f"not a training state of this linksim (kind {meta.get('linksim')!r}, expected "
                                 f"{STATE_KIND!r}; an older version's checkpoint cannot resume exactly)")
            tensors = {k: f.get_tensor(k) for k in f.keys()}
        body = json.loads(meta["state"])
        step = int(body["step"])
        body["param_groups"]  # noqa: B018 - present
    except Exception as e:  # noqa: BLE001 - whatever is wrong with the file, one line naming it
        raise ModelUnavailable(f"--resume: checkpoint {state_path} cannot be read ({_one_line(e)[:300]}); "
                               "train again without --resume") from None
    module = {k[len("model."):]: v for k, v in tensors.items() if k.startswith("model.")}
    return _Checkpoint(state_path, step, module, tensors, body)


def _load_weights(path, device, what: str) -> SemanticModel:
    """A semantic model's weights file given as option ``what``; one line naming it when it cannot be read."""
    try:
        return load_semantic_model(path, device)
    except Exception as e:  # noqa: BLE001 - a missing, damaged or foreign file: one line naming it
        raise ModelUnavailable(f"{what}: cannot load {path} ({_one_line(e)[:300]})") from None


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


def _config_options(cfg: TrainConfig) -> dict:
    """The options of ``cfg`` that :func:`check_options` checks."""
    return dict(steps=cfg.steps, batch_size=cfg.batch_size, num_samples=cfg.num_samples, lr=cfg.lr, k=cfg.k,
                hidden=tuple(cfg.hidden), beta=cfg.beta, seed=cfg.seed, shift=cfg.shift,
                weight_decay=cfg.weight_decay, checkpoint_every=cfg.checkpoint_every)


def train_semantic(cfg: TrainConfig, out: str | Path, resume: bool = False, progress: bool = True,
                   device: str | torch.device = "cpu") -> dict:
    """Train a VAE / VQ-VAE semantic model over an error-free channel.

    :param cfg: hyper-parameters (``steps`` is the total, including resumed ones); checked
        first (:func:`check_options`).
    :param out: weights path (``.safetensors``); checkpoint files sit beside it.
    :param resume: continue from the training state at ``out`` exactly where it stopped (its
        model config wins; the other hyper-parameters are ``cfg``'s).
    :returns: ``{"step", "train_mse", "weights"}`` (``train_mse``: per-pixel MSE of the
        last 50 steps, error-free channel).
    :raises ScenarioError: (a ValueError) an invalid hyper-parameter, one line each.
    """
    _require(**_config_options(cfg), device=str(device))
    device = torch.device(device)
    weights = _paths(Path(out))[0]
    ckpt = _read_checkpoint(Path(out)) if resume else None
    gen = torch.Generator().manual_seed(cfg.seed)
    torch.manual_seed(cfg.seed)  # the CLI owns this process: parameter init follows the seed
    images = training_images(cfg.source, cfg.num_samples).to(device)
    _check_shift(cfg.shift, images)
    start, history, mses = 0, [], []
    if ckpt is not None:
        try:
            config = SemanticConfig.from_json(json.dumps(ckpt.body["info"]["model"]))
        except (KeyError, TypeError, ValueError) as e:
            raise ModelUnavailable(f"--resume: checkpoint {ckpt.path} holds no model config ({_one_line(e)})") from None
        model = SemanticModel(config).to(device)
        ckpt.load_module(model, "a model")
        model.train()
    else:
        model = SemanticModel(SemanticConfig(kind=cfg.kind, image_shape=tuple(images.shape[1:]), k=cfg.k,
                                             hidden=tuple(cfg.hidden))).to(device).train()
        if cfg.kind == "vqvae":  # initialise the codebook on encoder outputs of real images
            with torch.no_grad():
                mu = model.mu(model.encoder(images[torch.randperm(len(images), generator=gen)[:256]].flatten(1)))
                model.codebook.data[: len(mu)] = mu
    opt = torch.optim.Adam(model.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)
    if ckpt is not None:
        ckpt.restore(opt, gen, sionna=False, lr=cfg.lr, weight_decay=cfg.weight_decay)
        start, history, mses = ckpt.step, ckpt.history, ckpt.recent
    info = {"train": asdict(cfg), "model": json.loads(model.config.to_json())}

    def checkpoint(step: int) -> None:
        _save_checkpoint(model, lambda path: save_semantic_model(model, path, extra={"step": step, "train": asdict(cfg)}),
                         opt, gen, step, weights, history, mses, info, sionna=False)

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
    if start >= cfg.steps:  # nothing left to train: rewrite the weights and json from the state
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


def _int_list(text: str) -> tuple[int, ...]:
    """``"512,256"`` -> ``(512, 256)``."""
    return tuple(int(v) for v in text.split(","))


_int_list.__name__ = "comma-separated integer list"  # what argparse says of a value that does not parse


def _float_list(text: str) -> tuple[float, ...]:
    """``"0,5"`` -> ``(0.0, 5.0)``."""
    return tuple(float(v) for v in text.split(","))


_float_list.__name__ = "comma-separated number list"


class _Parser:
    """Mixed into argparse's parser: a value that does not parse is one ``--option: ...`` line
    (ScenarioError, exit 2) instead of the usage text."""

    def error(self, message: str):
        raise ScenarioError([message.removeprefix("argument ")])


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
    p.add_argument("--hidden", type=_int_list, default=d.hidden,
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
    p.add_argument("--d", type=_int_list, default=[4],
                   help="CR rank(s) of the NCR adapters, comma separated: one adapter per d (eq. 23 trains "
                        "each d independently); with several, --out names the files with {d} or gets _d<D>")
    p.add_argument("--cr-dtype", default="float16", help="NCR: dtype of the CR on the digital link (LDPC 1/2, 16QAM)")
    p.add_argument("--channel", default="rayleigh", help="fine-tuning channel model (awgn | rayleigh | ...)")
    p.add_argument("--snr-db", type=_float_list, default=(0.0, 5.0),
                   help="fine-tuning SNR range lo,hi [dB] (Es/N0 per resource element)")


def main(argv: list[str]) -> int:
    """``linksim train hsc ...`` (the codec's ``trainer``): parse the options, train, report."""
    import argparse

    from rich.console import Console

    parser = type("HSCTrainParser", (_Parser, argparse.ArgumentParser), {})(
        prog="linksim train hsc",
        description="train HSC's semantic model, fine-tune it through the channel, or train NCR adapters")
    add_train_arguments(parser)
    return run_train(parser.parse_args(argv), Console())


def check_args(args) -> list[str]:
    """Every problem of parsed ``linksim train hsc`` options, one ``--option: ...`` line each."""
    problems = check_options(steps=args.steps, batch_size=args.batch_size, num_samples=args.num_samples,
                             k=args.k, hidden=tuple(args.hidden), beta=args.beta, seed=args.seed, shift=args.shift,
                             weight_decay=args.weight_decay, checkpoint_every=args.checkpoint_every,
                             snr_db=tuple(args.snr_db), d=list(args.d), device=args.device,
                             cr_dtype=args.cr_dtype, channel=args.channel,
                             **({"lr": args.lr} if args.lr is not None else {}))
    if args.ncr_for is not None and args.finetune_from is not None:
        problems.append("--finetune-from: give --finetune-from or --ncr-for, not both")
    if Path(args.out).is_dir():
        problems.append(f"--out: {args.out} is a folder; give the weights file to write (.safetensors)")
    return problems


def run_train(args, console) -> int:
    """``linksim train hsc``: check every option, train (or fine-tune, or train NCR adapters), report.

    :raises ScenarioError: invalid options, one line each (exit 2), before anything is loaded or written.
    :raises ModelUnavailable: a weights file or checkpoint that cannot be read, naming it (exit 1).
    """
    problems = check_args(args)
    if problems:
        raise ScenarioError(problems)
    if args.ncr_for is not None:
        from .models import save_ncr_adapters

        model = _load_weights(args.ncr_for, args.device, "--ncr-for")
        bad = [d for d in args.d if d > model.config.image_shape[1]]
        if bad:
            raise ScenarioError([f"--d: CR rank(s) {','.join(map(str, bad))} beyond the image height "
                                 f"{model.config.image_shape[1]} of {args.ncr_for} (d <= H)"])
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
        model = _load_weights(args.finetune_from, args.device, "--finetune-from")
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

    _require(snr_db=snr_db, channel=channel, steps=steps, batch_size=batch_size, lr=lr, seed=seed,
             checkpoint_every=checkpoint_every)
    ckpt = _resume_from(out) if resume else None
    gen = torch.Generator().manual_seed(seed)
    sionna.phy.config.seed = seed
    link = analog_link(channel, device=images.device)
    start, history, mses = 0, [], []
    if ckpt is not None:
        ckpt.load_module(model, "a model")
    model.train()
    for p in model.parameters():
        p.requires_grad_(True)
    opt = torch.optim.Adam(model.parameters(), lr=lr)
    if ckpt is not None:
        ckpt.restore(opt, gen, sionna=True, lr=lr)  # the batches, the SNRs and the channel go on as they were
        start, history, mses = ckpt.step, ckpt.history, ckpt.recent
    info = {"finetune": {"channel": channel, "snr_db": list(snr_db), "steps": steps, "batch_size": batch_size,
                         "lr": lr, "seed": seed}, "model": json.loads(model.config.to_json())}

    def checkpoint(step: int) -> None:
        _save_checkpoint(model, lambda path: save_semantic_model(model, path, extra={"step": step, **info}),
                         opt, gen, step, Path(out), history, mses, info, sionna=True)

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
    if out is not None and start >= steps:  # nothing left to train: rewrite the weights and json from the state
        checkpoint(start)
    model.eval()
    return {"steps": steps, "mse": sum(mses[-50:]) / max(1, len(mses[-50:]))}


def _resume_from(out: str | Path | None) -> _Checkpoint:
    if out is None:
        raise FileNotFoundError("--resume: no checkpoint (no out path)")
    return _read_checkpoint(Path(out))


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
    from .models import NCRAdapters, NCRConfig, save_ncr_adapters

    _require(snr_db=snr_db, channel=channel, steps=steps, batch_size=batch_size, lr=lr, seed=seed,
             checkpoint_every=checkpoint_every, d=[d], cr_dtype=cr_dtype)
    cfg = model.config
    if d > cfg.image_shape[1]:
        raise ScenarioError([f"--d: CR rank {d} is beyond the image height {cfg.image_shape[1]} (d <= H)"])
    ckpt = _resume_from(out) if resume else None
    gen = torch.Generator().manual_seed(seed)
    sionna.phy.config.seed = seed
    alink = analog_link(channel, device=images.device)
    dlink = DigitalLink(alink.transceiver, "qam16", 0.5)
    ser = payload_for_dtype(cr_dtype)
    model.eval()
    for p in model.parameters():
        p.requires_grad_(False)
    adapters = NCRAdapters(NCRConfig(k=cfg.k, image_shape=cfg.image_shape, d=d, power=cfg.power)).to(images.device)
    if ckpt is not None:
        ckpt.load_module(adapters, f"adapters (not for d = {d}?)")
    opt = torch.optim.Adam(adapters.parameters(), lr=lr)
    start, history, mses = 0, [], []
    if ckpt is not None:
        ckpt.restore(opt, gen, sionna=True, lr=lr)
        start, history, mses = ckpt.step, ckpt.history, ckpt.recent
    info = {"ncr": {"d": d, "channel": channel, "snr_db": list(snr_db), "steps": steps, "batch_size": batch_size,
                    "lr": lr, "cr_dtype": cr_dtype, "seed": seed}}

    def checkpoint(step: int) -> None:
        _save_checkpoint(adapters, lambda path: save_ncr_adapters(adapters, path), opt, gen, step, Path(out),
                         history, mses, info, sionna=True)

    c, h, _ = cfg.image_shape
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
                checkpoint(step + 1)
    if out is not None and start >= steps:  # nothing left to train: rewrite the adapters and json from the state
        checkpoint(start)
    adapters.eval()
    return adapters, {"steps": steps, "mse": sum(mses[-50:]) / max(1, len(mses[-50:]))}
