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

RANGE_COLUMNS = ["codec", "channel", "metric", "target", "max_distance_m", "snr_db", "value", "range_m",
                 "range_low_m", "range_high_m", "crossing", "monotone"]
REQUIRED_SNR_COLUMNS = ["codec", "channel", "metric", "target", "required_snr_db", "required_snr_low_db",
                        "required_snr_high_db", "crossing", "monotone"]


class NonMonotoneWarning(UserWarning):
    """A swept metric meets its target again beyond the point where it first failed it."""


def link_budget_table(sc: Scenario, distances: list[float] | None = None) -> tuple[list[float], list[tuple]]:
    """``(distances, rows)`` of the scenario's link budget: each row ``(item, [value at each
    distance], unit)``, an Eb/N0 row per digital stream; the sweep's distances by default
    (what ``linksim budget`` prints and ``report.html`` shows)."""
    from linksim.phy.modulation import bits_per_symbol

    lb = sc.link_budget.budget()
    distances = list(distances or sc.sweep.distance_points())
    streams = {}
    for c, transports in zip(sc.codecs, sc.transports):
        for name, t in transports.items():
            if t.path == "digital":
                streams[f"{c.name}/{name} ({t.modulation}, r={t.code_rate:g})"] = (bits_per_symbol(t.modulation),
                                                                                  t.code_rate)
    per_distance = [lb.table(d, streams) for d in distances]
    rows = [(item, [table[i][1] for table in per_distance], unit)
            for i, (item, _, unit) in enumerate(per_distance[0]) if item != "distance"] if per_distance else []
    return distances, rows


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


def _swept(rows: list[dict], codec: str, channel: str, metric: str, x_key: str) -> list[dict]:
    return sorted((r for r in rows if (r["codec"], r["channel"], r["metric"]) == (codec, channel, metric)
                   and r.get(x_key) is not None), key=lambda r: r[x_key])


def _crossings_of(sc: Scenario, rows: list[dict], x_key: str, log_x: bool, easy_first_descending: bool,
                  again: str):
    """``(codec, channel, metric, target, points, feasible, Crossing)`` for every codec x
    channel x target; points sorted from the easy end of the sweep."""
    from linksim.runner.target_crossing import crossing

    infeasible = {(r["codec"], r["channel"], r.get(x_key)) for r in rows
                  if r["metric"] == "infeasible" and r["value"] == 1.0}
    for codec, channel in dict.fromkeys((r["codec"], r["channel"]) for r in rows):
        for name, target in sc.targets.items():
            metric = _row_name(name)
            info = metric_info(metric)
            pts = _swept(rows, codec, channel, metric, x_key)
            pts = pts[::-1] if easy_first_descending else pts
            feasible = [(codec, channel, r[x_key]) not in infeasible for r in pts]
            c = crossing([r[x_key] for r in pts], [r["value"] for r in pts], [r.get("ci_low") for r in pts],
                         [r.get("ci_high") for r in pts], target, info.higher_is_better is not False, log_x=log_x,
                         log_y=info.scale == "log", feasible=feasible)
            if not c.monotone:
                _warn_non_monotone(codec, channel, metric, target, again)
            yield codec, channel, metric, target, pts, feasible, c


def range_rows(sc: Scenario, rows: list[dict]) -> list[dict]:
    """The range of every codec x channel x target of a distance sweep.

    ``max_distance_m`` is the largest swept distance [m] at which the codec fits the
    bandwidth budget (no ``infeasible`` row of value 1) and its fidelity meets the
    target; None when no distance does. ``snr_db`` and ``value`` are that point's.
    ``range_m`` is where the metric crosses the target, interpolated in log-distance between
    the last point that meets it and the first that does not (walking outwards), with
    ``range_low_m`` / ``range_high_m`` from the confidence bounds
    (:mod:`linksim.runner.target_crossing`); ``crossing`` is ``crossed``, ``always`` (met at
    every swept distance: the range lies beyond) or ``never``; ``monotone`` is False (and a
    :class:`NonMonotoneWarning` is issued) when a farther point meets the target again.
    """
    out = []
    for codec, channel, metric, target, pts, feasible, c in _crossings_of(
            sc, rows, "distance_m", True, False, "a farther distance meets it again"):
        passing = [r for r, f in zip(pts, feasible) if f and meets(metric, r["value"], target)]
        best = passing[-1] if passing else None
        out.append({"codec": codec, "channel": channel, "metric": metric, "target": target,
                    "max_distance_m": best["distance_m"] if best else None,
                    "snr_db": best["snr_db"] if best else None, "value": best["value"] if best else None,
                    "range_m": c.at, "range_low_m": c.low, "range_high_m": c.high, "crossing": c.status,
                    "monotone": c.monotone})
    return out


def required_snr_rows(sc: Scenario, rows: list[dict]) -> list[dict]:
    """The SNR each codec needs on each channel to meet each target, in an SNR sweep: the
    crossing interpolated in dB between the lowest SNR that meets the target and the next
    lower one that does not (walking down from the highest SNR), with its interval from the
    confidence bounds; columns :data:`REQUIRED_SNR_COLUMNS` (see :func:`range_rows`)."""
    return [{"codec": codec, "channel": channel, "metric": metric, "target": target,
             "required_snr_db": c.at, "required_snr_low_db": c.low, "required_snr_high_db": c.high,
             "crossing": c.status, "monotone": c.monotone}
            for codec, channel, metric, target, _, _, c in _crossings_of(
                sc, rows, "snr_db", False, True, "a lower SNR meets it again")]


def _warn_non_monotone(codec: str, channel: str, metric: str, target: float, what: str) -> None:
    import warnings

    warnings.warn(f"{codec} over {channel}: {metric} fails the target {target:g} and then {what}; the crossing "
                  "given is the first (more samples per point may smooth the curve)", NonMonotoneWarning, stacklevel=3)


def write_range_csv(rows: list[dict], path: Path, columns: list[str] = RANGE_COLUMNS) -> None:
    """``range.csv`` (columns :data:`RANGE_COLUMNS`; an empty ``max_distance_m`` means never met)
    or ``required_snr.csv`` (``columns`` :data:`REQUIRED_SNR_COLUMNS`); empty cells: none."""
    def cell(v) -> str:
        if v is None:
            return ""
        if isinstance(v, bool):
            return "true" if v else "false"
        return f"{v:.6g}" if isinstance(v, float) else str(v)

    with open(path, "w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(columns)
        for r in rows:
            w.writerow([cell(r[c]) for c in columns])


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

    from linksim.plots import (FIGURES_JSON, plot_fidelity_vs_bandwidth, plot_fidelity_vs_load, plot_results,
                               save_sample_grid, write_atomically)
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
    written += plot_fidelity_vs_bandwidth(rows, out_dir / "plots", options, channel_titles=context["channel_titles"],
                                          source_values=context["source_values"])
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


