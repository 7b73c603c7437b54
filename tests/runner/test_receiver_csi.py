"""The runner hands every decoder what its receiver knows (``ReceivedStreams.csi``), and a
stream's ``analog_equalizer`` reaches its link."""

from __future__ import annotations

import math

import pytest
import torch

from codec_cases import build_simulation
from linksim.codecs import ReceivedStreams, ReceiverCSI
from linksim.results import PointKey
from linksim.runner.point import simulate_point


def _capture(sim):
    codec = sim.codecs["c"]
    seen = []
    decode = codec.decode

    def spy(received, sent):
        seen.append(received)
        return decode(received, sent)

    codec.decode = spy
    return seen


@pytest.mark.parametrize("equalizer", ["unbiased", "mmse"])
def test_analog_decoder_gets_snr_and_per_value_no_eff(equalizer):
    sim = build_simulation("raw", {}, {"data": {"path": "analog", "analog_equalizer": equalizer}},
                           num_samples=4, channels=("rayleigh",), snr_db=(10.0,))
    seen = _capture(sim)
    simulate_point(sim, PointKey("c", sim.points()[0].channel, 10.0))
    received = seen[0]
    assert isinstance(received, ReceivedStreams) and set(received.csi) == {"data"}
    csi = received.csi["data"]
    assert isinstance(csi, ReceiverCSI)
    assert torch.allclose(csi.snr_db, torch.full((4,), 10.0))
    assert csi.no_eff.shape == received["data"].shape
    # perfect CSI on block fading: N0/|h|^2 is one value per sample (one slot)
    per_sample = csi.no_eff.reshape(4, -1)
    assert torch.allclose(per_sample, per_sample[:, :1].expand_as(per_sample))
    link = next(iter(sim._links.values()))
    assert link.equalizer == equalizer


def test_digital_decoder_gets_snr_only():
    sim = build_simulation("raw", {}, {"data": {"path": "digital", "dtype": "uint8"}},
                           num_samples=2, snr_db=(5.0,))
    seen = _capture(sim)
    simulate_point(sim, PointKey("c", sim.points()[0].channel, 5.0))
    csi = seen[0].csi["data"]
    assert csi.no_eff is None
    assert math.isclose(float(csi.snr_db[0]), 5.0, rel_tol=1e-6)


def test_equalizer_is_part_of_the_point_fingerprint():
    a = build_simulation("raw", {}, {"data": {"path": "analog"}}, num_samples=2)
    b = build_simulation("raw", {}, {"data": {"path": "analog", "analog_equalizer": "mmse"}}, num_samples=2)
    assert a.fingerprint(a.points()[0]) != b.fingerprint(b.points()[0])


def test_equalizer_on_a_digital_stream_is_refused():
    from linksim.errors import ScenarioError

    with pytest.raises((ScenarioError, ValueError), match="analog_equalizer"):
        build_simulation("raw", {}, {"data": {"path": "digital", "analog_equalizer": "mmse"}}, num_samples=2)


def test_resolved_transports_are_stored_with_the_point():
    from linksim.runner.fingerprint import point_parts

    sim = build_simulation("raw", {}, {"data": {"path": "analog", "analog_equalizer": "mmse"}}, num_samples=2)
    parts = point_parts(sim, sim.points()[0])
    assert parts["transports.data.analog_equalizer"] == "mmse"
    assert parts["transports.data.path"] == "analog"
