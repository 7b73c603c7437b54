"""``load_dataset``: turn a scenario's ``data.source`` string into an ImageDataset.

A source string is ``<kind>`` or ``<kind>:<argument>``; the kind picks the loader,
the argument (everything after the first colon) is the loader's to interpret.
"""

from __future__ import annotations

import numbers
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from linksim.data.dataset import DataError, ImageDataset

if TYPE_CHECKING:
    from linksim.data.multimodal import MultimodalBatch

__all__ = ["is_multimodal_source", "known_sources", "load_dataset", "register_source"]

Loader = Callable[[str, str, int, "int | None", int], "ImageDataset | MultimodalBatch"]
"""``loader(source, argument, num_samples, image_size, seed) -> ImageDataset`` (or a
:class:`~linksim.data.multimodal.MultimodalBatch` for a multimodal source);
``argument`` is the text after the first colon ('' when there is none)."""


@dataclass(frozen=True)
class _Entry:
    loader: Loader
    usages: tuple[str, ...]
    multimodal: bool = False


_SOURCES: dict[str, _Entry] = {}


def register_source(kind: str, loader: Loader, usages: tuple[str, ...] | list[str], multimodal: bool = False) -> None:
    """Make ``<kind>`` / ``<kind>:<argument>`` loadable by :func:`load_dataset`.

    ``usages`` are the spellings shown by :func:`known_sources` (e.g.
    ``("folder:<path>",)``); ``multimodal``: the loader returns a
    :class:`~linksim.data.multimodal.MultimodalBatch` (video, audio, text) instead of
    an :class:`ImageDataset`. Registering a kind again replaces it.
    """
    if not kind or ":" in kind:
        raise ValueError(f"source kind must be a non-empty name without ':', got {kind!r}")
    _SOURCES[kind] = _Entry(loader, tuple(usages), multimodal)


def is_multimodal_source(source: str) -> bool:
    """Whether ``source`` (a ``data.source`` string) names a multimodal source (False when unknown)."""
    entry = _SOURCES.get(str(source).strip().partition(":")[0])
    return entry is not None and entry.multimodal


def known_sources() -> list[str]:
    """Every accepted ``data.source`` spelling, e.g. ``["digits28", "digits28:train",
    "photos", "folder:<path>", "mnist:<dir>", "mnist:<dir>:train"]``."""
    return [u for entry in _SOURCES.values() for u in entry.usages]


def _positive_int(value: object) -> bool:
    return isinstance(value, numbers.Integral) and not isinstance(value, bool) and value >= 1


def load_dataset(
    source: str, num_samples: int, image_size: int | None = None, seed: int = 0
) -> "ImageDataset | MultimodalBatch":
    """Load ``num_samples`` images (or multimodal samples) from ``source`` (the scenario's ``data.source``).

    Args:
        source: ``digits28`` (= ``digits28:test``) | ``digits28:train`` | ``photos`` |
            ``folder:<path>`` | ``mnist:<dir>`` (= ``mnist:<dir>:test``) |
            ``mnist:<dir>:train``; see :func:`known_sources`.
        num_samples: number of samples N >= 1; always the first N of the source, in
            a fixed order.
        image_size: side S (pixels) of the square images returned; None keeps the
            source's native size (28 for digits28 and MNIST, 64 for photos, the
            files' own size for a folder).
        seed: only used where a source draws random content (the extra crops of
            ``photos``); every other source ignores it.

    Returns:
        An :class:`ImageDataset`, images ``[N, C, S, S]`` float32 in ``[0, 1]`` on CPU
        (``C`` = 1 for digits28/MNIST/grey folders, 3 otherwise); for the multimodal
        sources (``digits-av``, ``triples:<dir>``, ``vggsound:<dir>``, ``coco:<dir>``,
        see :func:`is_multimodal_source`) a :class:`~linksim.data.multimodal.MultimodalBatch`
        whose frames are ``S x S`` (28 when ``image_size`` is None).

    Raises:
        DataError: unknown source, bad arguments, missing or unusable files, or
            ``num_samples`` larger than what the source holds.
    """
    if not isinstance(source, str) or not source.strip():
        raise DataError(
            f"data.source {source!r}: must be a non-empty string; known sources: "
            + ", ".join(known_sources())
        )
    source = source.strip()
    if not _positive_int(num_samples):
        raise DataError(
            f"data.source {source!r}: data.num_samples must be an integer >= 1, got {num_samples!r}"
        )
    if image_size is not None and not _positive_int(image_size):
        raise DataError(
            f"data.source {source!r}: data.image_size must be an integer >= 1 or absent, "
            f"got {image_size!r}"
        )
    kind, _, argument = source.partition(":")
    entry = _SOURCES.get(kind)
    if entry is None:
        raise DataError(
            f"data.source {source!r}: unknown source {kind!r}; known sources: "
            + ", ".join(known_sources())
        )
    return entry.loader(
        source,
        argument,
        int(num_samples),
        None if image_size is None else int(image_size),
        int(seed),
    )


