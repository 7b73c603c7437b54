"""``webp``: lossy WebP (VP8 intra, libwebp via Pillow)."""

from __future__ import annotations

from PIL import Image
from pydantic import Field

from .base import ImageFileCodec, ImageFileParams, save_with_pillow


class WebPParams(ImageFileParams):
    quality: int = Field(default=75, ge=0, le=100, description="libwebp lossy quality, 0-100 (ignored with target_channel_uses)")


class WebPCodec(ImageFileCodec):
    """Lossy WebP (VP8 intra, libwebp via Pillow): the file as written, its 20-byte RIFF
    container included. WebP has no greyscale mode: a grey image is coded as YUV 4:2:0 with
    flat chroma (a few bytes) and decoded back to grey."""

    Params = WebPParams
    format = "WEBP"

    def _compress(self, img: Image.Image, quality: float) -> bytes:
        return save_with_pillow(img, "WEBP", quality=int(quality), lossless=False)

    def _search_space(self) -> tuple[float, float, bool]:
        return 0, 100, True

    def _default_setting(self) -> float:
        return self.params.quality
