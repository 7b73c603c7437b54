"""The example plugin's own scenario, end to end: `linksim run` with the plugin named both ways
(entry point `tiny-ae` and `module:Class`), and the same numbers from `linksim.run(...)`."""

from __future__ import annotations

import csv
from pathlib import Path

import yaml

import linksim
from linksim.cli import main
from linksim.codecs import CODECS

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "plugin_codec" / "scenario.yaml"


def test_example_scenario_through_the_cli_and_the_api(tmp_path):
    assert "tiny-ae" in CODECS, "the example plugin is not installed: pip install -e examples/plugin_codec"
    raw = yaml.safe_load(EXAMPLE.read_text())
    types = {c["type"] for c in raw["codecs"]}
    assert {"tiny-ae", "linksim_example_codec.codec:TinyAutoencoderCodec"} <= types  # both ways
    raw["data"]["num_samples"] = 8
    raw["data"]["batch_size"] = 8
    raw["sweep"] = {"snr_db": [20]}
    raw["channels"] = [{"model": "awgn"}]
    scenario = tmp_path / "s.yaml"
    scenario.write_text(yaml.safe_dump(raw))
    assert main(["validate", str(scenario)]) == 0
    assert main(["run", str(scenario), "--out", str(tmp_path / "run"), "--quiet"]) == 0
    with open(tmp_path / "run" / "results.csv", newline="") as fh:
        rows = list(csv.DictReader(fh))
    psnr = {r["codec"]: float(r["value"]) for r in rows if r["metric"] == "psnr"}
    assert set(psnr) == {c["name"] for c in raw["codecs"]}
    for c in raw["codecs"]:
        if c["type"] != "raw":
            assert psnr[c["name"]] > 20, (c["name"], psnr)  # trained weights at 20 dB
    df = linksim.run(raw)
    api = df[df.metric == "psnr"].set_index("codec")["value"].to_dict()
    assert api == psnr
