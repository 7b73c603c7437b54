"""Results: per-point records, results.h5 (resume), results.csv (tidy rows).

``results.h5`` holds one group per finished sweep point under ``/points`` (journaled
the moment the point finishes, so an interrupted run resumes where it stopped; see
:class:`ResultStore`), the resolved scenario and the versions of linksim, torch and sionna. ``results.csv`` is
derived from it: one row per (codec, channel, snr_db, metric) with the columns
``codec,channel,snr_db,metric,value,ci_low,ci_high,n``, and for a distance sweep a last
column ``distance_m`` (the SNR of each point, from the link budget, stays in ``snr_db``).
"""

from __future__ import annotations

import csv
import hashlib
import json
import math
import os
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import h5py
import numpy as np

from linksim.metrics.intervals import clopper_pearson, t_interval
from linksim.metrics.table import metric_info

CSV_COLUMNS = ["codec", "channel", "snr_db", "metric", "value", "ci_low", "ci_high", "n"]
DISTANCE_COLUMN = "distance_m"
#: attribute of each point group: ``sha256:<hex>`` over its attributes and data (see :func:`_digest`)
DIGEST_ATTR = "digest"


@dataclass(frozen=True)
class PointKey:
    """One sweep point: ``snr_db`` [dB] Es/N0 per RE; ``distance_m`` [m] for distance sweeps (else None)."""

    codec: str
    channel: str
    snr_db: float
    distance_m: float | None = None

    def __post_init__(self) -> None:
        # one identity everywhere: equality, the group name and the point seed (both use
        # repr) must agree, so 0 / -0.0 / 0.0 are all 0.0 (as the scenario schema gives them)
        object.__setattr__(self, "snr_db", float(self.snr_db) + 0.0)
        if self.distance_m is not None:
            object.__setattr__(self, "distance_m", float(self.distance_m) + 0.0)

    def group_name(self) -> str:
        """Stable HDF5 group name (labels may hold characters HDF5 paths cannot)."""
        text = f"{self.codec}\x00{self.channel}\x00{self.snr_db!r}"
        if self.distance_m is not None:
            text += f"\x00{self.distance_m!r}"
        digest = hashlib.sha1(text.encode()).hexdigest()
        return f"p_{digest[:20]}"

    def label(self) -> str:
        """``12.5 dB`` or ``100 m`` (with its SNR) for tables and sample grids."""
        if self.distance_m is None:
            return f"{self.snr_db:g} dB"
        return f"{self.distance_m:g} m"


@dataclass
class LinkCounts:
    """Error counts of one digital stream over a point."""

    bits: int = 0
    bit_errors: int = 0
    blocks: int = 0
    block_errors: int = 0


