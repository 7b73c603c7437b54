"""Figures from the tidy results rows (matplotlib, Agg, no display), and sample grids (Pillow).

Results rows are dicts with the keys of ``results.csv``: ``codec, channel,
snr_db, metric, value, ci_low, ci_high, n`` and optionally ``distance_m``.
Metrics fall in three groups:

* link metrics: ``ber``, ``bler``, ``ber/<stream>``, ``bler/<stream>``
  (plotted on a log axis);
* accounting rows: ``channel_uses``, ``payload_bits``, ``payload_bits/<stream>``,
  ``nonfinite_rate``, ``fallback_rate`` (never plotted);
* every other metric is a fidelity metric (mse, psnr, ssim, lpips, ...).

Figures are drawn on ``matplotlib.figure.Figure`` objects with an Agg canvas, so
pyplot's global state and the display backend are never touched; their layout is fixed
(margins in inches, the title's place given), so no layout engine runs. Sample grids need
no axes and are drawn with Pillow, which takes milliseconds where matplotlib took a second
per grid. Nothing here imports torch (tensors are read through their own methods). Every PNG is written
under a temporary name in its folder and renamed, so an interrupted save (Ctrl-C,
SIGTERM, ``kill -9``) never leaves a truncated figure under the final name. Values
beyond +-1e200 count as infinite: matplotlib's axis arithmetic overflows on them.

:func:`read_results_csv` reads a ``results.csv`` back for ``linksim plot``, refusing a
malformed one with a :class:`~linksim.errors.DataError` that names the file and line.
"""

from __future__ import annotations

import contextlib
import csv
import functools
import gc
import math
import os
import re
import secrets
import stat
import textwrap
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from linksim.errors import DataError
from linksim.metrics.table import is_accounting_metric, is_fidelity_metric, is_link_metric, metric_info

__all__ = [
    "FigureOptions",
    "check_rc",
    "check_style",
    "codec_styles",
    "compare_runs",
    "plot_fidelity_vs_bandwidth",
    "read_results_csv",
    "plot_results",
    "plot_fidelity_vs_load",
    "save_sample_grid",
    "is_link_metric",
    "is_accounting_metric",
    "is_fidelity_metric",
    "safe_filename",
]

SNR_LABEL = "Es/N0 per RE [dB]"
DISTANCE_LABEL = "Distance [m]"

#: the sample grids' layout resolution (a figure's is FigureOptions.dpi)
_DPI = 100
FIGURE_FORMATS = ("png", "pdf", "svg")
#: every codec keeps one colour and one marker in every figure of a run
_COLORS = tuple(f"C{i}" for i in range(10))
_MARKERS = ("o", "s", "^", "D", "v", "P", "X", "<", ">", "h")
#: the line style of each run that ``linksim compare`` overlays, in the order given
_RUN_LINESTYLES = ("-", "--", ":", "-.")


#: what a run's figures need beyond results.csv (channel titles, targets, source values per
#: sample), written by the run next to results.csv, read by ``linksim plot``
FIGURES_JSON = "figures.json"


def read_figure_context(run_dir: Path) -> dict:
    """``figures.json`` of a run folder ({} when it is missing or unreadable: a run of an
    older version; its figures then show channel labels and no targets)."""
    import json

    try:
        data = json.loads((Path(run_dir) / FIGURES_JSON).read_text())
        return data if isinstance(data, dict) else {}
    except (OSError, ValueError):
        return {}


