"""What the image-file codecs share: compress each image to a file, send its bytes, decode.

The compressed file travels as bytes over LDPC + QAM. A file damaged by the channel may
fail to decode; the receiver then shows a declared fallback image (mid-grey by default)
and the run reports the ``fallback_rate``. ``target_channel_uses`` picks, per image, the
highest quality whose coded payload fits that many resource elements: the
matched-bandwidth digital baseline that learned-JSCC papers compare against. Without
``target_channel_uses``, the scenario's bandwidth budget (``budget``) is the target.

A format subclasses :class:`ImageFileCodec` with its ``Params`` and three short methods
(:meth:`~ImageFileCodec._compress`, :meth:`~ImageFileCodec._search_space`,
:meth:`~ImageFileCodec._default_setting`); a format Pillow opens sets ``format`` and
inherits the decoder, another overrides :meth:`~ImageFileCodec._decode_file`.
"""

from __future__ import annotations

import hashlib
import io
import math
import time
import warnings
from typing import ClassVar, Literal

import numpy as np
import torch
from PIL import Image
from pydantic import Field

from linksim.phy.payload import BytesPayload

from ..base import Codec, CodecContext, CodecParams, DigitalPayload, Message, ReceivedStreams, Reconstruction, Transport

Fallback = Literal["mid_grey", "black"]
#: decoding budget of a batch [s per image]; an intact 512x512 file decodes in tens of ms
DECODE_SECONDS_PER_IMAGE = 1.0
#: compressed files kept per codec (an image's file is the same at every point of a sweep)
ENCODED_CACHE_SIZE = 16384


class ImageFileParams(CodecParams):
    """Params every image-file codec takes; a format adds its quality knob."""

    target_channel_uses: int | None = Field(
        default=None, ge=1, description="highest quality whose coded payload fits this many resource elements per image"
    )
    fallback: Fallback = Field(default="mid_grey", description="what the receiver shows when a file cannot be decoded")


class ImageFileCodec(Codec):
    """Shared machinery; subclasses say how to compress at one quality setting.

    :input x: ``[B, C, H, W]`` float in [0, 1], C = 1 (greyscale) or 3 (RGB).
    :output x_hat: ``[B, C, H, W]`` float32 in [0, 1]; the fallback image where a file did not decode.

    Stream ``bytes``: the file of each image, ``8 * len(file)`` bits (per-image lengths).
    Rates: ``fallback_rate`` (files that did not decode), and with a target,
    ``over_budget_rate`` (images that did not fit it even at the lowest quality).
    """

    default_streams = {"bytes": Transport(path="digital", modulation="qam16", code_rate=0.5)}
    #: Pillow's name of the format (the only one a received file is opened as); "" for a
    #: format that overrides :meth:`_decode_file`
    format: ClassVar[str] = ""

    def __init__(self, params: ImageFileParams, transports: dict[str, Transport], context: CodecContext) -> None:
        super().__init__(params, transports, context)
        self._serializer = BytesPayload()
        self._encoded: dict[tuple, tuple[bytes, bool]] = {}  # image digest, mode, size, target -> (file, fits)

    # -- the format: subclasses -------------------------------------------------------------
    def _compress(self, img: Image.Image, quality: float) -> bytes:
        """The file of ``img`` (mode ``L`` or ``RGB``) at ``quality``: a setting where larger means better and bigger."""
        raise NotImplementedError

    def _search_space(self) -> tuple[float, float, bool]:
        """(lowest quality, highest, integer?) for the budget search."""
        raise NotImplementedError

    def _default_setting(self) -> float:
        """The quality setting used without a target (from the params)."""
        raise NotImplementedError

    def _decode_file(self, blob: bytes, c: int, h: int, w: int) -> np.ndarray | None:
        """A received file -> ``[C, H, W]`` float32 in [0, 1], or None when it is unusable.

        Must check the image size the file announces before decoding a pixel, and never raise.
        """
        return decode_with_pillow(blob, c, h, w, self.format)

    # -- codec face -------------------------------------------------------------------------
    @property
    def target_channel_uses(self) -> int | None:
        """``params.target_channel_uses``, else the scenario's bandwidth budget (resource elements per image), else None."""
        if self.params.target_channel_uses is not None:
            return self.params.target_channel_uses
        return self.context.budget_channel_uses

    def encode(self, x: torch.Tensor) -> Message:
        """``x`` ``[B, C, H, W]`` in [0, 1] -> ``{"bytes": bits [B, 8*max_len]}`` with per-image lengths."""
        self._over_budget = torch.zeros(x.shape[0], dtype=torch.int64)
        blobs = []
        target = self.target_channel_uses
        for i, img in enumerate(to_pil(x, self.format or type(self).__name__)):
            # the same image is encoded at every point of a sweep, and compression (a budget
            # search compresses an image up to 16 times) is deterministic: done once per run
            key = (hashlib.blake2b(img.tobytes(), digest_size=16).digest(), img.mode, img.size, target)
            if key not in self._encoded:
                if target is None:
                    self._encoded[key] = (self._compress(img, self._default_setting()), True)
                else:
                    self._encoded[key] = self._fit(img, target)
                if len(self._encoded) > ENCODED_CACHE_SIZE:
                    self._encoded.pop(next(iter(self._encoded)))  # oldest first
            blob, fits = self._encoded[key]
            self._over_budget[i] = 0 if fits else 1
            blobs.append(blob)
        bits, lengths = self._serializer.to_bits(blobs, device=x.device)
        return {"bytes": DigitalPayload(bits, lengths)}

    def decode(self, received: ReceivedStreams, sent: Message) -> Reconstruction:
        lengths = sent["bytes"].lengths  # known to the receiver through reliable signalling
        blobs = self._serializer.from_bits(received["bytes"], lengths)
        c, h, w = self.context.sample_shape
        fill = 0.5 if self.params.fallback == "mid_grey" else 0.0
        out = np.full((len(blobs), c, h, w), fill, dtype=np.float32)
        failed = torch.zeros(len(blobs), dtype=torch.int64)
        # A time bound on decoding damaged files. The decoders run in C with no way to cancel a
        # call, a thread cannot be killed (it would leak), and a process per image costs more
        # than the decoding itself. So the work of one call is bounded instead (each format
        # checks the announced image size before any pixel is decoded: the decoder works on at
        # most H x W pixels and the received bytes), and the batch has a deadline: once it has
        # passed, the remaining files are not decoded but shown as the fallback and counted in
        # fallback_rate like any undecodable file.
        deadline = time.monotonic() + DECODE_SECONDS_PER_IMAGE * len(blobs)
        for i, blob in enumerate(blobs):
            if time.monotonic() > deadline:
                failed[i] = 1
                continue
            arr = self._decode_file(blob, c, h, w) if blob else None
            if arr is None:
                failed[i] = 1
            else:
                out[i] = arr
        ones = torch.ones_like(failed)
        rates = {"fallback_rate": (failed, ones)}
        if self.target_channel_uses is not None:
            rates["over_budget_rate"] = (self._over_budget[: len(blobs)], ones)
        return Reconstruction(x_hat=torch.from_numpy(out).to(received["bytes"].device), rates=rates)

    # -- budget search ----------------------------------------------------------------------
    def _fit(self, img: Image.Image, target: int) -> tuple[bytes, bool]:
        """Highest quality whose coded payload needs at most ``target`` resource elements.

        Bisection on the quality setting (file size is monotone in it up to encoder
        noise); when even the lowest quality does not fit it is sent anyway and flagged.
        """
        lo, hi, integer = self._search_space()

        def fits(quality: float) -> tuple[bytes, bool]:
            blob = self._compress(img, quality)
            return blob, self.context.channel_uses("bytes", 8 * len(blob)) <= target

        best, ok = fits(lo)
        if not ok:
            return best, False
        blob_hi, ok_hi = fits(hi)
        if ok_hi:
            return blob_hi, True
        for _ in range(14 if not integer else 8):
            mid = round((lo + hi) / 2) if integer else math.sqrt(lo * hi)
            if integer and mid in (lo, hi):
                break
            blob, ok = fits(mid)
            if ok:
                lo, best = mid, blob
            else:
                hi = mid
        return best, True


