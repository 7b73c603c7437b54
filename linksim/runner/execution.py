"""What the sweep asks of an executor, and the default one.

An executor simulates the points a :class:`~linksim.runner.schedule.PointSchedule`
releases and hands each result back; the runner alone writes them. The protocol lives
here, beside the sweep that uses it, so that the runner never imports an executor: the
Ray executor (:mod:`linksim.executors.ray_cluster`) implements it from above, and
:class:`InProcessExecutor` (every point in this process, in order) is the default.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Callable, Protocol

import torch

from linksim.results import PointKey, PointResult

if TYPE_CHECKING:
    from linksim.runner.schedule import PointSchedule
    from linksim.runner.simulation import Simulation


class PointProgress:
    """The runner's progress object, counted in batches (the unit of the progress bar).

    :param progress: an object with ``advance(steps)`` and ``point(key)`` (the CLI's
        rich bar), or None.
    :param batches_per_point: batches a point draws at most.
    """

    def __init__(self, progress, batches_per_point: int) -> None:
        self._p = progress
        self.batches_per_point = batches_per_point

    def started(self, key: PointKey) -> None:
        """``key`` is the point shown (the one starting here; the one just finished on a cluster)."""
        if self._p is not None:
            self._p.point(key)

    def batch(self) -> None:
        """One batch of the current point is done."""
        if self._p is not None:
            self._p.advance()

    def finished(self, key: PointKey, batches_drawn: int) -> None:
        """A point is done: the batches it did not draw (early stop, remote run) count as done."""
        if self._p is not None and batches_drawn < self.batches_per_point:
            self._p.advance(self.batches_per_point - batches_drawn)

    def skipped(self, key: PointKey) -> None:
        """A point will not be simulated (``sweep.skip_error_free``): all its batches count as done."""
        self.finished(key, 0)


class Executor(Protocol):
    """Runs sweep points; the runner alone writes what they return.

    An executor whose points run on another device than the driver's Simulation may add
    ``points_device_type(scenario) -> str`` (``"cpu"``, ``"cuda"``): the runner then
    fingerprints points with that device type (see :mod:`linksim.runner.fingerprint`)."""

    name: str

    def driver_device(self) -> torch.device | None:
        """Device of the driver's own :class:`~linksim.runner.simulation.Simulation` (None: the scenario's)."""

    def run(self, sim: "Simulation", schedule: "PointSchedule", on_result: Callable[[PointResult], None],
            progress: PointProgress) -> None:
        """Simulate every point ``schedule`` releases; call ``on_result`` in the driver as each finishes.

        ``on_result`` is called once per point, and ``schedule.finish`` after it, before
        more points are taken from the schedule.
        """


class InProcessExecutor:
    """Points in sweep order in the calling process, on the scenario's device."""

    name = "in-process"

    def driver_device(self) -> torch.device | None:
        """None: the driver's Simulation runs the points, on the scenario's device."""
        return None

    def run(self, sim: "Simulation", schedule: "PointSchedule", on_result: Callable[[PointResult], None],
            progress: PointProgress) -> None:
        """Take one point at a time (the plain sweep order), report each batch, hand each result over."""
        while ready := schedule.take_ready(limit=1):
            key = ready[0]
            progress.started(key)
            drawn = [0]

            def on_batch():
                drawn[0] += 1
                progress.batch()

            result = sim.run_point(key, on_batch=on_batch)
            progress.finished(key, drawn[0])
            on_result(result)
            schedule.finish(result)
