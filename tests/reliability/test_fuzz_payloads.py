"""Every registered codec's decoder fed what a channel (or a bug) could hand it.

For each codec type installed through an entry point (built-ins and plugins), a few stream
configurations (the defaults, every ``dtype`` a numeric stream accepts with each ``nonfinite``
policy, the analog path where allowed, and codec-specific variants: the table and the fuzz
machinery are in tests/codec_cases.py, shared with the codec contract) are built through the real
:class:`~linksim.runner.Simulation` from a scenario, a batch of real images is encoded to
learn each stream's shape and length, and the decoder then receives, per stream:

- random bits of the right length (dense, sparse and all-ones: the last makes every
  float exponent all ones, i.e. NaN/inf; and indices past a codebook's end);
- the real payload with bits flipped (JPEG / JPEG2000 files with damaged headers and data);
- analog values full of NaN, inf and huge numbers;
- bit strings of the wrong length.

The decoder must not crash or hang: with the right length it returns a reconstruction of
the input's shape whose rates count sensible events (0 <= events <= trials), and every
non-finite output value must be accounted for by a counted non-finite rate of its sample
(a ``keep`` policy is allowed to pass NaN on, not to do so silently). A wrong length is
either decoded or refused with a ``ValueError`` that says what was expected. Codecs that
cannot be built here (models that need a download) are skipped with the reason.

Size: ``LINKSIM_FUZZ_EXAMPLES`` (default 40 per codec; each example decodes a batch of 4).
"""

from __future__ import annotations

import pytest
from codec_cases import build_simulation, first_batch, fuzz_configs, fuzz_decode, model_base, registered_codecs
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from reliability_support import TALLY, fuzz_size, time_bound

from linksim.codecs import DigitalPayload
from linksim.scenario import ScenarioError

BATCH = 4
EXAMPLES = fuzz_size(40)

_BUILT: dict[tuple, object] = {}


def _build(type_name: str, label: str, params: dict, streams: dict, base: tuple[dict, dict] = ({}, {})):
    """The codec (built through a scenario, as a run builds it) and a batch of real images,
    or a skip reason."""
    key = (type_name, label)
    if key not in _BUILT:
        try:
            sim = build_simulation(type_name, params, streams, base, num_samples=BATCH, name="fuzz")
            _BUILT[key] = (sim.codecs["c"], first_batch(sim, BATCH))
        except (ScenarioError, ValueError, OSError, ImportError) as e:  # not buildable here: say why
            _BUILT[key] = f"{type_name} {label}: cannot be built here ({type(e).__name__}: {e})"
    return _BUILT[key]


@pytest.mark.slow
@pytest.mark.parametrize("type_name", registered_codecs())
def test_decoders_survive_fuzzed_payloads(type_name, request):
    base = model_base(type_name, request)
    configs = fuzz_configs(type_name)
    built = [c for c in configs if not isinstance(_build(type_name, *c, base), str)]
    if not built:
        pytest.skip("; ".join(_build(type_name, *c, base) for c in configs))
    stats = {"payloads": 0}

    @settings(max_examples=EXAMPLES, deadline=None, database=None, suppress_health_check=list(HealthCheck))
    @given(config=st.sampled_from(built), case=st.data(), seed=st.integers(0, 2**31 - 1))
    def fuzz(config, case, seed):
        codec, x = _build(type_name, *config, base)
        stats["payloads"] += fuzz_decode(codec, x, case, seed, f"{type_name} {config[0]}")

    fuzz()
    TALLY[f"fuzzed payloads decoded by {type_name} ({len(built)} configurations)"] += stats["payloads"]
    skipped = [c[0] for c in configs if isinstance(_build(type_name, *c, base), str)]
    if skipped:
        TALLY[f"  {type_name} configurations not buildable here: {', '.join(skipped)}"] += 1


def _huge_header(blob: bytes, fmt: str, side: int) -> bytes:
    """``blob`` with the image size in its header set to ``side x side`` pixels."""
    b = bytearray(blob)
    if fmt == "JPEG":  # SOF0/SOF2: FFC0|FFC2, length, precision, height, width
        i = max(b.find(b"\xff\xc0"), b.find(b"\xff\xc2"))
        b[i + 5: i + 9] = side.to_bytes(2, "big") * 2
    else:  # J2K SIZ: FF51, Lsiz, Rsiz, Xsiz, Ysiz
        i = b.find(b"\xff\x51")
        b[i + 6: i + 14] = side.to_bytes(4, "big") * 2
    return bytes(b)


@pytest.mark.parametrize("side", [10_000, 65_000])  # past Pillow's bomb warning, past its bomb error
@pytest.mark.parametrize("type_name", ["jpeg", "jpeg2000"])
def test_a_header_announcing_a_huge_image_falls_back_at_once(type_name, side):
    import warnings

    from linksim.phy.payload import BytesPayload

    codec, x = _build(type_name, "default", {}, {})
    sent = codec.encode(x)
    blobs = BytesPayload().from_bits(sent["bytes"].bits, sent["bytes"].lengths)
    bits, lengths = BytesPayload().to_bits([_huge_header(b, codec.format, side) for b in blobs])
    with time_bound(5, "decoding huge headers"), warnings.catch_warnings():
        warnings.simplefilter("error")  # and quietly: the size check makes Pillow's warning noise
        rec = codec.decode({"bytes": bits}, {"bytes": DigitalPayload(bits, lengths)})
    assert rec.rates["fallback_rate"][0].tolist() == [1] * BATCH
    assert bool((rec.x_hat == 0.5).all())


def test_image_decoding_past_the_batch_deadline_falls_back_and_counts(monkeypatch):
    import linksim.codecs.image_files.base as ic

    codec, x = _build("jpeg", "default", {}, {})
    sent = codec.encode(x)
    assert codec.decode({"bytes": sent["bytes"].bits}, sent).rates["fallback_rate"][0].tolist() == [0] * BATCH
    monkeypatch.setattr(ic, "DECODE_SECONDS_PER_IMAGE", -1.0)  # a deadline already passed
    rec = codec.decode({"bytes": sent["bytes"].bits}, sent)
    assert rec.rates["fallback_rate"][0].tolist() == [1] * BATCH
