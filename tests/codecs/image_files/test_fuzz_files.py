"""Random byte strings to each image-file decoder: never raise, never hang.

Plain garbage mostly stops at the header; the ``hevc`` cases also put random NAL units
behind a valid BPG header and a valid SPS, so that libde265 itself decodes garbage slices.
"""

from __future__ import annotations

import functools

import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from reliability_support import time_bound
from test_image_files import CODECS, digits, file_bytes, make

from linksim.codecs.image_files.heif_container import SPS, VPS, PPS, nal_type
from linksim.codecs.image_files.hevc import bpg_file, read_bpg_file

FUZZ = settings(max_examples=40, deadline=None, database=None, suppress_health_check=list(HealthCheck))


@functools.cache
def codec_and_file(name: str):
    x = digits()[:1]
    codec = make(name, x.shape[1:])
    return codec, file_bytes(codec.encode(x))[0]


def _decode(codec, blob: bytes):
    with time_bound(10, "decoding a fuzzed file"):
        arr = codec._decode_file(blob, 1, 28, 28) if blob else None
    assert arr is None or (arr.shape == (1, 28, 28) and (arr >= 0).all() and (arr <= 1).all())


@pytest.mark.parametrize("name", CODECS)
@FUZZ
@given(data=st.binary(max_size=600))
def test_random_bytes(name, data):
    codec, _ = codec_and_file(name)
    _decode(codec, data)


@pytest.mark.parametrize("name", CODECS)
@FUZZ
@given(data=st.data())
def test_a_real_file_with_random_bytes_overwritten(name, data):
    codec, blob = codec_and_file(name)
    at = data.draw(st.integers(0, len(blob) - 1))
    junk = data.draw(st.binary(min_size=1, max_size=32))
    _decode(codec, blob[:at] + junk + blob[at + len(junk):])


@FUZZ
@given(slices=st.lists(st.binary(min_size=2, max_size=300), min_size=1, max_size=3), types=st.data())
def test_hevc_random_slices_behind_real_parameter_sets(slices, types):
    codec, blob = codec_and_file("hevc")
    w, h, fmt, nals = read_bpg_file(blob)
    params = [n for n in nals if nal_type(n) in (VPS, SPS, PPS)]
    # a slice NAL header (an IDR or CRA picture, layer 0, temporal id 1), random payload
    kinds = [types.draw(st.sampled_from([19, 20, 21, 1])) for _ in slices]
    fuzzed = [bytes([k << 1, 1]) + s for k, s in zip(kinds, slices)]
    _decode(codec, bpg_file(params + fuzzed, w, h, fmt))


def test_many_bit_flips_in_hevc_files_never_raise():
    x = digits()[:8]
    codec = make("hevc", x.shape[1:])
    msg = codec.encode(x)
    g = torch.Generator().manual_seed(3)
    decoded = 0
    for p in [1e-3, 3e-3, 1e-2]:
        for _ in range(3):
            rx = (msg["bytes"].bits + (torch.rand(msg["bytes"].bits.shape, generator=g) < p).float()) % 2
            with time_bound(20, "decoding damaged hevc files"):
                rec = codec.decode({"bytes": rx}, msg)
            decoded += int((rec.rates["fallback_rate"][0] == 0).sum())
    assert 0 < decoded < 72  # some damaged files still decode (HEVC is not all-or-nothing), some do not
