"""The loaders of a user's multimodal data (VGGSound, COCO captions) on tiny fake folders."""

from __future__ import annotations

import json
import math
import warnings

import numpy as np
import pytest
import torch
from PIL import Image
from scipy.io import wavfile

from linksim.data import DataError, DataWarning, is_multimodal_source, load_dataset
from linksim.data.coco import load_coco_captions
from linksim.data.multimodal import MultimodalBatch
from linksim.data.vggsound import load_vggsound

av = pytest.importorskip("av", reason="PyAV decodes VGGSound's mp4 clips (linksim[bridge], in the test extra)")


def _tone(freq: float, rate: int, seconds: float) -> np.ndarray:
    t = np.arange(int(rate * seconds)) / rate
    return (0.5 * np.sin(2 * np.pi * freq * t)).astype(np.float32)


def _write_mp4(path, num_frames: int = 12, size: int = 32, freq: float = 440.0, rate: int = 16000) -> None:
    """A clip whose frame i is uniformly grey at level 20 * i, with a sine tone as its audio track."""
    with av.open(str(path), "w") as out:
        video = out.add_stream("mpeg4", rate=12)
        video.width = video.height = size
        video.pix_fmt = "yuv420p"
        audio = out.add_stream("aac", rate=rate)
        audio.layout = "mono"
        for i in range(num_frames):
            img = np.full((size, size, 3), 20 * i, dtype=np.uint8)
            for packet in video.encode(av.VideoFrame.from_ndarray(img, format="rgb24")):
                out.mux(packet)
        for packet in video.encode():
            out.mux(packet)
        tone = _tone(freq, rate, 1.0)
        for start in range(0, tone.size, 1024):
            frame = av.AudioFrame.from_ndarray(tone[None, start:start + 1024], format="fltp", layout="mono")
            frame.sample_rate = rate
            for packet in audio.encode(frame):
                out.mux(packet)
        for packet in audio.encode():
            out.mux(packet)


def _dominant_hz(x: torch.Tensor, rate: int) -> float:
    spectrum = np.abs(np.fft.rfft(x.numpy() * np.hanning(x.numel())))
    return float(np.argmax(spectrum)) * rate / x.numel()


@pytest.fixture
def vggsound_dir(tmp_path):
    (tmp_path / "video").mkdir()
    (tmp_path / "vggsound.csv").write_text(
        "abc,30,dog barking,test\n"
        "def,0,playing piano,test\n"
        "ghi,10,dog barking,test\n"      # no files: skipped with a warning
        "jkl,5,lions roaring,train\n")
    _write_mp4(tmp_path / "video" / "abc_000030.mp4")
    frames = tmp_path / "frames" / "def_000000"
    frames.mkdir(parents=True)
    for i in range(4):  # pre-extracted frames, brightness rising
        Image.fromarray(np.full((40, 50, 3), 60 * i, dtype=np.uint8)).save(frames / f"{i:04d}.png")
    (tmp_path / "audio").mkdir()
    wavfile.write(tmp_path / "audio" / "def_000000.wav", 16000, _tone(1000.0, 16000, 0.5))
    return tmp_path


def test_vggsound_mp4_and_extracted_frames(vggsound_dir):
    with pytest.warns(DataWarning, match="ghi_000010"):
        batch = load_vggsound(str(vggsound_dir), "test", image_size=16, num_frames=4)
    assert isinstance(batch, MultimodalBatch)
    assert batch.frames.shape == (2, 4, 3, 16, 16) and batch.audio.shape == (2, 2048)
    assert batch.captions == ["dog barking", "playing piano"]
    # labels index the sorted labels of the whole index (train rows included)
    assert batch.labels.tolist() == [0, 2] and batch.names == ["vggsound/abc_000030", "vggsound/def_000000"]
    assert batch.vocabulary.decode(batch.tokens) == batch.captions
    # frames evenly spaced over the clip: the grey level rises from the first to the last
    levels = batch.frames.mean(dim=(2, 3, 4))
    assert torch.all(levels[:, 1:] > levels[:, :-1])
    assert levels[1, 0] < 0.02 and abs(float(levels[1, -1]) - 180 / 255) < 0.02
    # the audio is the tone at 8 kHz: its spectral peak within one FFT bin (8000 / 2048 Hz)
    assert abs(_dominant_hz(batch.audio[0], 8000) - 440.0) <= 8000 / 2048
    assert abs(_dominant_hz(batch.audio[1], 8000) - 1000.0) <= 8000 / 2048
    assert float(batch.audio[1].square().mean().sqrt()) == pytest.approx(0.5 / math.sqrt(2), rel=0.05)


def test_vggsound_through_the_registry_and_errors(vggsound_dir, tmp_path_factory):
    assert is_multimodal_source("vggsound:/x") and not is_multimodal_source("folder:/x")
    with pytest.warns(DataWarning):
        batch = load_dataset(f"vggsound:{vggsound_dir}", 1, image_size=8)
    assert batch.frames.shape == (1, 8, 3, 8, 8)
    with pytest.warns(DataWarning, match="jkl_000005"), pytest.raises(DataError, match="no train clip"):
        load_dataset(f"vggsound:{vggsound_dir}:train", 1)
    with pytest.raises(DataError, match="vggsound.csv does not exist"):
        load_vggsound(str(tmp_path_factory.mktemp("empty")))
    (vggsound_dir / "video" / "abc_000030.mp4").write_bytes(b"not a video")
    with warnings.catch_warnings(), pytest.raises(DataError, match="clip abc_000030 .* cannot be decoded"):
        warnings.simplefilter("ignore", DataWarning)
        load_vggsound(str(vggsound_dir))


def test_coco_captions(tmp_path):
    (tmp_path / "annotations").mkdir()
    (tmp_path / "val2017").mkdir()
    for name, colour in (("a.jpg", (255, 0, 0)), ("b.jpg", (0, 0, 255))):
        Image.new("RGB", (64, 48), colour).save(tmp_path / "val2017" / name)
    doc = {"images": [{"id": 1, "file_name": "a.jpg"}, {"id": 2, "file_name": "b.jpg"},
                      {"id": 3, "file_name": "missing.jpg"}],
           "annotations": [{"id": 11, "image_id": 1, "caption": "A red square."},
                           {"id": 10, "image_id": 1, "caption": "Red, only red!"},
                           {"id": 12, "image_id": 2, "caption": "A blue picture of nothing"},
                           {"id": 13, "image_id": 3, "caption": "no file"}]}
    (tmp_path / "annotations" / "captions_val2017.json").write_text(json.dumps(doc))
    with pytest.warns(DataWarning, match="skipped 1 image"):
        batch = load_dataset(f"coco:{tmp_path}", 2, image_size=8)
    assert batch.frames.shape == (2, 1, 3, 8, 8) and batch.labels is None
    assert batch.captions == ["red only red", "a blue picture of nothing"]  # first caption by annotation id
    assert batch.tokens.shape == (2, 5) and batch.vocabulary.decode(batch.tokens) == batch.captions
    assert batch.frames[0, 0, 0].mean() > 0.95 and batch.frames[0, 0, 2].mean() < 0.05  # red
    assert torch.count_nonzero(batch.audio) == 0  # COCO has no audio
    with pytest.raises(DataError, match="captions_train2017.json does not exist"):
        load_coco_captions(str(tmp_path), "train")
    with warnings.catch_warnings(), pytest.raises(DataError, match="only 2 captioned images"):
        warnings.simplefilter("ignore", DataWarning)
        load_dataset(f"coco:{tmp_path}", 3)
