"""The codec registry: the scenario's ``codecs[i].type`` -> a :class:`~linksim.codecs.base.Codec` class.

Built-in codecs are entry points of linksim (group ``linksim.codecs`` in pyproject.toml),
plugins are entry points of their own distributions, a scenario may name
``package.module:Class``, and a notebook may call ``@register_codec("name")``: one
:class:`~linksim.registry.Registry` serves them all.
"""

from __future__ import annotations

import inspect
from typing import TYPE_CHECKING, Callable

from linksim.registry import Registry

if TYPE_CHECKING:
    from .base import Codec


def _check_codec(obj: object) -> None:
    from .base import Codec  # torch: imported when a codec is registered, not with the registry (linksim list)

    if not (inspect.isclass(obj) and issubclass(obj, Codec)):
        raise TypeError(f"expected a subclass of linksim.codecs.Codec, got {obj!r}")
    if not obj.default_streams:
        raise ValueError(f"{obj.__qualname__} declares no default_streams (stream name -> Transport)")


#: every codec type, by name
CODECS: Registry[type[Codec]] = Registry("codec type", "linksim.codecs", check=_check_codec)


def _tag(name: str, cls: type[Codec]) -> None:
    # the name a codec was found under, for messages and fingerprints; and the metrics it
    # brings join the one metric table
    if not cls.__dict__.get("type_name"):
        cls.type_name = name
    from linksim.metrics.table import METRICS, Metric

    for m in cls.provides_metrics:
        if isinstance(m, Metric):
            METRICS.register(m.name, m)


CODECS.on_register(_tag)


def register_codec(name: str) -> Callable[[type[Codec]], type[Codec]]:
    """Class decorator adding a codec under ``name`` (the scenario's ``type``), e.g. in a notebook.

    Registering the same class again (or a redefinition of it, as when a notebook cell
    runs twice) replaces it; another class under a taken name is a ``ValueError``.
    """
    return CODECS.register(name)


def codec_class(name: str) -> type[Codec]:
    """The codec class registered as ``name``, or imported from ``package.module:Class``.

    :raises linksim.errors.UnknownName: unknown name (the message lists the known ones).
    :raises linksim.errors.PluginError: the plugin cannot be imported or is not a codec.
    """
    return CODECS.resolve(name)
