"""report.html: written by every run, rebuilt by ``linksim report DIR``; what it shows, and
(with Chromium) that a real browser loads it without an error, every image resolves and the
top of the page is not blank."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

from linksim.cli import main

SCENARIO = {
    "name": "tiny-report", "seed": 5,
    "data": {"source": "digits28", "num_samples": 6, "batch_size": 6, "image_size": 8},
    "phy": {"ofdm": {"fft_size": 24, "num_ofdm_symbols": 14, "subcarrier_spacing_hz": 30.0e3,
                     "cyclic_prefix_length": 2, "pilot_ofdm_symbol_indices": [2, 11]}},
    "channels": [{"model": "awgn"}, {"model": "rayleigh", "name": "fading"}],
    "sweep": {"snr_db": [0, 20]},
    "codecs": [{"name": "u8", "type": "raw", "streams": {"data": {"dtype": "uint8"}}},
               {"name": "analog", "type": "raw", "streams": {"data": {"path": "analog"}}},
               {"name": "jpeg", "type": "jpeg", "params": {"quality": 50}}],
    "metrics": ["ber", "psnr", "ssim"],
    "targets": {"psnr": 20.0},
    "outputs": {"formats": ["png", "svg"], "dpi": 60},
}


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("report")
    path = tmp / "s.yaml"
    path.write_text(yaml.safe_dump(SCENARIO))
    out = tmp / "out"
    assert main(["run", str(path), "--out", str(out), "--quiet"]) == 0
    return out


def test_a_run_writes_its_report(run):
    page = (run / "report.html").read_text()
    assert page.startswith("<!DOCTYPE html>") and "<h1>tiny-report</h1>" in page
    for section in ("What ran", "SNR each codec needs (required_snr.csv)", "Results (results.csv", "Figures",
                    "Samples"):
        assert section in page, section
    assert "points simulated" in page and "version: linksim" in page and "fading = fading: Rayleigh block fading" in page
    # every figure once (SVG preferred), every grid, relative links that exist
    links = re.findall(r'src="([^"]+)"', page)
    assert links and all((run / link).is_file() for link in links)
    assert {Path(link).suffix for link in links if link.startswith("plots/")} == {".svg"}
    assert sum(link.startswith("samples/") for link in links) == 3 * 2
    # each image of a grid has its PSNR / SSIM under it
    assert re.search(r"<td>[0-9.]+ dB<br>SSIM [0-9.]+</td>", page)
    assert "http://" not in page and "https://" not in page  # nothing from the network


def test_flags_and_linksim_report_rebuilds_it(run, capsys, tmp_path):
    copy = tmp_path / "copy"
    shutil.copytree(run, copy)
    (copy / "report.html").unlink()
    # a damaged point: a fallback rate and an infeasible point are flagged
    lines = (copy / "results.csv").read_text().splitlines()
    lines.append("jpeg,awgn,0,fallback_rate,0.5,0.1,0.9,6")
    lines.append("u8,awgn,0,infeasible,1,,,6")
    (copy / "results.csv").write_text("\n".join(lines) + "\n")
    assert main(["report", str(copy)]) == 0
    page = (copy / "report.html").read_text()
    assert "jpeg over awgn: fallback_rate &gt; 0 at 0 dB" in page
    assert "infeasible: the codec does not fit the bandwidth budget" in page
    assert page.count('<tr class="flag">') >= 2
    capsys.readouterr()
    assert main(["report", str(tmp_path / "nothing")]) == 1
    assert "results.csv does not exist" in capsys.readouterr().err


def _chromium() -> str | None:
    for name in ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable"):
        path = shutil.which(name)
        if path:
            return path
    return None


def test_the_report_in_a_real_browser(run, tmp_path):
    browser = _chromium()
    if browser is None:
        if os.environ.get("CI"):
            pytest.fail("CI needs Chromium for the report's browser test (.ci/run installs it)")
        pytest.skip("no Chromium on this machine (.ci/run installs it)")
    url = (run / "report.html").resolve().as_uri()
    common = [browser, "--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars",
              f"--user-data-dir={tmp_path / 'profile'}"]
    dom = subprocess.run(common + ["--enable-logging=stderr", "--v=0", "--virtual-time-budget=10000",
                                   "--dump-dom", url], capture_output=True, text=True, timeout=120)
    assert dom.returncode == 0, dom.stderr[-2000:]
    images = re.search(r'data-images="([^"]*)"', dom.stdout)
    assert images is not None, "the page's load handler did not run"
    assert images.group(1).startswith("ok ") and int(images.group(1).split()[1]) > 5, images.group(1)
    assert "data-errors" not in dom.stdout  # no script error
    console_errors = [ln for ln in dom.stderr.splitlines() if "CONSOLE" in ln and ("Error" in ln or "error" in ln)]
    assert not console_errors, console_errors
    shot = tmp_path / "top.png"
    done = subprocess.run(common + ["--window-size=1280,900", f"--screenshot={shot}", url],
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0 and shot.is_file(), done.stderr[-2000:]
    from PIL import Image, ImageStat

    with Image.open(shot) as im:
        stat = ImageStat.Stat(im.convert("L"))
        assert im.size == (1280, 900) and stat.stddev[0] > 5, "the top of the page is blank"