@dataclass(frozen=True)
class FigureOptions:
    """How figures are written (a scenario's ``outputs:`` section, ``linksim plot`` options).

    :ivar formats: file formats, each figure written once per format (``png``, ``pdf``, ``svg``).
    :ivar dpi: resolution of the PNGs [dots per inch] (vector formats ignore it).
    :ivar width_in: figure width [in] (3.5 for one column of a two-column paper, 7.16 for
        both); panels are laid out to fit it (one column below 6 in, two below 9 in). None:
        3.9 in per panel, up to three panels side by side.
    :ivar style: a matplotlib style (a name such as ``seaborn-v0_8-paper`` or a
        ``.mplstyle`` file), applied before ``rc``.
    :ivar rc: matplotlib rcParams overrides, e.g. ``{"font.size": 8}``.
    """

    formats: tuple[str, ...] = FIGURE_FORMATS
    dpi: int = 200
    width_in: float | None = None
    style: str | None = None
    rc: Mapping[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        bad = [f for f in self.formats if f not in FIGURE_FORMATS]
        if bad or not self.formats:
            raise ValueError(f"formats: expected some of {', '.join(FIGURE_FORMATS)}, got {list(self.formats)}")
        if not 20 <= int(self.dpi) <= 2400:
            raise ValueError(f"dpi: must be in [20, 2400], got {self.dpi}")
        if self.width_in is not None and not 2.0 <= float(self.width_in) <= 40.0:
            raise ValueError(f"width_in: must be in [2, 40] inches, got {self.width_in}")
        for name, check, value in (("style", check_style, self.style), ("rc", check_rc, self.rc)):
            try:
                check(value)
            except ValueError as e:
                raise ValueError(f"{name}: {e}") from None


def check_style(style: str | None) -> None:
    """``ValueError`` unless ``style`` is None, a matplotlib style name or an existing
    ``.mplstyle`` file."""
    if style is None:
        return
    import matplotlib.style

    if style.endswith(".mplstyle") or "/" in style or "\\" in style:
        if not Path(style).expanduser().is_file():
            raise ValueError(f"file '{style}' does not exist")
    elif style not in matplotlib.style.available and style != "default":
        raise ValueError(f"unknown matplotlib style '{style}' "
                         f"(known: {', '.join(sorted(matplotlib.style.available))})")


def check_rc(rc: Mapping[str, Any]) -> None:
    """``ValueError`` naming the first rcParams key that matplotlib does not know or whose
    value its own validator refuses."""
    import matplotlib

    for key, value in rc.items():
        if key not in matplotlib.rcParams:
            raise ValueError(f"unknown matplotlib rc parameter '{key}'")
        try:
            matplotlib.RcParams().__setitem__(key, value)  # matplotlib's validation, nothing set
        except (ValueError, TypeError) as e:
            raise ValueError(f"{key}: {str(e).splitlines()[0]}") from None


def codec_styles(codecs: Iterable[str]) -> dict[str, dict[str, str]]:
    """``codec -> {"color", "marker"}``, in the run's codec order: the same codec looks the
    same in every figure (colour and marker both differ between neighbours, so curves that
    lie on top of each other stay apart in print and for colour-blind readers)."""
    return {c: {"color": _COLORS[i % len(_COLORS)], "marker": _MARKERS[i % len(_MARKERS)]}
            for i, c in enumerate(_ordered_unique(codecs))}


@contextlib.contextmanager
def _style_context(options: FigureOptions):
    """The options' matplotlib style and rc overrides while figures are built and saved."""
    import matplotlib

    with contextlib.ExitStack() as stack:
        # fonts as TrueType in PDF (publishers' checkers refuse Type 3 fonts) and as text in
        # SVG (editable, and a third of the writing time of glyph paths); a style or rc may
        # say otherwise
        stack.enter_context(matplotlib.rc_context({"pdf.fonttype": 42, "ps.fonttype": 42, "svg.fonttype": "none"}))
        if options.style:
            import matplotlib.style

            stack.enter_context(matplotlib.style.context(options.style))
        if options.rc:
            stack.enter_context(matplotlib.rc_context(dict(options.rc)))
        yield
_MAX_GRID_COLUMNS = 8
#: larger magnitudes are drawn as infinite (omitted): matplotlib overflows on a log axis up to ~1e250
_MAX_DRAWABLE = 1e200


# --------------------------------------------------------------------------- metric groups


def _base(metric: str) -> str:
    return metric.split("/", 1)[0]


def _log_scale(metric: str) -> bool:
    """Whether the metric table draws ``metric`` on a log axis."""
    return metric_info(metric).scale == "log"


def safe_filename(metric: str) -> str:
    """A filesystem-safe stem for ``metric``: every character outside ``[A-Za-z0-9._-]`` becomes ``_``.

    ``"ber/data"`` -> ``"ber_data"``.
    """
    s = re.sub(r"[^A-Za-z0-9._-]", "_", metric).strip(".")
    return s or "metric"


def _metric_label(metric: str) -> str:
    base, _, stream = metric.partition("/")
    label = metric_info(base).axis_label
    if stream:
        # keep the unit at the end: "PSNR (stream) [dB]"
        if label.endswith("]") and " [" in label:
            name, unit = label.rsplit(" [", 1)
            return f"{name} ({stream}) [{unit}"
        return f"{label} ({stream})"
    return label


# --------------------------------------------------------------------------- rows

#: the columns ``linksim plot`` needs; ``ci_low``, ``ci_high``, ``n`` and ``distance_m`` may be absent
PLOT_COLUMNS = ("codec", "channel", "snr_db", "metric", "value")
_NUMERIC_COLUMNS = ("snr_db", "value", "ci_low", "ci_high", "n", "distance_m")
_FILE_KINDS = ((stat.S_ISDIR, "a folder"), (stat.S_ISCHR, "a character device"), (stat.S_ISBLK, "a block device"),
               (stat.S_ISFIFO, "a named pipe"), (stat.S_ISSOCK, "a socket"))


def read_results_csv(path: Path) -> list[dict]:
    """The rows of a ``results.csv`` (see :mod:`linksim.results`), checked for plotting.

    A UTF-8 byte order mark (a CSV saved by a spreadsheet) is skipped. Numbers come back as
    floats, empty cells as None; ``distance_m`` only where the file has it.

    :raises DataError: one line naming ``path`` (and the line, for a bad row): not a regular
        file, not UTF-8, empty, a header without the columns :data:`PLOT_COLUMNS`, a row with
        more or fewer fields than the header, a number column that does not hold a number, or
        no row at all.
    """
    path = Path(path)

    def bad(message: str) -> DataError:
        return DataError(f"{path}: {message}")

    mode = os.stat(path).st_mode
    if not stat.S_ISREG(mode):  # a named pipe would block the reader, /dev/zero never end
        raise bad(f"not a regular file ({next((k for t, k in _FILE_KINDS if t(mode)), 'not a file')})")
    rows: list[dict] = []
    reader = None
    try:
        with open(path, newline="", encoding="utf-8-sig") as fh:
            reader = csv.reader(fh)
            header = next(reader, None)
            if header is None:
                raise bad("empty file: no header line and no rows")
            header = [h.strip() for h in header]
            missing = [c for c in PLOT_COLUMNS if c not in header]
            if missing:
                raise bad(f"line 1: no column {', '.join(missing)} (a results.csv starts with "
                          "codec,channel,snr_db,metric,value,ci_low,ci_high,n)")
            for record in reader:
                line = reader.line_num  # where the record ends (a quoted field may span lines)
                if not record:
                    continue  # a blank line
                if len(record) != len(header):
                    raise bad(f"line {line}: {len(record)} fields, but the header has {len(header)}")
                cells = dict(zip(header, record))
                row: dict = {"codec": cells["codec"], "channel": cells["channel"], "metric": cells["metric"]}
                for column in _NUMERIC_COLUMNS:
                    text = cells.get(column, "").strip()
                    if text == "":
                        if column != "distance_m":
                            row[column] = None
                        continue
                    try:
                        row[column] = float(text)
                    except ValueError:
                        raise bad(f"line {line}: {column} {text[:40]!r} is not a number") from None
                rows.append(row)
    except UnicodeDecodeError as e:
        raise bad(f"not UTF-8 text (byte {e.start}: {e.reason})") from None
    except csv.Error as e:
        raise bad(f"line {reader.line_num if reader is not None else 1}: {e}") from None
    if not rows:
        raise bad("a header but no rows: no point has finished, nothing to plot")
    return rows



def _f(v: Any) -> float:
    """Row value -> float; None, '' and unparsable values -> nan; beyond +-1e200 -> +-inf."""
    if v is None:
        return math.nan
    if isinstance(v, str):
        v = v.strip()
        if not v:
            return math.nan
    try:
        x = float(v)
    except (TypeError, ValueError, OverflowError):
        return math.nan
    return math.copysign(math.inf, x) if abs(x) > _MAX_DRAWABLE else x


class _Point:
    __slots__ = ("codec", "channel", "metric", "snr", "dist", "x", "value", "lo", "hi")

    def __init__(self, row: Mapping[str, Any], use_distance: bool):
        self.codec = str(row["codec"])
        self.channel = str(row["channel"])
        self.metric = str(row["metric"])
        self.snr = _f(row.get("snr_db"))
        self.dist = _f(row.get("distance_m"))
        self.x = self.dist if use_distance else self.snr
        self.value = _f(row.get("value"))
        self.lo = _f(row.get("ci_low"))
        self.hi = _f(row.get("ci_high"))

    @property
    def key(self) -> tuple[str, str, float | None, float | None]:
        # NaN != NaN: map a missing coordinate to None so that keys match
        return (
            self.codec,
            self.channel,
            self.snr if math.isfinite(self.snr) else None,
            self.dist if math.isfinite(self.dist) else None,
        )


def _uses_distance(rows: Iterable[Mapping[str, Any]]) -> bool:
    return any(math.isfinite(_f(r.get("distance_m"))) for r in rows)


def _ordered_unique(items: Iterable[str]) -> list[str]:
    return list(dict.fromkeys(items))


def _series(points: list[_Point]) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """x, value, ci_low, ci_high arrays sorted by x (points with a non-finite x dropped)."""
    pts = sorted((p for p in points if math.isfinite(p.x)), key=lambda p: p.x)
    x = np.array([p.x for p in pts], dtype=float)
    y = np.array([p.value for p in pts], dtype=float)
    lo = np.array([p.lo for p in pts], dtype=float)
    hi = np.array([p.hi for p in pts], dtype=float)
    return x, y, lo, hi


# --------------------------------------------------------------------------- figures


@contextlib.contextmanager
def old_objects_frozen():
    """While drawing, leave the objects that existed before out of garbage collection.

    A figure allocates tens of thousands of objects, which triggers the collector's full
    passes; in a run, each pass walks every object of torch, Sionna and the simulation (a
    third of a second per pass here). Frozen (``gc.freeze``), the objects made before are
    skipped, while the figures' own garbage is still collected as usual; they are unfrozen on
    the way out. Does nothing when objects are frozen already (by an outer call, or by an
    application that freezes its heap itself).
    """
    global _FROZE
    # gc.get_freeze_count() walks the frozen objects: asked once, by the outermost call
    if _FROZE or gc.get_freeze_count():
        yield
        return
    gc.freeze()
    _FROZE = True
    try:
        yield
    finally:
        _FROZE = False
        gc.unfreeze()


_FROZE = False  # whether old_objects_frozen froze the objects that are frozen now


def _new_figure(n_panels: int, options: FigureOptions) -> tuple[Figure, list[Any]]:
    # Fixed margins in inches (a layout engine costs as much as drawing on a busy CPU).
    left, right, bottom, top, hgap, vgap = 0.85, 0.2, 0.6, 0.4, 0.85, 0.85
    if options.width_in is None:
        ncols = min(n_panels, 3)
        panel_w = 3.9
    else:  # a paper's column width: as many panels side by side as stay readable
        ncols = min(n_panels, 1 if options.width_in < 6 else 2 if options.width_in < 9 else 3)
        panel_w = max(1.0, (options.width_in - left - right - (ncols - 1) * hgap) / ncols)
    panel_h = 0.75 * panel_w
    nrows = math.ceil(n_panels / ncols)
    width = left + right + ncols * panel_w + (ncols - 1) * hgap
    height = bottom + top + nrows * panel_h + (nrows - 1) * vgap
    fig = Figure(figsize=(width, height), dpi=options.dpi)
    FigureCanvasAgg(fig)
    fig.subplots_adjust(
        left=left / width, right=1 - right / width, bottom=bottom / height, top=1 - top / height,
        wspace=hgap / panel_w, hspace=vgap / panel_h,
    )
    axes = [fig.add_subplot(nrows, ncols, i + 1) for i in range(n_panels)]
    return fig, axes


class _Figures:
    """Figures by number of panels, each drawn on again for the next plot of a call.

    Most of a figure's cost is building it: its axes and the tick objects of every axis
    (dozens per logarithmic axis), and the text metrics its renderer caches. A call that
    draws many figures of one shape (every metric of a sweep, two channels each) builds one
    and clears it between plots: the plotted artists, legend, scales and data limits go, the
    axes and their ticks stay. Each figure is saved before the next is asked for, so one
    per shape is enough. A reused figure draws exactly what a fresh one does (checked pixel
    for pixel in tests/test_plots.py).
    """

    def __init__(self, options: FigureOptions, reuse: bool = True) -> None:
        self.options = options
        self._reuse = reuse and _REUSE_FIGURES
        self._figures: dict[int, tuple[Figure, list[Any]]] = {}

    def get(self, n_panels: int) -> tuple[Figure, list[Any]]:
        """A blank figure with ``n_panels`` panels (see :func:`_new_figure`)."""
        if not self._reuse:
            return _new_figure(n_panels, self.options)
        if n_panels in self._figures:
            fig, axes = self._figures[n_panels]
            for ax in axes:
                _clear_panel(ax)
            return fig, axes
        self._figures[n_panels] = _new_figure(n_panels, self.options)
        return self._figures[n_panels]


#: whether :class:`_Figures` reuses figures (tests turn it off to compare with fresh figures)
_REUSE_FIGURES = True


def _clear_panel(ax: Any) -> None:
    """Back to the state of a new panel for what the plots here set: no artists, no legend,
    linear scales, no data limits, autoscaling on, no title or labels; the axes and their
    tick objects are kept."""
    for artist in [*ax.lines, *ax.collections, *ax.texts, *ax.patches, *ax.images]:
        artist.remove()
    if ax.get_legend() is not None:
        ax.get_legend().remove()
    ax.set_xscale("linear")
    ax.set_yscale("linear")
    ax.set_prop_cycle(None)
    ax.relim()  # empty data limits: the next plot's artists set them, as on a new panel
    ax.autoscale(enable=True)
    ax.set_title("")
    ax.set_xlabel("")
    ax.set_ylabel("")


def _save(fig: Figure, stem: Path, options: FigureOptions) -> list[Path]:
    """Write ``fig`` as ``stem.<format>`` for each of the options' formats, each atomically
    (see :func:`write_atomically`); PNGs at the options' dpi."""
    stem = Path(stem)
    stem = stem.with_suffix("") if stem.suffix.lstrip(".").lower() in FIGURE_FORMATS else stem
    import matplotlib

    out = []
    for fmt in options.formats:
        # no creation date and fixed SVG ids: the same figure gives the same PDF/SVG bytes
        meta = {"png": {}, "pdf": {"CreationDate": None}, "svg": {"Date": None}}[fmt]
        # zlib level 1: a PNG of a plot compresses 5x faster and only ~15 % bigger than at 6
        extra = {"pil_kwargs": {"compress_level": 1}} if fmt == "png" else {}
        with matplotlib.rc_context({"svg.hashsalt": "linksim"}):
            out.append(write_atomically(stem.with_name(f"{stem.name}.{fmt}"),
                                        lambda fh, fmt=fmt, meta=meta, extra=extra: fig.savefig(
                                            fh, format=fmt, dpi=options.dpi, metadata=meta, **extra)))
    return out


def write_atomically(path: Path, write: Callable[[Any], None]) -> Path:
    """Call ``write(fh)`` on a temporary file in ``path``'s folder, then rename it to ``path``:
    an interrupted save leaves the previous file (or none) under ``path``, never a truncated
    one. (``kill -9`` may leave the hidden temporary file behind; it is never read.)"""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}-{secrets.token_hex(4)}.tmp")
    try:
        with open(tmp, "xb") as fh:  # created with the umask's permissions, as the final file would be
            write(fh)
        os.replace(tmp, path)
    except BaseException:  # Ctrl-C and SIGTERM included: no temporary file left behind
        with contextlib.suppress(OSError):
            tmp.unlink()
        raise
    return path


