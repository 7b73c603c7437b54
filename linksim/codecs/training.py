"""Machinery shared by the codecs' trainers (``linksim train hsc | deepjscc``).

What every trainer of linksim needs and none should write again:

- **option checking**: rules (:func:`integer`, :func:`number`, :func:`optional`,
  :func:`snr_range`, :func:`device`, :func:`channel`) and :func:`check_options`, which gives
  one ``--option: problem`` line per invalid option; :class:`ArgParser` turns argparse's
  own errors into such lines (a :class:`~linksim.errors.ScenarioError`, exit 2);
- **checkpoints**: :func:`save_checkpoint` writes, each atomically (:func:`atomic_write`:
  temporary file, fsync, rename) and in this order, the training state in one file
  (``<out>.optim.safetensors``: the module in float32, the whole Adam state, every random
  generator the loop draws from, the loss history and the step), the weights
  (``<out>.safetensors``) and a json for people (``<out>.ckpt.json``); a kill at any moment
  leaves a complete training state. :func:`read_checkpoint` reads it back as a
  :class:`Checkpoint`, whose :meth:`Checkpoint.restore` puts Adam and the generators back so
  that a resumed run continues exactly as an uninterrupted one;
- the loop's small parts: :func:`draw_batch_and_snr`, :func:`optimise`, :func:`recent_mse`,
  :func:`progress` (a rich progress bar), and :func:`analog_link`, the real differentiable
  :class:`~linksim.phy.analog_link.AnalogLink` over linksim's default OFDM grid.

The file format of a training state is named by the trainer (``kind``, e.g.
``hsc-training-state/2``): a state of another kind is refused on ``--resume``.
"""

from __future__ import annotations

import json
import math
import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import torch

from linksim.errors import ModelUnavailable, ScenarioError

__all__ = [
    "MAX_ABS_SNR_DB", "ArgParser", "Checkpoint", "analog_link", "atomic_write", "channel", "check_options", "device",
    "draw_batch_and_snr", "float_list", "int_list", "integer", "number", "one_line", "optimise", "optional",
    "progress", "read_checkpoint", "recent_mse", "require", "rng_state", "save_checkpoint", "set_rng_state",
    "snr_range", "training_paths",
]

#: the largest |SNR| [dB] of ``--snr-db`` (as a scenario's ``snr_db``)
MAX_ABS_SNR_DB = 300.0

Rule = Callable[[object], "str | None"]


# --------------------------------------------------------------------------- options

def integer(lo: int, hi: int) -> Rule:
    """An integer in ``[lo, hi]`` (not a bool)."""
    def rule(v) -> str | None:
        if isinstance(v, bool) or not isinstance(v, int) or not lo <= v <= hi:
            return f"must be an integer from {lo} to {hi}, got {v!r}"
        return None
    return rule


def number(lo: float, hi: float, lo_open: bool = False) -> Rule:
    """A finite number in ``[lo, hi]`` (``(lo, hi]`` with ``lo_open``)."""
    def rule(v) -> str | None:
        ok = (not isinstance(v, bool) and isinstance(v, (int, float)) and math.isfinite(v)
              and (v > lo if lo_open else v >= lo) and v <= hi)
        return None if ok else f"must be a finite number in {'(' if lo_open else '['}{lo:g}, {hi:g}], got {v!r}"
    return rule


def optional(rule: Rule) -> Rule:
    """``rule``, or None."""
    return lambda v: None if v is None else rule(v)


def snr_range(v) -> str | None:
    """``(lo, hi)`` [dB]: finite, ``lo <= hi``, within +-:data:`MAX_ABS_SNR_DB`."""
    ok = (isinstance(v, (tuple, list)) and len(v) == 2
          and all(not isinstance(x, bool) and isinstance(x, (int, float)) and math.isfinite(x)
                  and abs(x) <= MAX_ABS_SNR_DB for x in v) and v[0] <= v[1])
    if ok:
        return None
    shown = ",".join(f"{x:g}" if isinstance(x, (int, float)) else repr(x) for x in v) if isinstance(v, (tuple, list)) else repr(v)
    return f"give lo,hi [dB]: two finite values, lo <= hi, within +-{MAX_ABS_SNR_DB:g} dB, got {shown}"


def device(v) -> str | None:
    """``cpu``, ``cuda`` or ``cuda:<index>``, present here."""
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


