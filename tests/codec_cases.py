"""Every registered codec in a few stream configurations, built as a run builds it, and the
payload fuzz of its decoder.

Shared by the codec contract (tests/codecs/test_codec_contract.py) and the payload fuzz
(tests/reliability/test_fuzz_payloads.py), so that there is one table of per-codec
configurations and one fuzz machinery. The stream configurations come from what each codec
class declares (``dtype_streams``, ``analog_streams``), not from a hand-kept list of codecs;
only codec-specific params variants (:data:`EXTRA_PARAMS`) and the codecs whose models come
from a fixture (:data:`MODEL_BASES`) are named here.

It lives in tests/ (on ``sys.path`` through tests/conftest.py) so that every test folder can
import it.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import torch
from hypothesis import strategies as st
from reliability_support import time_bound

from linksim.codecs import CODECS, AnalogPayload, Codec, DigitalPayload
from linksim.runner import Simulation
from linksim.scenario import validate_scenario

#: codec-specific variants beyond what the registry declares (params of the codec)
EXTRA_PARAMS: dict[str, list[dict]] = {
    "hsc": [{"sr": "vqvae"}, {"sr": "vqvae", "d": 0}, {"sr": "jpeg2000", "d": 2}, {"d": 28}],
    "jpeg": [{"quality": 5}, {"fallback": "black"}],
    "jpeg2000": [{"compression_ratio": 200}],
    "hevc": [{"quality": 5}, {"quality": 95}],
    "avif": [{"quality": 5}],
    "webp": [{"quality": 5}],
    "caption_latent": [{"mode": "text"}, {"mode": "latent"}, {"mode": "latent", "strength": 0.0}],
    "deepjscc": [{"variant": "adjscc", "weights": "random"}, {"weights": "random", "bandwidth_ratio": "1/12"}],
}
#: codec-specific params variants the contract runs besides the stream configurations: (label, params)
CONTRACT_PARAMS: dict[str, list[tuple[str, dict]]] = {
    "deepjscc": [("adjscc", {"variant": "adjscc", "weights": "random"})],
}
#: codecs whose models come from a fixture: the fixture, the params every configuration
#: starts from, and the data they need (tiny models built once per session, see tests/conftest.py)
MODEL_BASES = {
    "caption_latent": ("tiny_models", lambda m: {"captioner": str(m.blip), "pipeline": str(m.sd),
                                                 "num_inference_steps": 2, "strength": 0.5, "caption_max_tokens": 6},
                       {"source": "photos", "image_size": 16}),
}
FLOAT_POLICIES = [(dt, nf) for dt in ("float16", "float32", "float64") for nf in ("keep", "zero", "clamp")]


def registered_codecs() -> list[str]:
    """Every codec type installed through an entry point: linksim's built-ins and installed
    plugins (not the test doubles other tests register by decorator)."""
    return sorted(n for n in CODECS.names() if CODECS.origin(n).kind in ("built-in", "plugin"))


def model_base(type_name: str, request) -> tuple[dict, dict]:
    """(params every configuration of ``type_name`` starts from, ``data`` section overrides);
    for codecs of :data:`MODEL_BASES` the fixture is requested through pytest's ``request``."""
    if type_name not in MODEL_BASES:
        return {}, {}
    fixture, params, data = MODEL_BASES[type_name]
    return params(request.getfixturevalue(fixture)), data


# -- configurations -----------------------------------------------------------------------------

def fuzz_configs(type_name: str) -> list[tuple[str, dict, dict]]:
    """(label, params, streams) of the configurations the payload fuzz tries for a codec type:
    the defaults, every ``dtype`` x ``nonfinite`` policy of each numeric stream, the analog
    path of each stream that takes it, and the codec-specific variants of :data:`EXTRA_PARAMS`."""
    cls = CODECS[type_name]
    out = [("default", {}, {})]
    for s in sorted(cls.dtype_streams):
        for dtype, nonfinite in FLOAT_POLICIES + [("uint8", "keep"), ("uint3", "keep")]:
            out.append((f"{s}:{dtype}/{nonfinite}", {}, {s: {"path": "digital", "dtype": dtype, "nonfinite": nonfinite}}))
    for s in sorted(cls.analog_streams):
        out.append((f"{s}:analog", {}, {s: {"path": "analog"}}))
    out += [(f"params:{p}", p, {}) for p in EXTRA_PARAMS.get(type_name, [])]
    return out


