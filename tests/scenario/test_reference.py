"""The scenario reference (``docs/scenario-reference.md``) is generated from the schema and kept in step with it."""

from __future__ import annotations

import runpy
from pathlib import Path

import pytest

from linksim.codecs import CODECS
from linksim.scenario import reference

DOC = Path(__file__).resolve().parents[2] / "docs" / "scenario-reference.md"


@pytest.fixture(scope="module")
def rendered() -> str:
    return reference.render()


def test_the_committed_reference_is_what_the_schema_renders(rendered):
    current = DOC.read_text(encoding="utf-8") if DOC.is_file() else ""
    if current != rendered:
        old, new = current.splitlines(), rendered.splitlines()
        line = next((i for i, (a, b) in enumerate(zip(old, new)) if a != b), min(len(old), len(new)))
        pytest.fail(f"docs/scenario-reference.md is out of date (first difference at line {line + 1}); "
                    f"regenerate it: {reference.COMMAND}", pytrace=False)


def test_every_field_shown_has_a_description():
    assert reference.undocumented_fields() == [], "add Field(description=...) to these fields"


def test_sections_types_defaults_and_constraints(rendered):
    # nested sections, reached through unions, lists and mappings, each with its own table
    for heading in ("## Top level", "## `phy.ofdm`", "## `sweep.snr_db`", "## `link_budget.pathloss`",
                    "## `codecs[]`", "## `codecs[].streams.<name>`", "## `metric_models`"):
        assert f"\n{heading}\n" in rendered, heading
    assert "| `csi` | `perfect` \\| `ls` | `perfect` |" in rendered  # Literal choices, pipes escaped
    assert "| `pilot_ofdm_symbol_indices` | list of integer | `[2, 11]` | at most 140 entries |" in rendered  # factory
    assert "| `num_samples` | integer | required | >= 1, <= 10000000 |" in rendered
    assert "| `snr_db` | list of number or [`sweep.snr_db`](#sweep-snr-db) or null | `null` |" in rendered
    assert "| `subcarrier_spacing_hz` | number | `30000.0` | > 0, <= 1.0e7 |" in rendered
    assert "folder:&lt;path>" in rendered  # not an HTML tag once rendered


def test_builtins_only_and_sorted(rendered):
    codecs = [n for n in sorted(CODECS.names()) if CODECS.origin(n).kind == "built-in"]
    positions = [rendered.index(f"\n### `{n}`\n") for n in codecs]
    assert positions == sorted(positions)
    for name in CODECS.names():  # installed plugins (the example's tiny-ae) stay out of the file
        if CODECS.origin(name).kind != "built-in":
            assert f"### `{name}`" not in rendered
    assert "| `data` | digital | qam16 | 0.5 | float32 | keep | unbiased | yes | yes |" in rendered  # raw's stream
    for name in ("awgn", "tdl", "umi"):
        assert f'<a id="channel-{name}"></a>' in rendered
    assert "| `digits28` | `digits28`, `digits28:train` | images |" in rendered
    assert "| `psnr` | higher | dB | per_sample | function | image |" in rendered
    assert "| (`channel_uses`) |" in rendered


def test_render_is_deterministic(rendered):
    assert reference.render() == rendered


# runpy re-runs the module already imported above; that is what `python -m` would run
@pytest.mark.filterwarnings("ignore:'linksim.scenario.reference' found in sys.modules:RuntimeWarning")
def test_the_module_prints_the_reference(rendered, capsys):
    with pytest.raises(SystemExit) as exit_:
        runpy.run_module("linksim.scenario.reference", run_name="__main__")
    assert exit_.value.code == 0
    assert capsys.readouterr().out == rendered
