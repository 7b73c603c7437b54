"""Scenario files: the YAML schema (pydantic, strict) and loading.

This schema is a contract with users outside the team (see DESIGN.md): every field
keeps its meaning; unknown keys are errors. Each problem is reported on one line that
names the field path, e.g. ``codecs[1].streams.data.code_rate: must be in (0, 1]``.
"""

from __future__ import annotations

import math
import re
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from linksim.codecs import StreamOverride, Transport, codec_class
from linksim.codecs.base import CodecParams
from linksim.metrics.fidelity import known_fidelity_metrics
from linksim.metrics.learned import MetricModels
from linksim.phy.channels import ChannelParams, channel_class
from linksim.phy.code_blocks import DEFAULT_MAX_BLOCK_BITS

LINK_METRICS = ("ber", "bler")
#: per-sample metrics of multimodal codecs (bridge): video frames, audio, caption tokens,
#: foundation-model similarities, and the linear probe on received codes
MULTIMODAL_METRICS = ("psnr", "ssim", "audio_mse", "si_sdr", "text_acc", "audio_sim", "video_sim", "text_sim",
                      "probe_acc")
#: what a multimodal scenario reports when it lists no metrics
MULTIMODAL_DEFAULT_METRICS = ["ber", "bler", "psnr", "ssim", "audio_mse", "si_sdr", "text_acc", "probe_acc"]
MAX_SNR_POINTS = 1000
MAX_YAML_ALIASES = 100
MAX_YAML_NODES = 100_000  # after expanding aliases; the shipped scenarios have a few hundred
MAX_YAML_DEPTH = 50


class ScenarioError(ValueError):
    """An invalid scenario: ``problems`` holds one ``"field.path: message"`` line each."""

    def __init__(self, problems: list[str]) -> None:
        # a value quoted in a message may hold a newline (or another line break): escape it,
        # so that each problem stays on its one line
        self.problems = ["".join(c if c.isprintable() else c.encode("unicode_escape").decode("ascii") for c in p)
                         for p in problems]
        super().__init__("\n".join(problems))


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class DataSection(_Strict):
    source: str = Field(description="digits28 | digits28:train | photos | folder:<path> | mnist:<dir>; "
                                    "multimodal: digits-av | triples:<dir> | vggsound:<dir> | coco:<dir>")
    num_samples: int = Field(ge=1, le=10_000_000)
    batch_size: int = Field(default=32, ge=1, le=65536)
    image_size: int | None = Field(default=None, ge=4, le=8192, description="square resize [pixels]")


class OFDMSection(_Strict):
    fft_size: int = Field(default=72, ge=1, le=4096, description="subcarriers")
    num_ofdm_symbols: int = Field(default=14, ge=1, le=140)
    subcarrier_spacing_hz: float = Field(default=30e3, gt=0, le=1e7)
    cyclic_prefix_length: int = Field(default=6, ge=0, le=4096)
    pilot_ofdm_symbol_indices: list[int] = Field(default_factory=lambda: [2, 11], max_length=140)

    @model_validator(mode="after")
    def _pilots(self) -> "OFDMSection":
        bad = [i for i in self.pilot_ofdm_symbol_indices if not 0 <= i < self.num_ofdm_symbols]
        if bad:
            raise ValueError(f"pilot_ofdm_symbol_indices: {bad} outside [0, {self.num_ofdm_symbols - 1}]")
        if len(set(self.pilot_ofdm_symbol_indices)) >= self.num_ofdm_symbols:
            raise ValueError("pilot_ofdm_symbol_indices: no OFDM symbol is left for data")
        return self

    @model_validator(mode="after")
    def _cyclic_prefix(self) -> "OFDMSection":
        if self.cyclic_prefix_length > self.fft_size:  # Sionna's ResourceGrid refuses it
            raise ValueError(f"cyclic_prefix_length: {self.cyclic_prefix_length} is longer than fft_size ({self.fft_size})")
        return self


class PhySection(_Strict):
    ofdm: OFDMSection = Field(default_factory=OFDMSection)
    csi: Literal["perfect", "ls"] = "perfect"
    decoder: Literal["auto", "sionna", "fast"] = Field(
        default="auto", description="LDPC decoder: fast (linksim's numba CPU decoder), sionna, or auto (fast on CPU, sionna on CUDA)")
    ldpc_schedule: Literal["layered", "flooding"] = Field(
        default="layered", description="check-node schedule of the fast decoder (Sionna's decoder always floods)")
    ldpc_cn_update: Literal["boxplus-phi", "minsum", "offset-minsum", "normalized-minsum"] = Field(
        default="boxplus-phi", description="check-node rule")
    max_code_block_bits: int = Field(default=DEFAULT_MAX_BLOCK_BITS, ge=37, le=8448,
                                     description="largest LDPC information block, CRC included [bits]")

    @model_validator(mode="after")
    def _sionna_rules(self) -> "PhySection":
        if self.decoder == "sionna" and self.ldpc_cn_update == "normalized-minsum":
            raise ValueError("ldpc_cn_update: normalized-minsum needs decoder: fast (Sionna's decoder has no such rule)")
        return self

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


