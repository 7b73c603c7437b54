"""linksim: link-level simulation of semantic codecs over a Sionna 2 physical layer.

The Python API (see docs/python-api.md)::

    import linksim
    df = linksim.run("scenarios/quickstart.yaml")            # results as a pandas DataFrame
    link = linksim.Link(channel="rayleigh", modulation="qam16", code_rate=0.5)
    out = link(bits, snr_db=10.0)                             # one call through the PHY
    codec = linksim.build_codec("raw", streams={"data": {"path": "analog"}})

    @linksim.register_codec("my-codec")                       # or an entry point, or module:Class
    class MyCodec(linksim.Codec): ...

Names are imported on first use, so ``import linksim`` stays cheap (no torch, no Sionna).
"""

from __future__ import annotations

from importlib import import_module
from pathlib import Path
from typing import TYPE_CHECKING, Any


def _installed_version() -> str:
    from importlib.metadata import PackageNotFoundError, version  # 50 ms: only when the version is asked for

    try:
        return version("linksim")
    except PackageNotFoundError:  # running from a source tree without an install
        return "0.0.0+unknown"


def _source_version(installed: str, package_dir: Path) -> str:
    """linksim's version as results record it: ``installed`` (the distribution's version), or,
    when ``package_dir`` lies in a git checkout of linksim (a development install), that
    version plus ``git describe --always`` of the checkout, e.g. ``0.1.0+git.c42cbc4``.
    Uncommitted changes to the package (tracked and untracked; not tests or docs) add a digest
    of them, so that each edited state of the code is a version of its own
    (``...dirty.1f2e3d4c5b``)."""
    import hashlib
    import re
    import subprocess

    root = package_dir.parent
    if not ((root / ".git").exists() and (root / "pyproject.toml").is_file()):
        return installed

    def git(*args: str) -> bytes:
        return subprocess.run(["git", "-C", str(root), *args], capture_output=True, check=True, timeout=30).stdout

    try:
        # only the package's own changes make a new version: editing tests or docs does not
        local = git("describe", "--always", "--abbrev=12").decode().strip()
        diff = git("diff", "HEAD", "--binary", "--", package_dir.name)
        untracked = [n for n in git("ls-files", "--others", "--exclude-standard", "-z", "--", package_dir.name)
                     .split(b"\0") if n and (root / n.decode()).is_file()]
        if diff or untracked:
            h = hashlib.sha256(diff)
            for name in sorted(untracked):
                h.update(name + b"\0" + (root / name.decode()).read_bytes())
            local += ".dirty." + h.hexdigest()[:10]
    except (OSError, subprocess.SubprocessError, UnicodeDecodeError):  # no git, not a checkout after all
        return installed
    local = re.sub(r"[^0-9A-Za-z.]+", ".", local).strip(".")
    return f"{installed}{'.' if '+' in installed else '+'}git.{local}"


def _version() -> str:
    return _source_version(_installed_version(), Path(__file__).resolve().parent)

#: public name -> module that defines it
_EXPORTS = {
    # running scenarios
    "run": "linksim.api",
    "build_codec": "linksim.api",
    "as_scenario": "linksim.api",
    "load_scenario": "linksim.scenario",
    "validate_scenario": "linksim.scenario",
    "Scenario": "linksim.scenario",
    # the PHY in one call
    "Link": "linksim.phy.link",
    "LinkOutput": "linksim.phy.link",
    # the codec face
    "Codec": "linksim.codecs.base",
    "CodecParams": "linksim.codecs.base",
    "CodecContext": "linksim.codecs.base",
    "Transport": "linksim.codecs.base",
    "DigitalPayload": "linksim.codecs.base",
    "AnalogPayload": "linksim.codecs.base",
    "Reconstruction": "linksim.codecs.base",
    "ReceivedStreams": "linksim.codecs.base",
    "ReceiverCSI": "linksim.codecs.base",
    "PointMetric": "linksim.codecs.base",
    # registries (one mechanism for built-ins and plugins)
    "CODECS": "linksim.codecs.registry",
    "register_codec": "linksim.codecs.registry",
    "CHANNELS": "linksim.phy.channels",
    "ChannelModel": "linksim.phy.channels",
    "ChannelParams": "linksim.phy.channels",
    "SOURCES": "linksim.data.registry",
    "DataSource": "linksim.data.registry",
    "ImageDataset": "linksim.data.dataset",
    "METRICS": "linksim.metrics.table",
    "Metric": "linksim.metrics.table",
    # errors
    "LinksimError": "linksim.errors",
    "ScenarioError": "linksim.errors",
    "DataError": "linksim.errors",
    "PluginError": "linksim.errors",
    "RunError": "linksim.errors",
    "ModelUnavailable": "linksim.errors",
}

__all__ = ["__version__", *_EXPORTS]


def __getattr__(name: str) -> Any:
    if name == "__version__":  # computed on first use: a development install asks git
        globals()[name] = value = _version()
        return value
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'linksim' has no attribute '{name}'")
    value = getattr(import_module(module), name)
    globals()[name] = value  # the next access skips this function
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_EXPORTS) | {"__version__"})


if TYPE_CHECKING:  # for type checkers and IDEs: the same names, imported eagerly
    from linksim.api import as_scenario, build_codec, run
    from linksim.codecs.base import (AnalogPayload, Codec, CodecContext, CodecParams, DigitalPayload, PointMetric,
                                     ReceivedStreams, ReceiverCSI, Reconstruction, Transport)
    from linksim.codecs.registry import CODECS, register_codec
    from linksim.data.dataset import ImageDataset
    from linksim.data.registry import SOURCES, DataSource
    from linksim.errors import DataError, LinksimError, ModelUnavailable, PluginError, RunError, ScenarioError
    from linksim.metrics.table import METRICS, Metric
    from linksim.phy.channels import CHANNELS, ChannelModel, ChannelParams
    from linksim.phy.link import Link, LinkOutput
    from linksim.scenario import Scenario, load_scenario, validate_scenario
