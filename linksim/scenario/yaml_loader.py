"""Reading YAML safely: a SafeLoader that refuses alias bombs and documents nested too deeply."""

from __future__ import annotations

from typing import Any

import yaml

from linksim.errors import ScenarioError

MAX_YAML_ALIASES = 100
MAX_YAML_NODES = 100_000  # after expanding aliases; the shipped scenarios have a few hundred
MAX_YAML_DEPTH = 50


class _GuardedLoader(yaml.SafeLoader):
    """SafeLoader that refuses documents with many aliases (YAML 'billion laughs' bombs)."""

    def __init__(self, stream) -> None:
        super().__init__(stream)
        self._aliases = 0

    def compose_node(self, parent, index):
        if self.check_event(yaml.AliasEvent):
            self._aliases += 1
            if self._aliases > MAX_YAML_ALIASES:
                raise ScenarioError([f"(top level): more than {MAX_YAML_ALIASES} YAML aliases; refusing a possible alias bomb"])
        return super().compose_node(parent, index)


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
    """Parse YAML text safely; a syntax error becomes a one-line :class:`ScenarioError`.

    Alias bombs and documents nested deeper than :data:`MAX_YAML_DEPTH` are refused
    before any Python object is built.
    """
    loader = None
    try:
        loader = _GuardedLoader(text)  # the reader refuses control characters here already
        node = loader.get_single_node()
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
