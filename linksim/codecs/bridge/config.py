"""The architecture of a Bridge model, as one frozen record stored with its weights."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass

__all__ = ["MODALITIES", "BridgeConfig"]

MODALITIES = ("video", "audio", "text")
"""The modalities, in the order every per-modality dict and stream follows."""


@dataclass(frozen=True)
class BridgeConfig:
    """Sizes of every part of :class:`~linksim.codecs.bridge.model.BridgeModel`.

    :ivar frame_shape: ``(T, C, H, W)`` of a video clip (frames, channels, pixels).
    :ivar audio_samples: ``S``, samples per waveform.
    :ivar text_length: ``L``, tokens per caption.
    :ivar vocab_size: ``V``, caption vocabulary size (``<pad>`` included).
    :ivar feature_dim: ``F``, width of the low-level features ``phi^m(x^m)`` ``[B, T_m, F]``.
    :ivar latent_dim: ``D``, width of the invariant features ``z^m`` and of the codes.
    :ivar specific_dim: width of the specific features ``h^m`` (eq. 1).
    :ivar specific_noise_std: ``sigma`` of the regularising noise of eq. 1 (training only).
    :ivar frame_grid: each frame gives ``frame_grid**2`` time steps (a spatial grid of tokens).
    :ivar audio_steps: ``T_a``, time steps of the audio features (``S`` must be a multiple).
    :ivar codebook_size: ``K`` shared codes (eq. 7); an index costs ``ceil(log2 K)`` bits.
    :ivar commitment: ``beta`` of eq. 9.
    :ivar reset_window: ``N_reset`` training steps of the usage window (eq. 10).
    :ivar reset_min_modalities: a code used by fewer modalities within the window is
        re-initialised (eq. 11 uses 2).
    :ivar reset_to: ``normal`` (eq. 11: ``N(0, I)``) | ``latents`` (among the step's latents).
    :ivar mi_dim: output width of the SDMI projection heads ``psi_m``, ``psi_inv``.
    :ivar critic_hidden: hidden width of the DV critic ``T_theta``.
    :ivar macs_dim: ``d``, width of the MACS projections and of ``W`` (``d x d``, eq. 5).
    :ivar gate_hidden: hidden width of ``MLP_gate`` (eq. 6).
    :ivar vocabulary: the caption words (``<pad>`` excluded) the text decoder's ids mean;
        None: digits-av's (the shipped weights predate this field).
    :ivar text_backbone: a ``transformers`` model id or local folder (model + tokenizer)
        whose frozen encoder is ``phi^t`` (:class:`~linksim.codecs.bridge.encoders.PretrainedTextEncoder`);
        None: the built-in :class:`~linksim.codecs.bridge.encoders.TextEncoder`. Its weights
        are never stored with the Bridge weights: they are reloaded from here (or from the
        scenario's ``params.text_backbone``, the same architecture at another place).
    """

    frame_shape: tuple[int, int, int, int] = (8, 1, 28, 28)
    audio_samples: int = 2048
    text_length: int = 5
    vocab_size: int = 18
    feature_dim: int = 64
    latent_dim: int = 32
    specific_dim: int = 32
    specific_noise_std: float = 0.1
    frame_grid: int = 2
    audio_steps: int = 8
    codebook_size: int = 256
    commitment: float = 0.25
    reset_window: int = 200
    reset_min_modalities: int = 2
    reset_to: str = "normal"
    mi_dim: int = 16
    critic_hidden: int = 64
    macs_dim: int = 32
    gate_hidden: int = 32
    vocabulary: tuple[str, ...] | None = None
    text_backbone: str | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "frame_shape", tuple(int(v) for v in self.frame_shape))
        if self.vocabulary is not None:
            object.__setattr__(self, "vocabulary", tuple(self.vocabulary))
            if len(self.vocabulary) + 1 != self.vocab_size:
                raise ValueError(f"vocab_size: {self.vocab_size} but the vocabulary has {len(self.vocabulary)} words "
                                 "plus <pad>")
        if self.text_backbone is not None and not str(self.text_backbone).strip():
            raise ValueError("text_backbone: must be a model id or a folder, got an empty string")
        if len(self.frame_shape) != 4 or min(self.frame_shape) < 1:
            raise ValueError(f"frame_shape: must be four positive sizes (T, C, H, W), got {self.frame_shape}")
        for name in ("audio_samples", "text_length", "vocab_size", "feature_dim", "latent_dim", "specific_dim",
                     "frame_grid", "audio_steps", "codebook_size", "reset_window", "mi_dim", "critic_hidden",
                     "macs_dim", "gate_hidden"):
            if int(getattr(self, name)) < 1:
                raise ValueError(f"{name}: must be a positive integer, got {getattr(self, name)}")
        if self.codebook_size < 2:
            raise ValueError(f"codebook_size: must be at least 2, got {self.codebook_size}")
        if self.audio_samples % self.audio_steps:
            raise ValueError(f"audio_samples: {self.audio_samples} is not a multiple of audio_steps "
                             f"{self.audio_steps}")
        if self.specific_noise_std < 0 or self.commitment <= 0:
            raise ValueError("specific_noise_std must be >= 0 and commitment > 0")

    def time_steps(self) -> dict[str, int]:
        """``T_m`` of each modality: the number of VQ indices it sends per sample."""
        return {"video": self.frame_shape[0] * self.frame_grid**2, "audio": self.audio_steps,
                "text": self.text_length}

    def word_vocabulary(self):
        """The :class:`~linksim.data.multimodal.WordVocabulary` of the text decoder's ids."""
        if self.vocabulary is None:
            from linksim.data.digits_av import VOCABULARY

            return VOCABULARY
        from linksim.data.multimodal import WordVocabulary

        return WordVocabulary(self.vocabulary)

    def to_json(self) -> str:
        return json.dumps(asdict(self))

    @classmethod
    def from_json(cls, text: str) -> "BridgeConfig":
        return cls(**json.loads(text))
