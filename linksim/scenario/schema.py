"""The scenario schema: one strict pydantic model per section of a scenario file.

This schema is a contract with users outside the team (see DESIGN.md): every field
keeps its meaning; unknown keys are errors. The field descriptions are the scenario
reference (``docs/scenario-reference.md`` is generated from them).
"""

from __future__ import annotations

import collections.abc
import math
import re
import types
from typing import Annotated, Any, Literal, Union, get_args, get_origin

from pydantic import BaseModel, ConfigDict, Field, ValidationInfo, field_validator, model_validator

from linksim.codecs import StreamOverride, Transport
from linksim.codecs.base import CodecParams
from linksim.metrics.learned import MetricModels
from linksim.phy.channels import LABEL_MAX_LENGTH, ChannelParams, check_label
from linksim.phy.code_blocks import DEFAULT_MAX_BLOCK_BITS
from linksim.phy.ofdm_params import OFDMParams

#: what a scenario reports when it lists no ``metrics`` (and its codecs declare no defaults)
DEFAULT_METRICS = ("ber", "bler", "mse", "psnr", "ssim")
MAX_SNR_POINTS = 1000


NOT_FINITE = "must be a finite number"


def _branches(annotation: Any) -> list[Any]:
    """The types a field annotation admits: ``Annotated`` unwrapped, unions flattened."""
    origin = get_origin(annotation)
    if origin is Annotated:
        return _branches(get_args(annotation)[0])
    if origin is Union or origin is types.UnionType:
        return [b for a in get_args(annotation) for b in _branches(a)]
    return [annotation]


def _finite(value: float | str) -> bool:
    """False for NaN and +-inf, also written as text (``nan``, ``.inf`` quoted, ``1e999``)."""
    if isinstance(value, str):
        try:
            value = float(value)
        except ValueError:
            return True  # not a number at all: the field's own validation says so
    return math.isfinite(value)


def number_problems(annotation: Any, value: Any, loc: tuple = (), models: bool = True) -> list[tuple[tuple, str]]:
    """``(location, message)`` for each boolean or non-finite number (NaN, +-inf) that
    ``value`` holds where ``annotation`` expects a number, in lists, tuples and dict values
    too, and, with ``models``, in the fields of nested pydantic models.

    Pydantic's lax mode takes ``true`` for 1 and ``false`` for 0 in an ``int`` or ``float``
    field, and NaN passes any field without bounds; strict mode would refuse YAML's
    ``30e3`` (a string to PyYAML) and lists for tuples. This check refuses just the two.
    A field that admits ``bool`` or ``str`` (or anything) keeps them.
    """
    branches = _branches(annotation)
    if any(b is Any or b is object for b in branches):
        return []
    numeric = any(b in (int, float) for b in branches)
    if isinstance(value, bool):
        literal = any(get_origin(b) is Literal and any(a is value for a in get_args(b)) for b in branches)
        if numeric and bool not in branches and not literal:
            return [(loc, f"must be a number, not a boolean ({str(value).lower()})")]
        return []
    if isinstance(value, (float, str)):
        if numeric and not (isinstance(value, str) and str in branches) and not _finite(value):
            return [(loc, NOT_FINITE)]
        return []
    out: list[tuple[tuple, str]] = []
    if isinstance(value, (list, tuple)):
        for b in branches:
            origin, args = get_origin(b), get_args(b)
            if origin in (list, tuple, set, frozenset, collections.abc.Sequence, collections.abc.Set):
                for i, item in enumerate(value):
                    if origin is tuple and args and args[-1] is not Ellipsis:
                        item_type = args[i] if i < len(args) else Any
                    else:
                        item_type = args[0] if args else Any
                    out += number_problems(item_type, item, loc + (i,), models)
                return out
        return out
    if isinstance(value, dict):
        for b in branches:
            if get_origin(b) in (dict, collections.abc.Mapping):
                args = get_args(b)
                for k, v in value.items():
                    out += number_problems(args[1] if args else Any, v, loc + (k,), models)
                return out
        nested = [b for b in branches if isinstance(b, type) and issubclass(b, BaseModel)]
        if models and len(nested) == 1:
            for name, field in nested[0].model_fields.items():
                key = field.alias or name
                if key in value:
                    out += number_problems(field.annotation, value[key], loc + (key,), models)
    return out


