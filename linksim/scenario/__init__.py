"""Scenario files: the YAML schema (pydantic, strict), safe YAML reading, and validation.

This schema is a contract with users outside the team (see DESIGN.md): every field
keeps its meaning; unknown keys are errors. Each problem is reported on one line that
names the field path, e.g. ``codecs[1].streams.data.code_rate: must be in (0, 1]``.

- :mod:`.schema` — one pydantic model per section; the field descriptions are the
  scenario reference (:mod:`.reference` renders them into ``docs/scenario-reference.md``);
- :mod:`.yaml_loader` — YAML reading that refuses alias bombs and deep nesting;
- :mod:`.validate` — the schema, then every name the scenario gives (codecs, channels,
  data sources, metrics; built-in or plugin), one line per problem.
"""

from linksim.errors import ScenarioError

from .schema import (
    DEFAULT_METRICS,
    MAX_SNR_POINTS,
    BudgetSection,
    CodecSection,
    DataSection,
    LinkBudgetSection,
    OFDMSection,
    PathlossSection,
    PhySection,
    Scenario,
    SNRRange,
    SweepSection,
)
from .validate import load_scenario, scenario_to_yaml, validate_scenario
from .yaml_loader import MAX_YAML_ALIASES, MAX_YAML_DEPTH, MAX_YAML_NODES, parse_yaml

__all__ = [
    "DEFAULT_METRICS",
    "MAX_SNR_POINTS",
    "MAX_YAML_ALIASES",
    "MAX_YAML_DEPTH",
    "MAX_YAML_NODES",
    "BudgetSection",
    "CodecSection",
    "DataSection",
    "LinkBudgetSection",
    "OFDMSection",
    "PathlossSection",
    "PhySection",
    "SNRRange",
    "Scenario",
    "ScenarioError",
    "SweepSection",
    "load_scenario",
    "parse_yaml",
    "scenario_to_yaml",
    "validate_scenario",
]
