"""``folder:<path>``: every image file of a user folder.

Files are taken in sorted name order (not recursive; hidden files are ignored).
Files that are empty, unreadable, truncated or not images, broken symbolic links and
entries that are not regular files (a pipe, a link to ``/dev/zero``) are skipped, each with
a :class:`DataWarning` naming it; sub-folders are not read.
"""

from __future__ import annotations

import os
import stat
import warnings

import numpy as np
import torch

from linksim.data.dataset import (
    DataError,
    DataWarning,
    ImageDataset,
    _center_square,
    _check_count,
    _pil_to_tensor,
)

__all__ = ["IMAGE_EXTENSIONS", "load_folder"]

IMAGE_EXTENSIONS = (".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff", ".webp", ".gif")
"""File extensions (case-insensitive) read as images; GIF and TIFF: first frame."""

_GREY_MODES = {"1", "L", "LA", "La", "I", "I;16", "I;16B", "I;16L", "I;16N", "F"}
_HIGH_DEPTH_MODES = {"I", "I;16", "I;16B", "I;16L", "I;16N", "F"}


_KINDS = ((stat.S_ISCHR, "a character device"), (stat.S_ISBLK, "a block device"), (stat.S_ISFIFO, "a named pipe"),
          (stat.S_ISSOCK, "a socket"))


def _not_regular(full: str) -> str | None:
    """Why a directory entry that is not a regular file is skipped; None for a folder (or a link
    to one), which is skipped silently: folders are not read recursively."""
    if os.path.islink(full) and not os.path.exists(full):
        return f"broken symbolic link (to {os.readlink(full)})"
    try:
        mode = os.stat(full).st_mode
    except OSError as exc:
        return f"cannot look at it ({exc.strerror or exc})"
    if stat.S_ISDIR(mode):
        return None
    kind = next((name for test, name in _KINDS if test(mode)), "not a file")
    if os.path.islink(full):
        return f"symbolic link to {os.path.realpath(full)}, which is not a regular file ({kind})"
    return f"not a regular file ({kind})"


def _skip(path: str, why: str) -> None:
    warnings.warn(f"skipped {path}: {why}", DataWarning, stacklevel=5)  # the caller of load_dataset


def _to_8bit(im, mode: str):  # PIL.Image -> PIL.Image in `mode` ("L" or "RGB")
    """Convert a decoded PIL image to 8-bit ``L`` or ``RGB``.

    16/32-bit grey is rescaled (not clipped) to 8 bits; transparency is composited
    onto white.
    """
    from PIL import Image

    if im.mode in _HIGH_DEPTH_MODES:
        arr = np.asarray(im, dtype=np.float64)
        peak = float(np.nanmax(arr)) if arr.size else 0.0
        if im.mode == "F":
            scale = 255.0 if peak <= 1.0 else 1.0  # [0, 1] floats or 0..255 floats
        elif im.mode.startswith("I;16") or peak > 255:
            scale = 255.0 / 65535.0  # 16-bit grey
        else:
            scale = 1.0  # 32-bit integer holding 8-bit values
        arr = np.clip(np.nan_to_num(arr * scale), 0, 255)
        im = Image.fromarray(np.rint(arr).astype(np.uint8))  # 2-D uint8 -> "L"
    elif "A" in im.getbands() or "a" in im.getbands() or (
        im.mode == "P" and "transparency" in im.info
    ):
        im = im.convert("RGBA")
        bg = Image.new("RGBA", im.size, (255, 255, 255, 255))
        im = Image.alpha_composite(bg, im)
    return im.convert(mode)


def load_folder(
    source: str, path: str, num_samples: int, image_size: int | None = None
) -> ImageDataset:
    """Load the first ``num_samples`` usable images of the folder ``path``.

    Images are converted to RGB, or to grey (``C = 1``) when every readable image of
    the folder is greyscale. With ``image_size`` each image is centre-cropped to a
    square and resized to ``image_size x image_size`` with Pillow LANCZOS; without
    it the images are kept at their native size, which must then be the same for
    all of them (else a :class:`DataError` asks for ``data.image_size``).

    Every file's header is read (to decide grey vs RGB and report non-images), but
    only the first ``num_samples`` usable files are decoded: a truncated file after
    them goes unnoticed, which keeps a small sample of a large folder fast.

    Returns images ``[num_samples, C, H, W]`` float32 in ``[0, 1]``, no labels, names
    ``folder/<file name>``.

    Raises DataError when the folder does not exist, holds no usable image, or holds
    fewer usable images than ``num_samples``.
    """
    from PIL import Image

    folder = os.path.abspath(os.path.expanduser(path))
    if not os.path.exists(folder):
        raise DataError(f"data.source {source!r}: folder {folder} does not exist")
    if not os.path.isdir(folder):
        raise DataError(f"data.source {source!r}: {folder} is not a folder")

    # Pass 1: headers only (cheap), to decide grey vs RGB over the whole folder.
    candidates: list[tuple[str, str]] = []  # (file name, full path)
    all_grey = True
    for fname in sorted(os.listdir(folder)):
        full = os.path.join(folder, fname)
        if fname.startswith("."):
            continue
        if not os.path.isfile(full):
            why = _not_regular(full)  # a link to nothing or to /dev/zero, a pipe: say so rather than skip it silently
            if why is not None:
                _skip(full, why)
            continue
        ext = os.path.splitext(fname)[1].lower()
        if ext not in IMAGE_EXTENSIONS:
            _skip(full, f"not an image file (extension {ext or 'none'!r})")
            continue
        if os.path.getsize(full) == 0:
            _skip(full, "empty file")
            continue
        try:
            with Image.open(full) as im:
                mode = im.mode
        except Exception as exc:  # noqa: BLE001 - any failure means "not usable"
            _skip(full, f"not a readable image ({type(exc).__name__}: {exc})")
            continue
        all_grey = all_grey and mode in _GREY_MODES
        candidates.append((fname, full))
    out_mode = "L" if all_grey else "RGB"

    # Pass 2: decode in order until num_samples usable images are found.
    tensors: list[torch.Tensor] = []
    names: list[str] = []
    sizes: dict[tuple[int, int], str] = {}
    for fname, full in candidates:
        if len(tensors) == num_samples:
            break
        try:
            with Image.open(full) as im:
                im.seek(0)
                im.load()
                im = _to_8bit(im, out_mode)
        except Exception as exc:  # noqa: BLE001 - truncated, corrupt, unsupported...
            _skip(full, f"unreadable or truncated image ({type(exc).__name__}: {exc})")
            continue
        if image_size is not None:
            im = _center_square(im, image_size)
        else:
            sizes.setdefault(im.size, fname)
            if len(sizes) > 1:
                (s1, f1), (s2, f2) = list(sizes.items())[:2]
                raise DataError(
                    f"data.source {source!r}: images differ in size ({f1} is "
                    f"{s1[0]}x{s1[1]}, {f2} is {s2[0]}x{s2[1]}); set data.image_size "
                    "to centre-crop and resize them all to one square size"
                )
        tensors.append(_pil_to_tensor(im))
        names.append(f"folder/{fname}")

    if not tensors:
        raise DataError(
            f"data.source {source!r}: no usable image in folder {folder} "
            f"(extensions read: {', '.join(IMAGE_EXTENSIONS)})"
        )
    _check_count(source, num_samples, len(tensors), f"usable images in {folder}")
    return ImageDataset(images=torch.stack(tensors), labels=None, names=names, source=source)
