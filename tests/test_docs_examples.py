"""Every fenced ```python block of the docs runs, so that the examples cannot rot.

One test per Markdown file (``docs/**/*.md`` and ``README.md``): its Python blocks run in
order in one namespace, in a temporary working directory. A block whose fence is
preceded by the line ``<!-- not-run -->`` (blank lines between are allowed) is skipped:
keep that for blocks that need a GPU or a download.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
NOT_RUN = "<!-- not-run -->"
FENCE = re.compile(r"^(?P<indent>[ \t]*)(?P<fence>`{3,}|~{3,})[ \t]*(?P<info>[^\n`]*)$")


def markdown_files() -> list[Path]:
    files = sorted((ROOT / "docs").glob("**/*.md")) if (ROOT / "docs").is_dir() else []
    readme = ROOT / "README.md"
    return ([readme] if readme.is_file() else []) + files


def python_blocks(text: str) -> list[tuple[int, str, bool]]:
    """``(first line number, code, skipped)`` of each fenced block whose info string is ``python``."""
    blocks, lines, i = [], text.splitlines(), 0
    while i < len(lines):
        m = FENCE.match(lines[i])
        if not m:
            i += 1
            continue
        fence, indent = m["fence"], len(m["indent"])
        info = m["info"].strip().split()
        start, body = i + 1, []
        i += 1
        while i < len(lines) and not lines[i].strip().startswith(fence):
            body.append(lines[i][indent:] if lines[i][:indent].strip() == "" else lines[i])
            i += 1
        i += 1  # the closing fence
        if info and info[0].lower() in ("python", "py"):
            prev = start - 2
            while prev >= 0 and not lines[prev].strip():
                prev -= 1
            skipped = prev >= 0 and lines[prev].strip() == NOT_RUN
            blocks.append((start + 1, "\n".join(body) + "\n", skipped))
    return blocks


FILES = [f for f in markdown_files() if python_blocks(f.read_text(encoding="utf-8"))]


@pytest.mark.parametrize("md", FILES, ids=[str(f.relative_to(ROOT)) for f in FILES])
def test_python_blocks_run(md: Path, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    namespace: dict = {"__name__": "__docs__"}
    ran = 0
    for line, code, skipped in python_blocks(md.read_text(encoding="utf-8")):
        if skipped:
            continue
        try:
            # padded with blank lines so that a traceback gives the line in the Markdown file
            exec(compile("\n" * (line - 1) + code, str(md), "exec"), namespace)
        except Exception as e:  # name the block: a failure points at the file and line
            raise AssertionError(f"{md.relative_to(ROOT)}, block at line {line}: {type(e).__name__}: {e}") from e
        ran += 1
    if not ran:
        pytest.skip("every python block is marked not-run")


def test_block_finder():
    text = "\n".join([
        "intro", "```python", "a = 1", "```",
        "<!-- not-run -->", "", "```python", "b = 2", "```",
        "```bash", "echo no", "```",
        "  ```py", "  c = 3", "  ```",
    ])
    assert python_blocks(text) == [(3, "a = 1\n", False), (8, "b = 2\n", True), (14, "c = 3\n", False)]
