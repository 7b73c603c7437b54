"""``linksim validate | run | list | plot`` through :func:`linksim.cli.main` (exit codes, output)."""

from __future__ import annotations

import copy
from pathlib import Path

import pytest
import yaml

from linksim.cli import main
from linksim.scenario import ScenarioError, load_scenario

REPO = Path(__file__).resolve().parents[1]
QUICKSTART = REPO / "scenarios" / "quickstart.yaml"

BASE = {
    "name": "cli-test",
    "seed": 1,
    "device": "cpu",
    "data": {"source": "digits28", "num_samples": 4, "batch_size": 4},
    "channels": [{"model": "awgn"}],
    "sweep": {"snr_db": [10]},
    "codecs": [
        {"name": "raw-f32", "type": "raw", "streams": {"data": {"dtype": "float32", "code_rate": 0.5}}},
        {"name": "raw-analog", "type": "raw", "streams": {"data": {"path": "analog"}}},
        {"name": "jpg", "type": "jpeg", "params": {"quality": 50}},
    ],
    "metrics": ["ber", "mse"],
}


def _with(path: str, value):
    def mutate(raw):
        keys = path.replace("[", ".").replace("]", "").split(".")
        node = raw
        for k in keys[:-1]:
            node = node[int(k)] if k.isdigit() else node[k]
        node[int(keys[-1]) if keys[-1].isdigit() else keys[-1]] = value
        return raw

    return mutate


def _dup(raw):
    raw["codecs"][1]["name"] = "raw-f32"
    return raw


# (id, how to write the file, expected field path in the problem line)
INVALID = [
    ("unknown-top-level-key", _with("foo", 1), "foo"),
    ("unknown-nested-key", _with("data.foo", 1), "data.foo"),
    ("code-rate-zero", _with("codecs[0].streams.data.code_rate", 0), "codecs[0].streams.data.code_rate"),
    ("code-rate-1.5", _with("codecs[0].streams.data.code_rate", 1.5), "codecs[0].streams.data.code_rate"),
    ("code-rate-0.1", _with("codecs[0].streams.data.code_rate", 0.1), "codecs[0].streams.data.code_rate"),
    ("unknown-channel-model", _with("channels[0].model", "moon"), "channels[0].model"),
    ("bad-tdl-profile", _with("channels[0]", {"model": "tdl", "profile": "Z"}), "channels[0].profile"),
    ("negative-num-samples", _with("data.num_samples", -1), "data.num_samples"),
    ("missing-data-folder", _with("data.source", "folder:/nonexistent"), "data.source"),
    ("unknown-codec-type", _with("codecs[2].type", "telepathy"), "codecs[2].type"),
    ("unknown-codec-param", _with("codecs[0].params", {"bogus": 1}), "codecs[0].params.bogus"),
    ("unknown-metric", _with("metrics", ["ber", "telepathy"]), "metrics[1]"),
    ("duplicate-codec-names", _dup, "codecs[1].name"),
    ("snr-stop-before-start", _with("sweep.snr_db", {"start": 20, "stop": 0, "step": 5}), "sweep.snr_db"),
    ("yaml-list", "- a\n- b\n", "(top level)"),
    ("not-yaml", "name: [unclosed\n  foo: }\n", "(file)"),
    ("alias-bomb", "lolz:\n  - &l0 lol\n" + "".join(
        f"  - &l{i} [" + ", ".join([f"*l{i - 1}"] * 10) + "]\n" for i in range(1, 13)), "(top level)"),
]


def write_case(tmp_path: Path, how) -> Path:
    path = tmp_path / "scenario.yaml"
    if isinstance(how, str):
        path.write_text(how)
    else:
        path.write_text(yaml.safe_dump(how(copy.deepcopy(BASE)), sort_keys=False))
    return path


def expected_problems(path: Path) -> list[str]:
    with pytest.raises(ScenarioError) as info:
        load_scenario(path)
    return info.value.problems


def _words(text: str) -> str:
    return " ".join(text.split())


# --------------------------------------------------------------------------- #
# validate
# --------------------------------------------------------------------------- #


def test_validate_quickstart(capsys):
    assert main(["validate", str(QUICKSTART)]) == 0
    out, err = capsys.readouterr()
    assert "Traceback" not in out + err
    assert "payload bits" in out and "resource elements" in out
    assert "25088" in out  # raw-f32: 784 float32
    assert "12628" in out  # ... over 16QAM at rate 1/2
    assert "392" in out  # raw-analog: 784 values, two per resource element
    assert "scenario is valid" in out
    assert "3 codecs x 2 channels x 5 SNR points = 30 points" in out


def test_validate_warns_over_budget(tmp_path, capsys):
    raw = copy.deepcopy(BASE)
    raw["budget"] = {"channel_uses": 1000}
    path = tmp_path / "b.yaml"
    path.write_text(yaml.safe_dump(raw))
    assert main(["validate", str(path)]) == 0
    out, _ = capsys.readouterr()
    assert "warning: raw-f32 needs 12628 resource elements per sample" in _words(out)
    assert "raw-analog needs" not in out  # 392 <= 1000


