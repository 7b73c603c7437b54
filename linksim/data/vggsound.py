"""``vggsound:<dir>``: a user's copy of VGGSound (video clips with their audio), for multimodal codecs.

Layout (what the VGGSound download scripts produce; clip ``<youtube_id>_<start:06d>``):

- ``<dir>/vggsound.csv``: the official index, one clip per line:
  ``youtube_id,start_seconds,label,split`` (no header; ``split`` is ``train`` or ``test``);
- for each clip, either ``<dir>/video/<clip>.mp4`` (video and audio in one file, decoded
  with PyAV: ``pip install "linksim[bridge]"``), or, already extracted (no decoder
  needed), ``<dir>/frames/<clip>/`` (the frames as images, in name order) and
  ``<dir>/audio/<clip>.wav``.

Clips of the split without any of those files are skipped with one :class:`DataWarning`
naming them. Each clip becomes ``num_frames`` frames evenly spaced over the clip
(centre-cropped to a square, resized to ``image_size``; RGB, or grey when every
extracted frame of the set is a grey image), the first
``audio_samples`` samples of its audio at ``sample_rate`` Hz (channels averaged), the
caption ``<label>`` (e.g. ``"dog barking"``) and the label index (the labels of the
whole index, sorted).
"""

from __future__ import annotations

import csv
import os
import warnings

import numpy as np
import torch

from linksim.data.dataset import (
    DataError,
    DataWarning,
    _center_square,
    _check_count,
    _pil_to_tensor,
)
from linksim.data.folder import _GREY_MODES, IMAGE_EXTENSIONS
from linksim.data.multimodal import MultimodalBatch, WordVocabulary
from linksim.data.triples import caption_words, read_wav

__all__ = ["load_vggsound"]


def _index(source: str, folder: str, split: str) -> tuple[list[tuple[str, str]], list[str]]:
    """``[(clip, label)]`` of ``split`` in file order, and every label of the index, sorted."""
    path = os.path.join(folder, "vggsound.csv")
    if not os.path.isfile(path):
        raise DataError(f"data.source {source!r}: {path} does not exist (the VGGSound index: "
                        "youtube_id,start_seconds,label,split per line)")
    rows = []
    with open(path, newline="", encoding="utf-8") as f:
        for line, row in enumerate(csv.reader(f), start=1):
            if not row or row[0].startswith("#"):
                continue
            if len(row) != 4:
                raise DataError(f"data.source {source!r}: {path} line {line}: expected youtube_id,start_seconds,"
                                f"label,split, got {len(row)} fields")
            ytid, start, label, part = (c.strip() for c in row)
            try:
                clip = f"{ytid}_{int(start):06d}"
            except ValueError:
                raise DataError(f"data.source {source!r}: {path} line {line}: start_seconds {start!r} is not an "
                                "integer") from None
            rows.append((clip, label, part))
    labels = sorted({label for _, label, _ in rows})
    return [(clip, label) for clip, label, part in rows if part == split], labels


def _decode_mp4(path: str, num_frames: int, sample_rate: int, audio_samples: int) -> tuple[list, np.ndarray]:
    """PIL frames (``num_frames``, evenly spaced) and mono float audio at ``sample_rate`` of one clip."""
    import av

    with av.open(path) as container:
        frames = [f.to_image() for f in container.decode(video=0)]
    if not frames:
        raise ValueError("no video frames")
    pick = np.linspace(0, len(frames) - 1, num_frames).round().astype(int)
    chunks = []
    with av.open(path) as container:
        if container.streams.audio:
            resampler = av.AudioResampler(format="flt", layout="mono", rate=sample_rate)
            for frame in container.decode(audio=0):
                for out in resampler.resample(frame):
                    chunks.append(out.to_ndarray().reshape(-1))
                if sum(c.size for c in chunks) >= audio_samples:
                    break
    audio = np.concatenate(chunks) if chunks else np.zeros(0, dtype=np.float32)
    return [frames[i] for i in pick], audio