class _Strict(BaseModel):
    """Base of the scenario's sections: unknown keys are errors, and a number field takes
    neither a boolean nor NaN / +-inf (see :func:`number_problems`)."""

    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)

    @field_validator("*", mode="before")
    @classmethod
    def _numbers_are_numbers(cls, value: Any, info: ValidationInfo) -> Any:
        problems = number_problems(cls.model_fields[info.field_name].annotation, value, models=False)
        if problems:
            loc, message = problems[0]
            where = "".join(f"[{p!r}]" if not isinstance(p, int) else f"[{p}]" for p in loc)
            raise ValueError(f"{where + ': ' if where else ''}{message}")
        return value


class DataSection(_Strict):
    source: str = Field(description="digits28 | digits28:train | photos | folder:<path> | mnist:<dir>; "
                                    "multimodal: digits-av | triples:<dir> | vggsound:<dir> | coco:<dir>")
    num_samples: int = Field(ge=1, le=10_000_000, description="samples in the data set: the first N of the source, "
                                                              "in a fixed order")
    batch_size: int = Field(default=32, ge=1, le=65536, description="samples encoded and sent together")
    image_size: int | None = Field(default=None, ge=4, le=8192, description="square resize [pixels]")


class OFDMSection(OFDMParams):
    """``phy.ofdm``: the resource grid every link of the scenario uses (the same model as
    :class:`linksim.Link`'s ``ofdm``)."""


class PhySection(_Strict):
    ofdm: OFDMSection = Field(default_factory=OFDMSection, description="the resource grid every link uses")
    csi: Literal["perfect", "ls"] = Field(
        default="perfect", description="channel knowledge of the equaliser: perfect (the true frequency response) "
        "or ls (least-squares estimates on the pilots, interpolated linearly in time and frequency)")
    decoder: Literal["auto", "sionna", "fast"] = Field(
        default="auto", description="LDPC decoder: fast (linksim's numba CPU decoder), sionna, or auto (fast on CPU, sionna on CUDA)")
    ldpc_schedule: Literal["layered", "flooding"] = Field(
        default="layered", description="check-node schedule of the fast decoder (Sionna's decoder always floods)")
    ldpc_cn_update: Literal["boxplus-phi", "minsum", "offset-minsum", "normalized-minsum"] = Field(
        default="boxplus-phi", description="check-node rule")
    max_code_block_bits: int = Field(default=DEFAULT_MAX_BLOCK_BITS, ge=37, le=8448,
                                     description="largest LDPC information block, CRC included [bits]")
    implementation: Literal["auto", "sionna", "fast"] = Field(
        default="auto", description="the blocks that carry a stream: fast (linksim's CPU kernels: a per-resource-element "
        "SISO transceiver, QAM mapper and demapper, CRC, LDPC encoder, scrambling; the same statistics as Sionna's), "
        "sionna (Sionna's blocks throughout), or auto (fast on CPU, sionna on CUDA)")
    demapper: Literal["app", "maxlog"] = Field(
        default="app", description="LLRs of the QAM demapper: app (exact a-posteriori) or maxlog (max-log approximation)")
    ls_error_variance: Literal["flat", "per_position"] = Field(
        default="flat", description="channel-estimation error variance the equaliser assumes with csi: ls: flat "
        "(N0 on every resource element, as Sionna's interpolator reports it) or per_position (the true variance of "
        "the linear interpolation at each OFDM symbol; implementation fast only)")

    @model_validator(mode="after")
    def _sionna_rules(self) -> "PhySection":
        if self.decoder == "sionna" and self.ldpc_cn_update == "normalized-minsum":
            raise ValueError("ldpc_cn_update: normalized-minsum needs decoder: fast (Sionna's decoder has no such rule)")
        return self

    @model_validator(mode="after")
    def _ls_error_variance(self) -> "PhySection":
        if self.ls_error_variance == "per_position":
            if self.csi != "ls":
                raise ValueError("ls_error_variance: 'per_position' applies to csi: ls only")
            if self.implementation == "sionna":
                raise ValueError("ls_error_variance: 'per_position' needs implementation: fast or auto "
                                 "(Sionna's interpolator reports N0 on every resource element)")
        return self

    def resolved_implementation(self, device_type: str) -> str:
        """``auto`` -> ``fast`` on a CPU, ``sionna`` on CUDA."""
        if self.implementation != "auto":
            return self.implementation
        return "sionna" if device_type == "cuda" else "fast"

    def resolved_decoder(self, device_type: str) -> str:
        """``auto`` -> ``fast`` on a CPU, ``sionna`` on CUDA (where Sionna's decoder runs on the GPU)."""
        if self.decoder != "auto":
            return self.decoder
        return "sionna" if device_type == "cuda" else "fast"

    @model_validator(mode="after")
    def _ls_needs_pilots(self) -> "PhySection":
        if self.csi == "ls" and not self.ofdm.pilot_ofdm_symbol_indices:
            raise ValueError("csi: 'ls' needs pilots, but ofdm.pilot_ofdm_symbol_indices is empty")
        return self


