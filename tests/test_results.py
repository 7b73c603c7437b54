"""results.py: rows of a point, intervals, HDF5 store round trip, atomic CSV."""

from __future__ import annotations

import math

import numpy as np
import pytest

from linksim.results import CSV_COLUMNS, LinkCounts, PointKey, PointResult, ResultStore, read_csv, write_csv


def _point(**kw) -> PointResult:
    r = PointResult(key=PointKey("c", "awgn", 5.0), seed=11, fingerprint="f", num_samples=4)
    r.links = {"a": LinkCounts(bits=1000, bit_errors=10, blocks=10, block_errors=2),
               "b": LinkCounts(bits=3000, bit_errors=0, blocks=30, block_errors=0)}
    r.per_sample = {"mse": np.array([0.01, 0.02, 0.03, 0.04]), "psnr": -10 * np.log10([0.01, 0.02, 0.03, 0.04]),
                    "channel_uses": np.array([100.0, 100, 100, 100]), "payload_bits": np.array([4000.0] * 4)}
    r.rates = {"nonfinite_rate": (3, 300)}
    for k, v in kw.items():
        setattr(r, k, v)
    return r


def _by_metric(rows):
    return {r["metric"]: r for r in rows}


def test_link_rows_pool_streams_and_keep_per_stream_rows():
    rows = _by_metric(_point().rows(["ber", "bler", "mse", "psnr"]))
    assert rows["ber"]["value"] == pytest.approx(10 / 4000) and rows["ber"]["n"] == 4000
    assert rows["bler"]["value"] == pytest.approx(2 / 40)
    assert rows["ber/a"]["value"] == pytest.approx(0.01) and rows["ber/b"]["value"] == 0.0
    assert rows["ber/b"]["ci_low"] == 0.0 and 0 < rows["ber/b"]["ci_high"] < 2e-3  # rule of three
    assert rows["nonfinite_rate"]["value"] == pytest.approx(0.01)
    assert rows["channel_uses"]["ci_low"] is None and rows["channel_uses"]["value"] == 100


def test_metrics_not_asked_for_are_not_reported():
    rows = _by_metric(_point().rows(["mse"]))
    assert "ber" not in rows and "psnr" not in rows and "mse" in rows
    assert "channel_uses" in rows and "payload_bits" in rows  # accounting rows always


def test_psnr_is_that_of_the_mean_mse_with_a_mapped_interval():
    rows = _by_metric(_point().rows(["psnr", "mse"]))
    assert rows["psnr"]["value"] == pytest.approx(-10 * math.log10(0.025))
    mse = rows["mse"]
    assert rows["psnr"]["ci_low"] == pytest.approx(-10 * math.log10(mse["ci_high"]))
    assert rows["psnr"]["ci_high"] == pytest.approx(-10 * math.log10(mse["ci_low"]))


def test_psnr_stays_finite_when_some_samples_are_perfect_and_is_inf_when_all_are():
    some = _point(per_sample={"psnr": np.array([np.inf, np.inf, 20.0, 20.0])})
    assert _by_metric(some.rows(["psnr"]))["psnr"]["value"] == pytest.approx(-10 * math.log10(0.005))
    perfect = _point(per_sample={"psnr": np.array([np.inf] * 4)})
    assert _by_metric(perfect.rows(["psnr"]))["psnr"]["value"] == math.inf


def test_store_round_trip(tmp_path):
    store = ResultStore(tmp_path / "r.h5")
    store.initialise("name: x\n", {"linksim": "1", "torch": "2", "sionna": "3"})
    p = _point(samples=np.random.default_rng(0).random((2, 1, 4, 4)).astype(np.float32))
    p.per_sample["ber/odd name"] = np.array([1.0])
    store.write(p)
    store.write(p)  # rewriting a point replaces it
    (back,) = store.read_all()
    assert back.key == p.key and back.seed == p.seed and back.links == p.links and back.rates == p.rates
    assert set(back.per_sample) == set(p.per_sample)
    np.testing.assert_array_equal(back.samples, p.samples)
    assert store.finished() == {p.key: "f"}
    store.remove_except(set())
    assert store.read_all() == []


def test_csv_round_trip_is_exact_and_atomic(tmp_path):
    rows = _point().rows(["ber", "bler", "mse", "psnr"])
    path = tmp_path / "results.csv"
    write_csv(rows, path)
    assert path.read_text().splitlines()[0] == ",".join(CSV_COLUMNS)
    back = read_csv(path)
    assert len(back) == len(rows)
    for a, b in zip(rows, back):
        assert a["metric"] == b["metric"]
        assert a["value"] == b["value"]  # repr() keeps floats exact
    assert not list(tmp_path.glob(".results-*"))  # no temporary file left behind


def test_metrics_a_codec_reports_itself_are_rows_too():
    p = _point()
    p.per_sample["eta"] = np.array([0.5, 0.5, 0.5, 0.5])
    rows = _by_metric(p.rows(["ber"]))
    assert rows["eta"]["value"] == 0.5 and rows["eta"]["n"] == 4
    assert "mse" not in rows  # a fidelity metric the scenario did not ask for stays out