def _decade_axis(ax: Any, which: str) -> None:
    """A log axis with readable ticks: limits widened to whole decades (so at least two
    decade ticks are labelled, never the minor ticks whose labels run into each other),
    labels as 10^k, unlabelled minor ticks at 2 and 5 (enough to read a value; every
    minor tick is an artist that costs drawing time)."""
    from matplotlib.ticker import FuncFormatter, LogLocator, NullFormatter

    axis = ax.yaxis if which == "y" else ax.xaxis
    lo, hi = ax.get_ylim() if which == "y" else ax.get_xlim()
    if lo > 0 and hi > lo and math.isfinite(hi):
        lo_d, hi_d = math.floor(math.log10(lo) + 1e-9), math.ceil(math.log10(hi) - 1e-9)
        hi_d = max(hi_d, lo_d + 1)
        (ax.set_ylim if which == "y" else ax.set_xlim)(10.0 ** lo_d, 10.0 ** hi_d)
        step = max(1, math.ceil((hi_d - lo_d) / 6))  # at most ~7 labels
        axis.set_major_locator(LogLocator(base=10.0, subs=(1.0,), numticks=100))
        axis.set_major_formatter(FuncFormatter(_decade_label))
        if step > 1:
            axis.set_major_locator(LogLocator(base=10.0 ** step, subs=(1.0,), numticks=100))
    axis.set_minor_locator(LogLocator(base=10.0, subs=(2.0, 5.0), numticks=100))
    axis.set_minor_formatter(NullFormatter())


