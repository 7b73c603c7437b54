"""``hevc``: HEVC intra coding (x265 through pillow-heif), charged as a BPG file.

BPG (Bellard's "Better Portable Graphics", the digital baseline of learned-JSCC papers)
is an HEVC intra bitstream behind a few header bytes. linksim encodes with x265 through
``pillow-heif`` and sends, per image, what a BPG file carries (:func:`bpg_file`):

- the BPG header: magic (4 bytes), pixel format + alpha + bit depth (1), colour space
  and flags (1), then width, height and the length of the rest as ``ue7`` varints
  (7 bits a byte, 1-2 bytes each here);
- every NAL unit of the bitstream (VPS, SPS, PPS, slices), each after its length as a ``ue7``.

Not the HEIF container (``ftyp``, ``meta`` with its item boxes, ``mdat``: about 300 bytes
more): the receiver rebuilds it from what it knows (image size, chroma format, bit depth)
and the received NAL units (:mod:`.heif_container`), then decodes with libde265 through
pillow-heif. Real BPG is a little smaller still: it replaces the VPS and SPS (~60 bytes)
by a compact header of a few bytes. docs/codecs/baselines.md has the measured sizes.

Greyscale images are coded as HEVC monochrome (4:0:0, range-extensions profile).
"""

from __future__ import annotations

import io
from typing import Literal

import numpy as np
from PIL import Image
from pydantic import Field

from .base import ImageFileCodec, ImageFileParams
from .heif_container import SPS, VPS, heif_file, nal_type, nal_units, sps_picture

MAGIC = b"BPG\xfb"
#: BPG pixel_format (and the SPS chroma_format_idc it implies) of each input kind
PIXEL_FORMAT = {"grey": 0, "420": 1, "422": 2, "444": 3}
CHROMA_IDC = {"grey": 0, "420": 1, "422": 2, "444": 3}
#: x265 through libheif pads a picture smaller than one 64x64 CTU up to it (a 28x28 digit is
#: coded as 64x64 and cropped at the receiver); the coded size may not exceed this rounding
CTU = 64


class HEVCParams(ImageFileParams):
    quality: int = Field(default=50, ge=0, le=100,
                         description="pillow-heif / libheif quality of x265, 0-100 (ignored with target_channel_uses)")
    chroma: Literal["420", "422", "444"] = Field(default="420", description="chroma subsampling of colour images (grey: 4:0:0)")


class HEVCCodec(ImageFileCodec):
    """HEVC intra (x265 via pillow-heif), charged as a BPG file: header + NAL units, no HEIF container."""

    Params = HEVCParams

    def _kind(self, c: int) -> str:
        return "grey" if c == 1 else self.params.chroma

    def _compress(self, img: Image.Image, quality: float) -> bytes:
        import pillow_heif  # imported here: only this codec needs it

        buf = io.BytesIO()
        options = {} if img.mode == "L" else {"chroma": int(self.params.chroma)}
        pillow_heif.from_pillow(img).save(buf, quality=int(quality), **options)
        return bpg_file(nal_units(buf.getvalue()), img.width, img.height, PIXEL_FORMAT[self._kind(len(img.getbands()))])

    def _search_space(self) -> tuple[float, float, bool]:
        return 0, 100, True

    def _default_setting(self) -> float:
        return self.params.quality

    def _decode_file(self, blob: bytes, c: int, h: int, w: int) -> np.ndarray | None:
        kind = self._kind(c)
        try:
            width, height, pixel_format, nals = read_bpg_file(blob)
            if (width, height, pixel_format) != (w, h, PIXEL_FORMAT[kind]):
                return None
            sps = [n for n in nals if nal_type(n) == SPS]
            if len(sps) != 1 or not any(nal_type(n) < VPS for n in nals):  # one SPS, a slice at least
                return None
            chroma, coded_w, coded_h, out_w, out_h = sps_picture(sps[0])
            # the size check before decoding: the picture the SPS announces is the image, padded
            # to at most whole CTUs, so a damaged SPS cannot make the decoder work on a huge one
            limit_w, limit_h = -(-max(w, CTU) // CTU) * CTU, -(-max(h, CTU) // CTU) * CTU
            if chroma != CHROMA_IDC[kind] or not (w <= out_w <= coded_w <= limit_w and h <= out_h <= coded_h <= limit_h):
                return None
            return _decode_heif(heif_file(nals, out_w, out_h, chroma), c, h, w)
        except Exception:  # noqa: BLE001 - any failure of a damaged file is a fallback, by design
            return None


def _decode_heif(data: bytes, c: int, h: int, w: int) -> np.ndarray | None:
    """Decode a rebuilt HEIF file and crop the padding (bottom and right, as libheif's ``clap``)."""
    import pillow_heif

    heif = pillow_heif.open_heif(io.BytesIO(data), convert_hdr_to_8bit=True)
    img = Image.frombytes(heif.mode, heif.size, heif.data, "raw", heif.mode, heif.stride)
    arr = np.asarray(img.convert("L" if c == 1 else "RGB"), dtype=np.float32)[:h, :w] / 255.0
    return arr[None] if c == 1 else arr.transpose(2, 0, 1)


# -- the BPG-style file ---------------------------------------------------------------------------

def ue7(value: int) -> bytes:
    """BPG's unsigned varint: 7 bits a byte, most significant first, high bit set on all but the last."""
    out = [value & 0x7F]
    value >>= 7
    while value:
        out.append(0x80 | (value & 0x7F))
        value >>= 7
    return bytes(reversed(out))


def read_ue7(data: bytes, at: int) -> tuple[int, int]:
    """(value, position after it) of the ``ue7`` at ``at``; at most 5 bytes (32 bits), as in BPG."""
    value = 0
    for i in range(5):
        if at + i >= len(data):
            raise ValueError("ue7: truncated")
        value = (value << 7) | (data[at + i] & 0x7F)
        if not data[at + i] & 0x80:
            return value, at + i + 1
    raise ValueError("ue7: longer than 5 bytes")


def bpg_file(nals: list[bytes], width: int, height: int, pixel_format: int) -> bytes:
    """The BPG header (8-bit, no alpha, YCbCr full range, no extension) and ``nals``, each after its ``ue7`` length."""
    data = b"".join(ue7(len(n)) + n for n in nals)
    return (MAGIC + bytes([pixel_format << 5, 0])  # bit_depth_minus_8 0; colour space 0 (YCbCr), all flags 0
            + ue7(width) + ue7(height) + ue7(len(data)) + data)


def read_bpg_file(blob: bytes) -> tuple[int, int, int, list[bytes]]:
    """(width, height, pixel_format, NAL units) of a file of :func:`bpg_file`; ValueError if malformed."""
    if blob[:4] != MAGIC or len(blob) < 6 or blob[5] != 0 or blob[4] & 0x1F:
        raise ValueError("BPG: bad header")
    width, at = read_ue7(blob, 6)
    height, at = read_ue7(blob, at)
    length, at = read_ue7(blob, at)
    if length != len(blob) - at:
        raise ValueError("BPG: picture data length")
    nals = []
    while at < len(blob):
        n, at = read_ue7(blob, at)
        if n < 2 or at + n > len(blob):
            raise ValueError("BPG: NAL unit length")
        nals.append(blob[at:at + n])
        at += n
    return width, height, blob[4] >> 5, nals
