"""``linksim run | validate | list | plot | compare | report | train | budget``: a thin shell over :func:`main`.

Exit codes: 0 success, 2 invalid input (one line per problem, naming the field or file),
1 any other failure, 130 interrupted (Ctrl-C), 143 terminated (SIGTERM); an interrupted or
terminated run keeps its finished points (rerun to resume). Warnings print as one line,
``warning: <message>``.
"""

from __future__ import annotations

import argparse
import errno
import math
import signal
import sys
import threading
import traceback
import warnings
from pathlib import Path

from rich.console import Console
from rich.table import Table

from linksim.executors import EXECUTORS  # a tuple of names: importing the executors package is cheap

EXIT_OK, EXIT_FAILURE, EXIT_INVALID, EXIT_INTERRUPTED, EXIT_TERMINATED = 0, 1, 2, 130, 143


class _Terminated(KeyboardInterrupt):
    """SIGTERM, raised in the main thread like Ctrl-C's KeyboardInterrupt: a run stops the
    same way (finished points kept, the output folder's lock released)."""


def _on_sigterm(signum, frame) -> None:
    signal.signal(signal.SIGTERM, signal.SIG_IGN)  # a second SIGTERM must not cut the clean-up short
    raise _Terminated()


def _handle_sigterm():
    """Install :func:`_on_sigterm`; returns the handler to put back (None outside the main thread,
    where Python cannot set signal handlers)."""
    if threading.current_thread() is not threading.main_thread():
        return None
    previous = signal.getsignal(signal.SIGTERM)
    signal.signal(signal.SIGTERM, _on_sigterm)
    return signal.SIG_DFL if previous is None else previous


def _one_line_warning(message, category, filename, lineno, line=None) -> str:
    """``warnings.formatwarning`` as ``warning: <message>`` on one line (not Python's two:
    file:line: Category: message, then the source line that warned). Replacing the format,
    not ``showwarning``, leaves warnings to whoever records them (``pytest.warns``, a caller's
    ``catch_warnings(record=True)``)."""
    return "warning: " + " ".join(str(message).splitlines()) + "\n"


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="linksim", description="Link-level simulation of semantic codecs over a Sionna PHY.")
    p.add_argument("--debug", action="store_true", help="show full tracebacks on failure")
    sub = p.add_subparsers(dest="command", required=True)
    r = sub.add_parser("run", help="run a scenario file")
    r.add_argument("scenario", type=Path)
    r.add_argument("--out", type=Path, default=None, help="output folder (default: results/<name>/)")
    r.add_argument("--force", action="store_true", help="recompute points already in results.h5")
    r.add_argument("--device", default=None, help="override the scenario's device (auto | cpu | cuda[:N])")
    r.add_argument("--quiet", action="store_true", help="no progress bar or table")
    r.add_argument("--executor", choices=EXECUTORS, default="in-process",
                   help="where the points run: this process (default) or Ray tasks (pip install \"linksim[ray]\")")
    r.add_argument("--address", default=None,
                   help="with --executor ray: the cluster to use (auto | HOST:PORT; "
                        "default: RAY_ADDRESS, else a local Ray instance started for this run)")
    v = sub.add_parser("validate", help="check a scenario and print payload bits / resource elements per codec")
    v.add_argument("scenario", type=Path)
    sub.add_parser("list", help="list codecs, channel models, metrics and data sources")
    pl = sub.add_parser("plot", help="redraw the figures of a finished run from its results.csv "
                                     "(options default to the run's outputs: section)")
    pl.add_argument("run_dir", type=Path)
    _figure_arguments(pl)
    rp = sub.add_parser("report", help="rebuild report.html of a finished run (what ran, results, figures, samples)")
    rp.add_argument("run_dir", type=Path)
    cp = sub.add_parser("compare", help="the figures of several finished runs with their curves overlaid "
                                        "(labels prefixed by the run's name)")
    cp.add_argument("run_dirs", type=Path, nargs="+", metavar="RUN_DIR")
    cp.add_argument("--out", type=Path, required=True, help="folder for the figures")
    cp.add_argument("--name", dest="names", action="append", default=None,
                    help="a run's label (repeat once per RUN_DIR; default: the folder names)")
    _figure_arguments(cp)
    t = sub.add_parser("train", help="train a codec's models with the codec's own trainer "
                                     "('linksim train <type> --help' lists its options)")
    t.add_argument("codec", help="codec type with a trainer (hsc, bridge, or a plugin's)")
    t.add_argument("options", nargs=argparse.REMAINDER, help="the trainer's options")
    b = sub.add_parser("budget", help="print the link budget of a scenario at each distance (no simulation)")
    b.add_argument("scenario", type=Path)
    b.add_argument("--distance", type=float, action="append", default=None,
                   help="distance [m] (repeatable; default: the sweep's distances)")
    return p


