"""Model weights as safetensors files whose metadata carries the architecture.

One file holds a module's ``state_dict`` and, in its metadata, ``linksim`` (what kind
of module: ``hsc-semantic``, ``hsc-ncr``, ``bridge``...), ``config`` (the JSON the
module is rebuilt from) and optional ``extra`` (how it was trained). Loading needs no
code outside the file's own config, and nothing is unpickled.
"""

from __future__ import annotations

import json
from pathlib import Path

import torch

__all__ = ["read_weights", "resolve_shipped", "save_weights", "shipped_in"]


def shipped_in(folder: Path) -> list[str]:
    """Names of the weight files shipped in ``folder`` (without ``.safetensors``)."""
    return sorted(p.stem for p in Path(folder).glob("*.safetensors"))


def resolve_shipped(value: str | Path, folder: Path, what: str, alternatives: str = "") -> Path:
    """A scenario's weights value -> a file: a bare name (no folder, no suffix) is a file
    shipped in ``folder``; anything else is a path (relative to the working directory).

    :param what: what the weights are, for the message (``deepjscc weights``).
    :param alternatives: what else the value may be, appended to the message.
    :raises ValueError: a bare name that is not shipped (the message lists those that are).
    """
    text = str(value)
    if "/" in text or "\\" in text or text.endswith(".safetensors"):
        return Path(text).expanduser()
    path = Path(folder) / f"{text}.safetensors"
    if not path.is_file():
        raise ValueError(f"no shipped {what} named '{text}' (shipped: {', '.join(shipped_in(folder)) or 'none'}; "
                         f"or give a path to a .safetensors file{alternatives})")
    return path


def save_weights(module: torch.nn.Module, path: str | Path, kind: str, config_json: str, half: bool = False,
                 extra: dict | None = None) -> Path:
    """Write ``module``'s state to ``path`` with ``kind`` and its config in the metadata.

    :param half: store floating-point tensors as float16 (half the size; read back as float32).
    :param extra: JSON-able facts stored as ``extra`` (step, training data...).
    """
    from safetensors.torch import save_file

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    state = {}
    for name, v in module.state_dict().items():
        v = v.detach()
        if v.is_floating_point():
            v = v.half() if half else v.float()
        state[name] = v.contiguous().cpu()
    meta = {"linksim": kind, "config": config_json}
    if extra:
        meta["extra"] = json.dumps(extra)
    save_file(state, str(path), metadata=meta)
    return path


def read_weights(path: str | Path, what: str, kind: str | None = None) -> tuple[dict[str, str], dict[str, torch.Tensor]]:
    """``(metadata, state)`` of a file written by :func:`save_weights`; floating-point tensors as float32.

    :param what: how errors name the file, e.g. ``"hsc weights"``.
    :param kind: the ``linksim`` metadata the file must carry (None: any, as long as it has a config).
    :raises FileNotFoundError: no such file. :raises ValueError: not weights of that kind.
    """
    from safetensors import safe_open
    from safetensors.torch import load_file

    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{what}: no such file {path}")
    with safe_open(str(path), framework="pt") as f:
        meta = f.metadata() or {}
    if "config" not in meta or (kind is not None and meta.get("linksim") != kind):
        raise ValueError(f"{what}: {path} holds no {kind or 'linksim'} model (no such config in its metadata)")
    state = {k: (v.float() if v.is_floating_point() else v) for k, v in load_file(str(path)).items()}
    return meta, state
