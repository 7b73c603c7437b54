"""The codec contract: every codec installed through an entry point (linksim's built-ins and
plugins, the example plugin ``tiny-ae`` included) passes the same checks, in each stream
configuration it declares (see :func:`codec_cases.contract_cases`: its defaults, its numeric
streams digital as ``float16`` and as ``uint8``, its analog-capable streams analog; a
configuration that does not apply is listed with the reason).

Each configuration is one tiny scenario (3 samples in one batch; digits28 images, photos for
``caption_latent`` on the tiny models of tests/conftest.py, digits-av clips for ``bridge``)
built into a :class:`~linksim.runner.Simulation`, and points are run with
``Simulation.run_point`` through the real PHY while a spy records what crossed each link and
what the codec decoded:

- an error-free link (AWGN at 200 dB Es/N0: the noise std, 1e-10 of a unit-power symbol, is
  three orders of magnitude below float32's resolution, so every LLR is far beyond any
  decision threshold, coded or uncoded) delivers every digital bit and the run's reconstruction is exactly the decoder's output
  for the sent bits; analog values come back within float32 rounding, and the
  reconstruction within a tolerance justified at :data:`ANALOG_VALUE_ULPS` and
  :data:`ANALOG_OUTPUT_ATOL`;
- ``payload_bits()`` is the bits each digital link carried, and ``context.channel_uses``
  the resource elements each link reports;
- reconstructions have the input's shape and previews are ``[B, C, H, W]`` images;
- the same point run twice (and in a second simulation built from the same scenario) gives
  identical results, through fading and noise;
- the decoder survives fuzzed payloads (the machinery of the payload fuzz,
  tests/reliability/test_fuzz_payloads.py, with a few examples per configuration).

``caption_latent``'s configurations are ``slow`` (5-15 s per check on the tiny diffusion
models). Without the example plugin installed the suite fails (it does not skip): CI installs it.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import numpy as np
import pytest
import sionna.phy
import torch
from codec_cases import build_simulation, contract_cases, first_batch, fuzz_decode, model_base, registered_codecs
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from linksim.codecs import CODECS, AnalogPayload, Codec, DigitalPayload, Message
from linksim.results import PointKey, PointResult
from linksim.runner import Simulation, required_channel_uses

PLUGIN = "tiny-ae"
SAMPLES = 3  # one batch; odd, so that analog pairing and per-sample lengths are not all alike
ERROR_FREE = ("awgn", 200.0)
NOISY = ("rayleigh", 5.0)  # block fading and noise: both of Sionna's random draws matter
FUZZ_EXAMPLES = 6  # per configuration; the long fuzz is tests/reliability/test_fuzz_payloads.py
#: received analog values may differ from the sent ones by this many float32 ulps of the
#: sample's RMS: the 200 dB noise (std ~7e-11 per real dimension of a unit-power symbol) is
#: three orders of magnitude below float32's resolution (eps = 1.2e-7), so only the rounding of the power normalisation,
#: the grid mapping and the LMMSE equaliser (a few ulps each) remains; measured: at most 3 ulps
ANALOG_VALUE_ULPS = 16
#: a decoder fed values a few ulps away from what was sent may move its output by at most this
#: much in [0, 1] pixel units (a quarter of an 8-bit grey level; scaled by max(1, |output|) for
#: unbounded outputs such as audio): more would mean a decoder that amplifies float rounding
#: ~10^4-fold; measured: at most 2.2e-5 (hsc), 4e-7 (bridge), 1.2e-7 (tiny-ae)
ANALOG_OUTPUT_ATOL = 1e-3
#: configurations whose checks take more than a few seconds here (tiny diffusion models)
SLOW_TYPES = {"caption_latent"}


def test_the_example_plugin_is_installed():
    """The contract must run over a plugin: CI installs the example one."""
    if PLUGIN not in CODECS:
        pytest.fail(f"the example plugin codec '{PLUGIN}' is not installed, so the codec contract does not run "
                    "over any plugin: pip install -e examples/plugin_codec")
    assert CODECS.origin(PLUGIN).kind == "plugin"


def _params() -> list:
    out = []
    for type_name in registered_codecs():
        for case, reason in contract_cases(type_name):
            marks = [pytest.mark.skip(reason=reason)] if reason else []
            if type_name in SLOW_TYPES:
                marks.append(pytest.mark.slow)
            out.append(pytest.param(case, id=case.id, marks=marks))
    return out


# -- a point run with a spy -----------------------------------------------------------------------

@dataclass
class Batch:
    """One batch of a spied point: what the codec got, sent and decoded."""

    x: object
    sent: Message
    links: dict[str, tuple[object, object]]  # stream -> (transport, the link's result)
    received: dict[str, torch.Tensor]
    rec: object  # the run's reconstruction
    ref: object  # the decoder's output for the sent bits / values, same codec state and RNG state


@dataclass
class SpiedPoint:
    result: PointResult
    batches: list[Batch]


def _channel_free(sent: Message) -> dict[str, torch.Tensor]:
    """What an ideal channel delivers: the sent bits of digital streams, the sent values of analog ones."""
    return {n: (p.values if isinstance(p, AnalogPayload) else p.bits) for n, p in sent.items()}


def _set_rng_states(rng: torch.Generator, states: tuple[torch.Tensor, torch.Tensor]) -> None:
    rng.set_state(states[0])
    torch.set_rng_state(states[1])


def run_spied(sim: Simulation, channel: str, snr_db: float) -> SpiedPoint:
    """``sim.run_point`` at (codec ``c``, ``channel``, ``snr_db``), recording each batch. The
    reference decode runs right after the run's own, on the same codec state with Sionna's and
    torch's generators put back where the run's decode found them (a diffusion decoder draws
    its noise there), and the generators are then left where the run's decode left them."""
    codec: Codec = sim.codecs["c"]
    batches: list[Batch] = []
    pending: dict = {}
    encode, decode, link = codec.encode, codec.decode, sim.link

    def spy_encode(x):
        sent = encode(x)
        pending.update(x=x, sent=sent, links={})
        return sent

    def spy_link(ch, transport):
        real = link(ch, transport)

        def call(payload, *args):
            out = real(payload, *args)
            name = next(n for n, p in pending["sent"].items()
                        if payload is (p.values if isinstance(p, AnalogPayload) else p.bits))
            pending["links"][name] = (transport, out)
            return out

        return call

    def spy_decode(received, sent):
        rng = sionna.phy.config.torch_rng(str(sim.device))
        before = (rng.get_state(), torch.get_rng_state())
        rec = decode(received, sent)
        after = (rng.get_state(), torch.get_rng_state())
        _set_rng_states(rng, before)
        ref = decode(_channel_free(sent), sent)
        _set_rng_states(rng, after)
        batches.append(Batch(pending["x"], sent, dict(pending["links"]), received, rec, ref))
        return rec

    codec.encode, codec.decode, sim.link = spy_encode, spy_decode, spy_link
    try:
        result = sim.run_point(PointKey("c", channel, snr_db))
    finally:
        del codec.encode, codec.decode, sim.link  # the instance attributes: back to the methods
    return SpiedPoint(result, batches)