def main(argv: list[str] | None = None) -> int:
    """Entry point; returns the exit code instead of exiting (testable)."""
    argv = list(sys.argv[1:] if argv is None else argv)
    args = _parser().parse_args(argv)
    out, err = Console(), Console(stderr=True, soft_wrap=True)  # one problem, one line
    if not out.is_terminal:  # logs and pipes: wide enough for the results table
        out = Console(width=150)
    previous_sigterm = _handle_sigterm()
    try:
        with warnings.catch_warnings():  # restores Python's warning format on the way out
            warnings.formatwarning = _one_line_warning
            return _command(args, out, err)
    finally:
        if previous_sigterm is not None:
            signal.signal(signal.SIGTERM, previous_sigterm)


def _command(args, out: Console, err: Console) -> int:
    """Run ``args.command``; every failure becomes one line and an exit code."""
    from linksim.errors import DataError, LinksimError, ScenarioError

    try:
        if args.command == "run":
            return _run(args, out)
        if args.command == "validate":
            return _validate(args, out)
        if args.command == "list":
            return _list(out)
        if args.command == "plot":
            return _plot(args, out)
        if args.command == "compare":
            return _compare(args, out)
        if args.command == "report":
            return _report(args, out)
        if args.command == "train":
            return _train(args.codec, args.options)
        if args.command == "budget":
            return _budget(args, out)
    except ScenarioError as e:
        for line in e.problems:
            err.print(line, markup=False, highlight=False)
        return EXIT_INVALID
    except DataError as e:
        err.print(str(e), markup=False, highlight=False)
        return EXIT_INVALID
    except KeyboardInterrupt as e:
        what = "terminated (SIGTERM)" if isinstance(e, _Terminated) else "interrupted"
        tail = ": finished points are saved in results.h5; run again to resume" if args.command == "run" else ""
        err.print(f"{what}{tail}", markup=False, highlight=False)
        return EXIT_TERMINATED if isinstance(e, _Terminated) else EXIT_INTERRUPTED
    except LinksimError as e:  # a run failure, a model or a plugin that cannot be loaded at run time
        err.print(f"error: {e}", markup=False, highlight=False)
        return EXIT_FAILURE
    except Exception as e:  # noqa: BLE001 - the CLI turns any failure into one line + exit 1
        if isinstance(e, OSError) and _disk_full(e):
            # finished points are journaled atomically (results.py): a full disk loses none
            err.print(f"error: no space left on the device while writing {e.filename or 'results'}: the points "
                      "finished so far are kept; free some space and run again to resume", markup=False, highlight=False)
            return EXIT_FAILURE
        if args.debug:
            traceback.print_exc()
        err.print(f"error: {type(e).__name__}: {e} (run with --debug for the traceback)", markup=False, highlight=False)
        return EXIT_FAILURE
    return EXIT_FAILURE


def _train(codec_type: str, options: list[str]) -> int:
    """``linksim train <type> ...``: the codec's own trainer (``Codec.trainer``), built-in or plugin."""
    from linksim.codecs import codec_class
    from linksim.errors import PluginError, ScenarioError
    from linksim.registry import import_reference

    try:
        cls = codec_class(codec_type)
    except (ValueError, PluginError) as e:
        raise ScenarioError([f"codec: {e}"]) from None
    if not cls.trainer:
        raise ScenarioError([f"codec: '{codec_type}' has nothing to train (its class declares no trainer)"])
    return int(import_reference(cls.trainer, f"trainer of codec type '{codec_type}'")(options) or 0)


def _disk_full(e: OSError) -> bool:
    """ENOSPC / EDQUOT, also from h5py, which reports HDF5's errno in the message only."""
    return e.errno in (errno.ENOSPC, errno.EDQUOT) or "No space left on device" in str(e)


