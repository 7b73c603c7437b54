"""The scenario schema: shipped files validate; every mistake is one line naming its field."""

from __future__ import annotations

import copy
import time
from pathlib import Path

import pytest
import yaml

from linksim.scenario import (
    MAX_YAML_ALIASES,
    ScenarioError,
    load_scenario,
    parse_yaml,
    scenario_to_yaml,
    validate_scenario,
)

REPO = Path(__file__).resolve().parents[2]
SHIPPED = sorted((REPO / "scenarios").glob("*.yaml"))

BASE = {
    "name": "t",
    "seed": 1,
    "data": {"source": "digits28", "num_samples": 8, "batch_size": 4},
    "channels": [{"model": "awgn"}, {"model": "rayleigh"}],
    "sweep": {"snr_db": [0, 10]},
    "codecs": [
        {"name": "raw-f32", "type": "raw", "streams": {"data": {"path": "digital", "dtype": "float32",
                                                                 "modulation": "qam16", "code_rate": 0.5}}},
        {"name": "raw-analog", "type": "raw", "streams": {"data": {"path": "analog"}}},
        {"name": "j2k", "type": "jpeg2000", "params": {"compression_ratio": 20},
         "streams": {"bytes": {"path": "digital", "modulation": "qam16", "code_rate": 0.5}}},
    ],
    "metrics": ["ber", "bler", "mse", "psnr"],
}


def base() -> dict:
    return copy.deepcopy(BASE)


def problems_of(raw, base_dir: Path | None = None) -> list[str]:
    with pytest.raises(ScenarioError) as info:
        validate_scenario(raw, base_dir)
    problems = info.value.problems
    assert problems and all(isinstance(p, str) and "\n" not in p for p in problems)
    assert str(info.value) == "\n".join(problems)
    return problems


def assert_path(problems: list[str], path: str) -> None:
    """A problem line names exactly ``path``, and no other field is blamed."""
    assert any(p.startswith(f"{path}: ") for p in problems), problems
    assert all(p.startswith(f"{path}: ") or p.startswith(f"{path}.") for p in problems), problems


# --------------------------------------------------------------------------- #
# Valid scenarios
# --------------------------------------------------------------------------- #


def test_there_are_shipped_scenarios():
    assert REPO / "scenarios" / "quickstart.yaml" in SHIPPED


@pytest.mark.parametrize("path", SHIPPED, ids=[p.name for p in SHIPPED])
def test_shipped_scenarios_validate(path):
    sc = load_scenario(path)
    assert sc.name
    assert len(sc.channel_params) == len(sc.channels)
    assert len(sc.codec_params) == len(sc.codecs) == len(sc.transports)
    assert sc.sweep_points()  # SNR points, or distances with their link-budget SNR


def test_quickstart_resolves_as_documented():
    sc = load_scenario(REPO / "scenarios" / "quickstart.yaml")
    assert sc.name == "quickstart" and sc.seed == 7
    assert sc.snr_points() == [0.0, 5.0, 10.0, 15.0, 20.0]
    assert [c.name for c in sc.codecs] == ["raw-f32", "raw-analog", "j2k"]
    raw_f32, raw_analog, j2k = sc.transports
    assert (raw_f32["data"].path, raw_f32["data"].dtype, raw_f32["data"].modulation, raw_f32["data"].code_rate) == (
        "digital", "float32", "qam16", 0.5)
    assert raw_analog["data"].path == "analog"
    assert (j2k["bytes"].modulation, j2k["bytes"].code_rate) == ("qam64", 0.75)
    assert sc.codec_params[2].target_channel_uses == 392
    assert [p.model for p in sc.channel_params] == ["awgn", "rayleigh"]


def test_base_is_valid_and_defaults_fill_in():
    sc = validate_scenario(base())
    assert sc.device == "auto"
    assert sc.phy.csi == "perfect" and sc.phy.ofdm.fft_size == 72
    assert sc.budget.channel_uses is None
    assert sc.sweep.snr_type == "esn0"


def test_snr_range_includes_stop():
    raw = base()
    raw["sweep"]["snr_db"] = {"start": 0, "stop": 20, "step": 5}
    assert validate_scenario(raw).snr_points() == [0, 5, 10, 15, 20]


