"""Issue 14, case 5: distances are bounded by the path-loss model's validity (free space
included) and the link budget's SNR by the same +-300 dB guard as ``sweep.snr_db``."""

from __future__ import annotations

import copy
import math

import pytest
import yaml

from linksim.cli import main
from linksim.phy.link_budget import LinkBudget
from linksim.phy.pathloss import SPEED_OF_LIGHT, PathlossModel, PathlossRangeError
from linksim.scenario import ScenarioError, validate_scenario

FREE_SPACE = {
    "name": "fs",
    "data": {"source": "digits28", "num_samples": 2, "batch_size": 2, "image_size": 8},
    "link_budget": {"tx_power_dbm": 23, "carrier_frequency_hz": 3.5e9, "bandwidth_hz": 20e6,
                    "pathloss": {"model": "free_space"}},
    "channels": [{"model": "awgn"}],
    "sweep": {"distance_m": [100]},
    "codecs": [{"name": "a", "type": "raw", "streams": {"data": {"path": "analog"}}}],
    "metrics": ["mse"],
}


def _problems(raw: dict) -> list[str]:
    with pytest.raises(ScenarioError) as info:
        validate_scenario(raw)
    return info.value.problems


def _with(distances=None, **budget) -> dict:
    raw = copy.deepcopy(FREE_SPACE)
    if distances is not None:
        raw["sweep"]["distance_m"] = distances
    raw["link_budget"].update(budget)
    return raw


def test_free_space_extremes_are_refused_naming_the_distance_field(tmp_path, capsys):
    """The issue's case: [1e-300, 1e308] m validated and ran at +6080 dB and -inf dB."""
    problems = _problems(_with([1e-300, 1e308]))
    assert problems and all(p.startswith("sweep.distance_m: ") for p in problems), problems
    assert any("1e-300 m" in p for p in problems) and any("1e+308 m" in p for p in problems), problems
    path = tmp_path / "s.yaml"
    path.write_text(yaml.safe_dump(_with([1e-300, 1e308])))
    for command in ("validate", "run", "budget"):
        assert main([command, str(path), *(["--out", str(tmp_path / "out"), "--quiet"] if command == "run" else [])]) == 2
        err = capsys.readouterr().err
        assert err.startswith("sweep.distance_m: ") and "Traceback" not in err
    assert not (tmp_path / "out").exists()


def test_free_space_needs_the_far_field():
    wavelength = SPEED_OF_LIGHT / 3.5e9  # 8.6 cm
    validate_scenario(_with([wavelength * 1.001, 1.0, 1e4]))
    (p,) = _problems(_with([wavelength / 2]))
    assert p.startswith("sweep.distance_m: ") and "wavelength" in p, p
    model = PathlossModel("free_space")
    with pytest.raises(PathlossRangeError, match="wavelength"):
        model(wavelength / 2, 3.5e9)  # the formula itself refuses the near field
    assert model(wavelength, 3.5e9) == pytest.approx(20 * math.log10(4 * math.pi), abs=1e-9)


def test_free_space_has_a_maximum_distance():
    from linksim.phy.pathloss import FREE_SPACE_MAX_M

    (p,) = _problems(_with([FREE_SPACE_MAX_M * 10]))
    assert p.startswith("sweep.distance_m: ") and f"{FREE_SPACE_MAX_M:g}" in p, p
    with pytest.raises(PathlossRangeError):
        PathlossModel("free_space").check_distance(math.inf, 3.5e9)


def test_snr_beyond_300_db_is_refused_at_a_valid_distance():
    from linksim.phy.link_budget import MAX_ABS_SNR_DB

    # the strongest budget the fields allow: 100 dBm + 60 + 60 dBi, 1 Hz, 0 dB NF, 1 K
    hot = dict(tx_power_dbm=100, tx_antenna_gain_dbi=60, rx_antenna_gain_dbi=60, bandwidth_hz=1.0,
               noise_figure_db=0, temperature_k=1.0)
    (p,) = _problems(_with([1.0], **hot))
    assert p.startswith("sweep.distance_m: 1 m gives an SNR of ") and "300 dB" in p, p
    # a weak budget far away: below -300 dB
    (p,) = _problems(_with([1e15], tx_power_dbm=-100, carrier_frequency_hz=1e12, bandwidth_hz=1e12,
                           temperature_k=10000, noise_figure_db=100))
    assert p.startswith("sweep.distance_m: ") and "SNR of -" in p, p
    lb = validate_scenario(_with([100.0])).link_budget.budget()
    assert abs(lb.snr_db(100.0)) < MAX_ABS_SNR_DB
    lb.check_distance(100.0)


def test_link_budget_fields_that_only_make_sense_in_sane_units():
    for field, value in (("bandwidth_hz", 1e-300), ("carrier_frequency_hz", 1e-300)):
        problems = _problems(_with(**{field: value}))
        assert any(p.startswith(f"link_budget.{field}: ") for p in problems), (field, problems)


@pytest.mark.parametrize(("pathloss", "field"), [
    ({"model": "umi", "h_bs_m": 1.0, "h_ut_m": 1.0}, "link_budget.pathloss"),  # was a math domain error
    ({"model": "rma", "h_bs_m": 1e-300}, "link_budget.pathloss"),               # was an OverflowError
    ({"model": "rma", "h_ut_m": 20.0}, "link_budget.pathloss"),
])
def test_pathloss_heights_outside_the_models_range(pathloss, field):
    raw = _with([100.0])
    raw["link_budget"]["pathloss"] = pathloss
    problems = _problems(raw)
    assert any(p.startswith(field) for p in problems), problems


def test_budget_command_distance_option_is_bounded(tmp_path, capsys):
    path = tmp_path / "s.yaml"
    path.write_text(yaml.safe_dump(_with([100.0])))
    assert main(["budget", str(path), "--distance", "1e-300"]) == 2
    assert capsys.readouterr().err.startswith("--distance: ")


def test_link_budget_check_distance_is_the_one_rule():
    lb = LinkBudget(23, 0, 0, 0, 3.5e9, 20e6, 7, 290, PathlossModel("umi", los=False))
    with pytest.raises(PathlossRangeError, match="validity range"):
        lb.check_distance(5.0)
    lb.check_distance(100.0)
