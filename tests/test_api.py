"""The Python API: linksim.run (in memory and into a run folder), build_codec, lazy exports."""

from __future__ import annotations

import csv
import math
import subprocess
import sys

import pytest
import torch

import linksim
from linksim.codecs import CodecContext, codec_class
from linksim.results import CSV_COLUMNS

SCENARIO = {
    "name": "api", "seed": 4, "device": "cpu",
    "data": {"source": "digits28", "num_samples": 8, "batch_size": 4, "image_size": 8},
    "channels": [{"model": "awgn"}],
    "sweep": {"snr_db": [0, 15]},
    "codecs": [
        {"name": "f16", "type": "raw", "streams": {"data": {"dtype": "float16", "modulation": "qpsk"}}},
        {"name": "analog", "type": "raw", "streams": {"data": {"path": "analog"}}},
    ],
    "metrics": ["ber", "bler", "mse", "psnr"],
}


def test_run_in_memory_equals_the_run_folder_and_writes_nothing(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    df = linksim.run(SCENARIO)
    assert list(tmp_path.iterdir()) == []  # in memory: no results/ folder, nothing at all
    assert list(df.columns) == CSV_COLUMNS
    out = tmp_path / "run"
    df2 = linksim.run(SCENARIO, out=out)
    with open(out / "results.csv", newline="") as fh:
        rows = list(csv.DictReader(fh))
    assert len(rows) == len(df) == len(df2)
    for r, (_, d) in zip(rows, df.iterrows()):
        assert (r["codec"], r["channel"], float(r["snr_db"]), r["metric"]) == (d.codec, d.channel, d.snr_db, d.metric)
        assert math.isclose(float(r["value"]), d.value, rel_tol=1e-9, abs_tol=1e-15) or (
            math.isinf(float(r["value"])) and math.isinf(d.value))
        assert (r["ci_low"] == "") == math.isnan(d.ci_low)
    psnr = df[(df.metric == "psnr") & (df.codec == "analog")].set_index("snr_db")["value"]
    assert psnr[15.0] > psnr[0.0]


def test_run_accepts_a_path_and_a_loaded_scenario(tmp_path):
    import yaml

    path = tmp_path / "s.yaml"
    path.write_text(yaml.safe_dump({**SCENARIO, "codecs": SCENARIO["codecs"][1:], "sweep": {"snr_db": [10]}}))
    a = linksim.run(path)
    b = linksim.run(linksim.load_scenario(path))
    assert a.equals(b)


def test_invalid_scenario_is_a_scenario_error_naming_the_field():
    with pytest.raises(linksim.ScenarioError) as e:
        linksim.run({**SCENARIO, "sweep": {"snr_db": [0], "bogus": 1}})
    assert e.value.problems == ["sweep.bogus: unknown field"]


def test_build_codec_counts_real_resource_elements():
    codec = linksim.build_codec("raw", streams={"data": {"dtype": "uint8", "modulation": "qam16", "code_rate": 0.5}})
    link = linksim.Link(channel="awgn", modulation="qam16", code_rate=0.5)
    bits = codec.encode(torch.rand(2, 1, 28, 28))["data"].bits
    out = link(bits, snr_db=30.0)
    assert codec.context.channel_uses("data", bits.shape[1]) == int(out.channel_uses[0]) == link.channel_uses(bits.shape[1])
    # a context built by hand counts the same (it used to report 0 resource elements)
    cls = codec_class("raw")
    by_hand = cls(cls.Params(), codec.transports, CodecContext(device=torch.device("cpu"), sample_shape=(1, 28, 28)))
    assert by_hand.context.channel_uses("data", bits.shape[1]) == codec.context.channel_uses("data", bits.shape[1]) > 0


def test_build_codec_errors_name_the_field():
    with pytest.raises(linksim.ScenarioError, match=r"type: unknown codec type 'nope'"):
        linksim.build_codec("nope")
    with pytest.raises(linksim.ScenarioError) as e:
        linksim.build_codec("jpeg2000", params={"compression_ratio": 0})
    assert e.value.problems[0].startswith("params.compression_ratio:")
    with pytest.raises(linksim.ScenarioError, match="streams: unknown stream"):
        linksim.build_codec("raw", streams={"nope": {"path": "analog"}})


def test_import_linksim_is_cheap():
    code = "import sys, linksim; print(sorted(m for m in ('torch', 'sionna', 'matplotlib') if m in sys.modules))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"
    assert set(linksim.__all__) <= set(dir(linksim))