_SUPERSCRIPT = str.maketrans("-0123456789", "\u207b\u2070\u00b9\u00b2\u00b3\u2074\u2075\u2076\u2077\u2078\u2079")


def _decade_label(value: float, _pos: Any = None) -> str:
    """10^k as plain text with a superscript exponent ("10⁻³"): the same look as matplotlib's
    mathtext labels, without its parser and renderer (a third of a log figure's drawing
    time, and a crash of the PDF backend with Type 3 fonts)."""
    if not value > 0:
        return ""
    k = round(math.log10(value))
    if not math.isclose(value, 10.0 ** k, rel_tol=1e-6):
        return ""
    return "1" if k == 0 else "10" if k == 1 else "10" + str(k).translate(_SUPERSCRIPT)


def _band(ax: Any, x: np.ndarray, lo: np.ndarray, hi: np.ndarray, color: str, log_y: bool) -> None:
    """The confidence band; a one-sided interval (an infinite or undefined bound where the
    other is finite) is drawn to the edge of the panel instead of vanishing."""
    y0, y1 = ax.get_ylim()
    lo_open = ~np.isfinite(lo) | ((lo <= 0) if log_y else False)
    hi_open = ~np.isfinite(hi)
    one = (lo_open ^ hi_open)
    keep = (~lo_open & ~hi_open) | one
    if not keep.any():
        return
    lo_d = np.where(lo_open, y0, lo)
    hi_d = np.where(hi_open, y1, hi)
    ax.fill_between(x, np.where(keep, lo_d, np.nan), np.where(keep, hi_d, np.nan), color=color, alpha=0.2,
                    linewidth=0)
    ax.set_ylim(y0, y1)


def _plot_vs_x(
    points: list[_Point],
    metric: str,
    channels: list[str],
    look: "_Look",
    x_label: str,
    stem: Path,
    log_y: bool,
    figures: _Figures,
    target: float | None = None,
) -> list[Path]:
    """One subplot per channel, one line per codec, CI as a shaded band, the target as a
    dashed line. Empty if nothing to draw."""
    by_panel: dict[str, dict[str, list[_Point]]] = {}
    for p in points:
        by_panel.setdefault(p.channel, {}).setdefault(p.codec, []).append(p)
    panels = [c for c in channels if c in by_panel]
    if not panels:
        return []
    fig, axes = figures.get(len(panels))
    drew_any = False
    for ax, channel in zip(axes, panels):
        notes: list[str] = []
        zeros_omitted = nonfinite_omitted = bound_drawn = False
        bands = []
        for codec, pts in by_panel[channel].items():
            x, y, lo, hi = _series(pts)
            if x.size == 0:
                continue
            style = look.styles[codec]
            ok = np.isfinite(y)
            nonfinite_omitted |= bool((~ok & ~np.isnan(y)).any())
            if log_y:
                zero = ok & (y <= 0)
                if zero.any():
                    zeros_omitted = True
                    # no error observed: show the CI upper bound instead of the (unplottable) zero
                    ub = zero & np.isfinite(hi) & (hi > 0)
                    if ub.any():
                        bound_drawn = True
                        ax.plot(x[ub], hi[ub], linestyle="none", marker="v", mfc="none", color=style["color"])
                ok &= y > 0
                lo = np.where(np.isfinite(lo) & (lo > 0), lo, np.nan)
                hi = np.where(np.isfinite(hi) & (hi > 0), hi, np.where(np.isinf(hi), np.inf, np.nan))
            if not ok.any():
                continue
            drew_any = True
            ax.plot(x[ok], y[ok], marker=style["marker"], markersize=4, color=style["color"],
                    linestyle=style["linestyle"], label=look.label(codec))
            bands.append((x, np.where(ok, lo, np.nan), np.where(ok, hi, np.nan), style["color"]))
        if target is not None and math.isfinite(target) and (target > 0 or not log_y):
            ax.axhline(target, color="0.25", linestyle="--", linewidth=0.9, label=f"target {target:g}")
        if log_y:
            ax.set_yscale("log")
            ax.autoscale_view()
            _decade_axis(ax, "y")
        for x, lo, hi, color in bands:
            _band(ax, x, lo, hi, color, log_y)
        if zeros_omitted:
            notes.append("zero values omitted (log axis)")
        if bound_drawn:
            notes.append("\u25bd: CI upper bound where none observed")
        if nonfinite_omitted:
            notes.append("non-finite values omitted")
        _finish_panel(ax, look.title(channel), x_label, _metric_label(metric), notes)
    if not drew_any:
        return []
    return _save(fig, stem, figures.options)


def _finish_panel(ax: Any, title: str, x_label: str, y_label: str, notes: list[str]) -> None:
    """Title, axis labels, grid and legend of one panel; the notes about omitted points go
    into the legend (placed where it covers the fewest points), not over the data."""
    from matplotlib.lines import Line2D

    # y given: the title sits where matplotlib would put it (nothing is drawn above the axes),
    # without the tight bounding box of every tick label it computes to check that (a third
    # of the drawing time)
    ax.set_title(title, y=1.0)
    ax.set_xlabel(x_label)
    ax.set_ylabel(y_label)
    ax.grid(True, which="major", alpha=0.3)
    handles, labels = ax.get_legend_handles_labels()
    if handles or notes:
        handles += [Line2D([], [], linestyle="none")] * len(notes)
        labels += notes
        ax.legend(handles, labels, fontsize="small", loc="best", handlelength=1.8)