@dataclass(frozen=True)
class Case:
    """One codec type in one stream configuration (``streams``: the scenario's overrides)."""

    type_name: str
    label: str
    params: dict = field(default_factory=dict, hash=False)
    streams: dict = field(default_factory=dict, hash=False)

    @property
    def id(self) -> str:
        return f"{self.type_name}-{self.label}"


#: the kinds of stream configuration the contract runs every codec in
CONTRACT_KINDS = ("default", "digital-float", "digital-uint", "analog")


def contract_cases(type_name: str) -> list[tuple[Case, str | None]]:
    """Every kind of :data:`CONTRACT_KINDS` for a codec type, each with the reason it cannot run
    (None when it can), read from what the codec class declares:

    - ``default``: the codec's own transports;
    - ``digital-float`` / ``digital-uint``: every stream of ``dtype_streams`` digital as
      ``float16`` / ``uint8`` (nonfinite policy: the stream's default);
    - ``analog``: every stream of ``analog_streams`` on the analog path;

    and the codec's params variants of :data:`CONTRACT_PARAMS` (e.g. ``deepjscc``'s ``adjscc``).
    """
    cls = CODECS[type_name]
    dtype_streams, analog_streams = sorted(cls.dtype_streams), sorted(cls.analog_streams)
    out: list[tuple[Case, str | None]] = [(Case(type_name, "default"), None)]
    for kind, dtype in (("digital-float", "float16"), ("digital-uint", "uint8")):
        streams = {s: {"path": "digital", "dtype": dtype} for s in dtype_streams}
        reason = None if dtype_streams else (
            f"{type_name} declares no stream whose values may be sent as another dtype (dtype_streams is empty; "
            f"its streams: {', '.join(cls.default_streams)})")
        out.append((Case(type_name, kind, streams=streams), reason))
    streams = {s: {"path": "analog"} for s in analog_streams}
    if not analog_streams:
        reason = f"{type_name} has no stream that may take the analog path (analog_streams is empty)"
    elif all(cls.default_streams[s].path == "analog" for s in analog_streams):
        reason = f"{type_name}'s default already sends {', '.join(analog_streams)} analog: the same run as 'default'"
    else:
        reason = None
    out.append((Case(type_name, "analog", streams=streams), reason))
    out += [(Case(type_name, label, params=params), None) for label, params in CONTRACT_PARAMS.get(type_name, [])]
    return out


# -- building -----------------------------------------------------------------------------------

def scenario_dict(type_name: str, params: dict, streams: dict, base: tuple[dict, dict] = ({}, {}), *,
                  num_samples: int, channels: tuple[str, ...] = ("awgn",), snr_db: tuple[float, ...] = (10.0,),
                  seed: int = 7, name: str = "codec-case") -> dict:
    """A one-codec scenario for ``type_name`` (codec label ``c``) over ``channels`` (models with
    their defaults) and ``snr_db``; images (digits28) or, for a multimodal codec, digits-av
    clips, in one batch of ``num_samples``."""
    multimodal = CODECS[type_name].multimodal  # video + audio + text samples instead of images
    base_params, data = base
    return {"name": name, "seed": seed, "device": "cpu",
            "data": {"source": "digits-av" if multimodal else "digits28", "num_samples": num_samples,
                     "batch_size": num_samples, **data},
            "channels": [{"model": c} for c in channels], "sweep": {"snr_db": list(snr_db)},
            "metrics": ["psnr" if multimodal else "mse"],
            "codecs": [{"name": "c", "type": type_name, "params": {**base_params, **params}, "streams": streams}]}


