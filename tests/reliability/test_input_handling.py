"""What a user can hand linksim by mistake: files that are no scenario at all (a device, a pipe,
a huge file), YAML that says one thing twice, numbers that are not numbers (``true``, NaN,
infinities), data folders that link to devices, and a run told to stop (SIGTERM).

Each case is one line naming what is wrong, exit 2 (or 143 for SIGTERM), promptly.
"""

from __future__ import annotations

import contextlib
import copy
import io
import os
import signal
import subprocess
import sys
import time
import warnings
from pathlib import Path

import numpy as np
import pytest
import yaml
from PIL import Image
from reliability_support import Hang, time_bound

from linksim.cli import main
from linksim.scenario import ScenarioError, load_scenario, parse_yaml, validate_scenario
from linksim.scenario.yaml_loader import MAX_SCENARIO_BYTES

REPO = Path(__file__).resolve().parents[2]
QUICKSTART = (REPO / "scenarios" / "quickstart.yaml").read_text()

BASE = {
    "name": "t",
    "seed": 1,
    "data": {"source": "digits28", "num_samples": 8, "batch_size": 4},
    "phy": {"ofdm": {"pilot_ofdm_symbol_indices": [2, 11]}},
    "channels": [{"model": "awgn"}, {"model": "tdl", "profile": "A"}],
    "sweep": {"snr_db": [0, 10]},
    "codecs": [
        {"name": "raw-f32", "type": "raw", "params": {"value_range": [0.0, 1.0]},
         "streams": {"data": {"dtype": "float32", "code_rate": 0.5}}},
        {"name": "raw-analog", "type": "raw", "streams": {"data": {"path": "analog"}}},
        {"name": "j2k", "type": "jpeg2000", "params": {"compression_ratio": 20}},
    ],
    "metrics": ["ber", "mse", "psnr"],
    "targets": {"psnr": 20},
}
MARK = "@@value@@"


def _text_with(path: str, literal: str, doc: dict | None = None) -> str:
    """YAML text of ``doc`` (default BASE) with the value at ``path`` (``a.b[1].c``) written as ``literal``."""
    doc = copy.deepcopy(BASE if doc is None else doc)
    keys = path.replace("[", ".").replace("]", "").split(".")
    node = doc
    for k in keys[:-1]:
        node = node[int(k)] if k.isdigit() else node.setdefault(k, {})
    node[int(keys[-1]) if keys[-1].isdigit() else keys[-1]] = MARK
    return yaml.safe_dump(doc, sort_keys=False).replace(f"'{MARK}'", literal)


def _problems(text: str) -> list[str]:
    with pytest.raises(ScenarioError) as info:
        validate_scenario(parse_yaml(text))
    return info.value.problems


def _cli(args: list[str], seconds: int = 120) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err), time_bound(seconds, " ".join(args)):
        rc = main(args)
    return rc, out.getvalue(), err.getvalue()


def _quick(fn, seconds: float):
    """``fn()``'s ScenarioError problems; fails if it takes longer than ``seconds`` (a hang included)."""
    t0 = time.perf_counter()
    try:
        with time_bound(int(seconds) + 10, fn.__name__), pytest.raises(ScenarioError) as info:
            fn()
    except Hang as e:
        raise AssertionError(str(e)) from None
    elapsed = time.perf_counter() - t0
    assert elapsed < seconds, f"took {elapsed:.1f} s"
    return info.value.problems


# --------------------------------------------------------------------------------------------
# 10. files that are no scenario: refused at once, before anything is read
# --------------------------------------------------------------------------------------------


def _special(kind: str, tmp_path: Path) -> Path:
    if kind == "device":
        return Path("/dev/zero")
    if kind == "fifo":  # opening a pipe for reading waits for a writer: it must not be opened
        os.mkfifo(tmp_path / "pipe.yaml")
        return tmp_path / "pipe.yaml"
    if kind == "folder":
        (tmp_path / "dir.yaml").mkdir()
        return tmp_path / "dir.yaml"
    (tmp_path / "zero.yaml").symlink_to("/dev/zero")
    return tmp_path / "zero.yaml"


