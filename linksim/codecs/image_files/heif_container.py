"""The HEVC bitstream out of a HEIF file, and a minimal HEIF file around a bitstream.

``hevc`` sends what a BPG file carries (a few header bytes and the HEVC NAL units), not
the HEIF container ``pillow-heif`` writes. pillow-heif can only *encode pixels* into a
HEIF file and decode a HEIF file: it has no call that wraps an existing HEVC bitstream.
So the sender reads the NAL units out of the file (:func:`nal_units`) and the receiver
writes the smallest HEIF file libheif accepts around the received ones
(:func:`heif_file`: ``ftyp``; ``meta`` with ``hdlr``, ``pitm``, ``iloc``, ``iinf``,
``iprp`` (``ipco`` with ``hvcC``, ``ispe``, ``colr``; ``ipma``); ``mdat``). The receiver
knows what goes into the boxes besides the NAL units: the image size and colour
parameters from the scenario and the encoder settings, the profile from the SPS.

:func:`sps_picture` reads the picture size from a (possibly damaged) SPS before anything
is decoded, so that a damaged size field cannot make the decoder work on a huge picture.
"""

from __future__ import annotations

import struct

#: HEVC NAL unit types of the parameter sets (ITU-T H.265, Table 7-1)
VPS, SPS, PPS = 32, 33, 34
#: the ``colr`` box pillow-heif writes (nclx: BT.709 primaries, sRGB transfer, BT.601
#: matrix, full range): the receiver converts YCbCr to RGB as the encoder's RGB input was converted
NCLX = b"nclx" + struct.pack(">HHHB", 1, 13, 6, 0x80)


def nal_type(nal: bytes) -> int:
    """The type of a NAL unit (6 bits after the forbidden zero bit of its 2-byte header)."""
    return (nal[0] >> 1) & 0x3F


# -- reading the file pillow-heif writes ---------------------------------------------------------

def _box(data: bytes, path: list[str]) -> bytes:
    """The payload of the box at ``path`` (e.g. ``["meta", "iprp", "ipco", "hvcC"]``); the
    ``meta`` full box's version and flags are skipped. Raises ValueError when it is missing."""
    start, end = 0, len(data)
    for depth, name in enumerate(path):
        while start + 8 <= end:
            size, kind = struct.unpack(">I4s", data[start:start + 8])
            if size < 8:
                raise ValueError(f"HEIF: malformed box {kind!r}")
            if kind.decode("latin-1") == name:
                if depth == len(path) - 1:
                    return data[start + 8:start + size]
                start, end = start + (12 if name == "meta" else 8), start + size
                break
            start += size
        else:
            raise ValueError(f"HEIF: no {'/'.join(path)} box")
    raise AssertionError("unreachable")


def nal_units(heif: bytes) -> list[bytes]:
    """Every NAL unit of a single-image HEIF file: the parameter sets of ``hvcC`` (VPS, SPS,
    PPS, in that order), then those of the image item's data (the slices), without the
    container's length fields."""
    hvcc = _box(heif, ["meta", "iprp", "ipco", "hvcC"])
    out: list[bytes] = []
    at = 23  # the fixed part of HEVCDecoderConfigurationRecord; byte 22 is numOfArrays
    for _ in range(hvcc[22]):
        count = struct.unpack(">H", hvcc[at + 1:at + 3])[0]
        at += 3
        for _ in range(count):
            n = struct.unpack(">H", hvcc[at:at + 2])[0]
            out.append(hvcc[at + 2:at + 2 + n])
            at += 2 + n
    # iloc version 0 with one item of one extent, as libheif writes it (field sizes 0, 4 or 8 bytes)
    iloc = _box(heif, ["meta", "iloc"])
    offset_size, length_size, base_size = iloc[4] >> 4, iloc[4] & 0xF, iloc[5] >> 4
    if iloc[0] != 0 or struct.unpack(">H", iloc[6:8])[0] != 1 or not {offset_size, length_size, base_size} <= {0, 4, 8}:
        raise ValueError("HEIF: unexpected iloc layout")
    at = 12  # item_ID, data_reference_index

    def field(size: int) -> int:
        nonlocal at
        at += size
        return int.from_bytes(iloc[at - size:at], "big")

    base = field(base_size)
    if field(2) != 1:
        raise ValueError("HEIF: image data in several extents")
    offset, length = base + field(offset_size), field(length_size)
    data = heif[offset:offset + length]
    at = 0
    while at < len(data):  # 4-byte length, NAL unit (hvcC's lengthSizeMinusOne is 3)
        n = struct.unpack(">I", data[at:at + 4])[0]
        out.append(data[at + 4:at + 4 + n])
        at += 4 + n
    return out


# -- reading the SPS --------------------------------------------------------------------------

def rbsp(nal: bytes) -> bytes:
    """The payload of a NAL unit without its header and emulation-prevention bytes (00 00 03)."""
    return nal[2:].replace(b"\x00\x00\x03", b"\x00\x00")


class _Bits:
    """An MSB-first bit reader with Exp-Golomb codes; reading past the end raises ValueError."""

    def __init__(self, data: bytes) -> None:
        self.data, self.pos = data, 0

    def u(self, n: int) -> int:
        if self.pos + n > 8 * len(self.data):
            raise ValueError("SPS: truncated")
        v = 0
        for _ in range(n):
            v = (v << 1) | ((self.data[self.pos >> 3] >> (7 - (self.pos & 7))) & 1)
            self.pos += 1
        return v

    def ue(self) -> int:
        zeros = 0
        while self.u(1) == 0:
            zeros += 1
            if zeros > 31:
                raise ValueError("SPS: bad Exp-Golomb code")
        return (1 << zeros) - 1 + self.u(zeros)


