"""``report.html``: one page per run that a person opens with a double click.

What ran (the resolved scenario, versions, seed, device, wall time, points simulated /
resumed / skipped, the link budget of a distance sweep), the range or required-SNR table,
the results table (sortable by any column, filterable by codec, channel and metric), every
figure, and the sample grids with each image's PSNR and SSIM under them; infeasible points
and non-finite, fallback and over-budget rates are flagged where they occur.

The page is plain HTML and CSS with a few lines of JavaScript (sorting, filtering, and a
check that every image loaded), no library and no network: the figures and grids are the
run folder's own files, linked relatively, so the page works wherever the folder goes.
``linksim report DIR`` rebuilds it from a finished run; a run writes it at its end.
"""

from __future__ import annotations

import csv
import datetime
import html
import json
import math
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from linksim.plots import read_figure_context, read_results_csv, write_atomically

__all__ = ["REPORT_HTML", "RUN_JSON", "write_report", "write_run_info"]

REPORT_HTML = "report.html"
#: what a run records about itself for the report (wall time, points, device, versions)
RUN_JSON = "run.json"
#: rates whose non-zero value is flagged in the results table
FLAGGED_RATES = ("nonfinite_rate", "nonfinite_output_rate", "fallback_rate", "over_budget_rate")
#: images per sample grid (the grids' columns)
GRID_IMAGES = 8


