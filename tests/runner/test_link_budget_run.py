"""Link budgets and bandwidth budgets through the scenario schema and the `linksim` command."""

from __future__ import annotations

import copy
import csv
from pathlib import Path

import h5py
import pytest
import yaml

from linksim.cli import main
from linksim.results import CSV_COLUMNS
from linksim.scenario import ScenarioError, validate_scenario

REPO = Path(__file__).resolve().parents[2]

LINK_BUDGET = {
    "tx_power_dbm": 23, "tx_antenna_gain_dbi": 8, "rx_antenna_gain_dbi": 0, "other_losses_db": 2,
    "carrier_frequency_hz": 3.5e9, "bandwidth_hz": 20.0e6, "noise_figure_db": 7, "temperature_k": 290,
    "pathloss": {"model": "umi", "los": False}, "shadowing_margin_db": 0,
}

TINY = {
    "name": "tiny-range",
    "seed": 5,
    "device": "cpu",
    "data": {"source": "digits28", "num_samples": 4, "batch_size": 4, "image_size": 8},
    "phy": {"ofdm": {"fft_size": 24, "num_ofdm_symbols": 14, "subcarrier_spacing_hz": 30.0e3,
                     "cyclic_prefix_length": 2, "pilot_ofdm_symbol_indices": [2, 11]}},
    "link_budget": LINK_BUDGET,
    "channels": [{"model": "awgn"}],
    "sweep": {"distance_m": [10, 100, 400]},
    "targets": {"psnr": 25, "mse": 0.01},
    "codecs": [
        {"name": "u8", "type": "raw", "streams": {"data": {"dtype": "uint8", "modulation": "qpsk", "code_rate": 0.5}}},
        {"name": "analog", "type": "raw", "streams": {"data": {"path": "analog"}}},
    ],
    "metrics": ["ber", "mse", "psnr"],
}


def _write(tmp_path: Path, raw: dict, name: str = "s.yaml") -> Path:
    path = tmp_path / name
    path.write_text(yaml.safe_dump(raw, sort_keys=False))
    return path


def _rows(path: Path) -> list[dict]:
    with open(path, newline="") as fh:
        return list(csv.DictReader(fh))


def _problems(raw: dict) -> list[str]:
    with pytest.raises(ScenarioError) as info:
        validate_scenario(raw)
    return info.value.problems


# --------------------------------------------------------------------------- #
# schema
# --------------------------------------------------------------------------- #


def test_distance_sweep_gives_each_point_the_budget_snr():
    sc = validate_scenario(copy.deepcopy(TINY))
    points = sc.sweep_points()
    assert [d for _, d in points] == [10, 100, 400]
    snrs = [s for s, _ in points]
    assert snrs == sorted(snrs, reverse=True)  # SNR falls with distance
    assert snrs[1] == pytest.approx(sc.link_budget.budget().snr_db(100.0), abs=1e-8)


@pytest.mark.parametrize(("mutate", "expected"), [
    (lambda r: r["sweep"].update(distance_m=[10, 6000]),
     "sweep.distance_m: 6000 m is outside UMi's validity range [10, 5000] m"),
    (lambda r: r["link_budget"].update(noise_figure_db=-3), "link_budget.noise_figure_db:"),
    (lambda r: r["link_budget"]["pathloss"].update(model="moon"), "link_budget.pathloss.model:"),
    (lambda r: r["link_budget"].update(bogus=1), "link_budget.bogus: unknown field"),
    (lambda r: r["link_budget"].pop("bandwidth_hz"), "link_budget.bandwidth_hz: missing required field"),
    (lambda r: r["link_budget"].update(carrier_frequency_hz=200e9), "link_budget: carrier_frequency_hz"),
    (lambda r: r.pop("link_budget"), "sweep.distance_m: a distance sweep needs a link_budget section"),
    (lambda r: r["sweep"].update(snr_db=[0, 10]), "sweep: give exactly one of snr_db and distance_m"),
    (lambda r: r["targets"].update(ssim=0.9), "targets.ssim: add 'ssim' to metrics"),
    (lambda r: r["targets"].update(ber=0.1), "targets.ber: not a fidelity metric"),
    (lambda r: r.update(budget={"bandwidth_hz": 1e6}), "budget: bandwidth_hz and duration_s go together"),
    (lambda r: r.update(budget={"bandwidth_hz": 1e6, "duration_s": 1e-6}), "budget: bandwidth_hz x duration_s"),
])
def test_invalid_link_budget_fields_name_the_field(mutate, expected):
    raw = copy.deepcopy(TINY)
    mutate(raw)
    problems = _problems(raw)
    assert any(p.startswith(expected) for p in problems), problems


