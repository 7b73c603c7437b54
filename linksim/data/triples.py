"""``triples:<dir>``: a user's folder of aligned (image, caption, audio) triples.

Layout: one folder; a triple is the files sharing a stem, ``<stem>.<image>`` (png,
jpg, jpeg, bmp, tif, tiff, webp, gif), ``<stem>.txt`` (the caption, UTF-8) and
``<stem>.wav`` (PCM or float WAV, any rate, mono or multi-channel). Stems are taken
in sorted order; a stem missing one of the three files is skipped with one
:class:`DataWarning` naming the incomplete stems.

Each image becomes a one-frame clip ``[1, C, S, S]`` (centre-cropped, resized; grey
when every image is grey), each WAV a ``[audio_samples]`` waveform at
``sample_rate`` Hz (channels averaged, polyphase resampling, cut or zero-padded at
the end), each caption lower-cased words (letters, digits, apostrophes), cut to
``text_length`` words and turned into ids of a closed word vocabulary — the one
given, or one built from every caption of the folder.
"""

from __future__ import annotations

import math
import os
import re
import warnings

import numpy as np
import torch

from linksim.data.dataset import DataError, DataWarning, _center_square, _check_count, _pil_to_tensor
from linksim.data.folder import _GREY_MODES, IMAGE_EXTENSIONS, _to_8bit
from linksim.data.multimodal import MultimodalBatch, WordVocabulary

__all__ = ["caption_words", "load_triples", "read_wav"]


def caption_words(text: str) -> list[str]:
    """The words of a caption: lower-cased runs of letters, digits and apostrophes."""
    return re.findall(r"[a-z0-9']+", text.lower())


def read_wav(path: str, sample_rate: int, num_samples: int) -> torch.Tensor:
    """A WAV file as ``[num_samples]`` float32 in ``[-1, 1]`` at ``sample_rate`` Hz.

    Integer PCM is scaled by its full range, channels are averaged, the rate is
    converted with scipy's polyphase filter, and the end is cut or zero-padded.
    """
    from scipy.io import wavfile
    from scipy.signal import resample_poly

    rate, data = wavfile.read(path)
    x = np.asarray(data)
    if x.dtype == np.uint8:
        x = (x.astype(np.float64) - 128.0) / 128.0
    elif np.issubdtype(x.dtype, np.integer):
        x = x.astype(np.float64) / float(-np.iinfo(x.dtype).min)
    else:
        x = x.astype(np.float64)
    if x.ndim == 2:
        x = x.mean(axis=1)
    if int(rate) != sample_rate:
        g = math.gcd(int(rate), sample_rate)
        x = resample_poly(x, sample_rate // g, int(rate) // g)
    out = np.zeros(num_samples, dtype=np.float32)
    n = min(num_samples, len(x))
    out[:n] = np.clip(x[:n], -1.0, 1.0)
    return torch.from_numpy(out)


def load_triples(directory: str, num_samples: int | None = None, image_size: int = 28, sample_rate: int = 8000,
                 audio_samples: int = 2048, text_length: int | None = None,
                 vocabulary: WordVocabulary | None = None) -> MultimodalBatch:
    """Load the first ``num_samples`` complete triples (default: all) of ``directory``.

    :param image_size: side ``S`` of the square frames, pixels.
    :param sample_rate: Hz of the returned waveforms; :param audio_samples: their length.
    :param text_length: ``L`` words per caption (default: the longest caption's).
    :param vocabulary: the word vocabulary of a trained model (a word outside it is an
        error); default: built from the folder's captions, sorted.
    :returns: a :class:`MultimodalBatch` (frames ``[N, 1, C, S, S]``, audio ``[N, audio_samples]``,
        tokens ``[N, L]``, no labels, names ``triples/<stem>``).
    :raises DataError: missing folder, no complete triple, too few triples, unreadable
        files, or unknown words.
    """
    from PIL import Image

    source = f"triples:{directory}"
    folder = os.path.abspath(os.path.expanduser(directory))
    if not os.path.isdir(folder):
        raise DataError(f"data.source {source!r}: folder {folder} does not exist")
    members: dict[str, dict[str, str]] = {}
    for fname in sorted(os.listdir(folder)):
        stem, ext = os.path.splitext(fname)
        ext = ext.lower()
        kind = "image" if ext in IMAGE_EXTENSIONS else {".txt": "text", ".wav": "audio"}.get(ext)
        if kind and not fname.startswith("."):
            members.setdefault(stem, {})[kind] = os.path.join(folder, fname)
    complete = [s for s, m in members.items() if len(m) == 3]
    incomplete = [s for s, m in members.items() if len(m) < 3]
    if incomplete:
        shown = ", ".join(incomplete[:5]) + (" ..." if len(incomplete) > 5 else "")
        warnings.warn(f"{folder}: skipped {len(incomplete)} stem(s) without all of image, .txt and .wav: {shown}",
                      DataWarning, stacklevel=2)
    if not complete:
        raise DataError(f"data.source {source!r}: no complete (image, .txt, .wav) triple in {folder}")
    n = len(complete) if num_samples is None else num_samples
    _check_count(source, n, len(complete), f"complete triples in {folder}")
    stems = complete[:n]

    images, grey = [], True
    for s in stems:
        try:
            with Image.open(members[s]["image"]) as im:
                im.seek(0)
                im.load()
                grey = grey and im.mode in _GREY_MODES
                images.append(im.copy())
        except Exception as exc:  # noqa: BLE001 - any failure: the file is not usable
            raise DataError(f"data.source {source!r}: {members[s]['image']} is not a readable image "
                            f"({type(exc).__name__}: {exc})") from None
    mode = "L" if grey else "RGB"
    frames = torch.stack([_pil_to_tensor(_center_square(_to_8bit(im, mode), image_size)) for im in images])

    audio = []
    for s in stems:
        try:
            audio.append(read_wav(members[s]["audio"], sample_rate, audio_samples))
        except Exception as exc:  # noqa: BLE001
            raise DataError(f"data.source {source!r}: {members[s]['audio']} is not a readable WAV file "
                            f"({type(exc).__name__}: {exc})") from None

    words = []
    for s in stems:
        with open(members[s]["text"], encoding="utf-8", errors="replace") as f:
            words.append(caption_words(f.read()))
    length = text_length or max(1, max(len(w) for w in words))
    captions = [" ".join(w[:length]) for w in words]
    if vocabulary is None:
        vocabulary = WordVocabulary(sorted({w for ws in words for w in ws[:length]}))
    return MultimodalBatch(frames=frames[:, None], audio=torch.stack(audio),
                           tokens=vocabulary.encode(captions, length), captions=captions, labels=None,
                           names=[f"triples/{s}" for s in stems], sample_rate=sample_rate, vocabulary=vocabulary)
