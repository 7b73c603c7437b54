"""``jpeg2000``: JPEG 2000 (OpenJPEG via Pillow), raw codestream, 9/7 wavelet."""

from __future__ import annotations

from PIL import Image
from pydantic import Field

from .base import ImageFileCodec, ImageFileParams, save_with_pillow


class JPEG2000Params(ImageFileParams):
    compression_ratio: float = Field(
        default=20.0, ge=1.0, le=10000.0, description="target raw/compressed size ratio (ignored with target_channel_uses)"
    )


class JPEG2000Codec(ImageFileCodec):
    """JPEG 2000 (OpenJPEG via Pillow), raw codestream (no JP2 box overhead), 9/7 wavelet."""

    Params = JPEG2000Params
    format = "JPEG2000"

    def _compress(self, img: Image.Image, quality: float) -> bytes:
        # quality is the inverse compression ratio, so that larger means better
        return compress_jpeg2000(img, 1.0 / float(quality))

    def _search_space(self) -> tuple[float, float, bool]:
        return 1.0 / 1000.0, 1.0, False

    def _default_setting(self) -> float:
        return 1.0 / self.params.compression_ratio


def compress_jpeg2000(img: Image.Image, compression_ratio: float) -> bytes:
    """JPEG 2000 raw codestream (no JP2 boxes, 9/7 wavelet) at a target raw/compressed ratio."""
    return save_with_pillow(img, "JPEG2000", quality_mode="rates", quality_layers=[float(compression_ratio)],
                            irreversible=True, no_jp2=True)
