"""Classic separate source-channel coding: an image file format over LDPC + QAM.

One module per format (``jpeg``, ``jpeg2000``, ``hevc``, ``avif``, ``webp``), each a
subclass of :class:`~.base.ImageFileCodec`, which holds what they share: the budget
search (``target_channel_uses``), the fallback image for a file that does not decode,
the size check before decoding, the decoding deadline and the per-image file cache.
A new format is a short module that says how to compress at one quality setting.
"""
