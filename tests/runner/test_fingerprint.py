"""A point's fingerprint changes exactly when something that determines its numbers changes."""

from __future__ import annotations

from linksim.runner import Simulation
from linksim.scenario import validate_scenario

BASE = {
    "name": "fp", "seed": 1, "device": "cpu",
    "data": {"source": "digits28", "num_samples": 4, "batch_size": 4},
    "channels": [{"model": "awgn"}], "sweep": {"snr_db": [10]},
    "codecs": [{"name": "raw", "type": "raw", "streams": {"data": {"dtype": "uint8"}}}],
    "metrics": ["ber", "mse"],
}


def _fingerprint(**changes) -> str:
    sim = Simulation.build(validate_scenario({**BASE, **changes}))
    return sim.fingerprint(sim.points()[0])


def test_fingerprint_follows_what_determines_the_numbers():
    base = _fingerprint()
    assert _fingerprint() == base
    assert _fingerprint(seed=2) != base
    assert _fingerprint(metrics=["ber", "mse", "psnr"]) != base
    # the models behind learned metrics decide their values
    assert _fingerprint(metric_models={"clip": "openai/clip-vit-large-patch14"}) != base
    # a plot grouping does not
    assert _fingerprint(codecs=[{**BASE["codecs"][0], "series": "uint"}]) == base
