"""A batch of aligned (video, audio, text) samples, and the word vocabulary of captions.

:class:`MultimodalBatch` is what multimodal codecs (``bridge``) consume: every field is
a batched tensor (``frames``, ``audio``, ``tokens``, ``labels``) except the caption
strings and sample names, which stay Python lists because foundation models
(BERT, CLIP's text side) tokenise strings themselves.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass, replace

import torch

from linksim.data.dataset import DataError

__all__ = ["MultimodalBatch", "WordVocabulary"]


class WordVocabulary:
    """A closed word-level vocabulary: captions <-> token ids.

    Id 0 is ``<pad>`` (right padding of short captions). Words are split on spaces;
    a word outside the vocabulary is an error naming the word and the caption.

    :param words: the vocabulary, ``<pad>`` excluded (it is prepended).
    """

    PAD = "<pad>"

    def __init__(self, words: Sequence[str]) -> None:
        if len(set(words)) != len(words) or self.PAD in words:
            raise ValueError("vocabulary words must be distinct and must not contain '<pad>'")
        self.words: tuple[str, ...] = (self.PAD, *words)
        self._ids = {w: i for i, w in enumerate(self.words)}

    def __len__(self) -> int:
        """Vocabulary size ``V`` (``<pad>`` included)."""
        return len(self.words)

    def encode(self, captions: Sequence[str], length: int) -> torch.Tensor:
        """Captions -> token ids ``[B, length]`` int64, right-padded with 0."""
        out = torch.zeros(len(captions), length, dtype=torch.int64)
        for b, caption in enumerate(captions):
            words = caption.split()
            if len(words) > length:
                raise DataError(f"caption {caption!r}: {len(words)} words, more than the {length} allowed")
            for i, w in enumerate(words):
                if w not in self._ids:
                    raise DataError(f"caption {caption!r}: word {w!r} is not in the vocabulary")
                out[b, i] = self._ids[w]
        return out

    def decode(self, tokens: torch.Tensor) -> list[str]:
        """Token ids ``[B, L]`` -> captions (``<pad>`` dropped, ids out of range shown as ``<unk>``)."""
        rows = tokens.detach().cpu().tolist()
        return [" ".join(self.words[t] if 0 <= t < len(self.words) else "<unk>" for t in row if t != 0)
                for row in rows]


@dataclass(frozen=True)
class MultimodalBatch:
    """``B`` aligned samples of three modalities.

    :ivar frames: video ``[B, T, C, H, W]`` float32 in ``[0, 1]`` (``T`` frames).
    :ivar audio: waveforms ``[B, S]`` float32 in ``[-1, 1]`` at ``sample_rate`` Hz.
    :ivar tokens: caption token ids ``[B, L]`` int64 (0 = padding) of ``vocabulary``.
    :ivar captions: the ``B`` caption strings.
    :ivar labels: ``[B]`` int64 class labels, or None.
    :ivar names: ``B`` sample identifiers, e.g. ``"digits-av/test/0042"``.
    :ivar sample_rate: audio sample rate, Hz.
    :ivar vocabulary: the vocabulary of ``tokens``.
    """

    frames: torch.Tensor
    audio: torch.Tensor
    tokens: torch.Tensor
    captions: list[str]
    labels: torch.Tensor | None
    names: list[str]
    sample_rate: int
    vocabulary: WordVocabulary

    def __post_init__(self) -> None:
        b = self.frames.shape[0]
        if self.frames.dim() != 5:
            raise DataError(f"frames must be [B, T, C, H, W], got shape {tuple(self.frames.shape)}")
        if self.audio.dim() != 2 or self.audio.shape[0] != b:
            raise DataError(f"audio must be [B={b}, S], got shape {tuple(self.audio.shape)}")
        if self.tokens.dim() != 2 or self.tokens.shape[0] != b or self.tokens.dtype != torch.int64:
            raise DataError(f"tokens must be int64 [B={b}, L], got {self.tokens.dtype} {tuple(self.tokens.shape)}")
        if len(self.captions) != b or len(self.names) != b:
            raise DataError(f"{len(self.captions)} captions and {len(self.names)} names for {b} samples")
        if self.labels is not None and tuple(self.labels.shape) != (b,):
            raise DataError(f"labels must be [B={b}], got shape {tuple(self.labels.shape)}")

    def __len__(self) -> int:
        """Number of samples ``B``."""
        return self.frames.shape[0]

    @property
    def device(self) -> torch.device:
        return self.frames.device

    @property
    def sample_shape(self) -> tuple[int, ...]:
        """``(C, H, W)`` of one video frame."""
        return tuple(self.frames.shape[2:])

    def previews(self, n: int) -> torch.Tensor:
        """The first ``n`` clips as frame strips ``[n, C, H, 4W]`` (the originals row of a sample grid)."""
        return frame_strips(self.frames[:n])

    def to(self, device: torch.device | str) -> "MultimodalBatch":
        """The same batch with every tensor on ``device``."""
        return replace(self, frames=self.frames.to(device), audio=self.audio.to(device),
                       tokens=self.tokens.to(device),
                       labels=None if self.labels is None else self.labels.to(device))

    def select(self, index: torch.Tensor | slice) -> "MultimodalBatch":
        """The samples at ``index`` (a slice, or int64 indices ``[B']``) as a new batch."""
        if isinstance(index, slice):
            pick = list(range(len(self)))[index]
        else:
            pick = index.detach().cpu().tolist()
            index = index.to(self.device)
        return replace(self, frames=self.frames[index], audio=self.audio[index], tokens=self.tokens[index],
                       labels=None if self.labels is None else self.labels[index],
                       captions=[self.captions[i] for i in pick], names=[self.names[i] for i in pick])

    def batches(self, batch_size: int) -> Iterator[tuple[int, "MultimodalBatch"]]:
        """``(start, batch)`` for consecutive batches of at most ``batch_size`` samples, in order."""
        if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
            raise ValueError(f"batch_size must be a positive integer, got {batch_size!r}")
        for start in range(0, len(self), batch_size):
            yield start, self.select(slice(start, start + batch_size))


def frame_strips(frames: torch.Tensor, num_frames: int = 4) -> torch.Tensor:
    """Video clips ``[B, T, C, H, W]`` -> ``num_frames`` evenly spaced frames side by side
    ``[B, C, H, k*W]`` (``k = min(T, num_frames)``) on CPU, float32, for the sample grids."""
    t = frames.shape[1]
    pick = torch.linspace(0, t - 1, min(t, num_frames)).round().long().to(frames.device)
    chosen = frames.detach().index_select(1, pick).float().cpu()  # [B, k, C, H, W]
    b, k, c, h, w = chosen.shape
    return chosen.permute(0, 2, 3, 1, 4).reshape(b, c, h, k * w)
