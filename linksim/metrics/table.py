"""The one table of metric facts: what each metric measures, its unit, which way is better,
how it is aggregated over a point, which interval it gets and how it is plotted.

Every name a scenario may list in ``metrics:`` and every row name of ``results.csv`` is
looked up here; the results writer, the range table and ``targets``, the CLI's tables,
the figures and ``linksim list`` all read these facts and keep none of their own.

The table is a :class:`~linksim.registry.Registry` (entry-point group ``linksim.metrics``):
linksim's own metrics are entry points of linksim, a plugin adds its own the same way, a
scenario may name ``package.module:METRIC`` directly, and a codec that computes metrics
itself declares them as :class:`Metric` objects (``Codec.provides_metrics``).

A row name ``base/qualifier`` (``ber/<stream>``, ``payload_bits/<stream>``,
``clip_score/received``) has the facts of ``base``. A row no entry describes (a codec's
own event counter ``xyz_rate``, say) gets neutral facts: a rate if its name ends in
``_rate``, else a per-sample mean.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Literal

from linksim.registry import Registry

if TYPE_CHECKING:  # the facts are read without torch (linksim list); only compute functions take tensors
    import torch

#: who computes a metric: the link's error counts, a per-sample image function, a learned
#: model loaded from ``metric_models``, the codec itself, or the runner's bookkeeping
ComputedBy = Literal["link", "function", "learned", "codec", "accounting"]
Aggregation = Literal["per_sample", "set", "rate", "count"]
Interval = Literal["t", "binomial", "psnr_of_mean_mse", "none"]


@dataclass(frozen=True)
class Metric:
    """Facts about one metric (and, for image metrics, how to compute it).

    :ivar name: name in ``metrics:`` and in ``results.csv``.
    :ivar description: one line: what it measures.
    :ivar computed_by: ``link`` | ``function`` | ``learned`` | ``codec`` | ``accounting``.
    :ivar unit: unit of its values (``dB``, ``bits``, ``REs``; empty when unitless).
    :ivar higher_is_better: True / False; None for accounting rows (no direction).
    :ivar aggregation: ``per_sample`` (mean of per-sample values), ``set`` (one value over
        the point's samples, e.g. FID), ``rate`` (events / trials), ``count`` (a mean of
        per-sample counts, reported without interval).
    :ivar interval: ``t`` (Student-t on the per-sample values), ``binomial``
        (Clopper-Pearson), ``psnr_of_mean_mse`` (PSNR of the mean MSE, interval mapped
        from the MSE's) or ``none``.
    :ivar scale: axis scale of its figures, ``linear`` or ``log``.
    :ivar label: axis label with the unit, e.g. ``PSNR [dB]``.
    :ivar data: what samples it applies to: ``image``, ``multimodal`` or ``any``.
    :ivar compute: for ``computed_by == "function"``: ``f(x, x_hat) -> [B]`` float64 on
        images ``[B, C, H, W]`` in [0, 1] (``x_hat`` sanitised by the caller).
    :ivar selectable: whether a scenario may list it in ``metrics:`` (accounting rows are
        always reported and cannot be selected).
    """

    name: str
    description: str
    computed_by: ComputedBy
    unit: str = ""
    higher_is_better: bool | None = None
    aggregation: Aggregation = "per_sample"
    interval: Interval = "t"
    scale: Literal["linear", "log"] = "linear"
    label: str = ""
    data: Literal["image", "multimodal", "any"] = "any"
    compute: Callable[[torch.Tensor, torch.Tensor], torch.Tensor] | None = None
    selectable: bool = True

    def __post_init__(self) -> None:
        if self.computed_by == "function" and self.compute is None:
            raise ValueError(f"metric '{self.name}': computed_by 'function' needs a compute function")

    @property
    def axis_label(self) -> str:
        """The label, or the name with its unit in brackets."""
        if self.label:
            return self.label
        return f"{self.name} [{self.unit}]" if self.unit else self.name

    def meets(self, value: float | None, target: float) -> bool:
        """Whether ``value`` meets ``target`` (``<=`` when lower is better, else ``>=``); NaN never does."""
        if value is None or value != value:
            return False
        return value <= target if self.higher_is_better is False else value >= target

    @property
    def target_operator(self) -> str:
        """``<=`` or ``>=``: how a target of this metric reads."""
        return "<=" if self.higher_is_better is False else ">="


def _check_metric(obj: object) -> None:
    if not isinstance(obj, Metric):
        raise TypeError(f"expected a linksim.metrics.Metric, got {type(obj).__name__}")


#: the table: name -> :class:`Metric`
METRICS: Registry[Metric] = Registry("metric", "linksim.metrics", check=_check_metric)
register_metric = METRICS.register


def _alias_references(name: str, metric: Metric) -> None:
    # a metric a scenario names as ``package.module:METRIC`` is reported under its own name:
    # register it under that name too, so that every lookup of a row name finds its facts
    if ":" in name and metric.name not in METRICS:
        METRICS.register(metric.name, metric)


METRICS.on_register(_alias_references)


def metric_info(row_name: str) -> Metric:
    """The facts of a ``results.csv`` row name (``base/qualifier`` has the facts of ``base``).

    Never raises: a name no entry describes gets neutral facts (see the module docstring).
    """
    base = row_name.split("/", 1)[0]
    try:
        return METRICS[base] if base in METRICS else _neutral(base)
    except Exception:  # noqa: BLE001 - a broken plugin entry must not break writing results
        return _neutral(base)


def _neutral(name: str) -> Metric:
    if name.endswith("_rate"):
        return replace(RATE_TEMPLATE, name=name, description=f"{name} (events / trials)")
    return Metric(name, f"{name} (reported by a codec)", "codec", interval="t")


def metric_facts(name: str) -> Metric:
    """The facts of the registered metric ``name``, for listing them (``linksim list``).

    A metric whose entry point is not loaded yet, in a module not imported yet, is read from
    that module's source when the module defines it as a plain ``NAME = Metric(...)`` call of
    literals (with ``Metric`` imported from linksim): the same object, without importing the
    module. Bridge's metrics live in a codec package that imports torch and its models, and
    a plugin's metric module may import as much; listing facts should cost neither. Any
    other definition is imported, as :data:`METRICS` does on lookup.

    :raises linksim.errors.UnknownName: no metric is registered as ``name``.
    :raises linksim.errors.PluginError: the module that defines it cannot be imported.
    """
    target = METRICS.pending_target(name)
    if target is not None:
        found = _literal_metric(target)
        if found is not None:
            return found
    return METRICS[name]


def _literal_metric(target: str) -> Metric | None:
    """The :class:`Metric` that ``module:ATTRIBUTE`` defines as a call of literals, read from the
    module's source without importing it or its packages; None when it cannot be read so."""
    import ast
    import sys

    module, _, attribute = target.partition(":")
    if module in sys.modules or "." in attribute:
        return None  # imported already: the object itself is at hand
    tree = _module_ast(module)
    if tree is None:
        return None
    imports_metric = any(isinstance(node, ast.ImportFrom) and (node.module or "").split(".")[0] == "linksim"
                         and any(a.name == "Metric" and a.asname in (None, "Metric") for a in node.names)
                         for node in tree.body)
    values = [node.value for node in tree.body
              if (isinstance(node, ast.Assign) and any(isinstance(t, ast.Name) and t.id == attribute
                                                       for t in node.targets))
              or (isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name) and node.target.id == attribute)]
    if not imports_metric or len(values) != 1:
        return None  # not bound once at the top level: the module decides at import time
    call = values[0]
    if not (isinstance(call, ast.Call) and isinstance(call.func, ast.Name) and call.func.id == "Metric"):
        return None
    try:
        args = [ast.literal_eval(a) for a in call.args]
        kwargs = {k.arg: ast.literal_eval(k.value) for k in call.keywords}
    except (ValueError, TypeError, SyntaxError, MemoryError, RecursionError):
        return None  # a name, an expression, *args: only an import says what it is
    if None in kwargs:  # **mapping
        return None
    try:
        return Metric(*args, **kwargs)
    except (TypeError, ValueError):
        return None


