"""``kill -9`` of a run at random moments: nothing finished is lost, the resumed result is exact.

A small scenario (9 points) runs as a subprocess (``python -m linksim run``). It is killed
with SIGKILL several times: at random moments, and right after a point has been written
(the moment a careless writer would be caught half-way through the next one). After each
kill the finished points must be a superset of those before it; a last run completes the
sweep, resuming, and its ``results.csv`` must equal byte-for-byte that of a run that was
never interrupted. While the first killed run holds the folder, a second run into it
must refuse with the owner's PID; the locks the kills leave behind are stale and taken over.

Size: ``LINKSIM_FUZZ_KILLS`` kills (default 4).
"""

from __future__ import annotations

import os
import random
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from reliability_support import TALLY, kills

from linksim.results import ResultStore

SCENARIO = """\
name: kill
seed: 3
device: cpu
data: {source: digits28, num_samples: 4, batch_size: 2, image_size: 12}
channels: [{model: awgn}]
sweep: {snr_db: [0, 10, 20]}
codecs:
  - {name: f16, type: raw, streams: {data: {dtype: float16, code_rate: 0.5, nonfinite: zero}}}
  - {name: analog, type: raw, streams: {data: {path: analog}}}
  - {name: jpeg, type: jpeg, params: {quality: 50}, streams: {bytes: {code_rate: 0.75}}}
metrics: [ber, bler, mse, psnr]
"""
POINTS = 9
KILLS = kills(4)


def _start(scenario: Path, out: Path) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "linksim", "run", str(scenario), "--out", str(out), "--quiet"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=os.environ.copy())


def _second_run_refuses(scenario: Path, out: Path, owner: subprocess.Popen) -> None:
    import contextlib
    import io

    from linksim.cli import main

    lock = out / ".linksim.lock"
    while not lock.exists() and owner.poll() is None:
        time.sleep(0.01)
    if owner.poll() is not None:
        return  # finished before we could look (a very fast machine): nothing to refuse
    err = io.StringIO()
    with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(err):
        rc = main(["run", str(scenario), "--out", str(out), "--quiet"])
    if owner.poll() is None:  # still running when refused
        assert rc == 1 and f"in use by another linksim run (pid {owner.pid}" in err.getvalue(), err.getvalue()
        TALLY["concurrent runs into one folder refused"] += 1


def _finished(out: Path) -> set:
    return set(ResultStore(out / "results.h5").finished()) if out.exists() else set()


def _journal_size(out: Path) -> int:
    journal = out / "results.h5.journal"
    return len(list(journal.glob("p_*.h5"))) if journal.is_dir() else 0


@pytest.mark.slow
def test_kill_9_at_random_moments_loses_nothing_and_resumes_exactly(tmp_path):
    scenario = tmp_path / "s.yaml"
    scenario.write_text(SCENARIO)

    t0 = time.monotonic()
    reference = subprocess.run([sys.executable, "-m", "linksim", "run", str(scenario), "--out",
                                str(tmp_path / "reference"), "--quiet"], capture_output=True, text=True)
    full = time.monotonic() - t0
    assert reference.returncode == 0, reference.stderr
    assert f"{POINTS} points simulated" in reference.stdout

    out = tmp_path / "killed"
    rng = random.Random(int.from_bytes(os.urandom(4), "little"))
    survived, before = 0, set()
    for attempt in range(3 * KILLS):
        if survived == KILLS:
            break
        proc = _start(scenario, out)
        if attempt == 0:  # meanwhile, a second run into the same folder refuses, naming the owner
            _second_run_refuses(scenario, out, proc)
        elif attempt % 2 == 0:  # a random moment (start-up, simulation, consolidation, outputs)
            time.sleep(rng.uniform(0.2, 0.7 * full))
        else:  # just after a point was written
            seen = _journal_size(out)
            deadline = time.monotonic() + full
            while _journal_size(out) <= seen and proc.poll() is None and time.monotonic() < deadline:
                time.sleep(0.01)
        if proc.poll() is not None:  # it finished first: not a kill; start over from scratch
            shutil.rmtree(out)
            before = set()
            continue
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        after = _finished(out)
        assert before <= after, f"kill {survived + 1}: finished points lost: {sorted(map(str, before - after))}"
        before = after
        survived += 1
    assert survived == KILLS

    final = subprocess.run([sys.executable, "-m", "linksim", "run", str(scenario), "--out", str(out), "--quiet"],
                           capture_output=True, text=True)
    assert final.returncode == 0, final.stderr
    assert "Traceback" not in final.stderr
    resumed = int(final.stdout.split(" resumed")[0].rsplit(" ", 1)[-1])
    assert resumed >= len(before)
    assert (out / "results.csv").read_bytes() == (tmp_path / "reference" / "results.csv").read_bytes()
    assert not (out / "results.h5.journal").exists()
    assert not list(out.glob(".*.tmp")) and not list(out.glob(".results-*.csv")) and not (out / ".linksim.lock").exists()
    TALLY["kill -9 of a run survived (nothing lost, results.csv identical)"] += survived


def test_a_run_killed_between_journal_and_consolidation_resumes_from_the_journal(tmp_path):
    """A point in the journal but not yet in results.h5 counts as finished, and the next
    start consolidates it."""
    from linksim.results import PointKey, PointResult

    store = ResultStore(tmp_path / "results.h5")
    store.initialise("name: x\n", {"linksim": "0"})
    store.write(PointResult(key=PointKey("a", "awgn", 0.0), seed=1, fingerprint="f", num_samples=2))
    store.write(PointResult(key=PointKey("a", "awgn", 5.0), seed=2, fingerprint="f", num_samples=2))
    # as if killed here: nothing consolidated, a temporary file half written
    (tmp_path / "results.h5.journal" / ".half.tmp").write_bytes(b"\x89HDF")
    (tmp_path / ".results-x1y2.csv").write_text("codec,chan")  # results.csv being written
    again = ResultStore(tmp_path / "results.h5")
    assert set(again.finished()) == {PointKey("a", "awgn", 0.0), PointKey("a", "awgn", 5.0)}
    assert again.recover() is None
    assert not (tmp_path / "results.h5.journal").exists() and not (tmp_path / ".results-x1y2.csv").exists()
    assert [r.key.snr_db for r in ResultStore(tmp_path / "results.h5").read_all()] in ([0.0, 5.0], [5.0, 0.0])


def test_a_truncated_journal_file_is_simulated_again_not_trusted(tmp_path):
    from linksim.results import PointKey, PointResult

    store = ResultStore(tmp_path / "results.h5")
    store.initialise("name: x\n", {"linksim": "0"})
    key = PointKey("a", "awgn", 0.0)
    store.write(PointResult(key=key, seed=1, fingerprint="f", num_samples=2))
    (journal_file,) = (tmp_path / "results.h5.journal").glob("p_*.h5")
    journal_file.write_bytes(journal_file.read_bytes()[:100])  # a failing disk
    assert ResultStore(tmp_path / "results.h5").finished() == {}
    assert ResultStore(tmp_path / "results.h5").read_all() == []
