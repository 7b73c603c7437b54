"""Issue 14, end to end: a rerun whose inputs changed under unchanged names recomputes the
points concerned (never "N resumed" with the old numbers) and says which inputs changed."""

from __future__ import annotations

import json
import shutil
import warnings
from pathlib import Path

import h5py
import numpy as np
import torch
import yaml
from reliability_support import TALLY
from PIL import Image

from linksim.codecs.hsc.models import WEIGHTS_DIR
from linksim.results import read_csv
from linksim.runner import run_scenario
from linksim.runner.fingerprint import RecomputeWarning
from linksim.scenario import load_scenario

BASE = {
    "name": "stale", "seed": 1, "device": "cpu",
    "data": {"source": "digits28", "num_samples": 4, "batch_size": 4, "image_size": 8},
    "channels": [{"model": "awgn"}], "sweep": {"snr_db": [10]},
    "codecs": [{"name": "raw", "type": "raw", "streams": {"data": {"dtype": "uint8", "modulation": "qpsk",
                                                                   "code_rate": 1.0}}}],
    "metrics": ["ber", "mse"],
}


def _run(folder: Path, raw: dict) -> tuple:
    """Run ``raw`` (written next to the data as s.yaml) into folder/out: (summary, recompute lines)."""
    path = folder / "s.yaml"
    path.write_text(yaml.safe_dump(raw))
    with warnings.catch_warnings(record=True) as rec:
        warnings.simplefilter("always")
        summary = run_scenario(load_scenario(path), folder / "out")
    lines = [str(w.message) for w in rec if issubclass(w.category, RecomputeWarning)]
    if lines:
        TALLY["points recomputed because an input changed (the run said which)"] += summary.points_run
    return summary, lines


def _value(folder: Path, metric: str) -> tuple[float, float]:
    row = next(r for r in read_csv(folder / "out" / "results.csv") if r["metric"] == metric)
    return row["value"], row["n"]


def test_an_unchanged_rerun_resumes_silently(tmp_path):
    _run(tmp_path, BASE)
    summary, lines = _run(tmp_path, BASE)
    assert (summary.points_run, summary.points_resumed, lines) == (0, 1, [])


def test_raising_max_samples_recomputes(tmp_path):
    _run(tmp_path, {**BASE, "sweep": {"snr_db": [10], "max_samples": 4}})
    assert _value(tmp_path, "mse")[1] == 4
    summary, lines = _run(tmp_path, {**BASE, "sweep": {"snr_db": [10], "max_samples": 8}})
    assert (summary.points_run, summary.points_resumed) == (1, 0)
    assert _value(tmp_path, "mse")[1] == 8
    assert lines == ["recomputing 1 point: sweep.max_samples 4 -> 8"]


def test_adding_an_snr_point_recomputes_none_of_the_others(tmp_path):
    _run(tmp_path, BASE)
    summary, lines = _run(tmp_path, {**BASE, "sweep": {"snr_db": [10, 20]}})
    assert (summary.points_run, summary.points_resumed, lines) == (1, 1, [])


def test_overwritten_weights_recompute(tmp_path):
    weights = tmp_path / "w.safetensors"
    shutil.copy(WEIGHTS_DIR / "digits28_vae.safetensors", weights)
    raw = {**BASE, "data": {"source": "digits28", "num_samples": 4, "batch_size": 4},
           "codecs": [{"name": "hsc", "type": "hsc", "params": {"weights": "w.safetensors", "d": 0}}]}
    _run(tmp_path, raw)
    before = _value(tmp_path, "mse")[0]
    shutil.copy(WEIGHTS_DIR / "digits28_vae_rayleigh.safetensors", weights)  # retrained in place
    summary, lines = _run(tmp_path, raw)
    assert (summary.points_run, summary.points_resumed) == (1, 0)
    assert lines == ["recomputing 1 point: codec.params.weights changed (file contents)"]
    assert _value(tmp_path, "mse")[0] != before


def _pngs(folder: Path, seed: int) -> None:
    folder.mkdir(exist_ok=True)
    rng = np.random.default_rng(seed)
    for i in range(4):
        Image.fromarray(rng.integers(0, 256, (8, 8), dtype=np.uint8)).save(folder / f"img{i}.png")


def test_replaced_images_of_a_data_folder_recompute(tmp_path):
    _pngs(tmp_path / "imgs", seed=0)
    raw = {**BASE, "data": {"source": "folder:imgs", "num_samples": 4, "batch_size": 4, "image_size": 8}}
    _run(tmp_path, raw)
    _pngs(tmp_path / "imgs", seed=1)
    summary, lines = _run(tmp_path, raw)
    assert (summary.points_run, summary.points_resumed) == (1, 0)
    assert lines == ["recomputing 1 point: data.source changed (folder contents)"]
    # the sample grid's originals and reconstructions come from the same run again
    with h5py.File(tmp_path / "out" / "results.h5") as f:
        (group,) = f["points"].values()
        assert group["samples"].shape[0] == 4


def test_a_torch_upgrade_recomputes_and_each_point_records_its_versions(tmp_path, monkeypatch):
    _run(tmp_path, BASE)
    old = torch.__version__
    monkeypatch.setattr(torch, "__version__", "99.0.0")
    summary, lines = _run(tmp_path, BASE)
    assert (summary.points_run, summary.points_resumed) == (1, 0)
    assert lines == [f"recomputing 1 point: versions.torch {old} -> 99.0.0"]
    with h5py.File(tmp_path / "out" / "results.h5") as f:
        (group,) = f["points"].values()
        assert json.loads(group.attrs["fingerprint_parts"])["versions.torch"] == "99.0.0"
        assert f.attrs["version_torch"] == "99.0.0"


def test_points_from_before_the_parts_were_recorded_say_so(tmp_path):
    _run(tmp_path, {**BASE, "sweep": {"snr_db": [10], "max_samples": 4}})
    with h5py.File(tmp_path / "out" / "results.h5", "a") as f:  # a file written by an older linksim
        for group in f["points"].values():  # it recorded neither the inputs nor a checksum
            del group.attrs["fingerprint_parts"]
            if "digest" in group.attrs:
                del group.attrs["digest"]
    summary, lines = _run(tmp_path, {**BASE, "sweep": {"snr_db": [10], "max_samples": 8}})
    assert summary.points_run == 1
    assert lines == ["recomputing 1 point: inputs not recorded (a point from an older linksim)"]
