"""Module attributes imported on first use: how ``linksim.phy``, ``linksim.codecs``,
``linksim.data`` and ``linksim.executors`` stay cheap to import (no torch or Sionna until a
name that needs them is used). Imports nothing of linksim. (The package root does the same
by hand: it imports no linksim module at all, so that any layer may read ``__version__``.)"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from importlib import import_module
from typing import Any


def lazy_exports(package: str, exports: Mapping[str, str],
                 namespace: dict[str, Any]) -> tuple[Callable[[str], Any], Callable[[], list[str]]]:
    """``(__getattr__, __dir__)`` for the package ``package`` whose public ``name`` lives in
    the module ``exports[name]`` (absolute, or relative to ``package`` when it starts with a
    dot). A name is imported once and then stored in ``namespace`` (the package's
    ``globals()``), so later look-ups do not reach ``__getattr__`` again.
    """

    def __getattr__(name: str) -> Any:
        module = exports.get(name)
        if module is None:
            raise AttributeError(f"module '{package}' has no attribute '{name}'")
        value = getattr(import_module(module, package), name)
        namespace[name] = value
        return value

    def __dir__() -> list[str]:
        return sorted(set(namespace) | set(exports))

    return __getattr__, __dir__
