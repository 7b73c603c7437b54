"""Validating a parsed scenario: the schema, then every name it gives (codecs, channel models,
data sources, metrics: built-in or plugin), one line per problem naming the field path."""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from linksim.codecs import codec_class
from linksim.codecs.base import CodecParams, input_fields
from linksim.errors import PluginError, ScenarioError
from linksim.phy.channels import channel_class

from .schema import NOT_FINITE, Scenario, number_problems
from .yaml_loader import field_path, parse_yaml, read_scenario_text


_loc = field_path


#: the names pydantic gives the branches of a union in an error's location (``d.int``, ``d.literal['auto']``)
_UNION_BRANCH = re.compile(r"int|float|str|bool|none|(literal|dict|tuple|set)\[.*\]")


def _problems(err: ValidationError | None, prefix: tuple = (), numbers: list[tuple[tuple, str]] = ()) -> list[str]:
    """One line per field: ``numbers`` (booleans and NaN where a number is expected, from
    :func:`~.schema.number_problems`) first, then pydantic's errors, less those at or above
    a field ``numbers`` names (``fft_size: true`` read as 1 also makes ``phy.ofdm``'s
    cyclic prefix too long: that is the boolean's fault, not another problem)."""
    by_field: dict[str, list[str]] = {}
    for loc, msg in numbers:
        by_field.setdefault(_loc(prefix + loc) or "(top level)", []).append(msg)
    flagged = [prefix + loc for loc, _ in numbers]
    for e in err.errors() if err is not None else []:
        loc = tuple(p for p in e["loc"] if not (isinstance(p, str) and (
            p.startswith(("function-", "list[", "tagged-union"))
            or (e["type"] != "extra_forbidden" and _UNION_BRANCH.fullmatch(p)))))
        if any(f[: len(prefix + loc)] == prefix + loc for f in flagged):
            continue
        msg = e["msg"]
        if e["type"] == "extra_forbidden":
            msg = "unknown field"
        elif e["type"] == "missing":
            msg = "missing required field"
        elif e["type"] == "finite_number":
            msg = NOT_FINITE
        msg = msg.removeprefix("Value error, ")
        messages = by_field.setdefault(_loc(prefix + loc) or "(top level)", [])
        if msg not in messages:
            messages.append(msg)
    # a union's branches fail together: one line per field, the alternatives joined
    return [f"{field}: {'; or: '.join(messages)}" for field, messages in by_field.items()]


