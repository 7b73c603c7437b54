"""A full disk: a clear error before simulating, and no finished point lost when it fills mid-run."""

from __future__ import annotations

import errno
import io
import shutil
from collections import namedtuple
from contextlib import redirect_stderr, redirect_stdout

import pytest

from linksim.cli import main
from linksim.results import ResultStore

SCENARIO = (
    "name: s\ndevice: cpu\ndata: {source: digits28, num_samples: 4, batch_size: 2, image_size: 8}\n"
    "channels: [{model: awgn}]\nsweep: {snr_db: [0, 10, 20]}\n"
    "codecs: [{name: a, type: raw, streams: {data: {path: analog}}}]\nmetrics: [mse, psnr]\n"
)
Usage = namedtuple("Usage", "total used free")


def _run(tmp_path, *extra) -> tuple[int, str, str]:
    scenario = tmp_path / "s.yaml"
    scenario.write_text(SCENARIO)
    out, err = io.StringIO(), io.StringIO()
    with redirect_stdout(out), redirect_stderr(err):
        rc = main(["run", str(scenario), "--out", str(tmp_path / "out"), "--quiet", *extra])
    return rc, out.getvalue(), err.getvalue()


def test_too_little_free_space_is_refused_before_simulating(tmp_path, monkeypatch):
    import linksim.runner as runner
    import linksim.runner.disk as disk

    simulated = []
    monkeypatch.setattr(runner.Simulation, "run_point", lambda self, key, on_batch=None: simulated.append(key))
    monkeypatch.setattr(disk.shutil, "disk_usage", lambda path: Usage(10**9, 10**9 - 5000, 5000))
    rc, _, err = _run(tmp_path)
    assert rc == 1 and not simulated
    assert len(err.splitlines()) == 1 and err.startswith("error: not enough free space in ")
    assert "MB are free" in err and "Traceback" not in err
    assert not (tmp_path / "out" / "results.h5").exists()


def test_the_estimate_covers_what_a_run_writes(tmp_path):
    from linksim.runner import Simulation, estimate_output_bytes
    from linksim.scenario import load_scenario

    rc, _, err = _run(tmp_path)
    assert rc == 0, err
    written = sum(f.stat().st_size for f in (tmp_path / "out").rglob("*") if f.is_file())
    estimate = estimate_output_bytes(Simulation.build(load_scenario(tmp_path / "s.yaml")))
    assert written <= estimate <= 100 * written + 10**7, (written, estimate)


def test_a_disk_that_fills_mid_run_keeps_the_finished_points(tmp_path, monkeypatch):
    writes = []
    real_write = ResultStore.write

    def write_until_full(self, r):
        if len(writes) == 2:
            raise OSError(errno.ENOSPC, "No space left on device", str(self.journal / "p_x.h5"))
        writes.append(r.key)
        real_write(self, r)

    monkeypatch.setattr(ResultStore, "write", write_until_full)
    rc, _, err = _run(tmp_path)
    assert rc == 1
    assert len(err.splitlines()) == 1 and err.startswith("error: no space left on the device while writing ")
    assert "run again to resume" in err and "Traceback" not in err
    assert set(ResultStore(tmp_path / "out" / "results.h5").finished()) == set(writes)

    monkeypatch.setattr(ResultStore, "write", real_write)  # space freed
    rc, out, err = _run(tmp_path)
    assert rc == 0, err
    assert "1 points simulated, 2 resumed" in out


def test_h5py_reports_a_full_disk_in_its_message_only():
    from linksim.cli import _disk_full

    assert _disk_full(OSError("Can't write data (file write failed: errno = 28, error message = "
                              "'No space left on device')"))
    assert _disk_full(OSError(errno.EDQUOT, "Disk quota exceeded"))
    assert not _disk_full(OSError(errno.EACCES, "Permission denied"))


def test_another_os_error_is_still_one_line(tmp_path, monkeypatch):
    def denied(self, r):
        raise PermissionError(errno.EACCES, "Permission denied", "results.h5.journal")

    monkeypatch.setattr(ResultStore, "write", denied)
    rc, _, err = _run(tmp_path)
    assert rc == 1 and len(err.splitlines()) == 1 and "PermissionError" in err and "Traceback" not in err


@pytest.mark.skipif(shutil.disk_usage("/").free < 10**9, reason="needs some free space to measure")
def test_a_shipped_scenario_passes_the_check_here():
    from pathlib import Path

    from linksim.runner import Simulation, estimate_output_bytes
    from linksim.scenario import load_scenario

    sc = load_scenario(Path(__file__).resolve().parents[2] / "scenarios" / "quickstart.yaml")
    assert estimate_output_bytes(Simulation.build(sc)) < 10**9
