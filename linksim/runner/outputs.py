"""What a finished sweep writes: results.csv, the figures, the sample grids, and range.csv."""

from __future__ import annotations

import csv
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from linksim.metrics.table import metric_info
from linksim.results import PointResult
from linksim.runner.paths import inside_run_folder

if TYPE_CHECKING:
    from linksim.data import ImageDataset
    from linksim.data.multimodal import MultimodalBatch
    from linksim.scenario import Scenario

RANGE_COLUMNS = ["codec", "channel", "metric", "target", "max_distance_m", "snr_db", "value"]


def _row_name(target: str) -> str:
    """The results row of a ``targets`` key: a metric name, or a ``package.module:METRIC`` reference."""
    from linksim.metrics.table import METRICS

    try:
        return METRICS.resolve(target).name
    except Exception:  # noqa: BLE001 - validation already reported it
        return target


def meets(metric: str, value: float | None, target: float) -> bool:
    """Whether ``value`` of ``metric`` meets ``target`` (``<=`` where lower is better, per the metric table)."""
    return metric_info(metric).meets(value, target)


def range_rows(sc: Scenario, rows: list[dict]) -> list[dict]:
    """The maximum range of every codec x channel x target of a distance sweep.

    ``max_distance_m`` is the largest swept distance [m] at which the codec fits the
    bandwidth budget (no ``infeasible`` row of value 1) and its fidelity meets the
    target; None when no distance does. ``snr_db`` and ``value`` are that point's.
    """
    infeasible = {(r["codec"], r["channel"], r.get("distance_m")) for r in rows
                  if r["metric"] == "infeasible" and r["value"] == 1.0}
    pairs = list(dict.fromkeys((r["codec"], r["channel"]) for r in rows))
    out = []
    for codec, channel in pairs:
        for name, target in sc.targets.items():
            metric = _row_name(name)
            best = None
            for r in rows:
                if (r["codec"], r["channel"], r["metric"]) != (codec, channel, metric):
                    continue
                if (codec, channel, r.get("distance_m")) in infeasible or not meets(metric, r["value"], target):
                    continue
                if best is None or r["distance_m"] > best["distance_m"]:
                    best = r
            out.append({"codec": codec, "channel": channel, "metric": metric, "target": target,
                        "max_distance_m": best["distance_m"] if best else None,
                        "snr_db": best["snr_db"] if best else None, "value": best["value"] if best else None})
    return out


def write_range_csv(rows: list[dict], path: Path) -> None:
    """``range.csv``: columns :data:`RANGE_COLUMNS`; an empty ``max_distance_m`` means never met."""
    with open(path, "w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(RANGE_COLUMNS)
        for r in rows:
            w.writerow(["" if r[c] is None else (f"{r[c]:.6g}" if isinstance(r[c], float) else r[c]) for c in RANGE_COLUMNS])


def result_rows(sc: Scenario, results: list[PointResult]) -> list[dict]:
    """Tidy rows of every point, in sweep order."""
    return [row for r in results for row in r.rows(sc.metric_names)]


def write_outputs(sc: Scenario, dataset: ImageDataset | MultimodalBatch, results: list[PointResult],
                  out_dir: Path) -> list[Path]:
    """results.csv, figures.json, the figures (plots/, in the scenario's ``outputs`` formats)
    and samples/*.png from the finished points.

    :param dataset: the run's data: its first samples are the originals of the sample grids.
    :param results: the finished points, in sweep order.
    :return: the files written.
    """
    from linksim.plots import old_objects_frozen

    with old_objects_frozen():  # no full garbage-collection pass over the simulation's objects while drawing
        return _write_outputs(sc, dataset, results, out_dir)


def figure_context(sc: Scenario, dataset: ImageDataset | MultimodalBatch) -> dict:
    """What the figures need beyond results.csv, as written to ``figures.json`` (so that
    ``linksim plot`` and ``linksim compare`` redraw them alike): each channel's title, the
    targets by metric row, and the real values per source sample (for k/n in legends)."""
    shape = getattr(dataset, "sample_shape", None)
    return {"channel_titles": {p.label(): p.title() for p in sc.channel_params},
            "targets": {_row_name(k): v for k, v in sc.targets.items()},
            "source_values": int(np.prod(shape)) if shape else None}


def _write_outputs(sc: Scenario, dataset: ImageDataset | MultimodalBatch, results: list[PointResult],
                   out_dir: Path) -> list[Path]:
    import json

    from linksim.plots import FIGURES_JSON, plot_fidelity_vs_load, plot_results, save_sample_grid, write_atomically
    from linksim.results import write_csv
    from linksim.runner.simulation import SAMPLES_PER_GRID

    rows = result_rows(sc, results)
    write_csv(rows, out_dir / "results.csv")
    written = [out_dir / "results.csv"]
    context = figure_context(sc, dataset)
    written.append(write_atomically(out_dir / FIGURES_JSON,
                                     lambda fh: fh.write(json.dumps(context, indent=1).encode())))
    options = sc.outputs.figure_options()
    written += plot_results(rows, out_dir / "plots", options, channel_titles=context["channel_titles"],
                            targets=context["targets"], source_values=context["source_values"])
    originals = dataset.previews(SAMPLES_PER_GRID)
    by_pair: dict[tuple[str, str], list[PointResult]] = {}
    for r in results:
        if r.samples is not None:
            by_pair.setdefault((r.key.codec, r.key.channel), []).append(r)
    for (codec, channel), points in by_pair.items():
        recon = {r.key.label(): r.samples for r in points}
        path = inside_run_folder(out_dir, out_dir / "samples" / f"{codec}__{channel}.png")
        written.append(save_sample_grid(originals[: len(points[0].samples)], recon, path, title=f"{codec} over {channel}"))
    series = {c.name: c.series for c in sc.codecs if c.series}
    written += plot_fidelity_vs_load(rows, series, out_dir / "plots", options,
                                     channel_titles=context["channel_titles"])
    written += _save_series_grids(results, series, originals, out_dir / "samples")
    return written


def _save_series_grids(results: list[PointResult], series: dict[str, str], originals, folder: Path) -> list[Path]:
    """One grid per series x channel x SNR (or distance): the series' codecs side by side
    (e.g. X̂ and X̃ of HSC for several d, the paper's Fig. 5)."""
    from linksim.plots import safe_filename, save_sample_grid

    groups: dict[tuple, dict[str, np.ndarray]] = {}
    for r in results:
        if r.samples is not None and r.key.codec in series:
            where = (series[r.key.codec], r.key.channel, r.key.snr_db, r.key.distance_m)
            groups.setdefault(where, {})[r.key.codec] = r.samples
    written = []
    for (name, channel, snr, dist), recon in groups.items():
        if len(recon) < 2:
            continue
        at = f"{dist:g}m" if dist is not None else f"{snr:g}dB"
        n = min(len(v) for v in recon.values())
        written.append(save_sample_grid(originals[:n], {c: v[:n] for c, v in recon.items()},
                                        inside_run_folder(folder, folder / f"{safe_filename(name)}__{channel}__{at}.png"),
                                        title=f"{name} over {channel} @ {at}"))
    return written