def validate_scenario(raw: Any, base_dir: Path | None = None) -> Scenario:
    """Validate a parsed YAML document; return the resolved :class:`Scenario`.

    :param raw: the parsed YAML (a mapping).
    :param base_dir: folder of the scenario file (None: the working directory); every
        relative path in the scenario is resolved against it: ``folder:`` / ``mnist:``
        folders in ``data.source``, codec params marked with
        :func:`~linksim.codecs.base.input_path` (weights, adapters, model folders) and
        ``metric_models``. A missing data folder or codec input is a problem naming the
        field (a missing ``metric_models`` file is reported when its model loads).
    :raises ScenarioError: listing every problem found, one line each.
    """
    if not isinstance(raw, dict):
        raise ScenarioError([f"(top level): expected a mapping of sections, got {type(raw).__name__}"])
    numbers = number_problems(Scenario, raw)
    try:
        sc = Scenario.model_validate(raw)
    except ValidationError as e:
        raise ScenarioError(_problems(e, numbers=numbers)) from None
    problems: list[str] = _problems(None, numbers=numbers)  # read as numbers, but booleans or NaN

    channels, labels = [], []
    for i, ch in enumerate(sc.channels):
        if not isinstance(ch, dict):
            problems.append(f"channels[{i}]: expected a mapping like {{model: awgn}}")
            continue
        model = ch.get("model")
        if model is None:
            problems.append(f"channels[{i}].model: missing required field")
            continue
        if not isinstance(model, str):
            problems.append(f"channels[{i}].model: must be a string")
            continue
        try:
            cls = channel_class(str(model))
            numbers = number_problems(cls.Params, ch)
            params = cls.Params.model_validate(ch)
        except ValidationError as e:
            problems += _problems(e, ("channels", i), numbers)
            continue
        except (ValueError, PluginError) as e:
            problems.append(f"channels[{i}].model: {e}")
            continue
        if numbers:
            problems += _problems(None, ("channels", i), numbers)
            continue
        if params.model in ("umi", "uma"):  # geometry defaults from the link budget
            lb = sc.link_budget
            fill = {}
            if params.carrier_frequency_hz is None:
                fill["carrier_frequency_hz"] = lb.carrier_frequency_hz if lb is not None else 3.5e9
            if params.los is None:
                fill["los"] = lb.pathloss.los if lb is not None else False
            if params.h_bs_m is None and lb is not None and lb.pathloss.model == params.model:
                fill["h_bs_m"] = lb.pathloss.h_bs_m
            params = params.model_copy(update=fill)
            if sc.is_distance_sweep():
                bad = [d for d in sc.sweep.distance_points() if not 10.0 <= d <= 5000.0]
                if bad:
                    problems.append(f"channels[{i}]: {params.model} fading is defined for distances in [10, 5000] m, "
                                    f"the sweep has {bad}")
        channels.append(params)
        label = params.label()
        if label in labels:
            problems.append(f"channels[{i}]: label '{label}' is used twice; give one a 'name'")
        labels.append(label)

    base = Path(base_dir) if base_dir is not None else Path.cwd()
    codec_params, transports, names, sections = [], [], [], list(sc.codecs)
    for i, c in enumerate(sc.codecs):
        if c.name in names:
            problems.append(f"codecs[{i}].name: '{c.name}' is used twice")
        names.append(c.name)
        try:
            cls = codec_class(c.type)
        except (ValueError, PluginError) as e:
            problems.append(f"codecs[{i}].type: {e}")
            continue
        params, bad = _resolve_input_paths(cls.Params, c.params, base, f"codecs[{i}].params")
        problems += bad.values()
        if params != c.params:
            sections[i] = c.model_copy(update={"params": params})
        numbers = number_problems(cls.Params, params)
        try:
            validated = cls.Params.model_validate(params)
        except ValidationError as e:  # a field whose file is missing is reported once, above
            problems += [p for p in _problems(e, ("codecs", i, "params"), numbers) if p.partition(":")[0] not in bad]
        else:
            if numbers:
                problems += _problems(None, ("codecs", i, "params"), numbers)
            else:
                codec_params.append(validated)
        try:
            transports.append(cls.resolve_transports(dict(c.streams)))
        except ValueError as e:
            problems.append(f"codecs[{i}].streams: {e}")

    if sections != list(sc.codecs):
        sc = sc.model_copy(update={"codecs": sections})
    # resolved alike, but not checked: a scenario may name a model file fetched later (a cache
    # path); a missing one stops the run when the metric's model loads (ModelUnavailable)
    models, _ = _resolve_input_paths(type(sc.metric_models), sc.metric_models.model_dump(), base, "metric_models",
                                     only=sc.metric_models.model_fields_set)
    if models != sc.metric_models.model_dump():
        sc = sc.model_copy(update={"metric_models": sc.metric_models.model_copy(update=models)})

    if sc.is_distance_sweep():
        if sc.link_budget is None:
            problems.append("sweep.distance_m: a distance sweep needs a link_budget section")
        else:
            lb = sc.link_budget.budget()
            for d in sc.sweep.distance_points():
                try:
                    lb.check_distance(d)  # the model's validity range and the +-300 dB SNR guard
                except ValueError as e:
                    problems.append(f"sweep.distance_m: {e}")
    if sc.budget.bandwidth_hz is not None and sc.budget_channel_uses() < 1:
        problems.append("budget: bandwidth_hz x duration_s give less than one resource element "
                        "(duration shorter than a slot, or bandwidth narrower than a subcarrier)")

    sc, modality_problems = _check_modalities(sc, codec_params)
    problems += modality_problems
    metric_names, more = _check_metrics(sc)
    if not modality_problems:  # else the metrics' complaints only echo the codecs' (e.g. an image codec on video)
        problems += more

    if sc.sweep.snr_type == "ebn0":
        for i, t in enumerate(transports):
            for s, tr in t.items():
                if tr.path == "analog":
                    problems.append(f"codecs[{i}].streams.{s}.path: Eb/N0 is undefined for analog streams; use sweep.snr_type: esn0")

    sc, more = _resolve_data_folder(sc, base_dir)
    problems += more

    if problems:
        raise ScenarioError(problems)
    sc._channels = channels
    sc._codec_params = codec_params
    sc._transports = transports
    sc._metric_names = metric_names
    return sc