def _plot_vs_ber(
    fid_points: list[_Point],
    ber_by_key: dict[tuple[str, str, float | None, float | None], _Point],
    metric: str,
    channels: list[str],
    look: "_Look",
    stem: Path,
    figures: _Figures,
) -> list[Path]:
    """Fidelity vs BER, one subplot per channel; codecs without BER rows (analog) are skipped."""
    pairs: dict[str, dict[str, list[tuple[float, float, float]]]] = {}
    for p in fid_points:
        b = ber_by_key.get(p.key)
        if b is None:
            continue
        pairs.setdefault(p.channel, {}).setdefault(p.codec, []).append((p.x, b.value, p.value))
    panels = [c for c in channels if c in pairs]
    if not panels:
        return []
    fig, axes = figures.get(len(panels))
    drew_any = False
    for ax, channel in zip(axes, panels):
        zeros_omitted = nonfinite_omitted = False
        for codec, triples in pairs[channel].items():
            triples.sort(key=lambda t: (math.isnan(t[0]), t[0]))  # in sweep order
            ber = np.array([t[1] for t in triples], dtype=float)
            fid = np.array([t[2] for t in triples], dtype=float)
            zeros_omitted |= bool((ber == 0).any())
            nonfinite_omitted |= bool((~np.isfinite(fid) & ~np.isnan(fid)).any())
            ok = np.isfinite(ber) & (ber > 0) & np.isfinite(fid)
            if not ok.any():
                continue
            drew_any = True
            style = look.styles[codec]
            ax.plot(ber[ok], fid[ok], marker=style["marker"], markersize=4, color=style["color"],
                    linestyle=style["linestyle"], label=look.label(codec))
        ax.set_xscale("log")
        ax.autoscale_view()
        _decade_axis(ax, "x")
        if _log_scale(metric):
            vals = [t[2] for triples in pairs[channel].values() for t in triples]
            if vals and min(vals) > 0:
                ax.set_yscale("log")
                ax.autoscale_view()
                _decade_axis(ax, "y")
        notes = []
        if zeros_omitted:
            notes.append("BER = 0 points omitted (log axis)")
        if nonfinite_omitted:
            notes.append("non-finite values omitted")
        _finish_panel(ax, look.title(channel), "BER", _metric_label(metric), notes)
    if not drew_any:
        return []
    return _save(fig, stem, figures.options)


class _Look:
    """What every figure of one call shares: each codec's colour, marker and legend label
    (with the resource elements it uses per sample, and k/n when the source size is
    known), and the channels' titles."""

    def __init__(self, rows: list[dict], channel_titles: Mapping[str, str] | None,
                 source_values: int | None, runs: Mapping[str, tuple[str, int]] | None = None) -> None:
        points = [(str(r["codec"]), str(r["metric"]), _f(r.get("value"))) for r in rows]
        runs = dict(runs or {})
        # runs overlaid (linksim compare): a codec keeps its look in every run, and the run
        # is the line style
        base = codec_styles(runs.get(c, (c, 0))[0] for c, _, _ in points)
        self.styles = {c: {**base[runs.get(c, (c, 0))[0]], "linestyle": _RUN_LINESTYLES[runs.get(c, (c, 0))[1]
                                                                                         % len(_RUN_LINESTYLES)]}
                       for c, _, _ in points}
        uses: dict[str, list[float]] = {}
        for codec, metric, value in points:
            if metric == "channel_uses" and math.isfinite(value) and value > 0:
                uses.setdefault(codec, []).append(value)
        self._labels = {}
        for codec in self.styles:
            u = uses.get(codec)
            if not u:
                self._labels[codec] = codec
                continue
            # a codec whose size varies with the image (jpeg) shows its mean over the points
            re = sum(u) / len(u)
            approx = "" if max(u) - min(u) < 0.5 else "~"
            text = f"{approx}{re:.0f} RE"
            if source_values:
                text += f", k/n = {_ratio(re / source_values)}"
            self._labels[codec] = f"{codec} ({text})"
        self._titles = dict(channel_titles or {})

    def label(self, codec: str) -> str:
        return self._labels.get(codec, codec)

    def title(self, channel: str) -> str:
        return self._titles.get(channel, channel)


def _ratio(r: float) -> str:
    """A bandwidth ratio as 1/m when it is one (1/6), else to 3 significant digits."""
    if r > 0 and abs(1 / r - round(1 / r)) < 0.02 * (1 / r) and round(1 / r) >= 2:
        return f"1/{round(1 / r)}"
    return f"{r:.3g}"


@old_objects_frozen()
def plot_results(rows: list[dict], out_dir: Path, options: FigureOptions | None = None, *,
                 channel_titles: Mapping[str, str] | None = None, targets: Mapping[str, float] | None = None,
                 source_values: int | None = None, runs: Mapping[str, tuple[str, int]] | None = None) -> list[Path]:
    """Write the result figures into ``out_dir`` (created if needed), once per format.

    Args:
        rows: results rows (see the module docstring). Numbers may be floats,
            numeric strings (as read back from the CSV), ``None`` or ``''`` for
            an empty CI.
        out_dir: folder for the figures.
        options: formats, dpi, width, style (default: PNG at 200 dpi, PDF and SVG).
        channel_titles: channel label -> panel title (``"TDL-A, 100 ns, 3 m/s"``).
        targets: metric -> target value, drawn as a dashed line on that metric's figures
            against SNR or distance.
        source_values: real values per source sample (C·H·W), for the bandwidth ratio
            k/n (complex channel uses per source value) in the legends.
        runs: for curves of several runs (:func:`compare_runs`): codec label -> (the codec's
            name in its run, the run's index): a codec keeps its colour and marker across
            runs, and each run has its line style.

    Files (``<x>`` is ``snr`` or, when any row has a finite ``distance_m``,
    ``distance``; metric names pass through :func:`safe_filename`; each as
    ``.png``, ``.pdf`` and ``.svg`` by default):

    * ``ber_vs_<x>``, ``bler_vs_<x>`` and, when a codec has several digital streams, one
      per stream metric (``ber/data`` -> ``ber_data_vs_<x>``): log y with decade ticks, one subplot per
      channel, one line per codec (the same colour and marker in every figure), CI as
      a shaded band. Zeros cannot be drawn on a log axis: they are omitted, noted in
      the legend, and their CI upper bound (if any) is drawn as a hollow down-triangle.
    * ``<metric>_vs_<x>`` for each fidelity metric: CI band (t interval); a log
      axis where the metric table says so (MSE-like) and all values are positive.
    * ``<metric>_vs_ber``: fidelity against the codec's overall ``ber`` at
      the same (codec, channel, snr, distance); codecs without BER rows
      (analog) do not appear; BER = 0 points are omitted and noted.

    Metrics with no finite value are skipped silently; accounting rows are never
    plotted.

    Returns:
        The paths written, in the order written.
    """
    options = options or FigureOptions()
    with _style_context(options):
        return _plot_results(rows, Path(out_dir), options, channel_titles, dict(targets or {}), source_values, runs)