def _key_value(x: float) -> float:
    """A sweep value as the one float that names its point everywhere (results.h5 group,
    point seed, results.csv): ``0``, ``0.0`` and ``-0.0`` are all ``0.0``, ``10`` is ``10.0``.

    ``-0.0 == 0.0`` while ``repr`` tells them apart, so without this one point had two
    names and a rerun with ``[-0.0]`` took the finished ``[0]`` point for another one.
    """
    return float(x) + 0.0  # IEEE: -0.0 + 0.0 == +0.0; every other value is unchanged


class SNRRange(_Strict):
    """The range form of ``sweep.snr_db``: ``start`` to ``stop`` in steps of ``step`` [dB]."""

    start: float = Field(description="first SNR [dB]")
    stop: float = Field(description="last SNR [dB], included when start + k step lands on it")
    step: float = Field(gt=0, description="spacing [dB]")

    @field_validator("start", "stop")
    @classmethod
    def _no_negative_zero(cls, v: float) -> float:
        return _key_value(v)

    def values(self) -> list[float]:
        n = int(math.floor((self.stop - self.start) / self.step + 1e-9)) + 1
        return [_key_value(round(self.start + i * self.step, 10)) for i in range(max(n, 0))]

    @model_validator(mode="after")
    def _order(self) -> "SNRRange":
        if self.stop < self.start:
            raise ValueError(f"stop ({self.stop}) must be >= start ({self.start})")
        if (self.stop - self.start) / self.step + 1 > MAX_SNR_POINTS:
            raise ValueError(f"more than {MAX_SNR_POINTS} SNR points")
        return self