@pytest.mark.parametrize(
    "rng, expected",
    [
        ({"start": 0, "stop": 1, "step": 0.1}, [round(0.1 * i, 10) for i in range(11)]),
        ({"start": -5, "stop": 5, "step": 2.5}, [-5, -2.5, 0, 2.5, 5]),
        ({"start": 3, "stop": 3, "step": 1}, [3]),
        ({"start": 0, "stop": 9, "step": 4}, [0, 4, 8]),
    ],
)
def test_snr_range_values(rng, expected):
    raw = base()
    raw["sweep"]["snr_db"] = rng
    assert validate_scenario(raw).snr_points() == pytest.approx(expected)


def test_snr_list_keeps_its_order():
    raw = base()
    raw["sweep"]["snr_db"] = [10, 0, 5]
    assert validate_scenario(raw).snr_points() == [10.0, 0.0, 5.0]


def _scenario_file(folder: Path, source: str) -> Path:
    raw = base()
    raw["data"]["source"] = source
    path = folder / "s.yaml"
    path.write_text(yaml.safe_dump(raw))
    return path


def test_relative_folder_resolves_against_the_scenario_file(tmp_path, monkeypatch):
    (tmp_path / "sc" / "imgs").mkdir(parents=True)
    (tmp_path / "elsewhere").mkdir()
    path = _scenario_file(tmp_path / "sc", "folder:imgs")
    monkeypatch.chdir(tmp_path / "elsewhere")  # not the scenario's folder
    sc = load_scenario(path)
    assert sc.data.source == f"folder:{(tmp_path / 'sc' / 'imgs').resolve()}"


def test_relative_folder_with_dotdot(tmp_path, monkeypatch):
    (tmp_path / "data").mkdir()
    (tmp_path / "sc").mkdir()
    monkeypatch.chdir(tmp_path / "data")
    sc = load_scenario(_scenario_file(tmp_path / "sc", "folder:../data"))
    assert sc.data.source == f"folder:{(tmp_path / 'data').resolve()}"


def test_relative_folder_missing_next_to_the_file_is_an_error_even_if_in_cwd(tmp_path, monkeypatch):
    (tmp_path / "sc").mkdir()
    (tmp_path / "cwd" / "imgs").mkdir(parents=True)
    monkeypatch.chdir(tmp_path / "cwd")  # imgs exists here, not next to the file
    with pytest.raises(ScenarioError) as info:
        load_scenario(_scenario_file(tmp_path / "sc", "folder:imgs"))
    assert_path(info.value.problems, "data.source")


def test_relative_mnist_folder_keeps_its_split(tmp_path):
    (tmp_path / "mn").mkdir()
    sc = load_scenario(_scenario_file(tmp_path, "mnist:mn:train"))
    assert sc.data.source == f"mnist:{(tmp_path / 'mn').resolve()}:train"


def test_absolute_folder_is_kept(tmp_path):
    raw = base()
    raw["data"]["source"] = f"folder:{tmp_path}"
    assert validate_scenario(raw).data.source == f"folder:{tmp_path}"


def test_resolved_yaml_validates_again():
    sc = load_scenario(REPO / "scenarios" / "quickstart.yaml")
    again = validate_scenario(yaml.safe_load(scenario_to_yaml(sc)))
    assert again.snr_points() == sc.snr_points()
    assert again.transports == sc.transports
    assert again.codec_params == sc.codec_params


# --------------------------------------------------------------------------- #
# Invalid scenarios: one line per problem, naming the field path
# --------------------------------------------------------------------------- #


def _set(path: str, value):
    """A mutation of ``base()`` setting a dotted path (``[i]`` for list items)."""

    def mutate(raw):
        keys = path.replace("[", ".").replace("]", "").split(".")
        node = raw
        for k in keys[:-1]:
            node = node[int(k)] if k.isdigit() else node[k]
        last = keys[-1]
        node[int(last) if last.isdigit() else last] = value
        return raw

    return mutate


def _dup_names(raw):
    raw["codecs"][1]["name"] = raw["codecs"][0]["name"]
    return raw


