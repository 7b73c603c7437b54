"""The ``triples:<dir>`` loader of a user's (image, caption, audio) folder."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from linksim.data import DataError, DataWarning
from linksim.data.triples import load_triples


def _write_folder(root, n=3, rate=16000):
    from PIL import Image
    from scipy.io import wavfile

    rng = np.random.default_rng(0)
    for i in range(n):
        Image.fromarray(rng.integers(0, 256, (40, 50), dtype=np.uint8), mode="L").save(root / f"s{i}.png")
        (root / f"s{i}.txt").write_text(f"A dog, barking{'!' * i} loudly {i}" if i else "A cat.")
        t = np.arange(rate // 2) / rate
        wavfile.write(root / f"s{i}.wav", rate, (0.5 * 32767 * np.sin(2 * math.pi * 440 * (i + 1) * t)).astype(np.int16))
    (root / "lonely.png").write_bytes((root / "s0.png").read_bytes())  # no caption, no audio
    return root


def test_triples_load_aligned_and_normalised(tmp_path):
    _write_folder(tmp_path)
    with pytest.warns(DataWarning, match="skipped 1 stem.*lonely"):
        batch = load_triples(str(tmp_path), image_size=28, sample_rate=8000, audio_samples=2048)
    assert batch.frames.shape == (3, 1, 1, 28, 28) and batch.audio.shape == (3, 2048)
    assert batch.captions == ["a cat", "a dog barking loudly 1", "a dog barking loudly 2"]
    assert batch.tokens.shape == (3, 5) and batch.vocabulary.decode(batch.tokens) == batch.captions
    assert batch.names == ["triples/s0", "triples/s1", "triples/s2"] and batch.labels is None
    # 16 kHz int16 sines resampled to 8 kHz keep their pitch (FFT resolution 8000/8192 Hz ~ 1 Hz)
    peak = torch.fft.rfft(batch.audio, n=8192).abs().argmax(dim=1).float() * 8000 / 8192
    assert torch.allclose(peak, torch.tensor([440.0, 880.0, 1320.0]), atol=2.0)
    assert abs(float(batch.audio.abs().max()) - 0.5) < 0.01


@pytest.mark.filterwarnings("ignore::linksim.data.dataset.DataWarning")
def test_triples_with_a_models_vocabulary_and_length(tmp_path):
    _write_folder(tmp_path)
    first = load_triples(str(tmp_path))
    again = load_triples(str(tmp_path), num_samples=2, text_length=2, vocabulary=first.vocabulary)
    assert again.captions == ["a cat", "a dog"] and again.vocabulary is first.vocabulary
    from linksim.data.multimodal import WordVocabulary

    with pytest.raises(DataError, match="word 'cat' is not in the vocabulary"):
        load_triples(str(tmp_path), vocabulary=WordVocabulary(["a", "dog"]))


@pytest.mark.filterwarnings("ignore::linksim.data.dataset.DataWarning")
def test_triples_errors_name_the_problem(tmp_path):
    with pytest.raises(DataError, match="does not exist"):
        load_triples(str(tmp_path / "nope"))
    with pytest.raises(DataError, match="no complete"):
        load_triples(str(tmp_path))
    _write_folder(tmp_path, n=2)
    with pytest.raises(DataError, match="num_samples is 5 but only 2"):
        load_triples(str(tmp_path), num_samples=5)
    (tmp_path / "s1.wav").write_bytes(b"not a wav")
    with pytest.raises(DataError, match="s1.wav is not a readable WAV"):
        load_triples(str(tmp_path))


@pytest.mark.filterwarnings("ignore::linksim.data.dataset.DataWarning")
def test_train_on_triples_then_send_them_through_the_codec(tmp_path):
    from linksim.codecs import AnalogPayload, CodecContext, codec_class
    from linksim.codecs.bridge import BridgeConfig
    from linksim.codecs.bridge.training import TrainConfig, train_bridge, training_data

    (tmp_path / "data").mkdir()
    folder = _write_folder(tmp_path / "data")
    tiny = BridgeConfig(feature_dim=16, latent_dim=8, specific_dim=8, codebook_size=16, mi_dim=4, critic_hidden=8,
                        macs_dim=8, gate_hidden=8)
    data = training_data(f"triples:{folder}")
    res = train_bridge(TrainConfig(model=tiny, steps=2, batch_size=3), tmp_path / "w.safetensors", progress=False,
                       data=data)
    cfg = res["model"].config
    assert cfg.frame_shape == (1, 1, 28, 28) and cfg.vocabulary == data.vocabulary.words[1:]
    bridge = codec_class("bridge")
    codec = bridge(bridge.Params(weights=str(tmp_path / "w.safetensors")), bridge.resolve_transports({}),
                   CodecContext(device=torch.device("cpu"), sample_shape=(1, 28, 28)))
    sent = codec.encode(data)
    assert codec.payload_bits() == {"video": 4 * 4, "audio": 8 * 4, "text": 5 * 4}
    recon = codec.decode({m: (p.values if isinstance(p, AnalogPayload) else p.bits) for m, p in sent.items()}, sent)
    assert recon.frames.shape == (3, 1, 1, 28, 28)
    assert all(set(c.split()) <= set(data.vocabulary.words) for c in recon.captions)