@pytest.mark.parametrize("kind, what", [("device", "character device"), ("fifo", "named pipe"),
                                        ("folder", "folder"), ("link-to-device", "character device")])
def test_a_path_that_is_not_a_regular_file_is_refused_at_once(tmp_path, kind, what):
    path = _special(kind, tmp_path)
    (line,) = _quick(lambda: load_scenario(path), 2)
    assert line.startswith("(file): ") and str(path) in line and "not a regular file" in line and what in line, line


def test_dev_zero_through_the_cli_is_one_line_exit_2():
    rc, out, err = _cli(["validate", "/dev/zero"])
    assert rc == 2 and out == "" and len(err.splitlines()) == 1 and "not a regular file" in err, err


def test_a_file_over_the_size_limit_is_refused_before_parsing(tmp_path):
    path = tmp_path / "big.yaml"
    path.write_text("# " + "x" * (2 * MAX_SCENARIO_BYTES) + "\n" + QUICKSTART)
    (line,) = _quick(lambda: load_scenario(path), 0.5)
    assert line.startswith("(file): ") and "at most 1 MB" in line, line
    (line,) = _quick(lambda: parse_yaml(path.read_text()), 0.5)  # text handed over directly: the same limit
    assert line.startswith("(file): ") and "at most 1 MB" in line, line


def test_a_file_just_under_the_limit_is_read(tmp_path):
    path = tmp_path / "commented.yaml"
    path.write_text(QUICKSTART + "# " + "x" * (MAX_SCENARIO_BYTES - len(QUICKSTART) - 100) + "\n")
    assert load_scenario(path).name == "quickstart"


def test_a_mapping_with_too_many_keys_is_refused_fast(tmp_path):
    path = tmp_path / "keys.yaml"
    path.write_text(QUICKSTART + "".join(f"k{i}: 1\n" for i in range(60_000)))  # ~0.5 MB, under the size limit
    (line,) = _quick(lambda: load_scenario(path), 5)
    assert line.startswith("(top level): ") and "keys" in line and "alias" not in line, line


def test_a_huge_snr_list_names_sweep_snr_db(tmp_path):
    path = tmp_path / "snr.yaml"
    points = ", ".join(str(i % 300) for i in range(100_000))
    path.write_text(QUICKSTART.replace("snr_db: {start: 0, stop: 20, step: 5}", f"snr_db: [{points}]"))
    (line,) = _quick(lambda: load_scenario(path), 5)
    assert line.startswith("sweep.snr_db: ") and "alias" not in line, line


def test_many_lists_together_are_refused_fast(tmp_path):
    path = tmp_path / "lists.yaml"
    path.write_text(QUICKSTART + "".join(f"x{i}: [" + ", ".join(["0"] * 5000) + "]\n" for i in range(60)))
    (line,) = _quick(lambda: load_scenario(path), 5)
    assert line.startswith("(file): ") and "values" in line and "alias" not in line, line


# --------------------------------------------------------------------------------------------
# 11. duplicate keys, booleans and non-finite numbers
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("text, path, again", [
    (QUICKSTART + "seed: 8\n", "seed", "seed: 8"),
    (QUICKSTART.replace("  batch_size: 32\n", "  batch_size: 32\n  num_samples: 3\n"), "data.num_samples",
     "  num_samples: 3"),
    (QUICKSTART.replace("  - name: raw-analog\n", "  - name: raw-analog\n    name: other\n"), "codecs[1].name",
     "    name: other"),
    (QUICKSTART.replace("{model: awgn}", "{model: awgn, model: rayleigh}"), "channels[0].model", "  - {model: awgn"),
], ids=["top-level", "nested", "in-a-list", "flow-mapping"])
def test_a_duplicate_key_is_an_error_naming_the_key_and_its_line(tmp_path, text, path, again):
    file = tmp_path / "dup.yaml"
    file.write_text(text)
    line = text.splitlines().index(next(t for t in text.splitlines() if t.startswith(again))) + 1
    problems = _quick(lambda: load_scenario(file), 5)
    (problem,) = [p for p in problems if "duplicate" in p]
    assert problem.startswith(f"{path}: duplicate key") and f"line {line}" in problem, problems


