"""Where a codec's fidelity crosses a target: the range of a distance sweep, the SNR a codec
needs in an SNR sweep.

A sweep measures the metric at a few points; a planner wants the distance (or SNR) where
it crosses the target. The points are walked from the easy end (the nearest distance, the
highest SNR) to the hard one; the crossing lies between the last point that meets the
target and the first that does not, interpolated linearly in log-distance (in dB for SNR)
and in the metric's own scale (log for MSE-like metrics, from the metric table). The same
is done with the two bounds of the metric's confidence interval: the pessimistic bound
crosses first, the optimistic one last, which gives the interval of the crossing. A point
that fails the target on the easy side of one that meets it makes the curve non-monotone
(``monotone: False``): the crossing is then the first one, and the caller warns.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

#: every point meets the target: the crossing lies beyond the sweep
ALWAYS = "always"
#: no point meets it: the crossing lies before the sweep's easiest point
NEVER = "never"
CROSSED = "crossed"


@dataclass(frozen=True)
class Crossing:
    """Where the metric crosses the target.

    :ivar at: the interpolated crossing [m or dB]; None unless ``status`` is ``crossed``.
    :ivar low: the smaller end of its interval (from the confidence bounds); where that
        bound's curve does not cross within the sweep, the end is open: 0 m (a range) or
        -inf dB (an SNR).
    :ivar high: the larger end; +inf where open.
    :ivar status: ``crossed``, ``always`` (every point meets the target) or ``never``.
    :ivar monotone: False when a point on the hard side of the crossing meets the target again.
    """

    at: float | None
    low: float | None
    high: float | None
    status: str
    monotone: bool


def _first_crossing(x: Sequence[float], y: Sequence[float], passes: Sequence[bool], target: float,
                    log_x: bool, log_y: bool) -> tuple[float | None, str]:
    """x, y in easy-to-hard order; the interpolated x where ``passes`` first turns False."""
    if not passes or not passes[0]:
        return None, NEVER
    for i in range(1, len(passes)):
        if not passes[i]:
            x0, x1, y0, y1 = x[i - 1], x[i], y[i - 1], y[i]
            fx = math.log10 if log_x else float
            fy = (lambda v: math.log10(v) if v > 0 else -math.inf) if log_y else float
            t_lo, t_hi, tv = fy(y0), fy(y1), fy(target)
            if not all(math.isfinite(v) for v in (t_lo, t_hi, tv)) or t_hi == t_lo:
                t = 0.5  # an unplottable value (a zero on a log metric, inf): halfway
            else:
                t = min(1.0, max(0.0, (tv - t_lo) / (t_hi - t_lo)))
            pos = fx(x0) + t * (fx(x1) - fx(x0))
            return (10.0 ** pos if log_x else pos), CROSSED
    return None, ALWAYS


def crossing(x: Sequence[float], value: Sequence[float], low: Sequence[float | None],
             high: Sequence[float | None], target: float, higher_is_better: bool, *, log_x: bool,
             log_y: bool, feasible: Sequence[bool] | None = None) -> Crossing:
    """The crossing of ``target`` by a swept metric.

    :param x: the sweep coordinate of each point, easy end first (distance ascending, or SNR
        descending).
    :param value: the metric at each point; NaN never meets a target.
    :param low: the lower confidence bound at each point (None or NaN: the value itself).
    :param high: the upper bound likewise.
    :param higher_is_better: the metric's direction (from the metric table).
    :param log_x: interpolate in log10(x) (distances) instead of x (SNR in dB).
    :param log_y: interpolate the metric in log10 (MSE-like metrics).
    :param feasible: per point, False where the codec did not fit the bandwidth budget (it
        then fails the target whatever its value).
    """
    n = len(x)
    feasible = [True] * n if feasible is None else list(feasible)

    def meets(v: float | None) -> bool:
        if v is None or v != v:
            return False
        return v >= target if higher_is_better else v <= target

    def bound(b: Sequence[float | None]) -> list[float]:
        return [value[i] if b[i] is None or b[i] != b[i] else float(b[i]) for i in range(n)]

    passes = [meets(v) and f for v, f in zip(value, feasible)]
    at, status = _first_crossing(x, value, passes, target, log_x, log_y)
    monotone = not (status == CROSSED and any(passes[passes.index(False):]))
    # the optimistic bound (upper for higher-is-better) crosses last, the pessimistic first
    optimistic, pessimistic = (bound(high), bound(low)) if higher_is_better else (bound(low), bound(high))
    # easy-to-hard order runs towards larger distances but towards smaller SNRs
    ascending = n < 2 or x[0] <= x[-1]
    ends = []
    for curve in (pessimistic, optimistic):
        ok = [meets(v) and f for v, f in zip(curve, feasible)]
        pos, st = _first_crossing(x, curve, ok, target, log_x, log_y)
        if st == ALWAYS:  # this bound crosses beyond the sweep's hard end: unbounded that way
            pos = math.inf if ascending else -math.inf
        elif st == NEVER:  # before the easy end: a range of at least 0 m, an SNR beyond any swept
            pos = (0.0 if log_x else -math.inf) if ascending else math.inf
        ends.append(pos)
    first, last = ends
    lo, hi = (first, last) if ascending else (last, first)
    return Crossing(at if status == CROSSED else None, lo, hi, status, monotone)
