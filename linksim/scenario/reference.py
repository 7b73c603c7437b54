"""The scenario reference, generated from the schema: ``docs/scenario-reference.md``.

::

    python -m linksim.scenario.reference > docs/scenario-reference.md

:func:`render` walks the pydantic models of a scenario file (:class:`~.schema.Scenario`
and every section under it, recursively: unions, lists and mappings of sections
included) and writes one table per section: each field's type (``Literal`` choices
spelled out), default (``default_factory`` called), numeric and length constraints (from
the field's metadata) and description. Then, for linksim's *built-in* codec types,
channel models, data sources and metrics (read from their registries; installed plugins
are left out so that the file is the same on every machine): each codec's ``params`` and
streams, each channel model's fields, the data sources' spellings and the metric table.

The descriptions live in the models (``Field(description=...)``), so the reference cannot
drift from the schema: ``tests/scenario/test_reference.py`` fails when the file differs
from what :func:`render` gives. The output is deterministic: sections follow the schema's
field order, registries are sorted by name.
"""

from __future__ import annotations

import inspect
import math
import re
import sys
import types
from typing import Any, Literal, Union, get_args, get_origin

import annotated_types
from pydantic import BaseModel
from pydantic.fields import FieldInfo

from .schema import DEFAULT_METRICS, Scenario

__all__ = ["COMMAND", "main", "render"]

#: the command that regenerates the file (quoted by the test when the file is stale)
COMMAND = "python -m linksim.scenario.reference > docs/scenario-reference.md"

_TYPE_NAMES = {int: "integer", float: "number", str: "string", bool: "boolean", type(None): "null", Any: "any"}


# -- text helpers -----------------------------------------------------------------------------


def _markdown(text: str) -> str:
    """reStructuredText inline markup of docstrings -> Markdown (````x```` and ``:role:`x``` -> `` `x` ``)."""
    text = re.sub(r":[a-z]+:`~?([^`]+)`", r"`\1`", text)
    return text.replace("``", "`")


def _html_safe(text: str) -> str:
    """``<`` outside code spans as ``&lt;``, so that ``folder:<path>`` is not taken for an HTML tag."""
    parts = re.split(r"(`[^`]*`)", text)
    return "".join(p if p.startswith("`") else re.sub(r"<(?=[A-Za-z/!?])", "&lt;", p) for p in parts)


def _cell(text: str) -> str:
    """Text for a Markdown table cell: one line, pipes escaped, ``<`` outside code spans escaped."""
    return _html_safe(" ".join(text.split())).replace("|", "\\|")


def _anchor(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-") or "top"


def _summary(obj: Any) -> str:
    """First paragraph of the docstring ``obj`` defines itself (not an inherited one), as one line."""
    doc = obj.__dict__.get("__doc__") if isinstance(obj, type) else getattr(obj, "__doc__", None)
    if not doc:
        return ""
    paragraph = inspect.cleandoc(doc).split("\n\n")[0]
    return _markdown(" ".join(paragraph.split()))


def _value(v: Any) -> str:
    """A default or bound as it is written in YAML."""
    if v is None:
        return "null"
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, float):
        if not math.isfinite(v):
            return ".nan" if v != v else ("-.inf" if v < 0 else ".inf")
        if v != 0 and not 1e-3 <= abs(v) < 1e5:  # 3.5e9, 1.0e-7: as scenario files write them
            mantissa, exponent = f"{v:.6e}".split("e")
            mantissa = mantissa.rstrip("0")
            return f"{mantissa}0e{int(exponent)}" if mantissa.endswith(".") else f"{mantissa}e{int(exponent)}"
        return repr(v)
    if isinstance(v, (list, tuple)):
        return "[" + ", ".join(_value(x) for x in v) + "]"
    if isinstance(v, dict):
        return "{" + ", ".join(f"{k}: {_value(x)}" for k, x in v.items()) + "}"
    return str(v)


# -- walking the models -----------------------------------------------------------------------


def _is_model(t: Any) -> bool:
    return isinstance(t, type) and issubclass(t, BaseModel)