def test_a_merge_key_may_still_be_overridden():
    text = "x-link: &link {path: digital, dtype: float32, modulation: qam16, code_rate: 0.75}\n" + QUICKSTART.replace(
        "      data: {path: digital, dtype: float32, modulation: qam16, code_rate: 0.5}",
        "      data: {<<: *link, code_rate: 0.5}")
    raw = parse_yaml(text)
    raw.pop("x-link")
    assert validate_scenario(raw).transports[0]["data"].code_rate == 0.5


NUMBER_FIELDS = [
    "seed", "data.num_samples", "data.batch_size", "sweep.snr_db[1]", "sweep.max_samples",
    "phy.ofdm.fft_size", "phy.ofdm.subcarrier_spacing_hz", "phy.ofdm.pilot_ofdm_symbol_indices[0]",
    "codecs[0].streams.data.code_rate", "codecs[0].streams.data.ldpc_iterations",
    "channels[1].speed_mps", "codecs[2].params.compression_ratio", "targets.psnr", "budget.channel_uses",
]


@pytest.mark.parametrize("literal", ["true", "false"])
@pytest.mark.parametrize("path", NUMBER_FIELDS)
def test_a_boolean_is_not_a_number(path, literal):
    problems = _problems(_text_with(path, literal))
    assert any(p.startswith(f"{path}: must be a number, not a boolean") for p in problems), problems


def test_a_boolean_in_an_snr_range_is_not_a_number():
    problems = _problems(_text_with("sweep.snr_db", "{start: true, stop: 10, step: 5}"))
    assert problems == ["sweep.snr_db.start: must be a number, not a boolean (true)"], problems


def test_booleans_are_still_fine_where_a_switch_is_meant():
    doc = copy.deepcopy(BASE)
    doc["sweep"]["skip_error_free"] = True
    assert validate_scenario(parse_yaml(yaml.safe_dump(doc))).sweep.skip_error_free is True


def test_the_number_check_leaves_alone_what_a_field_admits():
    from typing import Any, Literal

    from linksim.scenario.schema import number_problems

    assert number_problems(int | Literal["auto"], True) == [((), "must be a number, not a boolean (true)")]
    assert number_problems(Literal[True, 3] | int, True) == []  # a field that names the boolean
    assert number_problems(bool | float, False) == []
    assert number_problems(float | str, "nan") == []  # a string field may hold the text nan
    assert number_problems(Any, float("nan")) == [] and number_problems(dict[str, Any], {"a": True}) == []
    assert number_problems(tuple[float, float], [0, "1e999"]) == [((1,), "must be a finite number")]
    assert number_problems(float, "30e3") == []  # PyYAML's string for 30e3: still a number


NON_FINITE = [
    ("sweep.snr_db.start", "nan", "{start: nan, stop: 10, step: 5}", "sweep.snr_db"),
    ("sweep.snr_db.stop", ".inf", "{start: 0, stop: .inf, step: 5}", "sweep.snr_db"),
    ("sweep.snr_db[0]", ".nan", None, None),
    ("data.num_samples", ".nan", None, None),
    ("seed", ".inf", None, None),
    ("phy.ofdm.subcarrier_spacing_hz", ".nan", None, None),
    ("phy.ofdm.subcarrier_spacing_hz", "-.inf", None, None),
    ("targets.psnr", ".nan", None, None),
    ("targets.psnr", "nan", None, None),
    ("codecs[0].streams.data.code_rate", ".nan", None, None),
    ("channels[1].delay_spread_s", "1e999", None, None),
    ("codecs[0].params.value_range[1]", ".inf", None, None),
]


@pytest.mark.parametrize("path, literal, whole, at", NON_FINITE,
                         ids=[f"{c[0]}={c[1]}" for c in NON_FINITE])
def test_a_non_finite_number_must_be_finite(path, literal, whole, at):
    text = _text_with(at, whole) if whole else _text_with(path, literal)
    problems = _problems(text)
    assert f"{path}: must be a finite number" in problems, problems
    assert not any("cannot convert" in p or "should be" in p for p in problems), problems


