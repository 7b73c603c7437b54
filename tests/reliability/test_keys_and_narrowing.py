"""A sweep point has one identity, and a rerun never deletes a finished point (issue 14).

- ``snr_db: [-0.0]`` is the point ``snr_db: [0]``: same group in results.h5, same seed,
  resumed rather than deleted (``-0.0 == 0.0`` while ``repr`` told them apart);
- key values are normalised once, at the schema: floats, ``-0.0`` -> ``0.0``;
- narrowing the sweep keeps the points it no longer asks for in results.h5 (reported
  only when asked for again), and says so in one line.
"""

from __future__ import annotations

import hashlib
import math
from pathlib import Path

import h5py
import pytest

from linksim.cli import main
from linksim.results import PointKey
from linksim.runner.simulation import point_seed
from linksim.scenario import validate_scenario

SCENARIO = """
name: keys
seed: 3
data: {{source: digits28, num_samples: 4, batch_size: 4, image_size: 8}}
phy:
  ofdm: {{fft_size: 24, num_ofdm_symbols: 14, subcarrier_spacing_hz: 30.0e3, cyclic_prefix_length: 2,
         pilot_ofdm_symbol_indices: [2, 11]}}
channels: [{{model: awgn}}]
sweep: {{snr_db: {snr}}}
codecs:
  - name: raw
    type: raw
    streams: {{data: {{dtype: float16, modulation: qpsk, code_rate: 1.0}}}}
metrics: [ber, mse]
"""

# point_seed(3, raw | awgn | 0 dB) as computed before key normalisation (snr_db: [0] -> 0.0):
# the seeds of existing points must not change
SEED_AT_0_DB = 6557682112210475099


def _run(tmp_path: Path, snr: str, out: Path, capsys) -> str:
    path = tmp_path / "s.yaml"
    path.write_text(SCENARIO.format(snr=snr))
    capsys.readouterr()
    assert main(["run", str(path), "--out", str(out), "--quiet"]) == 0
    return capsys.readouterr().out


def _points(out: Path) -> dict[str, float]:
    with h5py.File(out / "results.h5", "r") as f:
        return {name: float(g.attrs["snr_db"]) for name, g in f["points"].items()}


def _raw(snr) -> dict:
    import yaml

    raw = yaml.safe_load(SCENARIO.format(snr="[0]"))
    raw["sweep"]["snr_db"] = snr
    return raw


def test_negative_zero_is_the_point_zero_and_is_resumed_not_deleted(tmp_path, capsys):
    out = tmp_path / "out"
    _run(tmp_path, "[0]", out, capsys)
    before = (out / "results.csv").read_text()
    points = _points(out)
    assert len(points) == 1

    printed = _run(tmp_path, "[-0.0]", out, capsys)
    assert "0 points simulated, 1 resumed" in printed
    assert _points(out) == points  # the finished point is still there, under the same group
    assert (out / "results.csv").read_text() == before


@pytest.mark.parametrize("snr, expected", [
    ([-0.0], [0.0]),
    ([0, 10, 5], [0.0, 10.0, 5.0]),
    ([1e1, -2.5], [10.0, -2.5]),
    ({"start": -0.0, "stop": 1.0, "step": 0.5}, [0.0, 0.5, 1.0]),
    ({"start": -1, "stop": 1, "step": 1}, [-1.0, 0.0, 1.0]),
])
def test_sweep_values_are_normalised_at_the_schema(snr, expected):
    sweep = validate_scenario(_raw(snr)).sweep
    points = sweep.snr_points()
    assert points == expected
    assert all(type(x) is float and math.copysign(1.0, x) == math.copysign(1.0, e) for x, e in zip(points, expected))
    # the list as stored in the scenario (and written to scenario.yaml / results.h5) is normalised too
    if isinstance(sweep.snr_db, list):
        assert all(type(x) is float and repr(x) == repr(e) for x, e in zip(sweep.snr_db, expected))


def test_distances_are_floats():
    raw = _raw([0])
    raw["sweep"] = {"distance_m": [10, 1e2]}
    raw["link_budget"] = {"tx_power_dbm": 23, "carrier_frequency_hz": 3.5e9, "bandwidth_hz": 20e6,
                          "pathloss": {"model": "umi", "los": False}}
    sc = validate_scenario(raw)
    assert [type(d) for d in sc.sweep.distance_m] == [float, float]
    assert [repr(d) for d in sc.sweep.distance_points()] == ["10.0", "100.0"]


def test_a_point_key_has_one_identity():
    zero, minus = PointKey("raw", "awgn", 0.0), PointKey("raw", "awgn", -0.0)
    assert repr(minus.snr_db) == "0.0"
    assert minus.group_name() == zero.group_name()
    assert point_seed(3, minus) == point_seed(3, zero) == SEED_AT_0_DB  # existing seeds unchanged
    assert PointKey("raw", "awgn", 10).group_name() == PointKey("raw", "awgn", 10.0).group_name()
    assert repr(PointKey("raw", "awgn", 10).snr_db) == "10.0"


def test_narrowing_the_sweep_keeps_the_points_it_no_longer_asks_for(tmp_path, capsys):
    wide = tmp_path / "wide"
    _run(tmp_path, "[0, 10]", wide, capsys)
    wide_csv = (wide / "results.csv").read_text()
    narrow_alone = tmp_path / "narrow"
    _run(tmp_path, "[0]", narrow_alone, capsys)

    with pytest.warns(RuntimeWarning, match=r"^1 point kept in results.h5 that this scenario does not ask for"):
        printed = _run(tmp_path, "[0]", wide, capsys)
    assert "0 points simulated, 1 resumed" in printed
    assert sorted(_points(wide).values()) == [0.0, 10.0]  # nothing deleted
    # reported: only what the scenario asks for, byte for byte as a run of that scenario alone
    assert (wide / "results.csv").read_text() == (narrow_alone / "results.csv").read_text()

    # widening again resumes both points: nothing is simulated twice
    printed = _run(tmp_path, "[0, 10]", wide, capsys)
    assert "0 points simulated, 2 resumed" in printed
    assert (wide / "results.csv").read_text() == wide_csv


def test_a_point_an_older_linksim_stored_as_negative_zero_is_simulated_again(tmp_path, capsys):
    """An older linksim ran ``[-0.0]`` as a point of its own (its own group name and seed): its
    numbers are not those of the seed of 0 dB, so it is simulated again, not reported."""
    out = tmp_path / "out"
    _run(tmp_path, "[0]", out, capsys)
    before = (out / "results.csv").read_text()
    legacy_name = "p_" + hashlib.sha1("raw\x00awgn\x00-0.0".encode()).hexdigest()[:20]
    with h5py.File(out / "results.h5", "a") as f:
        (name,) = f["points"]
        g = f["points"][name]
        g.attrs["snr_db"] = -0.0
        g.attrs["seed"] = "2031803448857506568"  # point_seed(3, raw | awgn | -0.0) of that linksim
        g["per_sample"]["mse"][0] = 0.5  # and other numbers, as another seed gives
        if "digest" in g.attrs:
            del g.attrs["digest"]  # that linksim wrote none
        f["points"].move(name, legacy_name)

    printed = _run(tmp_path, "[-0.0]", out, capsys)
    assert "1 points simulated, 0 resumed" in printed
    assert (out / "results.csv").read_text() == before
    assert list(_points(out).values()) == [0.0]