def test_invalid_link_budget_exits_2(tmp_path, capsys):
    raw = copy.deepcopy(TINY)
    raw["link_budget"]["temperature_k"] = -1
    path = _write(tmp_path, raw)
    for command in ("run", "validate", "budget"):
        assert main([command, str(path)]) == 2
        err = capsys.readouterr().err
        assert err.startswith("link_budget.temperature_k:")


def test_bandwidth_budget_in_resource_elements():
    raw = copy.deepcopy(TINY)
    # 24 subcarriers of 30 kHz = 720 kHz; slot = 14 * 26 / (24 * 30e3) = 0.5056 ms; 12 data symbols x 24 = 288 data REs per slot
    raw["budget"] = {"bandwidth_hz": 720e3, "duration_s": 1.2e-3}
    assert validate_scenario(raw).budget_channel_uses() == 2 * 288
    raw["budget"] = {"bandwidth_hz": 360e3, "duration_s": 1.2e-3}
    assert validate_scenario(raw).budget_channel_uses() == 288
    raw["budget"] = {"channel_uses": 100}
    assert validate_scenario(raw).budget_channel_uses() == 100


def test_umi_channel_takes_los_and_carrier_from_the_link_budget():
    raw = copy.deepcopy(TINY)
    raw["channels"] = [{"model": "umi"}, {"model": "uma", "los": True, "carrier_frequency_hz": 2e9}]
    sc = validate_scenario(raw)
    umi, uma = sc.channel_params
    assert (umi.los, umi.carrier_frequency_hz, umi.label()) == (False, 3.5e9, "umi-nlos")
    assert (uma.los, uma.carrier_frequency_hz, uma.label()) == (True, 2e9, "uma-los")


# --------------------------------------------------------------------------- #
# linksim budget
# --------------------------------------------------------------------------- #


def test_budget_command_prints_the_table(tmp_path, capsys):
    assert main(["budget", str(_write(tmp_path, copy.deepcopy(TINY)))]) == 0
    out = capsys.readouterr().out
    for item in ("EIRP", "path loss (UMi NLoS)", "received power", "thermal noise density kT", "noise figure",
                 "noise power", "SNR = Es/N0 per resource element", "Eb/N0 u8/data (qpsk, r=0.5)"):
        assert item in out, item
    assert "100 m" in out and "400 m" in out
    assert "-173.98" in out  # kT at 290 K [dBm/Hz]
    assert "31.00" in out  # EIRP = 23 + 8 dBm


def test_budget_command_on_the_shipped_scenario(capsys):
    assert main(["budget", str(REPO / "scenarios" / "link_budget_umi.yaml"), "--distance", "250"]) == 0
    out = capsys.readouterr().out
    assert "250 m" in out and "bandwidth budget: 6048 resource elements per sample" in out
    # the geometry behind the path loss, and the grid's bandwidth against the budget's
    for item in ("BS height h_BS", "UT height h_UT", "d_3D", "breakpoint distance", "path loss formula", "NLoS"):
        assert item in out, item
    assert "the simulated grid spans 2.16 MHz" in " ".join(out.split())


def test_budget_command_without_link_budget_exits_2(tmp_path, capsys):
    raw = copy.deepcopy(TINY)
    raw.pop("link_budget")
    raw["sweep"] = {"snr_db": [0]}
    raw.pop("targets")
    assert main(["budget", str(_write(tmp_path, raw))]) == 2
    assert capsys.readouterr().err.startswith("link_budget:")


# --------------------------------------------------------------------------- #
# linksim run over distance
# --------------------------------------------------------------------------- #