# --------------------------------------------------------------------------------------------
# 14. a symbolic link to a device in a data folder; warnings as one line
# --------------------------------------------------------------------------------------------


def _images(folder: Path, n: int) -> None:
    folder.mkdir(exist_ok=True)
    rng = np.random.default_rng(0)
    for i in range(n):
        Image.fromarray(rng.integers(0, 256, (16, 16, 3), dtype=np.uint8)).save(folder / f"img{i}.png")


def test_a_link_to_a_device_in_a_data_folder_is_named_for_what_it_is(tmp_path):
    from linksim.data import DataWarning, load_dataset

    _images(tmp_path, 2)
    (tmp_path / "zero.png").symlink_to("/dev/zero")
    (tmp_path / "gone.png").symlink_to(tmp_path / "missing.png")
    with warnings.catch_warnings(record=True) as rec:
        warnings.simplefilter("always")
        with time_bound(30, "loading a folder with a link to /dev/zero"):
            load_dataset(f"folder:{tmp_path}", 2)
    messages = [str(w.message) for w in rec if issubclass(w.category, DataWarning)]
    (zero,) = [m for m in messages if "zero.png" in m]
    assert "broken" not in zero and "not a regular file" in zero and "character device" in zero, zero
    (gone,) = [m for m in messages if "gone.png" in m]
    assert "broken symbolic link" in gone, gone


def test_a_warning_is_one_line(tmp_path):
    data = tmp_path / "data"
    _images(data, 1)
    (data / "notes.txt").write_text("not an image\n")
    scenario = tmp_path / "s.yaml"
    scenario.write_text(f"name: s\ndata: {{source: 'folder:{data}', num_samples: 1}}\nchannels: [{{model: awgn}}]\n"
                        "sweep: {snr_db: [10]}\ncodecs: [{name: a, type: raw}]\nmetrics: [mse]\n")
    # a real process: inside pytest, warnings are recorded by pytest instead of printed
    done = subprocess.run([sys.executable, "-m", "linksim", "validate", str(scenario)], capture_output=True,
                          text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    lines = done.stderr.splitlines()
    assert lines == [f"warning: skipped {data / 'notes.txt'}: not an image file (extension '.txt')"], lines


# --------------------------------------------------------------------------------------------
# 14. SIGTERM during a run: like Ctrl-C, finished points kept, exit 143 with one line
# --------------------------------------------------------------------------------------------

RUN = """\
name: term
seed: 3
device: cpu
data: {source: digits28, num_samples: 4, batch_size: 2, image_size: 12}
channels: [{model: awgn}]
sweep: {snr_db: [0, 5, 10, 15, 20, 25, 30, 35]}
codecs:
  - {name: f16, type: raw, streams: {data: {dtype: float16, code_rate: 0.5, nonfinite: zero}}}
  - {name: analog, type: raw, streams: {data: {path: analog}}}
metrics: [ber, mse]
"""


@pytest.mark.slow
def test_sigterm_keeps_finished_points_and_exits_143_with_one_line(tmp_path):
    from linksim.results import ResultStore

    scenario, out = tmp_path / "s.yaml", tmp_path / "out"
    scenario.write_text(RUN)
    proc = subprocess.Popen([sys.executable, "-m", "linksim", "run", str(scenario), "--out", str(out), "--quiet"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=os.environ.copy())
    journal = out / "results.h5.journal"
    deadline = time.monotonic() + 300
    while not (journal.is_dir() and list(journal.glob("p_*.h5"))) and proc.poll() is None:
        assert time.monotonic() < deadline, "no point finished within 300 s"
        time.sleep(0.01)
    if proc.poll() is not None:
        pytest.skip("the run finished before it could be stopped")
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 143, (proc.returncode, err)
    assert len(err.splitlines()) == 1 and err.startswith("terminated") and "resume" in err, err
    assert "Traceback" not in err
    assert len(ResultStore(out / "results.h5").finished()) >= 1
    assert not (out / ".linksim.lock").exists()