# (id, mutation, expected field path)
INVALID = [
    ("unknown-top-level-key", _set("foo", 1), "foo"),
    ("unknown-nested-key", _set("data.foo", 1), "data.foo"),
    ("code-rate-zero", _set("codecs[0].streams.data.code_rate", 0), "codecs[0].streams.data.code_rate"),
    ("code-rate-above-one", _set("codecs[0].streams.data.code_rate", 1.5), "codecs[0].streams.data.code_rate"),
    ("code-rate-outside-ldpc", _set("codecs[0].streams.data.code_rate", 0.1), "codecs[0].streams.data.code_rate"),
    ("code-rate-on-second-codec", _set("codecs[2].streams.bytes.code_rate", 0.99), "codecs[2].streams.bytes.code_rate"),
    ("unknown-channel-model", _set("channels[0].model", "moon"), "channels[0].model"),
    ("bad-tdl-profile", _set("channels[1]", {"model": "tdl", "profile": "Z"}), "channels[1].profile"),
    ("unknown-channel-field", _set("channels[0].foo", 1), "channels[0].foo"),
    ("missing-channel-model", _set("channels[0]", {}), "channels[0].model"),
    ("negative-num-samples", _set("data.num_samples", -4), "data.num_samples"),
    ("missing-data-folder", _set("data.source", "folder:/nonexistent"), "data.source"),
    ("missing-mnist-folder", _set("data.source", "mnist:/nonexistent:train"), "data.source"),
    ("unknown-codec-type", _set("codecs[1].type", "telepathy"), "codecs[1].type"),
    ("unknown-codec-param", _set("codecs[0].params", {"bogus": 1}), "codecs[0].params.bogus"),
    ("bad-codec-param", _set("codecs[2].params.compression_ratio", 0), "codecs[2].params.compression_ratio"),
    ("unknown-metric", _set("metrics", ["ber", "telepathy"]), "metrics[1]"),
    ("duplicate-codec-names", _dup_names, "codecs[1].name"),
    ("snr-stop-before-start", _set("sweep.snr_db", {"start": 20, "stop": 0, "step": 5}), "sweep.snr_db"),
    ("snr-repeats", _set("sweep.snr_db", [0, 5, 0]), "sweep.snr_db"),
    ("unknown-stream", _set("codecs[0].streams.bogus", {"path": "digital"}), "codecs[0].streams"),
    ("analog-bytes", _set("codecs[2].streams.bytes.path", "analog"), "codecs[2].streams"),
    ("dtype-on-bytes", _set("codecs[2].streams.bytes.dtype", "float16"), "codecs[2].streams"),
    ("bad-dtype", _set("codecs[0].streams.data.dtype", "int8"), "codecs[0].streams.data.dtype"),
    ("bad-modulation", _set("codecs[0].streams.data.modulation", "qam1024"), "codecs[0].streams.data.modulation"),
    ("bad-device", _set("device", "tpu"), "device"),
    ("missing-section", lambda raw: {k: v for k, v in raw.items() if k != "sweep"}, "sweep"),
    ("bad-pilot-index", _set("phy", {"ofdm": {"pilot_ofdm_symbol_indices": [2, 20]}}), "phy.ofdm"),
]


@pytest.mark.parametrize("mutate, path", [c[1:] for c in INVALID], ids=[c[0] for c in INVALID])
def test_invalid_scenario_names_the_field(mutate, path):
    problems = problems_of(mutate(base()))
    assert_path(problems, path)


def test_code_rate_messages_say_what_is_allowed():
    p0 = problems_of(_set("codecs[0].streams.data.code_rate", 0)(base()))
    assert "(0, 1]" in p0[0]
    p1 = problems_of(_set("codecs[0].streams.data.code_rate", 0.1)(base()))
    assert "0.2" in p1[0] and "0.95" in p1[0]


def test_one_line_per_problem_and_all_problems_reported():
    raw = base()
    raw["foo"] = 1
    raw["data"]["num_samples"] = 0
    raw["codecs"][0]["streams"]["data"]["code_rate"] = 1.5
    problems = problems_of(raw)
    assert len(problems) == 3
    for path in ("foo", "data.num_samples", "codecs[0].streams.data.code_rate"):
        assert sum(p.startswith(f"{path}: ") for p in problems) == 1, problems


def test_later_checks_report_together():
    """Problems found after the schema (channels, codecs, data folder) are all listed."""
    raw = base()
    raw["channels"][0]["model"] = "moon"
    raw["codecs"][0]["type"] = "telepathy"
    raw["codecs"][2]["params"] = {"bogus": 1}
    raw["data"]["source"] = "folder:/nonexistent"
    problems = problems_of(raw)
    for path in ("channels[0].model", "codecs[0].type", "codecs[2].params.bogus", "data.source"):
        assert any(p.startswith(f"{path}: ") for p in problems), problems


