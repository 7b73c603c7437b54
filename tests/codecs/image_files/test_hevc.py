"""``hevc``: what is charged (a BPG file: header + NAL units), the HEIF file the receiver
rebuilds around them, the SPS size check before decoding, greyscale and tiny images."""

from __future__ import annotations

import io

import numpy as np
import pillow_heif
import pytest
import torch
from test_image_files import digits, file_bytes, make, message_from_files, perfect_link, photos, psnr

from linksim.codecs.image_files import hevc
from linksim.codecs.image_files.base import to_pil
from linksim.codecs.image_files.heif_container import SPS, _Bits, heif_file, nal_type, nal_units, rbsp, sps_picture
from linksim.codecs.image_files.hevc import bpg_file, read_bpg_file, ue7


def _pillow_heif_file(img, quality: int, chroma: str = "420") -> bytes:
    buf = io.BytesIO()
    options = {} if img.mode == "L" else {"chroma": int(chroma)}
    pillow_heif.from_pillow(img).save(buf, quality=quality, **options)
    return buf.getvalue()


@pytest.mark.parametrize("source", ["digits", "photos"])
@pytest.mark.parametrize("quality", [10, 50, 90])
def test_charged_size_is_bpg_header_plus_nal_units_and_less_than_the_heif_file(source, quality):
    x = (digits() if source == "digits" else photos())[:4]
    sent = file_bytes(make("hevc", x.shape[1:], quality=quality).encode(x))
    for img, blob in zip(to_pil(x, "test"), sent):
        heif = _pillow_heif_file(img, quality)
        nals = nal_units(heif)
        assert [nal_type(n) for n in nals[:3]] == [32, 33, 34] and all(nal_type(n) < 32 for n in nals[3:])
        data = sum(len(ue7(len(n))) + len(n) for n in nals)
        header = 4 + 2 + len(ue7(img.width)) + len(ue7(img.height)) + len(ue7(data))
        assert len(blob) == header + data  # exactly: nothing else is charged
        assert header <= 10  # magic, two bytes of format, three 1-2 byte varints
        assert len(blob) < len(heif) - 250  # the HEIF boxes are not charged


@pytest.mark.parametrize("source", ["digits", "photos"])
def test_the_rebuilt_file_decodes_exactly_as_pillow_heif_decodes_its_own(source):
    x = (digits() if source == "digits" else photos())[:3]
    codec = make("hevc", x.shape[1:], quality=60)
    _, rec = perfect_link(codec, x)
    c, h, w = x.shape[1:]
    for img, got in zip(to_pil(x, "test"), rec.x_hat):
        own = pillow_heif.open_heif(io.BytesIO(_pillow_heif_file(img, 60)))
        ref = np.asarray(own.to_pillow().convert("L" if c == 1 else "RGB"), dtype=np.float32) / 255.0
        ref = ref[None] if c == 1 else ref.transpose(2, 0, 1)
        assert torch.equal(got, torch.from_numpy(ref))


def test_nal_units_survive_a_rebuilt_container():
    img = to_pil(photos()[:1], "test")[0]
    nals = nal_units(_pillow_heif_file(img, 50))
    assert nal_units(heif_file(nals, 64, 64, chroma=1)) == nals


@pytest.mark.parametrize("params, chroma", [({}, 1), ({"chroma": "444"}, 3), ({"chroma": "422"}, 2)])
def test_colour_chroma_format(params, chroma):
    x = photos()[:2]
    codec = make("hevc", x.shape[1:], quality=70, **params)
    msg, rec = perfect_link(codec, x)
    for blob in file_bytes(msg):
        _, _, pixel_format, nals = read_bpg_file(blob)
        assert pixel_format == chroma and sps_picture(next(n for n in nals if nal_type(n) == SPS))[0] == chroma
    assert rec.rates["fallback_rate"][0].sum() == 0 and psnr(rec.x_hat, x).min() > 28


