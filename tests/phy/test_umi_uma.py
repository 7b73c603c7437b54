"""The ``umi`` / ``uma`` channel models: Sionna TR 38.901 fading with path loss off, unit average gain."""

from __future__ import annotations

import pytest
import sionna
import torch

from linksim.metrics.intervals import t_interval
from linksim.phy.channels import CHANNELS, build_channel, channel_class
from linksim.phy.ofdm import OFDMGrid
from linksim.phy.transceiver import OFDMTransceiver

CASES = [(m, los, d) for m in ("umi", "uma") for los in (True, False) for d in (20.0, 400.0)]
FAMILY_ALPHA = 1e-3
NUM_SLOTS = 250


@pytest.fixture(scope="module")
def grid():
    return OFDMGrid(72, 14, 30e3, 6, [2, 11])


def test_registered():
    assert {"umi", "uma"} <= set(CHANNELS)


@pytest.mark.parametrize(("model", "los", "distance"), CASES)
def test_unit_average_gain(grid, model, los, distance):
    """Path loss and shadowing are off: E|h|^2 = 1 (t-interval over independent slots, Bonferroni)."""
    sionna.phy.config.seed = 99
    ch = build_channel(channel_class(model).Params(model=model, los=los), grid)
    h = ch.frequency_response(NUM_SLOTS, distance_m=distance)
    assert h.shape == (NUM_SLOTS, 1, 1, 1, 1, 14, 72)
    gain = h.abs().square().mean(dim=(1, 2, 3, 4, 5, 6)).double().numpy()
    mean, lo, hi = t_interval(gain, 1 - FAMILY_ALPHA / len(CASES))
    assert lo <= 1.0 <= hi, f"{model} los={los} d={distance}: E|h|^2 = {mean:.3f} [{lo:.3f}, {hi:.3f}]"


def test_batch_size_may_change_between_calls(grid):
    """Sionna's topology is tied to a batch size; the model resets it when the slot count changes."""
    ch = build_channel(channel_class("umi").Params(model="umi"), grid)
    assert ch.frequency_response(3, distance_m=50.0).shape[0] == 3
    assert ch.frequency_response(5, distance_m=80.0).shape[0] == 5
    assert ch.frequency_response(5).shape[0] == 5  # no distance: the entry's own distance_m


def test_transceiver_uses_the_point_distance(grid):
    ch = build_channel(channel_class("uma").Params(model="uma", los=True), grid)
    ch.point_distance_m = 150.0
    trx = OFDMTransceiver(grid, ch)
    x = torch.ones(2, 1000, dtype=torch.complex64)
    x_hat, _ = trx(x, 1e-4)
    assert x_hat.shape == (2, 1000)
    assert float((x_hat - x).abs().square().mean()) < 0.05
