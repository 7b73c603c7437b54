"""``mnist:<dir>[:train|:test]``: MNIST-format IDX files from a local folder.

Reads ``t10k-images-idx3-ubyte`` + ``t10k-labels-idx1-ubyte`` (test, the default) or
``train-images-idx3-ubyte`` + ``train-labels-idx1-ubyte`` (train). The variants with
a dot (``t10k-images.idx3-ubyte``) and gzip-compressed files (``.gz``) are found too.
Works for any dataset in MNIST's format (Fashion-MNIST, KMNIST...). Nothing is
downloaded.
"""

from __future__ import annotations

import gzip
import os

import numpy as np
import torch

from linksim.data.dataset import DataError, ImageDataset, _check_count, _resize_tensor

__all__ = ["load_mnist", "read_idx"]

_IDX_DTYPES = {0x08: ">u1", 0x09: ">i1", 0x0B: ">i2", 0x0C: ">i4", 0x0D: ">f4", 0x0E: ">f8"}
_PREFIX = {"test": "t10k", "train": "train"}


def read_idx(path: str, source: str = "mnist") -> np.ndarray:
    """Parse one IDX file (plain or gzip) into an array of the shape its header gives.

    IDX layout: magic ``00 00 <type> <ndim>``, then ``ndim`` big-endian uint32 sizes,
    then the values, big-endian, row-major. Raises DataError (naming ``source`` and
    the file) on a bad magic number, an unknown type or a size that does not match
    the header.
    """
    try:
        with open(path, "rb") as f:
            raw = f.read()
        if raw[:2] == b"\x1f\x8b":
            raw = gzip.decompress(raw)
    except (OSError, EOFError, gzip.BadGzipFile) as exc:
        raise DataError(f"data.source {source!r}: cannot read {path}: {exc}") from exc
    if len(raw) < 4 or raw[0] != 0 or raw[1] != 0 or raw[2] not in _IDX_DTYPES:
        raise DataError(
            f"data.source {source!r}: {path} is not an IDX file "
            f"(magic number {raw[:4].hex() or 'missing'}, expected 0000<type><ndim>)"
        )
    dtype, ndim = np.dtype(_IDX_DTYPES[raw[2]]), raw[3]
    header = 4 + 4 * ndim
    if len(raw) < header:
        raise DataError(
            f"data.source {source!r}: {path} is truncated inside its header "
            f"({len(raw)} bytes, the header alone needs {header})"
        )
    dims = tuple(int(d) for d in np.frombuffer(raw, dtype=">u4", count=ndim, offset=4))
    expected = header + int(np.prod(dims, dtype=np.int64)) * dtype.itemsize
    if len(raw) != expected:
        raise DataError(
            f"data.source {source!r}: {path} has {len(raw)} bytes but its header "
            f"(shape {dims}, {dtype.itemsize}-byte values) says {expected}"
        )
    return np.frombuffer(raw, dtype=dtype, offset=header).reshape(dims)


def _find(directory: str, prefix: str, kind: str, idx: str) -> tuple[str | None, list[str]]:
    """Path of ``<prefix>-<kind>-<idx>-ubyte`` (or ``.``-variant, or ``.gz``)."""
    tried = []
    for sep in ("-", "."):
        for ext in ("", ".gz"):
            name = f"{prefix}-{kind}{sep}{idx}-ubyte{ext}"
            tried.append(name)
            if os.path.isfile(os.path.join(directory, name)):
                return os.path.join(directory, name), tried
    return None, tried


def load_mnist(
    source: str, directory: str, split: str, num_samples: int, image_size: int | None = None
) -> ImageDataset:
    """Load the first ``num_samples`` images of an MNIST-format ``split`` (train | test).

    Returns images ``[num_samples, 1, S, S]`` float32 in ``[0, 1]`` (pixel / 255) with
    ``S`` the native size (28 for MNIST) or ``image_size`` (bilinear resize) when
    given; labels ``[num_samples]`` int64 when the labels file exists, else None;
    names ``mnist/<split>/<index>``.
    """
    if split not in _PREFIX:
        raise DataError(
            f"data.source {source!r}: unknown MNIST split {split!r}; use 'train' or 'test'"
        )
    folder = os.path.abspath(os.path.expanduser(directory))
    if not os.path.isdir(folder):
        raise DataError(f"data.source {source!r}: MNIST folder {folder} does not exist")
    prefix = _PREFIX[split]
    img_path, tried = _find(folder, prefix, "images", "idx3")
    if img_path is None:
        raise DataError(
            f"data.source {source!r}: no {split} images in {folder} (looked for {', '.join(tried)})"
        )
    images = read_idx(img_path, source)
    if images.dtype != np.uint8 or images.ndim != 3:
        raise DataError(
            f"data.source {source!r}: {img_path} must hold unsigned bytes of shape "
            f"[N, H, W], got {images.dtype} of shape {images.shape}"
        )
    lab_path, _ = _find(folder, prefix, "labels", "idx1")
    labels = None
    if lab_path is not None:
        labels = read_idx(lab_path, source)
        if labels.ndim != 1 or labels.shape[0] != images.shape[0]:
            raise DataError(
                f"data.source {source!r}: {lab_path} holds {labels.shape} labels for "
                f"{images.shape[0]} images in {img_path}"
            )
    _check_count(source, num_samples, images.shape[0], f"MNIST {split} images")
    x = torch.from_numpy(images[:num_samples].astype(np.float32) / 255.0).unsqueeze(1)
    if image_size is not None:
        x = _resize_tensor(x, image_size)
    y = None
    if labels is not None:
        y = torch.from_numpy(labels[:num_samples].astype(np.int64))
    width = len(str(images.shape[0] - 1))
    names = [f"mnist/{split}/{i:0{width}d}" for i in range(num_samples)]
    return ImageDataset(images=x, labels=y, names=names, source=source)
