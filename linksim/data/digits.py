"""``digits28``: scikit-learn's handwritten digits, upsampled to 28x28 grey.

scikit-learn ships 1,797 8x8 digit images (values 0..16) with the package, so this
source needs no download. They are scaled to ``[0, 1]``, upsampled to 28x28 with
bilinear interpolation and clamped to ``[0, 1]``. A fixed train/test split (80/20,
a permutation drawn with an internal seed that never changes, independent of the
scenario seed) makes ``digits28:train`` and ``digits28:test`` disjoint and stable.
"""

from __future__ import annotations

import functools
import gzip
import importlib.util
import os

import numpy as np
import torch

from linksim.data.dataset import DataError, ImageDataset, _check_count, _resize_tensor

__all__ = ["DIGITS_SIZE", "SPLIT_SEED", "TRAIN_FRACTION", "load_digits28"]

DIGITS_SIZE = 28
"""Native side length of ``digits28`` images, pixels."""
SPLIT_SEED = 20_240_828
"""Seed of the fixed train/test permutation. Changing it changes every result."""
TRAIN_FRACTION = 0.8
"""Fraction of the 1,797 digits in the train split (1,438 train, 359 test)."""


def _digits_8x8() -> tuple[np.ndarray, np.ndarray]:
    """scikit-learn's digits: ``([1797, 8, 8] float values 0..16, [1797] int classes)``.

    Reads ``sklearn/datasets/data/digits.csv.gz`` (the file ``load_digits()`` reads)
    directly: importing ``sklearn.datasets`` alone takes most of a second. Falls back
    to ``load_digits()`` if the file is not where it is expected.
    """
    spec = importlib.util.find_spec("sklearn")
    if spec is not None and spec.submodule_search_locations:
        root = list(spec.submodule_search_locations)[0]
        path = os.path.join(root, "datasets", "data", "digits.csv.gz")
        if os.path.isfile(path):
            with gzip.open(path, "rt") as f:
                data = np.loadtxt(f, delimiter=",", dtype=np.float64)
            return data[:, :-1].reshape(-1, 8, 8), data[:, -1].astype(np.int64)
    from sklearn.datasets import load_digits

    bunch = load_digits()
    return np.asarray(bunch.images), np.asarray(bunch.target)


@functools.lru_cache(maxsize=1)
def _all_digits() -> tuple[torch.Tensor, torch.Tensor]:
    """All digits as ``([1797, 1, 28, 28] float32 in [0, 1], [1797] int64)``. Cached;
    never modify the returned tensors."""
    images, target = _digits_8x8()
    x = torch.from_numpy(np.asarray(images, dtype=np.float32) / 16.0).unsqueeze(1)
    x = torch.nn.functional.interpolate(
        x, size=(DIGITS_SIZE, DIGITS_SIZE), mode="bilinear", align_corners=False
    ).clamp_(0.0, 1.0)
    y = torch.from_numpy(np.asarray(target, dtype=np.int64))
    return x, y


@functools.lru_cache(maxsize=1)
def _split_indices() -> dict[str, np.ndarray]:
    """Indices into the 1,797 digits of the fixed ``train`` and ``test`` splits."""
    n = _all_digits()[0].shape[0]
    perm = np.random.default_rng(SPLIT_SEED).permutation(n)
    n_train = int(round(TRAIN_FRACTION * n))
    return {"train": perm[:n_train], "test": perm[n_train:]}


def load_digits28(
    source: str, split: str, num_samples: int, image_size: int | None = None
) -> ImageDataset:
    """Load the first ``num_samples`` digits of the fixed ``split`` (``train`` | ``test``).

    Returns images ``[num_samples, 1, S, S]`` float32 in ``[0, 1]`` with ``S = 28``,
    or ``S = image_size`` (bilinear resize of the 28x28 images) when given; labels
    ``[num_samples]`` int64 digit classes 0..9; names ``digits28/<split>/<index>``
    with the index within the split.
    """
    if split not in ("train", "test"):
        raise DataError(
            f"data.source {source!r}: unknown digits28 split {split!r}; use 'train' or 'test'"
        )
    idx = _split_indices()[split]
    _check_count(source, num_samples, len(idx), f"digits28 {split} images")
    x_all, y_all = _all_digits()
    sel = torch.from_numpy(idx[:num_samples])
    images = x_all.index_select(0, sel)  # a copy: the cache stays untouched
    if image_size is not None:
        images = _resize_tensor(images, image_size)
    labels = y_all.index_select(0, sel)
    names = [f"digits28/{split}/{i:04d}" for i in range(num_samples)]
    return ImageDataset(images=images, labels=labels, names=names, source=source)
