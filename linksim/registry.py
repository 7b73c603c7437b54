"""One registry type for everything a scenario names: codecs, channel models, data sources, metrics.

A name is found in one of three ways, all through :class:`Registry`:

* **entry points** of an installed distribution, group ``linksim.<kind>s``
  (``linksim.codecs``, ``linksim.channels``, ``linksim.data``, ``linksim.metrics``).
  linksim's own built-ins are declared the same way in its ``pyproject.toml``, so there
  is no hand-kept import list. An entry point is imported only when its name is used,
  which keeps ``linksim --help`` and ``linksim list`` fast;
* ``register(name, obj)`` (or ``@register(name)``) from Python, e.g. in a notebook;
* a ``package.module:Attribute`` reference written in the scenario itself, imported on
  first use and remembered under that reference.

One rule for duplicates: a name may be registered again with the *same* object, or
with an object of the same ``module.qualname`` (re-running a notebook cell replaces
the class); a different object under a taken name is an error naming both.
An unknown name is one line listing the known ones; a plugin that fails to import is
one line (:class:`~linksim.errors.PluginError`) naming it and its import error.

Written by hand: ``importlib.metadata`` gives the entry points, but no well-kept library
offers lazy loading, the duplicate rule and the provenance (distribution version or
source hash) that the results' fingerprints need.
"""

from __future__ import annotations

import hashlib
import importlib
import inspect
import re
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from importlib.metadata import EntryPoint, entry_points
from pathlib import Path
from typing import Any, Generic, TypeVar

from linksim.errors import PluginError, UnknownName

T = TypeVar("T")

#: ``package.module:Attribute`` (the attribute may be dotted: ``module:Outer.Inner``)
REFERENCE = re.compile(r"[A-Za-z_][\w]*(\.[A-Za-z_][\w]*)*:[A-Za-z_][\w]*(\.[A-Za-z_][\w]*)*")
BUILTIN_DISTRIBUTION = "linksim"


def is_reference(text: str) -> bool:
    """Whether ``text`` is a ``package.module:Attribute`` reference (not a registered name)."""
    return bool(REFERENCE.fullmatch(text))


@dataclass(frozen=True)
class Origin:
    """Where a registered name comes from.

    :ivar kind: ``"built-in"`` (linksim's own entry points), ``"plugin"`` (another
        distribution's entry point), ``"module"`` (a ``module:Attribute`` reference) or
        ``"registered"`` (``Registry.register`` at run time).
    :ivar distribution: the distribution that provides it, or None.
    :ivar version: that distribution's version, or None.
    :ivar target: ``module:qualname`` of the object (or the entry point's value before loading).
    """

    kind: str
    distribution: str | None = None
    version: str | None = None
    target: str = ""

    def describe(self) -> str:
        """E.g. ``built-in``, ``plugin linksim-example-codec 0.1.0``, ``module mypkg.codecs:MyCodec``."""
        if self.kind == "built-in":
            return "built-in"
        if self.kind == "plugin":
            return f"plugin {self.distribution} {self.version}"
        if self.kind == "module":
            return f"module {self.target}"
        return f"registered from {self.target}"


def _qualified(obj: Any) -> str:
    """``module:qualname`` of a class or function (of an instance: its ``module`` and name if it has them)."""
    target = obj if inspect.isclass(obj) or inspect.isfunction(obj) else type(obj)
    return f"{getattr(target, '__module__', '?')}:{getattr(target, '__qualname__', repr(target))}"


def _same(a: Any, b: Any) -> bool:
    """Whether two registrations are the same thing (identical, or the same class/function redefined)."""
    if a is b:
        return True
    if inspect.isclass(a) or inspect.isfunction(a):
        return (inspect.isclass(b) or inspect.isfunction(b)) and _qualified(a) == _qualified(b)
    name_a, name_b = getattr(a, "name", None), getattr(b, "name", None)
    return type(a) is type(b) and name_a is not None and name_a == name_b and _qualified(a) == _qualified(b)


