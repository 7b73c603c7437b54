"""Channel models: one registry, one class per model, all giving OFDM frequency responses.

Every model has unit *average* gain (E|h|^2 = 1 over realisations), so that the SNR
of a scenario is the average received Es/N0 per data resource element. Slots are
independent realisations: a flat model draws one coefficient per slot (block fading),
a TDL/CDL model one impulse response per slot that evolves within the slot with the
user's speed.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, ClassVar, Literal

import torch
from pydantic import BaseModel, ConfigDict, Field, field_validator

from linksim.registry import Registry

# Sionna (6 s to import) is imported where a channel is built, not with the registry and
# the Params classes that scenario validation reads
if TYPE_CHECKING:
    from .ofdm import OFDMGrid


#: a user-given label that becomes part of a file name (a codec's, a channel's, the scenario's
#: name): letters, digits and ``_ . + -``, starting with a letter or a digit (so never ``..``,
#: a hidden file, an option or a path), on one line
LABEL_PATTERN = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.+-]*")
#: the longest such label (two of them and a suffix stay far below a file system's 255 bytes)
LABEL_MAX_LENGTH = 64


def check_label(value: str, max_length: int = LABEL_MAX_LENGTH) -> str:
    """``value`` if it is a valid label (:data:`LABEL_PATTERN`, at most ``max_length`` characters).

    :raises ValueError: one line saying what is allowed (the schema adds the field).
    """
    if len(value) > max_length:
        raise ValueError(f"at most {max_length} characters (this one has {len(value)}): it becomes part of file names")
    if not LABEL_PATTERN.fullmatch(value):
        raise ValueError("use letters, digits and _ . + - only, starting with a letter or a digit: "
                         "it becomes part of file names")
    return value


class ChannelParams(BaseModel):
    """Parameters common to every channel entry of a scenario."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    model: str = Field(description="the channel model: a registered name (linksim list) or package.module:Class")
    name: str | None = Field(default=None, min_length=1, max_length=LABEL_MAX_LENGTH,
                             description="label in results, plots and file names (letters, digits and _ . + -); "
                                         "defaults to a description of the model")

    @field_validator("name")
    @classmethod
    def _label(cls, v: str | None) -> str | None:
        return v if v is None else check_label(v)

    def label(self) -> str:
        """Name of the channel in results and plots: ``name``, or e.g. ``tdl-A``."""
        return self.name or self.default_label()

    def default_label(self) -> str:
        # a plugin named ``package.module:Class`` is labelled ``Class`` (labels become file names)
        return self.model.rpartition(":")[2]

    def describe(self) -> str:
        """What the channel is, for people (figure titles): e.g. ``TDL-A, 100 ns, 3 m/s``.
        A plugin's model may override it; the default is its label."""
        return self.default_label()

    def title(self) -> str:
        """Figure title of the channel: :meth:`describe`, after ``name:`` when the scenario names it."""
        described = self.describe()
        return f"{self.name}: {described}" if self.name and self.name != described else described


class ChannelModel(torch.nn.Module):
    """Base class: produces frequency responses for a batch of slots.

    Subclasses set ``Params`` (a pydantic model of their scenario fields) and implement
    :meth:`frequency_response`.
    """

    Params: ClassVar[type[ChannelParams]] = ChannelParams

    def __init__(self, params: ChannelParams, grid: OFDMGrid) -> None:
        super().__init__()
        self.params = params
        self.grid = grid

    @property
    def label(self) -> str:
        """Name of this channel in results and plots."""
        return self.params.label()

    #: distance [m] of the sweep point being simulated (set by the runner; None in SNR sweeps)
    point_distance_m: float | None = None

    def frequency_response(self, num_slots: int, distance_m: float | None = None) -> torch.Tensor:
        """Draw channel realisations.

        :param num_slots: number of independent slots.
        :param distance_m: BS-UT distance [m] of the point, for models whose small-scale
            fading depends on the geometry (``umi``, ``uma``); ignored by the others.
        :return h_freq: ``[num_slots, 1, 1, 1, 1, num_ofdm_symbols, fft_size]`` complex64.
        """
        raise NotImplementedError

    def slot_gains(self, num_slots: int) -> torch.Tensor | None:
        """One complex gain per slot, for models that are flat in time and frequency within a
        slot (the fast receiver then builds no grid); ``None`` (the default) for the others.

        :param num_slots: number of independent slots.
        :return gains: ``[num_slots]`` complex64, or ``None``.
        """
        return None


