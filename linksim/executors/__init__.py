"""Executors: where the points of a sweep run (this process, or a Ray cluster).

The runner plans (:class:`PointSchedule`) and writes results; an executor only runs
points and hands their results back, in whatever order they finish. The protocol and the
default in-process executor live with the runner (:mod:`linksim.runner.execution`), which
never imports this package; :func:`make_executor` picks one by name.

Importing this package imports nothing heavy: ``linksim --help`` reads :data:`EXECUTORS`
from here, and the runner (torch, Sionna) is imported on first use of a name that lives
there (module ``__getattr__``) or when :func:`make_executor` builds an executor.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from linksim.errors import ExecutorUnavailable
from linksim.lazy import lazy_exports

if TYPE_CHECKING:
    from linksim.runner.execution import Executor, InProcessExecutor, PointProgress
    from linksim.runner.schedule import PointSchedule, is_error_free

#: names accepted by ``linksim run --executor``
EXECUTORS = ("in-process", "ray")

#: names re-exported from the runner, imported on first use
_LAZY = {
    "Executor": "linksim.runner.execution",
    "InProcessExecutor": "linksim.runner.execution",
    "PointProgress": "linksim.runner.execution",
    "PointSchedule": "linksim.runner.schedule",
    "is_error_free": "linksim.runner.schedule",
}


__getattr__, _ = lazy_exports(__name__, _LAZY, globals())


def make_executor(name: str = "in-process", address: str | None = None, num_cpus: int | None = None) -> "Executor":
    """The executor called ``name``.

    :param address: Ray cluster address (``ray`` only).
    :param num_cpus: CPUs of a local Ray instance started for the run (``ray`` only).
    :raises ExecutorUnavailable: unknown name, an option the executor does not take,
        or ``ray`` not installed.
    """
    if name == "in-process":
        if address is not None:
            raise ExecutorUnavailable("--address: only with --executor ray")
        from linksim.runner.execution import InProcessExecutor

        return InProcessExecutor()
    if name == "ray":
        from linksim.executors.ray_cluster import RayExecutor

        return RayExecutor(address=address, num_cpus=num_cpus)
    raise ExecutorUnavailable(f"--executor: unknown executor '{name}' (known: {', '.join(EXECUTORS)})")


__all__ = ["EXECUTORS", "Executor", "ExecutorUnavailable", "InProcessExecutor", "PointProgress", "PointSchedule",
           "is_error_free", "make_executor"]