def to_pil(x: torch.Tensor, who: str) -> list[Image.Image]:
    """``[B, C, H, W]`` in [0, 1] -> 8-bit Pillow images (``L`` for C = 1, ``RGB`` for C = 3)."""
    arr = (x.detach().clamp(0, 1) * 255).round().to(torch.uint8).cpu().numpy()
    if arr.shape[1] == 1:
        return [Image.fromarray(a[0], mode="L") for a in arr]
    if arr.shape[1] == 3:
        return [Image.fromarray(np.ascontiguousarray(a.transpose(1, 2, 0)), mode="RGB") for a in arr]
    raise ValueError(f"{who}: images need 1 or 3 channels, got {arr.shape[1]}")


def save_with_pillow(img: Image.Image, fmt: str, **options) -> bytes:
    """The file Pillow writes for ``img`` in format ``fmt`` with ``options``."""
    buf = io.BytesIO()
    img.save(buf, format=fmt, **options)
    return buf.getvalue()


def to_array(img: Image.Image, c: int) -> np.ndarray:
    """A decoded Pillow image -> ``[C, H, W]`` float32 in [0, 1] (converted to ``L`` or ``RGB``)."""
    arr = np.asarray(img.convert("L" if c == 1 else "RGB"), dtype=np.float32) / 255.0
    return arr[None] if c == 1 else arr.transpose(2, 0, 1)


def decode_with_pillow(blob: bytes, c: int, h: int, w: int, fmt: str) -> np.ndarray | None:
    """Decode a received file of format ``fmt`` into ``[C, H, W]`` float32, or None when it is unusable.

    The header is checked before decoding so that a corrupted size field cannot make
    the decoder allocate or work on a huge image.
    """
    try:
        with warnings.catch_warnings():
            # a damaged size field may announce a huge image: the size is checked below before
            # any pixel is decoded, so Pillow's decompression-bomb warning is only noise here
            # (its error, past twice the limit, is a fallback like any other)
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            # only the codec's own format: damaged bytes must not be read as some other format
            with Image.open(io.BytesIO(blob), formats=[fmt]) as im:
                if im.size != (w, h):
                    return None
                return to_array(im, c)
    except Exception:  # noqa: BLE001 - any failure of a damaged file is a fallback, by design
        return None
