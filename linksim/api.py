"""The Python API: what the CLI does, callable from a script or a notebook.

>>> import linksim
>>> df = linksim.run("scenarios/quickstart.yaml")          # in memory: nothing written  # doctest: +SKIP
>>> df = linksim.run(scenario_dict, out="results/mine")     # a run folder, as `linksim run`  # doctest: +SKIP
>>> codec = linksim.build_codec("raw", streams={"data": {"path": "analog"}})  # doctest: +SKIP

Every function takes what a user has at hand (a path, a dict, a loaded scenario) and
returns plain objects: a :class:`pandas.DataFrame` with exactly the columns of
``results.csv``, a codec ready to encode.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import pandas as pd
    import torch

    from linksim.codecs.base import Codec
    from linksim.scenario import Scenario


def as_scenario(scenario: "str | Path | Mapping[str, Any] | Scenario", base_dir: str | Path | None = None) -> "Scenario":
    """A validated :class:`~linksim.scenario.Scenario` from a YAML path, a dict (the parsed YAML)
    or a scenario already loaded (returned as is).

    :param base_dir: folder that relative data folders of a dict scenario are resolved
        against (default: the working directory).
    :raises linksim.errors.ScenarioError: every problem, one ``field.path: message`` line each.
    """
    from linksim.scenario import Scenario, load_scenario, validate_scenario

    if isinstance(scenario, Scenario):
        return scenario
    if isinstance(scenario, (str, Path)):
        return load_scenario(scenario)
    if isinstance(scenario, Mapping):
        return validate_scenario(dict(scenario), base_dir=Path(base_dir) if base_dir is not None else Path.cwd())
    raise TypeError(f"scenario: expected a path, a dict or a Scenario, got {type(scenario).__name__}")


def run(scenario: "str | Path | Mapping[str, Any] | Scenario", out: str | Path | None = None, *,
        force: bool = False, device: str | None = None, executor: str = "in-process",
        address: str | None = None, progress: bool = False) -> "pd.DataFrame":
    """Run every point of a scenario and return its results.

    :param scenario: a YAML path, a dict with the same fields, or a loaded scenario.
    :param out: the run folder to write (results.csv, results.h5, plots, samples; resumes
        what is already there, as ``linksim run --out``). None: run in memory and write nothing.
    :param force: recompute points already in ``out``'s results.h5.
    :param device: override the scenario's ``device`` (``auto`` | ``cpu`` | ``cuda[:N]``).
    :param executor: ``in-process`` (default) or ``ray`` (each point a Ray task).
    :param address: with ``executor="ray"``: the cluster to connect to.
    :param progress: show a progress bar (rich) on the terminal.
    :return: one row per (codec, channel, snr_db, metric) with exactly the columns of
        ``results.csv`` (``codec, channel, snr_db, metric, value, ci_low, ci_high, n``, and
        ``distance_m`` for a distance sweep); an interval that does not apply is NaN.
    :raises linksim.errors.ScenarioError: invalid scenario (one line per problem).
    :raises linksim.errors.LinksimError: any other failure that linksim reports in one line.
    """
    import pandas as pd

    from linksim.executors import make_executor
    from linksim.results import CSV_COLUMNS, DISTANCE_COLUMN
    from linksim.runner import result_rows, run_in_memory, run_scenario

    sc = as_scenario(scenario)
    if device is not None:
        from linksim.scenario import validate_scenario

        raw = sc.model_dump(mode="json")
        raw["device"] = device
        sc = validate_scenario(raw)
    ex = make_executor(executor, address)
    bar = _progress_bar() if progress else None
    try:
        if out is None:
            summary = run_in_memory(sc, progress=bar and bar.__enter__(), executor=ex)
        else:
            summary = run_scenario(sc, Path(out), force=force, progress=bar and bar.__enter__(), executor=ex)
    finally:
        if bar is not None:
            bar.__exit__(None, None, None)
    rows = result_rows(sc, summary.results)
    columns = CSV_COLUMNS + ([DISTANCE_COLUMN] if sc.is_distance_sweep() else [])
    frame = pd.DataFrame(rows, columns=columns)
    for col in ("value", "ci_low", "ci_high"):
        frame[col] = pd.to_numeric(frame[col], errors="coerce")
    frame["n"] = pd.array(frame["n"], dtype="Int64")
    return frame


class _progress_bar:
    """A rich progress bar speaking the runner's progress protocol (start / point / advance)."""

    def __enter__(self):
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

        self._p = Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn())
        self._p.__enter__()
        self._task = None
        return self

    def __exit__(self, *exc) -> None:
        self._p.__exit__(*exc)

    def start(self, total: int, resumed: int = 0) -> None:
        self._task = self._p.add_task("simulating", total=total)

    def point(self, key) -> None:
        self._p.update(self._task, description=f"{key.codec} | {key.channel} | {key.label()}")

    def advance(self, steps: int = 1) -> None:
        self._p.advance(self._task, steps)


