"""Channel models: one registry, one class per model, all giving OFDM frequency responses.

Every model has unit *average* gain (E|h|^2 = 1 over realisations), so that the SNR
of a scenario is the average received Es/N0 per data resource element. Slots are
independent realisations: a flat model draws one coefficient per slot (block fading),
a TDL/CDL model one impulse response per slot that evolves within the slot with the
user's speed.
"""

from __future__ import annotations

from typing import Callable, ClassVar, Literal

import torch
from pydantic import BaseModel, ConfigDict, Field
from sionna.phy.channel import GenerateOFDMChannel, RayleighBlockFading
from sionna.phy.channel import tr38901

from .ofdm import OFDMGrid


class ChannelParams(BaseModel):
    """Parameters common to every channel entry of a scenario."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    model: str
    name: str | None = Field(default=None, description="label in results; defaults to a description of the model")

    def label(self) -> str:
        """Name of the channel in results and plots: ``name``, or e.g. ``tdl-A``."""
        return self.name or self.default_label()

    def default_label(self) -> str:
        return self.model


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

    def frequency_response(self, num_slots: int) -> torch.Tensor:
        """Draw channel realisations.

        :param num_slots: number of independent slots.
        :return h_freq: ``[num_slots, 1, 1, 1, 1, num_ofdm_symbols, fft_size]`` complex64.
        """
        raise NotImplementedError


CHANNELS: dict[str, type[ChannelModel]] = {}


def register_channel(name: str) -> Callable[[type[ChannelModel]], type[ChannelModel]]:
    """Class decorator adding a channel model to :data:`CHANNELS` under ``name``."""

    def wrap(cls: type[ChannelModel]) -> type[ChannelModel]:
        if name in CHANNELS:
            raise ValueError(f"channel model '{name}' registered twice")
        CHANNELS[name] = cls
        return cls

    return wrap


def channel_class(name: str) -> type[ChannelModel]:
    """Look a channel model up by its scenario name."""
    try:
        return CHANNELS[name]
    except KeyError:
        raise ValueError(f"unknown channel model '{name}' (known: {', '.join(sorted(CHANNELS))})") from None


def build_channel(params: ChannelParams, grid: OFDMGrid) -> ChannelModel:
    """Instantiate the channel described by ``params`` (already validated) on ``grid``."""
    return channel_class(params.model)(params, grid)


class _SionnaChannel(ChannelModel):
    """A channel whose responses come from a Sionna channel model via GenerateOFDMChannel."""

    def __init__(self, params: ChannelParams, grid: OFDMGrid) -> None:
        super().__init__(params, grid)
        # normalize_channel stays False: Sionna's normalisation rescales every slot to
        # unit energy and would remove the block fading the model is there for.
        self._generate = GenerateOFDMChannel(
            self._sionna_model(), grid.resource_grid, normalize_channel=False, device=grid.device
        )

    def _sionna_model(self):  # pragma: no cover - abstract
        raise NotImplementedError

    def frequency_response(self, num_slots: int) -> torch.Tensor:
        return self._generate(int(num_slots))


@register_channel("awgn")
class AWGNChannel(ChannelModel):
    """No fading: h = 1 on every resource element; only noise is added."""

    class Params(ChannelParams):
        model: Literal["awgn"] = "awgn"

    def frequency_response(self, num_slots: int) -> torch.Tensor:
        g = self.grid
        shape = (int(num_slots), 1, 1, 1, 1, g.num_ofdm_symbols, g.fft_size)
        return torch.ones(shape, dtype=torch.complex64, device=g.device)


@register_channel("rayleigh")
class RayleighChannel(_SionnaChannel):
    """Flat Rayleigh block fading: one CN(0, 1) coefficient per slot (Sionna RayleighBlockFading)."""

    class Params(ChannelParams):
        model: Literal["rayleigh"] = "rayleigh"

    def _sionna_model(self):
        return RayleighBlockFading(1, 1, 1, 1, device=self.grid.device)


class _TR38901Params(ChannelParams):
    profile: Literal["A", "B", "C", "D", "E"] = "A"
    delay_spread_s: float = Field(default=100e-9, gt=0, le=1e-5, description="RMS delay spread [s]")
    carrier_frequency_hz: float = Field(default=3.5e9, gt=0, le=100e9, description="carrier frequency [Hz]")
    speed_mps: float = Field(default=0.0, ge=0, le=500, description="user speed [m/s]")

    def default_label(self) -> str:
        return f"{self.model}-{self.profile}"


@register_channel("tdl")
class TDLChannel(_SionnaChannel):
    """3GPP TR 38.901 tapped delay line (profiles A-E), single antenna at each end."""

    class Params(_TR38901Params):
        model: Literal["tdl"] = "tdl"

    def _sionna_model(self):
        p = self.params
        return tr38901.TDL(
            p.profile,
            delay_spread=p.delay_spread_s,
            carrier_frequency=p.carrier_frequency_hz,
            min_speed=p.speed_mps,
            max_speed=p.speed_mps,
            device=self.grid.device,
        )


@register_channel("cdl")
class CDLChannel(_SionnaChannel):
    """3GPP TR 38.901 clustered delay line (profiles A-E), downlink, one omni antenna each end.

    An omni element is used on purpose: the ``38.901`` element pattern adds array gain
    (E|h|^2 of about 3.3) which would shift every SNR.
    """

    class Params(_TR38901Params):
        model: Literal["cdl"] = "cdl"

    def _sionna_model(self):
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
