"""Every registered codec's decoder fed what a channel (or a bug) could hand it.

For each codec type in the registry, a few stream configurations (the defaults, every
``dtype`` a numeric stream accepts with each ``nonfinite`` policy, the analog path where
allowed, and codec-specific variants listed below) are built through the real
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

import math

import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from reliability_support import TALLY, fuzz_size, time_bound

from linksim.codecs import CODECS, AnalogPayload, DigitalPayload
from linksim.runner import Simulation
from linksim.scenario import ScenarioError, validate_scenario

BATCH = 4
EXAMPLES = fuzz_size(40)
DECODE_SECONDS = 20  # per batch of 4; a decode that takes longer is a hang

#: codec-specific variants beyond what the registry declares (params of the codec)
EXTRA_PARAMS: dict[str, list[dict]] = {
    "hsc": [{"sr": "vqvae"}, {"sr": "vqvae", "d": 0}, {"sr": "jpeg2000", "d": 2}, {"d": 28}],
    "jpeg": [{"quality": 5}, {"fallback": "black"}],
    "jpeg2000": [{"compression_ratio": 200}],
    "caption_latent": [{"mode": "text"}, {"mode": "latent"}, {"mode": "latent", "strength": 0.0}],
}
#: codecs whose models come from a fixture: the fixture, the params every configuration
#: starts from, and the data they need (tiny models built once per session, see tests/conftest.py)
MODEL_BASES = {
    "caption_latent": ("tiny_models", lambda m: {"captioner": str(m.blip), "pipeline": str(m.sd),
                                                 "num_inference_steps": 2, "strength": 0.5, "caption_max_tokens": 6},
                       {"source": "photos", "image_size": 16}),
}
_BASES: dict[str, tuple[dict, dict]] = {}
FLOAT_POLICIES = [(dt, nf) for dt in ("float16", "float32", "float64") for nf in ("keep", "zero", "clamp")]


def _configs(type_name: str) -> list[tuple[str, dict, dict]]:
    """(label, params, streams) of the configurations to fuzz for a codec type."""
    cls = CODECS[type_name]
    out = [("default", {}, {})]
    for s in sorted(cls.dtype_streams):
        for dtype, nonfinite in FLOAT_POLICIES + [("uint8", "keep"), ("uint3", "keep")]:
            out.append((f"{s}:{dtype}/{nonfinite}", {}, {s: {"path": "digital", "dtype": dtype, "nonfinite": nonfinite}}))
    for s in sorted(cls.analog_streams):
        out.append((f"{s}:analog", {}, {s: {"path": "analog"}}))
    out += [(f"params:{p}", p, {}) for p in EXTRA_PARAMS.get(type_name, [])]
    return out


_BUILT: dict[tuple, object] = {}


def _build(type_name: str, label: str, params: dict, streams: dict):
    """The codec (built through a scenario, as a run builds it) and a batch of real images,
    or a skip reason."""
    key = (type_name, label)
    if key not in _BUILT:
        multimodal = CODECS[type_name].multimodal  # video + audio + text samples instead of images
        base_params, data = _BASES.get(type_name, ({}, {}))
        raw = {"name": "fuzz", "device": "cpu",
               "data": {"source": "digits-av" if multimodal else "digits28", "num_samples": BATCH, "batch_size": BATCH,
                        **data},
               "channels": [{"model": "awgn"}], "sweep": {"snr_db": [10]}, "metrics": ["psnr" if multimodal else "mse"],
               "codecs": [{"name": "c", "type": type_name, "params": {**base_params, **params}, "streams": streams}]}
        try:
            sim = Simulation.build(validate_scenario(raw), device=torch.device("cpu"))
            batch = sim.dataset.select(slice(0, BATCH)) if multimodal else sim.dataset.images[:BATCH]
            _BUILT[key] = (sim.codecs["c"], batch)
        except (ScenarioError, ValueError, OSError, ImportError) as e:  # not buildable here: say why
            _BUILT[key] = f"{type_name} {label}: cannot be built here ({type(e).__name__}: {e})"
    return _BUILT[key]


def _check_multimodal_reconstruction(rec, x, where: str) -> None:
    """A multimodal codec rebuilds every modality in its input's shape, finite, and counts its rates."""
    assert rec.frames.shape == x.frames.shape and rec.audio.shape == x.audio.shape, where
    assert rec.tokens.shape == x.tokens.shape and len(rec.captions) == len(x), where
    assert bool(torch.isfinite(rec.frames).all()) and bool(torch.isfinite(rec.audio).all()), where
    for name, (events, trials) in rec.rates.items():
        assert bool((events >= 0).all()) and bool((events <= trials).all()), (where, name)


def _check_reconstruction(rec, x: torch.Tensor, where: str) -> None:
    if not isinstance(x, torch.Tensor):
        return _check_multimodal_reconstruction(rec, x, where)
    assert rec.x_hat.shape == x.shape, (where, rec.x_hat.shape, x.shape)
    assert rec.x_hat.is_floating_point()
    nonfinite_counted = torch.zeros(x.shape[0], dtype=torch.int64)
    for name, (events, trials) in rec.rates.items():
        events, trials = events.cpu(), trials.cpu()
        assert events.shape == trials.shape == (x.shape[0],), name
        assert bool((events >= 0).all()) and bool((events <= trials).all()), (name, events, trials)
        if "nonfinite" in name:
            nonfinite_counted += events
    for name, values in rec.metrics.items():
        assert values.shape[0] == x.shape[0], name
    silent = (~torch.isfinite(rec.x_hat.cpu())).flatten(1).any(dim=1) & (nonfinite_counted == 0)
    assert not bool(silent.any()), f"{where}: non-finite output not counted in any nonfinite rate: samples {silent.nonzero().flatten().tolist()}"