def _plot_results(rows, out_dir, options, channel_titles, targets, source_values, runs) -> list[Path]:
    use_distance = _uses_distance(rows)
    points = [_Point(r, use_distance) for r in rows]
    x_label = DISTANCE_LABEL if use_distance else SNR_LABEL
    x_suffix = "distance" if use_distance else "snr"

    channels = _ordered_unique(p.channel for p in points)
    look = _Look(rows, channel_titles, source_values, runs)

    by_metric: dict[str, list[_Point]] = {}
    for p in points:
        by_metric.setdefault(p.metric, []).append(p)

    written: list[Path] = []
    figures = _Figures(options)

    def ordered_link(m: str) -> tuple[int, str]:
        return (("ber", "bler").index(_base(m)) * 2 + ("/" in m) if _base(m) in ("ber", "bler") else 9, m)

    link_metrics = sorted((m for m in by_metric if is_link_metric(m)), key=ordered_link)
    # a per-stream figure shows something the overall one does not only when a codec has
    # several digital streams (otherwise ber/<stream> is ber, curve for curve)
    streams_of: dict[str, set[str]] = {}
    for m in link_metrics:
        if "/" in m:
            for p in by_metric[m]:
                streams_of.setdefault(p.codec, set()).add(m.split("/", 1)[1])
    if all(len(v) <= 1 for v in streams_of.values()):
        link_metrics = [m for m in link_metrics if "/" not in m or _base(m) not in ("ber", "bler")
                        or m.split("/", 1)[0] not in by_metric]
    fidelity_metrics = [m for m in by_metric if is_fidelity_metric(m)]

    for m in link_metrics:
        written += _plot_vs_x(by_metric[m], m, channels, look, x_label, out_dir / f"{safe_filename(m)}_vs_{x_suffix}",
                              log_y=True, figures=figures, target=targets.get(m))

    for m in fidelity_metrics:
        pts = by_metric[m]
        vals = np.array([p.value for p in pts], dtype=float)
        finite = vals[np.isfinite(vals)]
        if finite.size == 0:
            continue
        log_y = _log_scale(m) and bool((finite > 0).all())
        written += _plot_vs_x(pts, m, channels, look, x_label, out_dir / f"{safe_filename(m)}_vs_{x_suffix}",
                              log_y=log_y, figures=figures, target=targets.get(m))

    ber_by_key = {p.key: p for p in by_metric.get("ber", [])}
    if ber_by_key:
        for m in fidelity_metrics:
            written += _plot_vs_ber(by_metric[m], ber_by_key, m, channels, look,
                                    out_dir / f"{safe_filename(m)}_vs_ber", figures=figures)
    return written


def compare_runs(run_dirs: list[Path], out_dir: Path, options: FigureOptions | None = None,
                 names: list[str] | None = None) -> list[Path]:
    """The figures of several finished runs with their curves overlaid, for "before vs after
    my change": each codec is labelled ``<run>: <codec>``, keeps its colour and marker in
    every run, and each run has its line style (solid, dashed, dotted, dash-dot).

    :param run_dirs: run folders, each with its ``results.csv`` (and ``figures.json``).
    :param out_dir: folder for the figures (created).
    :param names: the runs' labels (default: each folder's name; repeated names get a
        number).
    :raises DataError: a folder without a readable ``results.csv``, or runs of which some
        sweep distance and others SNR.
    :returns: the paths written.
    """
    run_dirs = [Path(d) for d in run_dirs]
    if names is None:
        names = [d.resolve().name or str(d) for d in run_dirs]
    seen: dict[str, int] = {}
    labels = []
    for n in names:
        seen[n] = seen.get(n, 0) + 1
        labels.append(n if seen[n] == 1 and names.count(n) == 1 else f"{n}#{seen[n]}")
    rows: list[dict] = []
    runs: dict[str, tuple[str, int]] = {}
    titles: dict[str, str] = {}
    targets: dict[str, float] = {}
    source_values = set()
    kinds = set()
    for i, (d, label) in enumerate(zip(run_dirs, labels)):
        path = d / "results.csv"
        if not path.is_file():
            raise DataError(f"{path}: no results.csv (is {d} the folder of a finished run?)")
        run_rows = read_results_csv(path)
        kinds.add(_uses_distance(run_rows))
        for r in run_rows:
            codec = f"{label}: {r['codec']}"
            runs[codec] = (str(r["codec"]), i)
            rows.append({**r, "codec": codec})
        context = read_figure_context(d)
        titles.update(context.get("channel_titles") or {})
        targets.update(context.get("targets") or {})
        source_values.add(context.get("source_values"))
    if len(kinds) > 1:
        raise DataError("compare: some runs sweep distance and others SNR; their curves share no axis")
    only = source_values.pop() if len(source_values) == 1 else None
    return plot_results(rows, Path(out_dir), options, channel_titles=titles, targets=targets, source_values=only,
                        runs=runs)


LOAD_METRICS = ("eta", "channel_uses")
LOAD_LABELS = {"eta": "load \u03b7 (HSC eq. 21)", "channel_uses": "channel uses [RE / sample]"}
#: per-stream link-level quantities that are not a fidelity to draw against the load
NOT_LOAD_PLOTTED = frozenset({"symbol_mse"})


#: codecs "differ in bandwidth" when their resource elements per sample differ by more than this
_BANDWIDTH_SPREAD = 1.05


@old_objects_frozen()
def plot_fidelity_vs_bandwidth(rows: list[dict], out_dir: Path, options: FigureOptions | None = None, *,
                               channel_titles: Mapping[str, str] | None = None,
                               source_values: int | None = None) -> list[Path]:
    """Each fidelity metric against the bandwidth each codec used, at each SNR (or distance):
    ``<metric>_vs_bandwidth``, one panel per channel; each codec a point (its colour and
    marker) at its resource elements per sample (log axis), the codecs of one SNR joined by a
    line shaded by the SNR. Written only when the codecs differ in bandwidth (by more than
    5 %): which codec gives most fidelity per resource element, at each SNR, at a glance.

    :returns: the paths written.
    """
    options = options or FigureOptions()
    uses: dict[tuple, float] = {}
    for r in rows:
        v = _f(r.get("value"))
        if r["metric"] == "channel_uses" and math.isfinite(v) and v > 0:
            uses[(str(r["codec"]), str(r["channel"]), _f(r.get("snr_db")), _f(r.get("distance_m")))] = v
    per_codec: dict[str, list[float]] = {}
    for (codec, *_), v in uses.items():
        per_codec.setdefault(codec, []).append(v)
    means = [sum(v) / len(v) for v in per_codec.values()]
    if len(means) < 2 or max(means) < _BANDWIDTH_SPREAD * min(means):
        return []
    with _style_context(options):
        return _plot_fidelity_vs_bandwidth(rows, Path(out_dir), options, dict(channel_titles or {}), uses,
                                           source_values)