def _check_channel(obj: object) -> None:
    if not (isinstance(obj, type) and issubclass(obj, ChannelModel)):
        raise TypeError(f"expected a subclass of linksim.phy.channels.ChannelModel, got {obj!r}")


#: every channel model, by the name a scenario's ``channels[i].model`` gives (built-ins are
#: linksim's ``linksim.channels`` entry points; plugins add theirs the same way, or are
#: named ``package.module:Class``)
CHANNELS: Registry[type[ChannelModel]] = Registry("channel model", "linksim.channels", check=_check_channel)
register_channel = CHANNELS.register


def channel_class(name: str) -> type[ChannelModel]:
    """The channel model registered as ``name``, or imported from ``package.module:Class``.

    :raises linksim.errors.UnknownName: unknown name (the message lists the known ones).
    :raises linksim.errors.PluginError: the plugin cannot be imported or is not a channel model.
    """
    return CHANNELS.resolve(name)


def build_channel(params: ChannelParams, grid: OFDMGrid) -> ChannelModel:
    """Instantiate the channel described by ``params`` (already validated) on ``grid``."""
    return channel_class(params.model)(params, grid)


def ofdm_response(generate: GenerateOFDMChannel, num_slots: int) -> torch.Tensor:
    """What ``generate(num_slots)`` returns (``normalize_channel=False``), 3-4x faster on a CPU.

    The impulse responses come from Sionna's model as ``generate`` samples them; only the
    conversion to the frequency domain (Sionna's ``cir_to_ofdm_channel``) is replaced: it
    evaluates ``exp(-j 2 pi f tau)`` with torch's complex ``exp``, which on a CPU costs about
    ten times a real ``cos`` plus ``sin`` of the same phase (float32 phases identical).

    :return h_freq: ``[num_slots, num_rx, num_rx_ant, num_tx, num_tx_ant, num_ofdm_symbols,
        fft_size]`` complex64.
    """
    a, tau = generate._cir_sampler(num_slots, generate._num_ofdm_symbols, generate._sampling_frequency)
    if tau.dim() == 4:  # [batch, rx, tx, paths] -> per antenna pair, as cir_to_ofdm_channel
        tau = tau[:, :, None, :, None, :].expand(-1, -1, a.shape[2], -1, a.shape[4], -1)
    freqs = generate._frequencies.to(device=tau.device, dtype=tau.dtype)
    phase = (-2 * torch.pi) * freqs * tau.unsqueeze(-1)  # [..., paths, fft_size], as Sionna forms it
    e = torch.complex(torch.cos(phase), torch.sin(phase))
    return torch.einsum("...pn,...pf->...nf", a, e)


class _SionnaChannel(ChannelModel):
    """A channel whose responses come from a Sionna channel model via GenerateOFDMChannel."""

    def __init__(self, params: ChannelParams, grid: OFDMGrid) -> None:
        from sionna.phy.channel import GenerateOFDMChannel

        super().__init__(params, grid)
        # normalize_channel stays False: Sionna's normalisation rescales every slot to
        # unit energy and would remove the block fading the model is there for.
        self._generate = GenerateOFDMChannel(
            self._sionna_model(), grid.resource_grid, normalize_channel=False, device=grid.device
        )

    def _sionna_model(self):  # pragma: no cover - abstract
        raise NotImplementedError

    def frequency_response(self, num_slots: int, distance_m: float | None = None) -> torch.Tensor:
        return ofdm_response(self._generate, int(num_slots))


class AWGNChannel(ChannelModel):
    """No fading: h = 1 on every resource element; only noise is added."""

    class Params(ChannelParams):
        model: Literal["awgn"] = "awgn"

        def describe(self) -> str:
            return "AWGN"

    def frequency_response(self, num_slots: int, distance_m: float | None = None) -> torch.Tensor:
        g = self.grid
        shape = (int(num_slots), 1, 1, 1, 1, g.num_ofdm_symbols, g.fft_size)
        return torch.ones(shape, dtype=torch.complex64, device=g.device)

    def slot_gains(self, num_slots: int) -> torch.Tensor:
        return torch.ones(int(num_slots), dtype=torch.complex64, device=self.grid.device)