def import_reference(reference: str, what: str) -> Any:
    """Import ``package.module:Attribute``.

    :raises PluginError: one line: ``what`` (which names the plugin), then the import error.
    """
    module_name, _, attribute = reference.partition(":")
    try:
        obj: Any = importlib.import_module(module_name)
    except Exception as e:  # noqa: BLE001 - any failure of the plugin's import is the plugin's problem
        raise PluginError(f"{what}: cannot import {module_name}: {type(e).__name__}: {_one_line(e)}") from None
    for part in attribute.split("."):
        try:
            obj = getattr(obj, part)
        except AttributeError:
            raise PluginError(f"{what}: module {module_name} has no attribute '{attribute}'") from None
    return obj


def _one_line(e: BaseException) -> str:
    text = str(e).strip().splitlines()
    return text[0] if text else type(e).__name__


class Registry(Mapping[str, T], Generic[T]):
    """Name -> object table for one kind of component (a read-only ``Mapping`` view).

    :param kind: what is registered, for messages (``"codec type"``, ``"channel model"``...).
    :param group: the entry-point group read (``"linksim.codecs"``...).
    :param check: validates an object before it is registered; raises ``TypeError`` or
        ``ValueError`` with a message saying what was expected.
    :param prepare: turns what an entry point or a ``module:Attribute`` reference points
        at into the registered object (e.g. instantiates a class); identity by default.
    """

    def __init__(self, kind: str, group: str, check: Callable[[Any], None] | None = None,
                 prepare: Callable[[Any], Any] | None = None) -> None:
        self.kind = kind
        self.group = group
        self._check = check
        self._prepare = prepare or (lambda obj: obj)
        self._objects: dict[str, T] = {}
        self._origins: dict[str, Origin] = {}
        self._entry_points: dict[str, list[EntryPoint]] | None = None
        self._hooks: list[Callable[[str, T], None]] = []

    # -- discovery ------------------------------------------------------------------------

    def _discovered(self) -> dict[str, list[EntryPoint]]:
        """Entry points of the group by name (read once; call :meth:`refresh` after installs)."""
        if self._entry_points is None:
            found: dict[str, list[EntryPoint]] = {}
            for ep in entry_points(group=self.group):
                if not any(e.value == ep.value for e in found.get(ep.name, [])):
                    found.setdefault(ep.name, []).append(ep)
            self._entry_points = found
        return self._entry_points

    def refresh(self) -> None:
        """Read the entry points again and forget what was loaded from them and from
        ``module:Attribute`` references (after ``pip install`` of a plugin in a running
        session); names registered from Python stay."""
        self._entry_points = None
        for name, origin in list(self._origins.items()):
            if origin.kind != "registered":
                del self._objects[name], self._origins[name]

    def _load_entry_point(self, name: str) -> T:
        eps = self._discovered()[name]
        if len(eps) > 1:
            who = ", ".join(f"{_dist_name(ep)} ({ep.value})" for ep in eps)
            raise PluginError(f"{self.kind} '{name}' is provided by several installed packages: {who}; "
                              "uninstall one of them")
        ep = eps[0]
        dist = _dist_name(ep)
        what = f"{self.kind} '{name}' (entry point {ep.value} of {dist or 'an unknown distribution'})"
        obj = import_reference(ep.value, what) if REFERENCE.fullmatch(ep.value) else self._load_plain(ep, what)
        obj = self._checked(obj, what)
        kind = "built-in" if dist == BUILTIN_DISTRIBUTION else "plugin"
        version = ep.dist.version if ep.dist is not None else None
        self._store(name, obj, Origin(kind, dist, version, ep.value))
        return obj

    @staticmethod
    def _load_plain(ep: EntryPoint, what: str) -> Any:
        try:
            return ep.load()
        except Exception as e:  # noqa: BLE001
            raise PluginError(f"{what}: cannot load '{ep.value}': {type(e).__name__}: {_one_line(e)}") from None

    def _checked(self, obj: Any, what: str) -> T:
        try:
            obj = self._prepare(obj)
            if self._check is not None:
                self._check(obj)
        except (TypeError, ValueError) as e:
            raise PluginError(f"{what}: {e}") from None
        return obj

    def _store(self, name: str, obj: T, origin: Origin) -> None:
        self._objects[name] = obj
        self._origins[name] = origin
        for hook in self._hooks:
            hook(name, obj)

    def on_register(self, hook: Callable[[str, T], None]) -> None:
        """Call ``hook(name, obj)`` whenever a name is registered or loaded (e.g. to tag a class)."""
        self._hooks.append(hook)
        for name, obj in self._objects.items():
            hook(name, obj)

    # -- registration ---------------------------------------------------------------------

    def register(self, name: str, obj: T | None = None):
        """Register ``obj`` under ``name``; without ``obj``, a decorator doing so.

        :raises ValueError: ``name`` is taken by a different object (a re-registration of
            the same object or of a same-named redefinition replaces it).
        """
        if not isinstance(name, str) or not name or name != name.strip():
            raise ValueError(f"{self.kind}: a name must be a non-empty string without surrounding spaces, got {name!r}")

        def add(o: T) -> T:
            o = self._checked(o, f"{self.kind} '{name}'")
            current = self._objects.get(name)
            if current is None and name in self._discovered():
                current = self.get(name)
            if current is not None and not _same(current, o):
                raise ValueError(f"{self.kind} '{name}' is already registered ({self._origins[name].describe()}: "
                                 f"{_qualified(current)}); choose another name")
            origin = self._origins.get(name) if current is not None else None
            self._store(name, o, origin or Origin("registered", None, None, _qualified(o)))
            return o

        return add if obj is None else add(obj)

    # -- lookup ---------------------------------------------------------------------------

    def get(self, name: str, default: Any = None) -> Any:  # type: ignore[override]
        try:
            return self[name]
        except UnknownName:
            return default

    def __getitem__(self, name: str) -> T:
        if name in self._objects:
            return self._objects[name]
        if isinstance(name, str) and name in self._discovered():
            return self._load_entry_point(name)
        if isinstance(name, str) and is_reference(name):
            return self._load_reference(name)
        raise UnknownName(f"unknown {self.kind} '{name}' (known: {', '.join(sorted(self.names()))})")

    def resolve(self, name: str) -> T:
        """The object registered as ``name``, or imported from a ``module:Attribute`` reference.

        :raises UnknownName: no such name (the message lists the known ones).
        :raises PluginError: the plugin cannot be imported or is not a valid {kind}.
        """
        return self[name]

    def _load_reference(self, reference: str) -> T:
        what = f"{self.kind} '{reference}'"
        obj = self._checked(import_reference(reference, what), what)
        self._store(reference, obj, Origin("module", _distribution_of(reference.partition(":")[0]), None, reference))
        return obj

    def pending_target(self, name: str) -> str | None:
        """``module:attribute`` of the one entry point that provides ``name``, while it is not
        loaded; None when it is loaded (or registered from Python), unknown, or provided by
        several distributions (an error on lookup). Reading it imports nothing, so that a
        lister may read what the target defines from its source (see
        :func:`linksim.metrics.table.metric_facts`)."""
        if name in self._objects:
            return None
        eps = self._discovered().get(name, [])
        return eps[0].value if len(eps) == 1 and REFERENCE.fullmatch(eps[0].value) else None

    def names(self) -> list[str]:
        """Every registered name, without importing anything (entry points included)."""
        return list(dict.fromkeys([*self._discovered(), *self._objects]))

    def __iter__(self) -> Iterator[str]:
        return iter(self.names())

    def __len__(self) -> int:
        return len(self.names())

    def __contains__(self, name: object) -> bool:
        return isinstance(name, str) and (name in self._objects or name in self._discovered())

    def origin(self, name: str) -> Origin:
        """Where ``name`` comes from (read from its entry point without importing it when not loaded)."""
        if name in self._origins:
            return self._origins[name]
        eps = self._discovered().get(name)
        if eps:
            dist = _dist_name(eps[0])
            return Origin("built-in" if dist == BUILTIN_DISTRIBUTION else "plugin", dist,
                          eps[0].dist.version if eps[0].dist is not None else None, eps[0].value)
        if is_reference(name):
            return Origin("module", _distribution_of(name.partition(":")[0]), None, name)
        raise UnknownName(f"unknown {self.kind} '{name}' (known: {', '.join(sorted(self.names()))})")

    def provenance(self, name: str) -> dict[str, str] | None:
        """What identifies the code behind a *plugin* ``name`` for result fingerprints: the
        distribution and version that provide it, and a digest of the package that defines
        it (every file of its top-level package: its modules, and data such as weights that
        ship inside it). None for linksim's built-ins (linksim's own version covers them)."""
        obj = self[name]
        origin = self.origin(name)
        if origin.kind == "built-in":
            return None
        module = _defining_module(obj, origin)
        out = {"target": origin.target if origin.kind in ("plugin", "module") else _qualified(obj)}
        dist = origin.distribution or _distribution_of(module)
        if dist is not None:
            out["distribution"] = dist
            out["version"] = origin.version or _version_of(dist) or ""
        digest = source_hash(obj, module)
        if digest is not None:
            out["source_sha256"] = digest
        return out


