"""CLIP for the metrics: image-text CLIP score per sample, and image features for FID.

``clip_score`` is torchmetrics' definition (``100 * max(cos(E_img, E_txt), 0)``);
it is computed here rather than through ``torchmetrics.functional.multimodal.clip_score``
because that one returns only the batch mean and preprocesses images one by one
through PIL: here the resize and normalisation (the processor's bicubic resize and
mean/std, centre crop skipped as images are square) are batched on the device.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from linksim.pretrained import from_pretrained


class CLIPFeatures(nn.Module):
    """A CLIP model with its tokenizer, batched on the device.

    :param source: hub id or folder saved by ``CLIPModel.save_pretrained`` plus the processor.
    """

    def __init__(self, source: str, device: torch.device) -> None:
        super().__init__()
        from transformers import CLIPModel, CLIPProcessor

        what = f"metric_models.clip (CLIP model '{source}' for clip_score and fid)"
        how = "set metric_models.clip to a CLIP hub id or a folder saved with save_pretrained (model and processor)"
        processor = from_pretrained(CLIPProcessor.from_pretrained, source, what, how)
        self.model = from_pretrained(CLIPModel.from_pretrained, source, what, how).to(device).eval()
        self.tokenizer = processor.tokenizer
        ip = processor.image_processor
        crop = getattr(ip, "crop_size", None) or ip.size
        self.size = (int(crop["height"]), int(crop["width"])) if "height" in crop else (int(crop["shortest_edge"]),) * 2
        self.register_buffer("mean", torch.tensor(ip.image_mean, device=device).view(1, 3, 1, 1))
        self.register_buffer("std", torch.tensor(ip.image_std, device=device).view(1, 3, 1, 1))
        self.num_features = int(self.model.config.projection_dim)  # read by torchmetrics' FID
        self.device = device

    @torch.no_grad()
    def image_features(self, x: torch.Tensor) -> torch.Tensor:
        """``x`` ``[B, C, H, W]`` in [0, 1] (C = 1 or 3) -> ``[B, projection_dim]`` float32 embeddings."""
        if x.shape[1] == 1:
            x = x.expand(-1, 3, -1, -1)
        pixels = F.interpolate(x.float().to(self.device), size=self.size, mode="bicubic", align_corners=False)
        pixels = (pixels.clamp(0, 1) - self.mean) / self.std
        return _pooled(self.model.get_image_features(pixel_values=pixels.to(self.model.dtype))).float()

    @torch.no_grad()
    def text_features(self, texts: list[str]) -> torch.Tensor:
        """``B`` texts (truncated to CLIP's context) -> ``[B, projection_dim]`` float32 embeddings."""
        tok = self.tokenizer(list(texts), padding=True, truncation=True,
                             max_length=self.model.config.text_config.max_position_embeddings, return_tensors="pt")
        tok = {k: v.to(self.device) for k, v in tok.items()}
        return _pooled(self.model.get_text_features(**tok)).float()

    def score(self, x: torch.Tensor, texts: list[str]) -> torch.Tensor:
        """CLIP score ``[B]`` (0..100) of images ``x`` ``[B, C, H, W]`` in [0, 1] against ``texts``."""
        a = F.normalize(self.image_features(x), dim=-1)
        b = F.normalize(self.text_features(texts), dim=-1)
        return (100 * (a * b).sum(dim=-1)).clamp(min=0)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Feature extractor for torchmetrics' FID: ``[B, 3, H, W]`` in [0, 1] -> ``[B, projection_dim]``."""
        return self.image_features(x)


def _pooled(out) -> torch.Tensor:
    # transformers 5 returns a model output whose pooler_output is the projected embedding; 4.x a tensor
    return out if isinstance(out, torch.Tensor) else out.pooler_output
