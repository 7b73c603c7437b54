"""``--executor ray`` on a local Ray instance with 2 CPUs: same bytes as in-process, lost workers retried."""

from __future__ import annotations

import csv
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import h5py
import pytest
import yaml

ray = pytest.importorskip("ray")

import linksim  # noqa: E402
from linksim.cli import main  # noqa: E402
from linksim.executors.ray_cluster import TASK_NAME  # noqa: E402

SCENARIO = {
    "name": "ray-test", "seed": 5, "device": "cpu",
    "data": {"source": "digits28", "num_samples": 8, "batch_size": 4, "image_size": 8},
    "phy": {"ofdm": {"fft_size": 24, "num_ofdm_symbols": 14, "subcarrier_spacing_hz": 30.0e3,
                     "cyclic_prefix_length": 2, "pilot_ofdm_symbol_indices": [2, 11]}},
    "channels": [{"model": "awgn"}, {"model": "rayleigh"}],
    "sweep": {"snr_db": [0, 10, 40]},
    "codecs": [
        {"name": "f16-ldpc", "type": "raw", "streams": {"data": {"dtype": "float16", "modulation": "qpsk",
                                                                  "code_rate": 0.5}}},
        {"name": "analog", "type": "raw", "streams": {"data": {"path": "analog"}}},
    ],
    "metrics": ["ber", "bler", "mse", "psnr"],
}
POINTS = 2 * 2 * 3


@pytest.fixture(scope="module", autouse=True)
def local_ray():
    # workers inherit this process's environment (PYTHONPATH included), hence its linksim
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False, logging_level="WARNING")
    yield
    ray.shutdown()


def _scenario(tmp_path: Path, **changes) -> Path:
    path = tmp_path / "s.yaml"
    path.write_text(yaml.safe_dump({**SCENARIO, **changes}))
    return path


def _run(scenario: Path, out: Path, *flags: str) -> None:
    assert main(["run", str(scenario), "--out", str(out), "--quiet", *flags]) == 0


@pytest.fixture(scope="module")
def in_process(tmp_path_factory) -> tuple[Path, Path]:
    tmp = tmp_path_factory.mktemp("in-process")
    scenario = _scenario(tmp)
    _run(scenario, tmp / "out")
    return scenario, tmp / "out"


def _points_in(h5: Path) -> list[tuple]:
    """Finished points of a run: results.h5 and, after an interruption, its journal."""
    from linksim.results import ResultStore

    return [(r.key.codec, r.key.channel, float(r.key.snr_db)) for r in ResultStore(h5).read_all()]


def test_workers_import_the_drivers_linksim():
    assert ray.get(ray.remote(lambda: __import__("linksim").__file__).remote()) == linksim.__file__


@pytest.mark.slow
def test_results_equal_the_in_process_run_byte_for_byte_and_resume(in_process, tmp_path, capsys):
    scenario, reference = in_process
    _run(scenario, tmp_path / "ray", "--executor", "ray")
    assert (tmp_path / "ray" / "results.csv").read_bytes() == (reference / "results.csv").read_bytes()
    assert len(_points_in(tmp_path / "ray" / "results.h5")) == POINTS
    capsys.readouterr()
    _run(scenario, tmp_path / "ray", "--executor", "ray")  # a second run resumes every point
    assert f"0 points simulated, {POINTS} resumed" in capsys.readouterr().out


@pytest.mark.slow
def test_skipping_error_free_snrs_gives_the_in_process_results(tmp_path):
    sweep = {**SCENARIO["sweep"], "skip_error_free": True}
    local, remote = tmp_path / "local", tmp_path / "remote"
    local.mkdir(), remote.mkdir()
    _run(_scenario(local, sweep=sweep), local / "out")
    _run(_scenario(remote, sweep=sweep), remote / "out", "--executor", "ray")
    assert (remote / "out" / "results.csv").read_bytes() == (local / "out" / "results.csv").read_bytes()
    assert sorted(_points_in(remote / "out" / "results.h5")) == sorted(_points_in(local / "out" / "results.h5"))
    assert len(_points_in(local / "out" / "results.h5")) < POINTS  # the option did skip something


def _point_workers() -> list[int]:
    """PIDs of this test's Ray workers while they run a point (children of our raylet, by process title)."""
    pids = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            title = (entry / "cmdline").read_bytes().split(b"\0")[0].decode(errors="replace")
            parent = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
            grandparent = int((Path("/proc") / str(parent) / "stat").read_text().rsplit(")", 1)[1].split()[1])
        except (OSError, IndexError, ValueError):
            continue
        if title.startswith(f"ray::{TASK_NAME}") and grandparent == os.getpid():
            pids.append(int(entry.name))
    return pids