class SweepSection(_Strict):
    snr_db: list[float] | SNRRange | None = Field(
        default=None, description="SNR points [dB] (Es/N0 per data RE unless snr_type: ebn0); or distance_m")
    distance_m: list[float] | None = Field(
        default=None, max_length=MAX_SNR_POINTS,
        description="distances [m] (2D BS-UT distance); each point's SNR comes from link_budget")
    snr_type: Literal["esn0", "ebn0"] = Field(
        default="esn0", description="what snr_db means: esn0 (Es/N0 per data resource element) or ebn0 "
        "(Eb/N0 per information bit: Es/N0 = Eb/N0 x bits per symbol x code rate; digital streams only)")
    target_block_errors: int | None = Field(default=None, ge=1, description="stop a point once this many block errors are seen")
    target_bit_errors: int | None = Field(default=None, ge=1, description="stop a point once this many bit errors are seen")
    max_samples: int | None = Field(default=None, ge=1, le=100_000_000,
                                    description="samples per point at most (the data set is cycled); default data.num_samples")
    skip_error_free: bool | None = Field(default=None, description="skip higher SNRs after a point without any bit error; "
                                         "default: on when a target is set")

    def stops_early(self) -> bool:
        """Whether points may stop before ``max_samples`` (a target is set)."""
        return self.target_block_errors is not None or self.target_bit_errors is not None

    def skips_error_free(self) -> bool:
        return self.stops_early() if self.skip_error_free is None else self.skip_error_free

    @field_validator("snr_db", mode="before")
    @classmethod
    def _range_or_list(cls, v):
        # decide the union's branch here, so that an error names only the branch meant
        if isinstance(v, dict):
            return SNRRange.model_validate(v)
        return v

    @field_validator("snr_db")
    @classmethod
    def _points(cls, v):
        if v is None:
            return v
        values = v.values() if isinstance(v, SNRRange) else v
        if not values:
            raise ValueError("no SNR point")
        if len(values) > MAX_SNR_POINTS:
            raise ValueError(f"more than {MAX_SNR_POINTS} SNR points")
        if any(not math.isfinite(x) or abs(x) > 300 for x in values):
            raise ValueError("SNR values must be finite and within +-300 dB")
        if len(set(values)) != len(values):
            raise ValueError("SNR points repeat")
        return v if isinstance(v, SNRRange) else [_key_value(x) for x in v]

    @field_validator("distance_m")
    @classmethod
    def _distances(cls, v):
        if v is None:
            return v
        if not v:
            raise ValueError("no distance")
        if any(not math.isfinite(x) or x <= 0 for x in v):
            raise ValueError("distances must be finite and > 0 m")
        if len(set(v)) != len(v):
            raise ValueError("distances repeat")
        return [_key_value(x) for x in v]

    @model_validator(mode="after")
    def _one_axis(self) -> "SweepSection":
        if (self.snr_db is None) == (self.distance_m is None):
            raise ValueError("give exactly one of snr_db and distance_m")
        if self.distance_m is not None and self.snr_type != "esn0":
            raise ValueError("snr_type: a distance sweep's SNR is the link budget's Es/N0; use snr_type: esn0")
        return self

    def snr_points(self) -> list[float]:
        """The SNR points [dB], in the order given (empty for a distance sweep)."""
        if self.snr_db is None:
            return []
        return [float(x) for x in (self.snr_db.values() if isinstance(self.snr_db, SNRRange) else self.snr_db)]

    def distance_points(self) -> list[float]:
        """The distances [m] of a distance sweep, in the order given (empty for an SNR sweep)."""
        return [float(x) for x in (self.distance_m or [])]


class BudgetSection(_Strict):
    """Bandwidth budget per sample: ``channel_uses`` directly, or ``bandwidth_hz`` x ``duration_s``."""

    channel_uses: int | None = Field(default=None, ge=1, description="resource elements per sample")
    bandwidth_hz: float | None = Field(default=None, gt=0, le=1e12, description="bandwidth [Hz] (with duration_s)")
    duration_s: float | None = Field(default=None, gt=0, le=1e6, description="air time per sample [s] (with bandwidth_hz)")

    @model_validator(mode="after")
    def _forms(self) -> "BudgetSection":
        if (self.bandwidth_hz is None) != (self.duration_s is None):
            raise ValueError("bandwidth_hz and duration_s go together")
        if self.channel_uses is not None and self.bandwidth_hz is not None:
            raise ValueError("give channel_uses or bandwidth_hz + duration_s, not both")
        return self

    def is_set(self) -> bool:
        return self.channel_uses is not None or self.bandwidth_hz is not None


