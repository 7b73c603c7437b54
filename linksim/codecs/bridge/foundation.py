"""Foundation-model decoding stage (Sec. 3, eq. 13): CLAP, CLIP and BERT embeddings.

``f_sem^(a)`` (CLAP audio tower), ``f_sem^(v)`` (CLIP vision tower) and ``f_sem^(t)``
(BERT, mean-pooled last hidden state) embed a reconstruction and its original; their
cosine similarity, per sample, is reported as ``audio_sim``, ``video_sim``,
``text_sim``. Models load lazily through ``transformers`` ``from_pretrained`` from a
model id (e.g. ``laion/clap-htsat-unfused``, ``openai/clip-vit-base-patch32``,
``bert-base-uncased``) or a local folder, only when first used: nothing downloads at
import, and a modality whose model is not named is not scored.

The CLIP path stays in torch on the frames' device (resize + normalise as the
model's image processor says), so ``video_sim`` is differentiable and can serve as a
training loss; CLAP's feature extractor and BERT's tokenizer work on NumPy arrays and
strings, so ``audio_sim`` and ``text_sim`` are metrics only.
"""

from __future__ import annotations

import math

import torch

__all__ = ["FoundationModels", "cosine"]


def cosine(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """Cosine similarity per row: ``[B, d]`` x2 -> ``[B]``."""
    return torch.nn.functional.cosine_similarity(a, b, dim=-1)


def _embeds(out) -> torch.Tensor:
    # transformers 5 returns a model output whose pooler_output is the projected embedding
    return out if isinstance(out, torch.Tensor) else out.pooler_output


class FoundationModels:
    """The three embedding models of eq. (13), each optional and loaded on first use.

    :param audio: CLAP model id or folder (with its feature extractor), or None.
    :param image: CLIP model id or folder (with its image processor), or None.
    :param text: BERT (any encoder) model id or folder (with its tokenizer), or None.
    :param device: where the models run (the codec's device).
    """

    def __init__(self, audio: str | None = None, image: str | None = None, text: str | None = None,
                 device: torch.device | str = "cpu") -> None:
        self.names = {"audio": audio, "video": image, "text": text}
        self.device = torch.device(device)
        self._loaded: dict[str, tuple] = {}

    def _load(self, modality: str) -> tuple:
        if modality not in self._loaded:
            name = self.names[modality]
            if name is None:
                raise ValueError(f"no foundation model named for {modality}")
            from linksim.pretrained import quiet_loading

            with quiet_loading():  # a failure must stay one line: no transformers warnings before it
                if modality == "audio":
                    from transformers import ClapFeatureExtractor, ClapModel

                    pair = (ClapModel.from_pretrained(name), ClapFeatureExtractor.from_pretrained(name))
                elif modality == "video":
                    from transformers import CLIPImageProcessor, CLIPModel

                    pair = (CLIPModel.from_pretrained(name), CLIPImageProcessor.from_pretrained(name))
                else:
                    from transformers import AutoModel, AutoTokenizer

                    pair = (AutoModel.from_pretrained(name), AutoTokenizer.from_pretrained(name))
            pair[0].to(self.device).eval().requires_grad_(False)
            self._loaded[modality] = pair
        return self._loaded[modality]

    def audio_embedding(self, audio: torch.Tensor, sample_rate: int) -> torch.Tensor:
        """CLAP audio embeddings: waveforms ``[B, S]`` at ``sample_rate`` Hz -> ``[B, d]``.

        The waveforms are resampled (polyphase, scipy) to the extractor's rate first.
        """
        from scipy.signal import resample_poly

        model, extractor = self._load("audio")
        target = int(extractor.sampling_rate)
        g = math.gcd(target, int(sample_rate))
        waves = resample_poly(audio.detach().cpu().double().numpy(), target // g, int(sample_rate) // g, axis=1)
        feats = extractor(list(waves.astype("float32")), sampling_rate=target, return_tensors="pt",
                          truncation="rand_trunc", padding="repeatpad")
        feats = {k: v.to(self.device) for k, v in feats.items()}
        with torch.no_grad():
            return _embeds(model.get_audio_features(**feats))

    def video_embedding(self, frames: torch.Tensor) -> torch.Tensor:
        """CLIP image embeddings averaged over frames: ``[B, T, C, H, W]`` in [0, 1] -> ``[B, d]``.

        Differentiable in ``frames``: grey frames are repeated to RGB, resized
        (bicubic) to the processor's crop size and normalised with its mean and std.
        """
        model, processor = self._load("video")
        b, t, c = frames.shape[:3]
        x = frames.flatten(0, 1).to(self.device)
        if c == 1:
            x = x.expand(-1, 3, -1, -1)
        size = (int(processor.crop_size["height"]), int(processor.crop_size["width"]))
        x = torch.nn.functional.interpolate(x, size=size, mode="bicubic", align_corners=False)
        mean = torch.tensor(processor.image_mean, device=x.device, dtype=x.dtype)[None, :, None, None]
        std = torch.tensor(processor.image_std, device=x.device, dtype=x.dtype)[None, :, None, None]
        emb = _embeds(model.get_image_features(pixel_values=(x - mean) / std))
        return emb.reshape(b, t, -1).mean(dim=1)

    def text_embedding(self, captions: list[str]) -> torch.Tensor:
        """Mean-pooled last hidden state of the text model: ``B`` captions -> ``[B, H]``."""
        model, tokenizer = self._load("text")
        enc = tokenizer(list(captions), return_tensors="pt", padding=True)
        enc = {k: v.to(self.device) for k, v in enc.items()}
        with torch.no_grad():
            hidden = model(**enc).last_hidden_state  # [B, L', H]
        mask = enc["attention_mask"][..., None].to(hidden.dtype)
        return (hidden * mask).sum(dim=1) / mask.sum(dim=1).clamp_min(1.0)

    def similarities(self, original: dict, reconstructed: dict, sample_rate: int) -> dict[str, torch.Tensor]:
        """``audio_sim``, ``video_sim``, ``text_sim`` ``[B]`` for the modalities whose model is named.

        :param original, reconstructed: ``audio`` ``[B, S]``, ``video`` ``[B, T, C, H, W]``,
            ``text`` a list of ``B`` captions (any subset present in both).
        """
        out = {}
        for m, fn in (("audio", lambda x: self.audio_embedding(x, sample_rate)), ("video", self.video_embedding),
                      ("text", self.text_embedding)):
            if self.names[m] is not None and m in original and m in reconstructed:
                with torch.no_grad():
                    out[f"{m}_sim"] = cosine(fn(original[m]), fn(reconstructed[m])).to(torch.float64)
        return out
