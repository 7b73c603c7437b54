"""The command line starts without the heavy libraries it does not use.

``linksim --help`` and ``linksim list`` must not import torch, Sionna, matplotlib, numba,
transformers, pandas or scikit-learn (``import torch`` alone takes about two seconds on a
small machine, Sionna six); ``linksim validate`` needs torch (codecs are torch modules and
data-dependent payloads are measured by encoding a batch) but not Sionna, matplotlib,
transformers or numba: resource elements are arithmetic. Each command runs in a fresh
interpreter, so a heavy import added at the top of any module on the way fails here.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
QUICKSTART = REPO / "scenarios" / "quickstart.yaml"

NOT_FOR_LISTING = ("torch", "sionna", "matplotlib", "numba", "transformers", "torchmetrics", "pandas", "sklearn",
                   "scipy", "h5py")
NOT_FOR_VALIDATE = ("sionna", "matplotlib", "numba", "transformers", "torchmetrics", "pandas", "sklearn")


def _imported_by(argv: list[str], heavy: tuple[str, ...]) -> tuple[int, list[str], str]:
    """``(exit code, heavy modules imported, stdout)`` of ``linksim.cli.main(argv)`` in a fresh interpreter."""
    code = textwrap.dedent(f"""
        import contextlib, io, json, sys
        import linksim.cli
        out = io.StringIO()
        with contextlib.redirect_stdout(out):
            try:
                rc = linksim.cli.main({argv!r})
            except SystemExit as e:  # --help: argparse prints and exits
                rc = e.code
        print(json.dumps([rc, sorted(m for m in {heavy!r} if m in sys.modules), out.getvalue()]))
    """)
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(REPO), os.environ.get("PYTHONPATH")]))}
    done = subprocess.run([sys.executable, "-c", code], cwd=REPO, env=env, capture_output=True, text=True,
                          timeout=300)
    assert done.returncode == 0, done.stderr
    rc, imported, out = json.loads(done.stdout.strip().splitlines()[-1])
    return rc, imported, out


@pytest.mark.parametrize("argv", [["--help"], ["run", "--help"], ["list"]], ids=" ".join)
def test_help_and_list_import_nothing_heavy(argv):
    rc, imported, out = _imported_by(argv, NOT_FOR_LISTING)
    assert rc == 0
    assert imported == [], f"linksim {' '.join(argv)} imported {imported}"
    assert out.strip()


def test_validate_imports_no_phy_plots_or_text_models():
    rc, imported, out = _imported_by(["validate", str(QUICKSTART)], NOT_FOR_VALIDATE)
    assert rc == 0, out
    assert imported == [], f"linksim validate imported {imported}"
    assert "scenario is valid" in out and "12628" in out


def test_list_shows_the_facts_of_every_metric_as_imported():
    """``list`` reads literal ``Metric(...)`` definitions from their source without importing them:
    every fact it shows is the imported object's."""
    from linksim.metrics.table import METRICS

    _, _, out = _imported_by(["list"], NOT_FOR_LISTING)
    lines = out.splitlines()
    for name in METRICS.names():
        if METRICS.origin(name).kind not in ("built-in", "plugin"):
            continue  # registered in this test session: not an entry point the fresh process sees
        m = METRICS[name]
        shown = name if m.selectable else f"({name})"
        row = next((line for line in lines if line.split("│")[1:2] and line.split("│")[1].strip() == shown), None)
        assert row is not None, f"metric {name} missing from linksim list"
        better = {True: "higher", False: "lower", None: ""}[m.higher_is_better]
        cells = [c.strip() for c in row.split("│")[1:-1]]
        assert cells[2:8] == [better, m.unit, m.aggregation, m.interval, m.scale, m.computed_by], name


def test_metric_facts_read_from_source_equal_the_imported_metrics():
    code = textwrap.dedent("""
        import dataclasses, json, sys
        from linksim.metrics.table import METRICS, metric_facts
        facts = {n: {k: v for k, v in dataclasses.asdict(metric_facts(n)).items() if k != "compute"}
                 for n in METRICS.names()}
        print(json.dumps([facts, "linksim.codecs.bridge" in sys.modules, "torch" in sys.modules]))
    """)
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    done = subprocess.run([sys.executable, "-c", code], cwd=REPO, env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    facts, bridge_imported, torch_imported = json.loads(done.stdout)
    assert not bridge_imported and not torch_imported
    import dataclasses

    from linksim.metrics.table import METRICS

    for name, shown in facts.items():
        expected = {k: v for k, v in dataclasses.asdict(METRICS[name]).items() if k != "compute"}
        assert shown == expected, name


def test_literal_metric_reads_source_without_importing(tmp_path, monkeypatch):
    from linksim.metrics.table import Metric, _literal_metric

    pkg = tmp_path / "startup_probe_pkg"
    pkg.mkdir()
    (pkg / "__init__.py").write_text("raise RuntimeError('the package must not be imported')\n")
    (pkg / "facts.py").write_text(textwrap.dedent("""
        from linksim.metrics.table import Metric
        import torch  # what makes importing it costly

        PLAIN = Metric("plain", "a plain one " "(joined)", "codec", unit="dB", higher_is_better=True, scale="log")
        COMPUTED = Metric("computed", "with a function", "function", compute=len)
        TWICE = Metric("twice", "bound twice", "codec")
        TWICE = Metric("twice", "rebound", "codec")
    """))
    monkeypatch.syspath_prepend(str(tmp_path))
    m = _literal_metric("startup_probe_pkg.facts:PLAIN")
    assert m == Metric("plain", "a plain one (joined)", "codec", unit="dB", higher_is_better=True, scale="log")
    assert _literal_metric("startup_probe_pkg.facts:COMPUTED") is None  # a name: only an import says what it is
    assert _literal_metric("startup_probe_pkg.facts:TWICE") is None
    assert _literal_metric("startup_probe_pkg.facts:MISSING") is None
    assert _literal_metric("startup_probe_pkg.nothing:X") is None
    assert "startup_probe_pkg" not in sys.modules


def test_channel_models_listed_from_the_same_entry_points():
    from linksim.cli import CHANNEL_GROUP, _channel_models
    from linksim.phy.channels import CHANNELS

    assert CHANNEL_GROUP == CHANNELS.group
    assert _channel_models() is CHANNELS  # imported: the registry itself


def test_lazy_package_faces_export_the_same_names():
    import linksim.codecs
    import linksim.data
    import linksim.executors
    from linksim.codecs import base, registry
    from linksim.data import dataset
    from linksim.data import registry as data_registry

    for name in linksim.codecs.__all__:
        assert getattr(linksim.codecs, name) is getattr(base if hasattr(base, name) and name not in (
            "CODECS", "codec_class", "register_codec") else registry, name)
    for name in linksim.data.__all__:
        assert getattr(linksim.data, name) is getattr(data_registry if hasattr(data_registry, name) else dataset, name)
    for name in linksim.executors.__all__:
        assert getattr(linksim.executors, name) is not None
    with pytest.raises(AttributeError):
        linksim.codecs.no_such_name  # noqa: B018