class RayleighChannel(_SionnaChannel):
    """Flat Rayleigh block fading: one CN(0, 1) coefficient per slot (Sionna RayleighBlockFading)."""

    class Params(ChannelParams):
        model: Literal["rayleigh"] = "rayleigh"

        def describe(self) -> str:
            return "Rayleigh block fading"

    def _sionna_model(self):
        from sionna.phy.channel import RayleighBlockFading

        return RayleighBlockFading(1, 1, 1, 1, device=self.grid.device)

    def slot_gains(self, num_slots: int) -> torch.Tensor:
        # CN(0, 1) per slot, drawn from Sionna's seeded generator as RayleighBlockFading draws
        import sionna.phy

        dev = torch.device(self.grid.device or sionna.phy.config.device)
        key = "cpu" if dev.type == "cpu" else f"cuda:{dev.index or 0}"
        return torch.randn(int(num_slots), dtype=torch.complex64, device=dev, generator=sionna.phy.config.torch_rng(key))


class _TR38901Params(ChannelParams):
    profile: Literal["A", "B", "C", "D", "E"] = Field(default="A", description="TR 38.901 delay profile")
    delay_spread_s: float = Field(default=100e-9, gt=0, le=1e-5, description="RMS delay spread [s]")
    carrier_frequency_hz: float = Field(default=3.5e9, gt=0, le=100e9, description="carrier frequency [Hz]")
    speed_mps: float = Field(default=0.0, ge=0, le=500, description="user speed [m/s]")

    def default_label(self) -> str:
        return f"{self.model}-{self.profile}"

    def describe(self) -> str:
        return (f"{self.model.upper()}-{self.profile}, {self.delay_spread_s * 1e9:g} ns, {self.speed_mps:g} m/s, "
                f"{self.carrier_frequency_hz / 1e9:g} GHz")


class TDLChannel(_SionnaChannel):
    """3GPP TR 38.901 tapped delay line (profiles A-E), single antenna at each end."""

    class Params(_TR38901Params):
        model: Literal["tdl"] = "tdl"

    def _sionna_model(self):
        from sionna.phy.channel import tr38901

        p = self.params
        return tr38901.TDL(
            p.profile,
            delay_spread=p.delay_spread_s,
            carrier_frequency=p.carrier_frequency_hz,
            min_speed=p.speed_mps,
            max_speed=p.speed_mps,
            device=self.grid.device,
        )


class CDLChannel(_SionnaChannel):
    """3GPP TR 38.901 clustered delay line (profiles A-E), downlink, one omni antenna each end.

    An omni element is used on purpose: the ``38.901`` element pattern adds array gain
    (E|h|^2 of about 3.3) which would shift every SNR.
    """

    class Params(_TR38901Params):
        model: Literal["cdl"] = "cdl"

    def _sionna_model(self):
        from sionna.phy.channel import tr38901

        p = self.params
        dev = self.grid.device

        def omni():
            return tr38901.AntennaArray(1, 1, "single", "V", "omni", p.carrier_frequency_hz, device=dev)

        return tr38901.CDL(
            p.profile,
            p.delay_spread_s,
            p.carrier_frequency_hz,
            ut_array=omni(),
            bs_array=omni(),
            direction="downlink",
            min_speed=p.speed_mps,
            max_speed=p.speed_mps,
            device=dev,
        )


class _SystemLevelParams(ChannelParams):
    carrier_frequency_hz: float | None = Field(
        default=None, gt=0, le=100e9, description="carrier [Hz]; default: link_budget.carrier_frequency_hz, else 3.5 GHz")
    los: bool | None = Field(default=None, description="LoS (true) or NLoS; default: link_budget.pathloss.los, else NLoS")
    distance_m: float = Field(default=100.0, ge=10.0, le=5000.0,
                              description="BS-UT distance [m] used when the sweep is over SNR, not distance")
    speed_mps: float = Field(default=0.0, ge=0, le=500, description="user speed [m/s]")
    h_bs_m: float | None = Field(default=None, gt=1.0, le=1000, description="BS height [m] (default 10 m UMi, 25 m UMa)")
    h_ut_m: float = Field(default=1.5, gt=1.0, le=22.5, description="UT height [m]")

    def default_label(self) -> str:
        return f"{self.model}-{'los' if self.los else 'nlos'}"

    def describe(self) -> str:
        where = {"umi": "UMi", "uma": "UMa"}.get(self.model, self.model)
        fc = "" if self.carrier_frequency_hz is None else f", {self.carrier_frequency_hz / 1e9:g} GHz"
        # los None follows the link budget's path loss section, which the title cannot see
        los = "" if self.los is None else (" LoS" if self.los else " NLoS")
        return f"{where}{los}, {self.speed_mps:g} m/s{fc}"


