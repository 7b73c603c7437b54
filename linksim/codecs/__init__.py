"""Semantic and classic codecs, registered by name (the scenario's ``codecs[i].type``)."""

from . import bridge, caption_latent, hsc, image_compression, raw  # noqa: F401  (registration side effects)
from .base import (
    AnalogPayload,
    Codec,
    CodecContext,
    CodecParams,
    DigitalPayload,
    Message,
    ReceivedStreams,
    Reconstruction,
    StreamOverride,
    Transport,
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
    "ReceivedStreams",
    "Reconstruction",
    "StreamOverride",
    "Transport",
    "codec_class",
    "register_codec",
]
