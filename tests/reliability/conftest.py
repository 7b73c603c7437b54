"""Prints the reliability figures (fuzzed inputs tried, kills survived) after the session."""

from __future__ import annotations

from reliability_support import TALLY


def pytest_terminal_summary(terminalreporter):
    if not TALLY:
        return
    terminalreporter.section("reliability figures")
    for name, n in sorted(TALLY.items()):
        terminalreporter.write_line(f"{name}: {n}")