def resolve_input_path(kind: str, value: str, base: Path) -> tuple[str, str | None]:
    """``(value, problem)`` of a field marked ``input_path(kind)`` (see
    :data:`linksim.codecs.base.INPUT_PATH_KINDS`): a local path made absolute against ``base``
    (the scenario file's folder), a bare name or hub id unchanged; ``problem`` says what is
    missing: a file or folder (None when nothing is, and for models, whose loader reports them)."""
    text = str(value)
    if not text.strip():
        return value, None  # the field's own validator names the problem
    try:
        path = Path(text).expanduser()
        full = Path(os.path.abspath(path if path.is_absolute() else base / path))
        is_file, is_dir = full.is_file(), full.is_dir()
    except (OSError, ValueError, RuntimeError):  # a NUL byte, a name too long, ~user unknown
        path, full, is_file, is_dir = Path(), Path(text), False, False
    looks_local = text.startswith((".", "/", "~")) or "\\" in text
    if kind == "file_or_name" and not (is_file or is_dir or looks_local or "/" in text or path.suffix):
        return value, None  # a name the codec resolves itself (shipped weights)
    if kind == "model" and not (is_file or is_dir or looks_local or text.count("/") > 1):
        return value, None  # a hub id
    if kind in ("file", "file_or_name") and not is_file:
        what = "is a folder, not a file" if is_dir else "does not exist"
        return value, f"file '{text}' {what} (resolved to {full})"
    if kind == "folder" and not is_dir:
        what = "is a file, not a folder" if is_file else "does not exist"
        return value, f"folder '{text}' {what} (resolved to {full})"
    # a local model that is missing is reported when it loads (ModelUnavailable, exit 1): validating
    # a scenario needs no model, and models are often fetched separately (a hub cache)
    return str(full), None


def _resolve_input_paths(model: type, values: dict[str, Any], base: Path, prefix: str,
                         only: set[str] | None = None) -> tuple[dict[str, Any], dict[str, str]]:
    """``values`` (raw or dumped fields of ``model``) with every string in a field marked by
    :func:`~linksim.codecs.base.input_path` resolved against ``base``; and ``field path ->
    problem line`` for those that name nothing (``only``: check just these fields)."""
    out, problems = dict(values), {}
    for name, kind in input_fields(model).items():
        value = values.get(name)
        if not isinstance(value, str) or (only is not None and name not in only):
            continue
        out[name], problem = resolve_input_path(kind, value, base)
        if problem is not None:
            problems[f"{prefix}.{name}"] = f"{prefix}.{name}: {problem}"
    return out, problems


def source_folder(source: str) -> Path | None:
    """The folder a ``data.source`` reads (``folder:<dir>``, ``mnist:<dir>:train``, any source
    whose ``DataSource.folder_argument`` is set), as written; None for other sources."""
    from linksim.data.registry import source_entry, split_source
    from linksim.errors import DataError

    try:
        entry = source_entry(source)
    except DataError:
        return None
    if not entry.folder_argument:
        return None
    folder = split_source(source)[1]
    head, sep, tail = folder.rpartition(":")
    if sep and tail in entry.splits:
        folder = head
    return Path(folder).expanduser() if folder.strip() else None


def _resolve_data_folder(sc: Scenario, base_dir: Path | None) -> tuple[Scenario, list[str]]:
    """A data source whose argument is a folder (``DataSource.folder_argument``: ``folder:``,
    ``mnist:``, a plugin's...): a relative folder is resolved against the scenario file's
    folder, and a missing one is a problem naming ``data.source``."""
    from linksim.data.registry import source_entry, split_source
    from linksim.errors import DataError

    source = sc.data.source
    try:
        entry = source_entry(source)
    except DataError:
        return sc, []  # reported with the modalities
    if not entry.folder_argument:
        return sc, []
    kind, folder = split_source(source)
    split = ""
    head, sep, tail = folder.rpartition(":")
    if sep and tail in entry.splits:
        folder, split = head, f":{tail}"
    if not folder.strip():
        return sc, []  # the loader names what is missing
    path = Path(folder).expanduser()
    if not path.is_absolute() and base_dir is not None:
        path = (base_dir / path).resolve()
    if not path.is_dir():
        return sc, [f"data.source: folder '{folder}' does not exist (resolved to {path})"]
    resolved = f"{kind}:{path}{split}"
    return sc.model_copy(update={"data": sc.data.model_copy(update={"source": resolved})}), []


def _codec_classes(sc: Scenario) -> list[type]:
    out = []
    for c in sc.codecs:
        try:
            out.append(codec_class(c.type))
        except (ValueError, PluginError):
            continue  # reported with the codec
    return out