def _defining_module(obj: Any, origin: Origin) -> str:
    """The module a plugin's code lives in: where its entry point or reference points, the
    class's or function's own module, or, for an instance registered from Python (a
    ``Metric``, a ``DataSource``), the module of its first function-valued attribute that is
    not linksim's (its ``compute``, its ``load``)."""
    if origin.kind in ("plugin", "module") and ":" in origin.target:
        return origin.target.partition(":")[0]
    if inspect.isclass(obj) or inspect.isfunction(obj):
        return obj.__module__
    for value in [*vars(obj).values(), *(getattr(type(obj), n, None) for n in dir(type(obj)))]:
        module = getattr(value, "__module__", None) if callable(value) else None
        if module and not module.startswith(BUILTIN_DISTRIBUTION):
            return module
    return type(obj).__module__


def _dist_name(ep: EntryPoint) -> str | None:
    return ep.dist.name if ep.dist is not None else None


def _distribution_of(module_name: str) -> str | None:
    """The installed distribution that provides the top-level package of ``module_name``, if any."""
    from importlib.metadata import packages_distributions

    top = module_name.partition(".")[0]
    dists = packages_distributions().get(top)
    return dists[0] if dists else None


def _version_of(dist: str) -> str | None:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version(dist)
    except PackageNotFoundError:
        return None