def sps_picture(sps: bytes) -> tuple[int, int, int, int, int]:
    """(chroma_format_idc, coded width, coded height, output width, output height) of an SPS
    (H.265 7.3.2.2 up to the conformance window; output = coded minus the window).

    Only single-layer streams (``sps_max_sub_layers_minus1 = 0``, what x265 writes for one
    picture) are read. Raises ValueError for anything else or a malformed SPS.
    """
    if len(sps) < 2 or nal_type(sps) != SPS:
        raise ValueError("SPS: not an SPS NAL unit")
    r = _Bits(rbsp(sps))
    r.u(4)  # sps_video_parameter_set_id
    if r.u(3) != 0:
        raise ValueError("SPS: sub-layers")
    r.u(1)  # sps_temporal_id_nesting_flag
    r.u(96)  # profile_tier_level(1, 0): the general profile, flags and level
    if r.ue() > 15:
        raise ValueError("SPS: bad sps_seq_parameter_set_id")
    chroma = r.ue()
    if chroma > 3:
        raise ValueError("SPS: bad chroma_format_idc")
    if chroma == 3 and r.u(1):
        raise ValueError("SPS: separate colour planes")
    width, height = r.ue(), r.ue()
    out_w, out_h = width, height
    if r.u(1):  # conformance_window_flag: offsets in chroma sample units
        sub_w, sub_h = {0: (1, 1), 1: (2, 2), 2: (2, 1), 3: (1, 1)}[chroma]
        left, right, top, bottom = r.ue(), r.ue(), r.ue(), r.ue()
        out_w, out_h = width - sub_w * (left + right), height - sub_h * (top + bottom)
    return chroma, width, height, out_w, out_h


# -- writing a HEIF file ----------------------------------------------------------------------

def _box_bytes(kind: str, payload: bytes, full: tuple[int, int] | None = None) -> bytes:
    """A box (``full``: (version, flags) of a full box)."""
    head = b"" if full is None else bytes([full[0]]) + full[1].to_bytes(3, "big")
    return struct.pack(">I4s", 8 + len(head) + len(payload), kind.encode("latin-1")) + head + payload


def _hvcc(parameter_sets: list[bytes], sps: bytes, chroma: int, bit_depth: int) -> bytes:
    """HEVCDecoderConfigurationRecord (ISO/IEC 14496-15, 8.3.3.1) with 4-byte NAL lengths."""
    ptl = rbsp(sps)[1:13]  # general profile space .. general_level_idc: hvcC bytes 1-12 verbatim
    if len(ptl) != 12:
        raise ValueError("SPS: truncated")
    head = (bytes([1]) + ptl + b"\xf0\x00"  # min_spatial_segmentation_idc 0
            + bytes([0xFC, 0xFC | chroma, 0xF8 | (bit_depth - 8), 0xF8 | (bit_depth - 8)])
            + b"\x00\x00"  # avgFrameRate
            + bytes([0x0F]))  # constantFrameRate 0, numTemporalLayers 1, temporalIdNested 1, lengthSizeMinusOne 3
    arrays = []
    for kind in (VPS, SPS, PPS):
        nals = [n for n in parameter_sets if nal_type(n) == kind]
        if nals:
            arrays.append(bytes([kind]) + struct.pack(">H", len(nals))
                          + b"".join(struct.pack(">H", len(n)) + n for n in nals))
    return head + bytes([len(arrays)]) + b"".join(arrays)


def heif_file(nals: list[bytes], width: int, height: int, chroma: int, bit_depth: int = 8) -> bytes:
    """A single-image HEIF file holding ``nals`` (parameter sets and slices) of a
    ``width`` x ``height`` picture (the decoded size, the ``ispe`` box)."""
    params = [n for n in nals if nal_type(n) in (VPS, SPS, PPS)]
    slices = [n for n in nals if nal_type(n) not in (VPS, SPS, PPS)]
    sps = next(n for n in params if nal_type(n) == SPS)
    brand = b"heic" if chroma == 1 else b"heix"  # Main (4:2:0, 8 bit) or range extensions
    ftyp = _box_bytes("ftyp", brand + b"\x00\x00\x00\x00" + b"mif1" + brand + b"miaf")
    ipco = _box_bytes("ipco", _box_bytes("hvcC", _hvcc(params, sps, chroma, bit_depth))
                      + _box_bytes("ispe", struct.pack(">II", width, height), (0, 0))
                      + _box_bytes("colr", NCLX))
    ipma = _box_bytes("ipma", struct.pack(">IHB", 1, 1, 3) + bytes([0x81, 0x02, 0x03]), (0, 0))  # hvcC essential
    data = b"".join(struct.pack(">I", len(n)) + n for n in slices)

    def meta(offset: int) -> bytes:
        iloc = struct.pack(">BBHHHHII", 0x44, 0x00, 1, 1, 0, 1, offset, len(data))
        return _box_bytes("meta", _box_bytes("hdlr", b"\x00" * 4 + b"pict" + b"\x00" * 13, (0, 0))
                          + _box_bytes("pitm", struct.pack(">H", 1), (0, 0))
                          + _box_bytes("iloc", iloc, (0, 0))
                          + _box_bytes("iinf", struct.pack(">H", 1)
                                       + _box_bytes("infe", struct.pack(">HH4s", 1, 0, b"hvc1") + b"\x00", (2, 0)), (0, 0))
                          + _box_bytes("iprp", ipco + ipma), (0, 0))

    # the data offset is absolute, after ftyp, meta and mdat's own 8-byte header; meta's size does not depend on it
    offset = len(ftyp) + len(meta(0)) + 8
    return ftyp + meta(offset) + _box_bytes("mdat", data)