#: OpenMP threads that finished their share sleep instead of spinning: on a machine shared
#: with other jobs, a spinning torch (or numba) thread that waits for a preempted sibling made
#: small torch calls 10-50x slower at random (SSIM of 64 digits: 11 ms median with one thread,
#: 208 ms with two, 12 ms with two passive ones). Read when the OpenMP runtime starts, i.e. at
#: the first torch import, so it is set before any; a value the user exported wins.
OMP_WAIT_POLICY = "PASSIVE"


def entry_point() -> None:
    import os

    os.environ.setdefault("OMP_WAIT_POLICY", OMP_WAIT_POLICY)
    sys.exit(main())


# -- commands -----------------------------------------------------------------------------


def _load(path: Path, device: str | None = None):
    from linksim.scenario import load_scenario

    sc = load_scenario(path)
    if device is not None:
        from linksim.scenario import ScenarioError, validate_scenario

        raw = sc.model_dump(mode="json")
        raw["device"] = device
        raw["data"]["source"] = sc.data.source
        try:
            sc = validate_scenario(raw, base_dir=path.parent)
        except ScenarioError as e:
            raise ScenarioError([f"--device: {p.split(': ', 1)[-1]}" for p in e.problems]) from None
    return sc


class _RichProgress:
    """Adapter between the runner's progress calls and a rich progress bar."""

    def __init__(self, progress) -> None:
        self._p = progress
        self._task = None

    def start(self, total: int, resumed: int = 0) -> None:
        label = f"simulating ({resumed} points resumed)" if resumed else "simulating"
        self._task = self._p.add_task(label, total=total)

    def point(self, key) -> None:
        where = f"{key.snr_db:g} dB" if key.distance_m is None else f"{key.distance_m:g} m ({key.snr_db:.1f} dB)"
        self._p.update(self._task, description=f"{key.codec} | {key.channel} | {where}")

    def advance(self, steps: int = 1) -> None:
        self._p.advance(self._task, steps)


def _run(args, out: Console) -> int:
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn

    from linksim.executors import ExecutorUnavailable, make_executor
    from linksim.runner import run_scenario
    from linksim.scenario import ScenarioError

    try:  # before loading anything: a missing ray is a one-line usage error
        executor = make_executor(args.executor, args.address)
    except ExecutorUnavailable as e:
        raise ScenarioError([str(e)]) from None
    sc = _load(args.scenario, args.device)
    out_dir = args.out or Path("results") / sc.name
    if args.quiet:
        summary = run_scenario(sc, out_dir, force=args.force, executor=executor)
    else:
        with Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                      TimeRemainingColumn(), console=out, transient=False) as progress:
            summary = run_scenario(sc, out_dir, force=args.force, progress=_RichProgress(progress), executor=executor)
        _summary_table(sc, summary, out)
    _range_table(sc, summary, out)  # a result, not progress: --quiet keeps it
    if summary.skipped:
        out.print(f"{len(summary.skipped)} points skipped: a lower SNR of the same codec and channel was "
                  "error-free (sweep.skip_error_free)", highlight=False)
    out.print(f"{summary.points_run} points simulated, {summary.points_resumed} resumed, "
              f"{summary.elapsed_s:.1f} s; results in {summary.out_dir}/", highlight=False)
    return EXIT_OK


def _fmt(v) -> str:
    if v is None:
        return "-"
    if isinstance(v, float) and math.isinf(v):
        return "inf"
    if v != 0 and (abs(v) < 1e-2 or abs(v) >= 1e5):
        return f"{v:.2e}"
    return f"{v:.4g}"


def _summary_table(sc, summary, out: Console) -> None:
    from linksim.runner import result_rows

    rows = result_rows(sc, summary.results)
    names = sc.metric_names
    metrics = [m for m in ("ber", "bler") if m in names] + [m for m in names if m not in ("ber", "bler")]
    metrics = metrics[:5] + ["channel_uses"] + (["infeasible"] if sc.budget.is_set() else [])
    headers = {"channel_uses": "REs/sample"}
    distance = sc.is_distance_sweep()
    table = Table(title=f"{sc.name}: results", show_lines=False)
    for col in ["codec", "channel"] + (["distance [m]"] if distance else []) + ["SNR [dB]"] + [headers.get(m, m) for m in metrics]:
        table.add_column(col, justify="right" if col not in ("codec", "channel") else "left")
    index = {(r["codec"], r["channel"], r["snr_db"], r.get("distance_m"), r["metric"]): r["value"] for r in rows}
    for r in summary.results:
        k = r.key
        cells = [_fmt(index.get((k.codec, k.channel, k.snr_db, k.distance_m, m))) for m in metrics]
        if "infeasible" in metrics:
            cells[-1] = {"1": "INFEASIBLE", "0": "fits"}.get(cells[-1], cells[-1])
        where = ([f"{k.distance_m:g}", f"{k.snr_db:.2f}"] if distance else [f"{k.snr_db:g}"])
        table.add_row(k.codec, k.channel, *where, *cells)
    out.print(table)


