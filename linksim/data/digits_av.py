"""``digits-av``: a bundled, deterministic (video, audio, caption) set built from digits28.

Each sample is one digits28 digit (same fixed train/test split) turned into three
aligned modalities that share its meaning:

- **video** ``[T=8, 1, 28, 28]``: the digit, shrunk to 16x16 pixels, drifting across a
  black 28x28 frame in one of four directions (left, right, up, down), from -5 to +5
  pixels off centre in equal steps (bilinear sub-pixel placement, zero fill);
- **caption**: ``"a handwritten <digit> moving <direction>"`` (e.g. ``"a handwritten
  seven moving left"``), 5 words of a 17-word vocabulary;
- **audio** ``[S=2048]`` at 8 kHz (0.256 s): an arpeggio of four 512-sample notes at
  ``f0 * (1, 5/4, 3/2, 2)`` with ``f0 = 220 * 2**(digit/6)`` Hz (220 Hz for zero to
  622 Hz for nine), each under a Hann envelope, peak amplitude 0.5.

The direction of each sample is drawn once from a fixed internal seed (independent
of the scenario seed), so ``digits-av`` is the same everywhere.
"""

from __future__ import annotations

import functools
import math

import numpy as np
import torch

from linksim.data.dataset import DataError, _check_count
from linksim.data.digits import _all_digits, _split_indices
from linksim.data.multimodal import MultimodalBatch, WordVocabulary

__all__ = ["AUDIO_SAMPLES", "DIRECTIONS", "DIGIT_WORDS", "NUM_FRAMES", "SAMPLE_RATE", "VOCABULARY",
           "load_digits_av"]

NUM_FRAMES = 8
"""Video frames per sample."""
FRAME_SIZE = 28
"""Frame side, pixels."""
DIGIT_SIZE = 16
"""Side of the shrunk digit inside the frame, pixels."""
MAX_OFFSET = 5.0
"""The digit drifts from -MAX_OFFSET to +MAX_OFFSET pixels off centre along its direction."""
SAMPLE_RATE = 8000
"""Audio sample rate, Hz."""
NOTE_SAMPLES = 512
"""Samples per note (64 ms)."""
NOTE_RATIOS = (1.0, 1.25, 1.5, 2.0)
"""Pitch of each note relative to the digit's base pitch (a major arpeggio)."""
AUDIO_SAMPLES = NOTE_SAMPLES * len(NOTE_RATIOS)
"""Audio samples per clip (2048 = 0.256 s)."""
DIGIT_WORDS = ("zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine")
DIRECTIONS = ("left", "right", "up", "down")
VOCABULARY = WordVocabulary(("a", "handwritten", *DIGIT_WORDS, "moving", *DIRECTIONS))
"""The captions' vocabulary (17 words + ``<pad>``)."""
CAPTION_WORDS = 5
DIRECTION_SEED = 20_251_122
"""Seed of the fixed per-digit drift directions. Changing it changes every result."""

# pixels of displacement (dx, dy) per unit of drift, per direction (y grows downwards)
_UNIT = {"left": (-1.0, 0.0), "right": (1.0, 0.0), "up": (0.0, -1.0), "down": (0.0, 1.0)}


def _directions(n: int) -> np.ndarray:
    """Direction index (into DIRECTIONS) of each of the ``n`` digits28 images."""
    return np.random.default_rng(DIRECTION_SEED).integers(0, len(DIRECTIONS), n)