class SNRRange(_Strict):
    start: float
    stop: float
    step: float = Field(gt=0)

    def values(self) -> list[float]:
        n = int(math.floor((self.stop - self.start) / self.step + 1e-9)) + 1
        return [round(self.start + i * self.step, 10) for i in range(max(n, 0))]

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
    snr_type: Literal["esn0", "ebn0"] = "esn0"
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
        return v

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
        return v

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

    model: Literal["free_space", "umi", "uma", "rma"]
    los: bool = False
    h_bs_m: float | None = Field(default=None, gt=0, le=1000, description="BS height [m] (default 10 / 25 / 35 m)")
    h_ut_m: float = Field(default=1.5, ge=1.0, le=22.5, description="UT height [m]")
    building_height_m: float = Field(default=5.0, ge=5.0, le=50.0, description="RMa average building height h [m]")
    street_width_m: float = Field(default=20.0, ge=5.0, le=50.0, description="RMa average street width W [m]")

    def model_object(self):
        from linksim.phy.pathloss import PathlossModel

        return PathlossModel(self.model, self.los, self.h_bs_m, self.h_ut_m, self.building_height_m, self.street_width_m)


class LinkBudgetSection(_Strict):
    """``link_budget``: distance -> received SNR (see :mod:`linksim.phy.link_budget`)."""

    tx_power_dbm: float = Field(ge=-100, le=100)
    tx_antenna_gain_dbi: float = Field(default=0.0, ge=-50, le=60)
    rx_antenna_gain_dbi: float = Field(default=0.0, ge=-50, le=60)
    other_losses_db: float = Field(default=0.0, ge=0, le=300)
    carrier_frequency_hz: float = Field(gt=0, le=1e12)
    bandwidth_hz: float = Field(gt=0, le=1e12)
    noise_figure_db: float = Field(default=7.0, ge=0, le=100)
    temperature_k: float = Field(default=290.0, gt=0, le=10000)
    pathloss: PathlossSection
    shadowing_margin_db: float = Field(default=0.0, ge=0, le=100)

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


class CodecSection(_Strict):
    name: str = Field(min_length=1, max_length=64, description="label in results and plots")
    type: str
    params: dict[str, Any] = Field(default_factory=dict)
    streams: dict[str, StreamOverride] = Field(default_factory=dict)
    series: str | None = Field(default=None, min_length=1, max_length=64,
                               description="curve this codec belongs to in the fidelity-vs-load plots "
                                           "and comparison sample grids (e.g. several d of one HSC model)")

    @field_validator("name")
    @classmethod
    def _label(cls, v: str) -> str:
        if not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9_.+-]*", v):
            raise ValueError("use letters, digits and _ . + - only")
        return v


class Scenario(_Strict):
    """A whole scenario file."""

    name: str = Field(min_length=1, max_length=100)
    seed: int = Field(default=0, ge=0, le=2**63 - 1)
    device: str = Field(default="auto", description="auto | cpu | cuda | cuda:<index>")
    data: DataSection
    phy: PhySection = Field(default_factory=PhySection)
    channels: list[dict[str, Any]] = Field(min_length=1, max_length=100)
    sweep: SweepSection
    budget: BudgetSection = Field(default_factory=BudgetSection)
    link_budget: LinkBudgetSection | None = None
    codecs: list[CodecSection] = Field(min_length=1, max_length=100)
    metrics: list[str] = Field(default_factory=lambda: ["ber", "bler", "mse", "psnr", "ssim"], max_length=100)
    targets: dict[str, float] = Field(default_factory=dict, max_length=100,
                                      description="fidelity targets, e.g. {psnr: 25}: the range table reports where each is met")
    metric_models: MetricModels = Field(default_factory=MetricModels,
                                        description="models of the learned metrics (lpips, clip_score, fid)")

    # resolved forms, filled by load/validate (not part of the file)
    _channels: list[ChannelParams] = []
    _codec_params: list[CodecParams] = []
    _transports: list[dict[str, Transport]] = []

    @field_validator("name")
    @classmethod
    def _fs_name(cls, v: str) -> str:
        if not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9_.-]*", v):
            raise ValueError("must be usable as a folder name: letters, digits and _ . - only")
        return v

    @field_validator("device")
    @classmethod
    def _device(cls, v: str) -> str:
        if not re.fullmatch(r"auto|cpu|cuda(:\d+)?", v):
            raise ValueError(f"must be auto, cpu, cuda or cuda:<index>, got '{v}'")
        return v

    @field_validator("metrics")
    @classmethod
    def _metrics(cls, v: list[str]) -> list[str]:
        known = list(dict.fromkeys(list(LINK_METRICS) + known_fidelity_metrics() + list(MULTIMODAL_METRICS)))
        bad = [m for m in v if m not in known]
        if bad:
            raise ValueError(f"unknown metric(s) {bad} (known: {', '.join(known)})")
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


