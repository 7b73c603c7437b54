"""The bundled digits-av set: shapes, determinism, and that each modality carries the meaning."""

from __future__ import annotations

import pytest
import torch

from linksim.data import DataError
from linksim.data.digits_av import (
    AUDIO_SAMPLES,
    DIGIT_WORDS,
    DIRECTIONS,
    NOTE_SAMPLES,
    SAMPLE_RATE,
    VOCABULARY,
    load_digits_av,
)


@pytest.fixture(scope="module")
def test_set():
    return load_digits_av("test", 40)


def test_shapes_ranges_and_names(test_set):
    b = test_set
    assert b.frames.shape == (40, 8, 1, 28, 28) and b.frames.dtype == torch.float32
    assert b.audio.shape == (40, AUDIO_SAMPLES) and b.tokens.shape == (40, 5)
    assert 0.0 <= float(b.frames.min()) and float(b.frames.max()) <= 1.0
    assert float(b.audio.abs().max()) <= 0.5 + 1e-6
    assert b.names[3] == "digits-av/test/0003" and b.sample_rate == SAMPLE_RATE


def test_deterministic_and_splits_disjoint(test_set):
    again = load_digits_av("test", 40)
    assert torch.equal(again.frames, test_set.frames) and again.captions == test_set.captions
    train = load_digits_av("train", 40)
    assert not torch.equal(train.frames, test_set.frames)


def test_caption_names_the_digit_and_round_trips_through_the_vocabulary(test_set):
    for caption, label in zip(test_set.captions, test_set.labels.tolist()):
        words = caption.split()
        assert words[:3] == ["a", "handwritten", DIGIT_WORDS[label]] and words[3] == "moving"
        assert words[4] in DIRECTIONS
    assert VOCABULARY.decode(test_set.tokens) == test_set.captions


def test_the_digit_drifts_the_way_the_caption_says(test_set):
    f = test_set.frames[:, :, 0]  # [B, T, H, W]
    coords = torch.arange(28.0)
    mass = f.sum(dim=(2, 3))
    cx = (f.sum(dim=2) * coords).sum(-1) / mass  # [B, T] pixels
    cy = (f.sum(dim=3) * coords).sum(-1) / mass
    dx, dy = cx[:, -1] - cx[:, 0], cy[:, -1] - cy[:, 0]
    expected = {"left": (-10, 0), "right": (10, 0), "up": (0, -10), "down": (0, 10)}
    for i, caption in enumerate(test_set.captions):
        ex, ey = expected[caption.split()[-1]]
        # 10 pixels of travel; a digit clipped at the border moves its centroid a little less
        assert abs(float(dx[i]) - ex) < 1.5 and abs(float(dy[i]) - ey) < 1.5


def test_the_first_note_pitch_encodes_the_digit(test_set):
    spectrum = torch.fft.rfft(test_set.audio[:, :NOTE_SAMPLES], n=8 * NOTE_SAMPLES).abs()
    peak_hz = spectrum.argmax(dim=1).to(torch.float32) * SAMPLE_RATE / (8 * NOTE_SAMPLES)
    f0 = 220.0 * 2.0 ** (test_set.labels.to(torch.float32) / 6.0)
    # frequency resolution of the zero-padded FFT: 8000 / 4096 ~ 2 Hz
    assert torch.allclose(peak_hz, f0, atol=2.0)


def test_bad_requests_are_one_line_errors():
    with pytest.raises(DataError, match="unknown split 'dev'"):
        load_digits_av("dev", 3)
    with pytest.raises(DataError, match="num_samples is 400 but only 359"):
        load_digits_av("test", 400)
    with pytest.raises(DataError, match="word 'cat' is not in the vocabulary"):
        VOCABULARY.encode(["a handwritten cat"], 5)


def test_batches_and_select_keep_modalities_aligned(test_set):
    starts = [(s, len(b)) for s, b in test_set.batches(16)]
    assert starts == [(0, 16), (16, 16), (32, 8)]
    sub = test_set.select(torch.tensor([5, 2]))
    assert sub.captions == [test_set.captions[5], test_set.captions[2]]
    assert torch.equal(sub.audio[1], test_set.audio[2]) and torch.equal(sub.frames[0], test_set.frames[5])
