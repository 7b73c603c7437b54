"""``photos``: the natural photos that ship inside scikit-image and scikit-learn.

The files are read with Pillow straight from the installed packages
(``skimage/data/*.png|jpg`` and ``sklearn/datasets/images/*.jpg``), never through
``skimage.data`` (whose fetchers may try to download), so this source works
offline. Grey photos are converted to RGB by channel replication.
"""

from __future__ import annotations

import functools
import importlib.util
import math
import os

import numpy as np
import torch

from linksim.data.dataset import DataError, ImageDataset, _center_square, _pil_to_tensor

__all__ = ["DEFAULT_PHOTO_SIZE", "PHOTO_FILES", "available_photos", "load_photos", "photo_names"]

DEFAULT_PHOTO_SIZE = 64
"""Side length (pixels) used when ``data.image_size`` is not given."""

PHOTO_FILES: tuple[tuple[str, str, str], ...] = (
    # (name, package, path inside the package); order = sample order
    ("astronaut", "skimage", "data/astronaut.png"),
    ("coffee", "skimage", "data/coffee.png"),
    ("chelsea", "skimage", "data/chelsea.png"),
    ("rocket", "skimage", "data/rocket.jpg"),
    ("china", "sklearn", "datasets/images/china.jpg"),
    ("flower", "sklearn", "datasets/images/flower.jpg"),
    ("motorcycle", "skimage", "data/motorcycle_left.png"),
    ("hubble_deep_field", "skimage", "data/hubble_deep_field.jpg"),
    ("camera", "skimage", "data/camera.png"),  # grey
    ("moon", "skimage", "data/moon.png"),  # grey
    ("coins", "skimage", "data/coins.png"),  # grey
)
"""The photos, in sample order. A file missing from the installed package is skipped."""


def _package_dir(package: str) -> str | None:
    """Folder of an installed package, found without importing it."""
    spec = importlib.util.find_spec(package)
    if spec is None or not spec.submodule_search_locations:
        return None
    return list(spec.submodule_search_locations)[0]


@functools.lru_cache(maxsize=1)
def available_photos() -> tuple[tuple[str, str], ...]:
    """``(name, file path)`` of every photo of :data:`PHOTO_FILES` present on disk."""
    out = []
    for name, package, rel in PHOTO_FILES:
        root = _package_dir(package)
        if root is None:
            continue
        path = os.path.join(root, *rel.split("/"))
        if os.path.isfile(path):
            out.append((name, path))
    return tuple(out)


def photo_names() -> tuple[str, ...]:
    """Names of the installed photos, in sample order."""
    return tuple(n for n, _ in available_photos())


@functools.lru_cache(maxsize=None)
def _load_photo(path: str):  # -> PIL.Image.Image (RGB, full size); cached, do not modify
    from PIL import Image

    with Image.open(path) as im:
        im.load()
        if im.mode in ("RGBA", "LA", "P", "PA"):
            im = im.convert("RGBA")
            bg = Image.new("RGBA", im.size, (255, 255, 255, 255))
            im = Image.alpha_composite(bg, im)
        return im.convert("RGB")


def load_photos(
    source: str, num_samples: int, image_size: int | None = None, seed: int = 0, *,
    names: tuple[str, ...] | None = None, exclude: tuple[str, ...] = (), crops_only: bool = False,
) -> ImageDataset:
    """Load ``num_samples`` RGB photos, each a ``[3, S, S]`` square.

    ``S = image_size`` or :data:`DEFAULT_PHOTO_SIZE` (64). The first samples are the
    photos themselves (centre-cropped to a square, resized with Pillow LANCZOS), in
    :data:`PHOTO_FILES` order, named ``photos/<name>``. Beyond the number of photos,
    each extra sample is a square crop of the photos in turn (photo ``k mod P`` for
    extra sample ``k``), its side drawn uniformly in ``[1/4, 3/4]`` of the photo's
    short side and its position uniformly, from ``numpy.random.default_rng(seed)``;
    it is named ``photos/<name>/crop<k>_x<left>_y<top>_s<side>`` (pixels of the
    original photo). Same seed, same crops. No labels.

    :param names: only these photos (``photos:chelsea,flower``: images never seen by a
        model trained on the others); None: all.
    :param exclude: photos left out (a trainer's held-out photos).
    :param crops_only: every sample a crop (training sets), not the photos first.

    Returns images ``[num_samples, 3, S, S]`` float32 in ``[0, 1]``.
    """
    size = DEFAULT_PHOTO_SIZE if image_size is None else image_size
    photos = tuple((n, p) for n, p in available_photos() if (names is None or n in names) and n not in exclude)
    if not photos:
        raise DataError(
            f"data.source {source!r}: no bundled photos were found in the installed "
            "scikit-image / scikit-learn packages" if names is None and not exclude else
            f"data.source {source!r}: none of the selected photos is installed"
        )
    from PIL import Image

    tensors: list[torch.Tensor] = []
    labels: list[str] = []
    for name, path in ([] if crops_only else photos[:num_samples]):
        tensors.append(_pil_to_tensor(_center_square(_load_photo(path), size)))
        labels.append(f"photos/{name}")
    extra = num_samples - len(tensors)
    if extra > 0:
        rng = np.random.default_rng(seed)
        for k in range(extra):
            name, path = photos[k % len(photos)]
            im = _load_photo(path)
            w, h = im.size
            short = min(w, h)
            lo, hi = max(1, math.ceil(short / 4)), max(1, (3 * short) // 4)
            side = int(rng.integers(lo, hi + 1))
            left = int(rng.integers(0, w - side + 1))
            top = int(rng.integers(0, h - side + 1))
            crop = im.crop((left, top, left + side, top + side))
            if crop.size != (size, size):
                crop = crop.resize((size, size), Image.Resampling.LANCZOS)
            tensors.append(_pil_to_tensor(crop))
            labels.append(f"photos/{name}/crop{k}_x{left}_y{top}_s{side}")
    images = torch.stack(tensors)
    return ImageDataset(images=images, labels=None, names=labels, source=source)
