"""Reading YAML safely: scenario files that are regular files of a bounded size, and a SafeLoader
that refuses duplicate keys, alias bombs, huge lists and documents nested too deeply.

Every limit is checked while the file is read or composed, so that an oversized input is
refused in a fraction of a second instead of being parsed first (PyYAML composes about
10^4 values per second on a busy core).
"""

from __future__ import annotations

import os
import re
import stat
from pathlib import Path
from typing import Any

import yaml

from linksim.errors import ScenarioError

MAX_SCENARIO_BYTES = 1_000_000  # 1 MB; the shipped scenarios are a few kB
MAX_YAML_ITEMS = 5_000  # items of one list, keys of one mapping (a sweep has at most 1000 points)
MAX_YAML_VALUES = 20_000  # values (keys included) written in the file; shipped scenarios have a few hundred
MAX_YAML_ALIASES = 100
MAX_YAML_NODES = 100_000  # after expanding aliases
MAX_YAML_DEPTH = 50
MAX_DUPLICATE_LINES = 20  # duplicate keys reported one line each, up to this many


def field_path(loc: tuple) -> str:
    """``("codecs", 1, "streams")`` -> ``codecs[1].streams``; an odd key is quoted (``data['a b']``).
    Empty for the top level."""
    out = ""
    for part in loc:
        if isinstance(part, int) and not isinstance(part, bool):
            out += f"[{part}]"
        elif re.fullmatch(r"[\w+/-]+", str(part)):
            out += ("." if out else "") + str(part)
        else:  # an empty key, or one with spaces, dots, colons...: quoted, so that it shows
            out += f"[{str(part)!r}]"
    return out


def _where(loc: tuple) -> str:
    return field_path(loc) or "(top level)"


_KINDS = ((stat.S_ISDIR, "a folder"), (stat.S_ISCHR, "a character device"), (stat.S_ISBLK, "a block device"),
          (stat.S_ISFIFO, "a named pipe"), (stat.S_ISSOCK, "a socket"))


def _not_regular(path: Path, mode: int) -> ScenarioError:
    kind = next((name for test, name in _KINDS if test(mode)), "not a file")
    return ScenarioError([f"(file): {path} is not a regular file ({kind}); give the path of a scenario YAML file"])


def _too_large(origin: str, size: int) -> ScenarioError:
    return ScenarioError([f"(file): {origin} is {size:,} bytes; a scenario file may be at most 1 MB "
                          f"({MAX_SCENARIO_BYTES:,} bytes)"])


def read_scenario_text(path: str | Path) -> str:
    """The text of a scenario file, refused at once (one-line :class:`ScenarioError`) when it
    is missing, not a regular file (a folder, a device such as ``/dev/zero``, a named pipe,
    which would block the reader), larger than :data:`MAX_SCENARIO_BYTES`, or not UTF-8."""
    path = Path(path)
    try:
        mode = os.stat(path).st_mode
        if not stat.S_ISREG(mode):  # looked at before opening: opening a pipe waits for a writer
            raise _not_regular(path, mode)
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0))
        with os.fdopen(fd, "rb") as fh:
            st = os.fstat(fh.fileno())
            if not stat.S_ISREG(st.st_mode):  # replaced between the two looks
                raise _not_regular(path, st.st_mode)
            if st.st_size > MAX_SCENARIO_BYTES:
                raise _too_large(str(path), st.st_size)
            data = fh.read(MAX_SCENARIO_BYTES + 1)  # a file that grows meanwhile is cut here
        if len(data) > MAX_SCENARIO_BYTES:
            raise _too_large(str(path), len(data))
        return data.decode("utf-8")
    except FileNotFoundError:
        raise ScenarioError([f"(file): {path} does not exist"]) from None
    except (OSError, UnicodeDecodeError) as e:
        raise ScenarioError([f"(file): cannot read {path}: {e}"]) from None


