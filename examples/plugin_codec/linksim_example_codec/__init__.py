"""linksim-example-codec: a tiny convolutional autoencoder codec, as a linksim plugin.

linksim finds it through the ``linksim.codecs`` entry point (``type: tiny-ae`` in a
scenario) or by its import path (``type: linksim_example_codec.codec:TinyAutoencoderCodec``).
Importing this package loads nothing heavy: the model is read when a codec is built.
"""

from .codec import TinyAEParams, TinyAutoencoderCodec

__all__ = ["TinyAEParams", "TinyAutoencoderCodec"]
__version__ = "0.1.0"
