"""``jpeg``: baseline JPEG (libjpeg via Pillow, optimised Huffman tables)."""

from __future__ import annotations

from PIL import Image
from pydantic import Field

from .base import ImageFileCodec, ImageFileParams, save_with_pillow


class JPEGParams(ImageFileParams):
    quality: int = Field(default=75, ge=1, le=95, description="libjpeg quality (ignored with target_channel_uses)")


class JPEGCodec(ImageFileCodec):
    """Baseline JPEG (libjpeg via Pillow, optimised Huffman tables); the file as written."""

    Params = JPEGParams
    format = "JPEG"

    def _compress(self, img: Image.Image, quality: float) -> bytes:
        return save_with_pillow(img, "JPEG", quality=int(quality), optimize=True)

    def _search_space(self) -> tuple[float, float, bool]:
        return 1, 95, True

    def _default_setting(self) -> float:
        return self.params.quality