_SIMS: dict[str, Simulation] = {}
_ERROR_FREE: dict[str, SpiedPoint] = {}


def simulation(case, request) -> Simulation:
    """The case's simulation (cached)."""
    if case.id not in _SIMS:
        _SIMS[case.id] = build(case, request)
    return _SIMS[case.id]


def build(case, request) -> Simulation:
    """A fresh simulation of the case: 3 samples, the error-free and the noisy channel and SNR."""
    return build_simulation(case.type_name, case.params, case.streams, model_base(case.type_name, request),
                            num_samples=SAMPLES, channels=(ERROR_FREE[0], NOISY[0]), snr_db=(NOISY[1], ERROR_FREE[1]),
                            seed=11, name="contract")


def error_free_point(case, request) -> SpiedPoint:
    if case.id not in _ERROR_FREE:
        _ERROR_FREE[case.id] = run_spied(simulation(case, request), *ERROR_FREE)
    return _ERROR_FREE[case.id]


# -- comparing reconstructions --------------------------------------------------------------------

def _leaves(obj, prefix: str = ""):
    """``(path, value)`` of every tensor, string list and number inside a reconstruction."""
    if dataclasses.is_dataclass(obj):
        for f in dataclasses.fields(obj):
            yield from _leaves(getattr(obj, f.name), f"{prefix}{f.name}")
    elif isinstance(obj, dict):
        for k in sorted(obj):
            yield from _leaves(obj[k], f"{prefix}[{k}]")
    elif isinstance(obj, tuple):
        for i, v in enumerate(obj):
            yield from _leaves(v, f"{prefix}[{i}]")
    else:
        yield prefix, obj