def channel(v) -> str | None:
    """A registered channel model (``awgn``, ``rayleigh``, ...)."""
    from linksim.errors import PluginError
    from linksim.phy.channels import channel_class

    try:
        channel_class(str(v))
    except (ValueError, PluginError) as e:
        return str(e)
    return None


def check_options(rules: dict[str, Rule], **options) -> list[str]:
    """One ``--option: problem`` line per invalid option (``rules``: option's Python name ->
    rule); [] when all are fine."""
    problems = []
    for name, value in options.items():
        message = rules[name](value)
        if message:
            problems.append(f"--{name.replace('_', '-')}: {message}")
    return problems


def require(rules: dict[str, Rule], **options) -> None:
    """:raises ScenarioError: (a ValueError) listing :func:`check_options`' problems."""
    problems = check_options(rules, **options)
    if problems:
        raise ScenarioError(problems)


def int_list(text: str) -> tuple[int, ...]:
    """``"512,256"`` -> ``(512, 256)`` (an argparse ``type``)."""
    return tuple(int(v) for v in text.split(","))


int_list.__name__ = "comma-separated integer list"  # what argparse says of a value that does not parse


def float_list(text: str) -> tuple[float, ...]:
    """``"0,5"`` -> ``(0.0, 5.0)`` (an argparse ``type``)."""
    return tuple(float(v) for v in text.split(","))


float_list.__name__ = "comma-separated number list"


class ArgParser:
    """Mixed into argparse's parser: a value that does not parse is one ``--option: ...`` line
    (ScenarioError, exit 2) instead of the usage text."""

    def error(self, message: str):
        raise ScenarioError([message.removeprefix("argument ")])


def one_line(e: BaseException) -> str:
    """``Type: message`` on one line."""
    return " ".join(f"{type(e).__name__}: {e}".split())


# --------------------------------------------------------------------------- files

def training_paths(out: Path | str, state_suffix: str = ".optim.safetensors") -> tuple[Path, Path, Path]:
    """``(weights, training state, json)`` beside ``out``."""
    out = Path(out)
    stem = str(out)[: -len(".safetensors")] if out.suffix == ".safetensors" else str(out)
    return Path(f"{stem}.safetensors"), Path(f"{stem}{state_suffix}"), Path(f"{stem}.ckpt.json")


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


def atomic_write(path: Path, write: Callable[[Path], object]) -> None:
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


# --------------------------------------------------------------------------- random generators

def _sionna_config():
    import sionna

    return sionna.phy.config


def rng_state(gen: torch.Generator, sionna: bool) -> tuple[dict[str, torch.Tensor], dict]:
    """Every random generator a training loop draws from (``gen``, torch's, CUDA's, and with
    ``sionna`` Sionna's, which draws the channel and the noise): tensors and JSON-able extras."""
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


def set_rng_state(tensors: dict[str, torch.Tensor], extra: dict, gen: torch.Generator, sionna: bool) -> None:
    """Put back what :func:`rng_state` saved."""
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


# --------------------------------------------------------------------------- checkpoints

@dataclass
class Checkpoint:
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

    @property
    def info(self) -> dict:
        return dict(self.body.get("info", {}))

    def load_module(self, module: torch.nn.Module, what: str) -> None:
        """The saved state into ``module``; :raises ModelUnavailable: one line when it does not fit."""
        try:
            module.load_state_dict(self.module)
        except RuntimeError as e:
            raise ModelUnavailable(f"--resume: checkpoint {self.path} holds {what} of another shape "
                                   f"({one_line(e)[:300]})") from None

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
                                   f"({one_line(e)[:300]})") from None
        for group in opt.param_groups:
            group.update(hyper)
        set_rng_state(self.tensors, self.body.get("rng", {}), gen, sionna)


def save_checkpoint(module: torch.nn.Module, export: Callable[[Path], object], opt: torch.optim.Optimizer,
                    gen: torch.Generator, step: int, out: Path, history: list, recent: list[float], info: dict,
                    sionna: bool, kind: str) -> None:
    """Write a training checkpoint beside ``out`` (see the module docstring): the training
    state of format ``kind`` (one file: ``module``, Adam, the generators, the history), then the
    module as weights (``export(path)``), then the json; each atomically, in that order."""
    from safetensors.torch import save_file

    weights, state_path, meta_path = training_paths(out)
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
    rng_tensors, rng_extra = rng_state(gen, sionna)
    tensors.update(rng_tensors)
    body = {"step": step, "param_groups": sd["param_groups"], "optim_scalars": scalars, "rng": rng_extra,
            "history": history, "recent": recent[-50:], "info": info}
    meta = {"linksim": kind, "step": str(step), "state": json.dumps(body)}
    atomic_write(state_path, lambda tmp: save_file(tensors, str(tmp), metadata=meta))
    atomic_write(weights, export)
    text = json.dumps({"step": step, **info, "history": history[-50:]}, indent=1)
    atomic_write(meta_path, lambda tmp: tmp.write_text(text))