def _validate(args, out: Console) -> int:
    """``linksim validate S.yaml``: the scenario checked, its data loaded and its codecs built (as a
    run builds them), payload bits and resource elements per stream; no grid, channel or link
    (resource elements are arithmetic, so Sionna is never imported)."""
    import torch

    from linksim.scenario.build import build_codecs, load_scenario_data

    sc = _load(args.scenario)
    data = load_scenario_data(sc)
    codecs = build_codecs(sc, data, torch.device("cpu"))
    table = Table(title=f"{sc.name}: per sample, before any simulation")
    for col in ("codec", "stream", "path", "transport", "payload bits", "resource elements"):
        table.add_column(col, justify="right" if col in ("payload bits", "resource elements") else "left")
    from linksim.data.multimodal import MultimodalBatch

    batch = data.select(slice(0, sc.data.batch_size)) if isinstance(data, MultimodalBatch) else data.images[: sc.data.batch_size]
    budget = sc.budget_channel_uses()
    over = []
    for name, codec in codecs.items():
        fixed = codec.payload_bits()
        measured = None
        if fixed is None:  # data-dependent payload (e.g. JPEG): encode one batch, no channel
            measured = codec.encode(batch)
        total_uses = 0.0
        for stream, t in codec.transports.items():
            if t.path == "analog":
                n_values = (measured[stream].values[0].numel() if measured else
                            codec.analog_values(stream) or math.prod(data.sample_shape))
                bits, uses = "-", math.ceil(n_values / 2)
                desc = "analog"
            else:
                if measured is not None:
                    lengths = measured[stream].lengths
                    nb = float(lengths.float().mean()) if lengths is not None else measured[stream].bits.shape[1]
                else:
                    nb = fixed[stream]
                uses = codec.context.channel_uses(stream, int(round(nb)))
                bits = f"{nb:.0f}" + (" (mean)" if measured is not None else "")
                desc = f"{t.modulation}, rate {t.code_rate:g}" + (f", {t.dtype}" if t.dtype else "")
            total_uses += uses
            table.add_row(name, stream, t.path, desc, bits, f"{uses:.0f}")
        if budget is not None and total_uses > budget:
            over.append(f"{name} needs {total_uses:.0f} resource elements per sample, over the budget of {budget}: "
                        "infeasible")
    out.print(table)
    printed: dict[str, str] = {}  # table -> first codec: codecs that differ only in mode share one table
    for name, codec in codecs.items():
        rows = codec.payload_table()
        if rows:
            key = repr(rows)
            if key in printed:
                out.print(f"{name}: payload per sample as for {printed[key]}", highlight=False)
                continue
            printed[key] = name
            _payload_table(name, rows, out)
    channels = {p.label() for p in sc.channel_params}  # as a run names them
    points = len(codecs) * len(channels) * len(sc.sweep_points())
    axis = "distances" if sc.is_distance_sweep() else "SNR points"
    out.print(f"{len(codecs)} codecs x {len(channels)} channels x {len(sc.sweep_points())} {axis} = "
              f"{points} points, {len(data)} samples each", highlight=False)
    for line in over:
        out.print(f"warning: {line}", highlight=False)
    out.print("scenario is valid", highlight=False)
    return EXIT_OK


