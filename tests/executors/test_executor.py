"""The executor seam without Ray: the point schedule, executor choice, the missing-ray error."""

from __future__ import annotations

import random
import sys
from pathlib import Path

import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from linksim.cli import main
from linksim.executors import ExecutorUnavailable, InProcessExecutor, PointSchedule, is_error_free, make_executor
from linksim.results import LinkCounts, PointKey, PointResult

SCENARIO = {
    "name": "executor-test", "seed": 1, "device": "cpu",
    "data": {"source": "digits28", "num_samples": 4, "batch_size": 4, "image_size": 8},
    "channels": [{"model": "awgn"}], "sweep": {"snr_db": [10]},
    "codecs": [{"name": "analog", "type": "raw", "streams": {"data": {"path": "analog"}}}],
    "metrics": ["mse"],
}


def _result(key: PointKey, bit_errors: int) -> PointResult:
    return PointResult(key=key, seed=0, fingerprint="", links={"data": LinkCounts(bits=100, bit_errors=bit_errors)})


def _keys(pairs: int, snrs: int) -> list[PointKey]:
    return [PointKey(f"c{p}", "awgn", float(s)) for p in range(pairs) for s in range(snrs)]


def _sequential_reference(todo: list[PointKey], errors: dict[PointKey, int], done: dict[PointKey, PointResult]):
    """The one-by-one loop the runner had before executors (the specification of skipping)."""
    error_free: set = set()
    done = dict(done)
    run, skipped = [], []
    for key in todo:
        pair = (key.codec, key.channel)
        below = any((k.codec, k.channel) == pair and k.snr_db < key.snr_db and is_error_free(r)
                    for k, r in done.items())
        if pair in error_free or below:
            skipped.append(key)
            continue
        r = _result(key, errors[key])
        run.append(key)
        done[key] = r
        if is_error_free(r):
            error_free.add(pair)
    return run, skipped


def test_without_skipping_every_point_is_ready_at_once_in_sweep_order():
    todo = _keys(2, 3)
    schedule = PointSchedule(todo, skip_error_free=False, done={})
    assert schedule.take_ready() == todo
    assert schedule.take_ready() == [] and not schedule.pending()


def test_skipping_chains_each_pair_and_skips_after_an_error_free_snr():
    todo = _keys(2, 3)
    seen = []
    schedule = PointSchedule(todo, skip_error_free=True, done={}, on_skip=seen.append)
    first = schedule.take_ready()
    assert first == [todo[0], todo[3]]  # the lowest SNR of each pair, nothing more
    assert schedule.take_ready() == []  # both chains are busy
    schedule.finish(_result(todo[0], bit_errors=0))  # c0 is error-free at its lowest SNR
    assert schedule.take_ready() == []
    assert schedule.skipped == seen == [todo[1], todo[2]]
    schedule.finish(_result(todo[3], bit_errors=5))
    assert schedule.take_ready() == [todo[4]]


def test_a_resumed_error_free_point_skips_the_higher_snrs():
    keys = _keys(1, 3)
    schedule = PointSchedule(keys[1:], skip_error_free=True, done={keys[0]: _result(keys[0], 0)})
    assert schedule.take_ready() == [] and schedule.skipped == keys[1:]


def test_one_at_a_time_follows_the_sweep_order():
    todo = _keys(3, 2)
    schedule = PointSchedule(todo, skip_error_free=True, done={})
    order = []
    while ready := schedule.take_ready(limit=1):
        order += ready
        schedule.finish(_result(ready[0], bit_errors=1))
    assert order == todo


@settings(max_examples=60, deadline=None)
@given(pairs=st.integers(1, 3), snrs=st.integers(1, 4), data=st.data())
def test_any_completion_order_runs_and_skips_what_a_sequential_run_does(pairs, snrs, data):
    todo = _keys(pairs, snrs)
    errors = {k: data.draw(st.sampled_from([0, 3]), label=f"errors {k}") for k in todo}
    resumed = {}
    if data.draw(st.booleans(), label="resume a first point"):
        resumed[todo[0]] = _result(todo[0], errors[todo[0]])
        todo = todo[1:]
    expected_run, expected_skipped = _sequential_reference(todo, errors, resumed)
    schedule = PointSchedule(todo, skip_error_free=True, done=dict(resumed))
    rng = random.Random(data.draw(st.integers(0, 2**32 - 1), label="completion order"))
    in_flight, run = [], []
    in_flight += schedule.take_ready()
    while in_flight:  # points finish in a random order, as on a cluster
        key = in_flight.pop(rng.randrange(len(in_flight)))
        run.append(key)
        schedule.finish(_result(key, errors[key]))
        in_flight += schedule.take_ready()
    assert sorted(run, key=todo.index) == expected_run
    assert sorted(schedule.skipped, key=todo.index) == expected_skipped


def test_make_executor():
    assert isinstance(make_executor(), InProcessExecutor)
    with pytest.raises(ExecutorUnavailable, match="unknown executor 'dask'"):
        make_executor("dask")
    with pytest.raises(ExecutorUnavailable, match="--address: only with --executor ray"):
        make_executor("in-process", address="auto")


def _scenario(tmp_path: Path) -> Path:
    path = tmp_path / "s.yaml"
    path.write_text(yaml.safe_dump(SCENARIO))
    return path


def test_executor_ray_without_ray_installed_exits_2_saying_how_to_install(tmp_path, capsys, monkeypatch):
    monkeypatch.setitem(sys.modules, "ray", None)  # `import ray` now raises ImportError
    assert main(["run", str(_scenario(tmp_path)), "--out", str(tmp_path / "out"), "--executor", "ray"]) == 2
    lines = capsys.readouterr().err.strip().splitlines()
    assert lines == ['--executor ray: the ray package is not installed: pip install "linksim[ray]"']
    assert not (tmp_path / "out").exists()


def test_address_without_executor_ray_exits_2(tmp_path, capsys):
    assert main(["run", str(_scenario(tmp_path)), "--out", str(tmp_path / "out"), "--address", "auto"]) == 2
    assert capsys.readouterr().err.strip() == "--address: only with --executor ray"


def test_a_worker_builds_the_simulation_once_per_scenario(monkeypatch):
    from linksim.executors import ray_cluster
    from linksim.runner import Simulation
    from linksim.scenario import validate_scenario

    builds = []
    real_build = Simulation.build.__func__
    counting = classmethod(lambda cls, *a, **k: builds.append(a) or real_build(cls, *a, **k))
    monkeypatch.setattr(Simulation, "build", counting)
    monkeypatch.setattr(ray_cluster, "_WORKER_SIMULATIONS", {})
    sc = validate_scenario({**SCENARIO, "sweep": {"snr_db": [0, 10]}})
    other = validate_scenario({**SCENARIO, "seed": 2})
    keys = [PointKey("analog", "awgn", 0.0), PointKey("analog", "awgn", 10.0)]
    first = [ray_cluster.run_point_on_worker(sc, ray_cluster.scenario_digest(sc), k, False) for k in keys]
    assert len(builds) == 1 and [r.key for r in first] == keys
    ray_cluster.run_point_on_worker(other, ray_cluster.scenario_digest(other), PointKey("analog", "awgn", 10.0), False)
    assert len(builds) == 2 and list(ray_cluster._WORKER_SIMULATIONS) == [ray_cluster.scenario_digest(other)]