def write_run_info(run_dir: Path, info: dict) -> Path:
    """``run.json``: ``info`` (wall time, points simulated / resumed / skipped, device, seed,
    versions) with the time it was written."""
    info = {**info, "finished_at": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds")}
    return write_atomically(Path(run_dir) / RUN_JSON, lambda fh: fh.write(json.dumps(info, indent=1).encode()))


def _read_json(path: Path) -> dict:
    try:
        data = json.loads(path.read_text())
        return data if isinstance(data, dict) else {}
    except (OSError, ValueError):
        return {}


def _read_csv(path: Path) -> list[dict]:
    try:
        with open(path, newline="", encoding="utf-8") as fh:
            return list(csv.DictReader(fh))
    except OSError:
        return []


def _e(value: Any) -> str:
    return html.escape(str(value), quote=True)


def _number(value: Any) -> str:
    if value is None or value == "":
        return ""
    try:
        v = float(value)
    except (TypeError, ValueError):
        return _e(value)
    if math.isnan(v):
        return "nan"
    if math.isinf(v):
        return "\u221e" if v > 0 else "-\u221e"
    return f"{v:.4g}"


def _table(columns: list[str], rows: Iterable[list[str]], cls: str = "", row_classes: Iterable[str] | None = None,
           raw: bool = False) -> str:
    """An HTML table; cells are escaped unless ``raw``."""
    head = "".join(f"<th>{_e(c)}</th>" for c in columns) if any(columns) else ""
    body = []
    classes = list(row_classes) if row_classes is not None else None
    for i, row in enumerate(rows):
        rc = f' class="{classes[i]}"' if classes and classes[i] else ""
        body.append(f"<tr{rc}>" + "".join(f"<td>{c if raw else _e(c)}</td>" for c in row) + "</tr>")
    thead = f"<thead><tr>{head}</tr></thead>" if head else ""
    return f'<table class="{cls}">{thead}<tbody>{"".join(body)}</tbody></table>'


def _flag(row: dict) -> str:
    """Why a results row is flagged ('' when it is not)."""
    metric = row["metric"].split("/", 1)[0]
    value = row.get("value")
    if metric == "infeasible" and value == 1.0:
        return "infeasible: the codec does not fit the bandwidth budget"
    if metric in FLAGGED_RATES and value is not None and value > 0:
        return f"{metric} > 0"
    if value is not None and isinstance(value, float) and math.isinf(value) and metric not in ("psnr",):
        return "non-finite value"
    return ""


def _point_results(run_dir: Path, rows: list[dict], results) -> list:
    """The finished points of the run (those in results.csv), from ``results`` or results.h5."""
    if results is None:
        path = run_dir / "results.h5"
        if not path.is_file():
            return []
        from linksim.results import ResultStore

        try:
            results = ResultStore(path).read_all()
        except Exception:  # noqa: BLE001 - a damaged results.h5: the report shows what it can
            return []
    wanted = {(r["codec"], r["channel"], r.get("snr_db"), r.get("distance_m")) for r in rows}

    def key(p):
        k = p.key
        return (k.codec, k.channel, None if k.snr_db is None else float(k.snr_db),
                None if k.distance_m is None else float(k.distance_m))

    return [p for p in results if key(p) in wanted or key(p)[:3] + (None,) in wanted]


def _figure_files(run_dir: Path) -> list[Path]:
    """The run's figures, one file per figure: SVG where written (sharp at any zoom), else PNG."""
    folder = run_dir / "plots"
    if not folder.is_dir():
        return []
    stems: dict[str, Path] = {}
    for p in sorted(folder.iterdir()):
        if p.suffix in (".svg", ".png") and not p.name.startswith("."):
            if p.stem not in stems or p.suffix == ".svg":
                stems[p.stem] = p
    return list(stems.values())


def _samples_section(run_dir: Path, points: list) -> str:
    grids = sorted(p for p in (run_dir / "samples").glob("*.png") if not p.name.startswith(".")) \
        if (run_dir / "samples").is_dir() else []
    if not grids:
        return "<p>No sample grids.</p>"
    by_pair: dict[tuple[str, str], list] = {}
    for p in points:
        by_pair.setdefault((p.key.codec, p.key.channel), []).append(p)
    out = []
    for g in grids:
        codec, _, channel = g.stem.partition("__")
        out.append(f'<figure class="grid"><img src="samples/{_e(g.name)}" alt="{_e(g.stem)}" loading="lazy">'
                   f"<figcaption>{_e(g.stem)}</figcaption></figure>")
        pts = by_pair.get((codec, channel), [])
        rows, shown = [], False
        for p in pts:
            psnr = p.per_sample.get("psnr") if p.per_sample else None
            ssim = p.per_sample.get("ssim") if p.per_sample else None
            if psnr is None and ssim is None:
                continue
            shown = True
            cells = [_e(p.key.label())]
            for i in range(GRID_IMAGES):
                parts = []
                if psnr is not None and i < len(psnr):
                    parts.append(f"{_number(psnr[i])} dB")
                if ssim is not None and i < len(ssim):
                    parts.append(f"SSIM {_number(ssim[i])}")
                cells.append("<br>".join(parts))
            rows.append(cells)
        if shown:
            out.append('<p class="note">Each image of the grid above (columns left to right): PSNR and SSIM '
                       "of its reconstruction at each point.</p>")
            out.append(_table(["point"] + [f"image {i + 1}" for i in range(GRID_IMAGES)], rows, "samples", raw=True))
    return "\n".join(out)


_CSS = """
body{font-family:system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;margin:1.5em auto;max-width:1200px;
padding:0 1em;color:#222;line-height:1.4}
h1{font-size:1.6em;margin-bottom:.2em}h2{border-bottom:1px solid #ccc;padding-bottom:.2em;margin-top:1.6em}
table{border-collapse:collapse;font-size:.85em;margin:.5em 0}th,td{border:1px solid #ddd;padding:.25em .5em;
text-align:right}th{background:#f3f3f3;cursor:pointer;position:sticky;top:0}td:first-child,th:first-child,
td:nth-child(2),td:nth-child(3){text-align:left}tr.flag td{background:#fff0e0}td.why{color:#a40;text-align:left}
.facts td{text-align:left}.facts td:first-child{font-weight:600}.flags{background:#fff0e0;border:1px solid #e8b070;
padding:.5em 1em}.figures{display:flex;flex-wrap:wrap;gap:1em}.figures figure{margin:0;max-width:100%}
.figures img{max-width:100%;height:auto;border:1px solid #eee}figure.grid img{max-width:100%;image-rendering:pixelated}
figcaption{font-size:.8em;color:#555}pre{background:#f8f8f8;padding:.8em;overflow:auto;font-size:.8em}
.filters input{margin-right:.5em}.note{font-size:.85em;color:#555}table.samples td{font-size:.8em}
"""

# sorting, filtering, and the image check (the browser test reads data-images / data-errors)
_JS = """
window.addEventListener('error', function (e) {
  document.body.dataset.errors = (document.body.dataset.errors || '') + (e.message || 'error') + ';';
});
function sortTable(th) {
  var table = th.closest('table'), body = table.tBodies[0], i = Array.from(th.parentNode.children).indexOf(th);
  var asc = th.dataset.order !== 'asc'; th.dataset.order = asc ? 'asc' : 'desc';
  var rows = Array.from(body.rows);
  rows.sort(function (a, b) {
    var x = a.cells[i].textContent, y = b.cells[i].textContent, fx = parseFloat(x), fy = parseFloat(y);
    var c = (!isNaN(fx) && !isNaN(fy)) ? fx - fy : x.localeCompare(y);
    return asc ? c : -c;
  });
  rows.forEach(function (r) { body.appendChild(r); });
}
function filterResults() {
  var f = Array.from(document.querySelectorAll('.filters input')).map(function (e) {
    return e.value.trim().toLowerCase();
  });
  Array.from(document.querySelectorAll('#results tbody tr')).forEach(function (r) {
    var ok = f.every(function (v, j) { return !v || r.cells[j].textContent.toLowerCase().indexOf(v) >= 0; });
    r.style.display = ok ? '' : 'none';
  });
}
document.addEventListener('DOMContentLoaded', function () {
  document.querySelectorAll('th').forEach(function (th) {
    th.addEventListener('click', function () { sortTable(th); });
  });
  document.querySelectorAll('.filters input').forEach(function (e) { e.addEventListener('input', filterResults); });
});
window.addEventListener('load', function () {
  var broken = Array.from(document.images).filter(function (im) { return !im.complete || !im.naturalWidth; });
  document.body.dataset.images = broken.length ? 'broken: ' + broken.map(function (im) {
    return im.getAttribute('src');
  }).join(' ') : 'ok ' + document.images.length;
});
"""


def write_report(run_dir: Path, results: list | None = None) -> Path:
    """Write ``run_dir/report.html`` from the run folder's files (see the module docstring).

    :param results: the run's :class:`~linksim.results.PointResult` objects when the caller
        has them (a run at its end); otherwise read from ``results.h5``.
    :raises DataError: ``results.csv`` is missing or malformed.
    """
    run_dir = Path(run_dir)
    rows = read_results_csv(run_dir / "results.csv")
    scenario_text = (run_dir / "scenario.yaml").read_text() if (run_dir / "scenario.yaml").is_file() else ""
    info = _read_json(run_dir / RUN_JSON)
    context = read_figure_context(run_dir)
    points = _point_results(run_dir, rows, results)
    name = _scenario_field(scenario_text, "name") or run_dir.resolve().name
    distance = any(r.get("distance_m") is not None for r in rows)

    facts = [("scenario", name), ("seed", _scenario_field(scenario_text, "seed") or "")]
    for key, label in (("device", "device"), ("wall_time_s", "wall time [s]"), ("points_simulated", "points simulated"),
                       ("points_resumed", "points resumed"), ("points_skipped", "points skipped (error-free SNR)"),
                       ("finished_at", "finished (UTC)")):
        if key in info:
            value = info[key]
            facts.append((label, f"{value:.1f}" if isinstance(value, float) else str(value)))
    for k, v in sorted((info.get("versions") or {}).items()):
        facts.append((f"version: {k}", str(v)))
    titles = context.get("channel_titles") or {}
    if titles:
        facts.append(("channels", "; ".join(f"{k} = {v}" for k, v in titles.items())))

    flags = [(r, _flag(r)) for r in rows]
    flagged = [(r, why) for r, why in flags if why]
    parts = [f"<h1>{_e(name)}</h1>", '<p class="note">linksim run report: results.csv, the figures and the sample '
             "grids of this folder on one page. Click a column heading to sort; type in the boxes to filter.</p>"]
    if flagged:
        groups: dict[tuple[str, str, str], list[str]] = {}
        for r, why in flagged:
            groups.setdefault((r["codec"], r["channel"], why), []).append(_where(r))
        items = "".join(f"<li>{_e(codec)} over {_e(channel)}: {_e(why)} at {_e(', '.join(at))}</li>"
                        for (codec, channel, why), at in groups.items())
        parts.append(f'<div class="flags"><strong>Flagged: {len(flagged)} points</strong> (rows marked in the '
                     f"results table)<ul>{items}</ul></div>")
    parts.append("<h2>What ran</h2>" + _table(["", ""], facts, "facts"))
    if scenario_text:
        parts.append("<details><summary>The resolved scenario (scenario.yaml)</summary>"
                     f"<pre>{_e(scenario_text)}</pre></details>")
    budget = info.get("link_budget")
    if isinstance(budget, dict) and budget.get("rows"):
        parts.append("<h2>Link budget</h2>" + _table(
            ["item"] + [f"{d:g} m" for d in budget.get("distances_m", [])] + ["unit"],
            ([item, *values, unit] for item, values, unit in budget["rows"]), "budget"))
    elif distance:  # a run without run.json: the SNR of each distance, from results.csv
        snrs = sorted({(r["distance_m"], r["snr_db"]) for r in rows if r.get("snr_db") is not None})
        parts.append("<h2>Link budget</h2>" + _table(["distance [m]", "Es/N0 per RE [dB]"],
                                                     ([_number(d), _number(s)] for d, s in snrs), "budget"))
    for file, title in (("range.csv", "Range meeting each target"), ("required_snr.csv", "SNR each codec needs")):
        table = _read_csv(run_dir / file)
        if table:
            cols = list(table[0])
            parts.append(f"<h2>{title} ({file})</h2>" + _table(cols, ([_number(r[c]) if c not in (
                "codec", "channel", "metric", "crossing", "monotone") else r[c] for c in cols] for r in table), "range"))
    cols = ["codec", "channel", "metric", "distance_m" if distance else "snr_db", "value", "ci_low", "ci_high", "n"]
    filters = "".join(f'<input placeholder="{c}" aria-label="filter {c}">' for c in ("codec", "channel", "metric"))
    parts.append(f'<h2>Results (results.csv, {len(rows)} rows)</h2><div class="filters">{filters}</div>')
    table_rows = [[r["codec"], r["channel"], r["metric"]] + [_number(r.get(c)) for c in cols[3:]] + [why]
                  for r, why in flags]
    parts.append(_table(cols + ["flag"], table_rows, "results", ("flag" if why else "" for _, why in flags))
                 .replace('<table class="results">', '<table class="results" id="results">'))
    figures = _figure_files(run_dir)
    parts.append("<h2>Figures</h2>" + ('<div class="figures">' + "".join(
        f'<figure><img src="plots/{_e(p.name)}" alt="{_e(p.stem)}" loading="lazy"><figcaption>{_e(p.stem)} '
        f"({', '.join(_e(q.suffix[1:]) for q in sorted(p.parent.glob(p.stem + '.*')))})</figcaption></figure>"
        for p in figures) + "</div>" if figures else "<p>No figures.</p>"))
    parts.append("<h2>Samples</h2>" + _samples_section(run_dir, points))
    page = (f'<!DOCTYPE html><html lang="en"><head><meta charset="utf-8"><title>{_e(name)}: linksim report</title>'
            f'<meta name="viewport" content="width=device-width, initial-scale=1"><style>{_CSS}</style>'
            f"<script>{_JS}</script></head><body>{''.join(parts)}</body></html>\n")
    return write_atomically(run_dir / REPORT_HTML, lambda fh: fh.write(page.encode("utf-8")))


def _where(row: dict) -> str:
    if row.get("distance_m") is not None:
        return f"{row['distance_m']:g} m"
    return f"{row['snr_db']:g} dB" if row.get("snr_db") is not None else "-"


def _scenario_field(text: str, field: str) -> str | None:
    """A top-level scalar of the run's scenario.yaml (read without validating it)."""
    import yaml

    try:
        data = yaml.safe_load(text) if text else None
    except yaml.YAMLError:
        return None
    value = data.get(field) if isinstance(data, dict) else None
    return None if value is None else str(value)

