"""linksim: link-level simulation of semantic codecs over a Sionna 2 physical layer."""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("linksim")
except PackageNotFoundError:  # running from a source tree without an install
    __version__ = "0.0.0+unknown"

__all__ = ["__version__"]
