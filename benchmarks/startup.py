"""How long the command line takes to start, and how long a run takes to write its outputs.

Part 1 times ``linksim --help``, ``linksim list`` and ``linksim validate <scenario>`` as fresh
subprocesses (``python -m linksim ...``: interpreter start, imports, the command, exit),
interleaved round by round so that a burst of load on the machine hits every command alike.
For each: the minimum and the median wall time, and the median CPU time (user + system of
the child), which a busy machine disturbs less than the wall time.

Part 2 times the output writing of a finished run, in this process, after the imports a run
has already paid (the runner, hence torch, Sionna and matplotlib): every point journaled
into ``results.h5.journal/`` as the sweep does when a point finishes, the consolidation into
``results.h5``, reading the points back, then :func:`linksim.runner.outputs.write_outputs`
(results.csv, figures.json, plots/ in the scenario's formats, samples/), then report.html, into a fresh
folder each repetition. "after the sweep" is
what a run spends once its last point is simulated (consolidate, read back, write_outputs). The run's points are
read from ``--run-dir`` (a finished run of the scenario); without it the scenario is run
first into a temporary folder (about a minute for the quickstart).

The load average (``os.getloadavg``) is printed before and after: on a 2-core machine that
others share, compare figures taken under a similar load.

    python benchmarks/startup.py                                  # quickstart, 5 rounds
    python benchmarks/startup.py --rounds 9 --run-dir results/quickstart
    python benchmarks/startup.py --skip-outputs                   # part 1 only
"""

from __future__ import annotations

import argparse
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _load() -> str:
    return " ".join(f"{v:.2f}" for v in os.getloadavg())


def _child_cpu() -> float:
    r = resource.getrusage(resource.RUSAGE_CHILDREN)
    return r.ru_utime + r.ru_stime


def time_commands(commands: dict[str, list[str]], rounds: int) -> dict[str, tuple[list[float], list[float]]]:
    """``name -> (wall times [s], CPU times [s])`` of each command, run ``rounds`` times, interleaved."""
    out: dict[str, tuple[list[float], list[float]]] = {name: ([], []) for name in commands}
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")]))}
    for _ in range(rounds):
        for name, args in commands.items():
            cpu0, t0 = _child_cpu(), time.perf_counter()
            done = subprocess.run([sys.executable, "-m", "linksim", *args], cwd=ROOT, env=env,
                                  stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
            wall, cpu = time.perf_counter() - t0, _child_cpu() - cpu0
            if done.returncode != 0:
                raise SystemExit(f"linksim {' '.join(args)} failed ({done.returncode}): {done.stderr.strip()[-500:]}")
            out[name][0].append(wall)
            out[name][1].append(cpu)
    return out


def time_outputs(scenario: Path, run_dir: Path, repeats: int) -> dict[str, tuple[list[float], list[float]]]:
    """``phase -> (wall times [s], CPU times [s])`` of the output writing of ``run_dir``'s points,
    ``repeats`` times."""
    import linksim.runner  # noqa: F401 - what a run has imported before it writes anything
    from linksim.data import load_dataset
    from linksim.report import write_report
    from linksim.results import ResultStore
    from linksim.runner.outputs import write_outputs
    from linksim.scenario import load_scenario

    sc = load_scenario(scenario)
    d = sc.data
    dataset = load_dataset(d.source, d.num_samples, d.image_size, seed=sc.seed)
    results = ResultStore(run_dir / "results.h5").read_all()
    if not results:
        raise SystemExit(f"{run_dir}/results.h5 holds no finished point")
    names = ("journal (every point)", "consolidate", "read back", "write_outputs", "report.html",
             "after the sweep", "total")
    phases: dict[str, tuple[list[float], list[float]]] = {name: ([], []) for name in names}
    for _ in range(repeats):
        out = Path(tempfile.mkdtemp(prefix="linksim-bench-"))
        try:
            store = ResultStore(out / "results.h5")
            store.initialise("name: bench\n", {"linksim": "bench"})
            marks = [(time.perf_counter(), time.process_time())]
            for r in results:
                store.write(r)
            marks.append((time.perf_counter(), time.process_time()))
            store.consolidate()
            marks.append((time.perf_counter(), time.process_time()))
            back = store.read_all()
            marks.append((time.perf_counter(), time.process_time()))
            write_outputs(sc, dataset, back, out)
            marks.append((time.perf_counter(), time.process_time()))
            write_report(out, back)
            marks.append((time.perf_counter(), time.process_time()))
        finally:
            shutil.rmtree(out, ignore_errors=True)
        spans = [(i, i + 1) for i in range(5)] + [(1, 5), (0, 5)]  # the sweep journals as points finish
        for name, (a, b) in zip(names, spans):
            phases[name][0].append(marks[b][0] - marks[a][0])
            phases[name][1].append(marks[b][1] - marks[a][1])
    return phases


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--scenario", type=Path, default=ROOT / "scenarios" / "quickstart.yaml")
    p.add_argument("--rounds", type=int, default=5, help="repetitions of each command (interleaved)")
    p.add_argument("--run-dir", type=Path, default=None, help="a finished run of --scenario (default: run it first)")
    p.add_argument("--skip-commands", action="store_true")
    p.add_argument("--skip-outputs", action="store_true")
    args = p.parse_args(argv)

    print(f"load average before: {_load()}  ({os.cpu_count()} CPUs, python {sys.version.split()[0]})")
    if not args.skip_commands:
        commands = {"--help": ["--help"], "list": ["list"], "validate": ["validate", str(args.scenario)]}
        for name, (wall, cpu) in time_commands(commands, args.rounds).items():
            print(f"linksim {name:<10} wall min {min(wall):6.2f} s  median {statistics.median(wall):6.2f} s   "
                  f"CPU median {statistics.median(cpu):6.2f} s   ({len(wall)} runs)")
        print(f"load average: {_load()}")
    if not args.skip_outputs:
        run_dir, tmp = args.run_dir, None
        if run_dir is None:
            tmp = Path(tempfile.mkdtemp(prefix="linksim-bench-run-"))
            run_dir = tmp / "run"
            print(f"running {args.scenario.name} into {run_dir} first ...", flush=True)
            subprocess.run([sys.executable, "-m", "linksim", "run", str(args.scenario), "--out", str(run_dir),
                            "--quiet"], cwd=ROOT, check=True, stdout=subprocess.DEVNULL,
                           env={**os.environ, "PYTHONPATH": str(ROOT)})
        try:
            phases = time_outputs(args.scenario, run_dir, max(1, args.rounds // 2))
        finally:
            if tmp is not None:
                shutil.rmtree(tmp, ignore_errors=True)
        for name, (wall, cpu) in phases.items():
            print(f"outputs: {name:<22} wall min {min(wall):6.2f} s  median {statistics.median(wall):6.2f} s   "
                  f"CPU median {statistics.median(cpu):6.2f} s")
        print(f"load average after: {_load()}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