@pytest.mark.parametrize("command", ["validate", "run"])
@pytest.mark.parametrize("how, path", [c[1:] for c in INVALID], ids=[c[0] for c in INVALID])
def test_invalid_scenario_exits_2_naming_the_field(tmp_path, capsys, command, how, path):
    scenario = write_case(tmp_path, how)
    problems = expected_problems(scenario)
    argv = [command, str(scenario)] + (["--out", str(tmp_path / "out"), "--quiet"] if command == "run" else [])
    assert main(argv) == 2
    out, err = capsys.readouterr()
    assert "Traceback" not in out + err
    assert out.strip() == ""
    # every problem is reported, word for word, in order, and names the field
    assert _words(err) == _words("\n".join(problems))
    assert any(line.startswith(f"{path}: ") for line in err.splitlines()), err
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize("how", [c[1] for c in INVALID], ids=[c[0] for c in INVALID])
def test_exactly_one_stderr_line_per_problem(tmp_path, capsys, how):
    scenario = write_case(tmp_path, how)
    problems = expected_problems(scenario)
    assert main(["validate", str(scenario)]) == 2
    _, err = capsys.readouterr()
    # not hard-wrapped at the console width, even for lines longer than 80 characters
    assert err.splitlines() == problems


def test_several_problems_give_several_lines(tmp_path, capsys):
    raw = copy.deepcopy(BASE)
    raw["foo"] = 1
    raw["data"]["num_samples"] = 0
    path = tmp_path / "s.yaml"
    path.write_text(yaml.safe_dump(raw))
    assert main(["validate", str(path)]) == 2
    _, err = capsys.readouterr()
    lines = err.splitlines()
    assert len(lines) == 2
    assert any(line.startswith("foo: ") for line in lines)
    assert any(line.startswith("data.num_samples: ") for line in lines)


def test_missing_scenario_file(tmp_path, capsys):
    assert main(["validate", str(tmp_path / "nope.yaml")]) == 2
    out, err = capsys.readouterr()
    assert "Traceback" not in out + err
    assert err.startswith("(file): ") and "does not exist" in err


def test_unknown_data_source_exits_2(tmp_path, capsys):
    path = write_case(tmp_path, _with("data.source", "telepathy"))
    assert main(["validate", str(path)]) == 2
    out, err = capsys.readouterr()
    assert "Traceback" not in out + err
    assert "data.source" in err and "unknown source" in err


def test_bad_device_override_exits_2(tmp_path, capsys):
    path = write_case(tmp_path, lambda raw: raw)
    assert main(["run", str(path), "--device", "tpu", "--out", str(tmp_path / "out"), "--quiet"]) == 2
    out, err = capsys.readouterr()
    assert "Traceback" not in out + err
    assert err.startswith("--device: ")
    assert not (tmp_path / "out").exists()


# --------------------------------------------------------------------------- #
# list, plot, usage
# --------------------------------------------------------------------------- #


def test_list(capsys):
    assert main(["list"]) == 0
    out, _ = capsys.readouterr()
    for word in ("codecs", "raw", "jpeg", "jpeg2000", "channel models", "awgn", "rayleigh", "tdl",
                 "metrics", "ber", "psnr", "data sources", "digits28", "folder:<path>", "built-in"):
        assert word in out


def test_plot_missing_run_folder(tmp_path, capsys):
    missing = tmp_path / "no-such-run"
    assert main(["plot", str(missing)]) == 1
    out, err = capsys.readouterr()
    assert "Traceback" not in out + err
    text = _words(err)
    assert text.startswith("error: ")
    assert "results.csv does not exist" in text and "no-such-run" in text


def test_plot_folder_without_results(tmp_path, capsys):
    assert main(["plot", str(tmp_path)]) == 1
    _, err = capsys.readouterr()
    assert "results.csv does not exist" in _words(err)


def test_usage_errors_exit_2():
    with pytest.raises(SystemExit) as info:
        main([])
    assert info.value.code == 2
    with pytest.raises(SystemExit) as info:
        main(["frobnicate"])
    assert info.value.code == 2


# --------------------------------------------------------------------------- #
# plot: a results.csv that is not what it should be is one line naming the file (and the line), exit 2
# --------------------------------------------------------------------------- #

CSV_HEADER = "codec,channel,snr_db,metric,value,ci_low,ci_high,n"
CSV_ROWS = "raw,awgn,0,ber,0.1,0.05,0.2,100\nraw,awgn,10,ber,0.01,0.005,0.02,100\n"


def _run_dir(tmp_path: Path, content: bytes) -> Path:
    run = tmp_path / "run"
    run.mkdir()
    (run / "results.csv").write_bytes(content)
    return run


def test_plot_reads_a_csv_saved_with_a_byte_order_mark(tmp_path, capsys):
    run = _run_dir(tmp_path, ("\ufeff" + CSV_HEADER + "\n" + CSV_ROWS).encode())  # as spreadsheets save it
    assert main(["plot", str(run)]) == 0, capsys.readouterr().err
    assert (run / "plots" / "ber_vs_snr.png").is_file()