def _payload_table(codec: str, rows: list[dict], out: Console) -> None:
    """A codec's dimensionality table (the caption+latent paper's Table 1), units in the headers."""
    table = Table(title=f"{codec}: payload per sample (cf. Table 1 of the caption+latent paper)")
    for col in ("transmitted data", "dimensionality", "data type", "bits", "bytes", "% of image", "REs"):
        table.add_column(col, justify="left" if col in ("transmitted data", "dimensionality", "data type") else "right",
                         no_wrap=True)
    image_bits = rows[0]["bits"]
    for r in rows:
        bits = r["bits"]
        table.add_row(r["name"], r["shape"], r["data_type"], "-" if bits is None else f"{bits:,}",
                      "-" if bits is None else f"{r['bytes']:,.0f}",
                      "-" if bits is None else f"{100 * bits / image_bits:.3g}",
                      "-" if r["channel_uses"] is None else f"{r['channel_uses']:,}")
    out.print(table)
    for note in dict.fromkeys(r["note"] for r in rows if r.get("note")):
        out.print(f"note: {note}", highlight=False)
    out.print("bits and bytes: payload per sample (8 bits per byte); % of image: of the whole image as float64; "
              "REs: data resource elements per sample under the stream's transport (- : not sent by this mode)",
              highlight=False)


def _list(out: Console) -> int:
    """Every registered codec, channel model, data source and metric, with where it comes from."""
    from linksim.codecs import CODECS
    from linksim.data.registry import SOURCES
    from linksim.errors import PluginError
    from linksim.metrics.table import METRICS, metric_facts

    for title, registry in (("codecs", CODECS), ("channel models", _channel_models()), ("data sources", SOURCES)):
        table = Table(title=title, title_justify="left")
        for col in ("name", "from", "usage" if registry is SOURCES else "target"):
            table.add_column(col)
        for name in sorted(registry.names()):
            origin = registry.origin(name)
            if registry is SOURCES:
                try:
                    detail = ", ".join(SOURCES[name].usages)
                except PluginError as e:
                    detail = f"cannot load: {e}"
            else:
                detail = origin.target
            table.add_row(name, origin.describe(), detail)
        out.print(table)
    table = Table(title="metrics (selectable in metrics:; the others are always reported)", title_justify="left")
    for col in ("name", "from", "better", "unit", "aggregation", "interval", "axis", "computed by", "what it measures"):
        table.add_column(col)
    rows = []
    for name in METRICS.names():
        try:
            m = metric_facts(name)  # without importing the module that defines it, where its source says all
        except PluginError as e:
            table.add_row(name, METRICS.origin(name).describe(), "", "", "", "", "", "", f"cannot load: {e}")
            continue
        rows.append((not m.selectable, m.computed_by, name, m))
    for _, _, name, m in sorted(rows):
        better = {True: "higher", False: "lower", None: ""}[m.higher_is_better]
        shown = name if m.selectable else f"({name})"
        table.add_row(shown, METRICS.origin(name).describe(), better, m.unit, m.aggregation, m.interval, m.scale,
                      m.computed_by, m.description)
    out.print(table)
    return EXIT_OK


def _channel_models():
    """The channel models' registry for listing names and origins: :data:`linksim.phy.channels.CHANNELS`
    when that module is imported, else a registry over the same entry-point group. The module
    defines the models as torch modules, and listing reads only entry points (nothing can have
    registered a model from Python before it is imported)."""
    from linksim.registry import Registry

    channels = sys.modules.get("linksim.phy.channels")
    return channels.CHANNELS if channels is not None else Registry("channel model", CHANNEL_GROUP)


#: the entry-point group of :data:`linksim.phy.channels.CHANNELS` (a test checks that they agree)
CHANNEL_GROUP = "linksim.channels"


def _plot(args, out: Console) -> int:
    from linksim.errors import RunError
    from linksim.plots import plot_fidelity_vs_bandwidth, plot_results, read_results_csv

    csv_path = args.run_dir / "results.csv"
    if not csv_path.exists():
        raise RunError(f"{csv_path} does not exist: is {args.run_dir} the folder of a finished run?")
    rows = read_results_csv(csv_path)  # a malformed file: one DataError line naming the file and line, exit 2
    from linksim.plots import read_figure_context

    options = _figure_options(args, args.run_dir)
    context = read_figure_context(args.run_dir)
    titles = context.get("channel_titles") or {}
    paths = plot_results(rows, args.run_dir / "plots", options, channel_titles=titles,
                         targets=context.get("targets") or {}, source_values=context.get("source_values"))
    paths += plot_fidelity_vs_bandwidth(rows, args.run_dir / "plots", options, channel_titles=titles,
                                        source_values=context.get("source_values"))
    series = _series_of_run(args.run_dir)
    if series:
        from linksim.plots import plot_fidelity_vs_load

        paths += plot_fidelity_vs_load(rows, series, args.run_dir / "plots", options, channel_titles=titles)
    for p in paths:
        out.print(str(p), highlight=False)
    if not paths:
        out.print(f"no figure: no metric of {csv_path} has a value that can be drawn", highlight=False)
    return EXIT_OK


