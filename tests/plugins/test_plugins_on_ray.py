"""Ray workers resolve the same plugins as the driver: the example plugin codec (installed, as on
every node of a cluster) through its entry-point name and its ``module:Class`` form."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

ray = pytest.importorskip("ray")

from linksim.cli import main  # noqa: E402
from linksim.codecs import CODECS  # noqa: E402

SCENARIO = {
    "name": "ray-plugin", "seed": 3, "device": "cpu",
    "data": {"source": "digits28", "num_samples": 4, "batch_size": 4},
    "channels": [{"model": "awgn"}],
    "sweep": {"snr_db": [5, 20]},
    "codecs": [
        {"name": "by-name", "type": "tiny-ae"},
        {"name": "by-reference", "type": "linksim_example_codec.codec:TinyAutoencoderCodec",
         "streams": {"latent": {"path": "digital", "dtype": "uint8", "modulation": "qpsk", "code_rate": 0.5}}},
    ],
    "metrics": ["ber", "mse", "psnr"],
}


def test_ray_workers_resolve_plugins_like_the_driver(tmp_path: Path):
    assert "tiny-ae" in CODECS, "the example plugin is not installed: pip install -e examples/plugin_codec"
    scenario = tmp_path / "s.yaml"
    scenario.write_text(yaml.safe_dump(SCENARIO))
    assert main(["run", str(scenario), "--out", str(tmp_path / "local"), "--quiet"]) == 0
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False, logging_level="WARNING")
    try:
        assert main(["run", str(scenario), "--out", str(tmp_path / "ray"), "--quiet", "--executor", "ray"]) == 0
    finally:
        ray.shutdown()
    local = (tmp_path / "local" / "results.csv").read_text()
    assert (tmp_path / "ray" / "results.csv").read_text() == local
    assert local.count(",psnr,") == 4
