"""The sweep: every point of a scenario, run by an executor, written as it finishes.

:func:`run_scenario` writes a run folder (results.h5 journaled point by point, resume,
outputs); :func:`run_in_memory` runs the same points and keeps them in memory only
(the Python API's ``linksim.run(scenario)`` without ``out``).
"""

from __future__ import annotations

import math
import time
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from linksim.errors import RunError, RunLockedError
from linksim.results import PointKey, PointResult, ResultStore
from linksim.run_lock import RunLock
from linksim.runner.disk import check_writable, estimate_output_bytes
from linksim.runner.fingerprint import RecomputeWarning, reusable_points
from linksim.runner.outputs import (REQUIRED_SNR_COLUMNS, range_rows, required_snr_rows, result_rows, write_outputs,
                                    write_range_csv)
from linksim.runner.simulation import Simulation, versions
from linksim.scenario import Scenario, scenario_to_yaml

if TYPE_CHECKING:
    from linksim.runner.execution import Executor


@dataclass
class RunSummary:
    """What a run did."""

    out_dir: Path | None  # None: run in memory
    points_run: int
    points_resumed: int
    elapsed_s: float
    results: list[PointResult]
    skipped: list[PointKey] = field(default_factory=list)
    range_rows: list[dict] = field(default_factory=list)
    #: SNR sweeps with targets: the SNR each codec needs per channel and target (required_snr.csv)
    required_snr_rows: list[dict] = field(default_factory=list)
    #: points in results.h5 that this scenario does not ask for (kept there, not reported)
    points_kept: int = 0
    #: points of results.h5 that failed their checksum (simulated again when the scenario asks for them)
    damaged: list[PointKey] = field(default_factory=list)


def run_scenario(sc: Scenario, out_dir: Path, force: bool = False, progress=None,
                 executor: "Executor | None" = None) -> RunSummary:
    """Run every point of ``sc`` not already in ``out_dir/results.h5`` and write all outputs.

    :param progress: optional object with ``start(total_batches)``, ``advance()``,
        ``point(key)`` methods (the CLI passes a rich progress bar).
    :param executor: where the points run (default: in this process, one by one);
        this process alone writes the results, whatever the executor.
    """
    from linksim.runner.execution import InProcessExecutor

    t0 = time.perf_counter()
    out_dir = Path(out_dir)
    executor = executor or InProcessExecutor()
    # loads the data first: a bad source must not leave a folder behind
    sim = Simulation.build(sc, device=executor.driver_device())
    check_writable(out_dir, estimate_output_bytes(sim))
    try:
        with RunLock(out_dir):
            return _run_locked(sc, sim, out_dir, force, progress, t0, executor)
    except RunLockedError as e:
        raise RunError(str(e)) from None  # one line, exit 1, like any run failure


def _run_locked(sc: Scenario, sim: Simulation, out_dir: Path, force: bool, progress, t0: float,
                executor: "Executor") -> RunSummary:
    from linksim.runner.execution import PointProgress
    from linksim.runner.schedule import PointSchedule

    store = ResultStore(out_dir / "results.h5")
    recovered = store.recover()
    if recovered is not None:
        warnings.warn(recovered, RuntimeWarning, stacklevel=2)
    store.initialise(scenario_to_yaml(sc), versions())
    (out_dir / "scenario.yaml").write_text(scenario_to_yaml(sc))
    if hasattr(executor, "points_device_type"):  # points run elsewhere (Ray workers): their device is fingerprinted
        sim.point_device_type = executor.points_device_type(sc)
    wanted = sim.points()
    asked = set(wanted)
    stored = {r.key: r for r in store.read_all()}  # sound points only: a damaged one is simulated again
    damaged = store.damaged()
    for k in damaged:
        what = "simulating it again" if k in asked else "this scenario does not ask for it: kept as it is"
        warnings.warn(f"results.h5: point {_name(k)} does not match the checksum it was written with "
                      f"(the file changed since): {what}", RuntimeWarning, stacklevel=2)
    # a finished point is reused when it was computed for this scenario: same fingerprint, same seed;
    # the others are recomputed with one line naming the inputs that changed
    seeded = {k: r.fingerprint for k, r in stored.items() if k in asked and _same_seed(sim, r)}
    reusable, recomputing = (set(), None) if force else reusable_points(
        sim, seeded, store.fingerprint_parts() if seeded else {})
    if recomputing is not None:
        warnings.warn(recomputing, RecomputeWarning, stacklevel=3)
    current = {k: stored[k] for k in wanted if k in reusable}
    todo = [k for k in wanted if k not in current]
    # points the scenario no longer asks for stay in results.h5 (a wider rerun resumes them)
    kept = [k for k in [*stored, *damaged] if k not in asked]
    if kept:
        warnings.warn(f"{_count(len(kept), 'point')} kept in results.h5 that this scenario does not ask for "
                      "(not in results.csv; asking for them again resumes them)", RuntimeWarning, stacklevel=2)
    batches = math.ceil(sim.max_samples() / sc.data.batch_size)
    if progress is not None:
        progress.start(len(todo) * batches, resumed=len(current))
    points = PointProgress(progress, batches)
    # the skip rule consults only this scenario's finished points, as a fresh run would
    done_results = dict(current) if sc.sweep.skips_error_free() else {}
    todo = _ordered(sim, todo)
    schedule = PointSchedule(todo, sc.sweep.skips_error_free(), done_results, on_skip=points.skipped)
    # every point is written the moment it arrives, so an interrupted run resumes from there
    executor.run(sim, schedule, store.write, points)
    skipped = schedule.skipped
    store.consolidate()  # the journal of finished points into results.h5, atomically
    # reported: the points this scenario asks for, as computed for it (a stale point the
    # schedule skipped this time is not one of them)
    order = {k: i for i, k in enumerate(wanted)}
    results = [r for r in store.read_all()
               if r.key in order and r.fingerprint == sim.fingerprint(r.key) and _same_seed(sim, r)]
    results.sort(key=lambda r: order[r.key])
    write_outputs(sc, sim.dataset, results, out_dir)
    ranges, required = _crossings(sc, results)
    if ranges:
        write_range_csv(ranges, out_dir / "range.csv")
    if required:
        write_range_csv(required, out_dir / "required_snr.csv", REQUIRED_SNR_COLUMNS)
    summary = RunSummary(out_dir, len(todo) - len(skipped), len(current), time.perf_counter() - t0, results, skipped,
                         ranges, required, points_kept=len(kept), damaged=damaged)
    from linksim.report import write_report, write_run_info

    info = {"wall_time_s": round(summary.elapsed_s, 2), "points_simulated": summary.points_run,
            "points_resumed": summary.points_resumed, "points_skipped": len(skipped),
            "device": str(sim.device), "seed": sc.seed, "versions": versions()}
    if sc.is_distance_sweep():
        from linksim.runner.outputs import link_budget_table

        distances, rows = link_budget_table(sc)
        info["link_budget"] = {"distances_m": distances, "rows": [list(r) for r in rows]}
    write_run_info(out_dir, info)
    write_report(out_dir, results)
    return summary


