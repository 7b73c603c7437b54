"""linksim.phy: the physical layer (Sionna 2.x on PyTorch).

The public names below are imported lazily (module ``__getattr__``): ``import
linksim.phy`` is cheap and does not import Sionna; the first use of a name imports the
submodule that defines it.

* :class:`Link` -- the PHY of one stream in one call (grid + channel + transceiver +
  digital or analog link); returns :class:`DigitalLinkOutput` / :class:`AnalogLinkOutput`
  (both :class:`LinkOutput`).
* :class:`DigitalLink`, :class:`AnalogLink`, :class:`OFDMTransceiver`, :class:`OFDMGrid`
  -- the blocks a :class:`Link` is made of; :func:`make_transceiver` picks Sionna's
  transceiver or its fast SISO twin :class:`FastSISOTransceiver`.
* channels: :func:`build_channel`, :func:`channel_class`, :func:`register_channel`,
  :class:`ChannelModel`, :class:`ChannelParams`.
* :func:`noise_variance` (SNR conventions), :func:`as_tensor` (DLPack boundary),
  :func:`bits_per_symbol`, :func:`plan_digital_payload`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from linksim.lazy import lazy_exports

#: public name -> submodule (relative to this package) that defines it
_EXPORTS: dict[str, str] = {
    "Link": "link",
    "LinkOutput": "link",
    "DigitalLinkOutput": "link",
    "AnalogLinkOutput": "link",
    "OFDMParams": "ofdm_params",
    "DigitalLink": "digital_link",
    "DigitalLinkResult": "digital_link",
    "DigitalLinkPlan": "digital_link",
    "plan_digital_payload": "digital_link",
    "AnalogLink": "analog_link",
    "AnalogLinkResult": "analog_link",
    "OFDMGrid": "ofdm",
    "OFDMTransceiver": "transceiver",
    "make_transceiver": "transceiver",
    "FastSISOTransceiver": "fast_siso",
    "ChannelModel": "channels",
    "ChannelParams": "channels",
    "build_channel": "channels",
    "channel_class": "channels",
    "register_channel": "channels",
    "noise_variance": "snr",
    "as_tensor": "dlpack",
    "bits_per_symbol": "modulation",
    "MODULATIONS": "modulation",
}

__all__ = sorted(_EXPORTS)

if TYPE_CHECKING:  # for type checkers and IDEs; at run time the names load on first use
    from .analog_link import AnalogLink, AnalogLinkResult
    from .channels import ChannelModel, ChannelParams, build_channel, channel_class, register_channel
    from .digital_link import DigitalLink, DigitalLinkPlan, DigitalLinkResult, plan_digital_payload
    from .dlpack import as_tensor
    from .link import AnalogLinkOutput, DigitalLinkOutput, Link, LinkOutput
    from .ofdm_params import OFDMParams
    from .modulation import MODULATIONS, bits_per_symbol
    from .ofdm import OFDMGrid
    from .snr import noise_variance
    from .fast_siso import FastSISOTransceiver
    from .transceiver import OFDMTransceiver, make_transceiver


__getattr__, __dir__ = lazy_exports(__name__, {name: f".{module}" for name, module in _EXPORTS.items()}, globals())
