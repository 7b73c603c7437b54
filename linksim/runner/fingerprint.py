"""Point fingerprints: a digest of everything that determines a point's numbers.

A point already in ``results.h5`` is reused only when its fingerprint is unchanged. The
fingerprint covers, for one point (see docs/running.md, "What determines a point"):

- the scenario parts that matter to it: seed, ``data``, ``phy``, its channel entry, its
  codec entry (without ``series``) and its streams' resolved transports, metrics, the
  budget, the link budget of a distance sweep, ``metric_models`` when a learned metric is
  measured, and the sweep rules that
  change its numbers (``snr_type``, the resolved ``max_samples``, ``target_bit_errors``,
  ``target_block_errors``), but not the other sweep points;
- what the scenario's names stand for: the bytes of every file a codec param marked with
  :func:`~linksim.codecs.base.input_path` names (weights, adapters), the file list, sizes
  and modification times of the folders it names (local model folders, the data folder
  of ``folder:``, ``mnist:`` and any source with ``folder_argument``);
- where it runs: the resolved device type, LDPC decoder (``phy.decoder: auto``) and
  implementation (``phy.implementation: auto``);
- the code: the versions of linksim (of a development install: its git state), torch,
  Sionna and numba, and, for every plugin component (codec type, channel model, data
  source, metric), its distribution's version and the SHA-256 of its package.

Each point also stores these parts, flattened (:func:`point_parts`), so that a rerun that
recomputes points can say which inputs changed (:func:`reusable_points`).
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

import linksim
from linksim.results import PointKey

if TYPE_CHECKING:
    from linksim.runner.simulation import Simulation

#: files up to this size are fingerprinted by their bytes; larger ones (a multi-GB model) by
#: size and modification time, which an overwrite changes too
MAX_HASHED_FILE_BYTES = 64 << 20
#: a flattened part longer than this is stored as its digest
_SHORT = 48


class RecomputeWarning(UserWarning):
    """Finished points are simulated again because inputs they depend on changed."""


def plugin_provenance(sim: "Simulation", key: PointKey) -> dict[str, dict[str, str]]:
    """``"<kind>:<name>" -> provenance`` of every plugin that takes part in ``key`` (empty when
    the point uses linksim's built-ins only); see :meth:`linksim.registry.Registry.provenance`."""
    from linksim.codecs import CODECS
    from linksim.data.registry import SOURCES, split_source
    from linksim.metrics.table import METRICS
    from linksim.phy.channels import CHANNELS

    sc = sim.scenario
    i = list(sim.codecs).index(key.codec)
    j = list(sim.channels).index(key.channel)
    named = [("codec", CODECS, sc.codecs[i].type), ("channel", CHANNELS, sc.channel_params[j].model),
             ("data", SOURCES, split_source(sc.data.source)[0])]
    named += [("metric", METRICS, m) for m in sc.metrics]
    out = {}
    for kind, registry, name in named:
        prov = registry.provenance(name)
        if prov is not None:
            out[f"{kind}:{name}"] = prov
    return out


def package_version(dist: str) -> str:
    """The installed version of distribution ``dist`` ("" when it is not installed)."""
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version(dist)
    except PackageNotFoundError:
        return ""


def versions() -> dict[str, str]:
    """Versions of the code behind every point: linksim (with its git state in a development
    install, see ``linksim._source_version``), torch, Sionna and numba."""
    import sionna
    import torch

    return {"linksim": str(linksim.__version__), "torch": str(torch.__version__),
            "sionna": str(sionna.__version__), "numba": package_version("numba")}


# -- what files and folders stand for -----------------------------------------------------------


def file_digest(path: Path) -> str:
    """``sha256:<hex>`` of a file's bytes (``stat:<size>:<mtime_ns>`` above
    :data:`MAX_HASHED_FILE_BYTES`); ``missing`` when there is no such file."""
    try:
        st = path.stat()
    except OSError:
        return "missing"
    if st.st_size > MAX_HASHED_FILE_BYTES:
        return f"stat:{st.st_size}:{st.st_mtime_ns}"
    from linksim.registry import _file_digest  # hashed once per (path, size, mtime) in a process

    return f"sha256:{_file_digest(path)}"


def folder_digest(path: Path) -> str:
    """``files:<n>:<hex>`` over the relative path, size and modification time [ns] of every
    file under ``path`` (no file is read: data folders can be large); ``missing`` if none."""
    if not path.is_dir():
        return "missing"
    h, n = hashlib.sha256(), 0
    for top, dirs, files in os.walk(path):
        dirs.sort()
        for name in sorted(files):
            f = Path(top) / name
            try:
                st = f.stat()
            except OSError:  # a broken link: its name still counts
                st = None
            rel = f.relative_to(path).as_posix()
            h.update(f"{rel}\0{st.st_size if st else -1}\0{st.st_mtime_ns if st else -1}\n".encode())
            n += 1
    return f"files:{n}:{h.hexdigest()}"


def path_digest(path: Path) -> str:
    """:func:`folder_digest` of a folder, :func:`file_digest` of anything else."""
    return folder_digest(path) if path.is_dir() else file_digest(path)


def _input_files(model: Any) -> dict[str, str]:
    """``field -> digest`` of the local files and folders that the marked fields of a params
    model name (validation made them absolute; names and hub ids are left to the versions)."""
    from linksim.codecs.base import input_fields

    out = {}
    for name, kind in input_fields(type(model)).items():
        value = getattr(model, name, None)
        if isinstance(value, str) and value.strip():
            path = Path(value).expanduser()
            if path.is_absolute() or kind in ("file", "folder"):
                out[name] = path_digest(path)
    return out


def _uses_learned_metrics(sim: "Simulation") -> bool:
    from linksim.metrics.table import METRICS

    try:
        return any(METRICS[m].computed_by == "learned" for m in sim.scenario.metric_names)
    except Exception:  # noqa: BLE001 - a metric the table cannot name is not a learned one of ours
        return False


def _run_inputs(sim: "Simulation") -> dict[str, Any]:
    """The parts shared by every point of ``sim`` that cost something to find (file digests,
    versions), computed once per Simulation."""
    cache = sim._fingerprint_cache
    if "run" not in cache:
        from linksim.scenario.validate import source_folder

        sc = sim.scenario
        files: dict[str, str] = {}
        folder = source_folder(sc.data.source)
        if folder is not None:
            files["data.source"] = folder_digest(folder)
        learned = _uses_learned_metrics(sim)
        if learned:
            files.update({f"metric_models.{k}": v for k, v in _input_files(sc.metric_models).items()})
        codec_files = [{f"codec.params.{k}": v for k, v in _input_files(p).items()} for p in sc.codec_params]
        cache["run"] = {"versions": versions(), "files": files, "codec_files": codec_files, "learned": learned}
    return cache["run"]


# -- the fingerprint ------------------------------------------------------------------------------


def point_inputs(sim: "Simulation", key: PointKey) -> dict[str, Any]:
    """Everything that determines ``key``'s numbers, as a JSON-able nested mapping."""
    sc = sim.scenario
    i = list(sim.codecs).index(key.codec)
    j = list(sim.channels).index(key.channel)
    run = _run_inputs(sim)
    device = sim.point_device_type or sim.device.type
    sw = sc.sweep
    parts: dict[str, Any] = {
        "seed": sc.seed, "data": sc.data.model_dump(mode="json"), "phy": sc.phy.model_dump(mode="json"),
        "channel": sc.channel_params[j].model_dump(mode="json"),
        "codec": sc.codecs[i].model_dump(mode="json", exclude={"series"}),  # series: plots only
        "metrics": sc.metrics,
        # the sweep rules that change a point's numbers; not the other points, nor skip_error_free
        # (which decides whether a point runs, not what it measures)
        "sweep": {"snr_type": sw.snr_type, "max_samples": sim.max_samples(),
                  "target_bit_errors": sw.target_bit_errors, "target_block_errors": sw.target_block_errors},
        "device": device,
        "versions": run["versions"],
    }
    # each stream's transport as the codec resolved it (its defaults with the scenario's
    # overrides): a default the codec changes (e.g. an analog_equalizer) changes the numbers
    parts["transports"] = {name: dict(vars(t)) for name, t in sim.codecs[key.codec].transports.items()}
    parts["phy"]["resolved_decoder"] = sc.phy.resolved_decoder(device)
    parts["phy"]["resolved_implementation"] = sc.phy.resolved_implementation(device)
    files = {**run["files"], **run["codec_files"][i]}
    if not run["learned"]:
        files = {k: v for k, v in files.items() if not k.startswith("metric_models.")}
    if files:
        parts["files"] = files
    if run["learned"] or sc.metric_models != type(sc.metric_models)():  # the models behind lpips / clip_score / fid
        parts["metric_models"] = sc.metric_models.model_dump(mode="json")
    if sc.budget.is_set():  # codecs adapt to the budget, and it decides feasibility
        parts["budget"] = sc.budget_channel_uses()
    if key.distance_m is not None:
        parts["link_budget"] = sc.link_budget.model_dump(mode="json")
    plugins = plugin_provenance(sim, key)
    if plugins:
        parts["plugins"] = plugins
    return parts


def _digest(value: Any) -> str:
    return hashlib.sha256(json.dumps(value, sort_keys=True, default=str).encode()).hexdigest()


def point_fingerprint(sim: "Simulation", key: PointKey) -> str:
    """32 hex digits of SHA-256 over :func:`point_inputs`."""
    return _digest(point_inputs(sim, key))[:32]


def flatten(parts: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    """``dotted.key -> value`` of every leaf of ``parts`` (a list is one leaf; ``files`` keys
    keep their own dots); a value whose JSON text is longer than a few dozen characters is
    stored as ``sha256:<16 hex>`` of that text."""
    out: dict[str, Any] = {}
    for k, v in parts.items():
        name = f"{prefix}{k}"
        if isinstance(v, dict) and v and not (prefix == "" and k == "files"):
            out.update(flatten(v, name + "."))
        elif prefix == "" and k == "files":
            out.update({f"files.{f}": str(d) for f, d in v.items()})
        else:
            text = json.dumps(v, sort_keys=True, default=str)
            out[name] = json.loads(text) if len(text) <= _SHORT else \
                f"sha256:{hashlib.sha256(text.encode()).hexdigest()[:16]}"
    return out


def point_parts(sim: "Simulation", key: PointKey) -> dict[str, Any]:
    """The flattened :func:`point_inputs` of ``key``, as stored with the point in results.h5."""
    return flatten(point_inputs(sim, key))


def _shown(value: Any) -> str:
    return value if isinstance(value, str) else json.dumps(value)


def _is_digest(value: Any) -> bool:
    return isinstance(value, str) and value.startswith("sha256:")


def changed_inputs(old: dict[str, Any], new: dict[str, Any]) -> list[str]:
    """What changed between two points' stored parts, one phrase per input:
    ``sweep.max_samples 8 -> 32``, ``codec.params.weights changed (file contents)``."""
    if not old:
        return ["inputs not recorded (a point from an older linksim)"]
    out, files = [], []
    for name in dict.fromkeys([*new, *old]):
        a, b = old.get(name, ...), new.get(name, ...)
        if a == b:
            continue
        if name.startswith("files."):
            files.append(name)
            continue
        if a is ... or b is ...:
            out.append(f"{name} {'added' if a is ... else 'removed'}")
        elif name.startswith("plugins.") and name.endswith(".source_sha256"):
            out.append(f"{name.removesuffix('.source_sha256')} changed (its code)")
        elif _is_digest(a) or _is_digest(b):
            out.append(f"{name} changed")
        else:
            out.append(f"{name} {_shown(a)} -> {_shown(b)}")
    for name in files:
        field = name.removeprefix("files.")
        if old.get(field) != new.get(field):
            continue  # another path: already said
        what = "folder contents" if str(new.get(name) or old.get(name)).startswith("files:") else "file contents"
        out.append(f"{field} changed ({what})")
    return out or ["fingerprint changed"]


def differs_beyond_folder_times(a: dict[str, Any], b: dict[str, Any]) -> bool:
    """Whether two points' stored parts differ in more than folder listings (``files:``
    digests: a folder copied to each node of a cluster has other modification times)."""
    if not a or not b:
        return a != b
    names = set(a) | set(b)
    return any(a.get(n) != b.get(n) and not (str(a.get(n)).startswith("files:") and str(b.get(n)).startswith("files:"))
               for n in names)


def reusable_points(sim: "Simulation", finished: dict[PointKey, str],
                    stored_parts: dict[PointKey, dict[str, Any]]) -> tuple[set[PointKey], str | None]:
    """``(points of sim whose finished result is still current, one line saying why the other
    finished points are recomputed, or None)``.

    :param finished: finished point -> the fingerprint it was computed with.
    :param stored_parts: finished point -> its stored :func:`point_parts` (empty for points of
        an older results.h5).
    """
    current, stale, reasons = set(), 0, {}
    for key in sim.points():
        if key not in finished:
            continue
        if finished[key] == sim.fingerprint(key):
            current.add(key)
            continue
        stale += 1
        for reason in changed_inputs(stored_parts.get(key, {}), sim.fingerprint_parts(key)):
            reasons[reason] = None
    if not stale:
        return current, None
    listed = list(reasons)
    text = ", ".join(listed[:8]) + (f" and {len(listed) - 8} more" if len(listed) > 8 else "")
    return current, f"recomputing {stale} point{'s' if stale != 1 else ''}: {text}"