def _nested(annotation: Any, suffix: str = "") -> list[tuple[type[BaseModel], str]]:
    """``(model, path suffix)`` of every section model inside a field's type, in order."""
    if _is_model(annotation):
        return [(annotation, suffix)]
    origin, args = get_origin(annotation), get_args(annotation)
    if origin in (Union, types.UnionType):
        return [m for a in args for m in _nested(a, suffix)]
    if origin in (list, tuple, set, frozenset):
        return [m for a in args if a is not Ellipsis for m in _nested(a, suffix + "[]")]
    if origin is dict and len(args) == 2:
        return _nested(args[1], suffix + ".<name>")
    return []


def _sections(root: type[BaseModel]) -> list[tuple[str, type[BaseModel]]]:
    """``(YAML path, model)`` of ``root`` and every section under it, depth first in field order."""
    out: list[tuple[str, type[BaseModel]]] = []
    seen: set[type[BaseModel]] = set()

    def visit(path: str, model: type[BaseModel]) -> None:
        if model in seen:
            return
        seen.add(model)
        out.append((path, model))
        for name, field in model.model_fields.items():
            for sub, suffix in _nested(field.annotation):
                visit(f"{path}.{name}{suffix}" if path else f"{name}{suffix}", sub)

    visit("", root)
    return out


class _Writer:
    """Renders fields, knowing where each section model is documented (for links)."""

    def __init__(self, sections: list[tuple[str, type[BaseModel]]]) -> None:
        self.links = {model: (path, _anchor(path)) for path, model in sections}

    def type_name(self, t: Any) -> str:
        if t in _TYPE_NAMES:
            return _TYPE_NAMES[t]
        if _is_model(t):
            path, anchor = self.links.get(t, (t.__name__, _anchor(t.__name__)))
            return f"[`{path}`](#{anchor})" if path else "[scenario](#top)"
        origin, args = get_origin(t), get_args(t)
        if origin is Literal:
            return " | ".join(f"`{_value(a)}`" for a in args)
        if origin in (Union, types.UnionType):
            return " or ".join(self.type_name(a) for a in args)
        if origin in (list, set, frozenset) or (origin is tuple and len(args) == 2 and args[1] is Ellipsis):
            return f"list of {self.type_name(args[0])}" if args else "list"
        if origin is tuple:
            return "[" + ", ".join(self.type_name(a) for a in args) + "]"
        if origin is dict:
            if not args or args[1] is Any:
                return "mapping"
            return f"mapping of {self.type_name(args[0])} to {self.type_name(args[1])}"
        return getattr(t, "__name__", str(t))

    @staticmethod
    def default(field: FieldInfo) -> str:
        if field.is_required():
            return "required"
        value = field.default_factory() if field.default_factory is not None else field.default  # type: ignore[call-arg]
        if isinstance(value, BaseModel):
            return "its defaults"
        return f"`{_value(value)}`"

    @staticmethod
    def constraints(field: FieldInfo) -> str:
        bounds, low, high = [], None, None
        for m in field.metadata:
            if isinstance(m, annotated_types.Ge):
                bounds.append(f">= {_value(m.ge)}")
            elif isinstance(m, annotated_types.Gt):
                bounds.append(f"> {_value(m.gt)}")
            elif isinstance(m, annotated_types.Le):
                bounds.append(f"<= {_value(m.le)}")
            elif isinstance(m, annotated_types.Lt):
                bounds.append(f"< {_value(m.lt)}")
            elif isinstance(m, annotated_types.MultipleOf):
                bounds.append(f"multiple of {_value(m.multiple_of)}")
            elif isinstance(m, annotated_types.MinLen):
                low = m.min_length
            elif isinstance(m, annotated_types.MaxLen):
                high = m.max_length
        if low is not None or high is not None:
            union = get_origin(field.annotation) in (Union, types.UnionType)
            kinds = [a for a in (get_args(field.annotation) if union else (field.annotation,)) if a is not type(None)]
            unit = "characters" if kinds == [str] else "entries"
            if low is not None and high is not None:
                bounds.append(f"{low} to {high} {unit}")
            else:
                bounds.append(f"at least {low} {unit}" if low is not None else f"at most {high} {unit}")
        return ", ".join(bounds)

    def table(self, model: type[BaseModel]) -> list[str]:
        """One row per field of ``model``, in declaration order."""
        if not model.model_fields:
            return ["No fields."]
        rows = ["| field | type | default | constraints | description |", "|---|---|---|---|---|"]
        for name, field in model.model_fields.items():
            rows.append("| " + " | ".join(_cell(c) for c in (
                f"`{name}`", self.type_name(field.annotation), self.default(field), self.constraints(field),
                _markdown(description(model, name)))) + " |")
        return rows