@pytest.mark.parametrize("shape", [(1, 28, 28), (3, 28, 28), (1, 32, 32), (3, 32, 32), (1, 8, 8), (3, 30, 70)])
def test_tiny_and_odd_images_round_trip(shape):
    """Greyscale is HEVC monochrome (4:0:0); x265 via libheif pads a picture to 64 x 64 at least,
    the receiver crops it."""
    x = torch.rand(1, *shape, generator=torch.Generator().manual_seed(0)).repeat(2, 1, 1, 1)
    x[1] = x[1].mean()  # a flat image too
    codec = make("hevc", shape, quality=95)
    msg, rec = perfect_link(codec, x)
    assert rec.rates["fallback_rate"][0].sum() == 0 and rec.x_hat.shape == x.shape
    assert psnr(rec.x_hat[1:], x[1:]).item() > 40
    _, _, _, nals = read_bpg_file(file_bytes(msg)[0])
    chroma, coded_w, coded_h, out_w, out_h = sps_picture(next(n for n in nals if nal_type(n) == SPS))
    assert chroma == (0 if shape[0] == 1 else 1)
    assert out_w >= shape[2] and out_h >= shape[1] and coded_w <= 128 and coded_h <= 64


def _ue_bits(v: int) -> str:
    code = bin(v + 1)[2:]
    return "0" * (len(code) - 1) + code


def _with_sps_size(nal: bytes, width: int, height: int) -> bytes:
    """An SPS NAL unit announcing ``width`` x ``height`` (no conformance window), emulation prevention redone."""
    r = _Bits(rbsp(nal))
    r.u(4), r.u(3), r.u(1), r.u(96), r.ue()
    if r.ue() == 3:
        r.u(1)
    start = r.pos
    r.ue(), r.ue()
    if r.u(1):
        [r.ue() for _ in range(4)]
    bits = "".join(f"{b:08b}" for b in rbsp(nal))
    bits = bits[:start] + _ue_bits(width) + _ue_bits(height) + "0" + bits[r.pos:]
    bits += "0" * (-len(bits) % 8)
    out, zeros = bytearray(nal[:2]), 0
    for byte in (int(bits[i:i + 8], 2) for i in range(0, len(bits), 8)):
        if zeros >= 2 and byte <= 3:
            out.append(3)
            zeros = 0
        out.append(byte)
        zeros = zeros + 1 if byte == 0 else 0
    return bytes(out)


@pytest.mark.parametrize("size", [(60000, 60000), (4096, 64), (64, 200), (16, 16)])
def test_an_sps_announcing_another_picture_falls_back_before_decoding(size, monkeypatch):
    x = digits()[:2]
    codec = make("hevc", x.shape[1:])
    damaged = []
    for blob in file_bytes(codec.encode(x)):
        w, h, fmt, nals = read_bpg_file(blob)
        nals = [_with_sps_size(n, *size) if nal_type(n) == SPS else n for n in nals]
        assert sps_picture(next(n for n in nals if nal_type(n) == SPS))[1:3] == size
        damaged.append(bpg_file(nals, w, h, fmt))
    calls = []
    monkeypatch.setattr(hevc, "_decode_heif", lambda *a: calls.append(a))
    msg = message_from_files(damaged)
    rec = codec.decode({"bytes": msg["bytes"].bits}, msg)
    assert rec.rates["fallback_rate"][0].tolist() == [1, 1] and calls == []  # nothing reached the decoder


def test_the_true_sps_size_reaches_the_decoder():
    """Control for the test above: the same rewriting with the true coded size changes nothing."""
    x = digits()[:2]
    codec = make("hevc", x.shape[1:])
    msg, ref = perfect_link(codec, x)
    same = []
    for blob in file_bytes(msg):
        w, h, fmt, nals = read_bpg_file(blob)
        same.append(bpg_file([_with_sps_size(n, 64, 64) if nal_type(n) == SPS else n for n in nals], w, h, fmt))
    rec = codec.decode({"bytes": message_from_files(same)["bytes"].bits}, message_from_files(same))
    assert torch.equal(rec.x_hat, ref.x_hat)


@pytest.mark.parametrize("value", [0, 1, 127, 128, 16383, 16384, 2**32 - 1])
def test_ue7_round_trips(value):
    assert hevc.read_ue7(ue7(value) + b"\xff", 0) == (value, len(ue7(value)))
