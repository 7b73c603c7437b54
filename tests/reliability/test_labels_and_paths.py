"""Issue 14, case 7: every user-given label that becomes part of a file name is validated by the
schema (one line naming the field, before anything is simulated), and every path linksim writes
is checked to stay inside the run folder."""

from __future__ import annotations

import copy

import numpy as np
import pytest
import yaml

from linksim.cli import main
from linksim.errors import RunError
from linksim.scenario import ScenarioError, validate_scenario

BASE = {
    "name": "labels",
    "data": {"source": "digits28", "num_samples": 2, "batch_size": 2, "image_size": 8},
    "channels": [{"model": "awgn"}],
    "sweep": {"snr_db": [10]},
    "codecs": [{"name": "a", "type": "raw", "streams": {"data": {"path": "analog"}}}],
    "metrics": ["mse"],
}

TRAVERSAL = "x/../../../../somewhere/PWNED"


def _problems(raw: dict) -> list[str]:
    with pytest.raises(ScenarioError) as info:
        validate_scenario(raw)
    return info.value.problems


def _one_problem(raw: dict, field: str) -> str:
    problems = _problems(raw)
    assert len(problems) == 1 and problems[0].startswith(f"{field}: "), problems
    assert "\n" not in problems[0]
    return problems[0]


@pytest.mark.parametrize("bad", [TRAVERSAL, "x" * 300, "a\x00b", "a b", "../up", "/abs", ".hidden", "a\nb", "ok$x$"])
def test_channel_names_are_file_name_safe(bad):
    raw = copy.deepcopy(BASE)
    raw["channels"] = [{"model": "awgn", "name": bad}]
    _one_problem(raw, "channels[0].name")


@pytest.mark.parametrize("bad", [TRAVERSAL, "x" * 300, "a\x00b", "a b", "-x"])
def test_codec_names_are_file_name_safe(bad):
    raw = copy.deepcopy(BASE)
    raw["codecs"][0]["name"] = bad
    _one_problem(raw, "codecs[0].name")


@pytest.mark.parametrize("bad", [TRAVERSAL, "x" * 300, "a\x00b", "..", "a b"])
def test_scenario_names_are_folder_name_safe(bad):
    raw = copy.deepcopy(BASE)
    raw["name"] = bad
    _one_problem(raw, "name")


@pytest.mark.parametrize("bad", ["x" * 300, "a\x00b", "a\nb", "$\\frac$", "tab\there"])
def test_series_labels_are_one_printable_line(bad):
    """A series is a legend label (the shipped scenarios use e.g. "HSC (k = 128, d grows)"); its file
    names go through safe_filename, so it only has to be printable, one line, without mathtext."""
    raw = copy.deepcopy(BASE)
    raw["codecs"][0]["series"] = bad
    _one_problem(raw, "codecs[0].series")


def test_good_labels_pass():
    raw = copy.deepcopy(BASE)
    raw["name"] = "run-1.b+c_d"
    raw["channels"] = [{"model": "awgn", "name": "AWGN_1.0+x-y"}, {"model": "rayleigh", "name": "r" * 64}]
    raw["codecs"][0].update(name="raw-f32+q_8.x", series="HSC (k = 128, d grows)")
    sc = validate_scenario(raw)
    assert [c.label() for c in sc.channel_params] == ["AWGN_1.0+x-y", "r" * 64]


def test_traversing_channel_name_exits_2_before_simulating(tmp_path, capsys):
    """The issue's case: the name wrote a PNG outside the run folder (and a 300-character one
    failed after simulating, a NUL after the first point and on every rerun)."""
    for bad in (TRAVERSAL, "x" * 300, "a\x00b"):
        raw = copy.deepcopy(BASE)
        raw["channels"] = [{"model": "awgn", "name": bad}]
        path = tmp_path / "s.yaml"
        path.write_text(yaml.safe_dump(raw))
        out = tmp_path / "run" / "out"
        assert main(["run", str(path), "--out", str(out), "--quiet"]) == 2
        err = capsys.readouterr().err
        assert err.startswith("channels[0].name: ") and err.count("\n") == 1, err
        assert not (tmp_path / "run").exists()
    assert not list(tmp_path.rglob("PWNED*"))


# --------------------------------------------------------------------------- the path helper


def test_inside_run_folder_accepts_paths_below_it(tmp_path):
    from linksim.runner.paths import inside_run_folder

    run = tmp_path / "run"
    for rel in ("results.csv", "plots/ber_vs_snr.png", "samples/a__awgn.png", "samples/./x.png"):
        assert inside_run_folder(run, run / rel) == run / rel


@pytest.mark.parametrize("rel", ["../x.png", "samples/../../x.png", f"samples/a__{TRAVERSAL}.png", "/etc/x.png",
                                 "samples/a\x00b.png", "samples/" + "x" * 300 + ".png"])
def test_inside_run_folder_refuses_anything_else_in_one_line(tmp_path, rel):
    from linksim.runner.paths import inside_run_folder

    run = tmp_path / "run"
    with pytest.raises(RunError) as info:
        inside_run_folder(run, run / rel)
    assert "\n" not in str(info.value) and "\x00" not in str(info.value)
    assert str(run) in str(info.value)


def test_inside_run_folder_follows_symbolic_links(tmp_path):
    from linksim.runner.paths import inside_run_folder

    run, elsewhere = tmp_path / "run", tmp_path / "elsewhere"
    run.mkdir()
    elsewhere.mkdir()
    (run / "samples").symlink_to(elsewhere)
    with pytest.raises(RunError, match="outside the run folder"):
        inside_run_folder(run, run / "samples" / "a.png")
    # a run folder that is itself a link is fine
    (tmp_path / "link").symlink_to(run)
    assert inside_run_folder(tmp_path / "link", tmp_path / "link" / "plots" / "x.png")


def test_outputs_refuse_a_label_that_escapes_the_run_folder(tmp_path):
    """A label that reaches the writer without the schema (a plugin channel's default label, a
    PointResult built in Python): the sample grid is refused, nothing is written outside."""
    from linksim.data import load_dataset
    from linksim.results import PointKey, PointResult
    from linksim.runner.outputs import write_outputs

    sc = validate_scenario(copy.deepcopy(BASE))
    ds = load_dataset("digits28", 2, image_size=8)
    run = tmp_path / "a" / "b" / "run"
    run.mkdir(parents=True)
    r = PointResult(key=PointKey("a", TRAVERSAL, 10.0), seed=0, fingerprint="f",
                    per_sample={"mse": np.array([0.1, 0.2])}, samples=np.zeros((2, 1, 8, 8), np.float32),
                    num_samples=2)
    with pytest.raises(RunError, match="outside the run folder"):
        write_outputs(sc, ds, [r], run)
    assert not list(tmp_path.rglob("PWNED*"))