BAD_CSV = [
    ("short-row", CSV_HEADER + "\nraw,awgn,0,ber\n", "line 2: 4 fields, but the header has 8"),
    ("long-row", CSV_HEADER + "\n" + CSV_ROWS + "raw,awgn,20,ber,0.1,,,100,7\n", "line 4: 9 fields"),
    ("non-numeric-snr", CSV_HEADER + "\nraw,awgn,zero,ber,0.1,,,100\n", "line 2: snr_db 'zero' is not a number"),
    ("non-numeric-value", CSV_HEADER + "\n" + CSV_ROWS + "raw,awgn,20,ber,lots,,,100\n",
     "line 4: value 'lots' is not a number"),
    ("not-a-results-csv", "a,b,c\n1,2,3\n", "line 1: no column codec, channel, snr_db, metric, value"),
    ("empty", "", "empty file"),
    ("header-only", CSV_HEADER + "\n", "no rows"),
    ("not-utf-8", b"\xff\xfe\x00garbage\n", "not UTF-8"),
]


@pytest.mark.parametrize("content, expected", [c[1:] for c in BAD_CSV], ids=[c[0] for c in BAD_CSV])
def test_plot_of_a_bad_results_csv_is_one_line_exit_2(tmp_path, capsys, content, expected):
    run = _run_dir(tmp_path, content if isinstance(content, bytes) else content.encode())
    assert main(["plot", str(run)]) == 2
    out, err = capsys.readouterr()
    assert out == "" and len(err.splitlines()) == 1, err
    assert err.startswith(f"{run / 'results.csv'}: ") and expected in err, err
    assert not (run / "plots").exists() or not list((run / "plots").iterdir())


def test_plot_of_a_results_csv_that_is_not_a_file_is_one_line_exit_2(tmp_path, capsys):
    import os

    from reliability_support import time_bound

    run = tmp_path / "run"
    run.mkdir()
    os.mkfifo(run / "results.csv")  # a reader would wait for a writer forever
    with time_bound(60, "linksim plot on a named pipe"):
        assert main(["plot", str(run)]) == 2
    _, err = capsys.readouterr()
    assert len(err.splitlines()) == 1 and "not a regular file (a named pipe)" in err, err


def test_plot_with_nothing_to_draw_says_so(tmp_path, capsys):
    run = _run_dir(tmp_path, (CSV_HEADER + "\nraw,awgn,0,channel_uses,392,,,4\n").encode())
    assert main(["plot", str(run)]) == 0
    out, _ = capsys.readouterr()
    assert "no figure" in out


def test_plot_options_and_the_runs_outputs_section(tmp_path, capsys):
    """`linksim plot` takes the run's outputs: section, the command line on top; a bad option
    is one line, exit 2."""
    run = _run_dir(tmp_path, (CSV_HEADER + "\n" + CSV_ROWS).encode())
    (run / "scenario.yaml").write_text("outputs: {formats: [svg], dpi: 60}\n")
    (run / "figures.json").write_text('{"channel_titles": {"awgn": "AWGN"}, "targets": {}}')
    assert main(["plot", str(run)]) == 0, capsys.readouterr().err
    assert sorted(p.name for p in (run / "plots").iterdir()) == ["ber_vs_snr.svg"]
    assert main(["plot", str(run), "--format", "png", "pdf", "--dpi", "50", "--width", "3.5",
                 "--rc", "font.size=7"]) == 0
    assert {p.name for p in (run / "plots").iterdir()} == {"ber_vs_snr.svg", "ber_vs_snr.png", "ber_vs_snr.pdf"}
    from PIL import Image

    with Image.open(run / "plots" / "ber_vs_snr.png") as im:
        assert abs(im.size[0] - 3.5 * 50) <= 1
    capsys.readouterr()
    for bad, message in ((["--rc", "font.sizee=3"], "unknown matplotlib rc parameter 'font.sizee'"),
                         (["--rc", "nonsense"], "--rc: expected KEY=VALUE"),
                         (["--style", "no-such-style"], "unknown matplotlib style")):
        assert main(["plot", str(run), *bad]) == 2
        out, err = capsys.readouterr()
        assert message in _words(err) and "Traceback" not in out + err


def test_compare_two_runs(tmp_path, capsys):
    for name in ("a", "b"):
        (tmp_path / name).mkdir()
        (tmp_path / name / "results.csv").write_text(CSV_HEADER + "\n" + CSV_ROWS)
    out = tmp_path / "cmp"
    assert main(["compare", str(tmp_path / "a"), str(tmp_path / "b"), "--out", str(out), "--format", "svg",
                 "--name", "before", "--name", "after"]) == 0, capsys.readouterr().err
    assert [p.name for p in out.iterdir()] == ["ber_vs_snr.svg"]
    assert "before: raw" in (out / "ber_vs_snr.svg").read_text()
    capsys.readouterr()
    assert main(["compare", str(tmp_path / "a"), str(tmp_path / "b"), "--out", str(out), "--name", "x"]) == 2
    assert "--name: given 1 times for 2 runs" in _words(capsys.readouterr().err)
    assert main(["compare", str(tmp_path / "a"), str(tmp_path / "none"), "--out", str(out)]) == 1