@pytest.mark.slow
@pytest.mark.skipif(not Path("/proc").is_dir(), reason="finds worker processes through /proc")
def test_a_killed_worker_still_gives_a_complete_duplicate_free_result(in_process, tmp_path):
    scenario, reference = in_process
    killed: list[int] = []
    stop = threading.Event()

    def kill_one_worker():
        while not stop.is_set() and not killed:
            for pid in _point_workers():
                os.kill(pid, signal.SIGKILL)
                killed.append(pid)
                break
            time.sleep(0.01)

    killer = threading.Thread(target=kill_one_worker, daemon=True)
    killer.start()
    try:
        _run(scenario, tmp_path / "ray", "--executor", "ray")
    finally:
        stop.set()
        killer.join()
    assert killed, "no worker was running a point while the sweep ran"
    points = _points_in(tmp_path / "ray" / "results.h5")
    assert len(points) == len(set(points)) == POINTS
    with open(tmp_path / "ray" / "results.csv", newline="") as fh:
        rows = [(r["codec"], r["channel"], r["snr_db"], r["metric"]) for r in csv.DictReader(fh)]
    assert len(rows) == len(set(rows))
    assert (tmp_path / "ray" / "results.csv").read_bytes() == (reference / "results.csv").read_bytes()


def test_a_cuda_scenario_on_a_cluster_without_gpu_fails_in_one_line(tmp_path, capsys):
    assert main(["run", str(_scenario(tmp_path, device="cuda")), "--out", str(tmp_path / "out"), "--quiet",
                 "--executor", "ray"]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert err == ["error: device: 'cuda' but the Ray cluster has no GPU (use device: auto or cpu, or add GPU nodes)"]


@pytest.mark.slow
def test_the_command_connects_to_a_running_cluster_by_address(in_process, tmp_path):
    scenario, reference = in_process
    address = ray.get_runtime_context().gcs_address  # the instance this module started: a running cluster
    done = subprocess.run([sys.executable, "-m", "linksim", "run", str(scenario), "--out", str(tmp_path / "out"),
                           "--quiet", "--executor", "ray", "--address", address],
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    assert (tmp_path / "out" / "results.csv").read_bytes() == (reference / "results.csv").read_bytes()
    assert ray.is_initialized() and ray.cluster_resources().get("CPU") == 2  # the driver left the cluster running


def test_a_failure_inside_a_point_is_raised_as_itself():
    from linksim.executors.ray_cluster import RayExecutor
    from linksim.results import PointKey

    def fails():
        raise ValueError("codecs[0].params.quality: out of range")

    ref = ray.remote(max_retries=0)(fails).remote()
    with pytest.raises(ValueError) as raised:
        RayExecutor()._get(ref, PointKey("c", "awgn", 0.0))
    assert str(raised.value) == "codecs[0].params.quality: out of range"


class _Progress:
    """Records what the runner reports; raises KeyboardInterrupt (a Ctrl-C) at the ``interrupt_at``-th point."""

    def __init__(self, interrupt_at: int | None = None) -> None:
        self.total = self.advanced = self.resumed = 0
        self.points: list = []
        self.interrupt_at = interrupt_at

    def start(self, total: int, resumed: int = 0) -> None:
        self.total, self.resumed = total, resumed

    def point(self, key) -> None:
        self.points.append(key)
        if len(self.points) == self.interrupt_at:
            raise KeyboardInterrupt

    def advance(self, steps: int = 1) -> None:
        self.advanced += steps


@pytest.mark.slow
def test_an_interrupted_ray_run_resumes_and_the_progress_bar_is_fed_by_finished_points(in_process, tmp_path):
    from linksim.executors.ray_cluster import RayExecutor
    from linksim.runner import run_scenario
    from linksim.scenario import load_scenario

    scenario, reference = in_process
    sc = load_scenario(scenario)
    with pytest.raises(KeyboardInterrupt):
        run_scenario(sc, tmp_path / "out", progress=_Progress(interrupt_at=2), executor=RayExecutor())
    assert len(_points_in(tmp_path / "out" / "results.h5")) == 2  # each point is written before it is reported
    progress = _Progress()
    summary = run_scenario(sc, tmp_path / "out", progress=progress, executor=RayExecutor())
    assert (summary.points_resumed, summary.points_run) == (2, POINTS - 2) == (progress.resumed, len(progress.points))
    assert progress.advanced == progress.total > 0
    assert (tmp_path / "out" / "results.csv").read_bytes() == (reference / "results.csv").read_bytes()
