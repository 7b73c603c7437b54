"""The default executor: every point in this process, one after the other."""

from __future__ import annotations

from typing import TYPE_CHECKING, Callable

import torch

from linksim.executors.base import PointProgress
from linksim.results import PointResult

if TYPE_CHECKING:
    from linksim.executors.schedule import PointSchedule
    from linksim.runner import Simulation


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