def build_simulation(type_name: str, params: dict, streams: dict, base: tuple[dict, dict] = ({}, {}),
                     **scenario) -> Simulation:
    """The :class:`Simulation` of :func:`scenario_dict` on the CPU, built as ``linksim run`` builds it."""
    raw = scenario_dict(type_name, params, streams, base, **scenario)
    return Simulation.build(validate_scenario(raw), device=torch.device("cpu"))


def first_batch(sim: Simulation, n: int):
    """The first ``n`` samples of the simulation's data: images ``[n, C, H, W]`` or a multimodal batch."""
    if CODECS[sim.scenario.codecs[0].type].multimodal:
        return sim.dataset.select(slice(0, n))
    return sim.dataset.images[:n]


# -- checks of a reconstruction -----------------------------------------------------------------

def check_multimodal_reconstruction(rec, x, where: str) -> None:
    """A multimodal codec rebuilds every modality in its input's shape, finite, and counts its rates."""
    assert rec.frames.shape == x.frames.shape and rec.audio.shape == x.audio.shape, where
    assert rec.tokens.shape == x.tokens.shape and len(rec.captions) == len(x), where
    assert bool(torch.isfinite(rec.frames).all()) and bool(torch.isfinite(rec.audio).all()), where
    for name, (events, trials) in rec.rates.items():
        assert bool((events >= 0).all()) and bool((events <= trials).all()), (where, name)


def check_reconstruction(rec, x, where: str) -> None:
    """``rec`` has the input's shape, counts sensible rates (0 <= events <= trials, ``[B]`` each),
    and every non-finite output value is accounted for by a non-finite rate of its sample."""
    if not isinstance(x, torch.Tensor):
        return check_multimodal_reconstruction(rec, x, where)
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


# -- the payload fuzz ---------------------------------------------------------------------------

def bits_case(kind: str, sent: DigitalPayload, gen: torch.Generator) -> tuple[torch.Tensor, torch.Tensor | None]:
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


def analog_case(kind: str, values: torch.Tensor, gen: torch.Generator) -> torch.Tensor:
    """Received analog values for one fuzz case (``short``: one value per sample missing)."""
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
DECODE_SECONDS = 20  # per batch of 4; a decode that takes longer is a hang


def fuzz_decode(codec: Codec, x, case: st.DataObject, seed: int, where: str) -> int:
    """Encode ``x``, hand the decoder one fuzzed payload per stream (cases drawn from ``case``),
    and check what it makes of it; returns the samples decoded (0 when it refused a wrong length).

    The decoder must not crash or hang: with the right length it returns a reconstruction of
    the input's shape (:func:`check_reconstruction`); a wrong length is either decoded or
    refused with a ``ValueError`` that says what was expected.
    """
    gen = torch.Generator().manual_seed(seed)
    sent = codec.encode(x)
    received = {}
    wrong = False
    for name, item in sent.items():
        if isinstance(item, AnalogPayload):
            kind = case.draw(st.sampled_from(ANALOG + ["short"]), label=f"{name} analog case")
            received[name] = analog_case(kind, item.values, gen)
            wrong |= kind == "short"
        else:
            kind = case.draw(st.sampled_from(RIGHT * 2 + WRONG), label=f"{name} bits case")
            received[name], _ = bits_case(kind, item, gen)
            wrong |= kind in WRONG
        where += f" {name}:{kind}"
    with time_bound(DECODE_SECONDS, f"{where} decode"):
        try:
            rec = codec.decode(received, sent)
        except ValueError as e:
            assert wrong, f"{where}: right-length payload refused: {e}"
            assert any(w in str(e) for w in ("expected", "must", "length")), f"{where}: unclear refusal: {e}"
            return 0
    check_reconstruction(rec, x, where)
    return len(x)