def _loc(loc: tuple) -> str:
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        elif re.fullmatch(r"[\w+/-]+", str(part)):
            out += ("." if out else "") + str(part)
        else:  # an empty key, or one with spaces, dots, colons...: quoted, so that it shows
            out += f"[{str(part)!r}]"
    return out


#: the names pydantic gives the branches of a union in an error's location (``d.int``, ``d.literal['auto']``)
_UNION_BRANCH = re.compile(r"int|float|str|bool|none|(literal|dict|tuple|set)\[.*\]")


def _problems(err: ValidationError, prefix: tuple = ()) -> list[str]:
    by_field: dict[str, list[str]] = {}
    for e in err.errors():
        loc = tuple(p for p in e["loc"] if not (isinstance(p, str) and (
            p.startswith(("function-", "list[", "tagged-union"))
            or (e["type"] != "extra_forbidden" and _UNION_BRANCH.fullmatch(p)))))
        msg = e["msg"]
        if e["type"] == "extra_forbidden":
            msg = "unknown field"
        elif e["type"] == "missing":
            msg = "missing required field"
        msg = msg.removeprefix("Value error, ")
        messages = by_field.setdefault(_loc(prefix + loc) or "(top level)", [])
        if msg not in messages:
            messages.append(msg)
    # a union's branches fail together: one line per field, the alternatives joined
    return [f"{field}: {'; or: '.join(messages)}" for field, messages in by_field.items()]