def _check_modalities(sc: Scenario, codec_params: list[CodecParams]) -> tuple[Scenario, list[str]]:
    """Data and codecs must agree on what a sample is: images, or (video, audio, text) samples
    (a ``multimodal`` codec and data source). A scenario without ``metrics`` whose codecs all
    declare ``default_metrics`` gets theirs."""
    from linksim.data.registry import source_entry
    from linksim.errors import DataError

    problems = []
    try:
        multimodal = source_entry(sc.data.source).multimodal
    except DataError as e:
        return sc, [f"data.source: {str(e).removeprefix(f'data.source {sc.data.source!r}: ')}"]
    classes = _codec_classes(sc)
    if "metrics" not in sc.model_fields_set and classes and all(c.default_metrics for c in classes):
        defaults = list(dict.fromkeys(m for c in classes for m in c.default_metrics))
        sc = sc.model_copy(update={"metrics": defaults})
    for i, c in enumerate(sc.codecs):
        try:
            cls = codec_class(c.type)
        except (ValueError, PluginError):
            continue
        if multimodal and not cls.multimodal:
            problems.append(f"codecs[{i}].type: '{c.type}' codes images, but data.source '{sc.data.source}' gives "
                            "(video, audio, text) samples: use a multimodal codec (bridge) or an image source")
        elif cls.multimodal and not multimodal:
            problems.append(f"codecs[{i}].type: '{c.type}' needs (video, audio, text) samples, but data.source "
                            f"'{sc.data.source}' gives images: use digits-av, triples:<dir>, vggsound:<dir> or coco:<dir>")
    aligned = len(codec_params) == len(sc.codecs)  # else a codec's params are invalid, already reported
    for i, (c, params) in enumerate(zip(sc.codecs, codec_params if aligned else [])):
        for field_name, message in codec_class(c.type).metric_problems(params, sc.metrics).items():
            problems.append(f"codecs[{i}].params.{field_name}: {message}")
    return sc, problems


def _check_metrics(sc: Scenario) -> tuple[list[str], list[str]]:
    """Every entry of ``metrics`` and ``targets`` against the metric table: it must exist (or
    import, for ``package.module:METRIC``), be selectable, and apply to the run: link metrics
    always, image metrics on image data, a codec's own metrics when one of its codecs
    provides them. Returns (the metrics' names in results, problems)."""
    from linksim.data.registry import is_multimodal_source
    from linksim.errors import UnknownName
    from linksim.metrics.table import METRICS, selectable_metrics

    multimodal = is_multimodal_source(sc.data.source)
    provided = {m for cls in _codec_classes(sc) for m in cls.provided_metric_names()}
    problems, names = [], []

    def usable(m) -> bool:
        if m.computed_by == "link" or m.name in provided:
            return True
        if m.computed_by in ("function", "learned"):
            return m.data in ("any", "multimodal" if multimodal else "image")
        return False

    def applicable() -> list[str]:
        return [n for n in selectable_metrics() if usable(METRICS[n])]

    for i, entry in enumerate(sc.metrics):
        try:
            m = METRICS.resolve(entry)
        except UnknownName:
            problems.append(f"metrics[{i}]: unknown metric '{entry}' (known: {', '.join(applicable())})")
            continue
        except PluginError as e:
            problems.append(f"metrics[{i}]: {e}")
            continue
        if not m.selectable:
            problems.append(f"metrics[{i}]: '{entry}' is always reported; it cannot be selected")
        elif not usable(m):
            what = "(video, audio, text) samples" if multimodal else "images"
            problems.append(f"metrics[{i}]: '{entry}' does not apply to the {what} of data.source '{sc.data.source}' "
                            f"and none of the codecs computes it (use: {', '.join(applicable())})")
        names.append(m.name)
    for name in sc.targets:
        try:
            m = METRICS.resolve(name)
        except (UnknownName, PluginError) as e:
            problems.append(f"targets.{name}: {e}")
            continue
        if m.higher_is_better is None or m.computed_by == "link":
            fidelity = [n for n in applicable() if METRICS[n].computed_by != "link"]
            problems.append(f"targets.{name}: not a fidelity metric (known: {', '.join(fidelity)})")
        elif m.name not in names:
            problems.append(f"targets.{name}: add '{name}' to metrics to have it measured")
    return names, problems


def load_scenario(path: str | Path) -> Scenario:
    """Read, parse and validate a scenario file.

    :raises ScenarioError: a missing, unreadable or oversized file, a path that is not a
        regular file, invalid YAML (duplicate keys included), or an invalid scenario.
    """
    path = Path(path)
    text = read_scenario_text(path)  # a regular file of at most 1 MB, or one line saying why not
    return validate_scenario(parse_yaml(text, str(path)), base_dir=path.parent)


def scenario_to_yaml(sc: Scenario) -> str:
    """The resolved scenario (defaults filled in) as YAML, for the run folder."""
    data = sc.model_dump(mode="json")
    data["channels"] = [p.model_dump(mode="json") for p in sc.channel_params] or data["channels"]
    for c, p in zip(data["codecs"], sc.codec_params):
        c["params"] = p.model_dump(mode="json")
    return yaml.safe_dump(data, sort_keys=False)