def _crossings(sc: Scenario, results: list[PointResult]) -> tuple[list[dict], list[dict]]:
    """(range rows of a distance sweep, required-SNR rows of an SNR sweep) for the targets."""
    if not sc.targets or not results:
        return [], []
    rows = result_rows(sc, results)
    if sc.is_distance_sweep():
        return range_rows(sc, rows), []
    return [], required_snr_rows(sc, rows)


def _same_seed(sim: Simulation, r: PointResult) -> bool:
    """Whether a stored point was drawn with the seed this scenario gives it (a point an older
    linksim stored under another identity, e.g. -0.0 dB, was not)."""
    from linksim.runner.simulation import point_seed

    return r.seed == point_seed(sim.scenario.seed, r.key)


def _name(key: PointKey) -> str:
    """``codec | channel | 10 dB`` (``| 100 m (12.3 dB)`` in a distance sweep)."""
    where = key.label() if key.distance_m is None else f"{key.label()} ({key.snr_db:.1f} dB)"
    return f"{key.codec} | {key.channel} | {where}"


def _count(n: int, noun: str) -> str:
    return f"{n} {noun}" + ("" if n == 1 else "s")


def _ordered(sim: Simulation, todo: list[PointKey]) -> list[PointKey]:
    return sorted(todo, key=lambda k: (list(sim.codecs).index(k.codec), list(sim.channels).index(k.channel), k.snr_db))


def run_in_memory(sc: Scenario, progress=None, executor: "Executor | None" = None,
                  sim: Simulation | None = None) -> RunSummary:
    """Run every point of ``sc`` and keep the results in memory: nothing is written to disk.

    :param progress: as for :func:`run_scenario`.
    :param executor: where the points run (default: this process).
    :param sim: an already built :class:`Simulation` of ``sc`` (built here when None).
    """
    from linksim.runner.execution import InProcessExecutor, PointProgress
    from linksim.runner.schedule import PointSchedule

    t0 = time.perf_counter()
    executor = executor or InProcessExecutor()
    sim = sim or Simulation.build(sc, device=executor.driver_device())
    todo = _ordered(sim, sim.points())
    batches = math.ceil(sim.max_samples() / sc.data.batch_size)
    if progress is not None:
        progress.start(len(todo) * batches, resumed=0)
    points = PointProgress(progress, batches)
    schedule = PointSchedule(todo, sc.sweep.skips_error_free(), {}, on_skip=points.skipped)
    finished: list[PointResult] = []
    executor.run(sim, schedule, finished.append, points)
    order = {k: i for i, k in enumerate(sim.points())}
    finished.sort(key=lambda r: order[r.key])
    ranges, required = _crossings(sc, finished)
    return RunSummary(None, len(finished), 0, time.perf_counter() - t0, finished, schedule.skipped, ranges,
                      required)
