"""The ``deepjscc`` codec and its models: the exact bandwidth ratio, the power the analog link
expects, ADJSCC's use of the SNR (the point's at the transmitter, the receiver CSI's at the
receiver), gradients through the real analog link, and weights that round-trip.

Codecs are built by class reference, which works whether or not the checkout's entry points
are installed."""

from __future__ import annotations

import math
from types import SimpleNamespace

import pytest
import torch

import linksim
from linksim.codecs.deepjscc.models import (
    DeepJSCCConfig,
    DeepJSCCModel,
    channels_for_ratio,
    load_deepjscc_model,
    save_deepjscc_model,
)
from linksim.codecs.deepjscc.training import _step
from linksim.codecs.training import analog_link
from linksim.errors import ScenarioError

REF = "linksim.codecs.deepjscc.codec:DeepJSCCCodec"


def _codec(params=None, shape=(1, 28, 28), **kw):
    return linksim.build_codec(REF, {"weights": "random", **(params or {})}, sample_shape=shape, **kw)


class CSIStreams(dict):
    """What the runner hands a decoder once receiver CSI is part of the face: a dict plus ``csi``."""

    def __init__(self, values, csi):
        super().__init__(values)
        self.csi = csi


@pytest.mark.parametrize(("shape", "ratio", "c", "k"), [
    ((1, 28, 28), "1/6", 5, 123),      # 5*7*7 = 245 reals -> 123 symbols: 123/784 = 0.157 (1/6.37)
    ((1, 28, 28), "1/12", 3, 74),      # 147 reals -> 74 symbols: 74/784 = 0.0944
    ((3, 32, 32), "1/6", 16, 512),     # the paper's CIFAR-10 ratios, exact
    ((3, 32, 32), 1 / 12, 8, 256),
    ((3, 64, 64), "1/6", 16, 2048),
])
def test_shapes_and_the_exact_bandwidth_ratio(shape, ratio, c, k):
    codec = _codec({"bandwidth_ratio": ratio}, shape)
    n = math.prod(shape)
    assert codec.config.c == c and codec.config.k == k and codec.bandwidth_ratio == k / n
    assert codec.analog_values("z") == c * (shape[1] // 4) * (shape[2] // 4)
    assert codec.context.channel_uses("z", codec.analog_values("z")) == k
    x = torch.rand(3, *shape)
    sent = codec.encode(x)
    assert sent["z"].values.shape == (3, c, shape[1] // 4, shape[2] // 4)
    rec = codec.decode({"z": sent["z"].values}, sent)
    assert rec.x_hat.shape == x.shape and float(rec.x_hat.min()) >= 0 and float(rec.x_hat.max()) <= 1


def test_an_unachievable_ratio_or_shape_is_one_clear_line():
    with pytest.raises(ValueError, match="params.bandwidth_ratio: .*not achievable for 1x28x28.*nearest: c = 1: 25/784"):
        _codec({"bandwidth_ratio": "1/40"})
    with pytest.raises(ScenarioError, match="bandwidth_ratio"):
        _codec({"bandwidth_ratio": "one sixth"})
    with pytest.raises(ValueError, match="divisible by 4"):
        _codec({}, (3, 30, 30))
    with pytest.raises(ScenarioError, match="analog only"):
        _codec({}, streams={"z": {"path": "digital"}})


def test_the_symbols_have_the_average_power_the_link_expects():
    """Energy k per image over k complex symbols (an odd count's padding zero included), so
    that the analog link's per-sample scale is 1 and nothing is normalised twice."""
    for shape in [(1, 28, 28), (3, 32, 32)]:
        codec = _codec({}, shape)
        z = codec.encode(torch.rand(4, *shape))["z"].values.flatten(1)
        padded = torch.nn.functional.pad(z, (0, z.shape[1] % 2))
        power = 2.0 * padded.square().mean(dim=1)  # what the AnalogLink computes as mean |z|^2
        torch.testing.assert_close(power, torch.ones(4), rtol=1e-5, atol=0)
        assert padded.shape[1] // 2 == codec.config.k


def test_adjscc_uses_the_snr_and_deepjscc_ignores_it():
    x = torch.rand(2, 1, 28, 28)
    for variant, adaptive in [("adjscc", True), ("deepjscc", False)]:
        codec = _codec({"variant": variant})
        codec.start_point(0.0)
        low = codec.encode(x)
        rec_low = codec.decode({"z": low["z"].values}, low)
        codec.start_point(20.0)
        high = codec.encode(x)
        rec_high = codec.decode({"z": low["z"].values}, low)  # same values, other receiver SNR
        assert (not torch.equal(low["z"].values, high["z"].values)) == adaptive, variant
        assert (not torch.equal(rec_low.x_hat, rec_high.x_hat)) == adaptive, variant


def test_the_adjscc_receiver_takes_the_effective_snr_from_the_csi():
    codec = _codec({"variant": "adjscc"})
    codec.start_point(10.0)
    sent = codec.encode(torch.rand(2, 1, 28, 28))
    z = sent["z"].values
    plain = codec.receiver_snr_db({"z": z}, 2)
    assert plain.tolist() == [10.0, 10.0]  # no CSI: the point's SNR
    no_eff = torch.stack([torch.full(z.shape[1:], 0.1), torch.full(z.shape[1:], 1.0)])  # 10 dB and 0 dB
    with_csi = CSIStreams({"z": z}, {"z": SimpleNamespace(snr_db=torch.tensor([10.0, 10.0]), no_eff=no_eff)})
    torch.testing.assert_close(codec.receiver_snr_db(with_csi, 2), torch.tensor([10.0, 0.0]))
    only_snr = CSIStreams({"z": z}, {"z": SimpleNamespace(snr_db=torch.tensor([3.0, 4.0]), no_eff=None)})
    assert codec.receiver_snr_db(only_snr, 2).tolist() == [3.0, 4.0]
    broken = CSIStreams({"z": z}, {"z": SimpleNamespace(snr_db=None, no_eff=torch.stack(
        [torch.full(z.shape[1:], math.nan), torch.zeros(z.shape[1:])]))})
    assert codec.receiver_snr_db(broken, 2).tolist() == [10.0, 60.0]  # NaN: the point's; no noise: clipped
    a = codec.decode({"z": z}, sent).x_hat
    b = codec.decode(with_csi, sent).x_hat
    torch.testing.assert_close(a[0], b[0], rtol=0, atol=1e-6)  # sample 0: 10 dB either way
    assert float((a[1] - b[1]).abs().max()) > 1e-4  # sample 1 decoded for 0 dB


def test_damaged_and_wrong_size_payloads():
    codec = _codec()
    sent = codec.encode(torch.rand(2, 1, 28, 28))
    z = sent["z"].values.clone()
    z[0, 0, 0, :3] = torch.tensor([math.nan, math.inf, -math.inf])
    rec = codec.decode({"z": z * 1e30}, sent)
    assert bool(torch.isfinite(rec.x_hat).all())
    assert rec.rates["nonfinite_rate"][0].tolist() == [3, 0] and rec.rates["nonfinite_rate"][1].tolist() == [245, 245]
    with pytest.raises(ValueError, match="expected 245 analog values"):
        codec.decode({"z": z.flatten(1)[:, :-1]}, sent)


@pytest.mark.parametrize("variant", ["deepjscc", "adjscc"])
def test_gradients_reach_every_parameter_through_the_analog_link(variant):
    torch.manual_seed(0)
    model = DeepJSCCModel(DeepJSCCConfig(variant=variant, image_shape=(1, 28, 28), c=5, filters=(4, 8), af_hidden=4))
    loss = _step(model, analog_link("rayleigh", equalizer="mmse"), torch.rand(3, 1, 28, 28), 5.0)
    loss.backward()
    missing = [n for n, p in model.named_parameters() if p.grad is None or not bool(p.grad.abs().sum() > 0)]
    assert not missing, missing


@pytest.mark.parametrize("half", [False, True])
def test_weights_round_trip_into_the_codec(tmp_path, half):
    torch.manual_seed(1)
    model = DeepJSCCModel(DeepJSCCConfig(variant="adjscc", image_shape=(3, 32, 32), c=8, filters=(8, 8), af_hidden=4))
    if half:  # what a float16 file holds is what the codec must reproduce
        model.load_state_dict({k: v.half().float() for k, v in model.state_dict().items()})
    path = save_deepjscc_model(model, tmp_path / "w.safetensors", half=half, extra={"snr_db": [0, 20]})
    loaded, extra = load_deepjscc_model(path)
    assert extra == {"snr_db": [0, 20]} and loaded.config == model.config
    codec = linksim.build_codec(REF, {"weights": str(path), "bandwidth_ratio": "1/12"}, sample_shape=(3, 32, 32))
    assert codec.config.variant == "adjscc"
    codec.start_point(7.0)
    x = torch.rand(2, 3, 32, 32)
    sent = codec.encode(x)
    model.eval()
    with torch.no_grad():
        z = model.encode(x, 7.0)
        torch.testing.assert_close(sent["z"].values, z, rtol=0, atol=1e-6)
        torch.testing.assert_close(codec.decode({"z": z}, sent).x_hat, model.decode(z, 7.0), rtol=0, atol=1e-6)
    with pytest.raises(ValueError, match="bandwidth_ratio"):
        linksim.build_codec(REF, {"weights": str(path), "bandwidth_ratio": "1/6"}, sample_shape=(3, 32, 32))
    with pytest.raises(ValueError, match="variant"):
        linksim.build_codec(REF, {"weights": str(path), "variant": "deepjscc"}, sample_shape=(3, 32, 32))
    with pytest.raises(ValueError, match="for images"):
        linksim.build_codec(REF, {"weights": str(path)}, sample_shape=(3, 64, 64))


def test_an_unknown_shipped_name_lists_the_shipped_ones():
    with pytest.raises(ScenarioError, match="no shipped deepjscc weights named 'nope'"):
        _codec({"weights": "nope"})


def test_channels_for_ratio_picks_the_nearest():
    assert channels_for_ratio(1 / 6, (3, 32, 32)) == 16 and channels_for_ratio(1 / 6, (1, 28, 28)) == 5


def test_in_a_run_the_adjscc_decoder_gets_each_samples_effective_snr():
    """Through the runner: the stream goes through the unbiased receiver, the receiver CSI arrives with it, and
    on block fading each sample is decoded for its own effective SNR (on AWGN: the point's)."""
    from codec_cases import build_simulation

    from linksim.results import PointKey

    sim = build_simulation(REF, {"variant": "adjscc", "weights": "random"}, {}, num_samples=6,
                           channels=("awgn", "rayleigh"), snr_db=(10.0,))
    codec = sim.codecs["c"]
    assert codec.transports["z"].analog_equalizer == "unbiased"
    seen = {}
    decode = codec.decode

    def spy(received, sent):
        seen["snr"] = codec.receiver_snr_db(received, len(received["z"]))
        seen["csi"] = received.csi["z"]
        return decode(received, sent)

    codec.decode = spy
    try:
        sim.run_point(PointKey("c", "awgn", 10.0))
        assert seen["csi"].no_eff.shape == seen["csi"].no_eff.shape[:1] + (5, 7, 7)
        torch.testing.assert_close(seen["snr"], torch.full((6,), 10.0), rtol=0, atol=0.05)
        sim.run_point(PointKey("c", "rayleigh", 10.0))
        assert float(seen["snr"].std()) > 1.0  # one fade per sample (slot)
    finally:
        del codec.decode


def test_weights_trained_through_another_receiver_are_refused(tmp_path):
    """A decoder sees another scale through the other equaliser: one line naming the fix."""
    model = DeepJSCCModel(DeepJSCCConfig(image_shape=(1, 28, 28), c=5))
    path = save_deepjscc_model(model, tmp_path / "w.safetensors", extra={"analog_equalizer": "mmse"})
    with pytest.raises((ValueError, ScenarioError), match="trained with analog_equalizer mmse.*streams.z.analog_equalizer"):
        linksim.build_codec(REF, {"weights": str(path)}, sample_shape=(1, 28, 28))
    codec = linksim.build_codec(REF, {"weights": str(path)}, sample_shape=(1, 28, 28),
                                streams={"z": {"analog_equalizer": "mmse"}})
    assert codec.transports["z"].analog_equalizer == "mmse"
