"""``coco:<dir>``: a user's copy of COCO captions (image + caption), for multimodal codecs.

Layout (as downloaded from cocodataset.org, 2017 release):

- ``<dir>/annotations/captions_<split>2017.json`` (``split``: ``val`` by default, or ``train``);
- ``<dir>/<split>2017/<file_name>`` for every image the json lists.

Images are taken in the json's order; an image whose file is missing or has no caption
is skipped (one :class:`DataWarning` naming them). Each image becomes a one-frame clip
``[1, 3, S, S]`` (centre-cropped, resized), its first caption (lowest annotation id)
lower-cased words cut to ``text_length``. COCO has no audio: the waveform is silence
(``audio_samples`` zeros), so audio metrics of a COCO run say nothing; there are no labels.
"""

from __future__ import annotations

import json
import os
import warnings

import torch

from linksim.data.dataset import (
    DataError,
    DataWarning,
    _center_square,
    _check_count,
    _pil_to_tensor,
)
from linksim.data.multimodal import MultimodalBatch, WordVocabulary
from linksim.data.triples import caption_words

__all__ = ["load_coco_captions"]


def load_coco_captions(directory: str, split: str = "val", num_samples: int | None = None, image_size: int = 28,
                       sample_rate: int = 8000, audio_samples: int = 2048,
                       text_length: int | None = None) -> MultimodalBatch:
    """The first ``num_samples`` captioned images (default: all) of a COCO ``split``.

    :param image_size: side ``S`` of the square frames, pixels.
    :param sample_rate, audio_samples: rate (Hz) and length of the silent waveforms.
    :param text_length: ``L`` words per caption (default: the longest loaded caption's).
    :returns: a :class:`MultimodalBatch`: frames ``[N, 1, 3, S, S]``, audio zeros
        ``[N, audio_samples]``, tokens ``[N, L]`` (vocabulary: the loaded captions' words,
        sorted), no labels, names ``coco/<file_name>``.
    :raises DataError: missing folder or annotation file, a malformed json, too few images,
        unreadable images.
    """
    from PIL import Image

    source = f"coco:{directory}"
    folder = os.path.abspath(os.path.expanduser(directory))
    if not os.path.isdir(folder):
        raise DataError(f"data.source {source!r}: folder {folder} does not exist")
    path = os.path.join(folder, "annotations", f"captions_{split}2017.json")
    if not os.path.isfile(path):
        raise DataError(f"data.source {source!r}: {path} does not exist (COCO captions annotations)")
    try:
        with open(path, encoding="utf-8") as f:
            doc = json.load(f)
        images = [(int(im["id"]), str(im["file_name"])) for im in doc["images"]]
        notes = sorted((int(a["id"]), int(a["image_id"]), str(a["caption"])) for a in doc["annotations"])
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise DataError(f"data.source {source!r}: {path} is not a COCO captions file "
                        f"({type(exc).__name__}: {exc})") from None
    first: dict[int, str] = {}
    for _, image_id, caption in notes:
        first.setdefault(image_id, caption)
    image_dir = os.path.join(folder, f"{split}2017")
    usable = [(i, name) for i, name in images if i in first and os.path.isfile(os.path.join(image_dir, name))]
    if len(usable) < len(images):
        warnings.warn(f"{folder}: skipped {len(images) - len(usable)} image(s) of {os.path.basename(path)} without "
                      f"a caption or a file in {image_dir}", DataWarning, stacklevel=2)
    if not usable:
        raise DataError(f"data.source {source!r}: no captioned image of {path} is in {image_dir}")
    n = len(usable) if num_samples is None else num_samples
    _check_count(source, n, len(usable), f"captioned images in {image_dir}")
    usable = usable[:n]

    frames = []
    for _, name in usable:
        try:
            with Image.open(os.path.join(image_dir, name)) as im:
                frames.append(_pil_to_tensor(_center_square(im.convert("RGB"), image_size)))
        except Exception as exc:  # noqa: BLE001 - any failure: the file is not usable
            raise DataError(f"data.source {source!r}: {os.path.join(image_dir, name)} is not a readable image "
                            f"({type(exc).__name__}: {exc})") from None
    words = [caption_words(first[i]) for i, _ in usable]
    length = text_length or max(1, max(len(w) for w in words))
    captions = [" ".join(w[:length]) for w in words]
    vocabulary = WordVocabulary(sorted({w for ws in words for w in ws[:length]}))
    return MultimodalBatch(frames=torch.stack(frames)[:, None], audio=torch.zeros(n, audio_samples),
                           tokens=vocabulary.encode(captions, length), captions=captions, labels=None,
                           names=[f"coco/{name}" for _, name in usable], sample_rate=sample_rate,
                           vocabulary=vocabulary)
