"""One run per output folder."""

from __future__ import annotations

import os
import socket
import subprocess
import sys

import pytest

from linksim.run_lock import LOCK_NAME, RunLock, RunLockedError


def test_lock_is_taken_and_released(tmp_path):
    with RunLock(tmp_path):
        assert (tmp_path / LOCK_NAME).read_text().split()[0] == str(os.getpid())
    assert not (tmp_path / LOCK_NAME).exists()


def test_a_live_owner_is_refused_with_a_clear_message(tmp_path):
    with RunLock(tmp_path):
        with pytest.raises(RunLockedError, match=f"pid {os.getpid()}"):
            with RunLock(tmp_path):
                pass


def test_a_stale_lock_is_taken_over(tmp_path):
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    (tmp_path / LOCK_NAME).write_text(f"{int(dead.stdout)} {socket.gethostname()}")
    with RunLock(tmp_path):
        assert (tmp_path / LOCK_NAME).read_text().split()[0] == str(os.getpid())


def test_a_second_run_into_the_same_folder_exits_1(tmp_path, capsys):
    from linksim.cli import main

    scenario = tmp_path / "s.yaml"
    scenario.write_text(
        "name: s\ndata: {source: digits28, num_samples: 2, image_size: 8}\nchannels: [{model: awgn}]\n"
        "sweep: {snr_db: [10]}\ncodecs: [{name: a, type: raw, streams: {data: {path: analog}}}]\nmetrics: [mse]\n"
    )
    out = tmp_path / "out"
    out.mkdir()
    with RunLock(out):  # as if another run held the folder
        assert main(["run", str(scenario), "--out", str(out), "--quiet"]) == 1
    err = capsys.readouterr().err
    assert "in use by another linksim run" in err and "Traceback" not in err
    assert main(["run", str(scenario), "--out", str(out), "--quiet"]) == 0


SMALL = (
    "name: s\ndata: {source: digits28, num_samples: 2, image_size: 8}\nchannels: [{model: awgn}]\n"
    "sweep: {snr_db: [0, 10, 20]}\ncodecs: [{name: a, type: raw, streams: {data: {dtype: float16, code_rate: 1.0}}}]\n"
    "metrics: [ber, mse]\n"
)


def _run_small(tmp_path):
    from linksim.cli import main

    scenario = tmp_path / "s.yaml"
    scenario.write_text(SMALL)
    out = tmp_path / "out"
    assert main(["run", str(scenario), "--out", str(out), "--quiet"]) == 0
    return scenario, out


def test_a_truncated_results_file_is_moved_aside_and_rebuilt(tmp_path, capsys):
    from linksim.cli import main

    scenario, out = _run_small(tmp_path)
    before = (out / "results.csv").read_text()
    h5 = out / "results.h5"
    h5.write_bytes(h5.read_bytes()[: h5.stat().st_size // 2])  # a crash mid-write
    capsys.readouterr()
    with pytest.warns(RuntimeWarning, match="moved to results.h5.damaged-1"):
        assert main(["run", str(scenario), "--out", str(out), "--quiet"]) == 0
    assert "3 points simulated" in capsys.readouterr().out
    assert (out / "results.h5.damaged-1").exists()
    assert (out / "results.csv").read_text() == before  # same seed, same numbers


def test_readable_points_of_a_damaged_file_are_kept(tmp_path, capsys):
    import h5py

    from linksim.cli import main

    scenario, out = _run_small(tmp_path)
    before = (out / "results.csv").read_text()
    with h5py.File(out / "results.h5", "a") as f:
        first = next(iter(f["points"].values()))
        del first["per_sample"]  # one point no longer reads
    capsys.readouterr()
    with pytest.warns(RuntimeWarning, match="2 finished point"):
        assert main(["run", str(scenario), "--out", str(out), "--quiet"]) == 0
    assert "1 points simulated, 2 resumed" in capsys.readouterr().out
    assert (out / "results.csv").read_text() == before
