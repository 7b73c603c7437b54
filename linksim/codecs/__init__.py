"""Semantic and classic codecs, registered by name (the scenario's ``codecs[i].type``).

Importing this package imports no codec: each is loaded the first time its name is
looked up in :data:`CODECS` (linksim's own through its entry points, like any plugin's).
The names below are imported on first use (module ``__getattr__``): the codec face
(:mod:`.base`) imports torch, the registry (:mod:`.registry`) does not, so that
``linksim list`` can name every codec without torch.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from linksim.lazy import lazy_exports

if TYPE_CHECKING:
    from .base import (AnalogPayload, Codec, CodecContext, CodecParams, DigitalPayload, Message, PointMetric,
                       ReceivedStreams, ReceiverCSI, Reconstruction, StreamOverride, Transport, input_fields, input_path)
    from .registry import CODECS, codec_class, register_codec

#: public name -> submodule (of this package) that defines it
_EXPORTS = {
    **dict.fromkeys(("AnalogPayload", "Codec", "CodecContext", "CodecParams", "DigitalPayload", "Message",
                     "PointMetric", "ReceivedStreams", "ReceiverCSI", "Reconstruction", "StreamOverride", "Transport",
                     "input_fields", "input_path"), "base"),
    **dict.fromkeys(("CODECS", "codec_class", "register_codec"), "registry"),
}


__getattr__, __dir__ = lazy_exports(__name__, {name: f".{module}" for name, module in _EXPORTS.items()}, globals())


__all__ = [
    "AnalogPayload",
    "CODECS",
    "Codec",
    "CodecContext",
    "CodecParams",
    "DigitalPayload",
    "Message",
    "PointMetric",
    "ReceivedStreams",
    "ReceiverCSI",
    "Reconstruction",
    "StreamOverride",
    "Transport",
    "codec_class",
    "input_fields",
    "input_path",
    "register_codec",
]
