"""The in-memory image dataset every loader returns, and the error they raise."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import torch

__all__ = ["DataError", "DataWarning", "ImageDataset"]


from linksim.errors import DataError  # noqa: E402  (re-exported: loaders raise it)


class DataWarning(UserWarning):
    """A data loader skipped something (e.g. an unreadable file in a folder) but
    could still load the dataset. The message names what was skipped and why."""


@dataclass(frozen=True)
class ImageDataset:
    """A set of images held in memory, ready to be batched.

    Attributes:
        images: ``[N, C, H, W]`` float32 in ``[0, 1]`` on CPU; ``C`` is 1 (grey) or
            3 (RGB). All images share one size.
        labels: ``[N]`` int64 class labels when the source has them, else ``None``.
        names: ``N`` short identifiers, one per sample, e.g. ``"digits28/test/0042"``
            or ``"photos/astronaut"`` (default: ``<source>/<index>``).
        source: the source string the dataset was loaded from.
    """

    images: torch.Tensor
    labels: torch.Tensor | None = None
    names: list[str] | None = None
    source: str = ""

    def __post_init__(self) -> None:
        x = self.images
        if self.names is None and isinstance(x, torch.Tensor) and x.dim() >= 1:
            object.__setattr__(self, "names", [f"{self.source or 'sample'}/{i}" for i in range(x.shape[0])])
        if not isinstance(x, torch.Tensor) or x.dim() != 4:
            raise DataError(f"data.source {self.source!r}: images must be a [N, C, H, W] tensor")
        if x.dtype != torch.float32:
            raise DataError(f"data.source {self.source!r}: images must be float32, got {x.dtype}")
        if x.shape[1] not in (1, 3):
            raise DataError(
                f"data.source {self.source!r}: images must have 1 or 3 channels, got {x.shape[1]}"
            )
        n = x.shape[0]
        if len(self.names) != n:
            raise DataError(
                f"data.source {self.source!r}: {len(self.names)} names for {n} images"
            )
        if self.labels is not None and (
            self.labels.dim() != 1 or self.labels.shape[0] != n or self.labels.dtype != torch.int64
        ):
            raise DataError(
                f"data.source {self.source!r}: labels must be an int64 tensor of shape [{n}]"
            )

    def __len__(self) -> int:
        """Number of samples ``N``."""
        return self.images.shape[0]

    @property
    def num_channels(self) -> int:
        """``C``: 1 for grey, 3 for RGB."""
        return self.images.shape[1]

    @property
    def image_shape(self) -> tuple[int, int, int]:
        """``(C, H, W)`` of every sample (pixels)."""
        _, c, h, w = self.images.shape
        return (c, h, w)

    @property
    def sample_shape(self) -> tuple[int, int, int]:
        """``(C, H, W)`` of one sample (the codec context's ``sample_shape``)."""
        return self.image_shape

    def previews(self, n: int) -> torch.Tensor:
        """The first ``n`` images ``[n, C, H, W]`` (the originals row of a sample grid)."""
        return self.images[:n]

    def batches(self, batch_size: int) -> Iterator[tuple[int, torch.Tensor]]:
        """Iterate over the images in order, in batches.

        Yields ``(start, images[start:start + batch_size])``: the index of the first
        sample of the batch and a ``[B, C, H, W]`` view (``B <= batch_size``; only the
        last batch may be shorter). Views share memory with ``images``: clone before
        modifying in place.
        """
        if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
            raise ValueError(f"batch_size must be a positive integer, got {batch_size!r}")
        for start in range(0, len(self), batch_size):
            yield start, self.images[start : start + batch_size]


# ---------------------------------------------------------------------------
# Helpers shared by the loaders (not part of the public API).


def _check_count(source: str, num_samples: int, available: int, what: str) -> None:
    """Raise a DataError when ``num_samples`` exceeds the ``available`` samples."""
    if num_samples > available:
        raise DataError(
            f"data.source {source!r}: data.num_samples is {num_samples} but only "
            f"{available} {what} are available; lower data.num_samples to at most {available}"
        )


def _resize_tensor(images: torch.Tensor, size: int) -> torch.Tensor:
    """Resize ``[N, C, H, W]`` float images to ``[N, C, size, size]``.

    Bilinear (antialiased when shrinking), clamped to ``[0, 1]``. Returns the input
    unchanged when it already has that size.
    """
    if images.shape[-2:] == (size, size):
        return images
    out = torch.nn.functional.interpolate(
        images, size=(size, size), mode="bilinear", align_corners=False, antialias=True
    )
    return out.clamp_(0.0, 1.0)


def _center_square(im, size: int | None = None):  # PIL.Image -> PIL.Image
    """Centre-crop a PIL image to a square of its short side, then resize it to
    ``size x size`` pixels with Pillow LANCZOS (no resize when ``size`` is None)."""
    from PIL import Image

    w, h = im.size
    s = min(w, h)
    left, top = (w - s) // 2, (h - s) // 2
    if (w, h) != (s, s):
        im = im.crop((left, top, left + s, top + s))
    if size is not None and im.size != (size, size):
        im = im.resize((size, size), Image.Resampling.LANCZOS)
    return im


def _pil_to_tensor(im) -> torch.Tensor:
    """An 8-bit ``L`` or ``RGB`` PIL image -> ``[C, H, W]`` float32 in ``[0, 1]``."""
    import numpy as np

    arr = np.asarray(im, dtype=np.uint8)
    if arr.ndim == 2:
        arr = arr[:, :, None]
    t = torch.from_numpy(arr.copy()).permute(2, 0, 1).contiguous()
    return t.to(torch.float32).div_(255.0)