@pytest.fixture(scope="module")
def distance_run(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("range")
    scenario = _write(tmp, copy.deepcopy(TINY))
    out = tmp / "out"
    assert main(["run", str(scenario), "--out", str(out), "--quiet"]) == 0
    return scenario, out


def test_distance_sweep_writes_distance_column_last(distance_run):
    _, out = distance_run
    with open(out / "results.csv", newline="") as fh:
        assert next(csv.reader(fh)) == CSV_COLUMNS + ["distance_m"]
    rows = _rows(out / "results.csv")
    assert {float(r["distance_m"]) for r in rows} == {10.0, 100.0, 400.0}
    snr = {float(r["distance_m"]): float(r["snr_db"]) for r in rows}
    assert snr[10.0] > snr[100.0] > snr[400.0]
    psnr = {float(r["distance_m"]): float(r["value"]) for r in rows if r["codec"] == "analog" and r["metric"] == "psnr"}
    assert psnr[10.0] > psnr[400.0]
    assert (out / "plots" / "psnr_vs_distance.png").exists()
    with h5py.File(out / "results.h5") as f:
        assert len(f["points"]) == 2 * 3
        assert all("distance_m" in g.attrs for g in f["points"].values())


def test_range_table(distance_run):
    _, out = distance_run
    rows = _rows(out / "range.csv")
    assert list(rows[0]) == ["codec", "channel", "metric", "target", "max_distance_m", "snr_db", "value", "range_m",
                             "range_low_m", "range_high_m", "crossing", "monotone"]
    by = {(r["codec"], r["metric"]): r for r in rows}
    assert set(by) == {(c, m) for c in ("u8", "analog") for m in ("psnr", "mse")}
    # 10 m is at ~50 dB: every codec meets PSNR 25 there; 400 m is below 0 dB: neither does
    for c in ("u8", "analog"):
        r = by[(c, "psnr")]
        assert float(r["max_distance_m"]) in (10.0, 100.0)
        assert float(by[(c, "mse")]["value"]) <= 0.01  # "meets" means <= for mse
        # the interpolated range lies between the last passing and the first failing distance
        assert r["crossing"] == "crossed" and r["monotone"] == "true"
        assert float(r["max_distance_m"]) <= float(r["range_m"]) <= {10.0: 100.0, 100.0: 400.0}[float(r["max_distance_m"])]


def test_distance_sweep_resumes(distance_run, capsys):
    scenario, out = distance_run
    before = (out / "results.csv").read_text()
    capsys.readouterr()
    assert main(["run", str(scenario), "--out", str(out)]) == 0
    text = capsys.readouterr().out
    assert "0 points simulated, 6 resumed" in text
    assert "range meeting each target" in text and "largest passing distance" in text
    assert (out / "results.csv").read_text() == before
    # a changed link budget changes every point's SNR: all recomputed (the old points stay in results.h5)
    raw = yaml.safe_load(scenario.read_text())
    raw["link_budget"]["tx_power_dbm"] = 30
    changed = _write(scenario.parent, raw, "changed.yaml")
    with pytest.warns(RuntimeWarning, match="6 points kept in results.h5 that this scenario does not ask for"):
        assert main(["run", str(changed), "--out", str(out), "--quiet"]) == 0
    assert "6 points simulated, 0 resumed" in capsys.readouterr().out


# --------------------------------------------------------------------------- #
# bandwidth budgets: fit, adapt, or be reported infeasible
# --------------------------------------------------------------------------- #


def test_budget_too_small_is_infeasible_not_a_crash(tmp_path, capsys):
    raw = copy.deepcopy(TINY)
    raw["sweep"] = {"snr_db": [20]}
    raw.pop("link_budget")
    raw.pop("targets")
    raw["codecs"].append({"name": "jpg", "type": "jpeg"})
    # 8x8 grey image: u8 needs 64*8 bits -> ~544 REs at QPSK 1/2; analog 32 REs; jpeg fits nowhere near 40 REs
    raw["budget"] = {"channel_uses": 40}
    out = tmp_path / "out"
    assert main(["run", str(_write(tmp_path, raw)), "--out", str(out)]) == 0
    text = capsys.readouterr().out
    assert "INFEASIBLE" in text and "fits" in text
    by = {(r["codec"], r["metric"]): r for r in _rows(out / "results.csv")}
    assert float(by[("u8", "infeasible")]["value"]) == 1.0
    assert ("u8", "ber") not in by  # not simulated over budget
    assert float(by[("analog", "infeasible")]["value"]) == 0.0
    assert ("analog", "mse") in by
    assert float(by[("jpg", "infeasible")]["value"]) == 1.0
    assert float(by[("jpg", "over_budget_rate")]["value"]) == 1.0  # tried to adapt, could not


def test_jpeg_adapts_to_the_budget(tmp_path):
    raw = copy.deepcopy(TINY)
    raw["sweep"] = {"snr_db": [30]}
    raw.pop("link_budget")
    raw.pop("targets")
    raw["data"]["image_size"] = 28
    raw["codecs"] = [{"name": "j2k", "type": "jpeg2000"}]  # default 1:20 would need fewer REs than the budget
    raw["budget"] = {"bandwidth_hz": 720e3, "duration_s": 4e-3}  # 7 slots x 288 = 2016 REs
    out = tmp_path / "out"
    assert main(["run", str(_write(tmp_path, raw)), "--out", str(out), "--quiet"]) == 0
    by = {(r["codec"], r["metric"]): r for r in _rows(out / "results.csv")}
    assert float(by[("j2k", "infeasible")]["value"]) == 0.0
    assert float(by[("j2k", "over_budget_rate")]["value"]) == 0.0
    uses = float(by[("j2k", "channel_uses")]["value"])
    assert 0.5 * 2016 < uses <= 2016  # the budget became the target: it uses most of it, never more


def test_the_report_shows_the_link_budget(distance_run):
    _, out = distance_run
    page = (out / "report.html").read_text()
    assert "<h2>Link budget</h2>" in page and "d_3D" in page and "SNR = Es/N0 per resource element" in page
    assert "Range meeting each target (range.csv)" in page
