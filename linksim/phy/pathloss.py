"""Path loss: free space and 3GPP TR 38.901 UMi-Street Canyon, UMa and RMa (Table 7.4.1-1).

Written by hand: Sionna 2.2 computes the same formulas only inside its system-level
scenario classes (``tr38901.UMiScenario._compute_pathloss_basic``...), which need a
full topology, draw LoS states and do not enforce the validity ranges; a budget needs
one deterministic number per distance. The tests compare these functions with values
computed independently from the table.

Conventions: ``distance_m`` is the horizontal (2D) BS-UT distance d2D [m];
d3D = sqrt(d2D^2 + (h_BS - h_UT)^2); ``fc`` in the formulas is in GHz (the breakpoint
distances use Hz); the result is the basic path loss [dB] without shadow fading
(the link budget's ``shadowing_margin_db`` covers it). NLoS is
``max(PL_LoS, PL'_NLoS)``. Free space uses ``distance_m`` as the line-of-sight
distance: FSPL = 20 log10(4 pi d f / c).

Validity: the 3GPP models hold over the d2D ranges of :data:`DISTANCE_RANGE` and the
heights of :data:`HEIGHT_RANGE`; Friis' formula only in the far field, taken as at
least one wavelength c / f (FSPL there is 20 log10(4 pi) = 22 dB; closer, it would
turn into a gain), and up to :data:`FREE_SPACE_MAX_M`.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass

SPEED_OF_LIGHT = 299_792_458.0  # m/s

#: default heights [m] (TR 38.901 Table 7.2-1 / 7.4.1-1), average building height h and street width W (RMa)
DEFAULT_H_BS = {"umi": 10.0, "uma": 25.0, "rma": 35.0}
DEFAULT_H_UT = 1.5
DEFAULT_H_BUILDING = 5.0
DEFAULT_STREET_WIDTH = 20.0

#: validity ranges of d2D [m]: (LoS, NLoS)
DISTANCE_RANGE = {
    "umi": ((10.0, 5000.0), (10.0, 5000.0)),
    "uma": ((10.0, 5000.0), (10.0, 5000.0)),
    "rma": ((10.0, 10000.0), (10.0, 5000.0)),
}
#: the farthest free-space distance accepted [m]: 1e15 m (6,700 au, 0.1 light-year) is beyond any
#: deep-space link (Voyager 1: 2.5e13 m); the nearest is one wavelength (the far field)
FREE_SPACE_MAX_M = 1e15
#: height ranges [m] (TR 38.901 Table 7.4.1-1 note: UMi / UMa 1.5 <= h_UT <= 22.5 with h_BS 10 / 25 m,
#: RMa 10 <= h_BS <= 150 and 1 <= h_UT <= 10); linksim lets UMi / UMa take other BS heights
#: from 2 m (the breakpoint uses h_BS - 1 m) to 150 m: (h_BS range, h_UT range)
HEIGHT_RANGE = {
    "umi": ((2.0, 150.0), (1.5, 22.5)),
    "uma": ((2.0, 150.0), (1.5, 22.5)),
    "rma": ((10.0, 150.0), (1.0, 10.0)),
}
#: carrier frequency ranges [Hz] (RMa is calibrated up to 7 GHz, specified up to 30 GHz)
FREQUENCY_RANGE = {"umi": (0.5e9, 100e9), "uma": (0.5e9, 100e9), "rma": (0.5e9, 30e9)}
MODEL_NAMES = {"free_space": "free space", "umi": "UMi", "uma": "UMa", "rma": "RMa"}


from linksim.errors import PathlossRangeError  # noqa: E402  (re-exported)


def free_space_db(distance_m: float, carrier_frequency_hz: float) -> float:
    """Free-space path loss [dB] = 20 log10(4 pi d f / c); ``distance_m`` [m] in the far field
    (at least one wavelength c / f, at most :data:`FREE_SPACE_MAX_M`), frequency [Hz] > 0."""
    _check_free_space(distance_m, carrier_frequency_hz)
    return 20.0 * math.log10(4.0 * math.pi * distance_m * carrier_frequency_hz / SPEED_OF_LIGHT)


def _check_free_space(distance_m: float, carrier_frequency_hz: float | None) -> None:
    """:raises PathlossRangeError: outside [one wavelength, FREE_SPACE_MAX_M] (or <= 0 m without a frequency)."""
    if not (isinstance(carrier_frequency_hz, (int, float)) and math.isfinite(carrier_frequency_hz)
            and carrier_frequency_hz > 0):
        if carrier_frequency_hz is not None:
            raise PathlossRangeError(f"{carrier_frequency_hz:g} Hz: the carrier frequency must be finite and > 0")
        lo = 0.0
    else:
        lo = SPEED_OF_LIGHT / carrier_frequency_hz
    if not (math.isfinite(distance_m) and distance_m > 0):
        raise PathlossRangeError(f"{distance_m:g} m: free-space distances must be finite and > 0 m")
    if distance_m < lo:
        raise PathlossRangeError(f"{distance_m:g} m is in the near field of {carrier_frequency_hz / 1e9:g} GHz: "
                                 f"free space needs at least one wavelength ({lo:.4g} m)")
    if distance_m > FREE_SPACE_MAX_M:
        raise PathlossRangeError(f"{distance_m:g} m is beyond the largest free-space distance ({FREE_SPACE_MAX_M:g} m)")


def _d3d(d2d: float, h_bs: float, h_ut: float) -> float:
    return math.hypot(d2d, h_bs - h_ut)


def _dual_slope_los(d2d: float, d3: float, fc_hz: float, h_bs: float, h_ut: float,
                    intercept: float, slope: float, bp_factor: float) -> float:
    """The LoS form UMi and UMa share (TR 38.901 Table 7.4.1-1), with h_E = 1 m [dB].

    PL1 = intercept + slope log10(d3D) + 20 log10(fc) up to the breakpoint d'BP =
    4 h'_BS h'_UT fc / c, then PL2 = intercept + 40 log10(d3D) + 20 log10(fc)
    - bp_factor log10(d'BP^2 + (h_BS - h_UT)^2).
    """
    fc = fc_hz / 1e9
    d_bp = 4.0 * (h_bs - 1.0) * (h_ut - 1.0) * fc_hz / SPEED_OF_LIGHT
    if d2d <= d_bp:
        return intercept + slope * math.log10(d3) + 20.0 * math.log10(fc)
    return intercept + 40.0 * math.log10(d3) + 20.0 * math.log10(fc) - bp_factor * math.log10(d_bp**2 + (h_bs - h_ut) ** 2)


def umi_db(d2d: float, fc_hz: float, los: bool, h_bs: float = 10.0, h_ut: float = 1.5) -> float:
    """UMi-Street Canyon basic path loss [dB] (TR 38.901 Table 7.4.1-1).

    LoS: PL1 = 32.4 + 21 log10(d3D) + 20 log10(fc) for d2D <= d'BP,
    PL2 = 32.4 + 40 log10(d3D) + 20 log10(fc) - 9.5 log10(d'BP^2 + (h_BS - h_UT)^2) beyond,
    d'BP = 4 h'_BS h'_UT fc / c with h' = h - 1 m. NLoS: max(LoS, 35.3 log10(d3D) + 22.4
    + 21.3 log10(fc) - 0.3 (h_UT - 1.5)).
    """
    fc = fc_hz / 1e9
    d3 = _d3d(d2d, h_bs, h_ut)
    pl_los = _dual_slope_los(d2d, d3, fc_hz, h_bs, h_ut, intercept=32.4, slope=21.0, bp_factor=9.5)
    if los:
        return pl_los
    pl_nlos = 35.3 * math.log10(d3) + 22.4 + 21.3 * math.log10(fc) - 0.3 * (h_ut - 1.5)
    return max(pl_los, pl_nlos)


def uma_db(d2d: float, fc_hz: float, los: bool, h_bs: float = 25.0, h_ut: float = 1.5) -> float:
    """UMa basic path loss [dB] (TR 38.901 Table 7.4.1-1), effective environment height h_E = 1 m.

    LoS: PL1 = 28.0 + 22 log10(d3D) + 20 log10(fc) for d2D <= d'BP,
    PL2 = 28.0 + 40 log10(d3D) + 20 log10(fc) - 9 log10(d'BP^2 + (h_BS - h_UT)^2) beyond.
    NLoS: max(LoS, 13.54 + 39.08 log10(d3D) + 20 log10(fc) - 0.6 (h_UT - 1.5)).
    """
    fc = fc_hz / 1e9
    d3 = _d3d(d2d, h_bs, h_ut)
    pl_los = _dual_slope_los(d2d, d3, fc_hz, h_bs, h_ut, intercept=28.0, slope=22.0, bp_factor=9.0)
    if los:
        return pl_los
    pl_nlos = 13.54 + 39.08 * math.log10(d3) + 20.0 * math.log10(fc) - 0.6 * (h_ut - 1.5)
    return max(pl_los, pl_nlos)


def rma_db(d2d: float, fc_hz: float, los: bool, h_bs: float = 35.0, h_ut: float = 1.5,
           h: float = DEFAULT_H_BUILDING, w: float = DEFAULT_STREET_WIDTH) -> float:
    """RMa basic path loss [dB] (TR 38.901 Table 7.4.1-1); ``h`` building height, ``w`` street width [m].

    LoS: PL1(d) = 20 log10(40 pi d fc / 3) + min(0.03 h^1.72, 10) log10(d) - min(0.044 h^1.72, 14.77)
    + 0.002 log10(h) d for d2D <= dBP, PL2 = PL1(dBP) + 40 log10(d3D / dBP) beyond,
    dBP = 2 pi h_BS h_UT fc / c. NLoS: max(LoS, 161.04 - 7.1 log10(W) + 7.5 log10(h)
    - (24.37 - 3.7 (h/h_BS)^2) log10(h_BS) + (43.42 - 3.1 log10(h_BS)) (log10(d3D) - 3)
    + 20 log10(fc) - (3.2 (log10(11.75 h_UT))^2 - 4.97)).
    """
    fc = fc_hz / 1e9
    d3 = _d3d(d2d, h_bs, h_ut)
    d_bp = 2.0 * math.pi * h_bs * h_ut * fc_hz / SPEED_OF_LIGHT

    def pl1(d: float) -> float:
        return (20.0 * math.log10(40.0 * math.pi * d * fc / 3.0) + min(0.03 * h**1.72, 10.0) * math.log10(d)
                - min(0.044 * h**1.72, 14.77) + 0.002 * math.log10(h) * d)

    pl_los = pl1(d3) if d2d <= d_bp else pl1(d_bp) + 40.0 * math.log10(d3 / d_bp)
    if los:
        return pl_los
    pl_nlos = (161.04 - 7.1 * math.log10(w) + 7.5 * math.log10(h) - (24.37 - 3.7 * (h / h_bs) ** 2) * math.log10(h_bs)
               + (43.42 - 3.1 * math.log10(h_bs)) * (math.log10(d3) - 3.0) + 20.0 * math.log10(fc)
               - (3.2 * math.log10(11.75 * h_ut) ** 2 - 4.97))
    return max(pl_los, pl_nlos)


@dataclass(frozen=True)
class PathlossModel:
    """One path-loss model with its parameters: ``model`` free_space | umi | uma | rma.

    Heights [m] default to TR 38.901's (h_BS 10 / 25 / 35 m for UMi / UMa / RMa,
    h_UT 1.5 m, RMa building height 5 m and street width 20 m).
    """

    model: str
    los: bool = False
    h_bs_m: float | None = None
    h_ut_m: float = DEFAULT_H_UT
    building_height_m: float = DEFAULT_H_BUILDING
    street_width_m: float = DEFAULT_STREET_WIDTH

    @property
    def name(self) -> str:
        return MODEL_NAMES[self.model]

    @property
    def h_bs(self) -> float:
        return self.h_bs_m if self.h_bs_m is not None else DEFAULT_H_BS.get(self.model, 0.0)

    def distance_range(self, carrier_frequency_hz: float | None = None) -> tuple[float, float]:
        """Valid d2D range [m]; free space: one wavelength of ``carrier_frequency_hz`` (0 when
        not given) to :data:`FREE_SPACE_MAX_M`."""
        if self.model == "free_space":
            lo = SPEED_OF_LIGHT / carrier_frequency_hz if carrier_frequency_hz else 0.0
            return lo, FREE_SPACE_MAX_M
        return DISTANCE_RANGE[self.model][0 if self.los else 1]

    def check_distance(self, distance_m: float, carrier_frequency_hz: float | None = None) -> None:
        """:raises PathlossRangeError: naming the range when ``distance_m`` is outside it (free
        space: the far field of ``carrier_frequency_hz`` when given, see :func:`free_space_db`)."""
        if self.model == "free_space":
            _check_free_space(distance_m, carrier_frequency_hz)
            return
        lo, hi = self.distance_range()
        if not lo <= distance_m <= hi:
            state = "LoS" if self.los else "NLoS"
            raise PathlossRangeError(f"{distance_m:g} m is outside {self.name}'s validity range [{lo:g}, {hi:g}] m ({state})")

    def check_heights(self) -> None:
        """:raises PathlossRangeError: for a BS or UT height outside the model's range (:data:`HEIGHT_RANGE`)."""
        if self.model not in HEIGHT_RANGE:
            return
        for what, value, (lo, hi) in zip(("h_bs_m", "h_ut_m"), (self.h_bs, self.h_ut_m), HEIGHT_RANGE[self.model]):
            if not lo <= value <= hi:
                raise PathlossRangeError(f"{what}: {value:g} m is outside {self.name}'s range [{lo:g}, {hi:g}] m")

    def check_frequency(self, carrier_frequency_hz: float) -> None:
        """:raises PathlossRangeError: for a carrier outside the model's frequency range."""
        if self.model in FREQUENCY_RANGE:
            lo, hi = FREQUENCY_RANGE[self.model]
            if not lo <= carrier_frequency_hz <= hi:
                raise PathlossRangeError(f"{carrier_frequency_hz:g} Hz is outside {self.name}'s frequency range "
                                         f"[{lo / 1e9:g}, {hi / 1e9:g}] GHz")

    def breakpoint_m(self, carrier_frequency_hz: float) -> float | None:
        """The breakpoint distance [m] of the LoS formula: d'BP = 4 h'_BS h'_UT fc / c (h' = h -
        1 m) for UMi and UMa, dBP = 2 pi h_BS h_UT fc / c for RMa; None for free space."""
        if self.model in ("umi", "uma"):
            return 4.0 * (self.h_bs - 1.0) * (self.h_ut_m - 1.0) * carrier_frequency_hz / SPEED_OF_LIGHT
        if self.model == "rma":
            return 2.0 * math.pi * self.h_bs * self.h_ut_m * carrier_frequency_hz / SPEED_OF_LIGHT
        return None

    def branch(self, distance_m: float, carrier_frequency_hz: float) -> str:
        """Which formula gives the path loss at ``distance_m``: ``free space``, ``LoS PL1`` (up to
        the breakpoint) or ``LoS PL2`` (beyond), or for NLoS ``NLoS`` or, where TR 38.901's
        max(LoS, NLoS) picks the LoS value, ``NLoS = LoS PL1`` / ``NLoS = LoS PL2``."""
        if self.model == "free_space":
            return "free space"
        los = "LoS PL1" if distance_m <= self.breakpoint_m(carrier_frequency_hz) else "LoS PL2"
        if self.los:
            return los
        with_los = dataclasses.replace(self, los=True)
        same = math.isclose(self(distance_m, carrier_frequency_hz), with_los(distance_m, carrier_frequency_hz),
                            rel_tol=0.0, abs_tol=1e-12)
        return f"NLoS = {los}" if same else "NLoS"

    def d3d_m(self, distance_m: float) -> float:
        """d3D = sqrt(d2D^2 + (h_BS - h_UT)^2) [m]; d2D itself for free space."""
        return distance_m if self.model == "free_space" else _d3d(distance_m, self.h_bs, self.h_ut_m)

    def __call__(self, distance_m: float, carrier_frequency_hz: float) -> float:
        """Path loss [dB] at ``distance_m`` (d2D) [m] and ``carrier_frequency_hz`` [Hz] (every range checked)."""
        self.check_frequency(carrier_frequency_hz)
        self.check_heights()
        self.check_distance(distance_m, carrier_frequency_hz)
        if self.model == "free_space":
            return free_space_db(distance_m, carrier_frequency_hz)
        if self.model == "umi":
            return umi_db(distance_m, carrier_frequency_hz, self.los, self.h_bs, self.h_ut_m)
        if self.model == "uma":
            return uma_db(distance_m, carrier_frequency_hz, self.los, self.h_bs, self.h_ut_m)
        if self.model == "rma":
            return rma_db(distance_m, carrier_frequency_hz, self.los, self.h_bs, self.h_ut_m,
                          self.building_height_m, self.street_width_m)
        raise ValueError(f"unknown path-loss model '{self.model}'")
