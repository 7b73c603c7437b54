"""Semantic and classic codecs, registered by name (the scenario's ``codecs[i].type``).

Importing this package imports no codec: each is loaded the first time its name is
looked up in :data:`CODECS` (linksim's own through its entry points, like any plugin's).
"""

from .base import (
    AnalogPayload,
    Codec,
    CodecContext,
    CodecParams,
    DigitalPayload,
    Message,
    PointMetric,
    ReceivedStreams,
    Reconstruction,
    StreamOverride,
    Transport,
    input_fields,
    input_path,
)
from .registry import CODECS, codec_class, register_codec

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