def description(model: type[BaseModel], name: str) -> str:
    """The description of field ``name``: its own, or that of the nearest base model that
    declares the field with one (a channel model's ``model: Literal["awgn"]`` narrows
    :class:`~linksim.phy.channels.ChannelParams`' ``model`` and keeps its meaning)."""
    for cls in model.__mro__:
        field = getattr(cls, "model_fields", {}).get(name) if _is_model(cls) else None
        if field is not None and field.description:
            return field.description
    return ""


def undocumented_fields() -> list[str]:
    """``Model.field`` of every field :func:`render` shows without a description (for the tests)."""
    out = []
    for _, model in _sections(Scenario) + [(n, c.Params) for n, c in _builtin_codecs()] \
            + [(n, c.Params) for n, c in _builtin_channels()]:
        out += [f"{model.__qualname__}.{name}" for name in model.model_fields if not description(model, name)]
    return sorted(set(out))


# -- the registries' built-ins ------------------------------------------------------------------


def _builtins(registry) -> list[tuple[str, Any]]:
    """``(name, object)`` of a registry's built-in entries, sorted by name (plugins left out)."""
    return [(n, registry[n]) for n in sorted(registry.names()) if registry.origin(n).kind == "built-in"]


def _builtin_codecs():
    from linksim.codecs import CODECS

    return _builtins(CODECS)


def _builtin_channels():
    from linksim.phy.channels import CHANNELS

    return _builtins(CHANNELS)


def _codec_summary(cls: type) -> str:
    """The codec class's own summary, or its module's first line when the class defers to it."""
    text = _summary(cls)
    if not text or "module docstring" in text:
        text = _summary(sys.modules[cls.__module__])
    return text


def _codecs(w: _Writer) -> list[str]:
    out = ['<a id="codec-types"></a>', "", "## Codec types", "",
           "`codecs[].type` is one of these built-in names, the name an installed plugin registers (see "
           "`linksim list`), or `package.module:Class`. `params` takes the fields of the type's table; "
           "`streams.<name>` overrides the transport of one of its streams "
           f"([fields]({'#' + w.links[_stream_model()][1]})); the stream tables give each stream's defaults. "
           "Modulation and code rate apply on the digital path; *may be analog*: the stream may take the analog "
           "path (and then uses `analog_equalizer`); *may change dtype*: its values may be sent as another `dtype` (and "
           "follow `nonfinite`). "
           "*codec's choice*: the codec decides how the stream's payload is serialised.", ""]
    for name, cls in _builtin_codecs():
        out += [f'<a id="codec-{_anchor(name)}"></a>', "", f"### `{name}`", "", _html_safe(_codec_summary(cls)), ""]
        samples = "(video, audio, text) samples: needs a multimodal data source" if cls.multimodal else "images"
        out += [f"Codes {samples}.", ""]
        out += ["| stream | path | modulation | code rate | dtype | nonfinite | analog equalizer | may be analog "
                "| may change dtype |",
                "|---|---|---|---|---|---|---|---|---|"]
        for stream, t in cls.default_streams.items():
            out.append("| " + " | ".join(_cell(c) for c in (
                f"`{stream}`", t.path, t.modulation, _value(t.code_rate), t.dtype or "codec's choice", t.nonfinite,
                t.analog_equalizer, "yes" if stream in cls.analog_streams else "no", "yes" if stream in cls.dtype_streams else "no")) + " |")
        out.append("")
        provided = cls.provided_metric_names()
        if provided:
            out += [f"Computes these metrics itself: {', '.join(f'`{m}`' for m in provided)}.", ""]
        if cls.default_metrics:
            out += [f"Reported when the scenario lists no `metrics`: {', '.join(f'`{m}`' for m in cls.default_metrics)}.",
                    ""]
        out += ["`params`:", ""] + w.table(cls.Params) + [""]
    return out


def _stream_model() -> type[BaseModel]:
    from linksim.codecs.base import StreamOverride

    return StreamOverride