def test_duplicate_channel_labels():
    raw = base()
    raw["channels"] = [{"model": "awgn"}, {"model": "awgn"}]
    assert_path(problems_of(raw), "channels[1]")


# --------------------------------------------------------------------------- #
# Files that are not scenarios
# --------------------------------------------------------------------------- #


@pytest.mark.parametrize("text", ["name: [unclosed\n  foo: }", "a: b: c", "\t- x:\n:"])
def test_non_yaml_file(tmp_path, text):
    path = tmp_path / "bad.yaml"
    path.write_text(text)
    with pytest.raises(ScenarioError) as info:
        load_scenario(path)
    (line,) = info.value.problems
    assert line.startswith("(file): ") and "not valid YAML" in line


def test_binary_file(tmp_path):
    path = tmp_path / "bin.yaml"
    path.write_bytes(b"\xff\xfe\x00\x01garbage\x80")
    with pytest.raises(ScenarioError) as info:
        load_scenario(path)
    (line,) = info.value.problems
    assert line.startswith("(file): ")


def test_missing_file(tmp_path):
    with pytest.raises(ScenarioError) as info:
        load_scenario(tmp_path / "nope.yaml")
    (line,) = info.value.problems
    assert line.startswith("(file): ") and "does not exist" in line


@pytest.mark.parametrize("text, kind", [("- a\n- b\n", "list"), ("just a string\n", "str"), ("", "NoneType"),
                                        ("42\n", "int")])
def test_top_level_must_be_a_mapping(tmp_path, text, kind):
    path = tmp_path / "s.yaml"
    path.write_text(text)
    with pytest.raises(ScenarioError) as info:
        load_scenario(path)
    (line,) = info.value.problems
    assert line.startswith("(top level): ") and kind in line


def _bomb(levels: int, width: int = 9) -> str:
    lines = ["lolz:", '  - &l0 "lol"']
    for i in range(1, levels + 1):
        lines.append(f"  - &l{i} [" + ", ".join([f"*l{i - 1}"] * width) + "]")
    return "\n".join(lines) + "\n"


def test_alias_bomb_is_refused_quickly():
    text = _bomb(12, 10)  # 10^12 leaves from 120 aliases
    t0 = time.perf_counter()
    with pytest.raises(ScenarioError) as info:
        parse_yaml(text)
    assert time.perf_counter() - t0 < 1.0
    (line,) = info.value.problems
    assert line.startswith("(top level): ") and "alias" in line


def test_alias_bomb_file_is_refused_quickly(tmp_path):
    path = tmp_path / "bomb.yaml"
    path.write_text(yaml.safe_dump(base()) + _bomb(MAX_YAML_ALIASES // 9 + 2))
    t0 = time.perf_counter()
    with pytest.raises(ScenarioError) as info:
        load_scenario(path)
    assert time.perf_counter() - t0 < 1.0
    assert any("alias" in p for p in info.value.problems)


def test_a_few_aliases_are_fine():
    """Anchors and merge keys for shared stream settings are ordinary YAML: allowed."""
    text = """
name: anchors
data: {source: digits28, num_samples: 4}
channels: [{model: awgn}]
sweep: {snr_db: [0]}
x-defaults: &link {path: digital, modulation: qam16, code_rate: 0.5}
codecs:
  - {name: a, type: raw, streams: {data: {<<: *link, dtype: float16}}}
  - {name: b, type: raw, streams: {data: *link}}
"""
    raw = parse_yaml(text)
    raw.pop("x-defaults")
    sc = validate_scenario(raw)
    assert sc.transports[0]["data"].dtype == "float16"
    assert sc.transports[1]["data"].code_rate == 0.5


def test_small_alias_bomb_in_a_free_form_field_gives_a_short_line(tmp_path):
    raw = base()
    text = yaml.safe_dump({k: v for k, v in raw.items() if k != "channels"})
    text += "channels:\n  - defs:\n" + "".join(
        "      " + line[2:] + "\n" for line in _bomb(6).splitlines()[1:]
    ) + "    model: *l6\n"
    path = tmp_path / "small-bomb.yaml"
    path.write_text(text)
    t0 = time.perf_counter()
    with pytest.raises(ScenarioError) as info:
        load_scenario(path)
    elapsed = time.perf_counter() - t0
    assert all(len(p) < 1000 for p in info.value.problems), [len(p) for p in info.value.problems]
    assert elapsed < 1.0
