"""``load_dataset``: turn a scenario's ``data.source`` string into an ImageDataset.

A source string is ``<kind>`` or ``<kind>:<argument>``; the kind picks the
:class:`DataSource`, the argument (everything after the first colon) is its loader's to
interpret. A plugin source is ``package.module:Name`` or ``package.module:Name:<argument>``.
"""

from __future__ import annotations

import numbers
from collections.abc import Callable
from typing import TYPE_CHECKING

from linksim.errors import DataError, PluginError, UnknownName
from linksim.registry import Registry, is_reference

if TYPE_CHECKING:  # the datasets hold torch tensors: imported by the loaders, not with the registry
    from linksim.data.dataset import ImageDataset
    from linksim.data.multimodal import MultimodalBatch

__all__ = ["DataSource", "SOURCES", "is_multimodal_source", "known_sources", "load_dataset", "register_source",
           "source_entry", "split_source"]

Loader = Callable[[str, str, int, "int | None", int], "ImageDataset | MultimodalBatch"]
"""``loader(source, argument, num_samples, image_size, seed) -> ImageDataset`` (or a
:class:`~linksim.data.multimodal.MultimodalBatch` for a multimodal source);
``argument`` is the text after the first colon ('' when there is none)."""


class DataSource:
    """A ``data.source`` kind: loads ``<kind>`` or ``<kind>:<argument>``.

    :param loader: ``loader(source, argument, num_samples, image_size, seed)`` returning an
        :class:`ImageDataset` (images ``[N, C, S, S]`` in [0, 1]) or, for a multimodal
        source, a :class:`~linksim.data.multimodal.MultimodalBatch`; ``argument`` is the
        text after the kind's colon ('' when there is none). Raise :class:`DataError`
        naming the source for anything wrong.
    :param usages: the spellings :func:`known_sources` shows, e.g. ``("folder:<path>",)``.
    :param multimodal: the loader gives (video, audio, text) samples instead of images.
    :param folder_argument: the argument is a folder (``<dir>``, or ``<dir>:<split>`` with a
        split among ``splits``): a relative one is resolved against the scenario file's
        folder, and a missing one is a validation error naming ``data.source``.
    :param splits: the split names that may follow the folder.

    A plugin either creates an instance (``MY_SOURCE = DataSource(load, ("mysource:<dir>",))``)
    or subclasses it with a ``load`` method and no constructor arguments; its entry point
    (group ``linksim.data``) or the scenario's ``package.module:Name`` points at either.
    """

    usages: tuple[str, ...] = ()
    multimodal: bool = False
    folder_argument: bool = False
    splits: tuple[str, ...] = ()

    def __init__(self, loader: Loader | None = None, usages: tuple[str, ...] | list[str] = (),
                 multimodal: bool = False, folder_argument: bool = False, splits: tuple[str, ...] = ()) -> None:
        if loader is not None:
            self.load = loader  # type: ignore[method-assign]
        self.usages = tuple(usages) or type(self).usages
        self.multimodal = multimodal or type(self).multimodal
        self.folder_argument = folder_argument or type(self).folder_argument
        self.splits = tuple(splits) or type(self).splits

    def load(self, source: str, argument: str, num_samples: int, image_size: int | None,
             seed: int) -> "ImageDataset | MultimodalBatch":
        """Load ``num_samples`` samples (see the class docstring)."""
        raise NotImplementedError


def _instantiate(obj: object) -> object:
    # an entry point or a ``module:Class`` reference may name a DataSource subclass
    return obj() if isinstance(obj, type) and issubclass(obj, DataSource) else obj


def _check_source(obj: object) -> None:
    if not isinstance(obj, DataSource):
        raise TypeError(f"expected a linksim.data.DataSource (instance or subclass), got {obj!r}")


#: every data source kind, by name (built-ins are linksim's ``linksim.data`` entry points)
SOURCES: Registry[DataSource] = Registry("data source", "linksim.data", check=_check_source, prepare=_instantiate)