def _plot_fidelity_vs_bandwidth(rows, out_dir, options, channel_titles, uses, source_values) -> list[Path]:
    from matplotlib import colormaps
    from matplotlib.lines import Line2D

    use_distance = _uses_distance(rows)
    points = [_Point(r, use_distance) for r in rows]
    look = _Look(rows, channel_titles, source_values)
    channels = _ordered_unique(p.channel for p in points)
    sweeps = sorted({p.x for p in points if math.isfinite(p.x)})
    shade = colormaps["viridis"]
    figures = _Figures(options)
    written: list[Path] = []
    for metric in _ordered_unique(p.metric for p in points if is_fidelity_metric(p.metric)):
        pts = [p for p in points if p.metric == metric and math.isfinite(p.value)
               and (p.codec, p.channel, p.snr, p.dist) in uses]
        if not pts:
            continue
        fig, axes = figures.get(len(channels))
        for ax, channel in zip(axes, channels):
            for j, sweep_x in enumerate(sweeps):
                at = sorted((p for p in pts if p.channel == channel and p.x == sweep_x),
                            key=lambda p: uses[(p.codec, p.channel, p.snr, p.dist)])
                if not at:
                    continue
                # the codecs at one SNR joined by a line shaded by SNR (the frontier at that SNR)
                colour = shade(j / max(1, len(sweeps) - 1))
                xs = [uses[(p.codec, p.channel, p.snr, p.dist)] for p in at]
                ax.plot(xs, [p.value for p in at], color=colour, linewidth=1.0, alpha=0.7,
                        label=f"{sweep_x:g} m" if use_distance else f"{sweep_x:g} dB")
                for p, x in zip(at, xs):
                    style = look.styles[p.codec]
                    ax.plot([x], [p.value], linestyle="none", marker=style["marker"], markersize=5,
                            color=style["color"], zorder=3)
            ax.set_xscale("log")
            ax.autoscale_view()
            _decade_axis(ax, "x")
            if _log_scale(metric) and all(p.value > 0 for p in pts):
                ax.set_yscale("log")
                ax.autoscale_view()
                _decade_axis(ax, "y")
            _finish_panel(ax, channel_titles.get(channel, channel), "resource elements per sample",
                          _metric_label(metric), [])
            # the codecs' markers, once (the lines' legend gives the SNRs)
            handles, labels = ax.get_legend_handles_labels()
            codecs = _ordered_unique(p.codec for p in pts if p.channel == channel)
            handles += [Line2D([], [], linestyle="none", marker=look.styles[c]["marker"], color=look.styles[c]["color"])
                        for c in codecs]
            labels += [look.label(c) for c in codecs]
            ax.legend(handles, labels, fontsize="x-small", loc="best", ncols=2 if len(labels) > 6 else 1)
        written += _save(fig, out_dir / f"{safe_filename(metric)}_vs_bandwidth", options)
    return written


@old_objects_frozen()
def plot_fidelity_vs_load(rows: list[dict], series: Mapping[str, str], out_dir: Path,
                          options: FigureOptions | None = None, *,
                          channel_titles: Mapping[str, str] | None = None) -> list[Path]:
    """Each fidelity metric against the load each codec puts on the channel.

    The rate-distortion view of a study (the HSC paper's Figs. 2-4): codecs that share a
    ``series`` (``codec -> series`` from the scenario) form one line, ordered by load,
    one line per series and SNR (or distance); one subplot per channel. Two loads:

    * ``<metric>_vs_channel_uses``: resource elements per sample, always;
    * ``<metric>_vs_eta``: the per-sample ``eta`` the codecs report (HSC eq. 21,
      ``(k/R + 2dL)/L²``), when every codec drawn reports it.

    Codecs in no series are left out; nothing is written when no series has two codecs.

    :returns: the paths written (each figure once per format of ``options``).
    """
    options = options or FigureOptions()
    out_dir = Path(out_dir)
    if not any(list(series.values()).count(v) >= 2 for v in set(series.values())):
        return []
    with _style_context(options):
        return _plot_fidelity_vs_load(rows, series, out_dir, options, dict(channel_titles or {}))


def _plot_fidelity_vs_load(rows, series, out_dir, options, channel_titles) -> list[Path]:
    use_distance = _uses_distance(rows)
    points = [_Point(r, use_distance) for r in rows if str(r["codec"]) in series]
    load: dict[str, dict[tuple, float]] = {m: {} for m in LOAD_METRICS}
    for p in points:
        if p.metric in load and math.isfinite(p.value):
            load[p.metric][p.key] = p.value
    fid = [p for p in points if is_fidelity_metric(p.metric) and p.metric not in LOAD_METRICS
           and _base(p.metric) not in NOT_LOAD_PLOTTED and not p.metric.endswith("_sr")]
    x_metrics = ["channel_uses"] + (["eta"] if fid and all(p.key in load["eta"] for p in fid) else [])
    channels = _ordered_unique(p.channel for p in points)
    names = _ordered_unique(series[p.codec] for p in points)
    sweeps = sorted({p.x for p in fid if math.isfinite(p.x)})
    styles = codec_styles(names)  # one look per series
    dashes = ["-", "--", ":", "-."]
    written = []
    figures = _Figures(options)
    for x_metric in x_metrics:
        for metric in _ordered_unique(p.metric for p in fid):
            fig, axes = figures.get(len(channels))
            drew = False
            for ax, channel in zip(axes, channels):
                for name in names:
                    for j, sweep_x in enumerate(sweeps):
                        pts = [p for p in fid if p.metric == metric and p.channel == channel
                               and series[p.codec] == name and p.x == sweep_x and math.isfinite(p.value)
                               and p.key in load[x_metric]]
                        if not pts:
                            continue
                        pts.sort(key=lambda p: load[x_metric][p.key])
                        where = f"{sweep_x:g} m" if use_distance else f"{sweep_x:g} dB"
                        ax.plot([load[x_metric][p.key] for p in pts], [p.value for p in pts],
                                marker=styles[name]["marker"], markersize=4, color=styles[name]["color"],
                                linestyle=dashes[j % len(dashes)],
                                label=name if len(sweeps) == 1 else f"{name} @ {where}")
                        drew = True
                values = [p.value for p in fid if p.metric == metric and p.channel == channel
                          and math.isfinite(p.value)]
                if _log_scale(metric) and values and min(values) > 0:
                    ax.set_yscale("log")
                    ax.autoscale_view()
                    _decade_axis(ax, "y")
                _finish_panel(ax, channel_titles.get(channel, channel), LOAD_LABELS[x_metric],
                              _metric_label(metric), [])
            if drew:
                written += _save(fig, out_dir / f"{safe_filename(metric)}_vs_{x_metric}", options)
    return written


