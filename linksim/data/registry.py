"""``load_dataset``: turn a scenario's ``data.source`` string into an ImageDataset.

A source string is ``<kind>`` or ``<kind>:<argument>``; the kind picks the loader,
the argument (everything after the first colon) is the loader's to interpret.
"""

from __future__ import annotations

import numbers
from collections.abc import Callable
from dataclasses import dataclass

from linksim.data.dataset import DataError, ImageDataset

__all__ = ["known_sources", "load_dataset", "register_source"]

Loader = Callable[[str, str, int, "int | None", int], ImageDataset]
"""``loader(source, argument, num_samples, image_size, seed) -> ImageDataset``;
``argument`` is the text after the first colon ('' when there is none)."""


@dataclass(frozen=True)
class _Entry:
    loader: Loader
    usages: tuple[str, ...]


_SOURCES: dict[str, _Entry] = {}


def register_source(kind: str, loader: Loader, usages: tuple[str, ...] | list[str]) -> None:
    """Make ``<kind>`` / ``<kind>:<argument>`` loadable by :func:`load_dataset`.

    ``usages`` are the spellings shown by :func:`known_sources` (e.g.
    ``("folder:<path>",)``). Registering a kind again replaces it.
    """
    if not kind or ":" in kind:
        raise ValueError(f"source kind must be a non-empty name without ':', got {kind!r}")
    _SOURCES[kind] = _Entry(loader, tuple(usages))


def known_sources() -> list[str]:
    """Every accepted ``data.source`` spelling, e.g. ``["digits28", "digits28:train",
    "photos", "folder:<path>", "mnist:<dir>", "mnist:<dir>:train"]``."""
    return [u for entry in _SOURCES.values() for u in entry.usages]


def _positive_int(value: object) -> bool:
    return isinstance(value, numbers.Integral) and not isinstance(value, bool) and value >= 1


def load_dataset(
    source: str, num_samples: int, image_size: int | None = None, seed: int = 0
) -> ImageDataset:
    """Load ``num_samples`` images from ``source`` (the scenario's ``data.source``).

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
        (``C`` = 1 for digits28/MNIST/grey folders, 3 otherwise).

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
