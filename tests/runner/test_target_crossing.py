"""Where a swept metric crosses a target (linksim.runner.target_crossing)."""

from __future__ import annotations

import math

import pytest

from linksim.runner.target_crossing import ALWAYS, CROSSED, NEVER, crossing

NAN = math.nan


def test_range_is_interpolated_in_log_distance_with_its_interval():
    # PSNR 30 at 100 m, 20 at 1000 m: target 25 is crossed half-way in log-distance (316 m)
    c = crossing([10, 100, 1000], [35, 30, 20], [34, 29, 18], [36, 31, 22], 25.0, True, log_x=True, log_y=False)
    assert c.status == CROSSED and c.monotone
    assert math.isclose(c.at, 10 ** 2.5, rel_tol=1e-12)
    # the lower bound (29 -> 18) crosses first, at 10^(2 + 4/11); the upper (31 -> 22) last
    assert math.isclose(c.low, 10 ** (2 + 4 / 11), rel_tol=1e-12)
    assert math.isclose(c.high, 10 ** (2 + 6 / 9), rel_tol=1e-12)
    assert c.low < c.at < c.high


def test_required_snr_walks_down_from_the_highest_snr():
    # SNRs given easy end first (descending); BER-like metric: lower is better, on a log scale
    c = crossing([20, 10, 0], [1e-6, 1e-4, 1e-2], [NAN, 1e-5, 5e-3], [NAN, 1e-3, 2e-2], 1e-3, False,
                 log_x=False, log_y=True)
    assert c.status == CROSSED and math.isclose(c.at, 5.0, rel_tol=1e-12)  # half-way in log10(BER)
    # the optimistic bound (lower BER) needs less SNR: it is the interval's low end
    assert c.low < c.at < c.high


def test_always_never_non_monotone_and_infeasible():
    assert crossing([1, 2], [30, 30], [None, None], [None, None], 25, True, log_x=True, log_y=False).status == ALWAYS
    never = crossing([1, 2], [20, 10], [None, None], [None, None], 25, True, log_x=True, log_y=False)
    assert never.status == NEVER and never.at is None and never.low == 0.0 and never.high == 0.0
    wobble = crossing([1, 2, 3, 4], [30, 20, 28, 10], [None] * 4, [None] * 4, 25, True, log_x=True, log_y=False)
    assert wobble.status == CROSSED and not wobble.monotone and 1 < wobble.at < 2
    # a point that does not fit the budget fails whatever its value
    c = crossing([1, 2, 3], [30, 30, 30], [None] * 3, [None] * 3, 25, True, log_x=True, log_y=False,
                 feasible=[True, False, True])
    assert c.status == CROSSED and not c.monotone and 1 <= c.at <= 2


@pytest.mark.parametrize("value", [NAN, math.inf])
def test_unplottable_values_cross_half_way(value):
    c = crossing([1, 100], [30, value], [None, None], [None, None], 25, True, log_x=True, log_y=False)
    if value != value:  # NaN never meets a target
        assert c.status == CROSSED and math.isclose(c.at, 10.0)
    else:  # inf meets it
        assert c.status == ALWAYS


def test_a_bound_that_does_not_cross_within_the_sweep_is_open():
    # distance: the upper CI bound meets the target everywhere -> the range may reach beyond
    c = crossing([10, 100], [30, 20], [29, 19], [40, 30], 25, True, log_x=True, log_y=False)
    assert c.status == CROSSED and c.high == math.inf and 10 < c.low < c.at < 100
    # SNR (descending): the lower bound never meets it -> the required SNR may exceed the sweep
    c = crossing([20, 10], [30, 20], [20, 10], [31, 21], 25, True, log_x=False, log_y=False)
    assert c.status == CROSSED and c.high == math.inf and 10 < c.low < c.at < 20