def _module_ast(module: str):
    """The parsed source of ``module`` (a ``.py`` file), found without importing it or its
    parent packages (whose ``__init__`` may import everything); None when not found so."""
    import importlib.util
    from importlib.machinery import PathFinder

    parts = module.split(".")
    try:
        spec = importlib.util.find_spec(parts[0])  # a top-level name: finding it imports nothing
        for i in range(1, len(parts)):
            if spec is None or not spec.submodule_search_locations:
                return None
            spec = PathFinder.find_spec(".".join(parts[: i + 1]), list(spec.submodule_search_locations))
    except (ImportError, ValueError):
        return None
    if spec is None or not spec.origin or not spec.origin.endswith(".py"):
        return None
    return _parse(spec.origin)


_PARSED: dict = {}  # path -> parsed module (a lister reads several metrics of one file)


def _parse(path: str):
    import ast

    if path not in _PARSED:
        try:
            with open(path, encoding="utf-8") as fh:
                _PARSED[path] = ast.parse(fh.read(), path)
        except (OSError, SyntaxError, UnicodeDecodeError, ValueError):
            _PARSED[path] = None
    return _PARSED[path]


def is_link_metric(row_name: str) -> bool:
    """``ber``, ``bler`` and their ``/<stream>`` rows."""
    return metric_info(row_name).computed_by == "link"