class _GuardedLoader(yaml.SafeLoader):
    """SafeLoader that refuses, while composing: many aliases (YAML 'billion laughs' bombs),
    more than :data:`MAX_YAML_VALUES` values, lists or mappings of more than
    :data:`MAX_YAML_ITEMS` items; and collects duplicate keys (reported after composing)."""

    def __init__(self, stream) -> None:
        super().__init__(stream)
        self._aliases = 0
        self._values = 0
        self._path: list = []  # keys and indices down to the node being composed
        self._largest: tuple[int, tuple] = (0, ())  # (items, path) of the largest list or mapping so far
        self.duplicates: list[str] = []
        self.duplicate_count = 0

    def compose_node(self, parent, index):
        if self.check_event(yaml.AliasEvent):
            self._aliases += 1
            if self._aliases > MAX_YAML_ALIASES:
                raise ScenarioError([f"(top level): more than {MAX_YAML_ALIASES} YAML aliases; refusing a possible alias bomb"])
            return super().compose_node(parent, index)
        self._values += 1
        if self._values > MAX_YAML_VALUES:
            items, where = self._largest
            raise ScenarioError([f"(file): more than {MAX_YAML_VALUES:,} values; a scenario needs far fewer "
                                 f"(the longest list or mapping so far: {_where(where)}, {items:,} items)"])
        if isinstance(parent, yaml.SequenceNode):
            if index >= MAX_YAML_ITEMS:
                raise ScenarioError([f"{_where(tuple(self._path))}: a list of more than {MAX_YAML_ITEMS:,} items; "
                                     "no field of a scenario takes that many"])
            self._path.append(index)
        elif isinstance(parent, yaml.MappingNode):
            if index is None and len(parent.value) >= MAX_YAML_ITEMS:  # composing one more key
                raise ScenarioError([f"{_where(tuple(self._path))}: more than {MAX_YAML_ITEMS:,} keys in one mapping; "
                                     "no section of a scenario has that many"])
            self._path.append("?" if index is None else (index.value if isinstance(index, yaml.ScalarNode) else "?"))
        try:
            return super().compose_node(parent, index)
        finally:
            if parent is not None:
                self._path.pop()

    def compose_sequence_node(self, anchor):
        node = super().compose_sequence_node(anchor)
        if len(node.value) > self._largest[0]:
            self._largest = (len(node.value), tuple(self._path))
        return node

    def compose_mapping_node(self, anchor):
        node = super().compose_mapping_node(anchor)
        if len(node.value) > self._largest[0]:
            self._largest = (len(node.value), tuple(self._path))
        first: dict = {}
        for key, _ in node.value:
            if not isinstance(key, yaml.ScalarNode) or key.tag == "tag:yaml.org,2002:merge":
                continue  # a merge key's entries may be overridden: that is what they are for
            ident = self._key_identity(key)
            if ident in first:
                self.duplicate_count += 1
                if len(self.duplicates) < MAX_DUPLICATE_LINES:
                    self.duplicates.append(
                        f"{_where(tuple(self._path) + (key.value,))}: duplicate key at line {key.start_mark.line + 1} "
                        f"(first at line {first[ident].start_mark.line + 1}); a key may appear once in a mapping")
            else:
                first[ident] = key
        return node

    def _key_identity(self, key: yaml.ScalarNode):
        """The key as the built dict would hold it (``1`` and ``0x1``, ``true`` and ``yes`` are one key)."""
        constructor = self.yaml_constructors.get(key.tag)
        if key.tag != "tag:yaml.org,2002:str" and constructor is not None:
            try:
                value = constructor(self, key)
                hash(value)
                return value
            except Exception:  # noqa: BLE001 - an odd scalar: compare it as written
                pass
        return (key.tag, key.value) if key.tag != "tag:yaml.org,2002:str" else key.value


def _check_expanded_size(node: yaml.Node | None) -> None:
    """Refuse a composed document that nests deeper than :data:`MAX_YAML_DEPTH` or expands
    (aliases followed) to more than :data:`MAX_YAML_NODES` nodes.

    A few dozen aliases suffice for a 'billion laughs' bomb (9 levels of 9 aliases each):
    counting aliases alone does not stop it. Sizes are memoised per node, so this costs one
    visit of each distinct node however large the expansion.
    """
    sizes: dict[int, int] = {}

    def size(n: yaml.Node, depth: int) -> int:
        if depth > MAX_YAML_DEPTH:
            raise ScenarioError([f"(file): nested deeper than {MAX_YAML_DEPTH} levels"])
        if id(n) in sizes:
            return sizes[id(n)]
        if isinstance(n, yaml.SequenceNode):
            total = 1 + sum(size(c, depth + 1) for c in n.value)
        elif isinstance(n, yaml.MappingNode):
            total = 1 + sum(size(k, depth + 1) + size(v, depth + 1) for k, v in n.value)
        else:
            total = 1
        if total > MAX_YAML_NODES:
            raise ScenarioError([f"(top level): more than {MAX_YAML_NODES} values once aliases are expanded; "
                                 "refusing a possible alias bomb"])
        sizes[id(n)] = total
        return total

    if node is not None:
        size(node, 0)


def parse_yaml(text: str, origin: str = "scenario") -> Any:
    """Parse YAML text safely; every problem becomes a one-line :class:`ScenarioError`.

    Refused: text over :data:`MAX_SCENARIO_BYTES`, duplicate keys (each named with its
    line), more than :data:`MAX_YAML_VALUES` values or a list / mapping of more than
    :data:`MAX_YAML_ITEMS` items (named), alias bombs and documents nested deeper than
    :data:`MAX_YAML_DEPTH`, all before any Python object is built.
    """
    size = len(text) if text.isascii() else len(text.encode("utf-8", "surrogatepass"))
    if size > MAX_SCENARIO_BYTES:
        raise _too_large(origin, size)
    loader = None
    try:
        loader = _GuardedLoader(text)  # the reader refuses control characters here already
        node = loader.get_single_node()
        if loader.duplicates:
            more = loader.duplicate_count - len(loader.duplicates)
            raise ScenarioError(loader.duplicates + ([f"(file): {more} more duplicate keys"] if more else []))
        _check_expanded_size(node)
        return loader.construct_document(node) if node is not None else None
    except RecursionError:  # the composer recurses once per nesting level
        raise ScenarioError([f"(file): {origin} nests too deeply (more than {MAX_YAML_DEPTH} levels)"]) from None
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        where = f" (line {mark.line + 1}, column {mark.column + 1})" if mark else ""
        problem = getattr(e, "problem", None) or str(e).splitlines()[0]
        raise ScenarioError([f"(file): {origin} is not valid YAML{where}: {problem}"]) from None
    finally:
        if loader is not None:
            loader.dispose()
