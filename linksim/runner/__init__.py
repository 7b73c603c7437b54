"""The sweep: encode -> carry each stream over the PHY -> decode -> metrics, point by point.

- :mod:`.simulation` — :class:`Simulation`: data, grid, channels, codecs and links, built once;
- :mod:`.point` — one point, batch by batch, through the codec face only;
- :mod:`.fingerprint` — what determines a point's numbers (files, versions, device, plugins' code);
- :mod:`.schedule` — which points may start now (order, skips of error-free SNRs);
- :mod:`.execution` — what the sweep asks of an executor, and the default in-process one;
- :mod:`.sweep` — every point through an executor; a run folder, or in memory;
- :mod:`.outputs` — results.csv, figures, sample grids, range.csv;
- :mod:`.disk` — the output folder's checks before anything is simulated.
"""

from linksim.errors import RunError

from .disk import check_writable, estimate_output_bytes
from .execution import Executor, InProcessExecutor, PointProgress
from .fingerprint import RecomputeWarning, plugin_provenance, point_fingerprint, point_parts
from .outputs import RANGE_COLUMNS, meets, range_rows, result_rows, write_outputs, write_range_csv
from .point import required_channel_uses, simulate_point
from .schedule import PointSchedule, is_error_free
from .simulation import SAMPLES_PER_GRID, Simulation, grid_of, point_seed, resolve_device, versions
from .sweep import RunSummary, run_in_memory, run_scenario

__all__ = [
    "Executor",
    "InProcessExecutor",
    "PointProgress",
    "PointSchedule",
    "RecomputeWarning",
    "is_error_free",
    "RANGE_COLUMNS",
    "SAMPLES_PER_GRID",
    "RunError",
    "RunSummary",
    "Simulation",
    "check_writable",
    "estimate_output_bytes",
    "grid_of",
    "meets",
    "plugin_provenance",
    "point_fingerprint",
    "point_parts",
    "point_seed",
    "range_rows",
    "required_channel_uses",
    "resolve_device",
    "result_rows",
    "run_in_memory",
    "run_scenario",
    "simulate_point",
    "versions",
    "write_outputs",
    "write_range_csv",
]