class _SystemLevelChannel(ChannelModel):
    """TR 38.901 UMi / UMa small-scale fading (Sionna), one BS and one UT at the point's distance.

    Path loss and shadow fading are disabled (``enable_pathloss=False``,
    ``enable_shadow_fading=False``): the link budget accounts for them, so the channel
    keeps the unit average gain every linksim channel has. Single omni antennas at both
    ends (downlink), UT outdoors, LoS state forced to ``los``. Sionna's UMi/UMa need
    ``set_topology`` with the batch size of the call: the topology is set on every call
    (one slot = one batch element = one independent drop of the large-scale parameters).
    With path loss and shadowing off, Sionna's cluster powers sum to one, so
    E|h|^2 = 1 over realisations without any rescaling (checked in the tests, LoS and
    NLoS, near and far).
    """

    _sionna_class: ClassVar[str] = ""
    _default_h_bs: ClassVar[float] = 10.0

    def __init__(self, params: "_SystemLevelParams", grid: OFDMGrid) -> None:
        from sionna.phy.channel import GenerateOFDMChannel, tr38901

        super().__init__(params, grid)
        dev = grid.device
        fc = params.carrier_frequency_hz or 3.5e9

        def omni():
            return tr38901.PanelArray(num_rows_per_panel=1, num_cols_per_panel=1, polarization="single",
                                      polarization_type="V", antenna_pattern="omni", carrier_frequency=fc, device=dev)

        cls = getattr(tr38901, self._sionna_class)
        self._model = cls(carrier_frequency=fc, o2i_model="low", ut_array=omni(), bs_array=omni(), direction="downlink",
                          enable_pathloss=False, enable_shadow_fading=False, always_generate_lsp=True, device=dev)
        self._generate = GenerateOFDMChannel(self._model, grid.resource_grid, normalize_channel=False, device=dev)

    def _topology(self, num_slots: int, distance_m: float) -> None:
        p = self.params
        dev = self.grid.device
        h_bs = p.h_bs_m if p.h_bs_m is not None else self._default_h_bs
        f32 = {"dtype": torch.float32, "device": dev}
        ut_loc = torch.tensor([float(distance_m), 0.0, p.h_ut_m], **f32).expand(num_slots, 1, 3).contiguous()
        bs_loc = torch.tensor([0.0, 0.0, h_bs], **f32).expand(num_slots, 1, 3).contiguous()
        zeros = torch.zeros(num_slots, 1, 3, **f32)
        velocity = torch.zeros(num_slots, 1, 3, **f32)
        velocity[..., 0] = p.speed_mps
        if getattr(self, "_topology_batch", None) not in (None, num_slots):
            self._model.reset_topology()  # Sionna refuses a new batch size otherwise
        self._topology_batch = num_slots
        self._model.set_topology(ut_loc=ut_loc, bs_loc=bs_loc, ut_orientations=zeros, bs_orientations=zeros.clone(),
                                 ut_velocities=velocity, in_state=torch.zeros(num_slots, 1, dtype=torch.bool, device=dev),
                                 los=bool(p.los))

    def frequency_response(self, num_slots: int, distance_m: float | None = None) -> torch.Tensor:
        d = float(distance_m if distance_m is not None else self.params.distance_m)
        self._topology(int(num_slots), d)
        return ofdm_response(self._generate, int(num_slots))


class UMiChannel(_SystemLevelChannel):
    """3GPP TR 38.901 UMi-Street Canyon fading (Sionna ``tr38901.UMi``), path loss off."""

    class Params(_SystemLevelParams):
        model: Literal["umi"] = "umi"

    _sionna_class = "UMi"
    _default_h_bs = 10.0


class UMaChannel(_SystemLevelChannel):
    """3GPP TR 38.901 UMa fading (Sionna ``tr38901.UMa``), path loss off."""

    class Params(_SystemLevelParams):
        model: Literal["uma"] = "uma"

    _sionna_class = "UMa"
    _default_h_bs = 25.0
