"""Wall time of a 16-point scenario in this process vs as Ray tasks on a local instance.

The scenario: 2 digital codecs (float32 over 16QAM and float16 over QPSK, both LDPC
rate 1/2) x 2 channels (AWGN, Rayleigh block fading) x 4 SNRs = 16 points of
``--num-samples`` digits each (per point: encode, OFDM, LDPC decode, metrics).

Timed, each into a fresh output folder, in this order:
- ``in-process cold``: ``run_scenario`` with the default executor, the first run of
  this process (loads the data set and the cached LDPC kernels, then 16 points one
  after the other).
- ``ray cold``: ``ray.init(num_cpus=--workers)`` plus the run: worker processes start,
  import torch/Sionna/linksim and build the Simulation once each, then run points.
- ``ray warm`` / ``in-process warm``: ``--repeats`` alternating runs on the same Ray
  instance (workers alive, their Simulation cached: what every run after the first
  costs on a long-lived set of workers) and in this process (medians).
Then the per-task overhead alone: the round trip of an empty Ray task and the pickled
size of one PointResult. The machine's load average is printed beside the numbers.

    python benchmarks/sweep_scaling.py                       # 2 workers, 32 samples per point, ~2-4 min
    python benchmarks/sweep_scaling.py --workers 2 --num-samples 64 --repeats 3
"""

from __future__ import annotations

import argparse
import os
import pickle
import statistics
import tempfile
import time
from pathlib import Path

import ray

from linksim.executors.ray_cluster import RayExecutor
from linksim.runner import Simulation, run_scenario
from linksim.scenario import validate_scenario


def scenario(num_samples: int):
    return validate_scenario({
        "name": "sweep-scaling", "seed": 11, "device": "cpu",
        "data": {"source": "digits28", "num_samples": num_samples, "batch_size": 32},
        "channels": [{"model": "awgn"}, {"model": "rayleigh"}],
        "sweep": {"snr_db": [0, 5, 10, 15]},
        "codecs": [
            {"name": "f32-qam16", "type": "raw",
             "streams": {"data": {"dtype": "float32", "modulation": "qam16", "code_rate": 0.5}}},
            {"name": "f16-qpsk", "type": "raw",
             "streams": {"data": {"dtype": "float16", "modulation": "qpsk", "code_rate": 0.5}}},
        ],
        "metrics": ["ber", "bler", "mse", "psnr"],
    })


def timed(sc, tmp: Path, label: str, executor=None) -> tuple[float, bytes]:
    """Wall time [s] of one run into a fresh folder, and its results.csv."""
    out = Path(tempfile.mkdtemp(prefix=label.replace(" ", "-") + "-", dir=tmp))
    t0 = time.perf_counter()
    summary = run_scenario(sc, out, executor=executor)
    elapsed = time.perf_counter() - t0
    assert summary.points_run == 16, summary.points_run
    return elapsed, (out / "results.csv").read_bytes()


def load() -> str:
    return "load average %.2f %.2f %.2f" % os.getloadavg()


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--workers", type=int, default=2, help="CPUs (= concurrent points) of the local Ray instance")
    p.add_argument("--num-samples", type=int, default=32, help="samples per point")
    p.add_argument("--repeats", type=int, default=1, help="alternating in-process / ray-warm pairs")
    args = p.parse_args()
    sc = scenario(args.num_samples)
    print(f"{len(Simulation.build(sc).points())} points, {args.num_samples} samples each, "
          f"{os.cpu_count()} cores; {load()}")
    with tempfile.TemporaryDirectory() as d:
        tmp = Path(d)
        first_local, reference = timed(sc, tmp, "in-process")
        t0 = time.perf_counter()
        ray.init(num_cpus=args.workers, include_dashboard=False, log_to_driver=False, logging_level="WARNING")
        startup = time.perf_counter() - t0
        try:
            executor = RayExecutor()
            cold, csv_cold = timed(sc, tmp, "ray cold", executor)
            cold += startup
            local, warm = [first_local], []
            for _ in range(args.repeats):
                warm_s, csv_warm = timed(sc, tmp, "ray warm", executor)
                warm.append(warm_s)
                local.append(timed(sc, tmp, "in-process")[0])
            same = csv_cold == reference and csv_warm == reference
            noop = ray.remote(num_cpus=1)(lambda: None)
            ray.get([noop.remote() for _ in range(4)])
            t0 = time.perf_counter()
            for _ in range(50):
                ray.get(noop.remote())
            round_trip_ms = (time.perf_counter() - t0) / 50 * 1e3
        finally:
            ray.shutdown()
        sim = Simulation.build(sc)
        one = sim.run_point(sim.points()[0])
    warm_local, warm_ray = statistics.median(local[1:]), statistics.median(warm)
    print(f"in-process cold       {local[0]:7.2f} s   (first run in this process: JIT caches, data set)")
    print(f"ray start ({args.workers} CPUs)     {startup:7.2f} s")
    print(f"ray cold (+ start)    {cold:7.2f} s   ratio in-process / ray = {local[0] / cold:.2f}"
          "   (workers start, import, build the Simulation)")
    print(f"in-process warm       {warm_local:7.2f} s   (median of " + ", ".join(f"{t:.2f}" for t in local[1:]) + ")")
    print(f"ray warm              {warm_ray:7.2f} s   ratio in-process / ray = {warm_local / warm_ray:.2f}"
          "   (median of " + ", ".join(f"{t:.2f}" for t in warm) + ")")
    print(f"per task: empty-task round trip {round_trip_ms:.2f} ms, PointResult {len(pickle.dumps(one)) / 1e3:.1f} kB")
    print(f"results.csv identical to in-process: {same}; {load()}")


if __name__ == "__main__":
    main()
