"""The layering of the ``linksim`` package, read from its source with ``ast`` (nothing imported).

Dependencies point down (the design note's "Layout", with ``api`` above ``executors``, which it uses)::

    cli -> api -> executors -> runner -> scenario -> report -> codecs | results | plots -> metrics
        -> phy | data | pretrained -> registry | run_lock -> errors | lazy

A module may import its own sub-package and any *lower* layer; modules of one layer (``codecs``
and ``results``, ``phy`` and ``data``) do not import each other. Every import counts: at module
level, inside a function (lazy) or under ``if TYPE_CHECKING:`` (type-only), since each is a
dependency of the code. Two units sit outside the layers: ``__main__`` (``python -m linksim``)
and the package root ``linksim/__init__.py``, the public facade, which may name everything
(lazily) and may be imported by anyone for ``__version__`` as long as its own body imports
nothing of linksim eagerly.

Run with ``-s`` to print the import graph between sub-packages as a table.
"""

from __future__ import annotations

import ast
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path


PACKAGE = Path(__file__).resolve().parents[1] / "linksim"

#: top to bottom; units of one tuple are peers (they may not import each other)
LAYERS: list[tuple[str, ...]] = [
    ("cli",),
    ("api",),
    ("executors",),
    ("runner",),
    ("scenario",),
    ("report",),
    ("codecs", "results", "plots"),
    ("metrics",),
    ("phy", "data", "pretrained"),
    ("registry", "run_lock"),
    ("errors", "lazy"),
]
ROOT, MAIN = "linksim", "__main__"
RANK = {unit: len(LAYERS) - i for i, layer in enumerate(LAYERS) for unit in layer}
#: the codec face: what code outside linksim/codecs/ may import of it (a particular codec is
#: named only by the CLI's training commands, ``linksim train hsc | bridge``)
CODEC_FACE = {"linksim.codecs", "linksim.codecs.base", "linksim.codecs.registry"}


@dataclass(frozen=True)
class Import:
    """One import of a linksim module by a linksim module."""

    source: str  # importing module, e.g. linksim.runner.sweep
    target: str  # imported module, e.g. linksim.executors
    line: int
    kind: str  # "module" (at import time) | "lazy" (inside a function) | "type-only" (under TYPE_CHECKING)
    missing: bool = False  # the import names a linksim module that does not exist

    @property
    def where(self) -> str:
        path = self.source.replace(".", "/")
        path += "/__init__.py" if (PACKAGE.parent / path).is_dir() else ".py"
        return f"{path}:{self.line}: {self.kind} import of {self.target}"


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def unit(module: str) -> str:
    """The sub-package (or top-level module) a module belongs to: ``linksim.runner.sweep`` -> ``runner``."""
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else ROOT


def _is_type_checking(test: ast.expr) -> bool:
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING")


def _walk(node: ast.AST, kind: str = "module"):
    """``(import node, kind)`` of every import under ``node``."""
    for child in ast.iter_child_nodes(node):
        if isinstance(child, (ast.Import, ast.ImportFrom)):
            yield child, kind
        elif isinstance(child, ast.If) and _is_type_checking(child.test):
            for stmt in child.body:
                yield from _walk(ast.Module(body=[stmt], type_ignores=[]), "type-only")
            for stmt in child.orelse:
                yield from _walk(ast.Module(body=[stmt], type_ignores=[]), kind)
        elif isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda)):
            yield from _walk(child, "lazy" if kind == "module" else kind)
        else:
            yield from _walk(child, kind)


def _imports() -> tuple[set[str], list[Import]]:
    """Every linksim module, and every import of a linksim module in them."""
    files = sorted(PACKAGE.rglob("*.py"))
    modules = {_module_name(p) for p in files}

    out = []
    for path in files:
        source = _module_name(path)
        package = source if path.name == "__init__.py" else source.rpartition(".")[0]
        for node, kind in _walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]  # `import a.b.c` needs the module a.b.c
                found = [(n, n in modules) for n in names]
            else:
                base = node.module or ""
                if node.level:  # relative: from the importing module's package, up level - 1
                    up = package.split(".")[: len(package.split(".")) - (node.level - 1)]
                    base = ".".join(up + ([node.module] if node.module else []))
                # `from pkg import sub` imports the module pkg.sub; `from mod import name`, mod
                found = [(f"{base}.{a.name}", True) if f"{base}.{a.name}" in modules else (base, base in modules)
                         for a in node.names]
            for name, exists in dict.fromkeys(found):
                if name == ROOT or name.startswith(ROOT + "."):
                    out.append(Import(source, name, node.lineno, kind, missing=not exists))
    return modules, out


MODULES, IMPORTS = _imports()