def validate_scenario(raw: Any, base_dir: Path | None = None) -> Scenario:
    """Validate a parsed YAML document; return the resolved :class:`Scenario`.

    :param raw: the parsed YAML (a mapping).
    :param base_dir: folder of the scenario file; relative ``folder:`` / ``mnist:`` paths
        in ``data.source`` are resolved against it.
    :raises ScenarioError: listing every problem found, one line each.
    """
    if not isinstance(raw, dict):
        raise ScenarioError([f"(top level): expected a mapping of sections, got {type(raw).__name__}"])
    try:
        sc = Scenario.model_validate(raw)
    except ValidationError as e:
        raise ScenarioError(_problems(e)) from None
    problems: list[str] = []

    channels, labels = [], []
    for i, ch in enumerate(sc.channels):
        if not isinstance(ch, dict):
            problems.append(f"channels[{i}]: expected a mapping like {{model: awgn}}")
            continue
        model = ch.get("model")
        if model is None:
            problems.append(f"channels[{i}].model: missing required field")
            continue
        if not isinstance(model, str):
            problems.append(f"channels[{i}].model: must be a string")
            continue
        try:
            cls = channel_class(str(model))
            params = cls.Params.model_validate(ch)
        except ValidationError as e:
            problems += _problems(e, ("channels", i))
            continue
        except ValueError as e:
            problems.append(f"channels[{i}].model: {e}")
            continue
        if params.model in ("umi", "uma"):  # geometry defaults from the link budget
            lb = sc.link_budget
            fill = {}
            if params.carrier_frequency_hz is None:
                fill["carrier_frequency_hz"] = lb.carrier_frequency_hz if lb is not None else 3.5e9
            if params.los is None:
                fill["los"] = lb.pathloss.los if lb is not None else False
            if params.h_bs_m is None and lb is not None and lb.pathloss.model == params.model:
                fill["h_bs_m"] = lb.pathloss.h_bs_m
            params = params.model_copy(update=fill)
            if sc.is_distance_sweep():
                bad = [d for d in sc.sweep.distance_points() if not 10.0 <= d <= 5000.0]
                if bad:
                    problems.append(f"channels[{i}]: {params.model} fading is defined for distances in [10, 5000] m, "
                                    f"the sweep has {bad}")
        channels.append(params)
        label = params.label()
        if label in labels:
            problems.append(f"channels[{i}]: label '{label}' is used twice; give one a 'name'")
        labels.append(label)

    codec_params, transports, names = [], [], []
    for i, c in enumerate(sc.codecs):
        if c.name in names:
            problems.append(f"codecs[{i}].name: '{c.name}' is used twice")
        names.append(c.name)
        try:
            cls = codec_class(c.type)
        except ValueError as e:
            problems.append(f"codecs[{i}].type: {e}")
            continue
        try:
            codec_params.append(cls.Params.model_validate(c.params))
        except ValidationError as e:
            problems += _problems(e, ("codecs", i, "params"))
        try:
            transports.append(cls.resolve_transports(dict(c.streams)))
        except ValueError as e:
            problems.append(f"codecs[{i}].streams: {e}")

    if sc.is_distance_sweep():
        if sc.link_budget is None:
            problems.append("sweep.distance_m: a distance sweep needs a link_budget section")
        else:
            pl = sc.link_budget.pathloss.model_object()
            for d in sc.sweep.distance_points():
                try:
                    pl.check_distance(d)
                except ValueError as e:
                    problems.append(f"sweep.distance_m: {e}")
    for name in sc.targets:
        if name in LINK_METRICS or name not in known_fidelity_metrics():
            problems.append(f"targets.{name}: not a fidelity metric (known: {', '.join(known_fidelity_metrics())})")
        elif name not in sc.metrics:
            problems.append(f"targets.{name}: add '{name}' to metrics to have it measured")
    if sc.budget.bandwidth_hz is not None and sc.budget_channel_uses() < 1:
        problems.append("budget: bandwidth_hz x duration_s give less than one resource element "
                        "(duration shorter than a slot, or bandwidth narrower than a subcarrier)")

    sc, more = _check_modalities(sc, codec_params)
    problems += more

    if sc.sweep.snr_type == "ebn0":
        for i, t in enumerate(transports):
            for s, tr in t.items():
                if tr.path == "analog":
                    problems.append(f"codecs[{i}].streams.{s}.path: Eb/N0 is undefined for analog streams; use sweep.snr_type: esn0")

    source = sc.data.source
    for kind in ("folder:", "mnist:", "triples:", "vggsound:", "coco:"):
        if source.startswith(kind):
            folder = source[len(kind):]
            split = ""
            if kind in ("mnist:", "vggsound:", "coco:") and folder.endswith((":train", ":test", ":val")):
                folder, split = folder.rsplit(":", 1)
                split = ":" + split
            path = Path(folder).expanduser()
            if not path.is_absolute() and base_dir is not None:
                path = (base_dir / path).resolve()
            if not path.is_dir():
                problems.append(f"data.source: folder '{folder}' does not exist (resolved to {path})")
            else:
                sc = sc.model_copy(update={"data": sc.data.model_copy(update={"source": f"{kind}{path}{split}"})})

    if problems:
        raise ScenarioError(problems)
    sc._channels = channels
    sc._codec_params = codec_params
    sc._transports = transports
    return sc


def _check_modalities(sc: Scenario, codec_params: list[CodecParams]) -> tuple[Scenario, list[str]]:
    """Data and codecs must agree on what a sample is: images (image codecs, image metrics) or
    (video, audio, text) samples (multimodal codecs, :data:`MULTIMODAL_METRICS`). A multimodal
    scenario without ``metrics`` gets :data:`MULTIMODAL_DEFAULT_METRICS`."""
    from linksim.data import is_multimodal_source

    problems = []
    multimodal = is_multimodal_source(sc.data.source)
    if multimodal and "metrics" not in sc.model_fields_set:
        sc = sc.model_copy(update={"metrics": list(MULTIMODAL_DEFAULT_METRICS)})
    for i, c in enumerate(sc.codecs):
        try:
            cls = codec_class(c.type)
        except ValueError:
            continue  # reported with the codec
        if multimodal and not cls.multimodal:
            problems.append(f"codecs[{i}].type: '{c.type}' codes images, but data.source '{sc.data.source}' gives "
                            "(video, audio, text) samples: use a multimodal codec (bridge) or an image source")
        elif cls.multimodal and not multimodal:
            problems.append(f"codecs[{i}].type: '{c.type}' needs (video, audio, text) samples, but data.source "
                            f"'{sc.data.source}' gives images: use digits-av, triples:<dir>, vggsound:<dir> or coco:<dir>")
    aligned = len(codec_params) == len(sc.codecs)  # else a codec's params are invalid, already reported
    for i, (c, params) in enumerate(zip(sc.codecs, codec_params if aligned else [])):
        if not codec_class(c.type).multimodal:
            continue
        for field_name, message in codec_class(c.type).metric_problems(params, sc.metrics).items():
            problems.append(f"codecs[{i}].params.{field_name}: {message}")
    allowed = set(LINK_METRICS) | set(MULTIMODAL_METRICS) if multimodal else \
        set(LINK_METRICS) | set(known_fidelity_metrics())
    bad = [m for m in sc.metrics if m not in allowed]
    if bad:
        what = "(video, audio, text) samples" if multimodal else "images"
        problems.append(f"metrics: {bad} do not apply to the {what} of data.source '{sc.data.source}' "
                        f"(use: {', '.join(m for m in (*LINK_METRICS, *(MULTIMODAL_METRICS if multimodal else known_fidelity_metrics())))})")
    return sc, problems