def assert_same_reconstruction(got, want, where: str, atol: float = 0.0) -> None:
    """Equal field by field: tensors exactly (NaN equal to NaN), or floating tensors within
    ``atol * max(1, max|want|)`` when ``atol`` > 0; texts and numbers exactly."""
    g, w = dict(_leaves(got)), dict(_leaves(want))
    assert g.keys() == w.keys(), f"{where}: fields {sorted(g)} != {sorted(w)}"
    for path, a in g.items():
        b = w[path]
        if isinstance(a, torch.Tensor):
            a, b = a.detach().cpu(), b.detach().cpu()
            assert (a.shape, a.dtype) == (b.shape, b.dtype), f"{where}: {path}: {a.shape}/{a.dtype} != {b.shape}/{b.dtype}"
            if atol > 0 and a.is_floating_point():
                finite = b[torch.isfinite(b)]
                scale = max(1.0, float(finite.abs().max())) if finite.numel() else 1.0
                torch.testing.assert_close(a, b, rtol=0.0, atol=atol * scale, equal_nan=True,
                                           msg=lambda m: f"{where}: {path}: {m}")
            else:
                assert torch.equal(torch.nan_to_num(a), torch.nan_to_num(b)) and torch.equal(a.isnan(), b.isnan()), \
                    f"{where}: {path} differs in {int((a != b).sum())} of {a.numel()} values"
        else:
            assert a == b, f"{where}: {path}: {a!r} != {b!r}"


def assert_same_result(a: PointResult, b: PointResult, where: str) -> None:
    """Two point results identical in every number they report."""
    assert (a.key, a.seed, a.fingerprint, a.num_samples, a.infeasible) == (b.key, b.seed, b.fingerprint, b.num_samples,
                                                                           b.infeasible), where
    assert a.links == b.links, f"{where}: link counts {a.links} != {b.links}"
    assert a.rates == b.rates, f"{where}: rates {a.rates} != {b.rates}"
    assert a.per_sample.keys() == b.per_sample.keys(), where
    for k in a.per_sample:
        assert np.array_equal(a.per_sample[k], b.per_sample[k], equal_nan=True), f"{where}: per-sample {k} differs"
    assert a.set_metrics == b.set_metrics, where
    assert (a.samples is None) == (b.samples is None), where
    if a.samples is not None:
        assert np.array_equal(a.samples, b.samples, equal_nan=True), f"{where}: sample previews differ"


# -- the contract -----------------------------------------------------------------------------------