def _channels(w: _Writer) -> list[str]:
    out = ['<a id="channel-models"></a>', "", "## Channel models", "",
           "Each entry of `channels` is a mapping: `model` (one of these built-in names, an installed plugin's, or "
           "`package.module:Class`) and that model's fields. Every model has unit average gain, so that `snr_db` "
           "is the average received Es/N0 per data resource element.", ""]
    for name, cls in _builtin_channels():
        out += [f'<a id="channel-{_anchor(name)}"></a>', "", f"### `{name}`", "", _html_safe(_summary(cls)), ""]
        out += w.table(cls.Params) + [""]
    return out


def _sources() -> list[str]:
    from linksim.data.registry import SOURCES

    out = ['<a id="data-sources"></a>', "", "## Data sources", "",
           "`data.source` is `<kind>` or `<kind>:<argument>`; a plugin source is `package.module:Name` or "
           "`package.module:Name:<argument>`. Relative folders are resolved against the scenario file's folder.", "",
           "| kind | spellings | samples |", "|---|---|---|"]
    for name, src in _builtins(SOURCES):
        spellings = ", ".join(f"`{u}`" for u in (src.usages or (name,)))
        out.append("| " + " | ".join(_cell(c) for c in (
            f"`{name}`", spellings, "video, audio, text" if src.multimodal else "images")) + " |")
    return out + [""]


def _metrics() -> list[str]:
    from linksim.metrics.table import METRICS

    order = {"link": 0, "function": 1, "learned": 2, "codec": 3}
    found = sorted(_builtins(METRICS), key=lambda e: (not e[1].selectable, order.get(e[1].computed_by, 9), e[0]))
    out = ['<a id="metrics"></a>', "", "## Metrics", "",
           "Names for `metrics` and `targets` (a plugin's metric by its registered name or as "
           "`package.module:METRIC`). Names in parentheses are always reported and cannot be listed. Without "
           f"`metrics`, a scenario reports {', '.join(f'`{m}`' for m in DEFAULT_METRICS)} (or its codecs' defaults). "
           "`better`: which way is better; `aggregation`: `per_sample` (mean of per-sample values), `set` (one "
           "value over the point's samples), `rate` (events / trials), `count` (mean count, no interval). A row "
           "`name/<qualifier>` (e.g. `ber/<stream>`) has the facts of `name`.", "",
           "| name | better | unit | aggregation | computed by | samples | what it measures |",
           "|---|---|---|---|---|---|---|"]
    for name, m in found:
        better = {True: "higher", False: "lower", None: ""}[m.higher_is_better]
        shown = f"`{name}`" if m.selectable else f"(`{name}`)"
        out.append("| " + " | ".join(_cell(c) for c in (
            shown, better, m.unit, m.aggregation, m.computed_by, m.data, _markdown(m.description))) + " |")
    return out + [""]


# -- the page -----------------------------------------------------------------------------------


def render() -> str:
    """The scenario reference as Markdown (what ``docs/scenario-reference.md`` holds)."""
    sections = _sections(Scenario)
    w = _Writer(sections)
    out = [f"<!-- Generated from linksim's schema by `{COMMAND}`: do not edit by hand. -->", "",
           "# Scenario reference", "",
           "Every field of a scenario file, from the schema itself (`linksim/scenario/schema.py`). A scenario is "
           "YAML (or the same mapping given to `linksim.run`); unknown fields are errors, and each problem is "
           "reported on one line naming its field path (`codecs[1].streams.data.code_rate: ...`). "
           "`[]` in a path stands for any entry of a list, `<name>` for any key of a mapping.", "",
           "Sections: " + ", ".join(f"[`{p}`](#{_anchor(p)})" if p else "[top level](#top)" for p, _ in sections)
           + ", [codec types](#codec-types), [channel models](#channel-models), [data sources](#data-sources), "
           "[metrics](#metrics).", ""]
    for path, model in sections:
        out += [f'<a id="{_anchor(path)}"></a>', "", f"## `{path}`" if path else "## Top level", ""]
        summary = _summary(model)
        if summary:
            out += [_html_safe(summary), ""]
        out += w.table(model) + [""]
    out += _codecs(w) + _channels(w) + _sources() + _metrics()
    text = "\n".join(out)
    return re.sub(r"\n{3,}", "\n\n", text).rstrip("\n") + "\n"


def main() -> int:
    """Print the reference (UTF-8) on standard output."""
    sys.stdout.flush()
    sys.stdout.buffer.write(render().encode("utf-8"))
    sys.stdout.flush()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