def _figure_options(args, run_dir: Path):
    """The run's ``outputs:`` section (its scenario.yaml, read without validating the whole
    scenario), with the command line's options on top."""
    import yaml

    from linksim.errors import ScenarioError
    from linksim.plots import FigureOptions

    try:
        section = yaml.safe_load((run_dir / "scenario.yaml").read_text()).get("outputs") or {}
        section = section if isinstance(section, dict) else {}
    except (OSError, yaml.YAMLError, AttributeError):
        section = {}
    given = {"formats": args.formats, "dpi": args.dpi, "width_in": args.width_in, "style": args.style}
    fields = {**{k: section[k] for k in ("formats", "dpi", "width_in", "style") if section.get(k) is not None},
              **{k: v for k, v in given.items() if v is not None}}
    rc = dict(section.get("rc") or {}) if isinstance(section.get("rc"), dict) else {}
    for item in args.rc or []:
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise ScenarioError([f"--rc: expected KEY=VALUE, got '{item}'"])
        rc[key.strip()] = yaml.safe_load(value)
    try:
        if "formats" in fields:
            fields["formats"] = tuple(fields["formats"])
        return FigureOptions(**fields, rc=rc)  # checks the style and the rc keys and values too
    except (ValueError, TypeError) as e:
        raise ScenarioError([f"plot options: {str(e).splitlines()[0]}"]) from None


def _figure_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--format", dest="formats", nargs="+", choices=["png", "pdf", "svg"], default=None,
                   help="figure formats (default: png pdf svg)")
    p.add_argument("--dpi", type=int, default=None, help="PNG resolution [dots per inch] (default 200)")
    p.add_argument("--width", dest="width_in", type=float, default=None,
                   help="figure width [in], e.g. 3.5 for one column of a two-column paper")
    p.add_argument("--style", default=None, help="matplotlib style name or .mplstyle file")
    p.add_argument("--rc", action="append", default=None, metavar="KEY=VALUE",
                   help="a matplotlib rcParams override (repeatable), e.g. --rc font.size=8")


def _report(args, out: Console) -> int:
    from linksim.errors import RunError
    from linksim.report import write_report

    if not (args.run_dir / "results.csv").exists():
        raise RunError(f"{args.run_dir / 'results.csv'} does not exist: is {args.run_dir} the folder of a finished run?")
    out.print(str(write_report(args.run_dir)), highlight=False)
    return EXIT_OK


def _compare(args, out: Console) -> int:
    from linksim.errors import RunError, ScenarioError
    from linksim.plots import compare_runs

    if args.names is not None and len(args.names) != len(args.run_dirs):
        raise ScenarioError([f"--name: given {len(args.names)} times for {len(args.run_dirs)} runs "
                             "(once per RUN_DIR, or not at all)"])
    for d in args.run_dirs:
        if not (d / "results.csv").exists():
            raise RunError(f"{d / 'results.csv'} does not exist: is {d} the folder of a finished run?")
    paths = compare_runs(args.run_dirs, args.out, _figure_options(args, args.run_dirs[0]), args.names)
    for p in paths:
        out.print(str(p), highlight=False)
    if not paths:
        out.print("no figure: no metric of these runs has a value that can be drawn", highlight=False)
    return EXIT_OK


def _series_of_run(run_dir: Path) -> dict[str, str]:
    """``codec -> series`` from the run's own ``scenario.yaml`` (empty when it has none or does not read)."""
    import yaml

    try:
        raw = yaml.safe_load((run_dir / "scenario.yaml").read_text())
        return {str(c["name"]): str(c["series"]) for c in raw.get("codecs", []) if c.get("series")}
    except (OSError, yaml.YAMLError, AttributeError, KeyError, TypeError):
        return {}


