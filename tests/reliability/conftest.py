"""Prints the reliability figures (fuzzed inputs tried, kills survived) after the session."""

from __future__ import annotations

import pytest
from reliability_support import TALLY


@pytest.fixture(autouse=True)
def _count_cases(request):
    """Every reliability case tried counts, per file: the figures say how much was tried."""
    yield
    TALLY[f"cases tried in {request.node.path.name}"] += 1


def pytest_terminal_summary(terminalreporter):
    if not TALLY:
        return
    terminalreporter.section("reliability figures")
    for name, n in sorted(TALLY.items()):
        terminalreporter.write_line(f"{name}: {n}")