class PathlossSection(_Strict):
    """``link_budget.pathloss``: the model, LoS/NLoS, and optional heights [m]."""

    model: Literal["free_space", "umi", "uma", "rma"] = Field(
        description="free_space (Friis), or 3GPP TR 38.901 UMi-Street Canyon, UMa or RMa")
    los: bool = Field(default=False, description="line of sight (true) or not (false)")
    h_bs_m: float | None = Field(default=None, ge=2.0, le=150.0, description="BS height [m] (default 10 / 25 / 35 m; "
                                 "UMi, UMa 2-150 m, RMa 10-150 m)")
    h_ut_m: float = Field(default=1.5, ge=1.0, le=22.5, description="UT height [m] (UMi, UMa 1.5-22.5 m, RMa 1-10 m)")
    building_height_m: float = Field(default=5.0, ge=5.0, le=50.0, description="RMa average building height h [m]")
    street_width_m: float = Field(default=20.0, ge=5.0, le=50.0, description="RMa average street width W [m]")

    @model_validator(mode="after")
    def _heights(self) -> "PathlossSection":
        from linksim.phy.pathloss import PathlossRangeError

        try:  # per model: UMi / UMa h_BS 2-150 m, h_UT 1.5-22.5 m; RMa h_BS 10-150 m, h_UT 1-10 m
            self.model_object().check_heights()
        except PathlossRangeError as e:
            raise ValueError(str(e)) from None
        return self

    def model_object(self):
        from linksim.phy.pathloss import PathlossModel

        return PathlossModel(self.model, self.los, self.h_bs_m, self.h_ut_m, self.building_height_m, self.street_width_m)


class LinkBudgetSection(_Strict):
    """``link_budget``: distance -> received SNR (see :mod:`linksim.phy.link_budget`)."""

    tx_power_dbm: float = Field(ge=-100, le=100, description="transmit power [dBm]")
    tx_antenna_gain_dbi: float = Field(default=0.0, ge=-50, le=60, description="transmit antenna gain [dBi]")
    rx_antenna_gain_dbi: float = Field(default=0.0, ge=-50, le=60, description="receive antenna gain [dBi]")
    other_losses_db: float = Field(default=0.0, ge=0, le=300, description="further losses (cables, body, penetration...) [dB]")
    carrier_frequency_hz: float = Field(ge=1.0, le=1e12, description="carrier frequency of the path loss [Hz]")
    bandwidth_hz: float = Field(ge=1.0, le=1e12, description="occupied bandwidth: the noise is kTB over it [Hz]")
    noise_figure_db: float = Field(default=7.0, ge=0, le=100, description="receiver noise figure [dB]")
    temperature_k: float = Field(default=290.0, gt=0, le=10000, description="noise temperature [K]")
    pathloss: PathlossSection = Field(description="the path loss model")
    shadowing_margin_db: float = Field(default=0.0, ge=0, le=100, description="margin for shadow fading, subtracted from the received power [dB]")

    @model_validator(mode="after")
    def _frequency(self) -> "LinkBudgetSection":
        from linksim.phy.pathloss import PathlossRangeError

        try:
            self.pathloss.model_object().check_frequency(self.carrier_frequency_hz)
        except PathlossRangeError as e:
            raise ValueError(f"carrier_frequency_hz: {e}") from None
        return self

    def budget(self):
        """The :class:`~linksim.phy.link_budget.LinkBudget` of this section."""
        from linksim.phy.link_budget import LinkBudget

        return LinkBudget(self.tx_power_dbm, self.tx_antenna_gain_dbi, self.rx_antenna_gain_dbi, self.other_losses_db,
                          self.carrier_frequency_hz, self.bandwidth_hz, self.noise_figure_db, self.temperature_k,
                          self.pathloss.model_object(), self.shadowing_margin_db)


#: a series is a legend label, not a file name (its sample grids go through ``safe_filename``):
#: any printable characters on one line but ``$`` and ``\`` (matplotlib would read mathtext)
_SERIES_FORBIDDEN = re.compile(r"[$\\]")


