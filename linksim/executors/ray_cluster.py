"""Sweep points as Ray Core tasks: one task per point, results written by the driver alone.

Per task: the point's key travels to a worker, a :class:`~linksim.results.PointResult`
(a few arrays) travels back. Per worker: the :class:`~linksim.runner.Simulation`
(data set, links, codec models) is built once, on the first point of a scenario it
runs, and kept in a worker-level cache for every later point, so a heavy model (Stable
Diffusion, BLIP...) is loaded once per worker process, not once per point.
"""

from __future__ import annotations

import hashlib
import logging
import os
from typing import TYPE_CHECKING, Callable

import torch

from linksim.errors import ExecutorUnavailable, RunError
from linksim.runner.execution import PointProgress
from linksim.results import PointKey, PointResult

if TYPE_CHECKING:
    from linksim.runner.schedule import PointSchedule
    from linksim.runner import Simulation
    from linksim.scenario import Scenario

INSTALL_HINT = 'pip install "linksim[ray]"'
#: times Ray re-runs a point whose worker process died (killed, node lost, out of memory)
MAX_RETRIES = 3
#: the name Ray gives a worker process while it runs a point (its process title)
TASK_NAME = "linksim_point"

# worker-level cache: scenario digest -> its Simulation, in the worker process that built it
_WORKER_SIMULATIONS: dict[str, "Simulation"] = {}


def scenario_digest(sc: "Scenario") -> str:
    """Digest of a resolved scenario: the key of the worker-level cache."""
    from linksim.scenario import scenario_to_yaml

    return hashlib.sha256(scenario_to_yaml(sc).encode()).hexdigest()[:32]


def run_point_on_worker(sc: "Scenario", digest: str, key: PointKey, use_gpu: bool) -> PointResult:
    """Body of a point's task, in a Ray worker: build the scenario's Simulation once, run ``key``.

    :param use_gpu: the task holds a GPU; Ray made it the only visible one, so the
        point runs on ``cuda`` (a scenario's ``cuda:N`` names a device of the driver's
        machine, not of the worker's).
    """
    from linksim.runner import Simulation, resolve_device

    sim = _WORKER_SIMULATIONS.get(digest)
    if sim is None:
        _WORKER_SIMULATIONS.clear()  # a worker serves one scenario at a time: free the previous models
        device = torch.device("cuda") if use_gpu else resolve_device(sc.device)
        sim = _WORKER_SIMULATIONS[digest] = Simulation.build(sc, device)
    return sim.run_point(key)


def import_ray():
    """The ``ray`` module, or :class:`ExecutorUnavailable` saying how to install it."""
    try:
        import ray
    except ImportError:
        raise ExecutorUnavailable(f"--executor ray: the ray package is not installed: {INSTALL_HINT}") from None
    return ray


