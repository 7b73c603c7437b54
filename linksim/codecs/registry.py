"""The codec registry: one dict, filled by a decorator, the single source of truth."""

from __future__ import annotations

from typing import Callable

from .base import Codec

CODECS: dict[str, type[Codec]] = {}


def register_codec(name: str) -> Callable[[type[Codec]], type[Codec]]:
    """Class decorator adding a codec under ``name`` (the scenario's ``type``)."""

    def wrap(cls: type[Codec]) -> type[Codec]:
        if name in CODECS:
            raise ValueError(f"codec type '{name}' registered twice")
        CODECS[name] = cls
        cls.type_name = name
        return cls

    return wrap


def codec_class(name: str) -> type[Codec]:
    """Look a codec up by type name; an unknown name lists the known ones."""
    try:
        return CODECS[name]
    except KeyError:
        raise ValueError(f"unknown codec type '{name}' (known: {', '.join(sorted(CODECS))})") from None
