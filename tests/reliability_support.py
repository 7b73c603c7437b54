"""Helpers of the reliability tests (tests/reliability/) and of the codec contract's payload fuzz
(tests/codec_cases.py): fuzz sizes from the environment, a time bound, the tally.

``LINKSIM_FUZZ_EXAMPLES`` sets how many fuzzed inputs each fuzz test tries (default: a
CI-friendly number that keeps every test to seconds); ``LINKSIM_FUZZ_KILLS`` how many
times the kill test kills a run. The counts actually tried are added to :data:`TALLY`
and printed at the end of the session (see reliability/conftest.py).

It lives in tests/ (on ``sys.path`` through tests/conftest.py) so that any test folder can import it.
"""

from __future__ import annotations

import os
import signal
from collections import Counter
from contextlib import contextmanager

#: figure name -> count, printed in the terminal summary
TALLY: Counter = Counter()


def fuzz_size(default: int) -> int:
    """Examples per fuzz test: ``LINKSIM_FUZZ_EXAMPLES`` when set, else ``default``."""
    value = os.environ.get("LINKSIM_FUZZ_EXAMPLES")
    return max(1, int(value)) if value else default


def kills(default: int) -> int:
    """Kills of the kill test: ``LINKSIM_FUZZ_KILLS`` when set, else ``default``."""
    value = os.environ.get("LINKSIM_FUZZ_KILLS")
    return max(1, int(value)) if value else default


class Hang(BaseException):
    """Raised by :func:`time_bound` in the main thread. A BaseException, so that the CLI's
    catch-all (which turns any Exception into exit 1) cannot swallow it."""


@contextmanager
def time_bound(seconds: int, what: str):
    """Fail with :class:`Hang` if the body runs longer than ``seconds`` (SIGALRM, main thread)."""

    def on_alarm(signum, frame):
        raise Hang(f"{what} did not finish within {seconds} s")

    previous = signal.signal(signal.SIGALRM, on_alarm)
    signal.alarm(seconds)
    try:
        yield
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, previous)