class RayExecutor:
    """Points as Ray tasks on a running cluster (``address``) or on a local instance it starts.

    :param address: a Ray address (``auto``: the cluster ``ray start --head`` started on
        this machine; ``HOST:6379``: a cluster's head node). None: the ``RAY_ADDRESS``
        environment variable if set, else a new local instance for this run.
    :param num_cpus: CPUs of a local instance started here (None: all cores).
    :raises ExecutorUnavailable: ray is not installed.
    """

    name = "ray"

    def __init__(self, address: str | None = None, num_cpus: int | None = None) -> None:
        self._ray = import_ray()
        self.address = address or os.environ.get("RAY_ADDRESS") or None
        self.num_cpus = num_cpus
        self._connected_early = False  # points_device_type connected: run() disconnects at its end

    def points_device_type(self, sc: "Scenario") -> str:
        """The device type the workers run ``sc``'s points on (``cuda`` when each point asks for
        a GPU), which their fingerprints record; ``device: auto`` asks the cluster."""
        if sc.device == "cpu" or sc.device.startswith("cuda"):
            return "cuda" if sc.device.startswith("cuda") else "cpu"
        self._connected_early = self._connect() or self._connected_early
        return "cuda" if self._wants_gpu(sc.device) else "cpu"

    def driver_device(self) -> torch.device | None:
        """CPU: the driver only plans and writes (it may have no GPU); points run on the workers' devices."""
        return torch.device("cpu")

    def run(self, sim: "Simulation", schedule: "PointSchedule", on_result: Callable[[PointResult], None],
            progress: PointProgress) -> None:
        """Submit every point the schedule releases as a task; hand results over in the order they finish.

        In-flight tasks are cancelled when the run stops early (Ctrl-C, a failed point);
        a local instance started here is stopped at the end.
        """
        ray = self._ray
        connected_here = self._connect() or self._connected_early
        self._connected_early = False
        in_flight: dict = {}
        try:
            use_gpu = self._wants_gpu(sim.scenario.device)
            if use_gpu and not self._ray.cluster_resources().get("GPU", 0):
                # a task asking for a GPU the cluster lacks would wait forever
                raise RunError(f"device: '{sim.scenario.device}' but the Ray cluster has no GPU "
                               "(use device: auto or cpu, or add GPU nodes)")
            sim.point_device_type = "cuda" if use_gpu else "cpu"  # what the workers' fingerprints record
            task = ray.remote(
                num_cpus=1, num_gpus=1 if use_gpu else 0, max_retries=MAX_RETRIES,
                # Ray ends a GPU task's worker after each task by default (max_calls=1),
                # which would throw the cached models away: keep workers alive instead
                max_calls=0,
            )(run_point_on_worker).options(name=TASK_NAME)
            sc_ref = ray.put(sim.scenario)
            digest = scenario_digest(sim.scenario)

            def submit() -> None:
                for key in schedule.take_ready():
                    in_flight[task.remote(sc_ref, digest, key, use_gpu)] = key

            submit()
            while in_flight:
                (ref,), _ = ray.wait(list(in_flight), num_returns=1)
                key = in_flight.pop(ref)
                result = self._get(ref, key)
                self._check_inputs(sim, key, result)
                on_result(result)  # written first: an interrupt from here on keeps the point
                progress.started(key)
                progress.finished(key, 0)
                schedule.finish(result)
                submit()
        finally:
            for ref in in_flight:  # interrupted or failed: stop what is still running
                ray.cancel(ref, force=True)
            if connected_here:
                ray.shutdown()

    def _connect(self) -> bool:
        """Connect unless this process already is; True when this call connected (it disconnects after).

        Without an address this starts a local instance, which the disconnect stops;
        a cluster given by address keeps running.
        """
        ray = self._ray
        if ray.is_initialized():
            return False
        kwargs = dict(include_dashboard=False, logging_level=logging.WARNING, log_to_driver=False)
        if self.address is None:
            ray.init(address="local", num_cpus=self.num_cpus, **kwargs)
        else:
            ray.init(address=self.address, **kwargs)
        return True

    @staticmethod
    def _check_inputs(sim: "Simulation", key: PointKey, result: PointResult) -> None:
        """A worker's point must come from the driver's inputs (scenario, versions, file bytes);
        only the modification times of a data or model folder copied to each node may differ.
        The point then carries the driver's fingerprint, which the next run resumes from."""
        from linksim.runner.fingerprint import changed_inputs, differs_beyond_folder_times

        expected = sim.fingerprint(key)
        if result.fingerprint == expected:
            return
        parts = sim.fingerprint_parts(key)
        if differs_beyond_folder_times(result.fingerprint_parts, parts):
            changed = ", ".join(changed_inputs(parts, result.fingerprint_parts))
            raise RunError(f"point {key.codec} | {key.channel} | {key.label()}: a Ray worker computed it with other "
                           f"inputs than the driver's ({changed}; driver -> worker): install the same linksim, "
                           "torch, Sionna and numba on every node, with the same files at the same paths")
        result.fingerprint, result.fingerprint_parts = expected, parts

    def _wants_gpu(self, device: str) -> bool:
        """Whether each point asks for a GPU: ``cuda`` scenarios always, ``auto`` when the cluster has one."""
        if device.startswith("cuda"):
            return True
        return device == "auto" and self._ray.cluster_resources().get("GPU", 0) > 0

    def _get(self, ref, key: PointKey) -> PointResult:
        """The result of a finished task; a failure inside the point is raised as itself, in one line."""
        ray = self._ray
        try:
            return ray.get(ref)
        except ray.exceptions.RayTaskError as e:
            raise e.cause from None
        except ray.exceptions.RayError as e:
            first = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
            raise RunError(f"point {key.codec} | {key.channel} | {key.label()} failed on Ray after "
                           f"{MAX_RETRIES} retries: {first}") from None
