"""Issue 14, case 8: the run lock's race windows.

Two windows existed: an empty lock file (its owner between creating it and writing its PID)
was taken for stale, and several processes taking over one stale lock could all win. The
kernel now arbitrates (``fcntl.flock`` on the lock file, held for the run's life); the file
still holds ``pid host`` for the message.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import textwrap
import time

import pytest

from linksim.run_lock import LOCK_NAME, RunLock, RunLockedError

fcntl = pytest.importorskip("fcntl")

#: a contender: waits for a common start time, takes the lock, holds it, says whether it won.
#: ``Path.unlink`` is slowed down: a process descheduled between deciding that a lock is stale
#: and removing it (the old take-over's window, made wide so that the test is deterministic)
CONTENDER = textwrap.dedent("""
    import pathlib, sys, time
    out, start_at, hold = sys.argv[1], float(sys.argv[2]), float(sys.argv[3])
    _unlink = pathlib.Path.unlink
    def slow_unlink(self, *args, **kwargs):
        time.sleep(0.5)
        return _unlink(self, *args, **kwargs)
    pathlib.Path.unlink = slow_unlink
    from linksim.run_lock import RunLock, RunLockedError
    while time.time() < start_at:
        time.sleep(0.001)
    try:
        with RunLock(out):
            print("won", flush=True)
            time.sleep(hold)
    except RunLockedError as e:
        print("refused:", e, flush=True)
""")

#: stands for an owner between creating the lock file and writing its PID: it holds the
#: kernel lock on an empty file
EMPTY_OWNER = textwrap.dedent("""
    import fcntl, os, sys, time
    fd = os.open(sys.argv[1], os.O_RDWR | os.O_CREAT, 0o644)
    fcntl.flock(fd, fcntl.LOCK_EX)
    print("holding", flush=True)
    time.sleep(60)
""")


def _dead_pid() -> int:
    return int(subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True,
                              text=True).stdout)


def _env() -> dict:
    return {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(_repo()), os.environ.get("PYTHONPATH")]))}


def _repo():
    from pathlib import Path

    return Path(__file__).resolve().parents[2]


def test_many_processes_taking_over_one_stale_lock_only_one_wins(tmp_path):
    (tmp_path / LOCK_NAME).write_text(f"{_dead_pid()} {socket.gethostname()}")  # a run that died
    start_at = time.time() + 3.0  # the contenders' imports take a moment on a busy machine
    procs = [subprocess.Popen([sys.executable, "-c", CONTENDER, str(tmp_path), str(start_at), "2.0"],
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=_env())
             for _ in range(4)]
    outs = [p.communicate(timeout=120) for p in procs]
    assert all(p.returncode == 0 for p in procs), [e for _, e in outs]
    lines = [o.strip() for o, _ in outs]
    winners = [line for line in lines if line == "won"]
    assert len(winners) == 1, lines
    winner_pid = procs[lines.index("won")].pid
    for line in lines:
        if line != "won":  # each loser names the live winner
            assert line.startswith("refused:") and f"pid {winner_pid} " in line, lines
    assert not (tmp_path / LOCK_NAME).exists()


def test_an_empty_lock_file_of_a_live_owner_is_not_taken_for_stale(tmp_path):
    owner = subprocess.Popen([sys.executable, "-c", EMPTY_OWNER, str(tmp_path / LOCK_NAME)], stdout=subprocess.PIPE,
                             text=True)
    try:
        assert owner.stdout.readline().strip() == "holding"
        assert (tmp_path / LOCK_NAME).read_text() == ""
        t0 = time.monotonic()
        with pytest.raises(RunLockedError, match="in use by another linksim run") as info:
            with RunLock(tmp_path):
                pass
        assert "\n" not in str(info.value)
        assert time.monotonic() - t0 < 10  # waits a moment for the PID, not forever
        assert (tmp_path / LOCK_NAME).exists()  # still the owner's
    finally:
        owner.kill()
        owner.wait()
    with RunLock(tmp_path):  # its owner gone, the kernel released the lock: taken over
        assert (tmp_path / LOCK_NAME).read_text().split()[0] == str(os.getpid())


def test_a_stale_empty_lock_file_is_taken_over(tmp_path):
    (tmp_path / LOCK_NAME).write_text("")  # a run killed between creating the file and writing its PID
    with RunLock(tmp_path):
        assert (tmp_path / LOCK_NAME).read_text().split()[0] == str(os.getpid())
    assert not (tmp_path / LOCK_NAME).exists()


def test_the_lock_of_a_killed_owner_is_released_by_the_kernel(tmp_path):
    script = textwrap.dedent("""
        import sys, time
        from linksim.run_lock import RunLock
        with RunLock(sys.argv[1]):
            print("locked", flush=True)
            time.sleep(60)
    """)
    owner = subprocess.Popen([sys.executable, "-c", script, str(tmp_path)], stdout=subprocess.PIPE, text=True,
                             env=_env())
    try:
        assert owner.stdout.readline().strip() == "locked"
        with pytest.raises(RunLockedError, match=f"pid {owner.pid} "):
            with RunLock(tmp_path):
                pass
    finally:
        owner.send_signal(signal.SIGKILL)
        owner.wait()
    assert (tmp_path / LOCK_NAME).read_text().split()[0] == str(owner.pid)  # left behind by the kill
    with RunLock(tmp_path):
        assert (tmp_path / LOCK_NAME).read_text().split()[0] == str(os.getpid())


def test_the_lock_is_held_by_the_kernel_for_the_runs_life(tmp_path):
    with RunLock(tmp_path):
        fd = os.open(tmp_path / LOCK_NAME, os.O_RDWR)
        try:
            with pytest.raises(BlockingIOError):
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        finally:
            os.close(fd)
    assert not (tmp_path / LOCK_NAME).exists()


def test_a_lock_of_another_host_is_still_respected(tmp_path):
    (tmp_path / LOCK_NAME).write_text("12345 some-other-host")
    with pytest.raises(RunLockedError, match="pid 12345 on some-other-host"):
        with RunLock(tmp_path):
            pass
