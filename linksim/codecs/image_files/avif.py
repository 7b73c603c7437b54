"""``avif``: AV1 intra coding (libavif via Pillow) in its HEIF-based container."""

from __future__ import annotations

from PIL import Image
from pydantic import Field

from .base import ImageFileCodec, ImageFileParams, save_with_pillow


class AVIFParams(ImageFileParams):
    quality: int = Field(default=50, ge=0, le=100,
                         description="libavif quality, 0-100 (100: lossless; ignored with target_channel_uses)")


class AVIFCodec(ImageFileCodec):
    """AVIF (AV1 intra, libavif via Pillow): the file as written, container included
    (about 270 bytes of ISOBMFF boxes around the AV1 data: see docs/codecs/baselines.md).
    Greyscale images are coded as AV1 monochrome (4:0:0), colour ones as 4:2:0."""

    Params = AVIFParams
    format = "AVIF"

    def _compress(self, img: Image.Image, quality: float) -> bytes:
        return save_with_pillow(img, "AVIF", quality=int(quality))

    def _search_space(self) -> tuple[float, float, bool]:
        return 0, 100, True

    def _default_setting(self) -> float:
        return self.params.quality