class CodecSection(_Strict):
    name: str = Field(min_length=1, max_length=64, description="label in results, plots and file names: "
                                                               "letters, digits and _ . + -")
    type: str = Field(description="codec type: a built-in name (see Codec types), a plugin's registered name "
                                  "(linksim list) or package.module:Class")
    params: dict[str, Any] = Field(default_factory=dict, description="the codec type's parameters (see its section under Codec types); unknown keys are errors")
    streams: dict[str, StreamOverride] = Field(
        default_factory=dict, description="transport of each stream, by the codec type's stream names; a field "
        "left out keeps the codec's default")
    series: str | None = Field(default=None, min_length=1, max_length=LABEL_MAX_LENGTH,
                               description="curve this codec belongs to in the fidelity-vs-load plots "
                                           "and comparison sample grids (e.g. several d of one HSC model): "
                                           "a legend label: printable, one line, no $ or \\")

    @field_validator("name")
    @classmethod
    def _label(cls, v: str) -> str:
        return check_label(v)

    @field_validator("series")
    @classmethod
    def _series(cls, v: str | None) -> str | None:
        if v is None:
            return v
        if not v.isprintable() or _SERIES_FORBIDDEN.search(v):
            raise ValueError("a legend label: printable characters on one line, without $ or \\")
        return v


class OutputsSection(_Strict):
    """How a run writes its figures (``linksim plot DIR`` takes the same options)."""

    formats: list[Literal["png", "pdf", "svg"]] = Field(
        default_factory=lambda: ["png", "pdf", "svg"], min_length=1, max_length=3,
        description="file formats of every figure (PDF and SVG are vector graphics for papers)")
    dpi: int = Field(default=200, ge=20, le=2400, description="resolution of the PNG figures [dots per inch]")
    width_in: float | None = Field(default=None, ge=2.0, le=40.0,
                                   description="figure width [in], e.g. 3.5 (one column of a two-column paper) or "
                                   "7.16 (both); default: 3.9 in per panel, up to three side by side")
    style: str | None = Field(default=None, min_length=1, max_length=1000,
                              description="a matplotlib style name (e.g. seaborn-v0_8-paper) or a .mplstyle file")
    rc: dict[str, Any] = Field(default_factory=dict, max_length=200,
                               description="matplotlib rcParams overrides, e.g. {font.size: 8, lines.linewidth: 1}")

    @field_validator("formats")
    @classmethod
    def _unique(cls, v: list[str]) -> list[str]:
        return list(dict.fromkeys(v))

    @field_validator("style")
    @classmethod
    def _style(cls, v: str | None) -> str | None:
        if v is not None:
            from linksim.plots import check_style  # matplotlib only when a style is named

            check_style(v)
        return v

    @field_validator("rc")
    @classmethod
    def _rc(cls, v: dict[str, Any]) -> dict[str, Any]:
        if v:
            from linksim.plots import check_rc  # matplotlib only when rc overrides are given

            check_rc(v)
        return v

    def figure_options(self):
        """The :class:`~linksim.plots.FigureOptions` of this section."""
        from linksim.plots import FigureOptions

        return FigureOptions(formats=tuple(self.formats), dpi=self.dpi, width_in=self.width_in, style=self.style,
                             rc=dict(self.rc))