_FILE_DIGESTS: dict[tuple[str, int, int], str] = {}  # (path, size, mtime) -> sha256: hashed once per change
_MAX_HASHED_BYTES = 1 << 30


def _file_digest(path: Path) -> str:
    st = path.stat()
    key = (str(path), st.st_size, st.st_mtime_ns)
    if key not in _FILE_DIGESTS:
        h = hashlib.sha256()
        with open(path, "rb") as fh:
            for chunk in iter(lambda: fh.read(1 << 20), b""):
                h.update(chunk)
        _FILE_DIGESTS[key] = h.hexdigest()
    return _FILE_DIGESTS[key]


def source_hash(obj: Any, module: str | None = None) -> str | None:
    """SHA-256 over the files of the top-level package that defines ``obj`` (``module``, or
    ``obj``'s own module): every file under the package's folder but caches, by relative
    path and content, so that editing any of its modules or replacing a weights file it ships
    changes the digest. A single-file module hashes that file; a class typed into a notebook
    (no file) hashes its own source lines, if inspect finds them; else None."""
    import importlib.util

    target = obj if inspect.isclass(obj) or inspect.isfunction(obj) else type(obj)
    module = module or getattr(target, "__module__", "")
    top = module.partition(".")[0]
    try:
        spec = importlib.util.find_spec(top)
    except (ImportError, ValueError):
        spec = None
    files: list[tuple[str, Path]] = []
    if spec is not None and spec.submodule_search_locations:
        for folder in spec.submodule_search_locations:
            root = Path(folder)
            files += [(str(f.relative_to(root)), f) for f in root.rglob("*")
                      if f.is_file() and "__pycache__" not in f.parts and f.suffix not in (".pyc", ".pyo")]
    elif spec is not None and spec.origin and Path(spec.origin).is_file():
        files = [(Path(spec.origin).name, Path(spec.origin))]
    if files:
        h = hashlib.sha256()
        total = 0
        for rel, f in sorted(files):
            total += f.stat().st_size
            if total > _MAX_HASHED_BYTES:  # a huge package: its file list and sizes stand in for the rest
                h.update(f"{rel}\0{f.stat().st_size}\0{f.stat().st_mtime_ns}\n".encode())
                continue
            h.update(f"{rel}\0{_file_digest(f)}\n".encode())
        return h.hexdigest()
    try:
        return hashlib.sha256(inspect.getsource(target).encode()).hexdigest()
    except (OSError, TypeError):
        return None