@dataclass
class PointResult:
    """Everything measured at one point.

    :ivar per_sample: metric -> ``[N]`` float64 per-sample values (fidelity metrics,
        ``channel_uses``, ``payload_bits``, ``payload_bits/<stream>``, ``symbol_mse/<stream>``).
    :ivar links: digital stream -> its :class:`LinkCounts`.
    :ivar rates: name -> (events, trials), e.g. ``nonfinite_rate``, ``fallback_rate``.
    :ivar samples: ``[k, C, H, W]`` float32 reconstructions of the first samples (for grids).
    :ivar fingerprint: digest of the scenario parts that determine this point's numbers.
    :ivar infeasible: with a bandwidth budget: whether the codec did not fit it at this
        point (None without a budget).
    :ivar set_metrics: metric -> one value over all samples of the point (``fid``); its
        row has ``n`` = samples and no confidence interval.
    :ivar fingerprint_parts: what the fingerprint covers, flattened (``"versions.torch":
        "2.12.0"``; see :func:`linksim.runner.fingerprint.point_parts`): a rerun that
        recomputes the point says which of them changed. Empty in files of older versions.
    """

    key: PointKey
    seed: int
    fingerprint: str
    per_sample: dict[str, np.ndarray] = field(default_factory=dict)
    links: dict[str, LinkCounts] = field(default_factory=dict)
    rates: dict[str, tuple[int, int]] = field(default_factory=dict)
    samples: np.ndarray | None = None
    num_samples: int = 0
    infeasible: bool | None = None
    set_metrics: dict[str, float] = field(default_factory=dict)
    fingerprint_parts: dict[str, Any] = field(default_factory=dict)

    def rows(self, metrics: list[str]) -> list[dict]:
        """Tidy result rows of this point (see the module docstring).

        :param metrics: the scenario's ``metrics``: link metrics (ber, bler) and fidelity
            metrics to report. Accounting rows (channel_uses, payload_bits, rates) are
            always reported.
        """
        k = self.key
        out: list[dict] = []

        def add(metric, value, lo=None, hi=None, n=None):
            row = {"codec": k.codec, "channel": k.channel, "snr_db": k.snr_db, "metric": metric,
                   "value": value, "ci_low": lo, "ci_high": hi, "n": n}
            if k.distance_m is not None:
                row[DISTANCE_COLUMN] = k.distance_m
            out.append(row)

        def binomial(metric, errors, trials):
            if trials > 0:
                lo, hi = clopper_pearson(errors, trials)
                add(metric, errors / trials, lo, hi, trials)

        if self.infeasible is not None:
            add("infeasible", 1.0 if self.infeasible else 0.0, None, None, self.num_samples)
        if self.links:
            total = LinkCounts()
            for s in self.links.values():
                total.bits += s.bits
                total.bit_errors += s.bit_errors
                total.blocks += s.blocks
                total.block_errors += s.block_errors
            if "ber" in metrics:
                binomial("ber", total.bit_errors, total.bits)
            if "bler" in metrics:
                binomial("bler", total.block_errors, total.blocks)
            for name, s in self.links.items():
                if "ber" in metrics:
                    binomial(f"ber/{name}", s.bit_errors, s.bits)
                if "bler" in metrics:
                    binomial(f"bler/{name}", s.block_errors, s.blocks)
        for name, (events, trials) in self.rates.items():
            binomial(name, int(events), int(trials))
        # the order results.h5 reads them back in (its dataset names hold | for /)
        for name, values in sorted(self.per_sample.items(), key=lambda kv: kv[0].replace("/", "|")):
            info = metric_info(name)  # the one table says how each row is aggregated
            if info.computed_by == "function" and name not in metrics:
                continue
            if info.interval == "none":
                add(name, float(np.mean(values)), None, None, len(values))
            elif info.interval == "psnr_of_mean_mse":
                add(name, *_psnr_of_mean_mse(values), len(values))
            else:  # requested fidelity metrics, analog symbol MSE, and metrics a codec reports itself
                mean, lo, hi = _mean_interval(values)
                add(name, mean, lo, hi, len(values))
        for name, value in self.set_metrics.items():
            add(name, float(value), None, None, self.num_samples)
        return out


def _psnr_of_mean_mse(psnr_db: np.ndarray) -> tuple[float, float | None, float | None]:
    """PSNR of the point: ``10 log10(1 / mean MSE)`` (data range 1), CI mapped from the MSE t-interval.

    Averaging per-sample PSNR would make a point infinite as soon as one sample is
    reconstructed perfectly; the PSNR of the mean MSE stays finite unless all are.
    """
    mse = np.power(10.0, -np.asarray(psnr_db, dtype=np.float64) / 10.0)  # +inf dB -> 0
    mean, lo, hi = t_interval(mse)

    def db(m: float) -> float:
        return math.inf if m <= 0 else -10.0 * math.log10(m)

    if math.isnan(lo):
        return db(mean), None, None
    return db(mean), db(hi), (db(lo) if lo > 0 else None)


def _mean_interval(values: np.ndarray) -> tuple[float, float | None, float | None]:
    """Mean with a t-interval; +inf values (a perfect PSNR) make the mean +inf, CI empty."""
    values = np.asarray(values, dtype=np.float64)
    if np.isposinf(values).any() and not np.isneginf(values).any():
        return math.inf, None, None
    mean, lo, hi = t_interval(values)
    return mean, (None if math.isnan(lo) else lo), (None if math.isnan(hi) else hi)