def load_vggsound(directory: str, split: str = "test", num_samples: int | None = None, image_size: int = 28,
                  num_frames: int = 8, sample_rate: int = 8000, audio_samples: int = 2048,
                  text_length: int | None = None) -> MultimodalBatch:
    """The first ``num_samples`` usable clips (default: all) of ``split`` in a VGGSound folder.

    :param image_size: side ``S`` of the square frames, pixels; :param num_frames: ``T``.
    :param sample_rate: Hz of the waveforms; :param audio_samples: their length ``A``.
    :param text_length: ``L`` words per caption (default: the longest label's).
    :returns: a :class:`MultimodalBatch`: frames ``[N, T, C, S, S]`` (``C`` = 3, or 1 for grey frames), audio ``[N, A]``,
        tokens ``[N, L]`` (vocabulary: the words of every label of the index, sorted),
        labels ``[N]``, names ``vggsound/<clip>``.
    :raises DataError: missing folder or index, no usable clip, too few clips, undecodable files.
    """
    from PIL import Image

    source = f"vggsound:{directory}"
    folder = os.path.abspath(os.path.expanduser(directory))
    if not os.path.isdir(folder):
        raise DataError(f"data.source {source!r}: folder {folder} does not exist")
    clips, all_labels = _index(source, folder, split)
    usable, missing = [], []
    for clip, label in clips:
        mp4 = os.path.join(folder, "video", f"{clip}.mp4")
        frames_dir, wav = os.path.join(folder, "frames", clip), os.path.join(folder, "audio", f"{clip}.wav")
        if os.path.isfile(mp4):
            usable.append((clip, label, mp4, None))
        elif os.path.isdir(frames_dir) and os.path.isfile(wav):
            usable.append((clip, label, frames_dir, wav))
        else:
            missing.append(clip)
    if missing:
        shown = ", ".join(missing[:5]) + (" ..." if len(missing) > 5 else "")
        warnings.warn(f"{folder}: skipped {len(missing)} {split} clip(s) with neither video/<clip>.mp4 nor "
                      f"frames/<clip>/ + audio/<clip>.wav: {shown}", DataWarning, stacklevel=2)
    if not usable:
        raise DataError(f"data.source {source!r}: no {split} clip of vggsound.csv has its files in {folder}")
    n = len(usable) if num_samples is None else num_samples
    _check_count(source, n, len(usable), f"{split} clips with files in {folder}")

    videos, audio, grey = [], [], True
    # file decoding: one clip at a time (I/O bound), tensors batched afterwards
    for clip, _, where, wav in usable[:n]:
        try:
            if wav is None:
                grey = False
                pil_frames, wave = _decode_mp4(where, num_frames, sample_rate, audio_samples)
                clip_audio = np.zeros(audio_samples, dtype=np.float32)
                clip_audio[: min(audio_samples, wave.size)] = np.clip(wave[:audio_samples], -1.0, 1.0)
                clip_audio = torch.from_numpy(clip_audio)
            else:
                names = sorted(f for f in os.listdir(where) if f.lower().endswith(IMAGE_EXTENSIONS))
                if not names:
                    raise ValueError("no image in the frames folder")
                pick = np.linspace(0, len(names) - 1, num_frames).round().astype(int)
                pil_frames = []
                for i in pick:
                    with Image.open(os.path.join(where, names[i])) as im:
                        grey = grey and im.mode in _GREY_MODES
                        pil_frames.append(im.convert("RGB"))
                clip_audio = read_wav(wav, sample_rate, audio_samples)
        except Exception as exc:  # noqa: BLE001 - any decoding failure: name the clip
            raise DataError(f"data.source {source!r}: clip {clip} ({where}) cannot be decoded "
                            f"({type(exc).__name__}: {exc})") from None
        videos.append(torch.stack([_pil_to_tensor(_center_square(f.convert("RGB"), image_size)) for f in pil_frames]))
        audio.append(clip_audio)
    frames = torch.stack(videos)  # [N, T, 3, S, S]
    if grey:  # R = G = B: keep one channel
        frames = frames[:, :, :1].contiguous()

    words = {label: caption_words(label) for label in all_labels}
    length = text_length or max(1, max(len(w) for w in words.values()))
    vocabulary = WordVocabulary(sorted({w for ws in words.values() for w in ws[:length]}))
    captions = [" ".join(words[label][:length]) for _, label, _, _ in usable[:n]]
    label_ids = {label: i for i, label in enumerate(all_labels)}
    return MultimodalBatch(frames=frames, audio=torch.stack(audio),
                           tokens=vocabulary.encode(captions, length), captions=captions,
                           labels=torch.tensor([label_ids[label] for _, label, _, _ in usable[:n]], dtype=torch.int64),
                           names=[f"vggsound/{clip}" for clip, _, _, _ in usable[:n]], sample_rate=sample_rate,
                           vocabulary=vocabulary)