def build_codec(type: str, params: Mapping[str, Any] | None = None, streams: Mapping[str, Any] | None = None, *,
                sample_shape: tuple[int, ...] = (1, 28, 28), device: "str | torch.device" = "cpu",
                ofdm: Mapping[str, Any] | None = None, max_code_block_bits: int | None = None,
                budget_channel_uses: int | None = None, seed: int = 0) -> "Codec":
    """A codec ready to use, in one call: its params and stream overrides validated as a
    scenario's would be, and a context whose ``channel_uses`` answers for a real OFDM grid.

    :param type: a registered codec name (``linksim list``) or ``package.module:Class``.
    :param params: the codec's ``params`` section.
    :param streams: per-stream transport overrides (the scenario's ``codecs[i].streams``).
    :param sample_shape: ``(C, H, W)`` of one input sample.
    :param device: where the codec's models live.
    :param ofdm: the grid (fields of a scenario's ``phy.ofdm``; its defaults otherwise), used to
        count resource elements.
    :param max_code_block_bits: largest LDPC information block (``phy.max_code_block_bits``).
    :param budget_channel_uses: a bandwidth budget [resource elements per sample] the codec may fit.
    :param seed: for codecs that draw at construction.
    :raises linksim.errors.ScenarioError: an unknown type or invalid params/streams, one line each.
    """
    import torch
    from pydantic import ValidationError

    from linksim.codecs import CodecContext, StreamOverride, codec_class
    from linksim.codecs.base import stream_channel_uses
    from linksim.errors import PluginError, ScenarioError
    from linksim.phy.ofdm_params import OFDMParams
    from linksim.scenario import PhySection
    from linksim.scenario.validate import _problems

    try:
        cls = codec_class(type)
    except (ValueError, PluginError) as e:
        raise ScenarioError([f"type: {e}"]) from None
    try:
        p = cls.Params.model_validate(dict(params or {}))
    except ValidationError as e:
        raise ScenarioError(_problems(e, ("params",))) from None
    try:
        overrides = {k: StreamOverride.model_validate(v) for k, v in dict(streams or {}).items()}
        transports = cls.resolve_transports(overrides)
    except ValidationError as e:
        raise ScenarioError(_problems(e, ("streams",))) from None
    except ValueError as e:
        raise ScenarioError([f"streams: {e}"]) from None
    try:
        OFDMParams.model_validate(dict(ofdm or {}))  # checked; resource elements do not depend on the grid
    except ValidationError as e:
        raise ScenarioError(_problems(e, ("ofdm",))) from None
    dev = torch.device(device)
    block = max_code_block_bits or PhySection().max_code_block_bits
    ctx = CodecContext(device=dev, sample_shape=tuple(sample_shape),
                       channel_uses=stream_channel_uses(transports, block),
                       budget_channel_uses=budget_channel_uses, seed=seed, max_block_bits=block)
    return cls(p, transports, ctx).to(dev)