# ---------------------------------------------------------------------------
# Built-in sources. Loader modules are imported lazily so that importing
# linksim.data stays cheap.


def _digits28(source: str, arg: str, n: int, size: int | None, seed: int) -> ImageDataset:
    from linksim.data.digits import load_digits28

    return load_digits28(source, arg or "test", n, size)


def _photos(source: str, arg: str, n: int, size: int | None, seed: int) -> ImageDataset:
    if arg:
        raise DataError(f"data.source {source!r}: 'photos' takes no argument; use 'photos'")
    from linksim.data.photos import load_photos

    return load_photos(source, n, size, seed)


def _folder(source: str, arg: str, n: int, size: int | None, seed: int) -> ImageDataset:
    if not arg.strip():
        raise DataError(f"data.source {source!r}: give the folder as 'folder:<path>'")
    from linksim.data.folder import load_folder

    return load_folder(source, arg.strip(), n, size)


def _mnist(source: str, arg: str, n: int, size: int | None, seed: int) -> ImageDataset:
    directory, split = arg.strip(), "test"
    head, sep, tail = directory.rpartition(":")
    if sep and tail in ("train", "test"):
        directory, split = head.strip(), tail
    if not directory:
        raise DataError(
            f"data.source {source!r}: give the folder as 'mnist:<dir>' or 'mnist:<dir>:train'"
        )
    from linksim.data.mnist import load_mnist

    return load_mnist(source, directory, split, n, size)


register_source("digits28", _digits28, ("digits28", "digits28:train"))
register_source("photos", _photos, ("photos",))
register_source("folder", _folder, ("folder:<path>",))
register_source("mnist", _mnist, ("mnist:<dir>", "mnist:<dir>:train"))


# Multimodal sources (video, audio, text) for multimodal codecs (``bridge``).


def _digits_av(source: str, arg: str, n: int, size: int | None, seed: int):
    from linksim.data.digits_av import FRAME_SIZE, load_digits_av

    if size is not None and size != FRAME_SIZE:
        raise DataError(f"data.source {source!r}: digits-av frames are {FRAME_SIZE}x{FRAME_SIZE}; "
                        f"drop data.image_size or set it to {FRAME_SIZE}")
    return load_digits_av(arg or "test", n)


def _triples(source: str, arg: str, n: int, size: int | None, seed: int):
    if not arg.strip():
        raise DataError(f"data.source {source!r}: give the folder as 'triples:<dir>'")
    from linksim.data.triples import load_triples

    return load_triples(arg.strip(), n, image_size=size or 28)


def _vggsound(source: str, arg: str, n: int, size: int | None, seed: int):
    from linksim.data.vggsound import load_vggsound

    directory, split = _folder_and_split(source, arg, "vggsound")
    return load_vggsound(directory, split, n, image_size=size or 28)


def _coco(source: str, arg: str, n: int, size: int | None, seed: int):
    from linksim.data.coco import load_coco_captions

    directory, split = _folder_and_split(source, arg, "coco", default="val")
    return load_coco_captions(directory, split, n, image_size=size or 28)


def _folder_and_split(source: str, arg: str, kind: str, default: str = "test") -> tuple[str, str]:
    """``<dir>`` or ``<dir>:train|test|val`` -> (dir, split; ``default`` when not given)."""
    directory, split = arg.strip(), default
    head, sep, tail = directory.rpartition(":")
    if sep and tail in ("train", "test", "val"):
        directory, split = head.strip(), tail
    if not directory:
        raise DataError(f"data.source {source!r}: give the folder as '{kind}:<dir>' or '{kind}:<dir>:train'")
    return directory, split


register_source("digits-av", _digits_av, ("digits-av", "digits-av:train"), multimodal=True)
register_source("triples", _triples, ("triples:<dir>",), multimodal=True)
register_source("vggsound", _vggsound, ("vggsound:<dir>", "vggsound:<dir>:train"), multimodal=True)
register_source("coco", _coco, ("coco:<dir>", "coco:<dir>:train"), multimodal=True)  # default split: val