@pytest.mark.parametrize("case", _params())
class TestCodecContract:
    """The checks every registered codec passes, in each configuration it declares."""

    def test_an_error_free_link_gives_the_decoders_output_for_what_was_sent(self, case, request):
        point = error_free_point(case, request)
        codec = simulation(case, request).codecs["c"]
        assert point.batches and point.result.num_samples == SAMPLES
        eps = torch.finfo(torch.float32).eps
        analog = False
        for i, b in enumerate(point.batches):
            for name, payload in b.sent.items():
                where = f"{case.id} batch {i} stream {name}"
                got = b.received[name].detach().cpu()
                if isinstance(payload, DigitalPayload):
                    _, out = b.links[name]
                    errors = (int(out.bit_errors.sum()), int(out.block_errors.sum()))
                    assert errors == (0, 0), f"{where}: {errors[0]} bit errors, {errors[1]} block errors at {ERROR_FREE}"
                    sent = payload.bits.detach().cpu()
                    assert got.shape == sent.shape, where
                    lengths = [sent.shape[1]] * len(sent) if payload.lengths is None else payload.lengths.tolist()
                    for s, n in enumerate(lengths):
                        assert torch.equal(got[s, :n], sent[s, :n]), f"{where}: sample {s}: bits differ within its {n} bits"
                else:
                    analog = True
                    sent = payload.values.detach().cpu().float()
                    assert got.shape == sent.shape, where
                    rms = sent.flatten(1).square().mean(dim=1).sqrt()
                    err = (got.float() - sent).flatten(1).abs().amax(dim=1)
                    bound = ANALOG_VALUE_ULPS * eps * rms
                    assert bool((err <= bound).all()), f"{where}: received values off by {err.tolist()} > {bound.tolist()}"
            assert_same_reconstruction(b.rec, b.ref, case.id, atol=ANALOG_OUTPUT_ATOL if analog else 0.0)
        # what the run reports is the decoder's output for what was sent
        ref = torch.cat([codec.preview(b.ref).detach().float().cpu() for b in point.batches])
        ref = ref[: len(point.result.samples)]
        if analog:
            np.testing.assert_allclose(point.result.samples, ref.numpy(), rtol=0, atol=ANALOG_OUTPUT_ATOL)
        else:
            assert np.array_equal(point.result.samples, ref.numpy(), equal_nan=True), f"{case.id}: reported previews"

    def test_payload_bits_and_channel_uses_are_what_the_links_carried(self, case, request):
        point = error_free_point(case, request)
        codec = simulation(case, request).codecs["c"]
        declared = codec.payload_bits()
        digital = {n for n, t in codec.transports.items() if t.path == "digital"}
        if declared is not None:
            assert set(declared) <= digital, f"{case.id}: payload_bits() names non-digital streams {set(declared) - digital}"
        per_sample = point.result.per_sample
        totals = []
        for b in point.batches:
            total = torch.zeros(len(b.x), dtype=torch.int64)
            assert set(b.links) == set(b.sent), f"{case.id}: streams sent {set(b.sent)}, carried {set(b.links)}"
            for name, payload in b.sent.items():
                transport, out = b.links[name]
                assert transport == codec.transports[name], name
                uses = out.channel_uses.cpu()
                if isinstance(payload, DigitalPayload):
                    bits = (payload.lengths.cpu() if payload.lengths is not None
                            else torch.full((len(uses),), payload.bits.shape[1]))
                    assert out.num_bits.cpu().tolist() == bits.tolist(), f"{case.id} {name}: bits carried"
                    if declared is not None:
                        assert name in declared, f"{case.id}: payload_bits() has no '{name}' but the codec sent it"
                        assert bits.tolist() == [declared[name]] * len(bits), \
                            f"{case.id} {name}: payload_bits() says {declared[name]}, the link carried {bits.tolist()}"
                    want = [codec.context.channel_uses(name, int(n)) for n in bits]
                else:
                    values = payload.values[0].numel()
                    if codec.analog_values(name) is not None:
                        assert codec.analog_values(name) == values, f"{case.id} {name}: analog_values()"
                    want = [codec.context.channel_uses(name, values)] * len(uses)
                assert uses.tolist() == want, \
                    f"{case.id} {name}: the link used {uses.tolist()} REs, the codec's context says {want}"
                total += uses
            assert torch.equal(required_channel_uses(codec, b.sent), total), f"{case.id}: required_channel_uses"
            totals.append(total)
        assert np.array_equal(per_sample["channel_uses"], torch.cat(totals).numpy()), f"{case.id}: reported channel_uses"
        for name in {n for b in point.batches for n, p in b.sent.items() if isinstance(p, DigitalPayload)}:
            carried = torch.cat([b.links[name][1].num_bits.cpu() for b in point.batches])
            assert np.array_equal(per_sample[f"payload_bits/{name}"], carried.numpy()), \
                f"{case.id}: reported payload_bits/{name}"

    def test_reconstructions_have_the_inputs_shape_and_previews_are_images(self, case, request):
        sim = simulation(case, request)
        codec = sim.codecs["c"]
        x = first_batch(sim, SAMPLES)
        sent = codec.encode(x)
        rec = codec.decode(_channel_free(sent), sent)
        if isinstance(x, torch.Tensor):
            assert rec.x_hat.shape == x.shape and rec.x_hat.is_floating_point(), (rec.x_hat.shape, x.shape)
        else:  # multimodal: every modality in its input's shape
            assert rec.frames.shape == x.frames.shape and rec.audio.shape == x.audio.shape
            assert rec.tokens.shape == x.tokens.shape and len(rec.captions) == len(x)
        preview = codec.preview(rec)
        assert preview.dim() == 4 and preview.shape[0] == SAMPLES and preview.shape[1] in (1, 3), preview.shape
        assert preview.is_floating_point() and bool(torch.isfinite(preview).all())
        assert float(preview.min()) >= 0.0 and float(preview.max()) <= 1.0, (float(preview.min()), float(preview.max()))

    def test_the_same_point_gives_the_same_numbers(self, case, request):
        sim = simulation(case, request)
        key = PointKey("c", *NOISY)
        first, again = sim.run_point(key), sim.run_point(key)
        assert_same_result(first, again, f"{case.id}: same simulation, run twice")
        rebuilt = build(case, request).run_point(key)
        assert_same_result(first, rebuilt, f"{case.id}: a second simulation of the same scenario")

    def test_the_decoder_survives_fuzzed_payloads(self, case, request):
        sim = simulation(case, request)
        codec, x = sim.codecs["c"], first_batch(sim, SAMPLES)

        @settings(max_examples=FUZZ_EXAMPLES, deadline=None, database=None, suppress_health_check=list(HealthCheck))
        @given(fuzz=st.data(), seed=st.integers(0, 2**31 - 1))
        def fuzz(fuzz, seed):
            fuzz_decode(codec, x, fuzz, seed, case.id)

        fuzz()