class ResultStore:
    """``results.h5``: every finished point, never rewritten in place.

    A crash (``kill -9``, power loss) at any moment must not lose a finished point, and
    HDF5 updates a file in place (a crash in the middle can leave it unreadable). So:

    - :meth:`write` puts each finished point into its own small file in the journal folder
      ``results.h5.journal/`` (temporary file, fsync, rename: the point is either there
      whole or not at all);
    - :meth:`consolidate` builds a new ``results.h5`` from the old one plus the journal
      (temporary file, fsync, rename), then empties the journal;
    - readers (:meth:`finished`, :meth:`read_all`) see ``results.h5`` and the journal
      together, so a run killed before it consolidated resumes with every finished point.

    Every point group carries a digest of its attributes and data (:data:`DIGEST_ATTR`),
    taken when it is written. A point that no longer matches its digest (bit rot, an edit
    by hand) is *damaged*: readers leave it out (:meth:`damaged` names it) so that it is
    simulated again, and a rewrite of the file copies it as it is, never giving it a new
    digest. A point written before digests existed is trusted as it reads and gets its
    digest at the next rewrite.

    Points are named by their key (:meth:`PointKey.group_name`); points that a scenario
    no longer asks for stay in the file.

    Reading every point and checking its digest is most of the cost of these files, and a
    run reads results.h5 several times (recovery check, resume, consolidation, the final
    read-back). So a store remembers what it read of results.h5, or wrote into it, for as
    long as the file keeps the same inode, size and modification time; and a consolidation
    copies points whose digest it has just checked group by group (HDF5's own copy) instead
    of decoding and encoding them again.
    """

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self.journal = self.path.with_name(self.path.name + ".journal")
        self._attrs: dict[str, str] = {}
        self._keep: set[str] | None = None
        #: (file identity, sound points, damaged points, sources) of results.h5, see :meth:`_scan_file`
        self._file_scan: tuple | None = None

    def recover(self) -> str | None:
        """Check that an existing file opens and reads; if not, move it aside and rebuild.

        A crash while HDF5 was writing (or a copy cut short) can leave a file that no longer
        opens, or a point group that no longer reads. The damaged file is renamed
        ``results.h5.damaged-<n>`` and every point that can still be read (and matches its
        digest) is kept. Points in the journal (finished by a run that was killed before it
        consolidated them) are then consolidated into ``results.h5``.

        :return: a message saying what was done, or None when the file was sound.
        """
        message = None
        self._drop_temporaries()
        if self.path.exists():
            try:
                self._scan_file()
            except Exception:  # noqa: BLE001 - any failure to read means damage
                n = 1
                while (aside := self.path.with_name(f"{self.path.name}.damaged-{n}")).exists():
                    n += 1
                self.path.rename(aside)
                salvaged = _salvage(aside)
                self._rewrite({r.key.group_name(): r for r in salvaged}, {})
                message = (f"{self.path} could not be read (a crash while writing?): moved to {aside.name}; "
                           f"{len(salvaged)} finished point(s) recovered, the rest will be simulated again")
        self.consolidate()
        return message

    def initialise(self, scenario_yaml: str, versions: dict[str, str]) -> None:
        """Record the resolved scenario and versions (written at the next :meth:`consolidate`;
        a new file is created with them at once)."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._attrs = {"scenario": scenario_yaml, **{f"version_{k}": str(v) for k, v in versions.items()}}
        if not self.path.exists():
            self._rewrite({}, {})

    def finished(self) -> dict[PointKey, str]:
        """Finished sound points -> the fingerprint they were computed with (results.h5 and the journal)."""
        return {r.key: r.fingerprint for r in self.read_all()}

    def damaged(self) -> list[PointKey]:
        """Points (results.h5 and the journal) that no longer match the digest they were
        written with, in key order; a journal point that replaces one is not listed."""
        sound, damaged = self._points()
        return sorted((key for name, (key, _) in damaged.items() if name not in sound), key=_order)

    def fingerprint_parts(self) -> dict[PointKey, dict[str, Any]]:
        """Finished points -> the fingerprint parts stored with them (see :func:`_read_parts`)."""
        out: dict[str, tuple[PointKey, dict[str, Any]]] = {}
        for path in ([self.path] if self.path.exists() else []) + self._journal_files():
            try:
                with h5py.File(path, "r") as f:
                    out.update({name: (_key(g), _read_parts(g)) for name, g in f.get("points", {}).items()})
            except Exception:  # noqa: BLE001 - unreadable: the point is simulated again anyway
                continue
        return dict(out.values())

    def write(self, r: PointResult) -> None:
        """Write (or replace) one point, atomically, into the journal."""
        self.journal.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=self.journal, prefix=".", suffix=".tmp")
        os.close(fd)
        try:
            with h5py.File(tmp, "w") as f:
                _write_point(f.require_group("points"), r)
            _fsync_path(tmp)
            os.replace(tmp, self.journal / f"{r.key.group_name()}.h5")
            _fsync_path(self.journal)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise

    def read_all(self) -> list[PointResult]:
        """Every finished sound point (results.h5 and the journal), in group-name order."""
        sound, _ = self._points()
        return [sound[n] for n in sorted(sound)]

    def remove_except(self, keep: set[PointKey]) -> None:
        """Drop every point but ``keep`` (from the journal at once, from results.h5 at the next
        :meth:`consolidate`). A run never calls it: points a scenario does not ask for are kept."""
        self._keep = {k.group_name() for k in keep}
        for f in self._journal_files():
            if f.stem not in self._keep:
                f.unlink(missing_ok=True)

    def consolidate(self) -> None:
        """Merge the journal (and pending removals and attributes) into a new results.h5:
        temporary file, fsync, rename; then empty the journal. Damaged points of the old
        file that no journal point replaces are copied as they are."""
        files = self._journal_files()
        if not files and self._keep is None and not self._attrs and self.path.exists():
            return
        sources: dict[str, tuple[Path, str, bool]] = {}
        sound, damaged = self._scan_file(sources)
        journal, _ = self._scan_journal(sources)  # a damaged journal point is simulated again
        sound.update(journal)
        damaged = {n: d for n, d in damaged.items() if n not in sound}
        if self._keep is not None:
            sound = {n: r for n, r in sound.items() if n in self._keep}
            damaged = {n: d for n, d in damaged.items() if n in self._keep}
        self._rewrite(sound, self._attrs, {n: stored for n, (_, stored) in damaged.items()}, sources)
        for f in files:
            f.unlink(missing_ok=True)
        if self.journal.exists() and not any(self.journal.iterdir()):
            self.journal.rmdir()
        self._keep = None
        self._attrs = {}

    # -- files ----------------------------------------------------------------------------
    def _points(self) -> tuple[dict[str, PointResult], dict[str, tuple[PointKey, str]]]:
        """Sound and damaged points of results.h5 and the journal (the journal's replace the
        file's), by group name; see :func:`_scan`."""
        sound, damaged = self._scan_file()
        j_sound, j_damaged = self._scan_journal()
        sound.update(j_sound)
        damaged.update(j_damaged)
        if self._keep is not None:
            sound = {n: r for n, r in sound.items() if n in self._keep}
            damaged = {n: d for n, d in damaged.items() if n in self._keep}
        return sound, damaged

    def _journal_files(self) -> list[Path]:
        return sorted(self.journal.glob("p_*.h5")) if self.journal.is_dir() else []

    def _file_identity(self) -> tuple[int, int, int] | None:
        try:
            st = os.stat(self.path)
        except FileNotFoundError:
            return None
        return (st.st_ino, st.st_size, st.st_mtime_ns)

    def _scan_file(self, sources: dict | None = None
                   ) -> tuple[dict[str, PointResult], dict[str, tuple[PointKey, str]]]:
        """:func:`_scan` of results.h5 (empty when there is none), remembered while the file
        keeps its identity (inode, size, modification time): what this store wrote into it,
        or read from it last, without reading every point and its digest again.

        :param sources: filled as :func:`_scan` fills it.
        :raises Exception: the file, or a point group, does not read.
        """
        ident = self._file_identity()
        if ident is None:
            return {}, {}
        if self._file_scan is None or self._file_scan[0] != ident:
            found: dict[str, tuple[Path, str, bool]] = {}
            sound, damaged = _scan(self.path, found)
            self._file_scan = (ident, sound, damaged, found)
        _, sound, damaged, found = self._file_scan
        if sources is not None:
            sources.update(found)
        return dict(sound), dict(damaged)  # callers merge into them

    def _scan_journal(self, sources: dict | None = None
                      ) -> tuple[dict[str, PointResult], dict[str, tuple[PointKey, str]]]:
        """Points of the journal; a file that does not read (it was renamed only once
        complete, so only a failing disk makes one) is skipped and simulated again.

        :param sources: filled as :func:`_scan` fills it (journal points replace the file's).
        """
        sound: dict[str, PointResult] = {}
        damaged: dict[str, tuple[PointKey, str]] = {}
        for path in self._journal_files():
            try:
                s, d = _scan(path, sources)
            except Exception:  # noqa: BLE001
                continue
            sound.update(s)
            damaged.update({n: (key, "") for n, (key, _) in d.items()})  # never copied: simulated again
        return sound, damaged

    def _drop_temporaries(self) -> None:
        """Temporary files a killed run left behind (never renamed: not a finished point, nor a
        finished results.csv, see :func:`write_csv`)."""
        for folder, pattern in ((self.journal, ".*.tmp"), (self.path.parent, f".{self.path.name}-*.tmp"),
                                (self.path.parent, ".results-*.csv")):
            if folder.is_dir():
                for f in folder.glob(pattern):
                    f.unlink(missing_ok=True)

    def _rewrite(self, points: dict[str, PointResult], attrs: dict[str, str],
                 verbatim: dict[str, str] | None = None, sources: dict[str, tuple[Path, str, bool]] | None = None
                 ) -> None:
        """A new results.h5 with ``points`` (and the old file's attributes updated by ``attrs``);
        ``verbatim``: group name -> the name of a group of the old file copied as it is.

        :param sources: group name -> (file, group name there, has a digest) of points read
            and checked just before (see :func:`_scan`): one with a digest is copied as it is
            (its digest still holds), the others are written from ``points``.
        """
        self.path.parent.mkdir(parents=True, exist_ok=True)
        old_attrs = {}
        if self.path.exists():
            try:
                with h5py.File(self.path, "r") as f:
                    old_attrs = {k: f.attrs[k] for k in f.attrs}
            except Exception:  # noqa: BLE001 - a damaged file was moved aside already
                pass
        fd, tmp = tempfile.mkstemp(dir=self.path.parent, prefix=f".{self.path.name}-", suffix=".tmp")
        os.close(fd)
        try:
            with h5py.File(tmp, "w") as f:
                f.attrs.update({**old_attrs, **attrs})
                group = f.require_group("points")
                by_file: dict[Path, dict[str, str]] = {}
                for name in sorted(points):
                    src = (sources or {}).get(name)
                    if src is not None and src[2]:
                        by_file.setdefault(src[0], {})[name] = src[1]
                    else:
                        _write_point(group, points[name])
                for source, names in by_file.items():
                    for name in sorted(set(names) - set(_copy_groups(source, group, names))):
                        _write_point(group, points[name])  # could not be copied: written from what was read
                if verbatim:
                    _copy_groups(self.path, group, verbatim)
            _fsync_path(tmp)
            os.replace(tmp, self.path)
            _fsync_path(self.path.parent)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
        # what the file now holds, without reading it back: every point has a digest (written
        # or copied with the one just checked); copied damaged points are left to a real scan
        ident = self._file_identity()
        self._file_scan = None if verbatim or ident is None else (
            ident, dict(points), {}, {name: (self.path, name, True) for name in points})


def _order(key: PointKey) -> tuple:
    return (key.codec, key.channel, key.snr_db, key.distance_m if key.distance_m is not None else -math.inf)


def _copy_groups(source: Path, points, names: dict[str, str]) -> list[str]:
    """Copy point groups of ``source`` byte for byte (``names``: new name -> old name); a group
    that cannot even be copied is left out (simulated again when asked for).

    :return: the new names copied.
    """
    copied = []
    try:
        f = h5py.File(source, "r")
    except Exception:  # noqa: BLE001 - nothing copied
        return copied
    with f:
        for name, old in sorted(names.items()):
            try:
                f.copy(f["points"][old], points, name=name)
            except Exception:  # noqa: BLE001
                continue
            copied.append(name)
    return copied


def _scan(path: Path, sources: dict | None = None) -> tuple[dict[str, PointResult], dict[str, tuple[PointKey, str]]]:
    """Every point group of one file: sound ones (matching their digest, or written without
    one) by group name, and damaged ones as group name -> (key, name of the group in the file).
    ``sources`` (when given) gets ``group name -> (path, name of the group in the file, whether
    it has a digest)`` for every sound point.

    The group name is that of the key read back (so a point has one name whatever name an
    older linksim gave it); where two groups give one name, a sound one wins.
    :raises Exception: the file, or a point group, does not read (see :meth:`ResultStore.recover`).
    """
    sound: dict[str, PointResult] = {}
    damaged: dict[str, tuple[PointKey, str]] = {}
    found: dict[str, tuple[Path, str, bool]] = {}
    with h5py.File(path, "r") as f:
        for stored, g in f.get("points", {}).items():
            r = _read_point(g)
            name = r.key.group_name()
            if _verify(g):
                if name not in sound or stored == name:
                    sound[name] = r
                    found[name] = (Path(path), stored, DIGEST_ATTR in g.attrs)
            elif name not in damaged or stored == name:
                damaged[name] = (r.key, stored)
    if sources is not None:
        sources.update(found)
    return sound, damaged


def _fsync_path(path: str | Path) -> None:
    """fsync a file, or a folder (so that a rename in it is durable)."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _write_point(points, r: PointResult) -> None:
    """One point as a group of ``points`` (an h5py group)."""
    name = r.key.group_name()
    if name in points:
        del points[name]
    g = points.create_group(name)
    g.attrs.update({"codec": r.key.codec, "channel": r.key.channel, "snr_db": r.key.snr_db,
                    "seed": str(r.seed), "fingerprint": r.fingerprint, "num_samples": r.num_samples})
    if r.key.distance_m is not None:
        g.attrs["distance_m"] = r.key.distance_m
    if r.infeasible is not None:
        g.attrs["infeasible"] = bool(r.infeasible)
    g.attrs["links"] = json.dumps({k: v.__dict__ for k, v in r.links.items()})
    g.attrs["rates"] = json.dumps({k: [int(a), int(b)] for k, (a, b) in r.rates.items()})
    if r.set_metrics:
        g.attrs["set_metrics"] = json.dumps({k: float(v) for k, v in r.set_metrics.items()})
    _write_parts(g, r.fingerprint_parts)
    ps = g.create_group("per_sample")
    for metric, values in r.per_sample.items():
        ps.create_dataset(metric.replace("/", "|"), data=np.asarray(values, dtype=np.float64))
    if r.samples is not None:
        g.create_dataset("samples", data=r.samples.astype(np.float32), compression="gzip")
    g.attrs[DIGEST_ATTR] = _digest(g)  # of what reads back from the file, the way a later read sees it


def _digest(g) -> str:
    """SHA-256 over a point group: every attribute (but the digest) and every dataset (name,
    dtype, shape and values), in name order, recursively."""
    h = hashlib.sha256()

    def visit(group, prefix: str) -> None:
        for name in sorted(group.attrs):
            if not (prefix == "" and name == DIGEST_ATTR):
                h.update(f"attr {prefix}{name} {_canonical(group.attrs[name])}\n".encode())
        for name in sorted(group):
            item = group[name]
            if isinstance(item, h5py.Group):
                h.update(f"group {prefix}{name}\n".encode())
                visit(item, f"{prefix}{name}/")
            else:
                a = np.ascontiguousarray(item[()])
                h.update(f"data {prefix}{name} {a.dtype.str} {a.shape}\n".encode())
                h.update(a.tobytes())

    visit(g, "")
    return "sha256:" + h.hexdigest()


def _canonical(value) -> str:
    """An attribute value as text that is the same for the value written and read back."""
    if isinstance(value, np.ndarray):
        a = np.ascontiguousarray(value)
        return f"array {a.dtype.str} {a.shape} {a.tobytes().hex()}"
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, bytes):
        value = value.decode("utf-8", "surrogateescape")
    return f"{type(value).__name__} {value!r}"


def _verify(g) -> bool:
    """Whether a point group matches the digest it was written with (True without one: a point
    of a linksim that wrote none is trusted as it reads, and gets a digest at the next rewrite)."""
    if DIGEST_ATTR not in g.attrs:
        return True
    return str(g.attrs[DIGEST_ATTR]) == _digest(g)


def _read_point(g) -> PointResult:
    """One point group of results.h5 back into a :class:`PointResult`."""
    r = PointResult(key=_key(g), seed=int(g.attrs["seed"]), fingerprint=str(g.attrs["fingerprint"]),
                    num_samples=int(g.attrs["num_samples"]))
    if "infeasible" in g.attrs:
        r.infeasible = bool(g.attrs["infeasible"])
    r.links = {k: LinkCounts(**v) for k, v in json.loads(g.attrs["links"]).items()}
    r.rates = {k: (a, b) for k, (a, b) in json.loads(g.attrs["rates"]).items()}
    r.set_metrics = json.loads(g.attrs["set_metrics"]) if "set_metrics" in g.attrs else {}
    r.fingerprint_parts = _read_parts(g)
    r.per_sample = {name.replace("|", "/"): ds[()] for name, ds in g["per_sample"].items()}
    r.samples = g["samples"][()] if "samples" in g else None
    return r


def _write_parts(g, parts: dict[str, Any]) -> None:
    """The point's fingerprint parts as the JSON attribute ``fingerprint_parts`` (the versions
    of linksim, torch, Sionna and numba that computed it among them)."""
    if parts:
        g.attrs["fingerprint_parts"] = json.dumps(parts, sort_keys=True)


def _read_parts(g) -> dict[str, Any]:
    """What :func:`_write_parts` stored; empty for a point written before parts were stored."""
    try:
        parts = json.loads(g.attrs["fingerprint_parts"])
    except (KeyError, ValueError, TypeError):
        return {}
    return parts if isinstance(parts, dict) else {}


def _salvage(path: Path) -> list[PointResult]:
    """Every point group of a damaged file that still reads completely."""
    try:
        f = h5py.File(path, "r")
    except Exception:  # noqa: BLE001 - the file does not even open: nothing to salvage
        return []
    out = []
    with f:
        try:
            names = list(f["points"])
        except Exception:  # noqa: BLE001
            return []
        for name in names:
            try:
                g = f["points"][name]
                if _verify(g):
                    out.append(_read_point(g))
            except Exception:  # noqa: BLE001 - a damaged point is simulated again
                continue
    return out


def _key(g) -> PointKey:
    distance = float(g.attrs["distance_m"]) if "distance_m" in g.attrs else None
    return PointKey(str(g.attrs["codec"]), str(g.attrs["channel"]), float(g.attrs["snr_db"]), distance)


def _fmt(v) -> str:
    if v is None:
        return ""
    if isinstance(v, float):
        if math.isnan(v):
            return ""
        return repr(v) if math.isfinite(v) else ("inf" if v > 0 else "-inf")
    return str(v)


def write_csv(rows: list[dict], path: Path) -> None:
    """Write rows to ``path`` atomically (temporary file, fsync, rename).

    Columns: :data:`CSV_COLUMNS`, plus ``distance_m`` last when any row has one.
    """
    path = Path(path)
    columns = CSV_COLUMNS + ([DISTANCE_COLUMN] if any(r.get(DISTANCE_COLUMN) is not None for r in rows) else [])
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".results-", suffix=".csv")
    try:
        with os.fdopen(fd, "w", newline="") as fh:
            w = csv.writer(fh)
            w.writerow(columns)
            for r in rows:
                w.writerow([_fmt(r.get(c)) for c in columns])
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def read_csv(path: Path) -> list[dict]:
    """Read results.csv back into rows (numbers as floats, empty cells as None)."""
    rows = []
    with open(path, newline="") as fh:
        for r in csv.DictReader(fh):
            row: dict = {"codec": r["codec"], "channel": r["channel"], "metric": r["metric"]}
            for c in ("snr_db", "value", "ci_low", "ci_high", "n"):
                row[c] = float(r[c]) if r[c] != "" else None
            if r.get(DISTANCE_COLUMN) not in (None, ""):
                row[DISTANCE_COLUMN] = float(r[DISTANCE_COLUMN])
            rows.append(row)
    return rows