def read_checkpoint(out: Path, kind: str) -> Checkpoint:
    """The training state of format ``kind`` beside ``out``.

    :raises FileNotFoundError: there is none. :raises ModelUnavailable: one line naming the
        file when it cannot be read (damaged, truncated, not a training state of this kind).
    """
    from safetensors import safe_open

    _, state_path, _ = training_paths(out)
    if not state_path.is_file():
        raise FileNotFoundError(f"--resume: no checkpoint {state_path}")
    try:
        with safe_open(str(state_path), framework="pt") as f:
            meta = f.metadata() or {}
            if meta.get("linksim") != kind:
                raise ValueError(f"not a training state of this linksim (kind {meta.get('linksim')!r}, expected "
                                 f"{kind!r}; an older version's checkpoint cannot resume exactly)")
            tensors = {k: f.get_tensor(k) for k in f.keys()}
        body = json.loads(meta["state"])
        step = int(body["step"])
        body["param_groups"]  # noqa: B018 - present
    except Exception as e:  # noqa: BLE001 - whatever is wrong with the file, one line naming it
        raise ModelUnavailable(f"--resume: checkpoint {state_path} cannot be read ({one_line(e)[:300]}); "
                               "train again without --resume") from None
    module = {k[len("model."):]: v for k, v in tensors.items() if k.startswith("model.")}
    return Checkpoint(state_path, step, module, tensors, body)


# --------------------------------------------------------------------------- the loop's parts

def recent_mse(step: int, mses: list[float], history: list) -> float:
    """Per-pixel MSE over the last 50 steps; every 50 steps it also goes into ``history``."""
    recent = sum(mses[-50:]) / max(1, len(mses[-50:]))
    if (step + 1) % 50 == 0:
        history.append({"step": step + 1, "mse": recent})
    return recent


def draw_batch_and_snr(images: torch.Tensor, batch_size: int, snr_db: tuple[float, float],
                       gen: torch.Generator) -> tuple[torch.Tensor, float]:
    """One training batch ``[B, C, H, W]`` and one SNR [dB] uniform in ``snr_db`` (in that order from ``gen``)."""
    idx = torch.randint(len(images), (min(batch_size, len(images)),), generator=gen)
    return images[idx.to(images.device)], snr_db[0] + (snr_db[1] - snr_db[0]) * float(torch.rand((), generator=gen))


def optimise(opt: torch.optim.Optimizer, loss: torch.Tensor) -> None:
    """One step: zero the gradients, back-propagate ``loss``, step."""
    opt.zero_grad()
    loss.backward()
    opt.step()


def progress(enabled: bool):
    """A rich progress bar (description, bar, n/total, elapsed, remaining); a no-op when not ``enabled``."""
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


def analog_link(channel: str = "rayleigh", csi: str = "perfect", device: str | torch.device = "cpu",
                equalizer: str = "unbiased"):
    """The real differentiable :class:`~linksim.phy.analog_link.AnalogLink` over a default
    OFDM grid (72 subcarriers x 14 symbols, 30 kHz, pilots on symbols 2 and 11) and the
    channel model ``channel`` (``awgn`` | ``rayleigh`` | any registered model with
    default parameters); ``equalizer``: ``unbiased`` | ``mmse`` (a stream's ``analog_equalizer``)."""
    from linksim.phy.analog_link import AnalogLink
    from linksim.phy.channels import build_channel, channel_class
    from linksim.phy.ofdm import OFDMGrid
    from linksim.phy.transceiver import OFDMTransceiver

    grid = OFDMGrid(72, 14, 30e3, 6, [2, 11], device=str(device))
    ch = build_channel(channel_class(channel).Params.model_validate({"model": channel}), grid)
    return AnalogLink(OFDMTransceiver(grid, ch, csi), equalizer)