# --------------------------------------------------------------------------- sample grid


def _as_array(images: Any) -> np.ndarray:
    """A torch tensor (any device, any dtype; integers and bfloat16 as float32) or an array-like as
    a NumPy array, without importing torch."""
    if hasattr(images, "detach"):  # a torch tensor
        t = images.detach().to("cpu")
        return (t if t.is_floating_point() and t.dtype.itemsize >= 4 else t.float()).numpy()
    return np.asarray(images)


def _to_hwc(images: Any, n: int) -> np.ndarray:
    """``[N, C, H, W]`` (C = 1, 3 or 4) -> ``[n, H, W, C']`` float32 in [0, 1]: NaN -> 0,
    +inf -> 1, -inf -> 0, clamped (what a receiver displays; as
    :func:`linksim.metrics.fidelity.sanitize_images`), alpha dropped."""
    a = _as_array(images)
    if a.ndim == 3:  # [N, H, W] greyscale
        a = a[:, None]
    if a.ndim != 4:
        raise ValueError(f"expected images [N, C, H, W], got shape {tuple(a.shape)}")
    if a.shape[1] not in (1, 3, 4):
        raise ValueError(f"expected 1 (grey), 3 (RGB) or 4 (RGBA) channels, got {a.shape[1]}")
    a = np.clip(np.nan_to_num(a[:n].astype(np.float32), nan=0.0, posinf=1.0, neginf=0.0), 0.0, 1.0)
    if a.shape[1] == 4:
        a = a[:, :3]
    return a.transpose(0, 2, 3, 1)


def _to_pixels(img: np.ndarray) -> np.ndarray:
    """``[H, W, 1 | 3]`` float in [0, 1] -> uint8 ``[H, W]`` (grey) or ``[H, W, 3]``, the levels
    matplotlib's ``imshow`` gives (grey: a 256-entry colormap, value v -> level floor(256 v);
    RGB: floor(255 v))."""
    if img.shape[-1] == 1:
        return np.minimum(np.floor(img[..., 0] * 256.0), 255.0).astype(np.uint8)
    return np.floor(img * 255.0).astype(np.uint8)


@functools.lru_cache(maxsize=8)
def _font(size_px: float):
    """DejaVu Sans (matplotlib's default face, from its data folder, found without importing
    matplotlib) at ``size_px``; Pillow's own scalable font when it is not there."""
    import importlib.util

    from PIL import ImageFont

    spec = importlib.util.find_spec("matplotlib")
    for folder in (spec.submodule_search_locations or []) if spec is not None else []:
        path = Path(folder) / "mpl-data" / "fonts" / "ttf" / "DejaVuSans.ttf"
        if path.is_file():
            return ImageFont.truetype(str(path), size_px)
    return ImageFont.load_default(size_px)


def save_sample_grid(
    originals: Any,
    reconstructions: Mapping[str, Any],
    path: Path,
    title: str = "",
) -> Path:
    """Save one PNG: the originals in the first row, then one row per reconstruction.

    Drawn with Pillow: a grid of images needs no axes, and matplotlib took a second per grid.
    The layout is that of a figure at 100 dpi: cells of 1.3 in (130 px) 0.06 in apart, labels
    in a 1.9 in column at the left (9 pt), the title above (11 pt), each image scaled to its
    cell (nearest neighbour, aspect kept) inside a thin black frame.

    Args:
        originals: ``[N, C, H, W]`` images in [0, 1] (a torch tensor or an array), C = 1
            (grey) or 3 (RGB) (4 = RGBA: alpha dropped); only the first 8 are shown.
        reconstructions: label -> ``[N', C, H', W']`` reconstructions, shown in
            dict order with the label (e.g. ``"raw-f32 @ 10 dB"``) at the left.
            NaN becomes 0 and values are clamped to [0, 1] before display.
        path: output ``.png`` file (parent folders created).
        title: optional figure title.

    Returns:
        ``path``. The image grows by a fixed number of pixels per row and column.
    """
    from PIL import Image, ImageDraw

    path = Path(path)
    originals = _as_array(originals)
    n = min(int(originals.shape[0]) if originals.ndim else 0, _MAX_GRID_COLUMNS)
    if n == 0:
        raise ValueError("save_sample_grid needs at least one original image")
    rows: list[tuple[str, np.ndarray]] = [("original", _to_hwc(originals, n))]
    rows += [(str(label), _to_hwc(img, n)) for label, img in reconstructions.items()]

    cell, gap, label_w = _px(1.3), _px(0.06), _px(1.9)
    title_h = _px(0.45) if title else _px(0.1)
    width = label_w + n * (cell + gap) + gap
    height = title_h + len(rows) * (cell + gap) + gap
    # grey images, black text and frames on white: one channel holds it all (a third of the
    # bytes to compress); colour images need three
    mode = "L" if all(imgs.shape[-1] == 1 for _, imgs in rows) else "RGB"
    canvas = Image.new(mode, (width, height), "white")
    draw = ImageDraw.Draw(canvas)
    if title:
        draw.text((width / 2, title_h / 2), title, font=_font(11 * _DPI / 72), fill="black", anchor="mm")
    label_font = _font(9 * _DPI / 72)
    line_pitch = 1.2 * 9 * _DPI / 72  # matplotlib's line spacing: 1.2 font sizes
    spacing = max(0.0, line_pitch - draw.textbbox((0, 0), "A", font=label_font)[3])
    for r, (label, imgs) in enumerate(rows):
        top = title_h + r * (cell + gap) + gap
        draw.multiline_text((label_w - _px(0.1), top + cell / 2), textwrap.fill(label, 18), font=label_font,
                            fill="black", anchor="rm", align="right", spacing=spacing)
        for c in range(min(n, imgs.shape[0])):
            left = label_w + c * (cell + gap)
            img = imgs[c]
            h, w = img.shape[:2]
            scale = cell / max(h, w)  # imshow keeps the aspect: the longer side fills the cell
            sw, sh = max(1, round(w * scale)), max(1, round(h * scale))
            x0, y0 = left + (cell - sw) // 2, top + (cell - sh) // 2
            tile = Image.fromarray(_to_pixels(img)).resize((sw, sh), Image.Resampling.NEAREST)
            canvas.paste(tile.convert(mode), (x0, y0))
            draw.rectangle((x0 - 1, y0 - 1, x0 + sw, y0 + sh), outline="black", width=1)
    return write_atomically(path, lambda fh: canvas.save(fh, format="PNG"))


def _px(inches: float) -> int:
    """Pixels of a length in inches at :data:`_DPI`."""
    return int(round(inches * _DPI))
