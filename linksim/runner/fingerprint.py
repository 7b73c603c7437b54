"""Point fingerprints: a digest of everything that determines a point's numbers.

A point already in ``results.h5`` is reused only when its fingerprint is unchanged. The
fingerprint covers the scenario parts that matter to the point and, for every component
that comes from a plugin (its codec type, channel model, data source, metrics), the
plugin's distribution version and the SHA-256 of the module that defines it: editing or
upgrading a plugin recomputes its points, as editing linksim's scenario does.
"""

from __future__ import annotations

import hashlib
import json
from typing import TYPE_CHECKING

import linksim
from linksim.results import PointKey

if TYPE_CHECKING:
    from linksim.runner.simulation import Simulation


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


def point_fingerprint(sim: "Simulation", key: PointKey) -> str:
    """32 hex digits of SHA-256 over the parts of the scenario that determine ``key``'s numbers."""
    sc = sim.scenario
    i = list(sim.codecs).index(key.codec)
    j = list(sim.channels).index(key.channel)
    parts = {
        "seed": sc.seed, "data": sc.data.model_dump(mode="json"), "phy": sc.phy.model_dump(mode="json"),
        "channel": sc.channel_params[j].model_dump(mode="json"),
        "codec": sc.codecs[i].model_dump(mode="json", exclude={"series"}),  # series: plots only
        "snr_type": sc.sweep.snr_type, "metrics": sc.metrics, "version": linksim.__version__,
    }
    if sc.metric_models != type(sc.metric_models)():  # the models behind lpips / clip_score / fid
        parts["metric_models"] = sc.metric_models.model_dump(mode="json")
    if sc.budget.is_set():  # codecs adapt to the budget, and it decides feasibility
        parts["budget"] = sc.budget_channel_uses()
    if key.distance_m is not None:
        parts["link_budget"] = sc.link_budget.model_dump(mode="json")
    plugins = plugin_provenance(sim, key)
    if plugins:  # only then: the fingerprints of built-in points stay what they were
        parts["plugins"] = plugins
    return hashlib.sha256(json.dumps(parts, sort_keys=True, default=str).encode()).hexdigest()[:32]
