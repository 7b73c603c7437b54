"""``caption_latent`` at the codec level: the latent across the PHY, non-finite floats, damaged captions."""

from __future__ import annotations

import math

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from linksim.codecs.caption_latent.models import latent_diffusion
from linksim.runner import Simulation
from linksim.scenario import load_scenario

from test_caption_latent_run import SIZE, write_scenario


@pytest.fixture(scope="module")
def sim(tiny_models, tmp_path_factory):
    path = write_scenario(tmp_path_factory.mktemp("cl_codec") / "s.yaml", tiny_models)
    return Simulation.build(load_scenario(path), device=torch.device("cpu"))


def _send(sim, codec_name, stream, bits, snr_db, channel="awgn"):
    codec = sim.codecs[codec_name]
    t = codec.transports[stream]
    return sim.link(channel, t)(bits, sim.noise(snr_db, t)).bits


@pytest.mark.slow
def test_at_very_high_snr_the_latent_arrives_bit_exactly(sim):
    codec = sim.codecs["text-latent"]
    x = sim.dataset.images[:2]
    sent = codec.encode(x)
    z = latent_diffusion(codec.params.pipeline, sim.device).encode(x)
    for channel in sim.channels:
        got = _send(sim, "text-latent", "latent", sent["latent"].bits, 80.0, channel)
        assert torch.equal(got, sent["latent"].bits)
        decoded = codec._latent.from_bits(got, codec.latent_shape).values
        assert decoded.dtype == torch.float64 and torch.equal(decoded, z.double())


@pytest.mark.slow
@pytest.mark.parametrize("policy", ["keep", "zero", "clamp"])
def test_at_low_snr_uncoded_floats_go_non_finite_and_the_policy_handles_them(tiny_models, tmp_path, policy):
    path = write_scenario(tmp_path / "s.yaml", tiny_models, size=32)
    text = path.read_text().replace(
        "    params: {mode: latent, pipeline: " + str(tiny_models.sd) + ", strength: 0.0}",
        "    params: {mode: latent, pipeline: " + str(tiny_models.sd) + ", strength: 0.0, latent_range: [-3, 3]}\n"
        f"    streams: {{latent: {{nonfinite: {policy}}}}}")
    assert f"nonfinite: {policy}" in text
    path.write_text(text)
    sim = Simulation.build(load_scenario(path), device=torch.device("cpu"))
    codec = sim.codecs["latent-vae"]
    sent = codec.encode(sim.dataset.images[:2])
    got = _send(sim, "latent-vae", "latent", sent["latent"].bits, 0.0)
    values = codec._latent.from_bits(got, codec.latent_shape)
    # float64, MSB-first: an exponent whose 11 bits all end up set is inf/NaN (unit-variance latents, 0 dB: BER ~ 0.28,
    # about 0.6% of the values)
    assert int(values.nonfinite.sum()) > 0
    rec = codec.decode({"latent": got}, sent)
    events, trials = rec.rates["nonfinite_rate"]
    # finite float64 values beyond float32 count too (they overflow in the models' dtype)
    assert (events >= values.nonfinite).all() and int(trials[0]) == math.prod(codec.latent_shape)
    if policy == "keep":
        assert not torch.isfinite(values.values).all()
    else:
        assert torch.isfinite(values.values).all()
    if policy == "clamp":  # the default: also bounds the huge finite values an exponent error makes
        assert values.values.abs().max() <= 3 and torch.isfinite(rec.x_hat).all()


@pytest.mark.slow
@pytest.mark.parametrize("pattern", ["ones", "zeros", "random", "controls"])
def test_a_corrupted_caption_never_crashes_the_receiver(sim, pattern):
    codec = sim.codecs["text"]
    sent = codec.encode(sim.dataset.images[:2])
    n = sent["caption"].bits.shape[1]
    gen = torch.Generator().manual_seed(1)
    bits = {
        "ones": torch.ones(2, n),  # every byte 0xFF
        "zeros": torch.zeros(2, n),  # an empty caption
        "random": torch.randint(0, 2, (2, n), generator=gen).float(),
        # bytes 0..31 and 127..255 (controls, DEL, non-ASCII): everything the sender never sends
        "controls": torch.tensor([[b >> (7 - i) & 1 for b in list(range(1, 32)) + list(range(127, 173)) for i in
                                   range(8)]] * 2, dtype=torch.float32),
    }[pattern]
    rec = codec.decode({"caption": bits}, sent)
    assert rec.x_hat.shape == (2, 3, SIZE, SIZE) and torch.isfinite(rec.x_hat).all()
    for text in rec.texts["received"]:
        assert all(c == "\t" or c == "\n" or c == "\r" or 32 <= ord(c) < 127 for c in text)
    replaced, _ = rec.rates["caption_replaced_rate"]
    if pattern in ("ones", "controls"):
        assert int(replaced.min()) > 0


def test_modes_decide_the_streams(sim):
    assert set(sim.codecs["text-latent"].transports) == {"caption", "latent"}
    assert set(sim.codecs["text"].transports) == {"caption"}
    assert set(sim.codecs["latent-vae"].transports) == {"latent"}
    assert sim.codecs["latent-diffused"].payload_bits() == {}  # analog latent: no bits
    table = {r["name"]: r for r in sim.codecs["text-latent"].payload_table()}
    assert table["whole image"]["bits"] == 64 * 3 * SIZE * SIZE
    assert table["text + latent"]["bits"] == 616 + 64 * 4 * (SIZE // 2) ** 2


def test_paper_table_1_for_512x512(tmp_path):
    """Sizes of Table 1 for a 512x512 image with SD v1's geometry (in bits; the paper's
    'Bytes' column holds bits for the text row and bytes for the others)."""
    from linksim.codecs import CodecContext, codec_class

    cls = codec_class("caption_latent")
    params = cls.Params(pipeline=str(tmp_path / "not-downloaded"))  # geometry falls back to SD v1
    codec = cls(params, cls.resolve_transports({}), CodecContext(device=torch.device("cpu"), sample_shape=(3, 512, 512)))
    table = {r["name"]: r["bits"] for r in codec.payload_table()}
    assert table == {"whole image": 50_331_648, "text only": 616, "latent only": 1_048_576,
                     "text + latent": 1_049_192}
    assert codec.latent_shape == (4, 64, 64)


@settings(max_examples=60, deadline=None)
@given(raw=st.binary(min_size=77, max_size=77))
def test_any_received_caption_bytes_reach_the_text_encoder(tiny_sd_text, raw):
    """Whatever 77 bytes arrive, the decoded caption tokenizes and encodes to CLIP embeddings."""
    import numpy as np

    from linksim.phy.payload import TextPayload

    bits = torch.from_numpy(np.unpackbits(np.frombuffer(raw, dtype=np.uint8))).float()[None]
    text = TextPayload("ascii", 77).from_bits(bits).texts
    embeds, _ = tiny_sd_text.encode_prompt(text, torch.device("cpu"), 1, False)
    assert embeds.shape[:2] == (1, 77) and torch.isfinite(embeds).all()


@pytest.fixture(scope="module")
def tiny_sd_text(tiny_models):
    return latent_diffusion(str(tiny_models.sd), torch.device("cpu")).img2img