def _bits_case(kind: str, sent: DigitalPayload, gen: torch.Generator) -> tuple[torch.Tensor, torch.Tensor | None]:
    """Received bits ``[B, L']`` and the lengths the receiver is told, for one fuzz case."""
    bits, lengths = sent.bits, sent.lengths
    b, n = bits.shape
    if kind == "random":
        return (torch.rand(b, n, generator=gen) < 0.5).float(), lengths
    if kind == "sparse":
        return (torch.rand(b, n, generator=gen) < 0.02).float(), lengths
    if kind == "ones":
        return torch.ones(b, n), lengths
    if kind == "zeros":
        return torch.zeros(b, n), lengths
    if kind.startswith("flip"):
        rate = {"flip-1e-3": 1e-3, "flip-1e-2": 1e-2, "flip-0.2": 0.2}[kind]
        flips = (torch.rand(b, n, generator=gen) < rate).float()
        return (bits.cpu() + flips) % 2, lengths
    if kind == "header":  # the first 32 bytes (file headers, size fields) random, the rest intact
        out = bits.cpu().clone()
        out[:, : min(256, n)] = (torch.rand(b, min(256, n), generator=gen) < 0.5).float()
        return out, lengths
    if kind == "short":
        return bits.cpu()[:, : max(n - 8, 0)], lengths
    if kind == "long":
        return torch.cat([bits.cpu(), torch.ones(b, 16)], dim=1), lengths
    if kind == "empty":
        return torch.zeros(b, 0), lengths
    raise AssertionError(kind)


def _analog_case(kind: str, values: torch.Tensor, gen: torch.Generator) -> torch.Tensor:
    v = values.detach().cpu().to(torch.float32)
    if kind == "nan":
        return torch.full_like(v, math.nan)
    if kind == "inf":
        return torch.where(torch.rand(v.shape, generator=gen) < 0.5, math.inf, -math.inf)
    if kind == "huge":
        return v * 1e30
    if kind == "mixed":
        mask = torch.rand(v.shape, generator=gen)
        return torch.where(mask < 0.1, math.nan, torch.where(mask < 0.2, math.inf, v))
    if kind == "zeros":
        return torch.zeros_like(v)
    if kind == "short":
        return v.flatten(1)[:, :-1]
    raise AssertionError(kind)


RIGHT = ["random", "sparse", "ones", "zeros", "flip-1e-3", "flip-1e-2", "flip-0.2", "header"]
WRONG = ["short", "long", "empty"]
ANALOG = ["nan", "inf", "huge", "mixed", "zeros"]


@pytest.mark.slow
@pytest.mark.parametrize("type_name", sorted(CODECS))
def test_decoders_survive_fuzzed_payloads(type_name, request):
    if type_name in MODEL_BASES:
        fixture, params, data = MODEL_BASES[type_name]
        _BASES[type_name] = (params(request.getfixturevalue(fixture)), data)
    configs = _configs(type_name)
    built = [c for c in configs if not isinstance(_build(type_name, *c), str)]
    if not built:
        pytest.skip("; ".join(_build(type_name, *c) for c in configs))
    stats = {"payloads": 0}

    @settings(max_examples=EXAMPLES, deadline=None, database=None, suppress_health_check=list(HealthCheck))
    @given(config=st.sampled_from(built), case=st.data(), seed=st.integers(0, 2**31 - 1))
    def fuzz(config, case, seed):
        codec, x = _build(type_name, *config)
        gen = torch.Generator().manual_seed(seed)
        sent = codec.encode(x)
        received = {}
        wrong = False
        where = f"{type_name} {config[0]}"
        for name, item in sent.items():
            if isinstance(item, AnalogPayload):
                kind = case.draw(st.sampled_from(ANALOG + ["short"]), label=f"{name} analog case")
                received[name] = _analog_case(kind, item.values, gen)
                where += f" {name}:{kind}"
                wrong |= kind == "short"
            else:
                kind = case.draw(st.sampled_from(RIGHT * 2 + WRONG), label=f"{name} bits case")
                received[name], _ = _bits_case(kind, item, gen)
                where += f" {name}:{kind}"
                wrong |= kind in WRONG
        with time_bound(DECODE_SECONDS, f"{where} decode"):
            try:
                rec = codec.decode(received, sent)
            except ValueError as e:
                assert wrong, f"{where}: right-length payload refused: {e}"
                assert any(w in str(e) for w in ("expected", "must", "length")), f"{where}: unclear refusal: {e}"
                return
        _check_reconstruction(rec, x, where)
        stats["payloads"] += len(x)

    fuzz()
    TALLY[f"fuzzed payloads decoded by {type_name} ({len(built)} configurations)"] += stats["payloads"]
    skipped = [c[0] for c in configs if isinstance(_build(type_name, *c), str)]
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
    import linksim.codecs.image_compression as ic

    codec, x = _build("jpeg", "default", {}, {})
    sent = codec.encode(x)
    assert codec.decode({"bytes": sent["bytes"].bits}, sent).rates["fallback_rate"][0].tolist() == [0] * BATCH
    monkeypatch.setattr(ic, "DECODE_SECONDS_PER_IMAGE", -1.0)  # a deadline already passed
    rec = codec.decode({"bytes": sent["bytes"].bits}, sent)
    assert rec.rates["fallback_rate"][0].tolist() == [1] * BATCH
