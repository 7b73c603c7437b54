"""``mnist:<dir>[:train|:test]``: MNIST-format IDX files from a local folder.

Reads ``t10k-images-idx3-ubyte`` + ``t10k-labels-idx1-ubyte`` (test, the default) or
``train-images-idx3-ubyte`` + ``train-labels-idx1-ubyte`` (train). The variants with
a dot (``t10k-images.idx3-ubyte``) and gzip-compressed files (``.gz``) are found too.
Works for any dataset in MNIST's format (Fashion-MNIST, KMNIST...). Nothing is
downloaded.
"""

from __future__ import annotations

import gzip
import math
import os
import zlib

import numpy as np
import torch

from linksim.data.dataset import DataError, ImageDataset, _check_count, _resize_tensor

__all__ = ["MAX_IDX_BYTES", "MAX_IMAGE_SIDE", "load_mnist", "read_idx"]

_IDX_DTYPES = {0x08: ">u1", 0x09: ">i1", 0x0B: ">i2", 0x0C: ">i4", 0x0D: ">f4", 0x0E: ">f8"}
_PREFIX = {"test": "t10k", "train": "train"}
#: the most value bytes an IDX file may announce (2 GiB: EMNIST ByClass, the largest MNIST-format
#: set, holds 550 MB); checked before anything is read or decompressed
MAX_IDX_BYTES = 1 << 31
#: the largest image height or width [pixels] (as ``data.image_size``)
MAX_IMAGE_SIDE = 8192


def read_idx(path: str, source: str = "mnist") -> np.ndarray:
    """Parse one IDX file (plain or gzip) into an array of the shape its header gives.

    IDX layout: magic ``00 00 <type> <ndim>``, then ``ndim`` big-endian uint32 sizes,
    then the values, big-endian, row-major. The header is read first and its sizes
    checked (in exact integer arithmetic) against :data:`MAX_IDX_BYTES` and, for a plain
    file, against the file's size, before any value is read; a gzip stream is expanded
    only up to the size the header announces (plus one byte, to see that it ends there),
    so a small file that expands to gigabytes costs no more memory than its header claims.

    :raises DataError: one line naming ``source`` and the file: a bad magic number, an
        unknown type, a size beyond the limit or not matching the header, a damaged stream.
    """
    where = f"data.source {source!r}: {path}"
    try:
        with open(path, "rb") as raw:
            file_size = os.fstat(raw.fileno()).st_size
            compressed = raw.read(2) == b"\x1f\x8b"
            raw.seek(0)
            stream = gzip.GzipFile(fileobj=raw, mode="rb") if compressed else raw
            head = stream.read(4)
            if len(head) < 4 or head[0] != 0 or head[1] != 0 or head[2] not in _IDX_DTYPES:
                raise DataError(f"{where} is not an IDX file "
                                f"(magic number {head.hex() or 'missing'}, expected 0000<type><ndim>)")
            dtype, ndim = np.dtype(_IDX_DTYPES[head[2]]), head[3]
            header = 4 + 4 * ndim
            sizes = stream.read(4 * ndim)
            if len(sizes) < 4 * ndim:
                raise DataError(f"{where} is truncated inside its header "
                                f"({4 + len(sizes)} bytes, the header alone needs {header})")
            dims = tuple(int.from_bytes(sizes[4 * i:4 * i + 4], "big") for i in range(ndim))
            nbytes = math.prod(dims) * dtype.itemsize  # Python ints: no overflow
            what = f"its header (shape {dims}, {dtype.itemsize}-byte values)"
            if nbytes > MAX_IDX_BYTES:
                raise DataError(f"{where}: {what} announces {nbytes} bytes of values, beyond the limit of "
                                f"{MAX_IDX_BYTES} bytes (a damaged header or a decompression bomb)")
            if not compressed and file_size != header + nbytes:
                raise DataError(f"{where} has {file_size} bytes but {what} says {header + nbytes}")
            values = stream.read(nbytes)
            if len(values) < nbytes:
                raise DataError(f"{where} has {header + len(values)} bytes once decompressed but {what} "
                                f"says {header + nbytes}")
            if stream.read(1):
                raise DataError(f"{where} holds more than the {nbytes} bytes of values {what} announces "
                                "(stopped reading there)")
    except DataError:
        raise
    except (OSError, EOFError, zlib.error) as exc:  # gzip.BadGzipFile is an OSError
        raise DataError(f"data.source {source!r}: cannot read {path}: {exc}") from exc
    return np.frombuffer(values, dtype=dtype).reshape(dims)


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
    h, w = images.shape[1:]
    if not (1 <= h <= MAX_IMAGE_SIDE and 1 <= w <= MAX_IMAGE_SIDE):
        raise DataError(
            f"data.source {source!r}: {img_path} holds images of {h}x{w} pixels; "
            f"each side must be 1 to {MAX_IMAGE_SIDE} (0x0 images have no pixels to send)"
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
