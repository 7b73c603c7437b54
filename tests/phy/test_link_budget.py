"""Path loss (free space, TR 38.901 UMi / UMa / RMa), thermal noise, link and bandwidth budgets."""

from __future__ import annotations

import itertools
import math

import pytest

from linksim.phy.link_budget import LinkBudget, budget_channel_uses, thermal_noise_dbm
from linksim.phy.pathloss import PathlossModel, PathlossRangeError, free_space_db


def test_thermal_noise_in_1_hz_at_290_k():
    assert thermal_noise_dbm(1.0, 290.0) == pytest.approx(-174.0, abs=0.05)
    assert thermal_noise_dbm(20e6, 290.0) == pytest.approx(-174.0 + 73.01, abs=0.05)


def test_free_space_at_1_km_1_ghz():
    assert free_space_db(1000.0, 1e9) == pytest.approx(92.45, abs=0.05)
    # +20 dB per decade of distance and of frequency
    assert free_space_db(10_000.0, 1e9) - free_space_db(1000.0, 1e9) == pytest.approx(20.0, abs=1e-9)
    assert free_space_db(1000.0, 10e9) - free_space_db(1000.0, 1e9) == pytest.approx(20.0, abs=1e-9)


def test_umi_los_below_breakpoint_by_hand():
    # d'BP = 4 * 9 * 0.5 * 3.5e9 / c = 210.1 m; d3D = sqrt(50^2 + 8.5^2) = 50.7174 m
    # PL1 = 32.4 + 21 * log10(50.7174) + 20 * log10(3.5) = 32.4 + 35.8084 + 10.8814
    assert PathlossModel("umi", los=True)(50.0, 3.5e9) == pytest.approx(79.0898, abs=0.01)


# Reference values from the TR 38.901 Table 7.4.1-1 formulas, computed independently
# (Sionna 2.2's tr38901 scenario classes, basic path loss of a one-BS/one-UT topology,
# default heights, h_UT = 1.5 m): (model, d2D [m], fc [Hz], LoS, PL [dB]).
# Breakpoints: UMi 210 m at 3.5 GHz, 1681 m at 28 GHz; UMa 560 m at 3.5 GHz; RMa 3851 m at 3.5 GHz.
REFERENCE = [
    ("umi", 50, 3.5e9, True, 79.0897),     # LoS below the breakpoint
    ("umi", 1000, 3.5e9, True, 119.1474),  # LoS above
    ("umi", 500, 28e9, True, 118.0229),    # LoS below, mmWave
    ("umi", 20, 3.5e9, False, 81.1878),
    ("umi", 100, 3.5e9, False, 104.6438),
    ("umi", 2000, 6e9, False, 155.5011),
    ("uma", 200, 3.5e9, True, 89.5695),
    ("uma", 2000, 3.5e9, True, 121.4441),
    ("uma", 100, 2e9, False, 98.1768),
    ("uma", 1000, 28e9, False, 159.7278),
    ("rma", 1000, 3.5e9, True, 105.4596),
    ("rma", 8000, 3.5e9, True, 134.1314),
    ("rma", 10, 3.5e9, False, 74.2804),    # NLoS = LoS at 10 m (max rule)
    ("rma", 500, 0.8e9, False, 106.0031),
    ("rma", 3000, 3.5e9, False, 148.8487),
]


@pytest.mark.parametrize(("model", "d", "fc", "los", "expected"), REFERENCE)
def test_tr38901_against_reference(model, d, fc, los, expected):
    assert PathlossModel(model, los=los)(float(d), fc) == pytest.approx(expected, abs=0.01)


@pytest.mark.parametrize("model", ["umi", "uma", "rma"])
def test_nlos_is_max_of_los_and_nlos_prime(model):
    for d in (10, 30, 100, 300, 1000, 4000):
        assert PathlossModel(model, los=False)(d, 3.5e9) >= PathlossModel(model, los=True)(d, 3.5e9) - 1e-9


@pytest.mark.parametrize(("model", "los", "hi"), [("umi", False, 5000), ("uma", True, 5000), ("rma", True, 10000),
                                                   ("rma", False, 5000)])
def test_validity_ranges(model, los, hi):
    m = PathlossModel(model, los=los)
    m(10.0, 3.5e9)
    m(float(hi), 3.5e9)
    for bad in (9.9, hi + 1.0):
        with pytest.raises(PathlossRangeError, match=rf"validity range \[10, {hi}\] m"):
            m(bad, 3.5e9)


