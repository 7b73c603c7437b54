"""Loading foundation models by hub id or local folder, with one-line errors.

Codecs (BLIP, Stable Diffusion) and learned metrics (CLIP, LPIPS) name their models
in the scenario: a Hugging Face hub id (loaded from the local cache first, then the
hub) or a local folder written by ``save_pretrained``. Nothing here runs at import;
a model that cannot be loaded raises :class:`ModelUnavailable` with one line saying
which model is missing and how to provide it (the runner turns it into exit code 1
before any point is simulated).
"""

from __future__ import annotations

import contextlib
from pathlib import Path
from typing import Any, Callable, Iterator

import torch


from linksim.errors import ModelUnavailable  # noqa: E402  (re-exported)


def is_local(source: str) -> bool:
    """Whether ``source`` names a local folder or file (an existing path, or one that looks like a path)."""
    p = Path(source).expanduser()
    return p.exists() or source.startswith((".", "/", "~")) or source.count("/") > 1


def from_pretrained(load: Callable[..., Any], source: str, what: str, how: str, **kwargs) -> Any:
    """``load(source, **kwargs)`` (a ``from_pretrained``), turning any failure into :class:`ModelUnavailable`.

    A hub id is tried in the local cache first (``local_files_only``) so that an
    offline machine with a warm cache never waits for network retries.

    :param load: e.g. ``CLIPModel.from_pretrained``.
    :param source: hub id or local folder.
    :param what: what the model is for, e.g. ``"metric_models.clip (CLIP for clip_score)"``.
    :param how: how a user provides it, e.g. ``"set metric_models.clip to a hub id or a folder"``.
    """
    with quiet_loading():
        return _load(load, source, what, how, **kwargs)


@contextlib.contextmanager
def quiet_loading() -> Iterator[None]:
    """No per-file progress bars and no warnings from transformers / diffusers while loading
    (the run has its own progress bar, and a failure must stay one line; e.g. transformers
    warns once that an image processor falls back from torchvision to PIL); their previous
    state is restored."""
    restore = []
    for name in ("transformers", "diffusers"):
        try:
            logging = __import__(f"{name}.utils.logging", fromlist=["logging"])
        except ImportError:
            continue
        if logging.is_progress_bar_enabled():
            logging.disable_progress_bar()
            restore.append(logging.enable_progress_bar)
        level = logging.get_verbosity()
        logging.set_verbosity_error()
        restore.append(lambda logging=logging, level=level: logging.set_verbosity(level))
    try:
        yield
    finally:
        for enable in restore:
            enable()


def _load(load: Callable[..., Any], source: str, what: str, how: str, **kwargs) -> Any:
    if is_local(source):
        path = Path(source).expanduser()
        if not path.exists():
            raise ModelUnavailable(f"{what}: '{source}' does not exist; {how}")
        try:
            return load(str(path), **kwargs)
        except Exception as e:  # noqa: BLE001 - any loader failure is one line for the user
            raise ModelUnavailable(f"{what}: cannot load '{source}' ({type(e).__name__}: {_first_line(e)}); {how}") from None
    try:
        return load(source, local_files_only=True, **kwargs)
    except Exception:  # noqa: BLE001 - not in the cache: try the hub
        pass
    try:
        return load(source, **kwargs)
    except Exception as e:  # noqa: BLE001
        raise ModelUnavailable(f"{what}: cannot load '{source}' from the Hugging Face hub or its cache "
                               f"({type(e).__name__}: {_first_line(e)}); {how}") from None


def load_state_dict(path: str, what: str, how: str) -> dict[str, torch.Tensor]:
    """A weights file (``.pth`` / ``.pt`` via ``torch.load(weights_only=True)``, or ``.safetensors``)."""
    p = Path(path).expanduser()
    if not p.is_file():
        raise ModelUnavailable(f"{what}: weights file '{path}' does not exist; {how}")
    try:
        if p.suffix == ".safetensors":
            from safetensors.torch import load_file

            return load_file(str(p))
        return torch.load(str(p), map_location="cpu", weights_only=True)
    except Exception as e:  # noqa: BLE001
        raise ModelUnavailable(f"{what}: cannot read '{path}' ({type(e).__name__}: {_first_line(e)}); {how}") from None


def _first_line(e: Exception) -> str:
    text = str(e).strip().splitlines()
    return text[0][:200] if text else ""