def is_accounting_metric(row_name: str) -> bool:
    """Rows always reported (resource elements, payload bits, event rates, feasibility)."""
    return metric_info(row_name).computed_by == "accounting"


def is_fidelity_metric(row_name: str) -> bool:
    """Any row that is neither a link nor an accounting row."""
    return not (is_link_metric(row_name) or is_accounting_metric(row_name))


def selectable_metrics() -> list[str]:
    """Names a scenario may list in ``metrics:`` (loads every entry, sorted by kind then name)."""
    order = {"link": 0, "function": 1, "learned": 2, "codec": 3}
    found = [METRICS[n] for n in METRICS.names()]
    return [m.name for m in sorted((m for m in found if m.selectable), key=lambda m: (order.get(m.computed_by, 9), m.name))]


# -- linksim's own link and accounting rows (the image, learned and codec metrics live beside
#    the code that computes them; every one is an entry point in pyproject.toml) -----------------

BER = Metric("ber", "bit error rate over all digital payload bits of the codec (ber/<stream>: per stream)",
             "link", higher_is_better=False, aggregation="rate", interval="binomial", scale="log", label="BER")
BLER = Metric("bler", "code block error rate (CRC failures) over all digital streams (bler/<stream>: per stream)",
              "link", higher_is_better=False, aggregation="rate", interval="binomial", scale="log", label="BLER")
CHANNEL_USES = Metric("channel_uses", "data resource elements per sample, all streams", "accounting", unit="REs",
                      aggregation="count", interval="none", label="Resource elements per sample", selectable=False)
PAYLOAD_BITS = Metric("payload_bits", "payload bits per sample over the digital streams (payload_bits/<stream>)",
                      "accounting", unit="bits", aggregation="count", interval="none", label="Payload bits per sample",
                      selectable=False)
INFEASIBLE = Metric("infeasible", "1 when the codec did not fit budget.channel_uses at the point, else 0",
                    "accounting", aggregation="count", interval="none", selectable=False)
SYMBOL_MSE = Metric("symbol_mse", "mean squared error per received analog symbol (unit-power symbols; ~1/SNR)",
                    "link", higher_is_better=False, interval="t", scale="log", label="Symbol MSE",
                    selectable=False)
RATE_TEMPLATE = Metric("rate", "events / trials counted by a codec", "accounting", aggregation="rate",
                       interval="binomial", scale="linear", selectable=False)
NONFINITE_RATE = replace(RATE_TEMPLATE, name="nonfinite_rate",
                         description="non-finite floats among the floats received (before the nonfinite policy)")
FALLBACK_RATE = replace(RATE_TEMPLATE, name="fallback_rate",
                        description="samples whose payload could not be decoded (the codec's fallback was shown)")
NONFINITE_OUTPUT_RATE = replace(RATE_TEMPLATE, name="nonfinite_output_rate",
                                description="samples whose reconstruction held non-finite values")
ETA = Metric("eta", "the codec's channel load (HSC: symbols sent per source value)", "codec",
             label="load η", selectable=False)
