"""Semantic and classic codecs, registered by name (the scenario's ``codecs[i].type``).

Importing this package imports no codec: each is loaded the first time its name is
looked up in :data:`CODECS` (linksim's own through its entry points, like any plugin's).
The names below are imported on first use (module ``__getattr__``): the codec face
(:mod:`.base`) imports torch, the registry (:mod:`.registry`) does not, so that
``linksim list`` can name every codec without torch.
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .base import (AnalogPayload, Codec, CodecContext, CodecParams, DigitalPayload, Message, PointMetric,
                       ReceivedStreams, Reconstruction, StreamOverride, Transport, input_fields, input_path)
    from .registry import CODECS, codec_class, register_codec

#: public name -> submodule (of this package) that defines it
_EXPORTS = {
    **dict.fromkeys(("AnalogPayload", "Codec", "CodecContext", "CodecParams", "DigitalPayload", "Message",
                     "PointMetric", "ReceivedStreams", "Reconstruction", "StreamOverride", "Transport",
                     "input_fields", "input_path"), "base"),
    **dict.fromkeys(("CODECS", "codec_class", "register_codec"), "registry"),
}


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'linksim.codecs' has no attribute '{name}'")
    value = getattr(import_module(f"{__name__}.{module}"), name)
    globals()[name] = value  # the next access skips this function
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_EXPORTS))


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
    "Reconstruction",
    "StreamOverride",
    "Transport",
    "codec_class",
    "input_fields",
    "input_path",
    "register_codec",
]