def _range_table(sc, summary, out: Console) -> None:
    """The range per codec, channel and target (distance sweeps), or the SNR each codec needs
    (SNR sweeps), when the scenario has ``targets``: a result, printed with ``--quiet`` too."""
    from linksim.metrics.table import metric_info

    def number(v) -> str:
        return "-" if v is None else "\u221e" if v == math.inf else "-\u221e" if v == -math.inf else f"{v:.4g}"

    def interval(lo, hi, unit: str) -> str:
        return f"[{number(lo)}, {number(hi)}] {unit}"

    def where(r, at: str, lo: str, hi: str, unit: str, beyond: str, before: str) -> str:
        if r["crossing"] == "always":
            return beyond
        if r["crossing"] == "never":
            return before
        return f"{r[at]:.4g} {unit} {interval(r[lo], r[hi], unit)}" + ("" if r["monotone"] else " (not monotone)")

    if summary.range_rows:
        table = Table(title=f"{sc.name}: range meeting each target (range.csv)")
        for col in ("codec", "channel", "target", "range (interpolated) [CI]", "largest passing distance [m]",
                    "SNR there [dB]"):
            table.add_column(col, justify="left" if col in ("codec", "channel", "target") else "right")
        far = max((r["max_distance_m"] or 0.0 for r in summary.range_rows), default=0.0)
        for r in summary.range_rows:
            op = metric_info(r["metric"]).target_operator
            met = r["max_distance_m"] is not None
            table.add_row(r["codec"], r["channel"], f"{r['metric']} {op} {r['target']:g}",
                          where(r, "range_m", "range_low_m", "range_high_m", "m", f"beyond the sweep (> {far:g} m)",
                                "before the nearest distance"),
                          f"{r['max_distance_m']:g}" if met else "never met", f"{r['snr_db']:.2f}" if met else "-")
        out.print(table)
    if summary.required_snr_rows:
        table = Table(title=f"{sc.name}: SNR each codec needs for each target (required_snr.csv)")
        for col in ("codec", "channel", "target", "required Es/N0 per RE [CI]"):
            table.add_column(col, justify="left" if col != "required Es/N0 per RE [CI]" else "right")
        for r in summary.required_snr_rows:
            op = metric_info(r["metric"]).target_operator
            table.add_row(r["codec"], r["channel"], f"{r['metric']} {op} {r['target']:g}",
                          where(r, "required_snr_db", "required_snr_low_db", "required_snr_high_db", "dB",
                                "met at every swept SNR", "not met at any swept SNR"))
        out.print(table)


def _budget(args, out: Console) -> int:
    """``linksim budget S.yaml``: the link budget line by line at each distance, Eb/N0 per digital stream."""
    from linksim.phy.pathloss import PathlossRangeError
    from linksim.scenario import ScenarioError

    sc = _load(args.scenario)
    if sc.link_budget is None:
        raise ScenarioError(["link_budget: missing: the scenario has no link_budget section"])
    lb = sc.link_budget.budget()
    distances = args.distance or sc.sweep.distance_points()
    if not distances:
        raise ScenarioError(["sweep.distance_m: no distance to evaluate (give sweep.distance_m or --distance)"])
    problems = []
    for d in distances:
        try:
            lb.check_distance(d)
        except PathlossRangeError as e:
            problems.append(f"--distance: {e}")
    if problems:
        raise ScenarioError(problems)
    from linksim.runner.outputs import link_budget_table

    distances, rows = link_budget_table(sc, distances)
    table = Table(title=f"{sc.name}: link budget")
    table.add_column("item", justify="left")
    for d in distances:
        table.add_column(f"{d:g} m", justify="right")
    table.add_column("unit", justify="left")
    for item, values, unit in rows:
        table.add_row(item, *values, unit)
    out.print(table)
    o = sc.phy.ofdm
    grid_hz = o.fft_size * o.subcarrier_spacing_hz
    if not math.isclose(grid_hz, sc.link_budget.bandwidth_hz, rel_tol=1e-3):
        out.print(f"note: the simulated grid spans {grid_hz / 1e6:g} MHz ({o.fft_size} subcarriers x "
                  f"{o.subcarrier_spacing_hz / 1e3:g} kHz), the link budget's noise bandwidth is "
                  f"{sc.link_budget.bandwidth_hz / 1e6:g} MHz. Es/N0 per resource element is the same for both "
                  "(the transmit power and the noise spread over the budget's bandwidth alike); the grid decides "
                  "only how many resource elements a slot holds", highlight=False)
    budget = sc.budget_channel_uses()
    if budget is not None:
        out.print(f"bandwidth budget: {budget} resource elements per sample", highlight=False)
    return EXIT_OK


if __name__ == "__main__":  # python -m linksim.cli (python -m linksim works too)
    entry_point()
