"""Bit rot in results.h5 is found, named and repaired, never reported (issue 14).

Every point group carries a digest of its attributes and data, taken when it was written.
A point that no longer matches it is simulated again, with a warning naming it
(codec | channel | SNR); the CSV is then the one of an untouched run. Points written
before digests existed are trusted as they read and get their digest from then on.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import h5py
import numpy as np
from reliability_support import TALLY
import pytest

from linksim.cli import main
from linksim.results import LinkCounts, PointKey, PointResult, ResultStore

SCENARIO = """
name: rot
seed: 5
data: {source: digits28, num_samples: 4, batch_size: 4, image_size: 8}
phy:
  ofdm: {fft_size: 24, num_ofdm_symbols: 14, subcarrier_spacing_hz: 30.0e3, cyclic_prefix_length: 2,
         pilot_ofdm_symbol_indices: [2, 11]}
channels: [{model: awgn}]
sweep: {snr_db: [0, 10]}
codecs:
  - name: raw
    type: raw
    streams: {data: {dtype: float16, modulation: qpsk, code_rate: 1.0}}
metrics: [ber, mse]
"""


@pytest.fixture(scope="module")
def finished(tmp_path_factory):
    """One untouched run: its scenario, folder and results.csv."""
    tmp = tmp_path_factory.mktemp("rot")
    scenario = tmp / "rot.yaml"
    scenario.write_text(SCENARIO)
    out = tmp / "out"
    assert main(["run", str(scenario), "--out", str(out), "--quiet"]) == 0
    return scenario, out, (out / "results.csv").read_text()


def _copy(finished, tmp_path: Path) -> Path:
    import shutil

    _, out, _ = finished
    copy = tmp_path / "out"
    shutil.copytree(out, copy)
    return copy


def _group_at(f: h5py.File, snr_db: float) -> h5py.Group:
    (g,) = [g for g in f["points"].values() if float(g.attrs["snr_db"]) == snr_db]
    return g


def _rerun(finished, out: Path, capsys) -> str:
    scenario, _, _ = finished
    capsys.readouterr()
    assert main(["run", str(scenario), "--out", str(out), "--quiet"]) == 0
    return capsys.readouterr().out


def test_a_flipped_byte_in_per_sample_data_is_found_and_recomputed(finished, tmp_path, capsys):
    out = _copy(finished, tmp_path)
    h5 = out / "results.h5"
    with h5py.File(h5, "r") as f:
        ds = _group_at(f, 0.0)["per_sample"]["mse"]
        offset, clean = ds.id.get_offset(), ds[()]
    assert offset is not None  # contiguous: the bytes lie at one place in the file
    data = bytearray(h5.read_bytes())
    data[offset + 4] ^= 0x10  # one bit of the mantissa of the first sample's MSE
    h5.write_bytes(bytes(data))
    with h5py.File(h5, "r") as f:  # the file still reads: only the number is wrong
        rotten = _group_at(f, 0.0)["per_sample"]["mse"][()]
    assert not np.array_equal(rotten, clean)

    with pytest.warns(RuntimeWarning, match=re.escape("raw | awgn | 0 dB")):
        printed = _rerun(finished, out, capsys)
    assert "1 points simulated, 1 resumed" in printed
    assert (out / "results.csv").read_text() == finished[2]
    TALLY["checksum failures caught (point named and simulated again)"] += 1
    with h5py.File(h5, "r") as f:
        assert np.array_equal(_group_at(f, 0.0)["per_sample"]["mse"][()], clean)


def test_a_changed_digit_in_the_links_attribute_is_found_and_recomputed(finished, tmp_path, capsys):
    out = _copy(finished, tmp_path)
    with h5py.File(out / "results.h5", "a") as f:
        g = _group_at(f, 10.0)
        text = g.attrs["links"]
        changed = re.sub(r'"bits": (\d)', lambda m: f'"bits": {(int(m.group(1)) % 9) + 1}', text, count=1)
        assert changed != text and json.loads(changed)  # one digit, still valid JSON
        g.attrs["links"] = changed

    with pytest.warns(RuntimeWarning, match=re.escape("raw | awgn | 10 dB")):
        printed = _rerun(finished, out, capsys)
    assert "1 points simulated, 1 resumed" in printed
    assert (out / "results.csv").read_text() == finished[2]
    TALLY["checksum failures caught (point named and simulated again)"] += 1


def test_points_written_without_a_digest_are_trusted_and_protected_from_then_on(finished, tmp_path, capsys):
    out = _copy(finished, tmp_path)
    with h5py.File(out / "results.h5", "a") as f:  # a results.h5 of an older linksim
        for g in f["points"].values():
            if "digest" in g.attrs:
                del g.attrs["digest"]
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("error", RuntimeWarning)
        printed = _rerun(finished, out, capsys)
    assert "0 points simulated, 2 resumed" in printed
    assert (out / "results.csv").read_text() == finished[2]
    with h5py.File(out / "results.h5", "r") as f:
        assert all(str(g.attrs["digest"]).startswith("sha256:") for g in f["points"].values())


def _point(snr: float) -> PointResult:
    r = PointResult(key=PointKey("c", "awgn", snr), seed=1, fingerprint="f", num_samples=3)
    r.per_sample = {"mse": np.array([0.1, 0.2, 0.3])}
    r.links = {"data": LinkCounts(bits=300, bit_errors=7, blocks=3, block_errors=1)}
    return r


def test_the_store_names_damaged_points_and_never_blesses_them(tmp_path):
    store = ResultStore(tmp_path / "results.h5")
    store.initialise("scenario", {})
    store.write(_point(0.0))
    store.write(_point(5.0))
    store.consolidate()
    with h5py.File(store.path, "a") as f:
        _group_at(f, 5.0)["per_sample"]["mse"][1] = 0.25  # changed in place, after the fact

    again = ResultStore(store.path)
    assert set(again.finished()) == {PointKey("c", "awgn", 0.0)}
    assert again.damaged() == [PointKey("c", "awgn", 5.0)]
    assert [r.key.snr_db for r in again.read_all()] == [0.0]
    # rewriting the file (every run consolidates) keeps the damaged point as it is, still failing
    again.initialise("scenario", {})
    again.consolidate()
    assert ResultStore(store.path).damaged() == [PointKey("c", "awgn", 5.0)]
    # until it is written again
    again.write(_point(5.0))
    again.consolidate()
    assert ResultStore(store.path).damaged() == []
    assert set(ResultStore(store.path).finished()) == {PointKey("c", "awgn", 0.0), PointKey("c", "awgn", 5.0)}


def test_a_damaged_point_in_the_journal_is_simulated_again(tmp_path):
    store = ResultStore(tmp_path / "results.h5")
    store.write(_point(0.0))  # a run killed before it consolidated: the point is in the journal only
    (journal,) = store.journal.glob("p_*.h5")
    with h5py.File(journal, "a") as f:
        f["points"][journal.stem].attrs["num_samples"] = 4
    again = ResultStore(store.path)
    assert again.finished() == {}
    assert again.damaged() == [PointKey("c", "awgn", 0.0)]