def drifting_frames(digits: torch.Tensor, direction: torch.Tensor) -> torch.Tensor:
    """Clips of digits drifting across the frame.

    :param digits: ``[B, 1, h, w]`` images in ``[0, 1]``.
    :param direction: ``[B]`` int64 indices into :data:`DIRECTIONS`.
    :returns: ``[B, NUM_FRAMES, 1, FRAME_SIZE, FRAME_SIZE]`` float32 in ``[0, 1]``.
    """
    b = digits.shape[0]
    small = torch.nn.functional.interpolate(digits, size=(DIGIT_SIZE, DIGIT_SIZE), mode="bilinear",
                                            align_corners=False, antialias=True)
    pad = (FRAME_SIZE - DIGIT_SIZE) // 2
    canvas = torch.nn.functional.pad(small, (pad, pad, pad, pad))  # [B, 1, 28, 28], digit centred
    unit = torch.tensor([_UNIT[d] for d in DIRECTIONS], dtype=torch.float32)[direction]  # [B, 2] (dx, dy)
    steps = torch.linspace(-MAX_OFFSET, MAX_OFFSET, NUM_FRAMES)  # [T] pixels
    shift = unit[:, None, :] * steps[None, :, None]  # [B, T, 2] pixels
    # grid_sample reads the input at (output position - shift); normalised units are 2/size per pixel
    theta = torch.zeros(b * NUM_FRAMES, 2, 3)
    theta[:, 0, 0] = theta[:, 1, 1] = 1.0
    theta[:, :, 2] = -2.0 * shift.reshape(-1, 2) / FRAME_SIZE
    grid = torch.nn.functional.affine_grid(theta, (b * NUM_FRAMES, 1, FRAME_SIZE, FRAME_SIZE), align_corners=False)
    src = canvas.repeat_interleave(NUM_FRAMES, dim=0)
    frames = torch.nn.functional.grid_sample(src, grid, mode="bilinear", padding_mode="zeros", align_corners=False)
    return frames.clamp_(0.0, 1.0).reshape(b, NUM_FRAMES, 1, FRAME_SIZE, FRAME_SIZE)


def tone_sequence(labels: torch.Tensor) -> torch.Tensor:
    """The arpeggio whose pitch encodes each digit.

    :param labels: ``[B]`` int64 digits 0..9.
    :returns: ``[B, AUDIO_SAMPLES]`` float32 waveforms in ``[-0.5, 0.5]`` at :data:`SAMPLE_RATE` Hz.
    """
    f0 = 220.0 * torch.pow(2.0, labels.to(torch.float32) / 6.0)  # [B] Hz
    freqs = f0[:, None] * torch.tensor(NOTE_RATIOS)[None, :]  # [B, 4] Hz
    t = torch.arange(NOTE_SAMPLES, dtype=torch.float32) / SAMPLE_RATE  # [512] s
    envelope = torch.hann_window(NOTE_SAMPLES, periodic=False)
    notes = 0.5 * envelope * torch.sin(2.0 * math.pi * freqs[:, :, None] * t)  # [B, 4, 512]
    return notes.reshape(labels.shape[0], AUDIO_SAMPLES)


@functools.lru_cache(maxsize=1)
def _all_directions() -> torch.Tensor:
    return torch.from_numpy(_directions(_all_digits()[0].shape[0]))


def load_digits_av(split: str = "test", num_samples: int | None = None) -> MultimodalBatch:
    """The first ``num_samples`` samples (default: all) of the ``split`` (``train`` | ``test``).

    The split is digits28's fixed 80/20 split (1,438 train, 359 test). Returns a
    :class:`MultimodalBatch` on CPU: frames ``[N, 8, 1, 28, 28]``, audio ``[N, 2048]``
    at 8 kHz, tokens ``[N, 5]``, labels ``[N]`` (the digit), names
    ``digits-av/<split>/<index>``.
    """
    if split not in ("train", "test"):
        raise DataError(f"digits-av: unknown split {split!r}; use 'train' or 'test'")
    idx = _split_indices()[split]
    n = len(idx) if num_samples is None else num_samples
    _check_count(f"digits-av:{split}", n, len(idx), f"digits-av {split} samples")
    images, labels = _all_digits()
    sel = torch.from_numpy(idx[:n])
    digits, y = images.index_select(0, sel), labels.index_select(0, sel)
    direction = _all_directions().index_select(0, sel)
    captions = [f"a handwritten {DIGIT_WORDS[d]} moving {DIRECTIONS[k]}"
                for d, k in zip(y.tolist(), direction.tolist())]
    return MultimodalBatch(
        frames=drifting_frames(digits, direction),
        audio=tone_sequence(y),
        tokens=VOCABULARY.encode(captions, CAPTION_WORDS),
        captions=captions,
        labels=y,
        names=[f"digits-av/{split}/{i:04d}" for i in range(n)],
        sample_rate=SAMPLE_RATE,
        vocabulary=VOCABULARY,
    )