class _GuardedLoader(yaml.SafeLoader):
    """SafeLoader that refuses documents with many aliases (YAML 'billion laughs' bombs)."""

    def __init__(self, stream) -> None:
        super().__init__(stream)
        self._aliases = 0

    def compose_node(self, parent, index):
        if self.check_event(yaml.AliasEvent):
            self._aliases += 1
            if self._aliases > MAX_YAML_ALIASES:
                raise ScenarioError([f"(top level): more than {MAX_YAML_ALIASES} YAML aliases; refusing a possible alias bomb"])
        return super().compose_node(parent, index)


def _check_expanded_size(node: yaml.Node | None) -> None:
    """Refuse a composed document that nests deeper than :data:`MAX_YAML_DEPTH` or expands
    (aliases followed) to more than :data:`MAX_YAML_NODES` nodes.

    A few dozen aliases suffice for a 'billion laughs' bomb (9 levels of 9 aliases each):
    counting aliases alone does not stop it. Sizes are memoised per node, so this costs one
    visit of each distinct node however large the expansion.
    """
    sizes: dict[int, int] = {}

    def size(n: yaml.Node, depth: int) -> int:
        if depth > MAX_YAML_DEPTH:
            raise ScenarioError([f"(file): nested deeper than {MAX_YAML_DEPTH} levels"])
        if id(n) in sizes:
            return sizes[id(n)]
        if isinstance(n, yaml.SequenceNode):
            total = 1 + sum(size(c, depth + 1) for c in n.value)
        elif isinstance(n, yaml.MappingNode):
            total = 1 + sum(size(k, depth + 1) + size(v, depth + 1) for k, v in n.value)
        else:
            total = 1
        if total > MAX_YAML_NODES:
            raise ScenarioError([f"(top level): more than {MAX_YAML_NODES} values once aliases are expanded; "
                                 "refusing a possible alias bomb"])
        sizes[id(n)] = total
        return total

    if node is not None:
        size(node, 0)


def parse_yaml(text: str, origin: str = "scenario") -> Any:
    """Parse YAML text safely; a syntax error becomes a one-line :class:`ScenarioError`.

    Alias bombs and documents nested deeper than :data:`MAX_YAML_DEPTH` are refused
    before any Python object is built.
    """
    loader = None
    try:
        loader = _GuardedLoader(text)  # the reader refuses control characters here already
        node = loader.get_single_node()
        _check_expanded_size(node)
        return loader.construct_document(node) if node is not None else None
    except RecursionError:  # the composer recurses once per nesting level
        raise ScenarioError([f"(file): {origin} nests too deeply (more than {MAX_YAML_DEPTH} levels)"]) from None
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        where = f" (line {mark.line + 1}, column {mark.column + 1})" if mark else ""
        problem = getattr(e, "problem", None) or str(e).splitlines()[0]
        raise ScenarioError([f"(file): {origin} is not valid YAML{where}: {problem}"]) from None
    finally:
        if loader is not None:
            loader.dispose()


def load_scenario(path: str | Path) -> Scenario:
    """Read, parse and validate a scenario file.

    :raises ScenarioError: unreadable file, invalid YAML, or invalid scenario.
    """
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ScenarioError([f"(file): {path} does not exist"]) from None
    except (OSError, UnicodeDecodeError) as e:
        raise ScenarioError([f"(file): cannot read {path}: {e}"]) from None
    return validate_scenario(parse_yaml(text, str(path)), base_dir=path.parent)


def scenario_to_yaml(sc: Scenario) -> str:
    """The resolved scenario (defaults filled in) as YAML, for the run folder."""
    data = sc.model_dump(mode="json")
    data["channels"] = [p.model_dump(mode="json") for p in sc.channel_params] or data["channels"]
    for c, p in zip(data["codecs"], sc.codec_params):
        c["params"] = p.model_dump(mode="json")
    return yaml.safe_dump(data, sort_keys=False)
