"""Checks before a run writes anything: the output folder is writable and has room."""

from __future__ import annotations

import math
import shutil
from pathlib import Path
from typing import TYPE_CHECKING

from linksim.errors import RunError

if TYPE_CHECKING:
    from linksim.runner.simulation import Simulation

#: bytes of one PNG figure or sample grid, generously (they are 30-150 kB at the default size)
PNG_BYTES = 400_000


def estimate_output_bytes(sim: Simulation) -> int:
    """Bytes a run of ``sim`` writes at most, before anything is simulated (an upper estimate).

    Per point: the per-sample values (float64) of every metric and stream counter, the
    uncompressed sample grid (float32) and HDF5's overhead; results.h5 is held up to three
    times at once (the journal, the file, the new file being consolidated). Plus
    results.csv (about 120 bytes a row) and the PNG figures and grids.
    """
    sc = sim.scenario
    points = len(sim.points())
    streams = max(len(c.transports) for c in sim.codecs.values())
    series = len(sc.metrics) + 3 * streams + 6  # fidelity metrics, ber/payload/symbol_mse per stream, counters
    from linksim.data.multimodal import MultimodalBatch
    from linksim.runner.simulation import SAMPLES_PER_GRID

    # one sample as shown in a grid: an image, or (upper bound) every frame of a clip
    shown = sim.dataset.frames.shape[1:] if isinstance(sim.dataset, MultimodalBatch) else sim.dataset.images.shape[1:]
    per_point = series * sim.max_samples() * 8 + SAMPLES_PER_GRID * math.prod(shown) * 4 + 16_384
    csv_rows = points * (series + 8)
    figures = (len(sc.metrics) + 2 * streams + 4) + len(sim.codecs) * len(sim.channels)
    return 3 * points * per_point + csv_rows * 120 + figures * PNG_BYTES


def check_writable(out_dir: Path, need_bytes: int = 0) -> None:
    """The output folder exists, is writable and has room for ``need_bytes``: checked
    before simulating, not after an hour."""
    try:
        out_dir.mkdir(parents=True, exist_ok=True)
        probe = out_dir / ".write-test"
        probe.write_bytes(b"x")
        probe.unlink()
    except OSError as e:
        raise RunError(f"output folder {out_dir} is not writable: {e.strerror or e}") from None
    free = shutil.disk_usage(out_dir).free
    if free < need_bytes:
        raise RunError(f"not enough free space in {out_dir}: the run writes up to {need_bytes / 1e6:.1f} MB, "
                       f"{free / 1e6:.1f} MB are free (free some space, or use --out on another disk)")
