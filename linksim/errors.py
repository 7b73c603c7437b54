"""Every error linksim raises on purpose, under one base class.

This module sits at the bottom of the package: it imports nothing of linksim, so any
module may import it. The CLI turns each kind into one line and an exit code:

==========================  ===================================================  ====
error                       meaning                                              exit
==========================  ===================================================  ====
:class:`ScenarioError`      the scenario (or a command-line option) is invalid    2
:class:`DataError`          ``data.source`` cannot give the samples asked for     2
:class:`PluginError`        a plugin named by the scenario cannot be imported     2 (validate) / 1 (run)
:class:`ExecutorUnavailable` an executor cannot run here (ray not installed)       2
:class:`RunError`           a run cannot proceed (device, output folder, lock)     1
:class:`ModelUnavailable`   a named model or weights file cannot be loaded        1
:class:`RunLockedError`     another run writes into the same output folder        1
:class:`PathlossRangeError` a distance or frequency outside a path-loss model     2
==========================  ===================================================  ====

Each also derives from the built-in exception a caller would expect (``ValueError``
for bad input, ``RuntimeError`` for a failed run), so ``except ValueError`` keeps
working around linksim calls.
"""

from __future__ import annotations

__all__ = [
    "DataError",
    "ExecutorUnavailable",
    "LinksimError",
    "ModelUnavailable",
    "PathlossRangeError",
    "PluginError",
    "RunError",
    "RunLockedError",
    "ScenarioError",
    "UnknownName",
]


class LinksimError(Exception):
    """Base of every error linksim raises on purpose (never a bug's traceback)."""


class ScenarioError(LinksimError, ValueError):
    """An invalid scenario: ``problems`` holds one ``"field.path: message"`` line each."""

    def __init__(self, problems: list[str]) -> None:
        # a value quoted in a message may hold a newline (or another line break): escape it,
        # so that each problem stays on its one line
        self.problems = ["".join(c if c.isprintable() else c.encode("unicode_escape").decode("ascii") for c in p)
                         for p in problems]
        super().__init__("\n".join(problems))


class DataError(LinksimError, ValueError):
    """A data source cannot be loaded; the message names the source and the problem."""


class UnknownName(LinksimError, ValueError):
    """A registry lookup of a name nobody registered; the message lists the known names."""


class PluginError(LinksimError, ImportError):
    """A plugin (entry point or ``module:Class``) cannot be imported or is not what its
    registry expects; the message names the plugin and the underlying error on one line."""


class ExecutorUnavailable(LinksimError, ValueError):
    """An executor was asked for that cannot run here (e.g. ``ray`` is not installed)."""


class RunError(LinksimError, RuntimeError):
    """A run cannot proceed (device missing, unusable output folder...)."""


class RunLockedError(RunError):
    """The output folder is in use by another live run."""


class ModelUnavailable(LinksimError, RuntimeError):
    """A named model (hub id, folder or weights file) cannot be loaded."""


class PathlossRangeError(LinksimError, ValueError):
    """A distance or carrier frequency outside the validity range of a path-loss model."""