def test_height_override_changes_the_breakpoint():
    # h_BS = 20 m moves UMi's LoS breakpoint from 210 m to 443 m: 300 m is then PL1
    pl = PathlossModel("umi", los=True, h_bs_m=20.0)(300.0, 3.5e9)
    d3 = math.hypot(300.0, 18.5)
    assert pl == pytest.approx(32.4 + 21 * math.log10(d3) + 20 * math.log10(3.5), abs=1e-9)


def _budget(**kw) -> LinkBudget:
    base = dict(tx_power_dbm=23, tx_antenna_gain_dbi=8, rx_antenna_gain_dbi=0, other_losses_db=2,
                carrier_frequency_hz=3.5e9, bandwidth_hz=20e6, noise_figure_db=7, temperature_k=290,
                pathloss=PathlossModel("umi", los=False), shadowing_margin_db=0)
    return LinkBudget(**{**base, **kw})


def test_budget_arithmetic():
    lb = _budget(shadowing_margin_db=3)
    d = 100.0
    expected = 23 + 8 - lb.pathloss_db(d) - 3 - 2 + 0 - (thermal_noise_dbm(20e6) + 7)
    assert lb.snr_db(d) == pytest.approx(expected, abs=1e-9)
    assert lb.noise_dbm == pytest.approx(-93.96, abs=0.01)
    rows = {item: value for item, value, _ in lb.table(d, {"x": (4, 0.5)})}
    assert float(rows["SNR = Es/N0 per resource element"]) == pytest.approx(lb.snr_db(d), abs=0.01)
    assert float(rows["Eb/N0 x"]) == pytest.approx(lb.snr_db(d) - 10 * math.log10(2), abs=0.01)


def test_snr_falls_monotonically_with_distance():
    for pl in (PathlossModel("free_space"), PathlossModel("umi"), PathlossModel("uma", los=True), PathlossModel("rma")):
        lb = _budget(pathloss=pl, carrier_frequency_hz=3.5e9)
        snrs = [lb.snr_db(d) for d in (10, 20, 50, 100, 200, 500, 1000, 2000, 5000)]
        assert all(a > b for a, b in itertools.pairwise(snrs))


def test_bandwidth_budget_formula():
    # 72 subcarriers x 30 kHz, 14 symbols, cp 6, 2 pilot symbols: 864 data REs per slot,
    # T_slot = 14 * 78 / (72 * 30e3) = 0.50556 ms
    slot = 14 * 78 / (72 * 30e3)
    assert budget_channel_uses(2.16e6, 4e-3, 864, 72, 30e3, slot) == 7 * 864
    assert budget_channel_uses(1.08e6, 4e-3, 864, 72, 30e3, slot) == 7 * 864 // 2  # half the subcarriers
    assert budget_channel_uses(2.16e6, slot, 864, 72, 30e3, slot) == 864  # exactly one slot
    assert budget_channel_uses(2.16e6, 0.9 * slot, 864, 72, 30e3, slot) == 0


def test_geometry_behind_the_path_loss():
    """d3D, the breakpoint and the branch the budget prints (TR 38.901 Table 7.4.1-1)."""
    import math

    from linksim.phy.pathloss import PathlossModel

    umi_los = PathlossModel("umi", los=True)
    fc = 3.5e9
    bp = umi_los.breakpoint_m(fc)
    assert math.isclose(bp, 4 * 9.0 * 0.5 * fc / 299_792_458.0)  # h' = h - 1 m: 9 m and 0.5 m
    assert math.isclose(umi_los.d3d_m(100.0), math.hypot(100.0, 8.5))
    assert umi_los.branch(bp * 0.9, fc) == "LoS PL1" and umi_los.branch(bp * 1.1, fc) == "LoS PL2"
    nlos = PathlossModel("umi", los=False)
    assert nlos.branch(100.0, fc) == "NLoS"
    # the NLoS formula never goes below LoS: where max() picks LoS, the budget says so
    assert any(nlos.branch(d, fc).startswith("NLoS = LoS") for d in (10.0, 11.0, 12.0, 15.0)) or \
        all(nlos(d, fc) > umi_los(d, fc) for d in (10.0, 11.0, 12.0, 15.0))
    rma = PathlossModel("rma", los=True)
    assert math.isclose(rma.breakpoint_m(fc), 2 * math.pi * 35.0 * 1.5 * fc / 299_792_458.0)
    assert PathlossModel("free_space").breakpoint_m(fc) is None and PathlossModel("free_space").branch(10, fc) == "free space"