def register_source(kind: str, loader: Loader, usages: tuple[str, ...] | list[str], multimodal: bool = False) -> None:
    """Make ``<kind>`` / ``<kind>:<argument>`` loadable by :func:`load_dataset` (from Python,
    e.g. a notebook; an installed package uses the ``linksim.data`` entry-point group)."""
    if not kind or ":" in kind:
        raise ValueError(f"source kind must be a non-empty name without ':', got {kind!r}")
    SOURCES.register(kind, DataSource(loader, usages, multimodal))


def split_source(source: str) -> tuple[str, str]:
    """``(kind, argument)`` of a ``data.source`` string.

    A registered kind is the text before the first colon (``folder:/data/x``); otherwise a
    ``package.module:Name`` reference is the kind and anything after a further colon is the
    argument (``mypkg.data:MySource:/data/x``).
    """
    source = str(source).strip()
    kind, _, argument = source.partition(":")
    if kind in SOURCES or not argument:
        return kind, argument
    name, _, rest = argument.partition(":")
    if is_reference(f"{kind}:{name}"):
        return f"{kind}:{name}", rest
    return kind, argument


def source_entry(source: str) -> DataSource:
    """The :class:`DataSource` a ``data.source`` string names.

    :raises DataError: unknown kind (listing the known ones) or a plugin that cannot be imported.
    """
    kind, _ = split_source(source)
    try:
        return SOURCES.resolve(kind)
    except UnknownName:
        raise DataError(f"data.source {source!r}: unknown source {kind!r}; known sources: "
                        + ", ".join(known_sources())) from None
    except PluginError as e:
        raise DataError(f"data.source {source!r}: {e}") from None


def is_multimodal_source(source: str) -> bool:
    """Whether ``source`` (a ``data.source`` string) names a multimodal source (False when unknown)."""
    try:
        return source_entry(source).multimodal
    except DataError:
        return False


def known_sources() -> list[str]:
    """Every accepted ``data.source`` spelling, e.g. ``["digits28", "digits28:train",
    "photos", "folder:<path>", "mnist:<dir>", "mnist:<dir>:train"]``."""
    out = []
    for name in SOURCES.names():
        try:
            out += list(SOURCES[name].usages) or [name]
        except PluginError:
            out.append(f"{name} (broken plugin)")
    return out


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
    _, argument = split_source(source)
    return source_entry(source).load(
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
    from linksim.data.photos import load_photos, photo_names

    names = None
    if arg:  # photos:<name>,<name>: only these (e.g. photos a model never saw in training)
        names = tuple(a.strip() for a in arg.split(","))
        unknown = [a for a in names if a not in photo_names()]
        if unknown or not all(names):
            bad = ", ".join(repr(a) for a in unknown) or "''"
            raise DataError(f"data.source {source!r}: unknown photo {bad} (installed: {', '.join(photo_names())})")
    return load_photos(source, n, size, seed, names=names)


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


DIGITS28 = DataSource(_digits28, ("digits28", "digits28:train"))
PHOTOS = DataSource(_photos, ("photos", "photos:<name>,<name>"))
FOLDER = DataSource(_folder, ("folder:<path>",), folder_argument=True)
MNIST = DataSource(_mnist, ("mnist:<dir>", "mnist:<dir>:train"), folder_argument=True, splits=("train", "test"))


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


DIGITS_AV = DataSource(_digits_av, ("digits-av", "digits-av:train"), multimodal=True)
TRIPLES = DataSource(_triples, ("triples:<dir>",), multimodal=True, folder_argument=True)
VGGSOUND = DataSource(_vggsound, ("vggsound:<dir>", "vggsound:<dir>:train"), multimodal=True, folder_argument=True,
                      splits=("train", "test", "val"))
COCO = DataSource(_coco, ("coco:<dir>", "coco:<dir>:train"), multimodal=True, folder_argument=True,
                  splits=("train", "test", "val"))  # default split: val