class Scenario(_Strict):
    """A whole scenario file."""

    name: str = Field(min_length=1, max_length=100, description="name of the run; its default output folder is "
                                                                "results/<name>/ (letters, digits and _ . + -)")
    seed: int = Field(default=0, ge=0, le=2**63 - 1, description="every random draw follows from it: same seed, same numbers")
    device: str = Field(default="auto", description="auto | cpu | cuda | cuda:<index>")
    data: DataSection = Field(description="the samples to send")
    phy: PhySection = Field(default_factory=PhySection, description="the physical layer shared by every link")
    channels: list[dict[str, Any]] = Field(
        min_length=1, max_length=100,
        description="channel models, each swept: a mapping with model (a name from Channel models, a plugin's, "
                    "or package.module:Class) and that model's fields")
    sweep: SweepSection = Field(description="the points of every codec and channel: SNRs or distances")
    budget: BudgetSection = Field(default_factory=BudgetSection, description="bandwidth budget per sample (optional)")
    link_budget: LinkBudgetSection | None = Field(default=None, description="distance -> SNR; needed by sweep.distance_m")
    codecs: list[CodecSection] = Field(min_length=1, max_length=100, description="codecs to compare: each runs over "
                                       "every channel and sweep point")
    metrics: list[str] = Field(default_factory=lambda: list(DEFAULT_METRICS), max_length=100,
                               description="metrics to report: names from `linksim list` or package.module:METRIC")
    targets: dict[str, float] = Field(default_factory=dict, max_length=100,
                                      description="fidelity targets, e.g. {psnr: 25}: the range table reports where each is met")
    metric_models: MetricModels = Field(default_factory=MetricModels,
                                        description="models of the learned metrics (lpips, clip_score, fid)")
    outputs: OutputsSection = Field(default_factory=OutputsSection,
                                    description="figure formats, resolution, width and matplotlib style")

    # resolved forms, filled by load/validate (not part of the file)
    _channels: list[ChannelParams] = []
    _codec_params: list[CodecParams] = []
    _transports: list[dict[str, Transport]] = []
    _metric_names: list[str] = []

    @field_validator("name")
    @classmethod
    def _fs_name(cls, v: str) -> str:
        return check_label(v, max_length=100)

    @field_validator("device")
    @classmethod
    def _device(cls, v: str) -> str:
        if not re.fullmatch(r"auto|cpu|cuda(:\d+)?", v):
            raise ValueError(f"must be auto, cpu, cuda or cuda:<index>, got '{v}'")
        return v

    @field_validator("metrics")
    @classmethod
    def _metrics(cls, v: list[str]) -> list[str]:
        # names are checked against the metric table by validate_scenario (plugins may add some)
        return list(dict.fromkeys(v))

    # -- resolved views ----------------------------------------------------------------
    @property
    def channel_params(self) -> list[ChannelParams]:
        return self._channels

    @property
    def codec_params(self) -> list[CodecParams]:
        return self._codec_params

    @property
    def transports(self) -> list[dict[str, Transport]]:
        return self._transports

    @property
    def metric_names(self) -> list[str]:
        """The metrics as named in results (a ``package.module:METRIC`` entry by its metric's name)."""
        return self._metric_names or list(self.metrics)

    def snr_points(self) -> list[float]:
        return self.sweep.snr_points()

    def is_distance_sweep(self) -> bool:
        return self.sweep.distance_m is not None

    def sweep_points(self) -> list[tuple[float, float | None]]:
        """``(snr_db, distance_m)`` of every sweep point: the SNR list with ``None``, or each
        distance with the link budget's Es/N0 per resource element there."""
        if not self.is_distance_sweep():
            return [(s, None) for s in self.snr_points()]
        lb = self.link_budget.budget()
        return [(round(lb.snr_db(d), 10), d) for d in self.sweep.distance_points()]

    def budget_channel_uses(self) -> int | None:
        """The bandwidth budget in resource elements per sample, or None (see :func:`budget_channel_uses`)."""
        b = self.budget
        if b.channel_uses is not None:
            return b.channel_uses
        if b.bandwidth_hz is None:
            return None
        from linksim.phy.link_budget import budget_channel_uses

        o = self.phy.ofdm
        data_per_slot = o.num_ofdm_symbols * o.fft_size - len(set(o.pilot_ofdm_symbol_indices)) * o.fft_size
        slot_s = o.num_ofdm_symbols * (o.fft_size + o.cyclic_prefix_length) / (o.fft_size * o.subcarrier_spacing_hz)
        return budget_channel_uses(b.bandwidth_hz, b.duration_s, data_per_slot, o.fft_size, o.subcarrier_spacing_hz, slot_s)