def violations() -> list[str]:
    """Every import that does not point down the layers, one line each."""
    out = []
    for imp in IMPORTS:
        a, b = unit(imp.source), unit(imp.target)
        if a == b or a in (ROOT, MAIN) or b == ROOT:
            continue
        if a not in RANK or b not in RANK:
            out.append(f"{imp.where}: {a if a not in RANK else b} is in no layer (add it to LAYERS)")
        elif RANK[b] > RANK[a]:
            out.append(f"{imp.where}: {a} imports {b}, a layer above it")
        elif RANK[b] == RANK[a]:
            out.append(f"{imp.where}: {a} imports its peer {b}")
    return out


def _from(units: set[str], to: set[str]) -> list[str]:
    return [imp.where for imp in IMPORTS if unit(imp.source) in units and unit(imp.target) in to]


def _none(found: list[str]) -> None:
    assert found == [], "\n".join(found)


# -- the rules ------------------------------------------------------------------------------------

def test_the_package_is_parsed():
    assert {"linksim.errors", "linksim.codecs.base", "linksim.runner.simulation", "linksim.cli"} <= MODULES
    assert len(IMPORTS) > 100


def test_errors_imports_nothing_of_linksim():
    _none([imp.where for imp in IMPORTS if unit(imp.source) == "errors"])


def test_codecs_never_import_the_runner_scenario_cli_executors_or_api():
    _none(_from({"codecs"}, {"runner", "scenario", "cli", "executors", "api"}))


def test_phy_metrics_and_data_import_nothing_above_them():
    _none(_from({"phy", "metrics", "data"}, {"runner", "scenario", "cli", "executors", "api", "codecs", "results",
                                             "plots"}))


def test_only_the_cli_names_a_particular_codec():
    """The runner (and everything but the CLI's training commands) knows codecs only through
    their face: ``linksim.codecs``, its ``base`` and ``registry``."""
    named = [imp.where for imp in IMPORTS if imp.target.startswith("linksim.codecs")
             and imp.target not in CODEC_FACE and unit(imp.source) not in ("codecs", "cli")]
    _none(named)


def test_the_package_root_imports_nothing_of_linksim_eagerly():
    """``import linksim`` stays cheap, and a low layer may read ``linksim.__version__``."""
    _none([imp.where for imp in IMPORTS if imp.source == ROOT and imp.kind == "module"])


def test_every_linksim_import_names_an_existing_module():
    _none([f"{imp.where}: names a module that does not exist" for imp in IMPORTS if imp.missing])


def test_dependencies_point_down():
    found = violations()
    assert found == [], "imports against the layering (cli -> api -> executors -> runner -> scenario -> " \
                        "codecs|results|plots -> metrics -> phy|data|pretrained -> registry|run_lock -> errors):\n" \
                        + "\n".join(found)


def test_every_unit_is_in_a_layer():
    units = {unit(m) for m in MODULES} - {ROOT, MAIN}
    assert units - set(RANK) == set(), "place these in LAYERS"


# -- the table ------------------------------------------------------------------------------------

def graph_table() -> str:
    """The sub-package import graph as a Markdown table: per importing unit, the units it imports
    (modules importing them), top layer first; ``!`` marks an import against the layering."""
    edges: dict[str, dict[str, set[str]]] = defaultdict(lambda: defaultdict(set))
    for imp in IMPORTS:
        a, b = unit(imp.source), unit(imp.target)
        if a != b:
            edges[a][b].add(imp.source)
    order = [MAIN, ROOT] + [u for layer in LAYERS for u in layer]
    wrong = {(unit(imp.source), unit(imp.target)) for imp in IMPORTS
             if unit(imp.source) in RANK and unit(imp.target) in RANK and unit(imp.source) != unit(imp.target)
             and RANK[unit(imp.target)] >= RANK[unit(imp.source)]}
    lines = ["| unit | layer | imports (number of importing modules) |", "|---|---|---|"]
    for a in order:
        layer = "-" if a not in RANK else str(RANK[a])
        targets = sorted(edges.get(a, {}), key=lambda b: (-RANK.get(b, len(LAYERS) + 1), b))
        cells = [f"{b} ({len(edges[a][b])}){' !' if (a, b) in wrong else ''}" for b in targets]
        lines.append(f"| {a} | {layer} | {', '.join(cells) or '(nothing of linksim)'} |")
    return "\n".join(lines)


def test_print_the_import_graph():
    """Shown with ``pytest -s``: the table for notes and reviews."""
    table = graph_table()
    print("\nlinksim import graph between sub-packages (layer: a higher one may import a lower one; "
          "! = against the layering)\n" + table)
    assert len(table.splitlines()) == 2 + 2 + sum(len(layer) for layer in LAYERS)
